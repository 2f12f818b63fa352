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
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "json.h"
#include "log.h"
#include "route.h"
#include "util.h"

struct sendctx {
	struct peer	*p;
	jv		 reqid;
	jv		 req;
	struct sendctx	*next;		/* free list */
};

static struct sendctx *free_ctx;

int
buf_add(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*cap - *len < n) {
		size_t c = *cap ? *cap : 1024;
		while (c - *len < n)
			c *= 2;
		char *nb = realloc(*buf, c);
		if (nb == NULL)
			return -1;
		*buf = nb;
		*cap = c;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	return 0;
}

int
buf_add_json_str(char **buf, size_t *len, size_t *cap, const char *s,
    size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;

	if (buf_add(buf, len, cap, "\"", 1) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		char esc[6];
		size_t elen = 2;
		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		if (buf_add(buf, len, cap, s + run, i - run) == -1)
			return -1;
		run = i + 1;
		esc[0] = '\\';
		switch (ch) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[ch >> 4];
			esc[5] = hex[ch & 15];
			elen = 6;
		}
		if (buf_add(buf, len, cap, esc, elen) == -1)
			return -1;
	}
	if (buf_add(buf, len, cap, s + run, n - run) == -1)
		return -1;
	return buf_add(buf, len, cap, "\"", 1);
}

#define ADD(s) buf_add(&p->buf, &p->len, &p->cap, (s), strlen(s))

size_t
fanout(jv users, const char *skip_user, const char *skip_device,
    const char *mid, const char *frame, size_t flen)
{
	struct peer *touched = NULL, *p;
	size_t count = 0;

	jv_array_foreach(users, i, u) {
		struct ruser *r;
		const char *name = jv_get_kind(u) == JV_KIND_STRING ?
		    jv_string_value(u) : NULL;
		if (name == NULL || (r = peer_user(name)) == NULL) {
			jv_free(u);
			continue;
		}
		int self = skip_user != NULL && strcmp(name, skip_user) == 0;
		for (size_t d = 0; d < r->n; d++) {
			if (self && (skip_device == NULL ||
			    strcmp(r->devs[d].device, skip_device) == 0))
				continue;
			if ((p = r->devs[d].peer)->conn == NULL)
				continue;
			if (!p->in_fanout) {
				p->in_fanout = 1;
				p->touched = touched;
				touched = p;
				p->len = 0;
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
			count++;
		}
		jv_free(u);
	}
	while ((p = touched) != NULL) {
		touched = p->touched;
		p->in_fanout = 0;
		if (ADD("],\"frame\":") == 0 &&
		    buf_add(&p->buf, &p->len, &p->cap, frame, flen) == 0 &&
		    ADD("}") == 0) {
			peer_send(p, p->buf, p->len);
			route.n.deliver_lines++;
		}
		if (p->cap > 1024 * 1024) {	/* one huge fan-out: let go */
			free(p->buf);
			p->buf = NULL;
			p->len = p->cap = 0;
		}
	}
	route.n.deliveries += count;
	return count;
}

#undef ADD

static void
ctx_free(struct sendctx *x)
{
	jv_free(x->req);
	jv_free(x->reqid);
	peer_unref(x->p);
	x->next = free_ctx;
	free_ctx = x;
}

/* The client frame of an appended message, in a buffer reused. */
static int
build_frame(jv req, const char *mid, int64_t ts, char **buf, size_t *len,
    size_t *cap)
{
	const char *to = json_str(req, "to", NULL), *body, *cid;
	size_t blen, clen;
	char num[32];

	body = json_str(req, "body", &blen);
	cid = json_str(req, "cid", &clen);
	*len = 0;
#define B(s) buf_add(buf, len, cap, (s), strlen(s))
	if (B("{\"type\":\"msg\",\"id\":\"") || B(mid) || B("\",\"from\":\"") ||
	    B(json_str(req, "user", NULL)) || B(to ? "\",\"to\":\"" :
	    "\",\"group\":\"") || B(to ? to : json_str(req, "group", NULL)) ||
	    B("\",\"body\":") || buf_add_json_str(buf, len, cap, body, blen))
		return -1;
	snprintf(num, sizeof(num), ",\"ts\":%" PRId64 ",\"cid\":", ts);
	if (B(num) || buf_add_json_str(buf, len, cap, cid, clen) || B("}"))
		return -1;
#undef B
	return 0;
}

static void
on_appended(void *arg, jv reply)
{
	static char *frame;
	static size_t flen, fcap;
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
	if (x->p->conn != NULL) {
		jv ack = jv_object_set(jv_object_set(jv_object_set(
		    jv_object_set(jv_object(), jv_string("type"),
		    jv_string("ack")), jv_string("cid"), jv_string(cid)),
		    jv_string("id"), jv_string(mid)), jv_string("ts"),
		    jv_number((double)ts));
		ipc_send_jv(x->p->conn, jv_object_set(json_ok(jv_copy(x->reqid)),
		    jv_string("ack"), ack));
	}
	if (build_frame(x->req, mid, ts, &frame, &flen, &fcap) == -1) {
		log_warnx("out of memory building a delivery");
		goto out;
	}
	jv rcpt = jv_object_get(jv_copy(reply), jv_string("recipients"));
	if (jv_get_kind(rcpt) == JV_KIND_ARRAY) {
		fanout(rcpt, json_str(x->req, "user", NULL),
		    json_str(x->req, "device", NULL), mid, frame, flen);
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
	app = jv_object_set(jv_object_set(app, jv_string("body"),
	    jv_object_get(jv_copy(req), jv_string("body"))), jv_string("mid"),
	    jv_string(hex));

	struct sendctx *x = free_ctx;
	if (x != NULL)
		free_ctx = x->next;
	else if ((x = malloc(sizeof(*x))) == NULL) {
		jv_free(app);
		jv_free(req);
		jv_free(id);
		return;		/* chatd resends after a reconnect */
	}
	x->p = p;
	peer_ref(p);
	x->reqid = id;
	x->req = req;
	/* No timeout: resent until chat-store answers (the dedupe record
	 * makes a resend of a write that happened harmless). */
	if (ipc_call(route.store, app, 0, on_appended, x) == -1)
		ctx_free(x);
}
