/*
 * alive: PING the silent, hang up on the silent too long (see alive.h).
 *
 * Two lists, both in the order their connections were last heard from:
 * `fresh` (not pinged since; due a PING at heard + hangup/2) and `pinged`
 * (due a hangup at heard + hangup).  Hearing from a connection moves it to
 * the tail of `fresh`; its PING moves it from the head of `fresh` to the
 * tail of `pinged`, which keeps `pinged` in order too.  The one timer is
 * set for the earlier of the two heads' deadlines; a deadline added later
 * is never earlier than one already there (now + a constant), so adding
 * or hearing never touches the timer.
 */
#include <string.h>

#include "alive.h"
#include "chatd.h"
#include "log.h"

#define FRESH	1
#define PINGED	2

struct clist {
	struct conn	*head, *tail;
};

static struct {
	struct ev_loop	*loop;
	ev_timer	 timer;
	double		 hangup, ping;	/* seconds of silence */
	struct clist	 l[3];		/* [FRESH], [PINGED] */
	unsigned long	 pings, hangups;
} A;

static void
unlink_conn(struct conn *c)
{
	struct clist *l = &A.l[c->alive.list];

	if (c->alive.list == 0)
		return;
	if (c->alive.prev != NULL)
		c->alive.prev->alive.next = c->alive.next;
	else
		l->head = c->alive.next;
	if (c->alive.next != NULL)
		c->alive.next->alive.prev = c->alive.prev;
	else
		l->tail = c->alive.prev;
	c->alive.next = c->alive.prev = NULL;
	c->alive.list = 0;
}

static void
append(struct conn *c, int which)
{
	struct clist *l = &A.l[which];

	c->alive.prev = l->tail;
	c->alive.next = NULL;
	if (l->tail != NULL)
		l->tail->alive.next = c;
	else
		l->head = c;
	l->tail = c;
	c->alive.list = (unsigned char)which;
}

int
alive_write_ping(struct conn *c)
{
	/* One byte, not none: lws 4.1.6 passes up no empty PONG. */
	unsigned char buf[LWS_PRE + 1];

	c->alive.ping_due = 0;
	buf[LWS_PRE] = 'p';
	return lws_write(c->wsi, buf + LWS_PRE, 1, LWS_WRITE_PING) < 0 ? -1 : 0;
}

/* A PING, written now if nothing is queued ahead of it, else from
 * WRITEABLE (ws.c). */
static void
ping(struct conn *c)
{
	A.pings++;
	if (c->close_code != 0 || c->peer_closed)
		return;		/* closing: the close has its own cut-off */
	if (c->out.n == 0 && !lws_partial_buffered(c->wsi)) {
		if (alive_write_ping(c) == -1)
			log_debug("%s: PING not written", c->peer);
		return;
	}
	c->alive.ping_due = 1;
	lws_callback_on_writable(c->wsi);
}

static void
hang_up(struct conn *c)
{
	A.hangups++;
	log_info("'%s' on %s: silent for %g s, hanging up",
	    c->keylen ? c->key : "-", c->peer, A.hangup);
	/* No close frame (a peer this silent would not answer it): lws
	 * closes the socket now and CLOSED runs, as for any drop. */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
}

/* Arms the timer for the earlier head deadline, or stops it. */
static void
rearm(ev_tstamp now)
{
	struct conn *f = A.l[FRESH].head, *p = A.l[PINGED].head;
	ev_tstamp at;

	if (f == NULL && p == NULL) {
		ev_timer_stop(A.loop, &A.timer);
		return;
	}
	at = f != NULL ? f->alive.heard + A.ping : p->alive.heard + A.hangup;
	if (p != NULL && p->alive.heard + A.hangup < at)
		at = p->alive.heard + A.hangup;
	ev_timer_stop(A.loop, &A.timer);
	ev_timer_set(&A.timer, at > now + 0.001 ? at - now : 0.001, 0.0);
	ev_timer_start(A.loop, &A.timer);
}

static void
on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	ev_tstamp now = ev_now(loop);
	struct conn *c;

	(void)w;
	(void)revents;
	while ((c = A.l[FRESH].head) != NULL && c->alive.heard + A.ping <= now) {
		unlink_conn(c);
		append(c, PINGED);
		ping(c);
	}
	while ((c = A.l[PINGED].head) != NULL &&
	    c->alive.heard + A.hangup <= now) {
		unlink_conn(c);		/* before CLOSED, which may free it */
		hang_up(c);
	}
	rearm(now);
}

void
alive_init(struct ev_loop *loop, double hangup)
{
	memset(&A, 0, sizeof(A));
	A.loop = loop;
	A.hangup = hangup;
	A.ping = hangup / 2;
	ev_init(&A.timer, on_timer);
}

void
alive_add(struct conn *c)
{
	c->alive.heard = ev_now(A.loop);
	append(c, FRESH);
	if (!ev_is_active(&A.timer))
		rearm(c->alive.heard);
}

void
alive_heard(struct conn *c)
{
	if (c->alive.list == 0)
		return;		/* being hung up on */
	c->alive.heard = ev_now(A.loop);
	c->alive.ping_due = 0;
	if (c->alive.list == FRESH && c->alive.next == NULL)
		return;		/* already the tail */
	unlink_conn(c);
	append(c, FRESH);
}

void
alive_remove(struct conn *c)
{
	unlink_conn(c);
	c->alive.ping_due = 0;
}

unsigned long
alive_pings(void)
{
	return A.pings;
}

unsigned long
alive_hangups(void)
{
	return A.hangups;
}

void
alive_stop(void)
{
	if (A.loop != NULL)
		ev_timer_stop(A.loop, &A.timer);
}
