/*
 * ops_log: log.apply, a log entry of writes that are not messages applied
 * to this store (logw.h; chat-log(1) sends the stream's entries here).
 *
 * The entry is the keys another op wrote: its puts and deletes are
 * written as given, in one batch, with nothing computed, so a replay
 * ends where the original did.  An entry this store's own database made
 * (its origin) is held already: answered dup, nothing written, so the
 * store a write came from never goes back to an older value of a key
 * while chat-log applies the log behind it.  An entry that changes
 * nothing is a dup too.  With "check" nothing is written: dup says
 * whether every key the entry puts is here (chat-log's probe of a store
 * whose database may be new).
 * log.trim deletes the kept entries (L/ keys) chat-log has put in the
 * stream; the store sends it to itself (outbox.c).
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "keys.h"
#include "logw.h"
#include "ops.h"

#define LOG_APPLY_MAX	4096	/* keys in one entry */

/* Reads the entry's puts or dels into keys (and vals): their count, or
 * -1 (bad_request set). */
static int
read_keys(struct op_ctx *c, const char *field, int puts, struct skey *keys,
    jv *vals, int max)
{
	jv a = jv_object_get(jv_copy(c->req), jv_string(field));
	int i, n;

	if (jv_get_kind(a) == JV_KIND_NULL) {
		jv_free(a);
		return 0;
	}
	if (jv_get_kind(a) != JV_KIND_ARRAY || (n = jv_array_length(
	    jv_copy(a))) > max) {
		jv_free(a);
		op_fail(c, "bad_request", "field '%s' must be an array of at "
		    "most %d", field, max);
		return -1;
	}
	for (i = 0; i < n; i++) {
		jv it = jv_array_get(jv_copy(a), i), k, v = jv_invalid();
		if (puts) {
			k = jv_get_kind(it) == JV_KIND_OBJECT ? jv_object_get(
			    jv_copy(it), jv_string("key")) : jv_invalid();
			v = jv_get_kind(it) == JV_KIND_OBJECT ? jv_object_get(
			    jv_copy(it), jv_string("value")) : jv_invalid();
		} else
			k = jv_copy(it);
		jv_free(it);
		if (jv_get_kind(k) != JV_KIND_STRING || key_parse(
		    jv_string_value(k), (size_t)jv_string_length_bytes(
		    jv_copy(k)), &keys[i]) == -1 || (puts &&
		    jv_get_kind(v) != JV_KIND_STRING)) {
			jv_free(k);
			jv_free(v);
			while (puts && i-- > 0)
				jv_free(vals[i]);
			jv_free(a);
			op_fail(c, "bad_request", "field '%s' item %d must be "
			    "%s", field, i, puts ? "{\"key\",\"value\"} strings"
			    : "a key");
			return -1;
		}
		jv_free(k);
		if (puts)
			vals[i] = v;
	}
	jv_free(a);
	return n;
}

/* 1 if key k holds exactly v (v NULL: is absent), 0 if not, -1 on error. */
static int
holds(struct op_ctx *c, const struct skey *k, jv v, int any_value)
{
	char *cur;
	size_t clen;
	int r = tx_get(c->tx, k->b, k->len, &cur, &clen);

	if (r == -1)
		return -1;
	if (!jv_is_valid(v)) {
		if (r == 1)
			free(cur);
		return r == 0;
	}
	if (r == 1) {
		r = any_value || ((size_t)jv_string_length_bytes(jv_copy(v)) ==
		    clen && memcmp(jv_string_value(v), cur, clen) == 0);
		free(cur);
	}
	return r;
}

jv
op_log_apply(struct op_ctx *c)
{
	static struct skey pk[LOG_APPLY_MAX], dk[LOG_APPLY_MAX];
	static jv pv[LOG_APPLY_MAX];
	const char *origin = json_str(c->req, "origin", NULL);
	int check = json_bool(c->req, "check", 0);
	int np, nd, i, same = 1, r;
	jv out = jv_invalid();

	if (origin != NULL && logw_conf.on && strcmp(origin,
	    logw_conf.origin) == 0)
		return jv_object_set(jv_object(), jv_string("dup"), jv_true());
	if ((np = read_keys(c, "puts", 1, pk, pv, LOG_APPLY_MAX)) == -1)
		return jv_invalid();
	if ((nd = read_keys(c, "dels", 0, dk, NULL, LOG_APPLY_MAX)) == -1)
		goto done;
	if (np + nd == 0) {
		op_fail(c, "bad_request", "a log entry needs 'puts' or 'dels'");
		goto done;
	}
	for (i = 0; i < np && same; i++)
		if ((r = holds(c, &pk[i], pv[i], check)) == -1)
			goto readerr;
		else
			same = r;
	for (i = 0; i < nd && same && !check; i++)
		if ((r = holds(c, &dk[i], jv_invalid(), 0)) == -1)
			goto readerr;
		else
			same = r;
	if (!same && !check) {
		for (i = 0; i < np; i++)
			tx_put(c->tx, pk[i].b, pk[i].len, jv_string_value(pv[i]),
			    (size_t)jv_string_length_bytes(jv_copy(pv[i])));
		for (i = 0; i < nd; i++)
			tx_del(c->tx, dk[i].b, dk[i].len);
	}
	out = jv_object_set(jv_object(), jv_string("dup"), jv_bool(same));
	out = jv_object_set(out, jv_string("puts"), jv_number(np));
	out = jv_object_set(out, jv_string("dels"), jv_number(nd));
	goto done;
readerr:
	out = op_read_error(c);
done:
	for (i = 0; i < np; i++)
		jv_free(pv[i]);
	return out;
}

/* log.trim {below}: deletes the L/ keys (logw.h) of the entries below
 * seq below, which chat-log has put in the stream; at most
 * LOG_TRIM_MAX at a time ("more" if some are left).  The store sends it
 * itself (outbox.c). */
#define LOG_TRIM_MAX	4096

struct trim {
	char		lim[32];
	size_t		limlen;
	struct skey	*keys;
	int		n;
};

static int
trim_one(void *arg, const char *k, size_t klen, const char *v, size_t vlen)
{
	struct trim *t = arg;

	(void)v;
	(void)vlen;
	if (memcmp(k, t->lim, klen < 10 ? klen : 10) >= 0 || klen > KEY_MAX ||
	    t->n == LOG_TRIM_MAX)
		return 1;
	memcpy(t->keys[t->n].b, k, klen);
	t->keys[t->n++].len = klen;
	return 0;
}

jv
op_log_trim(struct op_ctx *c)
{
	static struct skey keys[LOG_TRIM_MAX];
	struct trim t = { .keys = keys };
	int64_t below = 0;
	int i;

	if (op_int_field(c, "below", &below) == -1)
		return jv_invalid();
	if (below <= 0)
		return op_fail(c, "bad_request", "field 'below' must be a "
		    "positive integer");
	t.limlen = logw_key(t.lim, (uint64_t)below, 0);
	if (tx_scan(c->tx, LOGW_PREFIX, 2, NULL, 0, 0, trim_one, &t) == -1)
		return op_read_error(c);
	for (i = 0; i < t.n; i++)
		tx_del(c->tx, keys[i].b, keys[i].len);
	return jv_object_set(jv_object_set(jv_object(), jv_string("trimmed"),
	    jv_number(t.n)), jv_string("more"), jv_bool(t.n == LOG_TRIM_MAX));
}
