/*
 * ops_msg: messages.  msg.append stages the message m/{conv}/{id}, one
 * inbox entry i/{user}/{id} per recipient (the sender included) and the
 * dedupe record x/{from}/{device}/{cid}, all in the batch that the worker
 * writes with one sync; membership is read in the same step.  A dedupe
 * record older than a day is ignored (and overwritten by a new send); it
 * is not swept.  msg.history and inbox.read are prefix scans.
 *
 * The values msg.append writes are printed straight into a buffer, not
 * built as jv and dumped: at 10k msg/s jv_dump was 22% of the store's CPU.
 *
 * The message id travels as "mid" in msg.append's request and reply:
 * "id" is taken by the request/reply correlation of every internal op
 * (a request "id" of 16 hex digits is still read as the message id).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "id.h"
#include "json.h"
#include "util.h"
#include "keys.h"
#include "ops.h"
#include "append.h"
#include "buf.h"
#include "jflat.h"

#define DEDUPE_TTL_MS	(24LL * 3600 * 1000)
#define CONV_MAX	80

static const char *const mid_fields[] = { "mid", "id", NULL };

/* A value being printed, reused from op to op (the worker is one thread). */
static struct buf vb;

static struct id_gen ids;
static int ids_ready;

struct names {
	jv	list;
	size_t	plen;
};

static int
name_one(void *arg, const char *k, size_t klen, const char *v, size_t vlen)
{
	struct names *n = arg;

	(void)v;
	(void)vlen;
	n->list = jv_array_append(n->list,
	    jv_string_sized(k + n->plen, (int)(klen - n->plen)));
	return 0;
}

/* The recipients of a message in conv: both sides of a pair, every
 * member of a group.  -1 on a read error. */
static int
recipients(struct op_ctx *c, const char *from, const char *to,
    const char *gid, jv *out)
{
	struct skey prefix;
	struct names n;

	if (to != NULL) {
		*out = jv_array_append(jv_array(), jv_string(to));
		if (strcmp(to, from) != 0)
			*out = jv_array_append(*out, jv_string(from));
		return 0;
	}
	key_member_prefix(&prefix, gid);
	n.list = jv_array();
	n.plen = prefix.len;
	if (tx_scan(c->tx, prefix.b, prefix.len, NULL, 0, 0, name_one,
	    &n) == -1) {
		jv_free(n.list);
		op_read_error(c);
		return -1;
	}
	*out = n.list;
	return 0;
}


/*
 * Users known to exist, so a message does not read u/{from} and u/{to}
 * again (7% of the store's CPU at 10k msg/s).  A user is never deleted,
 * so an entry stays true, except one learnt from a batch whose commit then
 * failed: commit.c forgets them all then (append_forget_users).  Open
 * addressing; when half full it starts again empty.  The worker's alone.
 */
#define KNOWN_SLOTS	65536

static char (*known)[33];
static size_t nknown;

static size_t
known_slot(const char *u)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *u != '\0'; u++)
		h = (h ^ (unsigned char)*u) * 0x100000001b3ULL;
	return (size_t)h & (KNOWN_SLOTS - 1);
}

void
append_forget_users(void)
{
	if (known != NULL)
		memset(known, 0, KNOWN_SLOTS * sizeof(*known));
	nknown = 0;
}

static int
user_exists(struct op_ctx *c, const char *u)
{
	size_t i;
	int r;

	if (known == NULL && (known = calloc(KNOWN_SLOTS,
	    sizeof(*known))) == NULL)
		return op_user_exists(c, u);
	for (i = known_slot(u); known[i][0] != '\0'; i = (i + 1) &
	    (KNOWN_SLOTS - 1))
		if (strcmp(known[i], u) == 0)
			return 1;
	if ((r = op_user_exists(c, u)) != 1 || strlen(u) >= sizeof(*known))
		return r;
	if (nknown >= KNOWN_SLOTS / 2) {
		append_forget_users();
		i = known_slot(u);
	}
	strcpy(known[i], u);
	nknown++;
	return 1;
}

/* What an append made, or found for a retried cid. */
struct append_out {
	char	 hex[ID_HEX_LEN + 1];
	int64_t	 ts;
	int	 dup;
	jv	 rcpt;
};

/* A seen (from, device, cid): 1 and *o, 0 if new, -1. */
static int
seen(struct op_ctx *c, struct skey *xk, const char *from,
    struct append_out *o)
{
	jv rec, conv, at, v;
	const char *cv;
	int r, old;

