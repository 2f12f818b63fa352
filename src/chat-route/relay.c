/*
 * relay: what goes through chat-route without being stored.
 *
 * typing: relayed to the online devices of the other side (1:1) or of the
 * group's other members (checked against chat-store's group record first),
 * never stored and never queued: an offline device simply misses it.
 *
 * presence.query: a device asks for the presence of some users (answered
 * only for the asker and its friends; the others are listed as denied) or
 * of a group's members (only for a member).  Read from chat-store's
 * presence records, which presenced writes only after it has handled a
 * device's connect (a load and a synced write later), so a user of ours
 * whose device a chatd has announced here is answered online even if its
 * record does not say so yet: a device that connected just before the
 * query is online in the answer (the announcement and the query come on
 * the same chatd link, in order).  Our table never turns a record's
 * online into offline: presenced keeps a user online through a short
 * blip, and its record is the word on that.
 *
 * device.kick: chat-api logged a device (or a user's every device) out;
 * every chatd is told, not only those our table says hold it: a device
 * whose auth is still being checked, or that a chatd has not re-announced
 * since our restart, is closed too.  Logouts are rare; chatds few.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "json.h"
#include "log.h"
#include "route.h"
#include "util.h"

#define QUERY_TIMEOUT	5000	/* ms */

struct query {
	struct peer	*p;
	jv		 id;		/* request id, or invalid for typing */
	jv		 req;
	jv		 denied;
};

static struct query *
query_new(struct peer *p, jv req, jv id)
{
	struct query *q = malloc(sizeof(*q));

	if (q == NULL) {
		jv_free(req);
		jv_free(id);
		return NULL;
	}
	peer_ref(p);
	q->p = p;
	q->req = req;
	q->id = id;
	q->denied = jv_array();
	return q;
}

static void
query_free(struct query *q)
{
	peer_unref(q->p);
	jv_free(q->req);
	jv_free(q->id);
	jv_free(q->denied);
	free(q);
}

static void
store_call(jv req, ipc_reply_fn *cb, struct query *q)
{
	if (ipc_call(route.store, req, QUERY_TIMEOUT, cb, q) == -1)
		query_free(q);
}

/* Consumes r: the reply to q's requester. */
static void
answer(struct query *q, jv r)
{
	if (q->p->conn != NULL)
		ipc_send_jv(q->p->conn, r);
	else
		jv_free(r);
}

/* Passes a store error on as q's answer. */
static void
answer_error(struct query *q, jv reply)
{
	jv e = jv_object_get(jv_copy(reply), jv_string("error"));

	answer(q, jv_object_set(jv_object_set(jv_object_set(jv_object(),
	    jv_string("id"), jv_copy(q->id)), jv_string("ok"), jv_false()),
	    jv_string("error"), e));
}

/* Borrows members: 1 if user is among them. */
static int
has_member(jv members, const char *user)
{
	int found = 0;

	if (jv_get_kind(members) != JV_KIND_ARRAY)
		return 0;
	jv_array_foreach(members, i, m) {
		if (jv_get_kind(m) == JV_KIND_STRING &&
		    strcmp(jv_string_value(m), user) == 0)
			found = 1;
		jv_free(m);
	}
	return found;
}

/* typing */

static void
typing_frame(const char *user, const char *key, const char *val, char *buf,
    size_t len, size_t *n)
{
	int r = snprintf(buf, len, "{\"type\":\"typing\",\"from\":\"%s\","
	    "\"%s\":\"%s\"}", user, key, val);

	*n = r > 0 && (size_t)r < len ? (size_t)r : 0;
}

static void
on_typing_group(void *arg, jv reply)
{
	struct query *q = arg;
	const char *user = json_str(q->req, "user", NULL);
	const char *gid = json_str(q->req, "group", NULL);
	jv members = jv_object_get(jv_copy(reply), jv_string("members"));
	char frame[256];
	size_t n;

	if (json_bool(reply, "ok", 0) && has_member(members, user)) {
		typing_frame(user, "group", gid, frame, sizeof(frame), &n);
		if (n > 0) {
			fanout(members, user, NULL, NULL, frame, n);
			if (shards_n() > 1)
				shards_forward(members, user, NULL, NULL, 0,
				    frame, n, NULL, NULL, 0);
		}
	}
	jv_free(members);
	jv_free(reply);
	query_free(q);
}

