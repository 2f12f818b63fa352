/*
 * shard: presenced partitioned by user (presence_shards, presence_shard).
 * A user belongs to shard shard_of(name) (lib/shard.h, FNV-1a); this
 * process owns one shard: chatd sends it only its users' devices, so it
 * alone knows which chatd holds them and whether they are online.
 *
 * A change of one of our users must reach the chatds holding its friends'
 * devices, and a friend on another shard j is known only to shard j.  So
 * the friends of shard j get one presence.notify request, sent over an
 * ipc client to shard j's socket (presence-j): a request, not a bare line,
 * so it is resent after a reconnect and a change made while shard j was
 * down reaches its friends once j is back.  Shard j writes the event lines
 * itself (pres_fanout).
 *
 * A shard that has just started knows no device until its chatds have
 * reconnected and synced (their reconnect delay is at most 2 s), so for
 * its first PRES_SETTLE seconds it holds the notifications it receives
 * and fans them out afterwards, in the order they came, to the devices
 * it knew when each came or that a sync announced (those may have been
 * held since before the restart, when their auth found no presenced to
 * ask); a device that connected after a notification came asked for its
 * friends' presence on auth and is not told twice.
 *
 * With presence_shards = 1 none of this runs: every user is ours.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "conf.h"
#include "ipc.h"
#include "json.h"
#include "log.h"
#include "shard.h"
#include "util.h"
#include "presenced.h"

#define PRES_SETTLE		3.0	/* s after start: notifications wait */
#define NOTIFY_MAX_PENDING	65536	/* unanswered notifies a peer shard */

static struct ev_loop	 *loop;
static unsigned		  nshards = 1, me;
static struct ipc_client **peers;	/* [nshards]; ours and unused NULL */
static double		  started;
static ev_timer		  settle;
static jv		  held;		/* notifications waiting for settle */

static void on_settle(struct ev_loop *l, ev_timer *w, int revents);

void
pres_shard_init(struct ev_loop *l, unsigned n, unsigned k)
{
	loop = l;
	nshards = n < 1 ? 1 : n;
	me = k;
	started = ev_now(loop);
	held = jv_array();
	ev_timer_init(&settle, on_settle, PRES_SETTLE, 0.0);
	if (nshards > 1)
		peers = calloc(nshards, sizeof(*peers));
}

void
pres_shard_stop(void)
{
	if (peers != NULL)
		for (unsigned i = 0; i < nshards; i++)
			ipc_client_free(peers[i]);
	free(peers);
	peers = NULL;
	ev_timer_stop(loop, &settle);
	jv_free(held);
	held = jv_invalid();
}

unsigned pres_nshards(void) { return nshards; }
unsigned pres_shard_me(void) { return me; }

unsigned
pres_shard_of(const char *user)
{
	return shard_of(user, strlen(user), nshards);
}

int
pres_shard_mine(const char *user)
{
	return nshards <= 1 || pres_shard_of(user) == me;
}

/* Shard j's client, made on first use. */
static struct ipc_client *
peer(unsigned j)
{
	char name[32], path[512];

	if (peers == NULL || j >= nshards || j == me)
		return NULL;
	if (peers[j] == NULL) {
		snprintf(name, sizeof(name), "presence-%u", j);
		conf_sock_path(name, path, sizeof(path));
		peers[j] = ipc_client_new(loop, path, NULL, NULL, NULL);
	}
	return peers[j];
}

static void
on_notified(void *arg, jv reply)
{
	uintptr_t j = (uintptr_t)arg;

	if (!json_bool(reply, "ok", 0)) {
		jv e = jv_object_get(jv_copy(reply), jv_string("error"));
		const char *msg = json_str(e, "message", NULL);
		pres_stats.notify_errors++;
		log_warnx("presence.notify to shard %u failed: %s",
		    (unsigned)j, msg ? msg : "no reason given");
		jv_free(e);
	}
	jv_free(reply);
}

