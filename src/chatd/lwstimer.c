/*
 * lwstimer: the tick that keeps lws's timers on time (see lwstimer.h).
 */
#include "lwstimer.h"

static ev_timer tick;
static struct ev_loop *tick_loop;
static struct lws_context **tick_ctx;

static void
on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	if (*tick_ctx != NULL)
		lws_cancel_service(*tick_ctx);
}

void
lwstimer_start(struct ev_loop *loop, struct lws_context **ctx, double every)
{
	tick_loop = loop;
	tick_ctx = ctx;
	ev_timer_init(&tick, on_tick, every, every);
	ev_timer_start(loop, &tick);
	ev_unref(loop);		/* the tick alone does not keep the loop alive */
}

void
lwstimer_stop(void)
{
	if (tick_loop != NULL && ev_is_active(&tick)) {
		ev_ref(tick_loop);
		ev_timer_stop(tick_loop, &tick);
	}
	tick_loop = NULL;
}
