/*
 * grant: a shard owned until a deadline told by chat-bus serve --tell
 * (grant.h).  chat-route's and presenced's standbys share it.
 */

#include "grant.h"
#include "json.h"
#include "util.h"

static void
lose(struct grant *g, const char *why)
{
	ev_timer_stop(g->loop, &g->expiry);
	if (!g->owner)
		return;
	g->owner = 0;
	g->lost++;
	if (g->on_loss != NULL)
		g->on_loss(g->arg, why);
}

static void
on_expiry(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop; (void)revents;
	lose(w->data, "the lease was not renewed in time");
}

void
grant_init(struct grant *g, struct ev_loop *loop, int leased,
    void (*on_gain)(void *, long long), void (*on_loss)(void *,
    const char *), void *arg)
{
	g->loop = loop;
	g->leased = leased;
	g->owner = 0;
	g->until = 0;
	g->gained = g->lost = 0;
	g->on_gain = on_gain;
	g->on_loss = on_loss;
	g->arg = arg;
	ev_timer_init(&g->expiry, on_expiry, 0., 0.);
	g->expiry.data = g;
}

int
grant_owning(const struct grant *g)
{
	return !g->leased || (g->owner && mono_ms() < g->until);
}

void
grant_event(struct grant *g, jv ev)
{
	int64_t until = 0;
	long long now = mono_ms();

	if (!g->leased)
		return;
	json_int(ev, "until_ms", &until);
	if (until <= now) {
		lose(g, "chat-bus says not ours");
		return;
	}
	g->until = until;
	ev_timer_stop(g->loop, &g->expiry);
	ev_timer_set(&g->expiry, (double)(until - now) / 1000., 0.);
	ev_timer_start(g->loop, &g->expiry);
	if (g->owner)
		return;
	g->owner = 1;
	g->gained++;
	if (g->on_gain != NULL)
		g->on_gain(g->arg, until - now);
}

jv
grant_status(const struct grant *g, jv r, const char *name, unsigned long n)
{
	if (!g->leased)
		return r;
	long long left = g->owner ? g->until - mono_ms() : 0;
	jv l = jv_object_set(jv_object(), jv_string("owner"),
	    jv_bool(grant_owning(g)));
	l = jv_object_set(l, jv_string("ms_left"),
	    jv_number(left > 0 ? (double)left : 0.));
	l = jv_object_set(l, jv_string("gained"), jv_number((double)g->gained));
	l = jv_object_set(l, jv_string("lost"), jv_number((double)g->lost));
	l = jv_object_set(l, jv_string(name), jv_number((double)n));
	return jv_object_set(r, jv_string("lease"), l);
}
