/*
 * push: hands chat-push(1) a job for each device of an offline recipient
 * that has a push registration, and cancels a user's waiting jobs when one
 * of its devices comes online.
 *
 *   on_appended (send.c), after the ack and the deliveries:
 *     for each recipient but the sender with no online device
 *       route --device.list {user}--> chat-store   (its own connection)
 *     and for a group, once: --group.get--> for the group's name
 *   once every lookup of the message is answered, for each device with a
 *   "push" record whose user is still offline:
 *       route --push.enqueue--> chat-push
 *   a user's first device online (peers.c):
 *       route --push.cancel {user}--> chat-push
 *
 * The lookups use a second connection to chat-store: the store answers a
 * connection's requests in order, so lookups on the message path's
 * connection would hold the acks of later appends behind them.  A recipient
 * with an online device costs a table lookup and nothing else.
 *
 * Requests to chat-push have no timeout: ipc_client resends them after
 * every reconnect until chat-push answers, and chat-push dedupes (user,
 * device, msg_id), so a resend never notifies twice.  While chat-push is
 * away they wait, up to ROUTE_PUSH_PENDING_MAX; past that, notifications
 * are skipped (logged once) before any lookup, so a stack run without
 * chat-push costs bounded memory and no store traffic.  Nothing here is
 * durable: a route that dies between an ack and the enqueue loses that one
 * notification, never the message.  A dup is not enqueued again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "ipc.h"
#include "json.h"
#include "log.h"
#include "route.h"

/* Requests to chat-push and lookups in progress, at most. */
#define ROUTE_PUSH_PENDING_MAX	10000

/* One device.list lookup. */
struct lookup {
	struct pushmsg	*m;
	char		 user[33];
};

/* One message's push work while its lookups are out; listed, so that
 * what is still out at exit is freed (ipc_client_free drops callbacks). */
struct pushmsg {
	struct pushmsg	*prev, *next;
	unsigned	 pending;	/* store replies still due */
	jv		 base;		/* the push.enqueue fields but user/device */
	jv		 jobs;		/* [{user, device, push}] found so far */
	size_t		 nl;
	struct lookup	 l[];		/* one per offline recipient */
};

static struct ipc_client *push_cl, *store_cl;
static struct pushmsg *msgs;
static size_t lookups;			/* device.list/group.get unanswered */
static int warned_down, warned_full;
static struct {
	unsigned long lookups, enqueued, dups, refused, skipped, cancels,
		      cancelled;
} n;

static int
online(const char *user)
{
	struct ruser *r = peer_user(user);

	return r != NULL && r->n > 0;
}

/* Room for one more request to chat-push?  Logs once per outage. */
static int
room(void)
{
	size_t out = ipc_client_pending(push_cl) + lookups;

	if (out >= ROUTE_PUSH_PENDING_MAX) {
		if (!warned_full)
			log_warnx("%zu requests wait for chat-push: skipping "
			    "notifications until it answers", out);
		warned_full = 1;
		return 0;
	}
	if (warned_full && out < ROUTE_PUSH_PENDING_MAX / 2) {
		log_info("%zu requests wait for chat-push: notifications "
		    "resume", out);
		warned_full = 0;
	}
	if (!ipc_client_connected(push_cl) && !warned_down) {
		log_warnx("chat-push is not connected: notifications wait "
		    "for it (at most %d)", ROUTE_PUSH_PENDING_MAX);
		warned_down = 1;
	}
	return 1;
}

static void
on_push_connect(void *arg)
{
	(void)arg;
	log_info("connected to chat-push (%zu requests to send)",
	    ipc_client_pending(push_cl));
	warned_down = warned_full = 0;
}

static void
on_enqueued(void *arg, jv reply)
{
	(void)arg;
	if (json_bool(reply, "ok", 0)) {
		if (json_bool(reply, "dup", 0))
			n.dups++;
		else
			n.enqueued++;
	} else {
		jv e = jv_object_get(jv_copy(reply), jv_string("error"));
		const char *code = json_str(e, "code", NULL);
		const char *msg = json_str(e, "message", NULL);
		n.refused++;
		log_warnx("chat-push refused a job: %s: %s",
		    code ? code : "?", msg ? msg : "?");
		jv_free(e);
	}
	jv_free(reply);
}

