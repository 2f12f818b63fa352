/*
 * send: msg.send, the message path.
 *
 *   chatd --msg.send--> route: check, assign the id
 *         route --msg.append--> chat-store: message + inboxes + dedupe,
 *                                           one synced batch
 *         route <--{id,ts,dup,recipients}--
 *   chatd <--ack-- route            (only now: the write is on disk)
 *   chatds of recipients <--deliver-- route   (one line per chatd)
 *
 * The user and device come from chatd, which proved them at auth; a client
 * can name neither.  Membership and the recipient's existence are checked
 * by chat-store inside the same step as the write, so nothing can change
 * between check and append.  A retried cid comes back from the store with
 * its first id and dup:true; it is acked with that id and delivered again,
 * because the first delivery may have been lost with a crashed process:
 * chatd drops any delivery not newer than the last id a device got, so a
 * device never sees it twice.
 *
 * The delivery frame is built once per message, as bytes, and each chatd's
 * line is its device list plus that frame, so a message to a group of 100
 * costs one frame and one line per chatd, not one per member.  Request
 * contexts come from a free list.
 *
 * The fast path (send_msg_flat) never builds a jv: the request is scanned
 * in place (lib/jflat.h), the body is carried as the JSON text the client
 * wrote, msg.append goes out and its reply comes back as bytes
 * (ipc_call_raw), and the ack and frame are written by hand.  A line it
 * does not take (any field it would have to refuse, a body with a \u
 * escape) goes the jv way, send_msg, which answers every error; only push
 * work for an offline recipient builds jv values, after the ack.  Measured
 * at 10k msg/s: jq was 69% of chat-route's CPU.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "jflat.h"
#include "json.h"
#include "log.h"
#include "route.h"
#include "util.h"

struct sendctx {
	struct peer	*p;
	jv		 reqid;		/* the jv path's */
	jv		 req;

	/* the fast path's: the request's fields, the body as JSON text */
	char		 idraw[24];
	char		 user[33], device[65], cid[65], target[40];
	int		 group;		/* target is a group, else a user */
	char		*body;
	size_t		 blen, bcap;
	char		 req_cid[65];	/* for an error after the log */

	struct sendctx	*next;		/* free list */
};

static struct sendctx *free_ctx;

#define ADD(s) buf_adds(&p->out, (s))

/* A fan-out being built: the chatds with a line started. */
struct fan {
	struct peer	*touched;
	size_t		 count;
};

/* Adds the online devices of user name (but the skipped) to the lines. */
static void
fan_user(struct fan *fa, const char *name, const char *skip_user,
    const char *skip_device, const char *mid)
{
	struct ruser *r = peer_user(name);
	struct peer *p;

	if (r == NULL)
		return;
	int self = skip_user != NULL && strcmp(name, skip_user) == 0;
	for (size_t d = 0; d < r->n; d++) {
		if (self && (skip_device == NULL ||
		    strcmp(r->devs[d].device, skip_device) == 0))
			continue;
		if ((p = r->devs[d].peer)->conn == NULL)
			continue;
		if (!p->in_fanout) {
			p->in_fanout = 1;
			p->touched = fa->touched;
			fa->touched = p;
			p->out.len = 0;
			ADD("{\"ev\":\"deliver\",");
			if (mid != NULL) {
				ADD("\"mid\":\"");
				ADD(mid);
				ADD("\",");
			}
			ADD("\"devs\":[\"");
		} else
			ADD(",\"");
		/* user and device names need no escaping */
		ADD(name);
		ADD("/");
		ADD(r->devs[d].device);
		ADD("\"");
		fa->count++;
	}
}

/* Ends every chatd's line with the frame and sends it. */
static size_t
fan_end(struct fan *fa, const char *frame, size_t flen)
{
	struct peer *p;

	while ((p = fa->touched) != NULL) {
		fa->touched = p->touched;
		p->in_fanout = 0;
		if (ADD("],\"frame\":") == 0 &&
		    buf_add(&p->out, frame, flen) == 0 &&
		    ADD("}") == 0) {
			peer_send(p, p->out.p, p->out.len);
			route.n.deliver_lines++;
		}
		if (p->out.cap > 1024 * 1024)	/* one huge fan-out: let go */
			buf_free(&p->out);
	}
	route.n.deliveries += fa->count;
	return fa->count;
}

size_t
fanout(jv users, const char *skip_user, const char *skip_device,
    const char *mid, const char *frame, size_t flen)
{
	struct fan fa = { NULL, 0 };

	jv_array_foreach(users, i, u) {
		if (jv_get_kind(u) == JV_KIND_STRING)
			fan_user(&fa, jv_string_value(u), skip_user,
			    skip_device, mid);
		jv_free(u);
	}
	return fan_end(&fa, frame, flen);
}

