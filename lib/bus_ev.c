/*
 * bus_ev: libnats on a libev loop.  Debian's libnats-dev ships adapters for
 * libevent and libuv only; this is the one our daemons need, written
 * against the four callbacks of natsOptions_SetEventLoop.
 *
 * libnats calls them from several threads: the loop's own (reading and
 * writing, and an error found while reading), its reconnect thread (attach
 * with the new socket), its timers (a PING wants the write event).  libev
 * watchers may only be touched on the loop thread, so each callback records
 * the state it wants (socket, read on/off, write on/off) under a mutex, and
 * the loop applies it: at once when the call came on the loop thread, else
 * after an ev_async wakes it.  Only the latest state matters, so nothing is
 * queued and no order can be lost.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include <ev.h>
#include <nats/nats.h>

#include "bus_int.h"

struct bus_ev {
	struct ev_loop	*loop;
	natsConnection	*nc;
	pthread_t	 loop_thread;
	pthread_mutex_t	 mu;
	ev_async	 wake;
	ev_io		 rd, wr;
	int		 fd;		/* watched now (-1: none) */
	/* wanted, under mu */
	int		 want_fd, want_rd, want_wr, detached;
};

/* Makes the watchers match the wanted state; on the loop thread only. */
static void
apply(struct bus_ev *e)
{
	int fd, rd, wr, detached;

	pthread_mutex_lock(&e->mu);
	fd = e->want_fd;
	rd = e->want_rd;
	wr = e->want_wr;
	detached = e->detached;
	pthread_mutex_unlock(&e->mu);
	if (detached)
		fd = -1, rd = wr = 0;
	if (fd != e->fd) {
		ev_io_stop(e->loop, &e->rd);
		ev_io_stop(e->loop, &e->wr);
		e->fd = fd;
		if (fd >= 0) {
			ev_io_set(&e->rd, fd, EV_READ);
			ev_io_set(&e->wr, fd, EV_WRITE);
		}
	}
	if (fd < 0)
		return;
	if (rd && !ev_is_active(&e->rd))
		ev_io_start(e->loop, &e->rd);
	else if (!rd && ev_is_active(&e->rd))
		ev_io_stop(e->loop, &e->rd);
	if (wr && !ev_is_active(&e->wr))
		ev_io_start(e->loop, &e->wr);
	else if (!wr && ev_is_active(&e->wr))
		ev_io_stop(e->loop, &e->wr);
}

static void
changed(struct bus_ev *e)
{
	if (pthread_equal(pthread_self(), e->loop_thread))
		apply(e);
	else
		ev_async_send(e->loop, &e->wake);
}

static void
on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)loop;
	(void)revents;
	apply(w->data);
}

static void
on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct bus_ev *e = w->data;

	(void)loop;
	(void)revents;
	natsConnection_ProcessReadEvent(e->nc);
}

static void
on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct bus_ev *e = w->data;

	(void)loop;
	(void)revents;
	natsConnection_ProcessWriteEvent(e->nc);
}

/*
 * Called after every (re)connect, with the new socket: from
 * natsConnection_Connect on the loop thread, or from libnats' reconnect
 * thread.  *user is libnats' slot for the adapter's state, NULL the first
 * time: the state was made before connecting and given to libnats as the
 * "loop" pointer, so it goes into the slot then.
 */
static natsStatus
ev_attach(void **user, void *loop, natsConnection *nc, natsSock fd)
{
	struct bus_ev *e;

	if (*user == NULL)
		*user = loop;
	e = *user;
	pthread_mutex_lock(&e->mu);
	e->nc = nc;
	e->want_fd = fd;
	e->want_rd = 1;
	e->want_wr = 0;
	e->detached = 0;
	pthread_mutex_unlock(&e->mu);
	changed(e);
	return NATS_OK;
}

static natsStatus
ev_read(void *user, bool add)
{
	struct bus_ev *e = user;

	pthread_mutex_lock(&e->mu);
	e->want_rd = add;
	pthread_mutex_unlock(&e->mu);
	changed(e);
	return NATS_OK;
}

static natsStatus
ev_write(void *user, bool add)
{
	struct bus_ev *e = user;

	pthread_mutex_lock(&e->mu);
	e->want_wr = add;
	pthread_mutex_unlock(&e->mu);
	changed(e);
	return NATS_OK;
}

/* The connection is closed for good; bus_ev_free releases e. */
static natsStatus
ev_detach(void *user)
{
	struct bus_ev *e = user;

	pthread_mutex_lock(&e->mu);
	e->detached = 1;
	pthread_mutex_unlock(&e->mu);
	changed(e);
	return NATS_OK;
}

static struct bus_ev *
bus_ev_new(struct ev_loop *loop)
{
	struct bus_ev *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return NULL;
	e->loop = loop;
	e->loop_thread = pthread_self();
	e->fd = e->want_fd = -1;
	pthread_mutex_init(&e->mu, NULL);
	ev_async_init(&e->wake, on_wake);
	e->wake.data = e;
	ev_async_start(loop, &e->wake);
	ev_init(&e->rd, on_read);
	ev_init(&e->wr, on_write);
	e->rd.data = e->wr.data = e;
	/* The adapter's own watcher must not keep a loop alive that has
	 * nothing else to do. */
	ev_unref(loop);
	return e;
}

void
bus_ev_free(void *ev)
{
	struct bus_ev *e = ev;

	if (e == NULL)
		return;
	ev_io_stop(e->loop, &e->rd);
	ev_io_stop(e->loop, &e->wr);
	ev_ref(e->loop);
	ev_async_stop(e->loop, &e->wake);
	pthread_mutex_destroy(&e->mu);
	free(e);
}

void *
bus_ev_attach(natsOptions *opts, struct ev_loop *loop)
{
	struct bus_ev *e = bus_ev_new(loop);

	if (e == NULL)
		return NULL;
	if (natsOptions_SetEventLoop(opts, e, ev_attach, ev_read, ev_write,
	    ev_detach) != NATS_OK) {
		bus_ev_free(e);
		return NULL;
	}
	return e;
}
