/*
 * frames: what a client may say, one handler per frame type, one table.
 *
 * Every frame is parsed once, here.  A frame that is not JSON, names an
 * unknown type, or lacks or mistypes a field gets an error frame and the
 * connection goes on; only a first frame that is not a good auth closes it
 * (4001).  A send is checked and passed to chat-route with the user and
 * device this connection proved, never anything the client claims; the
 * ack or error comes back in the route's reply.
 *
 * A well-formed send (most frames) takes a path with no jv: the frame is
 * scanned in place (lib/jflat.h), the msg.send line is written with the
 * body as the client's JSON text, and the ack is cut from the route's
 * reply as bytes (send_fast, on_sent_raw).  Anything that path would
 * refuse goes the jv way below, which says what is wrong.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "chatd.h"
#include "id.h"
#include "ipc.h"
#include "jflat.h"
#include "limits.h"
#include "json.h"
#include "log.h"
#include "util.h"

#define PRESENCE_MAX_USERS	100
#define ROUTE_QUERY_TIMEOUT	10000	/* ms: presence answers */
/* Sends to chat-route not yet answered past which a new send is refused
 * with `unavailable` (the client retries it later, as after any error):
 * chat-route is down or far behind, and holding more only grows memory
 * (about 300 bytes a send) and the wait of every send behind them. */
#define ROUTE_PENDING_MAX	100000

typedef void frame_fn(struct conn *, jv);

#define CLIENT_FRAMES(X) \
	X(auth) X(send) X(recv) X(hb) X(typing) X(presence) X(bye)

#define X(name) static frame_fn frame_##name;
CLIENT_FRAMES(X)
#undef X

static const struct {
	const char	*type;
	frame_fn	*fn;
} frames[] = {
#define X(name) { #name, frame_##name },
	CLIENT_FRAMES(X)
#undef X
};

static int send_fast(struct conn *c, const char *buf, size_t len);

void
frame_handle(struct conn *c, const char *buf, size_t len)
{
	char err[200];
	const char *type;

	if (c->state != CONN_NEW && c->state != CONN_AUTHING &&
	    send_fast(c, buf, len))
		return;
	jv f = json_parse_object(buf, len, err, sizeof(err));
	if (!jv_is_valid(f)) {
		chatd.n.bad_frames++;
		conn_error(c, NULL, "bad_request", "%s", err);
		if (c->state == CONN_NEW)
			conn_close(c, CLOSE_NO_AUTH, "auth expected", 1);
		return;
	}
	if ((type = json_str(f, "type", NULL)) == NULL) {
		chatd.n.bad_frames++;
		conn_error(c, NULL, "bad_request", "field 'type' must be a "
		    "string");
		if (c->state == CONN_NEW)
			conn_close(c, CLOSE_NO_AUTH, "auth expected", 1);
		jv_free(f);
		return;
	}
	presence_heard(c);	/* any frame is activity */
	for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		if (strcmp(type, frames[i].type) != 0)
			continue;
		if (c->state == CONN_NEW && frames[i].fn != frame_auth) {
			conn_error(c, NULL, "unauthorized", "the first frame "
			    "must be auth");
			conn_close(c, CLOSE_NO_AUTH, "auth expected", 1);
		} else if (c->state == CONN_AUTHING) {
			/* rx flow control holds these; should one slip
			 * through, it must not act before the token is. */
			conn_error(c, NULL, "unauthorized", "wait for ready");
		} else
			frames[i].fn(c, jv_copy(f));
		jv_free(f);
		return;
	}
	chatd.n.bad_frames++;
	conn_error(c, NULL, "bad_request", "unknown frame type '%.40s'", type);
	if (c->state == CONN_NEW)
		conn_close(c, CLOSE_NO_AUTH, "auth expected", 1);
	jv_free(f);
}

