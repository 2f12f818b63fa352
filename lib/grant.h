/*
 * grant: a shard owned until a deadline, as chat-bus serve --tell reports
 * it ({"ev":"lease","until_ms":T}, T on this machine's monotonic clock:
 * the lease's fence time; chat-bus(1)).  A daemon that acts unasked on a
 * shard (chat-route following chat-store's feed, presenced storing and
 * telling changes) asks grant_owning() first, so past T it stops on its
 * own, before any standby can be granted the key, whether chat-bus renewed,
 * lost the lease, died or was paused.
 *
 * Without --leased (leased 0) a grant always owns and its events are
 * ignored.  The loop's timer calls on_loss at T unless a renewal came.
 */
#ifndef CHAT_GRANT_H
#define CHAT_GRANT_H

#include <ev.h>
#include <jv.h>

struct grant {
	struct ev_loop	*loop;
	int		 leased, owner;
	long long	 until;		/* ms, CLOCK_MONOTONIC */
	ev_timer	 expiry;
	unsigned long	 gained, lost;
	/* Called when the shard becomes ours (ms_left until T) and when it
	 * stops being ours (why: for the log); either may be NULL. */
	void		(*on_gain)(void *arg, long long ms_left);
	void		(*on_loss)(void *arg, const char *why);
	void		*arg;
};

/* Sets g up on loop; leased 0: always owning.  on_gain and on_loss as in
 * struct grant. */
void	grant_init(struct grant *g, struct ev_loop *loop, int leased,
	    void (*on_gain)(void *, long long), void (*on_loss)(void *,
	    const char *), void *arg);

/* 1 while the shard is ours: not leased, or a grant not yet past T. */
int	grant_owning(const struct grant *g);

/* Takes an {"ev":"lease","until_ms":T} event (ev borrowed): T in the
 * future renews or gains the shard, T now or past loses it. */
void	grant_event(struct grant *g, jv ev);

/* With leased, adds "lease":{owner, ms_left, gained, lost} and the
 * caller's extra counter name = n to r; consumes and returns r. */
jv	grant_status(const struct grant *g, jv r, const char *name,
	    unsigned long n);

#endif