	if ((r = op_load(c, xk->b, xk->len, &rec)) != 1)
		return r;
	at = jv_object_get(jv_copy(rec), jv_string("at"));
	old = jv_get_kind(at) != JV_KIND_NUMBER ||
	    (int64_t)c->now - (int64_t)jv_number_value(at) > DEDUPE_TTL_MS;
	jv_free(at);
	if (old) {
		jv_free(rec);
		return 0;
	}
	conv = jv_object_get(jv_copy(rec), jv_string("conv"));
	cv = jv_get_kind(conv) == JV_KIND_STRING ? jv_string_value(conv) : "";
	if (strncmp(cv, "d/", 2) == 0) {
		/* d/a/b: the other side of the pair is the recipient */
		char a[40] = "", b[40] = "";
		sscanf(cv + 2, "%39[^/]/%39s", a, b);
		r = recipients(c, from, strcmp(a, from) == 0 ? b : a, NULL,
		    &o->rcpt);
	} else
		r = recipients(c, from, NULL, cv + 2, &o->rcpt);
	jv_free(conv);
	if (r == -1) {
		jv_free(rec);
		return -1;
	}
	v = jv_object_get(jv_copy(rec), jv_string("id"));
	snprintf(o->hex, sizeof(o->hex), "%s", jv_get_kind(v) ==
	    JV_KIND_STRING ? jv_string_value(v) : "");
	jv_free(v);
	v = jv_object_get(jv_copy(rec), jv_string("ts"));
	o->ts = jv_get_kind(v) == JV_KIND_NUMBER ? (int64_t)jv_number_value(v) :
	    0;
	jv_free(v);
	o->dup = 1;
	jv_free(rec);
	__atomic_add_fetch(&c->stats->dups, 1, __ATOMIC_RELAXED);
	return 1;
}

/* The fields, checked, into a (pointers into c->req). */
static int
check_sender(struct op_ctx *c, struct append_args *a)
{
	const char *from, *device, *cid, *to = NULL, *gid = NULL;

	if (op_user_field(c, "from", &from) == -1 ||
	    op_str_field(c, "device", 64, 1, &device) == -1 ||
	    op_str_field(c, "cid", 64, 1, &cid) == -1)
		return -1;
	if (!valid_device(device)) {
		op_fail(c, "bad_request", "field 'device' must be a device id");
		return -1;
	}
	if (!valid_cid(cid)) {
		op_fail(c, "bad_request", "field 'cid' must be 1 to 64 "
		    "printable ASCII characters");
		return -1;
	}
	if (json_has(c->req, "to") == json_has(c->req, "group")) {
		op_fail(c, "bad_request", "exactly one of fields 'to' and "
		    "'group' is needed");
		return -1;
	}
	if (json_has(c->req, "to") ? op_user_field(c, "to", &to) == -1 :
	    op_str_field(c, "group", 34, 1, &gid) == -1)
		return -1;
	if (gid != NULL && !valid_group(gid)) {
		op_fail(c, "bad_request", "field 'group' must be a group id");
		return -1;
	}
	a->body = json_str(c->req, "body", &a->blen);
	if (a->body == NULL) {
		op_fail(c, "bad_request", json_has(c->req, "body") ?
		    "field 'body' must be a string" : "missing field 'body'");
		return -1;
	}
	if ((long)a->blen > store_limits.max_message) {
		op_fail(c, "too_large", "field 'body' is %zu bytes, more than "
		    "%ld", a->blen, store_limits.max_message);
		return -1;
	}
	/* all checked above to fit their arrays */
	strcpy(a->from, from);
	strcpy(a->device, device);
	strcpy(a->cid, cid);
	strcpy(a->target, to != NULL ? to : gid);
	a->group = to == NULL;
	return 0;
}

static int apply_logged(struct op_ctx *, const struct append_args *,
    struct append_out *, struct skey *);
static int write_msg(struct op_ctx *, const struct append_args *,
    struct append_out *, struct skey *, const char *, uint64_t, int64_t);

