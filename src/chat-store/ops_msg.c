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

#define DEDUPE_TTL_MS	(24LL * 3600 * 1000)
#define CONV_MAX	80

static const char *const mid_fields[] = { "mid", "id", NULL };

/* A value being printed, reused from op to op (the worker is one thread). */
static char *vb;
static size_t vb_len, vb_cap;

static int
vb_add(const char *s, size_t n)
{
	if (vb_cap - vb_len < n) {
		size_t cap = vb_cap ? vb_cap : 1024;
		while (cap - vb_len < n)
			cap *= 2;
		char *nb = realloc(vb, cap);
		if (nb == NULL)
			return -1;
		vb = nb;
		vb_cap = cap;
	}
	memcpy(vb + vb_len, s, n);
	vb_len += n;
	return 0;
}

static int
vb_str(const char *s)
{
	return vb_add(s, strlen(s));
}

/* s[0..n) as a JSON string, escaped byte for byte as jq's dump does it
 * (chat-store export relies on values being jq's own text). */
static int
vb_json_str(const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;
	char esc[6] = "\\u00";

	if (vb_add("\"", 1) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch != '"' && ch != '\\' && ch != 0x7f)
			continue;
		if (vb_add(s + run, i - run) == -1)
			return -1;
		run = i + 1;
		const char *sh = strchr("\"\"\\\\\bb\ff\nn\rr\tt", ch);
		if (ch != 0 && sh != NULL) {	/* the short forms, as jq */
			char two[2] = { '\\', sh[1] };
			if (vb_add(two, 2) == -1)
				return -1;
			continue;
		}
		esc[4] = hex[ch >> 4];
		esc[5] = hex[ch & 15];
		if (vb_add(esc, 6) == -1)
			return -1;
	}
	if (vb_add(s + run, n - run) == -1)
		return -1;
	return vb_add("\"", 1);
}
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

static jv
append_reply(jv id, jv ts, int dup, jv rcpt)
{
	/* "mid": "id" is the request's own id in every reply */
	jv o = jv_object_set(jv_object(), jv_string("mid"), id);

	o = jv_object_set(o, jv_string("ts"), ts);
	o = jv_object_set(o, jv_string("dup"), jv_bool(dup));
	return jv_object_set(o, jv_string("recipients"), rcpt);
}

/* A seen (from, device, cid): 1 and the reply, 0 if new, -1. */
static int
seen(struct op_ctx *c, struct skey *xk, const char *from, jv *reply)
{
	jv rec, conv, rcpt, at;
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
		    &rcpt);
	} else
		r = recipients(c, from, NULL, cv + 2, &rcpt);
	jv_free(conv);
	if (r == -1) {
		jv_free(rec);
		return -1;
	}
	*reply = append_reply(jv_object_get(jv_copy(rec), jv_string("id")),
	    jv_object_get(jv_copy(rec), jv_string("ts")), 1, rcpt);
	jv_free(rec);
	__atomic_add_fetch(&c->stats->dups, 1, __ATOMIC_RELAXED);
	return 1;
}

static int
check_sender(struct op_ctx *c, const char **from, const char **device,
    const char **cid, const char **to, const char **gid, const char **body,
    size_t *blen)
{
	if (op_user_field(c, "from", from) == -1 ||
	    op_str_field(c, "device", 64, 1, device) == -1 ||
	    op_str_field(c, "cid", 64, 1, cid) == -1)
		return -1;
	if (!valid_device(*device)) {
		op_fail(c, "bad_request", "field 'device' must be a device id");
		return -1;
	}
	if (!valid_cid(*cid)) {
		op_fail(c, "bad_request", "field 'cid' must be 1 to 64 "
		    "printable ASCII characters");
		return -1;
	}
	*to = *gid = NULL;
	if (json_has(c->req, "to") == json_has(c->req, "group")) {
		op_fail(c, "bad_request", "exactly one of fields 'to' and "
		    "'group' is needed");
		return -1;
	}
	if (json_has(c->req, "to") ? op_user_field(c, "to", to) == -1 :
	    op_str_field(c, "group", 34, 1, gid) == -1)
		return -1;
	if (*gid != NULL && !valid_group(*gid)) {
		op_fail(c, "bad_request", "field 'group' must be a group id");
		return -1;
	}
	*body = json_str(c->req, "body", blen);
	if (*body == NULL) {
		op_fail(c, "bad_request", json_has(c->req, "body") ?
		    "field 'body' must be a string" : "missing field 'body'");
		return -1;
	}
	if ((long)*blen > store_limits.max_message) {
		op_fail(c, "too_large", "field 'body' is %zu bytes, more than "
		    "%ld", *blen, store_limits.max_message);
		return -1;
	}
	return 0;
}