size_t
fanout_raw(const struct jflat_val *users, const char *skip_user,
    const char *skip_device, const char *mid, const char *frame, size_t flen)
{
	struct fan fa = { NULL, 0 };
	struct jflat_val u;
	size_t pos = 0;
	char name[40];

	while (jflat_array_next(users, &pos, &u))
		if (u.type == JF_STRING && u.nesc == 0 && u.len - 2 <
		    sizeof(name)) {
			memcpy(name, u.p + 1, u.len - 2);
			name[u.len - 2] = '\0';
			fan_user(&fa, name, skip_user, skip_device, mid);
		}
	return fan_end(&fa, frame, flen);
}

#undef ADD

/* A context for a send from p, from the free list (its body buffer
 * kept), or NULL. */
static struct sendctx *
ctx_get(struct peer *p)
{
	struct sendctx *x = free_ctx;

	if (x != NULL)
		free_ctx = x->next;
	else if ((x = calloc(1, sizeof(*x))) == NULL)
		return NULL;
	x->p = p;
	peer_ref(p);
	x->reqid = jv_null();
	x->req = jv_null();
	return x;
}

static void
ctx_free(struct sendctx *x)
{
	jv_free(x->req);
	jv_free(x->reqid);
	peer_unref(x->p);
	if (x->bcap > 64 * 1024) {	/* one big body: let it go */
		free(x->body);
		x->body = NULL;
		x->bcap = 0;
	}
	x->next = free_ctx;
	free_ctx = x;
}

/* The client frame of an appended message, in a buffer reused. */
static int
build_frame(jv req, const char *mid, int64_t ts, struct buf *b)
{
	const char *to = json_str(req, "to", NULL), *body, *cid;
	size_t blen, clen;
	char num[32];

	body = json_str(req, "body", &blen);
	cid = json_str(req, "cid", &clen);
	b->len = 0;
#define B(s) buf_adds(b, (s))
	if (B("{\"type\":\"msg\",\"id\":\"") || B(mid) || B("\",\"from\":\"") ||
	    B(json_str(req, "user", NULL)) || B(to ? "\",\"to\":\"" :
	    "\",\"group\":\"") || B(to ? to : json_str(req, "group", NULL)) ||
	    B("\",\"body\":") || buf_add_json_str(b, body, blen))
		return -1;
	snprintf(num, sizeof(num), ",\"ts\":%" PRId64 ",\"cid\":", ts);
	if (B(num) || buf_add_json_str(b, cid, clen) || B("}"))
		return -1;
#undef B
	return 0;
}

static void
appended(void *arg, jv reply)
{
	static struct buf frame;	/* reused */
	struct sendctx *x = arg;
	const char *cid = json_str(x->req, "cid", NULL);

	if (!json_bool(reply, "ok", 0)) {
		route.n.send_errors++;
		if (x->p->conn != NULL) {
			jv r = jv_object_set(jv_object_set(jv_object_set(
			    jv_object(), jv_string("id"), jv_copy(x->reqid)),
			    jv_string("ok"), jv_false()), jv_string("cid"),
			    jv_string(cid));
			ipc_send_jv(x->p->conn, jv_object_set(r,
			    jv_string("error"), jv_object_get(jv_copy(reply),
			    jv_string("error"))));
		}
		goto out;
	}
	/* chat-store names a result's "id" "mid": "id" is the request's */
	const char *mid = json_str(reply, "mid", NULL);
	int64_t ts = 0;
	if (mid == NULL || strlen(mid) != ID_HEX_LEN ||
	    !json_int(reply, "ts", &ts)) {
		log_warnx("chat-store answered msg.append without an id or ts");
		goto out;
	}
	route.n.acks++;
	if (json_bool(reply, "dup", 0))
		route.n.dups++;
	jv ack = jv_object_set(json_ok(jv_copy(x->reqid)), jv_string("ack"),
	    jv_object_set(jv_object_set(jv_object_set(jv_object_set(
	    jv_object(), jv_string("type"), jv_string("ack")),
	    jv_string("cid"), jv_string(cid)), jv_string("id"),
	    jv_string(mid)), jv_string("ts"), jv_number((double)ts)));
	if (x->p->conn != NULL)
		ipc_send_jv(x->p->conn, ack);
	else
		jv_free(ack);
	if (route.nshards > 1)
		goto out;	/* each shard delivers from its feed (feed.c) */
	jv rcpt = jv_object_get(jv_copy(reply), jv_string("recipients"));
	if (build_frame(x->req, mid, ts, &frame) == -1) {
		log_warnx("out of memory building a delivery");
		jv_free(rcpt);
		goto out;
	}
	if (jv_get_kind(rcpt) == JV_KIND_ARRAY) {
		fanout(rcpt, json_str(x->req, "user", NULL),
		    json_str(x->req, "device", NULL), mid, frame.p, frame.len);
		/* last: acks and deliveries never wait for push work; a dup
		 * was handed to chat-push the first time */
		if (!json_bool(reply, "dup", 0))
			push_message(x->req, rcpt, mid, ts);
	}
	jv_free(rcpt);
out:
	jv_free(reply);
	ctx_free(x);
}

