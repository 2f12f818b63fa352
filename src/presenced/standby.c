/*
 * standby: a presence shard that another node may hold (presenced --leased;
 * presenced(1), "Standby"; chat-scaling(7), "Shard ownership").
 *
 * In node mode with bus_leases naming presence, shard k's presenced runs on
 * its node and on the nodes standing by for it, each served by a chat-bus
 * serve --lease --tell; only the lease's owner gets chatds.  presenced also
 * writes unasked: the sweep after a start sets offline the users the store
 * calls online that no chatd announced, and a chatd that left has its
 * devices time out into offline writes and friend notices.  A standby
 * sweeping would set offline everyone online at the owner; an owner that
 * lost the lease (its sessions ended) would time out every device the new
 * owner has just been told of.  So with --leased, changes are persisted and
 * told (pres_publish) only while chat-bus has said the lease is ours
 * ({"ev":"lease","until_ms":T}, T on this machine's monotonic clock, the
 * lease's fence time), and the sweep runs only after the shard is taken,
 * presence_timeout + 1 s later as after a start.  Past T it stops on its
 * own, before any standby can be granted the key (chat-bus(1)).
 */
#include <ev.h>

#include "grant.h"
#include "log.h"
#include "standby.h"

static struct grant G;
static void (*sweep)(void), (*unsweep)(void);
static unsigned long skipped;	/* changes neither stored nor told */

static void
gained(void *arg, long long ms_left)
{
	(void)arg;
	log_info("the shard is ours (lease until %lld ms from now)", ms_left);
	sweep();
}

static void
lost(void *arg, const char *why)
{
	(void)arg;
	unsweep();
	log_info("shard no longer ours (%s): changes are neither stored nor "
	    "told", why);
}

void
pres_standby_init(struct ev_loop *loop, int leased, void (*sweep_fn)(void),
    void (*unsweep_fn)(void))
{
	sweep = sweep_fn;
	unsweep = unsweep_fn;
	grant_init(&G, loop, leased, gained, lost, NULL);
	if (!leased)
		sweep();
	else
		log_info("standing by: changes stored and told only while "
		    "chat-bus says the lease is ours");
}

int
pres_standby_owning(void)
{
	return grant_owning(&G);
}

void
pres_standby_lease(jv ev)
{
	grant_event(&G, ev);
}

void
pres_standby_skipped(void)
{
	skipped++;
}

jv
pres_standby_status(jv r)
{
	return grant_status(&G, r, "skipped", skipped);
}