void
frame_auth_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;
	(void)loop; (void)revents;

	if (c->state != CONN_NEW)
		return;
	chatd.n.auth_timeout++;
	log_info("%s: no auth in %.0f s, closing", c->peer, chatd.auth_timeout);
	conn_close(c, CLOSE_NO_AUTH, "auth timeout", 0);
}

/* auth */

static void
auth_refused(struct conn *c, const char *code, int close, const char *why)
{
	chatd.n.auth_failed++;
	log_info("%s: auth refused: %s", c->peer, why);
	conn_error(c, NULL, code, "%s", why);
	conn_close(c, close, code, 1);
}

static void
on_device(void *arg, jv reply)
{
	struct conn *c = arg;
	int64_t gen;
	uint64_t cursor = 0;
	const char *s;
	size_t len;

	if (c->wsi == NULL)
		goto out;
	lws_rx_flow_control(c->wsi, 1);
	if (!json_bool(reply, "ok", 0)) {
		jv e = jv_object_get(jv_copy(reply), jv_string("error"));
		const char *code = json_str(e, "code", NULL);
		if (code != NULL && strcmp(code, "not_found") == 0)
			auth_refused(c, "unauthorized", CLOSE_UNAUTHORIZED,
			    "no such device: log in again");
		else
			auth_refused(c, "unavailable", CLOSE_TRY_AGAIN,
			    "chat-store is unavailable: try again later");
		jv_free(e);
		goto out;
	}
	if (!json_int(reply, "gen", &gen) || (uint64_t)gen != c->tok_gen) {
		auth_refused(c, "unauthorized", CLOSE_UNAUTHORIZED,
		    "token revoked: log in again");
		goto out;
	}
	if ((s = json_str(reply, "cursor", &len)) != NULL)
		id_parse(s, len, &cursor);
	if (c->has_since)
		cursor = c->sync_after;
	ev_timer_stop(chatd.loop, &c->auth_timer);
	c->since_ms = now_ms();
	chatd.n.auth_ok++;
	conn_register(c);
	log_info("'%s' authenticated from %s", c->key, c->peer);

	char hex[ID_HEX_LEN + 1];
	id_format(cursor, hex);
	conn_push_jv(c, jv_object_set(jv_object_set(jv_object_set(
	    jv_object_set(jv_object(), jv_string("type"), jv_string("ready")),
	    jv_string("user"), jv_string(c->user)), jv_string("device"),
	    jv_string(c->device)), jv_string("cursor"), jv_string(hex)));
	sync_start_registered(c, cursor);
	presence_friends(c);
out:
	jv_free(reply);
	conn_unref(c);
}

static void
frame_auth(struct conn *c, jv f)
{
	struct token_claims cl;
	const char *tok, *since;
	char err[200];

	if (c->state != CONN_NEW) {
		conn_error(c, NULL, "bad_request", "already authenticated");
		goto out;
	}
	if (json_need_str(f, "token", TOKEN_MAX - 1, &tok, err,
	    sizeof(err)) == -1 || json_opt_str(f, "since", ID_HEX_LEN,
	    &since, err, sizeof(err)) == -1) {
		auth_refused(c, "bad_request", CLOSE_NO_AUTH, err);
		goto out;
	}
	if (since != NULL && id_parse(since, strlen(since), &c->sync_after) == -1) {
		auth_refused(c, "bad_request", CLOSE_NO_AUTH,
		    "field 'since' must be a message id (16 hex digits)");
		goto out;
	}
	c->has_since = since != NULL;
	if (token_check(chatd.secret, tok, (int64_t)time(NULL), &cl, err,
	    sizeof(err)) == -1 || !valid_user(cl.user) ||
	    !valid_device(cl.device)) {
		auth_refused(c, "unauthorized", CLOSE_UNAUTHORIZED, err);
		goto out;
	}
	snprintf(c->user, sizeof(c->user), "%s", cl.user);
	snprintf(c->device, sizeof(c->device), "%s", cl.device);
	c->keylen = (size_t)snprintf(c->key, sizeof(c->key), "%s/%s", c->user,
	    c->device);
	c->tok_gen = cl.gen;
	/* max_conns_per_user, before chat-store is asked anything; a device
	 * connecting again replaces its older connection, so it may. */
	if (limits_user_take(c->wsi, c->user, conn_lookup(c->key,
	    c->keylen) != NULL) == -1) {
		c->keylen = 0;
		conn_error(c, NULL, "too_many_connections", "'%s' has too many "
		    "connections open: close one first", c->user);
		conn_close(c, CLOSE_TOO_MANY, "too many connections", 1);
		goto out;
	}
	c->state = CONN_AUTHING;
	/* Hold further frames until we know: a client may pipeline sends
	 * right behind its auth. */
	lws_rx_flow_control(c->wsi, 0);
	conn_ref(c);
	jv req = jv_object_set(jv_object_set(jv_object_set(jv_object(),
	    jv_string("op"), jv_string("device.get")), jv_string("user"),
	    jv_string(c->user)), jv_string("device"), jv_string(c->device));
	if (ipc_call(chatd.store, req, CHATD_STORE_TIMEOUT, on_device, c) == -1)
		conn_unref(c);
out:
	jv_free(f);
}