jv
op_msg_append(struct op_ctx *c)
{
	const char *from, *device, *cid, *to, *gid, *body;
	char conv[CONV_MAX], hex[ID_HEX_LEN + 1];
	size_t blen;
	struct skey xk, k;
	uint64_t id = 0;
	int64_t ts = 0;
	jv reply, rcpt;
	int r, i, n, have_id, have_ts;
	char num[24], val[CONV_MAX + 96];

	if (check_sender(c, &from, &device, &cid, &to, &gid, &body,
	    &blen) == -1 || (have_id = op_msgid_field(c, mid_fields, &id)) == -1)
		return jv_invalid();
	have_ts = json_has(c->req, "ts");
	if (op_int_field(c, "ts", &ts) == -1)
		return jv_invalid();
	key_dedupe(&xk, from, device, cid);
	if ((r = seen(c, &xk, from, &reply)) != 0)
		return r == 1 ? reply : jv_invalid();
	if (op_user_exists(c, from) != 1)
		return jv_invalid();
	if (to != NULL) {
		if (op_user_exists(c, to) != 1)
			return jv_invalid();
		key_conv_direct(conv, sizeof(conv), from, to);
	} else {
		struct skey gk;
		char *v;
		size_t vlen;
		key_group(&gk, gid);
		if ((r = tx_get(c->tx, gk.b, gk.len, &v, &vlen)) != 1)
			return r == 0 ? op_fail(c, "no_such_group", "no group "
			    "'%s'", gid) : op_read_error(c);
		free(v);
		key_member(&gk, gid, from);
		if ((r = tx_get(c->tx, gk.b, gk.len, &v, &vlen)) != 1)
			return r == 0 ? op_fail(c, "not_member", "'%s' is not "
			    "a member of '%s'", from, gid) : op_read_error(c);
		free(v);
		key_conv_group(conv, sizeof(conv), gid);
	}
	if (!have_id) {
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
			if (r == -1)
				return op_read_error(c);
			free(v);
			return op_fail(c, "bad_request", "message id in field "
			    "'mid' is taken");
		}
	}
	if (!have_ts)
		ts = (int64_t)id_time_ms(id);
	if (recipients(c, from, to, gid, &rcpt) == -1)
		return jv_invalid();

	id_format(id, hex);
	snprintf(num, sizeof(num), "%" PRId64, ts);
	/* names, ids and conv need no escaping: all were checked above */
	vb_len = 0;
	if (vb_str("{\"id\":\"") || vb_str(hex) || vb_str("\",\"from\":\"") ||
	    vb_str(from) || vb_str(to ? "\",\"to\":\"" : "\",\"group\":\"") ||
	    vb_str(to ? to : gid) || vb_str("\",\"body\":") ||
	    vb_json_str(body, blen) || vb_str(",\"ts\":") || vb_str(num) ||
	    vb_str(",\"cid\":") || vb_json_str(cid, strlen(cid)) ||
	    vb_str(",\"device\":\"") || vb_str(device) || vb_str("\"}")) {
		jv_free(rcpt);
		return op_fail(c, "store_unavailable", "out of memory");
	}
	key_msg(&k, conv, id);
	tx_put(c->tx, k.b, k.len, vb, vb_len);

	int vl = snprintf(val, sizeof(val), "{\"conv\":\"%s\"}", conv);
	n = jv_array_length(jv_copy(rcpt));
	for (i = 0; i < n; i++) {
		jv u = jv_array_get(jv_copy(rcpt), i);
		key_inbox(&k, jv_string_value(u), id);
		tx_put(c->tx, k.b, k.len, val, (size_t)vl);
		jv_free(u);
	}
	vl = snprintf(val, sizeof(val), "{\"conv\":\"%s\",\"id\":\"%s\","
	    "\"ts\":%s,\"at\":%" PRIu64 "}", conv, hex, num, c->now);
	tx_put(c->tx, xk.b, xk.len, val, (size_t)vl);
	__atomic_add_fetch(&c->stats->appends, 1, __ATOMIC_RELAXED);
	return append_reply(jv_string(hex), jv_number((double)ts), 0, rcpt);
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