/* msg.append with checked fields: 0 and *o, or -1 (c->code set). */
static int
append(struct op_ctx *c, const struct append_args *a, struct append_out *o)
{
	const char *to = a->group ? NULL : a->target;
	const char *gid = a->group ? a->target : NULL;
	char conv[CONV_MAX];
	struct skey xk, k;
	uint64_t id = a->mid;
	int64_t ts = a->ts;
	int r;

	key_dedupe(&xk, a->from, a->device, a->cid);
	if ((r = seen(c, &xk, a->from, o)) != 0)
		return r == 1 ? 0 : -1;
	if (a->rcpt != NULL)
		return apply_logged(c, a, o, &xk);
	if (user_exists(c, a->from) != 1)
		return -1;
	if (to != NULL) {
		if (user_exists(c, to) != 1)
			return -1;
		key_conv_direct(conv, sizeof(conv), a->from, to);
	} else {
		struct skey gk;
		char *v;
		size_t vlen;
		key_group(&gk, gid);
		if ((r = tx_get(c->tx, gk.b, gk.len, &v, &vlen)) != 1) {
			if (r == 0)
				op_fail(c, "no_such_group", "no group '%s'", gid);
			else
				op_read_error(c);
			return -1;
		}
		free(v);
		key_member(&gk, gid, a->from);
		if ((r = tx_get(c->tx, gk.b, gk.len, &v, &vlen)) != 1) {
			if (r == 0)
				op_fail(c, "not_member", "'%s' is not a member "
				    "of '%s'", a->from, gid);
			else
				op_read_error(c);
			return -1;
		}
		free(v);
		key_conv_group(conv, sizeof(conv), gid);
	}
	if (!a->have_mid) {
		if (!ids_ready) {
			id_gen_init(&ids, (unsigned)store_limits.node_id);
			ids_ready = 1;
		}
		id = id_next(&ids);
	} else {
		char *v;
		size_t vlen;
		key_msg(&k, conv, id);
		if ((r = tx_get(c->tx, k.b, k.len, &v, &vlen)) != 0) {
			if (r == -1) {
				op_read_error(c);
				return -1;
			}
			free(v);
			op_fail(c, "bad_request", "message id in field 'mid' "
			    "is taken");
			return -1;
		}
	}
	if (!a->have_ts)
		ts = (int64_t)id_time_ms(id);
	if (recipients(c, a->from, to, gid, &o->rcpt) == -1)
		return -1;
	return write_msg(c, a, o, &xk, conv, id, ts);
}

/*
 * A log entry (chat-log(1)): the message as another store accepted it, its
 * id, ts and recipients given.  Nothing is checked against users or groups
 * (a store rebuilt from the stream has neither); a message already there
 * under its id is a dup, so applying an entry twice writes nothing.
 */
static int
apply_logged(struct op_ctx *c, const struct append_args *a,
    struct append_out *o, struct skey *xk)
{
	char conv[CONV_MAX];
	struct skey k;
	char *v;
	size_t vlen;
	int r;

	if (!a->have_mid || !a->have_ts) {
		op_fail(c, "bad_request", "a message with 'recipients' needs "
		    "'mid' and 'ts'");
		return -1;
	}
	o->rcpt = jv_parse(a->rcpt);
	int bad = jv_get_kind(o->rcpt) != JV_KIND_ARRAY;
	for (int i = 0; !bad && i < jv_array_length(jv_copy(o->rcpt)); i++) {
		jv u = jv_array_get(jv_copy(o->rcpt), i);
		bad = jv_get_kind(u) != JV_KIND_STRING ||
		    !valid_user(jv_string_value(u));
		jv_free(u);
	}
	if (bad) {
		jv_free(o->rcpt);
		op_fail(c, "bad_request", "field 'recipients' must be an array "
		    "of user names");
		return -1;
	}
	if (a->group)
		key_conv_group(conv, sizeof(conv), a->target);
	else
		key_conv_direct(conv, sizeof(conv), a->from, a->target);
	key_msg(&k, conv, a->mid);
	if ((r = tx_get(c->tx, k.b, k.len, &v, &vlen)) != 0) {
		jv_free(o->rcpt);
		if (r == -1) {
			op_read_error(c);
			return -1;
		}
		free(v);
		id_format(a->mid, o->hex);
		o->ts = a->ts;
		o->rcpt = jv_parse(a->rcpt);
		o->dup = 1;
		return 0;
	}
	return write_msg(c, a, o, xk, conv, a->mid, a->ts);
}

