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
#include <time.h>

#include <ev.h>

#include "json.h"
#include "log.h"
#include "standby.h"

static struct {
	struct ev_loop	*loop;
	int		 leased, owner;
	long long	 until;		/* ms, CLOCK_MONOTONIC */
	ev_timer	 expiry;
	void		(*sweep)(void), (*unsweep)(void);
	unsigned long	 gained, lost, skipped;
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
	S.unsweep();
	log_info("shard no longer ours (%s): changes are neither stored nor "
	    "told", why);
}

static void
on_expiry(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop; (void)w; (void)revents;
	drop("the lease was not renewed in time");
}

void
pres_standby_init(struct ev_loop *loop, int leased, void (*sweep)(void),
    void (*unsweep)(void))
{
	S.loop = loop;
	S.leased = leased;
	S.sweep = sweep;
	S.unsweep = unsweep;
	ev_timer_init(&S.expiry, on_expiry, 0., 0.);
	if (!leased)
		sweep();
	else
		log_info("standing by: changes stored and told only while "
		    "chat-bus says the lease is ours");
}

int
pres_standby_owning(void)
{
	return !S.leased || (S.owner && mono_ms() < S.until);
}

void
pres_standby_lease(jv ev)
{
	int64_t until = 0;
	long long now = mono_ms();

	json_int(ev, "until_ms", &until);
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
	log_info("the shard is ours (lease until %lld ms from now)",
	    (long long)until - now);
	S.sweep();
}

void
pres_standby_skipped(void)
{
	S.skipped++;
}

jv
pres_standby_status(jv r)
{
	if (!S.leased)
		return r;
	long long left = S.owner ? S.until - mono_ms() : 0;
	jv l = jv_object_set(jv_object(), jv_string("owner"),
	    jv_bool(pres_standby_owning()));
	l = jv_object_set(l, jv_string("ms_left"),
	    jv_number(left > 0 ? (double)left : 0.));
	l = jv_object_set(l, jv_string("gained"), jv_number((double)S.gained));
	l = jv_object_set(l, jv_string("lost"), jv_number((double)S.lost));
	l = jv_object_set(l, jv_string("skipped"),
	    jv_number((double)S.skipped));
	return jv_object_set(r, jv_string("lease"), l);
}
