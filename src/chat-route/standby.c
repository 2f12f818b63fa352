/*
 * standby: a route shard that another node may hold (chat-route --leased;
 * chat-route(1), "Standby"; chat-scaling(7), "Shard ownership").
 *
 * In node mode with bus_leases naming route, shard k's chat-route runs on
 * its node and on the nodes standing by for it, each served by a
 * chat-bus serve --lease --tell; only the lease's owner gets requests and
 * sessions, so only it has chatds.  But a route shard also acts unasked:
 * it follows chat-store's feed and hands offline recipients to chat-push.
 * A standby doing that would push for every message (it knows no devices,
 * so everyone looks offline) while the owner delivers them.  So a leased
 * shard follows the feed, and acts on what it feeds, only while chat-bus
 * has told it that it owns the lease: {"ev":"lease","until_ms":T}, T on
 * this machine's monotonic clock, the lease's fence time, sent after each
 * renewal.  Past T (chat-bus killed, paused, or the lease lost) it stops
 * on its own, before any standby can be granted the key (chat-bus(1)).
 *
 * Taking the shard opens the feed (feed.follow), whose answer has every
 * connected chatd re-read its devices' inboxes; chatds that connect later
 * do that on their own (they announce their devices and catch up).  What
 * committed while no one followed is in the inboxes.  The store has no
 * unfollow, so a shard that loses its lease still receives the feed and
 * drops it (feed_ignored).
 */
#include <stdio.h>
#include <time.h>

#include <ev.h>

#include "ipc.h"
#include "json.h"
#include "log.h"
#include "route.h"
#include "standby.h"

static struct {
	struct ev_loop	*loop;
	int		 leased, owner;
	long long	 until;		/* ms, CLOCK_MONOTONIC */
	ev_timer	 expiry;
	unsigned long	 gained, lost, ignored;
} S;

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
drop(const char *why)
{
	ev_timer_stop(S.loop, &S.expiry);
	if (!S.owner)
		return;
	S.owner = 0;
	S.lost++;
	log_info("shard %u no longer ours (%s): its feed is left alone",
	    route.shard, why);
}

static void
on_expiry(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop; (void)w; (void)revents;
	drop("the lease was not renewed in time");
}

void
standby_init(struct ev_loop *loop, int leased)
{
	S.loop = loop;
	S.leased = leased;
	ev_timer_init(&S.expiry, on_expiry, 0., 0.);
	if (leased)
		log_info("shard %u standing by: its feed is followed only "
		    "while chat-bus says the lease is ours", route.shard);
}

int
standby_owning(void)
{
	return !S.leased || (S.owner && mono_ms() < S.until);
}

void
standby_lease_event(struct peer *p, jv ev)
{
	int64_t until = 0;
	long long now = mono_ms();

	(void)p;
	json_int(ev, "until_ms", &until);
	jv_free(ev);
	if (!S.leased)
		return;
	if (until <= now) {
		drop("chat-bus says not ours");
		return;
	}
	S.until = until;
	ev_timer_stop(S.loop, &S.expiry);
	ev_timer_set(&S.expiry, (double)(until - now) / 1000., 0.);
	ev_timer_start(S.loop, &S.expiry);
	if (S.owner)
		return;
	S.owner = 1;
	S.gained++;
	log_info("shard %u is ours (lease until %lld ms from now): following "
	    "the feed", route.shard, (long long)until - now);
	/* chatds that come now announce their devices first */
	ops_settle_start(S.loop);
	if (ipc_client_connected(route.store))
		feed_connect(NULL);
}

void
standby_feed_connect(void *arg)
{
	if (standby_owning())
		feed_connect(arg);
}

void
standby_feed_event(void *arg, jv ev, const char *line, size_t len)
{
	if (standby_owning()) {
		feed_event(arg, ev, line, len);
		return;
	}
	S.ignored++;
	jv_free(ev);
}

jv
standby_status(jv r)
{
	if (!S.leased)
		return r;
	long long left = S.owner ? S.until - mono_ms() : 0;
	jv l = jv_object_set(jv_object(), jv_string("owner"),
	    jv_bool(standby_owning()));
	l = jv_object_set(l, jv_string("ms_left"),
	    jv_number(left > 0 ? (double)left : 0.));
	l = jv_object_set(l, jv_string("gained"), jv_number((double)S.gained));
	l = jv_object_set(l, jv_string("lost"), jv_number((double)S.lost));
	l = jv_object_set(l, jv_string("feed_ignored"),
	    jv_number((double)S.ignored));
	return jv_object_set(r, jv_string("lease"), l);
}