void
relay_typing(struct peer *p, jv ev)
{
	const char *user = json_str(ev, "user", NULL);
	const char *to = json_str(ev, "to", NULL);
	const char *gid = json_str(ev, "group", NULL);
	char frame[256];
	size_t n;

	if (user == NULL || !valid_user(user) || (to == NULL) == (gid == NULL) ||
	    (to && !valid_user(to)) || (gid && !valid_group(gid))) {
		jv_free(ev);
		return;
	}
	route.n.typing++;
	if (to != NULL) {
		typing_frame(user, "to", to, frame, sizeof(frame), &n);
		jv users = jv_array_append(jv_array(), jv_string(to));
		if (n > 0 && shard_mine(to))
			fanout(users, user, NULL, NULL, frame, n);
		else if (n > 0)
			shards_forward(users, user, NULL, NULL, 0, frame, n,
			    NULL, NULL, 0);
		jv_free(users);
		jv_free(ev);
		return;
	}
	struct query *q = query_new(p, ev, jv_invalid());
	if (q != NULL)
		store_call(jv_object_set(jv_object_set(jv_object(),
		    jv_string("op"), jv_string("group.get")), jv_string("group"),
		    jv_string(gid)), on_typing_group, q);
}

/* presence.query */

/* One presence record (consumed): online if a device of the user is in our
 * table, its last_active_at no older than that device's authentication. */
static jv
with_online(jv rec)
{
	const char *user = json_str(rec, "user", NULL);
	const char *status = json_str(rec, "status", NULL);
	struct ruser *r;
	int64_t last = 0;
	uint64_t at = 0;

	if (user == NULL || (status != NULL && strcmp(status, "online") == 0) ||
	    !shard_mine(user) || (r = peer_user(user)) == NULL || r->n == 0)
		return rec;
	for (size_t i = 0; i < r->n; i++)
		if (r->devs[i].at > at)
			at = r->devs[i].at;
	json_int(rec, "last_active_at", &last);
	if (last < (int64_t)at)
		rec = jv_object_set(rec, jv_string("last_active_at"),
		    jv_number((double)at));
	return jv_object_set(rec, jv_string("status"), jv_string("online"));
}

static void
on_presence(void *arg, jv reply)
{
	struct query *q = arg;

	if (!json_bool(reply, "ok", 0))
		answer_error(q, reply);
	else {
		jv list = jv_object_get(jv_copy(reply), jv_string("presence"));
		jv out = jv_array();
		if (jv_get_kind(list) == JV_KIND_ARRAY)
			jv_array_foreach(list, i, rec)
				out = jv_array_append(out, with_online(rec));
		jv_free(list);
		answer(q, jv_object_set(jv_object_set(json_ok(jv_copy(q->id)),
		    jv_string("presence"), out), jv_string("denied"),
		    jv_copy(q->denied)));
	}
	jv_free(reply);
	query_free(q);
}

/* Consumes users: asks chat-store for their presence, answers q. */
static void
get_presence(struct query *q, jv users)
{
	if (jv_array_length(jv_copy(users)) == 0) {
		jv_free(users);
		answer(q, jv_object_set(jv_object_set(json_ok(jv_copy(q->id)),
		    jv_string("presence"), jv_array()), jv_string("denied"),
		    jv_copy(q->denied)));
		query_free(q);
		return;
	}
	store_call(jv_object_set(jv_object_set(jv_object(), jv_string("op"),
	    jv_string("presence.get")), jv_string("users"), users),
	    on_presence, q);
}

static void
on_friends(void *arg, jv reply)
{
	struct query *q = arg;
	const char *user = json_str(q->req, "user", NULL);

	if (!json_bool(reply, "ok", 0)) {
		answer_error(q, reply);
		jv_free(reply);
		query_free(q);
		return;
	}
	jv friends = jv_object_get(jv_copy(reply), jv_string("friends"));
	jv want = jv_object_get(jv_copy(q->req), jv_string("users"));
	jv ok = jv_array();
	jv_array_foreach(want, i, u) {
		int allowed = strcmp(jv_string_value(u), user) == 0;
		if (!allowed && jv_get_kind(friends) == JV_KIND_ARRAY) {
			jv_array_foreach(friends, j, f) {
				const char *fu = json_str(f, "user", NULL);
				const char *st = json_str(f, "state", NULL);
				if (fu && st && strcmp(fu, jv_string_value(u)) == 0 &&
				    strcmp(st, "friends") == 0)
					allowed = 1;
				jv_free(f);
			}
		}
		if (allowed)
			ok = jv_array_append(ok, u);
		else
			q->denied = jv_array_append(q->denied, u);
	}
	jv_free(want);
	jv_free(friends);
	jv_free(reply);
	get_presence(q, ok);
}

