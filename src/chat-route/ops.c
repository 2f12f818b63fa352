/*
 * ops: what arrives on route.sock.  A line with "op" is a request and gets
 * one reply; a line with "ev" is an event from a chatd and gets none.  Both
 * are tables, dispatched in one place; anything unknown is answered (a
 * request) or logged (an event) here.
 *
 * A route shard (route_shards > 1) holds the messages it is given
 * (msg.send, route.fanout) for its first ROUTE_SETTLE seconds: the chatds
 * reconnect within their backoff (2 s at most) and announce their devices
 * first, so a message that another shard resends to a shard just
 * restarted or taken over reaches every device of the user, not only the
 * first chatd's (a device the shard did not know would miss it live, and
 * its inbox re-read starts after the newest id it got, which may be newer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "jflat.h"
#include "json.h"
#include "log.h"
#include "route.h"
#include "standby.h"

typedef void req_fn(struct peer *, jv req, jv id);
typedef void ev_fn(struct peer *, jv ev);

static req_fn op_ping, op_status, op_chatd_list, op_msg_send,
    op_presence_query, op_device_kick;

#define ROUTE_OPS(X) \
	X("ping",		op_ping) \
	X("status",		op_status) \
	X("chatd.list",		op_chatd_list) \
	X("msg.send",		op_msg_send) \
	X("presence.query",	op_presence_query) \
	X("device.kick",	op_device_kick)
	/* route.fanout (shards.c) takes the line's bytes: see on_line */

static void ev_hello(struct peer *p, jv ev) { peer_hello(p, ev); jv_free(ev); }
static void ev_load(struct peer *p, jv ev) { peer_load(p, ev); jv_free(ev); }
static void ev_online(struct peer *p, jv ev) { peer_online(p, ev); jv_free(ev); }
static void ev_offline(struct peer *p, jv ev) { peer_offline(p, ev); jv_free(ev); }

#define ROUTE_EVENTS(X) \
	X("hello",	ev_hello) \
	X("load",	ev_load) \
	X("online",	ev_online) \
	X("offline",	ev_offline) \
	X("typing",	relay_typing) \
	X("lease",	standby_lease_event)

static const struct { const char *name; req_fn *fn; } ops[] = {
#define X(n, f) { n, f },
	ROUTE_OPS(X)
#undef X
};

static const struct { const char *name; ev_fn *fn; } events[] = {
#define X(n, f) { n, f },
	ROUTE_EVENTS(X)
#undef X
};

static void
reply(struct peer *p, jv r)
{
	if (p->conn != NULL)
		ipc_send_jv(p->conn, r);
	else
		jv_free(r);
}

static void
op_ping(struct peer *p, jv req, jv id)
{
	jv_free(req);
	reply(p, json_ok(id));
}

#define NUM(r, k) r = jv_object_set(r, jv_string(#k), \
	jv_number((double)route.n.k))

static void
op_status(struct peer *p, jv req, jv id)
{
	unsigned long chatds = 0;
	jv r = json_ok(id);

	jv_free(req);
	for (struct peer *q = route.peers; q != NULL; q = q->next)
		chatds += q->hello;
	r = jv_object_set(r, jv_string("chatds"), jv_number((double)chatds));
	r = jv_object_set(r, jv_string("users_online"),
	    jv_number((double)route.users.n));
	r = jv_object_set(r, jv_string("devices_online"),
	    jv_number((double)route.ndevices));
	r = jv_object_set(r, jv_string("store_connected"),
	    jv_bool(ipc_client_connected(route.store)));
	r = jv_object_set(r, jv_string("store_pending"),
	    jv_number((double)ipc_client_pending(route.store)));
	NUM(r, sends); NUM(r, acks); NUM(r, dups); NUM(r, send_errors);
	NUM(r, deliveries); NUM(r, deliver_lines); NUM(r, typing);
	NUM(r, presence_queries); NUM(r, kicks); NUM(r, logouts);
	reply(p, standby_status(feed_status(shards_status(jslog_status(
	    push_status(r))))));
}

static void
op_chatd_list(struct peer *p, jv req, jv id)
{
	jv list = jv_array();

	jv_free(req);
	for (struct peer *q = route.peers; q != NULL; q = q->next) {
		if (!q->hello)
			continue;
		list = jv_array_append(list, jv_object_set(jv_object_set(
		    jv_object_set(jv_object(), jv_string("name"),
		    jv_string(q->name)), jv_string("url"), jv_string(q->url)),
		    jv_string("conns"), jv_number((double)q->conns)));
	}
	reply(p, jv_object_set(json_ok(id), jv_string("chatds"), list));
}

static void
op_msg_send(struct peer *p, jv req, jv id)
{
	send_msg(p, req, id);
}

static void
op_presence_query(struct peer *p, jv req, jv id)
{
	relay_presence(p, req, id);
}

static void
op_device_kick(struct peer *p, jv req, jv id)
{
	relay_kick(p, req, id);
}