void
pres_shard_notify(unsigned j, const char *user, int online, int64_t at,
    jv to)
{
	struct ipc_client *cl = peer(j);

	if (cl == NULL || ipc_client_pending(cl) >= NOTIFY_MAX_PENDING) {
		pres_stats.notify_dropped++;
		log_warnx("shard %u %s: '%s' is %s, its friends there not told",
		    j, cl ? "is not answering" : "unreachable", user,
		    online ? "online" : "offline");
		jv_free(to);
		return;
	}
	jv req = jv_object_set(jv_object(), jv_string("op"),
	    jv_string("presence.notify"));
	req = jv_object_set(req, jv_string("user"), jv_string(user));
	req = jv_object_set(req, jv_string("status"),
	    jv_string(online ? "online" : "offline"));
	req = jv_object_set(req, jv_string("last_active_at"),
	    jv_number((double)at));
	req = jv_object_set(req, jv_string("to"), to);
	pres_stats.notify_sent++;
	ipc_call(cl, req, 0, on_notified, (void *)(uintptr_t)j);
}

/* Fans out one held or received notification (borrowed) to the devices
 * heard by the time it came. */
static void
deliver(jv n, double came)
{
	const char *user = json_str(n, "user", NULL);
	const char *status = json_str(n, "status", NULL);
	int64_t at = 0;

	json_int(n, "last_active_at", &at);
	pres_fanout(user, strcmp(status, "online") == 0, at,
	    jv_object_get(jv_copy(n), jv_string("to")), came);
}

static void
on_settle(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l; (void)w; (void)revents;
	jv list = held;
	held = jv_array();
	if (jv_array_length(jv_copy(list)) > 0)
		log_info("settled: %d notifications held since the start go "
		    "out", jv_array_length(jv_copy(list)));
	jv_array_foreach(list, i, n) {
		jv came = jv_object_get(jv_copy(n), jv_string("came"));
		deliver(n, jv_number_value(came));
		jv_free(came);
		jv_free(n);
	}
	jv_free(list);
}

void
pres_notify(struct pres_conn *pc, jv req, jv id)
{
	const char *user = json_str(req, "user", NULL);
	const char *status = json_str(req, "status", NULL);
	jv to = jv_object_get(jv_copy(req), jv_string("to"));
	int64_t at;
	int bad = user == NULL || !valid_user(user) || status == NULL ||
	    (strcmp(status, "online") != 0 && strcmp(status, "offline") != 0) ||
	    !json_int(req, "last_active_at", &at) ||
	    jv_get_kind(to) != JV_KIND_ARRAY;

	if (!bad)
		jv_array_foreach(to, i, t) {
			if (jv_get_kind(t) != JV_KIND_STRING ||
			    !valid_user(jv_string_value(t)))
				bad = 1;
			jv_free(t);
		}
	if (bad) {
		jv_free(to);
		pres_reply(pc, json_error(id, "bad_request", "presence.notify "
		    "needs 'user', 'status' (online or offline), an integer "
		    "'last_active_at' and 'to' (user names)"));
		return;
	}
	pres_stats.notify_received++;
	jv n = jv_object_set(jv_object(), jv_string("user"), jv_string(user));
	n = jv_object_set(n, jv_string("status"), jv_string(status));
	n = jv_object_set(n, jv_string("last_active_at"),
	    jv_number((double)at));
	n = jv_object_set(n, jv_string("to"), to);
	double now = ev_now(loop), wait = started + PRES_SETTLE - now;
	/* A device that connects later asks its friends' presence on auth
	 * and gets this change there: only those heard by now get it. */
	n = jv_object_set(n, jv_string("came"), jv_number(now));
	if (wait > 0) {
		pres_stats.notify_held++;
		held = jv_array_append(held, n);
		if (!ev_is_active(&settle)) {
			ev_timer_set(&settle, wait, 0.0);
			ev_timer_start(loop, &settle);
		}
	} else if (jv_array_length(jv_copy(held)) > 0) {
		held = jv_array_append(held, n);	/* after those, in order */
	} else {
		deliver(n, now);
		jv_free(n);
	}
	pres_reply(pc, json_ok(id));
}

jv
pres_shard_status(jv r)
{
	jv up = jv_array();

	r = jv_object_set(r, jv_string("shard"), jv_number(me));
	r = jv_object_set(r, jv_string("shards"), jv_number(nshards));
	for (unsigned j = 0; peers != NULL && j < nshards; j++)
		if (peers[j] != NULL)
			up = jv_array_append(up, jv_object_set(jv_object_set(
			    jv_object_set(jv_object(), jv_string("shard"),
			    jv_number(j)), jv_string("connected"),
			    jv_bool(ipc_client_connected(peers[j]))),
			    jv_string("pending"),
			    jv_number((double)ipc_client_pending(peers[j]))));
	return jv_object_set(r, jv_string("peers"), up);
}