/* Appends s at p (no NUL); returns the end. */
static char *
cat(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

/* v in decimal at p (no NUL; at most 20 bytes); returns the end.  In
 * place of snprintf, which took 3% of the worker's instructions for the
 * three numbers of a message. */
static char *
cat_dec(char *p, int64_t v)
{
	char tmp[20];
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	size_t n = 0;

	if (v < 0)
		*p++ = '-';
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

/* Stages the message, its inbox entries (o->rcpt) and the dedupe record. */
static int
write_msg(struct op_ctx *c, const struct append_args *a, struct append_out *o,
    struct skey *xkp, const char *conv, uint64_t id, int64_t ts)
{
	const char *to = a->group ? NULL : a->target;
	char num[24], val[CONV_MAX + 128], *e;
	struct skey k, xk = *xkp;
	int i, n;

	id_format(id, o->hex);
	o->ts = ts;
	o->dup = 0;
	*cat_dec(num, ts) = '\0';
	/* names, ids and conv need no escaping: all were checked above */
	vb.len = 0;
#define V(s) buf_adds(&vb, (s))
#define VJ(s, n) buf_add_json_str(&vb, (s), (n))
	if (V("{\"id\":\"") || V(o->hex) || V("\",\"from\":\"") ||
	    V(a->from) || V(to ? "\",\"to\":\"" : "\",\"group\":\"") ||
	    V(a->target) || V("\",\"body\":") || VJ(a->body, a->blen) ||
	    V(",\"ts\":") || V(num) || V(",\"cid\":") ||
	    VJ(a->cid, strlen(a->cid)) || V(",\"device\":\"") ||
	    V(a->device) || V("\"}")) {
		jv_free(o->rcpt);
		op_fail(c, "store_unavailable", "out of memory");
		return -1;
	}
	key_msg(&k, conv, id);
	tx_put(c->tx, k.b, k.len, vb.p, vb.len);

	/* conv is shorter than CONV_MAX, the rest fixed or at most 20 */
	e = cat(cat(cat(val, "{\"conv\":\""), conv), "\"}");
	n = jv_array_length(jv_copy(o->rcpt));
	for (i = 0; i < n; i++) {
		jv u = jv_array_get(jv_copy(o->rcpt), i);
		key_inbox(&k, jv_string_value(u), id);
		tx_put(c->tx, k.b, k.len, val, (size_t)(e - val));
		jv_free(u);
	}
	e = cat(cat(cat(cat(cat(val, "{\"conv\":\""), conv), "\",\"id\":\""),
	    o->hex), "\",\"ts\":");
	e = cat_dec(cat(cat(e, num), ",\"at\":"), (int64_t)c->now);
	*e++ = '}';
	tx_put(c->tx, xk.b, xk.len, val, (size_t)(e - val));
	__atomic_add_fetch(&c->stats->appends, 1, __ATOMIC_RELAXED);
	return 0;
}

jv
op_msg_append(struct op_ctx *c)
{
	struct append_args a;
	struct append_out o;
	int have_id;

	memset(&a, 0, sizeof(a));
	if (check_sender(c, &a) == -1 ||
	    (have_id = op_msgid_field(c, mid_fields, &a.mid)) == -1)
		return jv_invalid();
	a.have_mid = have_id;
	a.have_ts = json_has(c->req, "ts");
	char *rcpt = NULL;
	if (json_has(c->req, "recipients") && (rcpt = json_dump(jv_object_get(
	    jv_copy(c->req), jv_string("recipients")), NULL)) == NULL)
		return op_fail(c, "store_unavailable", "out of memory");
	a.rcpt = rcpt;
	int fail = op_int_field(c, "ts", &a.ts) == -1 ||
	    append(c, &a, &o) == -1;
	free(rcpt);
	if (fail)
		return jv_invalid();
	/* "mid": "id" is the request's own id in every reply */
	jv r = jv_object_set(jv_object(), jv_string("mid"), jv_string(o.hex));
	r = jv_object_set(r, jv_string("ts"), jv_number((double)o.ts));
	r = jv_object_set(r, jv_string("dup"), jv_bool(o.dup));
	return jv_object_set(r, jv_string("recipients"), o.rcpt);
}

/* The fast path: the line read without jv */

/* The body's JSON text (no \u escape) decoded into a->body_buf. */
static int
unescape_body(struct append_args *a, const struct jflat_val *v)
{
	const char *p = v->p + 1, *end = v->p + v->len - 1;
	char *out = malloc(v->len);

	if (out == NULL)
		return -1;
	a->body_buf = out;
	a->body = out;
	while (p < end) {
		if (*p != '\\') {
			*out++ = *p++;
			continue;
		}
		switch (p[1]) {
		case 'b': *out++ = '\b'; break;
		case 'f': *out++ = '\f'; break;
		case 'n': *out++ = '\n'; break;
		case 'r': *out++ = '\r'; break;
		case 't': *out++ = '\t'; break;
		default: *out++ = p[1];	/* '"', '\\', '/' */
		}
		p += 2;
	}
	a->blen = (size_t)(out - a->body_buf);
	return 0;
}

int
append_args_parse(const char *line, size_t len, struct append_args **out)
{
	struct jflat f;
	struct append_args *a;
	const struct jflat_val *body, *ts;
	const char *s;
	size_t slen;
	int64_t reqid;

	if (jflat_parse(&f, line, len) == -1 ||
	    (s = jflat_str(&f, "op", &slen)) == NULL || slen != 10 ||
	    memcmp(s, "msg.append", 10) != 0 || !jflat_int(&f, "id", &reqid) ||
	    reqid < 0 || (body = jflat_get(&f, "body")) == NULL ||
	    body->type != JF_STRING || body->uesc ||
	    (long)jflat_strlen(body) > store_limits.max_message ||
	    (jflat_get(&f, "to") != NULL) == (jflat_get(&f, "group") != NULL) ||
	    jflat_get(&f, "recipients") != NULL)
		return 0;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return 0;
	a->group = jflat_get(&f, "group") != NULL;
	a->reqid = reqid;
	if (jflat_strcpy(&f, "from", a->from, sizeof(a->from)) ||
	    jflat_strcpy(&f, "device", a->device, sizeof(a->device)) ||
	    jflat_strcpy(&f, "cid", a->cid, sizeof(a->cid)) ||
	    jflat_strcpy(&f, a->group ? "group" : "to", a->target,
	    sizeof(a->target)) || !valid_user(a->from) ||
	    !valid_device(a->device) || !valid_cid(a->cid) ||
	    !(a->group ? valid_group(a->target) : valid_user(a->target)))
		goto slow;
	if ((s = jflat_str(&f, "mid", &slen)) != NULL) {
		if (id_parse(s, slen, &a->mid) == -1)
			goto slow;
		a->have_mid = 1;
	} else if (jflat_get(&f, "mid") != NULL)
		goto slow;
	if ((ts = jflat_get(&f, "ts")) != NULL) {
		if (!jflat_int(&f, "ts", &a->ts))
			goto slow;
		a->have_ts = 1;
	}
	if (unescape_body(a, body) == -1)
		goto slow;
	*out = a;
	return 1;
slow:
	append_args_free(a);
	return 0;
}

void
append_args_free(struct append_args *a)
{
	if (a == NULL)
		return;
	free(a->body_buf);
	free(a);
}

int
op_msg_append_fast(struct op_ctx *c, const struct append_args *a,
    char **reply, size_t *len)
{
	struct append_out o;
	char head[96];

	if (append(c, a, &o) == -1)
		return -1;
	vb.len = 0;
	snprintf(head, sizeof(head), "{\"id\":%lld,\"ok\":true,\"mid\":\"%s\","
	    "\"ts\":%" PRId64 ",\"dup\":%s,\"recipients\":[", (long long)a->reqid,
	    o.hex, o.ts, o.dup ? "true" : "false");
	int bad = buf_adds(&vb, head);
	jv_array_foreach(o.rcpt, i, u) {
		if (!bad && i > 0)
			bad = buf_adds(&vb, ",");
		if (!bad)
			bad = buf_add_json_str(&vb, jv_string_value(u),
			    (size_t)jv_string_length_bytes(jv_copy(u)));
		jv_free(u);
	}
	jv_free(o.rcpt);
	if (bad || buf_adds(&vb, "]}") || (*reply = malloc(vb.len)) == NULL) {
		op_fail(c, "store_unavailable", "out of memory");
		return -1;
	}
	memcpy(*reply, vb.p, vb.len);
	*len = vb.len;
	return 0;
}

struct msgs {
	jv	list;
	int	left;
	int	more;
	struct op_ctx *c;
	int	failed;
};

static int
hist_one(void *arg, const char *k, size_t klen, const char *v, size_t vlen)
{
	struct msgs *m = arg;
	jv msg = jv_parse_sized(v, (int)vlen);

	(void)k;
	(void)klen;
	if (jv_get_kind(msg) == JV_KIND_OBJECT)
		m->list = jv_array_append(m->list, msg);
	else
		jv_free(msg);
	return --m->left == 0;
}

jv
op_msg_history(struct op_ctx *c)
{
	const char *user, *with = NULL, *gid = NULL;
	char conv[CONV_MAX];
	struct skey prefix, from;
	uint64_t before = 0;
	struct msgs m;
	int limit, r, have_before;

	if (op_user_field(c, "user", &user) == -1 ||
	    (have_before = op_id_field(c, "before", &before)) == -1 ||
	    op_limit(c, 50, 200, &limit) == -1)
		return jv_invalid();
	if (json_has(c->req, "with") == json_has(c->req, "group"))
		return op_fail(c, "bad_request", "exactly one of fields 'with' "
		    "and 'group' is needed");
	if (op_user_exists(c, user) != 1)
		return jv_invalid();
	if (json_has(c->req, "with")) {
		if (op_user_field(c, "with", &with) == -1 ||
		    op_user_exists(c, with) != 1)
			return jv_invalid();
		key_conv_direct(conv, sizeof(conv), user, with);
	} else {
		struct skey k;
		char *v;
		size_t vlen;
		if (op_str_field(c, "group", 34, 1, &gid) == -1)
			return jv_invalid();
		if (!valid_group(gid))
			return op_fail(c, "bad_request", "field 'group' must "
			    "be a group id");
		key_group(&k, gid);
		if ((r = tx_get(c->tx, k.b, k.len, &v, &vlen)) != 1)
			return r == 0 ? op_fail(c, "no_such_group", "no group "
			    "'%s'", gid) : op_read_error(c);
		free(v);
		key_member(&k, gid, user);
		if ((r = tx_get(c->tx, k.b, k.len, &v, &vlen)) != 1)
			return r == 0 ? op_fail(c, "not_member", "'%s' is not "
			    "a member of '%s'", user, gid) : op_read_error(c);
		free(v);
		key_conv_group(conv, sizeof(conv), gid);
	}
	key_msg_prefix(&prefix, conv);
	if (have_before)
		key_msg(&from, conv, before);
	m.list = jv_array();
	m.left = limit;
	if (tx_scan(c->tx, prefix.b, prefix.len, have_before ? from.b : NULL,
	    have_before ? from.len : 0, 1, hist_one, &m) == -1) {
		jv_free(m.list);
		return op_read_error(c);
	}
	return jv_object_set(jv_object(), jv_string("messages"), m.list);
}

static int
inbox_one(void *arg, const char *k, size_t klen, const char *v, size_t vlen)
{
	struct msgs *m = arg;
	jv ent, conv, msg;
	uint64_t id;
	struct skey mk;

	if (m->left == 0) {
		m->more = 1;
		return 1;
	}
	if (key_tail_id(k, klen, &id) == -1)
		return 0;
	ent = jv_parse_sized(v, (int)vlen);
	conv = jv_get_kind(ent) == JV_KIND_OBJECT ?
	    jv_object_get(ent, jv_string("conv")) : (jv_free(ent), jv_null());
	if (jv_get_kind(conv) != JV_KIND_STRING) {
		jv_free(conv);
		return 0;
	}
	key_msg(&mk, jv_string_value(conv), id);
	jv_free(conv);
	switch (op_load(m->c, mk.b, mk.len, &msg)) {
	case -1:
		m->failed = 1;
		return 1;
	case 1:
		m->list = jv_array_append(m->list, msg);
		m->left--;
	}
	return 0;
}

jv
op_inbox_read(struct op_ctx *c)
{
	const char *user;
	struct skey prefix, from;
	uint64_t after = 0;
	struct msgs m;
	int limit, have_after;

	if (op_user_field(c, "user", &user) == -1 ||
	    (have_after = op_id_field(c, "after", &after)) == -1 ||
	    op_limit(c, 100, 1000, &limit) == -1 ||
	    op_user_exists(c, user) != 1)
		return jv_invalid();
	key_inbox_prefix(&prefix, user);
	if (have_after)
		key_inbox(&from, user, after);
	m.list = jv_array();
	m.left = limit;
	m.more = 0;
	m.c = c;
	m.failed = 0;
	if (tx_scan(c->tx, prefix.b, prefix.len, have_after ? from.b : NULL,
	    have_after ? from.len : 0, 0, inbox_one, &m) == -1 || m.failed) {
		jv_free(m.list);
		return m.failed ? jv_invalid() : op_read_error(c);
	}
	return jv_object_set(jv_object_set(jv_object(), jv_string("messages"),
	    m.list), jv_string("more"), jv_bool(m.more));
}