#define ROUTE_SETTLE	3.0	/* seconds */

/* A line held while the shard settles. */
struct held {
	struct peer	*p;
	char		*line;
	size_t		 len;
	struct held	*next;
};

static struct held *held, **held_tail = &held;
static ev_timer settle_timer;
static int settling;
static unsigned long nheld;

static void dispatch(struct peer *p, const char *line, size_t len);

static void
on_settled(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct held *h;

	(void)loop; (void)w; (void)revents;
	settling = 0;
	if (nheld > 0)
		log_info("settled: %lu messages held since start now served",
		    nheld);
	while ((h = held) != NULL) {
		held = h->next;
		if (h->p->conn != NULL)
			dispatch(h->p, h->line, h->len);
		peer_unref(h->p);
		free(h->line);
		free(h);
	}
	held_tail = &held;
}

void
ops_settle_start(struct ev_loop *loop)
{
	if (route.nshards <= 1)
		return;
	settling = 1;
	ev_timer_stop(loop, &settle_timer);	/* again on a lease taken */
	ev_timer_init(&settle_timer, on_settled, ROUTE_SETTLE, 0.);
	ev_timer_start(loop, &settle_timer);
}

void
ops_free(struct ev_loop *loop)
{
	struct held *h;

	ev_timer_stop(loop, &settle_timer);
	while ((h = held) != NULL) {
		held = h->next;
		peer_unref(h->p);
		free(h->line);
		free(h);
	}
	held_tail = &held;
}

/* While settling: 1 if the line is a message, now held. */
static int
hold(struct peer *p, const char *line, size_t len)
{
	struct held *h;

	if (!settling || (memmem(line, len, "\"op\":\"msg.send\"", 15) ==
	    NULL && memmem(line, len, "\"op\":\"route.fanout\"", 19) == NULL))
		return 0;
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->line = malloc(len)) == NULL) {
		free(h);
		return 0;	/* served at once: at worst a device misses
				 * it live */
	}
	memcpy(h->line, line, len);
	h->len = len;
	h->p = p;
	peer_ref(p);
	*held_tail = h;
	held_tail = &h->next;
	nheld++;
	return 1;
}

static void
on_line(struct ipc_conn *c, const char *line, size_t len)
{
	struct peer *p = ipc_conn_data(c);

	if (p != NULL && !hold(p, line, len))
		dispatch(p, line, len);
}

/* The message path's requests, read without jv: msg.send (send.c) and
 * route.fanout (shards.c).  1 if one of them took the line. */
static int
fast_path(struct peer *p, const char *line, size_t len)
{
	struct jflat f;
	const char *op;
	size_t oplen;

	if (jflat_parse(&f, line, len) == -1 ||
	    (op = jflat_str(&f, "op", &oplen)) == NULL)
		return 0;
	if (oplen == 8 && memcmp(op, "msg.send", 8) == 0)
		return send_msg_flat(p, &f);
	if (oplen == 12 && memcmp(op, "route.fanout", 12) == 0)
		return shards_fanout_flat(p, &f);
	return 0;
}

static void
dispatch(struct peer *p, const char *line, size_t len)
{
	struct ipc_conn *c = p->conn;
	char err[200];
	const char *name;
	jv v;

	if (fast_path(p, line, len))
		return;
	v = json_parse_object(line, len, err, sizeof(err));
	if (!jv_is_valid(v)) {
		log_warnx("%s: %s", ipc_conn_name(c), err);
		reply(p, json_error(jv_null(), "bad_request", err));
		return;
	}
	if ((name = json_str(v, "op", NULL)) != NULL) {
		jv id = jv_object_get(jv_copy(v), jv_string("id"));
		if (strcmp(name, "route.fanout") == 0) {
			/* the frame is passed on as the bytes it came as */
			shards_op_fanout(p, v, id, line, len);
			return;
		}
		for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
			if (strcmp(name, ops[i].name) == 0) {
				ops[i].fn(p, v, id);
				return;
			}
		char msg[100];
		snprintf(msg, sizeof(msg), "unknown op '%.40s'", name);
		reply(p, json_error(id, "unknown_op", msg));
	} else if ((name = json_str(v, "ev", NULL)) != NULL) {
		for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
			if (strcmp(name, events[i].name) == 0) {
				events[i].fn(p, v);
				return;
			}
		log_warnx("%s: unknown event '%.40s'", ipc_conn_name(c), name);
	} else
		reply(p, json_error(jv_object_get(jv_copy(v), jv_string("id")),
		    "bad_request", "a line needs 'op' (a request) or 'ev' (an "
		    "event)"));
	jv_free(v);
}

static void
on_open(struct ipc_conn *c)
{
	if (peer_new(c) == NULL)
		ipc_close(c);
}

static void
on_close(struct ipc_conn *c)
{
	struct peer *p = ipc_conn_data(c);

	if (p != NULL)
		peer_gone(p);
}

const struct ipc_handlers route_handlers = { on_line, on_open, on_close };