static void
on_cancelled(void *arg, jv reply)
{
	int64_t c = 0;

	(void)arg;
	if (json_int(reply, "cancelled", &c) && c > 0)
		n.cancelled += (unsigned long)c;
	jv_free(reply);
}

static void
msg_free(struct pushmsg *m)
{
	if (m->prev != NULL)
		m->prev->next = m->next;
	else
		msgs = m->next;
	if (m->next != NULL)
		m->next->prev = m->prev;
	jv_free(m->jobs);
	jv_free(m->base);
	free(m);
}

/* Every lookup is in: enqueue the jobs of users still offline. */
static void
msg_done(struct pushmsg *m)
{
	jv_array_foreach(m->jobs, i, j) {
		const char *user = json_str(j, "user", NULL);
		if (user == NULL || online(user)) {
			jv_free(j);
			continue;
		}
		if (!room()) {
			n.skipped++;
			jv_free(j);
			continue;
		}
		jv req = jv_copy(m->base);
		jv_object_foreach(j, k, v)
			req = jv_object_set(req, k, v);
		jv_free(j);
		ipc_call(push_cl, req, 0, on_enqueued, NULL);
	}
	msg_free(m);
}

static void
lookup_done(struct pushmsg *m)
{
	lookups--;
	if (--m->pending == 0)
		msg_done(m);
}

static void
on_devices(void *arg, jv reply)
{
	struct lookup *l = arg;
	struct pushmsg *m = l->m;
	jv devs = jv_object_get(jv_copy(reply), jv_string("devices"));

	if (!json_bool(reply, "ok", 0)) {
		jv e = jv_object_get(jv_copy(reply), jv_string("error"));
		const char *code = json_str(e, "code", NULL);
		log_warnx("no notification for '%s': device.list: %s",
		    l->user, code ? code : "?");
		jv_free(e);
	} else if (jv_get_kind(devs) == JV_KIND_ARRAY && !online(l->user)) {
		jv_array_foreach(devs, i, d) {
			jv reg = jv_object_get(jv_copy(d), jv_string("push"));
			const char *dev = json_str(d, "device", NULL);
			if (jv_get_kind(reg) == JV_KIND_OBJECT && dev != NULL)
				m->jobs = jv_array_append(m->jobs,
				    jv_object_set(jv_object_set(jv_object_set(
				    jv_object(), jv_string("user"),
				    jv_string(l->user)), jv_string("device"),
				    jv_string(dev)), jv_string("push"), reg));
			else
				jv_free(reg);
			jv_free(d);
		}
	}
	jv_free(devs);
	jv_free(reply);
	lookup_done(m);
}

static void
on_group(void *arg, jv reply)
{
	struct pushmsg *m = arg;
	size_t len;
	const char *name = json_str(reply, "name", &len);

	/* chat-push takes a name of at most 128 bytes; else it shows the id */
	if (json_bool(reply, "ok", 0) && name != NULL && len > 0 && len <= 128)
		m->base = jv_object_set(m->base, jv_string("group"),
		    jv_string(name));
	jv_free(reply);
	lookup_done(m);
}

/* Consumes req (an object, so ipc_call takes it). */
static void
lookup(struct pushmsg *m, jv req, ipc_reply_fn *cb, void *arg)
{
	m->pending++;
	lookups++;
	n.lookups++;
	/* no timeout: resent after a reconnect, like the message path's */
	ipc_call(store_cl, req, 0, cb, arg);
}