/* The message log could not take it: the send fails, never acked. */
static void
log_refused(struct sendctx *x, jv reqid, const char *why)
{
	route.n.send_errors++;
	if (x->p->conn != NULL)
		ipc_send_jv(x->p->conn, jv_object_set(json_error(reqid,
		    "unavailable", why), jv_string("cid"), jv_string(x->req_cid)));
	else
		jv_free(reqid);
	ctx_free(x);
}

static void
logged(void *arg, const char *reply, size_t len, const char *err)
{
	struct sendctx *x = arg;

	if (err != NULL)
		log_refused(x, jv_copy(x->reqid), err);
	else
		appended(x, jv_parse_sized(reply, (int)len));
}

/* msg.append answered (the jv path): through the log first if it is on. */
static void
on_appended(void *arg, jv reply)
{
	struct sendctx *x = arg;
	char *line = NULL, *body = NULL;
	size_t len, blen;

	if (!jslog_on() || !json_bool(reply, "ok", 0)) {
		appended(x, reply);
		return;
	}
	snprintf(x->req_cid, sizeof(x->req_cid), "%s",
	    json_str(x->req, "cid", NULL));
	struct jslog_msg m = { json_str(x->req, "user", NULL),
	    json_str(x->req, "device", NULL), x->req_cid,
	    json_str(x->req, "to", NULL) ?: json_str(x->req, "group", NULL),
	    json_str(x->req, "to", NULL) == NULL, NULL, 0 };
	if ((line = json_dump(jv_copy(reply), &len)) == NULL ||
	    (body = json_dump(jv_object_get(jv_copy(x->req),
	    jv_string("body")), &blen)) == NULL)
		log_refused(x, jv_copy(x->reqid), "out of memory");
	else {
		m.body = body;
		m.blen = blen;
		if (jslog_put(&m, line, len, logged, x) == 0) {
			appended(x, reply);
			reply = jv_null();
		}
	}
	jv_free(reply);
	free(body);
	free(line);
}

static void
refuse(struct peer *p, jv id, const char *cid, const char *msg)
{
	jv r = json_error(id, "bad_request", msg);

	if (cid != NULL)
		r = jv_object_set(r, jv_string("cid"), jv_string(cid));
	route.n.send_errors++;
	if (p->conn != NULL)
		ipc_send_jv(p->conn, r);
	else
		jv_free(r);
}

void
send_msg(struct peer *p, jv req, jv id)
{
	const char *user = json_str(req, "user", NULL);
	const char *device = json_str(req, "device", NULL);
	const char *cid = json_str(req, "cid", NULL);
	const char *to = json_str(req, "to", NULL);
	const char *group = json_str(req, "group", NULL);
	char hex[ID_HEX_LEN + 1];

	if (cid != NULL && !valid_cid(cid))
		cid = NULL;
	if (user == NULL || !valid_user(user) || device == NULL ||
	    !valid_device(device) || cid == NULL) {
		refuse(p, id, cid, "msg.send needs 'user', 'device' and 'cid'");
		jv_free(req);
		return;
	}
	if ((to == NULL) == (group == NULL) || (to && !valid_user(to)) ||
	    (group && !valid_group(group)) || !json_str(req, "body", NULL)) {
		refuse(p, id, cid, "msg.send needs one of 'to' and 'group', "
		    "and a string 'body'");
		jv_free(req);
		return;
	}
	route.n.sends++;
	id_format(id_next(&route.ids), hex);
	jv app = jv_object_set(jv_object_set(jv_object_set(jv_object_set(
	    jv_object(), jv_string("op"), jv_string("msg.append")),
	    jv_string("from"), jv_string(user)), jv_string("device"),
	    jv_string(device)), jv_string("cid"), jv_string(cid));
	app = jv_object_set(app, jv_string(to ? "to" : "group"),
	    jv_string(to ? to : group));
	app = jv_object_set(app, jv_string("body"), jv_object_get(jv_copy(req),
	    jv_string("body")));
	if (route.nshards <= 1)	/* with shards the store numbers them */
		app = jv_object_set(app, jv_string("mid"), jv_string(hex));

	struct sendctx *x = ctx_get(p);
	if (x == NULL) {
		jv_free(app);
		jv_free(req);
		jv_free(id);
		return;		/* chatd resends after a reconnect */
	}
	x->reqid = id;
	x->req = req;
	/* No timeout: resent until chat-store answers (the dedupe record
	 * makes a resend of a write that happened harmless). */
	if (ipc_call(route.store, app, 0, on_appended, x) == -1)
		ctx_free(x);
}

