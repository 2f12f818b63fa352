/*
 * lwstimer: keeps libwebsockets' own timers on time on our libev loop.
 *
 * lws 4.1.6's libev plugin re-arms its one timer only after I/O on an lws
 * socket, and ev_timer_start on the timer while it is already running does
 * nothing: a deadline lws schedules in between (the handshake timeout of
 * a slow client, the 2 s cut-off of a close; the PING and hangup of a
 * silent peer, lws's before alive.c) waits for some later, unrelated
 * one.  Measured: a 4 s hangup happened after 16 s.
 * lws_cancel_service() is lws's public way to wake its service, which
 * runs every ripe timer; a short repeating ev_timer of ours calls it, so
 * every lws deadline is met within one tick.
 */
#ifndef LWSTIMER_H
#define LWSTIMER_H

#include <ev.h>
#include <libwebsockets.h>

/* Every tick seconds, lws_cancel_service(*ctx) while *ctx is not NULL
 * (ctx is read at each tick, so the context may come and go). */
void lwstimer_start(struct ev_loop *loop, struct lws_context **ctx,
    double tick);
void lwstimer_stop(void);

#endif