static void
on_group(void *arg, jv reply)
{
	struct query *q = arg;
	const char *user = json_str(q->req, "user", NULL);

	if (!json_bool(reply, "ok", 0)) {
		answer_error(q, reply);
		jv_free(reply);
		query_free(q);
		return;
	}
	jv members = jv_object_get(jv_copy(reply), jv_string("members"));
	jv_free(reply);
	if (!has_member(members, user)) {
		jv_free(members);
		answer(q, json_error(jv_copy(q->id), "not_member", "only a "
		    "member may see a group's presence"));
		query_free(q);
		return;
	}
	get_presence(q, members);
}

void
relay_presence(struct peer *p, jv req, jv id)
{
	const char *user = json_str(req, "user", NULL);
	const char *gid = json_str(req, "group", NULL);
	jv users = jv_object_get(jv_copy(req), jv_string("users"));
	int bad = user == NULL || !valid_user(user);

	if (!bad && gid == NULL) {
		bad = jv_get_kind(users) != JV_KIND_ARRAY;
		if (!bad)
			jv_array_foreach(users, i, u) {
				if (jv_get_kind(u) != JV_KIND_STRING ||
				    !valid_user(jv_string_value(u)))
					bad = 1;
				jv_free(u);
			}
	} else if (!bad)
		bad = !valid_group(gid);
	jv_free(users);
	if (bad) {
		if (p->conn != NULL)
			ipc_send_jv(p->conn, json_error(id, "bad_request",
			    "presence.query needs 'user' and 'users' or "
			    "'group'"));
		else
			jv_free(id);
		jv_free(req);
		return;
	}
	route.n.presence_queries++;
	struct query *q = query_new(p, req, id);
	if (q == NULL)
		return;
	if (gid != NULL)
		store_call(jv_object_set(jv_object_set(jv_object(),
		    jv_string("op"), jv_string("group.get")), jv_string("group"),
		    jv_string(gid)), on_group, q);
	else
		store_call(jv_object_set(jv_object_set(jv_object(),
		    jv_string("op"), jv_string("friend.list")), jv_string("user"),
		    jv_string(user)), on_friends, q);
}

/* device.kick */

void
relay_kick(struct peer *p, jv req, jv id)
{
	const char *user = json_str(req, "user", NULL);
	const char *device = json_str(req, "device", NULL);
	char line[200];
	unsigned long told = 0;

	if (user == NULL || !valid_user(user) ||
	    (device != NULL && !valid_device(device))) {
		if (p->conn != NULL)
			ipc_send_jv(p->conn, json_error(id, "bad_request",
			    "device.kick needs a good 'user' and an optional "
			    "'device'"));
		else
			jv_free(id);
		jv_free(req);
		return;
	}
	/* Names are [A-Za-z0-9_.-] (checked): no JSON escaping needed. */
	int n = device != NULL ?
	    snprintf(line, sizeof(line), "{\"ev\":\"kick\",\"why\":\"logout\","
	    "\"user\":\"%s\",\"device\":\"%s\"}", user, device) :
	    snprintf(line, sizeof(line), "{\"ev\":\"kick\",\"why\":\"logout\","
	    "\"user\":\"%s\"}", user);
	if (n > 0 && (size_t)n < sizeof(line))
		for (struct peer *q = route.peers; q != NULL; q = q->next)
			if (q->hello && q->conn != NULL) {
				peer_send(q, line, (size_t)n);
				told++;
			}
	route.n.logouts++;
	log_info("logout of '%s%s%s': %lu chatds told to close it", user,
	    device ? "/" : "", device ? device : "", told);
	if (p->conn != NULL)
		ipc_send_jv(p->conn, jv_object_set(json_ok(id),
		    jv_string("chatds"), jv_number((double)told)));
	else
		jv_free(id);
	jv_free(req);
}