/* The fast path */

static struct buf line;		/* one line being built, reused */

#define L(str) buf_adds(&line, (str))
#define LN(str, n) buf_add(&line, (str), (n))

/* Push work needs the message as jv: only when a recipient is offline. */
static void
push_raw(struct sendctx *x, const struct jflat_val *rcpt, const char *mid,
    int64_t ts)
{
	struct jflat_val u;
	size_t pos = 0;
	char name[40];
	int offline = 0;

	while (!offline && jflat_array_next(rcpt, &pos, &u))
		if (u.type == JF_STRING && u.nesc == 0 && u.len - 2 <
		    sizeof(name)) {
			memcpy(name, u.p + 1, u.len - 2);
			name[u.len - 2] = '\0';
			offline = strcmp(name, x->user) != 0 &&
			    shard_mine(name) && peer_user(name) == NULL;
		}
	if (!offline)
		return;
	jv req = jv_object_set(jv_object_set(jv_object_set(jv_object(),
	    jv_string("user"), jv_string(x->user)), jv_string(x->group ?
	    "group" : "to"), jv_string(x->target)), jv_string("body"),
	    jv_parse_sized(x->body, (int)x->blen));
	jv users = jv_parse_sized(rcpt->p, (int)rcpt->len);
	push_message(req, users, mid, ts);
	jv_free(users);
	jv_free(req);
}

/* chat-store refused, or said something we cannot read: the error goes
 * back to chatd with the request's id and cid. */
static void
appended_error(struct sendctx *x, const char *reply, size_t len)
{
	char err[200];
	jv r = json_parse_object(reply, len, err, sizeof(err));
	jv e = jv_is_valid(r) ? jv_object_get(jv_copy(r), jv_string("error")) :
	    jv_invalid();

	route.n.send_errors++;
	if (jv_get_kind(e) != JV_KIND_OBJECT) {
		jv_free(e);
		e = jv_object_set(jv_object_set(jv_object(), jv_string("code"),
		    jv_string("store_unavailable")), jv_string("message"),
		    jv_string("chat-store gave no usable reply"));
	}
	jv_free(r);
	if (x->p->conn != NULL)
		ipc_send_jv(x->p->conn, jv_object_set(jv_object_set(
		    jv_object_set(jv_object_set(jv_object(), jv_string("id"),
		    jv_parse(x->idraw)), jv_string("ok"), jv_false()),
		    jv_string("cid"), jv_string(x->cid)), jv_string("error"), e));
	else
		jv_free(e);
}

static void
appended_raw(struct sendctx *x, const char *reply, size_t len)
{
	struct jflat f;
	const struct jflat_val *rcpt;
	const char *mid;
	size_t midlen;
	int64_t ts;
	char num[32];

	if (jflat_parse(&f, reply, len) == -1 || !jflat_bool(&f, "ok", 0)) {
		appended_error(x, reply, len);
		goto out;
	}
	/* chat-store names a result's "id" "mid": "id" is the request's */
	if ((mid = jflat_str(&f, "mid", &midlen)) == NULL ||
	    midlen != ID_HEX_LEN || !jflat_int(&f, "ts", &ts)) {
		log_warnx("chat-store answered msg.append without an id or ts");
		goto out;
	}
	char hex[ID_HEX_LEN + 1];
	memcpy(hex, mid, ID_HEX_LEN);
	hex[ID_HEX_LEN] = '\0';
	int dup = jflat_bool(&f, "dup", 0);
	route.n.acks++;
	route.n.dups += dup;
	snprintf(num, sizeof(num), "%" PRId64, ts);
	line.len = 0;
	int acked = L("{\"id\":") == 0 && L(x->idraw) == 0 &&
	    L(",\"ok\":true,\"ack\":{\"type\":\"ack\",\"cid\":\"") == 0 &&
	    L(x->cid) == 0 && L("\",\"id\":\"") == 0 && L(hex) == 0 &&
	    L("\",\"ts\":") == 0 && L(num) == 0 && L("}}") == 0;
	if (acked && x->p->conn != NULL)
		ipc_send(x->p->conn, line.p, line.len);
	if (route.nshards > 1)
		goto out;	/* each shard delivers from its feed (feed.c) */
	/* the frame, as build_frame writes it */
	line.len = 0;
	if (L("{\"type\":\"msg\",\"id\":\"") || L(hex) || L("\",\"from\":\"") ||
	    L(x->user) || L(x->group ? "\",\"group\":\"" : "\",\"to\":\"") ||
	    L(x->target) || L("\",\"body\":") || LN(x->body, x->blen) ||
	    L(",\"ts\":") || L(num) || L(",\"cid\":\"") || L(x->cid) ||
	    L("\"}")) {
		log_warnx("out of memory building a delivery");
		goto out;
	}
	if ((rcpt = jflat_get(&f, "recipients")) != NULL &&
	    rcpt->type == JF_ARRAY) {
		fanout_raw(rcpt, x->user, x->device, hex, line.p, line.len);
		if (!dup)	/* a dup was handed to chat-push the first time */
			push_raw(x, rcpt, hex, ts);
	}
out:
	ctx_free(x);
}