/* send */

/* Error codes of chat-route and chat-store, as a client reads them. */
static const char *
client_code(const char *code)
{
	if (code == NULL || strcmp(code, "store_unavailable") == 0 ||
	    strcmp(code, "unavailable") == 0)
		return "unavailable";
	return code;
}

/* chat-route's reply to a send (borrowed), to the client. */
static void
sent_reply(struct conn *c, jv reply)
{
	if (json_bool(reply, "ok", 0)) {
		chatd.n.acks++;
		conn_push_jv(c, jv_object_get(jv_copy(reply), jv_string("ack")));
	} else {
		jv e = jv_object_get(jv_copy(reply), jv_string("error"));
		chatd.n.send_errors++;
		conn_error(c, json_str(reply, "cid", NULL),
		    client_code(json_str(e, "code", NULL)), "%s",
		    json_str(e, "message", NULL) ? json_str(e, "message", NULL) :
		    "send failed");
		jv_free(e);
	}
}

static void
on_sent(void *arg, jv reply)
{
	struct conn *c = arg;

	if (c->wsi != NULL)
		sent_reply(c, reply);
	jv_free(reply);
	conn_unref(c);
}

/* on_sent for a reply as bytes: an ack is written as the route made it. */
static void
on_sent_raw(void *arg, const char *line, size_t len)
{
	struct conn *c = arg;
	struct jflat f;
	const struct jflat_val *ack;
	char err[200];

	if (c->wsi == NULL)
		goto out;
	if (jflat_parse(&f, line, len) == 0 && jflat_bool(&f, "ok", 0) &&
	    (ack = jflat_get(&f, "ack")) != NULL && ack->type == JF_OBJECT) {
		struct wsframe *w = wsframe_new(ack->p, ack->len, 0);
		chatd.n.acks++;
		conn_push(c, w);
		wsframe_unref(w);
	} else {
		jv reply = json_parse_object(line, len, err, sizeof(err));
		if (!jv_is_valid(reply)) {
			jv_free(reply);
			reply = jv_object(); /* not ok: "send failed" */
		}
		sent_reply(c, reply);
		jv_free(reply);
	}
out:
	conn_unref(c);
}

/* The "to" or "group" of f, checked, into req (consumed, returned). */
static jv
target(jv f, jv req, const char *cid, struct conn *c, int *ok)
{
	const char *to = json_str(f, "to", NULL), *group = json_str(f, "group",
	    NULL);

	*ok = 0;
	if ((to == NULL) == (group == NULL))
		conn_error(c, cid, "bad_request", "give one of 'to' (a user) "
		    "or 'group' (a group id)");
	else if (to != NULL && !valid_user(to))
		conn_error(c, cid, "bad_request", "field 'to' is not a user "
		    "name");
	else if (group != NULL && !valid_group(group))
		conn_error(c, cid, "bad_request", "field 'group' is not a "
		    "group id");
	else {
		*ok = 1;
		return jv_object_set(req, jv_string(to ? "to" : "group"),
		    jv_string(to ? to : group));
	}
	return req;
}

