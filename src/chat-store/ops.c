/*
 * ops: the dispatcher over the op table (ops.h), the field helpers every
 * op file shares, and the two ops every daemon answers, ping and status.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "id.h"
#include "util.h"
#include "db.h"
#include "keys.h"
#include "logw.h"
#include "ops.h"

static const struct {
	const char	*name;
	op_fn		*fn;
	int		 flags;
} ops[] = {
#define X(name, fn, flags) { name, fn, flags },
	STORE_OPS(X)
#undef X
};

#define NOPS	(sizeof(ops) / sizeof(ops[0]))

int
ops_find(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < NOPS; i++)
		if (strlen(ops[i].name) == len &&
		    memcmp(ops[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

int
ops_flags(int op)
{
	return ops[op].flags;
}

const char *
ops_name(int op)
{
	return ops[op].name;
}

jv
ops_run(int op, struct op_ctx *c)
{
	return ops[op].fn(c);
}

jv
op_fail(struct op_ctx *c, const char *code, const char *fmt, ...)
{
	va_list ap;

	c->code = code;
	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	return jv_invalid();
}

jv
op_read_error(struct op_ctx *c)
{
	return op_fail(c, "store_unavailable", "database read failed: %s",
	    tx_error(c->tx));
}

int
op_str_field(struct op_ctx *c, const char *field, size_t maxlen,
    int required, const char **out)
{
	int r;

	if (required)
		r = json_need_str(c->req, field, maxlen, out, c->msg,
		    sizeof(c->msg));
	else
		r = json_opt_str(c->req, field, maxlen, out, c->msg,
		    sizeof(c->msg));
	if (r == -1)
		c->code = "bad_request";
	return r;
}

int
op_user_field(struct op_ctx *c, const char *field, const char **out)
{
	if (op_str_field(c, field, 32, 1, out) == -1)
		return -1;
	if (!valid_user(*out)) {
		op_fail(c, "bad_request", "field '%s' must be a user name "
		    "(a-z, 0-9, '_', '.', '-'; at most 32)", field);
		return -1;
	}
	return 0;
}

int
op_int_field(struct op_ctx *c, const char *field, int64_t *out)
{
	if (!json_has(c->req, field))
		return 0;
	if (json_need_int(c->req, field, out, c->msg, sizeof(c->msg)) == -1) {
		c->code = "bad_request";
		return -1;
	}
	return 0;
}

int
op_id_field(struct op_ctx *c, const char *field, uint64_t *out)
{
	const char *s;
	size_t len;

	if (!json_has(c->req, field))
		return 0;
	s = json_str(c->req, field, &len);
	if (s == NULL || id_parse(s, len, out) == -1) {
		op_fail(c, "bad_request", "field '%s' must be a message id "
		    "(16 lower-case hex digits)", field);
		return -1;
	}
	return 1;
}

int
op_msgid_field(struct op_ctx *c, const char *const *fields, uint64_t *out)
{
	const char *s;
	size_t len;

	for (; *fields != NULL; fields++) {
		if (strcmp(*fields, "id") == 0) {
			s = json_str(c->req, "id", &len);
			if (s != NULL && id_parse(s, len, out) == 0)
				return 1;
			continue;
		}
		if (json_has(c->req, *fields))
			return op_id_field(c, *fields, out);
	}
	return 0;
}

int
op_limit(struct op_ctx *c, int def, int max, int *out)
{
	int64_t n = def;

	if (op_int_field(c, "limit", &n) == -1)
		return -1;
	if (n < 1)
		n = 1;
	if (n > max)
		n = max;
	*out = (int)n;
	return 0;
}

int
op_load(struct op_ctx *c, const char *k, size_t klen, jv *out)
{
	int r = tx_get_json(c->tx, k, klen, out);

	if (r == -1)
		op_read_error(c);
	return r;
}

int
op_user_exists(struct op_ctx *c, const char *user)
{
	struct skey k;
	char *v;
	size_t vlen;
	int r;

	key_user(&k, user);
	r = tx_get(c->tx, k.b, k.len, &v, &vlen);
	if (r == 1)
		free(v);
	else if (r == 0)
		op_fail(c, "no_such_user", "no user '%s'", user);
	else
		op_read_error(c);
	return r;
}

jv
op_ping(struct op_ctx *c)
{
	(void)c;
	return jv_object();
}

jv
op_status(struct op_ctx *c)
{
	struct store_stats *s = c->stats;
	jv o = jv_object();

#define N(name) o = jv_object_set(o, jv_string(#name), \
	jv_number((double)__atomic_load_n(&s->name, __ATOMIC_RELAXED)))
	N(ops); N(errors); N(appends); N(dups); N(batches); N(syncs);
	N(writes); N(max_batch); N(conns); N(overlong); N(torn);
	N(hashes); N(commit_us); N(max_commit_us);
	if (logw_conf.on) {
		N(log_pending); N(log_acked); N(log_dropped); N(log_expired);
		N(log_following);
		o = jv_object_set(o, jv_string("log_origin"),
		    jv_string(logw_conf.origin));
	}
#undef N
	/* Degraded: the database could not be opened for a full disk (at
	 * start, or reopening after a write error); every other op gets
	 * store_unavailable until room returns.  db_full is the worker's,
	 * and so is this op. */
	o = jv_object_set(o, jv_string("degraded"), jv_bool(db_full()));
	return o;
}