static void
logged_raw(void *arg, const char *reply, size_t len, const char *err)
{
	struct sendctx *x = arg;

	if (err != NULL)
		log_refused(x, jv_parse(x->idraw), err);
	else
		appended_raw(x, reply, len);
}

/* msg.append answered: through the message log first if it is on. */
static void
on_appended_raw(void *arg, const char *reply, size_t len)
{
	struct sendctx *x = arg;
	struct jslog_msg m = { x->user, x->device, x->cid, x->target,
	    x->group, x->body, x->blen };

	snprintf(x->req_cid, sizeof(x->req_cid), "%s", x->cid);
	if (!jslog_on() || jslog_put(&m, reply, len, logged_raw, x) == 0)
		appended_raw(x, reply, len);
}

/* The request's fields into x; 0, or -1 if the jv path must judge it. */
static int
take_fields(struct sendctx *x, const struct jflat *f)
{
	const struct jflat_val *id = jflat_get(f, "id");
	const struct jflat_val *body = jflat_get(f, "body");
	int to = jflat_get(f, "to") != NULL, group = jflat_get(f, "group") !=
	    NULL;

	if (id == NULL || id->type != JF_NUMBER || id->len >= sizeof(x->idraw)
	    || body == NULL || body->type != JF_STRING || body->uesc ||
	    to == group || jflat_strcpy(f, "user", x->user, sizeof(x->user)) ||
	    jflat_strcpy(f, "device", x->device, sizeof(x->device)) ||
	    jflat_strcpy(f, "cid", x->cid, sizeof(x->cid)) ||
	    jflat_strcpy(f, to ? "to" : "group", x->target, sizeof(x->target)))
		return -1;
	x->group = group;
	if (!valid_user(x->user) || !valid_device(x->device) ||
	    !valid_cid(x->cid) || (to && !valid_user(x->target)) ||
	    (group && !valid_group(x->target)))
		return -1;
	memcpy(x->idraw, id->p, id->len);
	x->idraw[id->len] = '\0';
	if (x->bcap < body->len) {
		char *nb = realloc(x->body, body->len);
		if (nb == NULL)
			return -1;
		x->body = nb;
		x->bcap = body->len;
	}
	memcpy(x->body, body->p, body->len);
	x->blen = body->len;
	return 0;
}

int
send_msg_flat(struct peer *p, const struct jflat *f)
{
	struct sendctx *x;
	char hex[ID_HEX_LEN + 1];

	if ((x = ctx_get(p)) == NULL)
		return 0;
	if (take_fields(x, f) == -1) {
		ctx_free(x);
		return 0;
	}
	route.n.sends++;
	id_format(id_next(&route.ids), hex);
	line.len = 0;
	if (L("{\"op\":\"msg.append\",\"from\":\"") || L(x->user) ||
	    L("\",\"device\":\"") || L(x->device) || L("\",\"cid\":\"") ||
	    L(x->cid) || L(x->group ? "\",\"group\":\"" : "\",\"to\":\"") ||
	    L(x->target) || L("\",\"body\":") || LN(x->body, x->blen) ||
	    (route.nshards <= 1 && (L(",\"mid\":\"") || L(hex) || L("\""))) ||
	    L("}") ||
	    /* No timeout: resent until chat-store answers (the dedupe
	     * record makes a resend of a write that happened harmless). */
	    ipc_call_raw(route.store, line.p, line.len, 0, on_appended_raw, x))
		ctx_free(x);	/* out of memory: chatd resends */
	return 1;
}

#undef L
#undef LN