/* The rate limit and chat-route's backlog: 1 if a send from c may go on,
 * else the client has its error. */
static int
send_admitted(struct conn *c, const char *cid)
{
	if (!conn_rate_ok(c)) {
		chatd.n.rate_limited++;
		if (!c->limited)
			log_warnx("'%s' rate limited (%.0f/s, burst %.0f)",
			    c->key, chatd.rate_limit, chatd.rate_burst);
		c->limited = 1;
		conn_error(c, cid, "rate_limited", "more than %.0f messages a "
		    "second: slow down", chatd.rate_limit);
		return 0;
	}
	c->limited = 0;
	if (ipc_client_pending(upstream_route(c->user)) >= ROUTE_PENDING_MAX) {
		chatd.n.send_errors++;
		conn_error(c, cid, "unavailable", "chat-route is behind: try "
		    "again later");
		return 0;
	}
	return 1;
}

/*
 * A send frame with every field good, passed on without jv: 1 if taken
 * (sent, or refused by the rate limit or chat-route's backlog), 0 if the
 * jv path must look at it.
 */
static int
send_fast(struct conn *c, const char *buf, size_t len)
{
	static char *line;
	static size_t cap;
	struct jflat f;
	const struct jflat_val *body;
	const char *type;
	size_t tlen;
	char cid[65], target[40];

	if (jflat_parse(&f, buf, len) == -1 ||
	    (type = jflat_str(&f, "type", &tlen)) == NULL || tlen != 4 ||
	    memcmp(type, "send", 4) != 0)
		return 0;
	int to = jflat_get(&f, "to") != NULL;
	int group = jflat_get(&f, "group") != NULL;
	if ((body = jflat_get(&f, "body")) == NULL || body->type != JF_STRING ||
	    body->uesc || jflat_strlen(body) > chatd.max_message ||
	    to == group || jflat_strcpy(&f, "cid", cid, sizeof(cid)) == -1 ||
	    !valid_cid(cid) || jflat_strcpy(&f, to ? "to" : "group", target,
	    sizeof(target)) == -1 || !(to ? valid_user(target) :
	    valid_group(target)))
		return 0;
	presence_heard(c);
	if (!send_admitted(c, cid))
		return 1;
	/* user, device, target and cid need no escaping: checked above */
	size_t need = 128 + strlen(c->user) + strlen(c->device) +
	    strlen(target) + strlen(cid) + body->len;
	if (need > cap) {
		char *nb = realloc(line, need);
		if (nb == NULL)
			return 0;
		line = nb;
		cap = need;
	}
	int n = snprintf(line, cap, "{\"op\":\"msg.send\",\"user\":\"%s\","
	    "\"device\":\"%s\",\"%s\":\"%s\",\"cid\":\"%s\",\"body\":",
	    c->user, c->device, to ? "to" : "group", target, cid);
	memcpy(line + n, body->p, body->len);
	line[n + body->len] = '}';
	chatd.n.sends++;
	conn_ref(c);
	/* No timeout, as in frame_send. */
	if (ipc_call_raw(upstream_route(c->user), line, (size_t)n + body->len + 1, 0,
	    on_sent_raw, c) == -1)
		conn_unref(c);
	return 1;
}

