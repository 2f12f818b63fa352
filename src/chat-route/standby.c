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

#include <ev.h>

#include "grant.h"
#include "ipc.h"
#include "log.h"
#include "route.h"
#include "standby.h"

static struct grant G;
static unsigned long ignored;	/* feed lines dropped while not ours */

static void
gained(void *arg, long long ms_left)
{
	(void)arg;
	log_info("shard %u is ours (lease until %lld ms from now): following "
	    "the feed", route.shard, ms_left);
	/* chatds that come now announce their devices first */
	ops_settle_start(G.loop);
	if (ipc_client_connected(route.store))
		feed_connect(NULL);
}

static void
lost(void *arg, const char *why)
{
	(void)arg;
	log_info("shard %u no longer ours (%s): its feed is left alone",
	    route.shard, why);
}

void
standby_init(struct ev_loop *loop, int leased)
{
	grant_init(&G, loop, leased, gained, lost, NULL);
	if (leased)
		log_info("shard %u standing by: its feed is followed only "
		    "while chat-bus says the lease is ours", route.shard);
}

int
standby_owning(void)
{
	return grant_owning(&G);
}

void
standby_lease_event(struct peer *p, jv ev)
{
	(void)p;
	grant_event(&G, ev);
	jv_free(ev);
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
	ignored++;
	jv_free(ev);
}

jv
standby_status(jv r)
{
	return grant_status(&G, r, "feed_ignored", ignored);
}