void
push_message(jv req, jv recipients, const char *mid, int64_t ts)
{
	const char *from = json_str(req, "user", NULL);
	const char *to = json_str(req, "to", NULL);
	const char *group = json_str(req, "group", NULL);
	struct pushmsg *m = NULL;
	char conv[80];

	if (from == NULL || (to == NULL && group == NULL))
		return;
	jv_array_foreach(recipients, i, u) {
		const char *name = jv_get_kind(u) == JV_KIND_STRING ?
		    jv_string_value(u) : NULL;
		struct lookup *l;
		if (name == NULL || strcmp(name, from) == 0 || online(name) ||
		    !shard_mine(name) ||
		    strlen(name) >= sizeof(l->user)) {
			jv_free(u);
			continue;
		}
		if (!room()) {
			n.skipped++;
			jv_free(u);
			continue;
		}
		if (m == NULL) {
			size_t cap = (size_t)jv_array_length(jv_copy(
			    recipients));
			if ((m = calloc(1, sizeof(*m) + cap * sizeof(m->l[0]))) ==
			    NULL) {
				jv_free(u);
				break;
			}
			if ((m->next = msgs) != NULL)
				msgs->prev = m;
			msgs = m;
			if (to != NULL)
				snprintf(conv, sizeof(conv), "d/%s/%s",
				    strcmp(from, to) < 0 ? from : to,
				    strcmp(from, to) < 0 ? to : from);
			else
				snprintf(conv, sizeof(conv), "%s", group);
			m->base = jv_object_set(jv_object_set(jv_object_set(
			    jv_object_set(jv_object_set(jv_object_set(
			    jv_object(), jv_string("op"),
			    jv_string("push.enqueue")), jv_string("from"),
			    jv_string(from)), jv_string("conv"),
			    jv_string(conv)), jv_string("msg_id"),
			    jv_string(mid)), jv_string("ts"),
			    jv_number((double)ts)), jv_string("body"),
			    jv_object_get(jv_copy(req), jv_string("body")));
			m->jobs = jv_array();
			m->pending = 1;	/* held until every lookup is sent */
			if (group != NULL)
				lookup(m, jv_object_set(jv_object_set(
				    jv_object(), jv_string("op"),
				    jv_string("group.get")), jv_string("group"),
				    jv_string(group)), on_group, m);
		}
		l = &m->l[m->nl++];
		l->m = m;
		snprintf(l->user, sizeof(l->user), "%s", name);
		lookup(m, jv_object_set(jv_object_set(jv_object(),
		    jv_string("op"), jv_string("device.list")),
		    jv_string("user"), jv_string(name)), on_devices, l);
		jv_free(u);
	}
	if (m != NULL && --m->pending == 0)
		msg_done(m);
}

void
push_online(const char *user)
{
	if (!room())
		return;
	n.cancels++;
	ipc_call(push_cl, jv_object_set(jv_object_set(jv_object(),
	    jv_string("op"), jv_string("push.cancel")), jv_string("user"),
	    jv_string(user)), 0, on_cancelled, NULL);
}

jv
push_status(jv r)
{
#define NUM(k, v) r = jv_object_set(r, jv_string(k), jv_number((double)(v)))
	r = jv_object_set(r, jv_string("push_connected"),
	    jv_bool(ipc_client_connected(push_cl)));
	NUM("push_pending", ipc_client_pending(push_cl));
	NUM("push_lookups_pending", lookups);
	NUM("push_lookups", n.lookups);
	NUM("push_enqueued", n.enqueued);
	NUM("push_dups", n.dups);
	NUM("push_refused", n.refused);
	NUM("push_skipped", n.skipped);
	NUM("push_cancels", n.cancels);
	NUM("push_cancelled", n.cancelled);
#undef NUM
	return r;
}

int
push_init(struct ev_loop *loop)
{
	char path[512];

	push_cl = ipc_client_new(loop, conf_sock_path("push", path,
	    sizeof(path)), NULL, on_push_connect, NULL);
	store_cl = ipc_client_new(loop, conf_sock_path("store", path,
	    sizeof(path)), NULL, NULL, NULL);
	if (push_cl == NULL || store_cl == NULL) {
		push_free();
		return -1;
	}
	return 0;
}

void
push_free(void)
{
	if (push_cl != NULL)
		ipc_client_free(push_cl);
	if (store_cl != NULL)
		ipc_client_free(store_cl);
	push_cl = store_cl = NULL;
	while (msgs != NULL)
		msg_free(msgs);
}