static void
frame_send(struct conn *c, jv f)
{
	const char *cid = json_str(f, "cid", NULL), *body;
	size_t bodylen;
	int ok;

	if (cid == NULL || !valid_cid(cid)) {
		conn_error(c, NULL, "bad_request", "field 'cid' must be 1 to 64 "
		    "printable ASCII characters");
		goto out;
	}
	if ((body = json_str(f, "body", &bodylen)) == NULL) {
		conn_error(c, cid, "bad_request", "field 'body' must be a "
		    "string");
		goto out;
	}
	if (bodylen > chatd.max_message) {
		conn_error(c, cid, "too_large", "body over %zu bytes",
		    chatd.max_message);
		goto out;
	}
	jv req = jv_object_set(jv_object_set(jv_object_set(jv_object(),
	    jv_string("op"), jv_string("msg.send")), jv_string("user"),
	    jv_string(c->user)), jv_string("device"), jv_string(c->device));
	req = target(f, req, cid, c, &ok);
	if (!ok) {
		jv_free(req);
		goto out;
	}
	if (!send_admitted(c, cid)) {
		jv_free(req);
		goto out;
	}
	req = jv_object_set(jv_object_set(req, jv_string("cid"),
	    jv_object_get(jv_copy(f), jv_string("cid"))), jv_string("body"),
	    jv_object_get(jv_copy(f), jv_string("body")));
	chatd.n.sends++;
	conn_ref(c);
	/* No timeout: the request is resent until chat-route answers, and
	 * the store's (user, device, cid) dedupe makes that safe. */
	if (ipc_call(upstream_route(c->user), req, 0, on_sent, c) == -1)
		conn_unref(c);
out:
	jv_free(f);
}

/* recv */

static void send_cursor(struct conn *c);

static void
on_cursor(void *arg, jv reply)
{
	struct conn *c = arg;

	c->cur_busy = 0;
	if (!json_bool(reply, "ok", 0))
		log_warnx("'%s': cursor.set failed", c->key);
	if (c->wsi != NULL && c->cur_want > c->cur_sent)
		send_cursor(c);
	jv_free(reply);
	conn_unref(c);
}

static void
send_cursor(struct conn *c)
{
	char hex[ID_HEX_LEN + 1];

	id_format(c->cur_want, hex);
	c->cur_sent = c->cur_want;
	c->cur_busy = 1;
	conn_ref(c);
	jv req = jv_object_set(jv_object_set(jv_object_set(jv_object_set(
	    jv_object(), jv_string("op"), jv_string("cursor.set")),
	    jv_string("user"), jv_string(c->user)), jv_string("device"),
	    jv_string(c->device)), jv_string("id"), jv_string(hex));
	/* The brief names the field "id", chat-store reads "cursor": both. */
	req = jv_object_set(req, jv_string("cursor"), jv_string(hex));
	if (ipc_call(chatd.store, req, 0, on_cursor, c) == -1) {
		c->cur_busy = 0;
		conn_unref(c);
	}
}

static void
frame_recv(struct conn *c, jv f)
{
	const char *s;
	size_t len;
	uint64_t id;

	if ((s = json_str(f, "id", &len)) == NULL || id_parse(s, len, &id) == -1)
		conn_error(c, NULL, "bad_request", "field 'id' must be a "
		    "message id (16 hex digits)");
	else if (id > c->cur_want) {
		/* One cursor.set in flight; a newer recv waits and wins. */
		c->cur_want = id;
		if (!c->cur_busy)
			send_cursor(c);
	}
	jv_free(f);
}

/* hb: any frame is activity; presence tracking is presenced's (later). */
static void
frame_hb(struct conn *c, jv f)
{
	(void)c;
	jv_free(f);
}

static void
frame_typing(struct conn *c, jv f)
{
	int ok;
	jv ev = jv_object_set(jv_object_set(jv_object_set(jv_object(),
	    jv_string("ev"), jv_string("typing")), jv_string("user"),
	    jv_string(c->user)), jv_string("device"), jv_string(c->device));

	ev = target(f, ev, NULL, c, &ok);
	if (ok && conn_rate_ok(c)) {
		size_t len;
		char *line = json_dump(ev, &len);
		if (line != NULL)
			ipc_client_send_line(upstream_route(c->user), line,
			    len);
		free(line);
	} else
		jv_free(ev);
	jv_free(f);
}

/* presence */

static void
on_presence(void *arg, jv reply)
{
	struct conn *c = arg;

	if (c->wsi == NULL)
		goto out;
	if (!json_bool(reply, "ok", 0)) {
		jv e = jv_object_get(jv_copy(reply), jv_string("error"));
		const char *msg = json_str(e, "message", NULL);
		conn_error(c, NULL, client_code(json_str(e, "code", NULL)), "%s",
		    msg ? msg : "presence query failed");
		jv_free(e);
		goto out;
	}
	jv denied = jv_object_get(jv_copy(reply), jv_string("denied"));
	if (jv_get_kind(denied) == JV_KIND_ARRAY &&
	    jv_array_length(jv_copy(denied)) > 0) {
		char names[200] = "";
		size_t n = 0;
		jv_array_foreach(denied, i, u) {
			if (jv_get_kind(u) == JV_KIND_STRING && n < sizeof(names))
				n += (size_t)snprintf(names + n, sizeof(names) - n,
				    "%s'%s'", i ? ", " : "", jv_string_value(u));
			jv_free(u);
		}
		conn_error(c, NULL, "unauthorized", "presence is only for "
		    "friends: not %s", names);
	}
	jv_free(denied);
	jv list = jv_object_get(jv_copy(reply), jv_string("presence"));
	if (jv_get_kind(list) == JV_KIND_ARRAY) {
		jv_array_foreach(list, i, p) {
			p = jv_object_set(p, jv_string("type"),
			    jv_string("presence"));
			conn_push_jv(c, p);
		}
	}
	jv_free(list);
out:
	jv_free(reply);
	conn_unref(c);
}

static void
frame_presence(struct conn *c, jv f)
{
	jv users = jv_object_get(jv_copy(f), jv_string("users"));
	const char *group = json_str(f, "group", NULL);
	jv req = jv_object_set(jv_object_set(jv_object(), jv_string("op"),
	    jv_string("presence.query")), jv_string("user"), jv_string(c->user));

	if (jv_get_kind(users) == JV_KIND_ARRAY && group == NULL) {
		int n = jv_array_length(jv_copy(users));
		int bad = n < 1 || n > PRESENCE_MAX_USERS;
		jv_array_foreach(users, i, u) {
			if (jv_get_kind(u) != JV_KIND_STRING ||
			    !valid_user(jv_string_value(u)))
				bad = 1;
			jv_free(u);
		}
		if (bad) {
			conn_error(c, NULL, "bad_request", "field 'users' must "
			    "list 1 to %d user names", PRESENCE_MAX_USERS);
			goto fail;
		}
		req = jv_object_set(req, jv_string("users"), users);
		users = jv_invalid();
	} else if (group != NULL && !jv_is_valid(users) && valid_group(group)) {
		req = jv_object_set(req, jv_string("group"), jv_string(group));
	} else {
		conn_error(c, NULL, "bad_request", "give one of 'users' (a list "
		    "of user names) or 'group' (a group id)");
		goto fail;
	}
	conn_ref(c);
	if (ipc_call(upstream_route(c->user), req, ROUTE_QUERY_TIMEOUT,
	    on_presence, c) == -1)
		conn_unref(c);
	jv_free(users);
	jv_free(f);
	return;
fail:
	jv_free(req);
	jv_free(users);
	jv_free(f);
}

static void
frame_bye(struct conn *c, jv f)
{
	log_info("'%s' said bye", c->key);
	/* Offline at once, not when lws gets round to the close. */
	if (c->keylen > 0 && conn_lookup(c->key, c->keylen) == c) {
		strmap_del(&chatd.devices, c->key, c->keylen);
		upstream_offline(c);
		c->keylen = 0;
	}
	presence_offline(c, "bye");
	conn_close(c, CLOSE_NORMAL, "bye", 0);
	jv_free(f);
}
