/*
 * bus: one NATS connection on a libev loop (see bus.h).
 *
 * libnats reads and writes the socket on our loop (bus_ev.c) but runs
 * message handlers on its delivery thread and connection handlers on its
 * callback thread.  Both only queue here, under a mutex, and wake the loop
 * with an ev_async; the loop takes the whole queue at once and calls the
 * program's callbacks.  So a program never sees another thread, and a burst
 * of messages costs one wakeup.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>

#include "bus_int.h"
#include "log.h"

/* One subscription.  Freed at bus_close only: a message for it may still
 * be queued when it is cancelled, so a cancelled one is marked dead. */
struct bus_sub {
	struct bus		*bus;
	natsSubscription	*sub;
	bus_line_fn		*fn;
	bus_raw_fn		*raw;
	bus_msg_fn		*msgfn;
	void			*arg;
	int			 dead;
	struct bus_sub		*next;
};

struct qmsg {
	natsMsg		*m;
	struct bus_sub	*sub;
	struct qmsg	*next;
};

struct bus {
	struct ev_loop	*loop;
	natsOptions	*opts;
	natsConnection	*nc;
	void		*ev;		/* bus_ev.c's state */
	bus_state_fn	*on_state;
	void		*arg;
	ev_async	 wake;
	pthread_mutex_t	 mu;
	pthread_cond_t	 closed_cv;
	int		 closed;	/* under mu: libnats' last callback ran */
	/* under mu: from libnats' threads */
	struct qmsg	*qhead, *qtail;
	int		 want_up, reconnected;
	unsigned long	 dropped;
	/* loop thread only */
	int		 up;
	struct bus_sub	*subs;
	struct bus_client *clients;
	struct bus_stats st;
};

natsConnection *bus_nc(struct bus *b) { return b->nc; }
struct ev_loop *bus_loop(struct bus *b) { return b->loop; }
struct bus_stats *bus_stats_of(struct bus *b) { return &b->st; }
int bus_connected(struct bus *b) { return b->up; }

static void
drain(struct ev_loop *loop, ev_async *w, int revents)
{
	struct bus *b = w->data;
	struct qmsg *q, *next;
	int up, reconnected;

	(void)loop;
	(void)revents;
	pthread_mutex_lock(&b->mu);
	q = b->qhead;
	b->qhead = b->qtail = NULL;
	up = b->want_up;
	reconnected = b->reconnected;
	b->reconnected = 0;
	pthread_mutex_unlock(&b->mu);

	if (reconnected && up && b->up && b->on_state != NULL) {
		/* Down and up again between two passes: whoever keeps state
		 * over the connection must still hear that it broke. */
		b->up = 0;
		b->on_state(b->arg, 0);
	}
	if (up != b->up) {
		b->up = up;
		log_info("bus: %s", up ? "connected" : "disconnected: "
		    "reconnecting");
		if (b->on_state != NULL)
			b->on_state(b->arg, up);
	}
	if (reconnected) {
		b->st.reconnects++;
		for (struct bus_client *c = b->clients; c != NULL;
		    c = bus_client_next(c))
			bus_client_reconnected(c);
	}
	for (; q != NULL; q = next) {
		next = q->next;
		struct bus_sub *s = q->sub;
		if (!s->dead) {
			b->st.in++;
			if (s->raw != NULL)
				s->raw(s->arg, q->m);
			else if (s->msgfn != NULL)
				s->msgfn(s->arg, (struct bus_msg *)q->m);
			else
				s->fn(s->arg, natsMsg_GetSubject(q->m),
				    natsMsg_GetReply(q->m),
				    natsMsg_GetData(q->m),
				    (size_t)natsMsg_GetDataLength(q->m));
		}
		natsMsg_Destroy(q->m);
		free(q);
	}
}

/* libnats' delivery thread. */
static void
on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg)
{
	struct bus_sub *s = arg;
	struct bus *b = s->bus;
	struct qmsg *q = malloc(sizeof(*q));

	(void)nc;
	(void)sub;
	pthread_mutex_lock(&b->mu);
	if (q == NULL) {
		b->dropped++;
		pthread_mutex_unlock(&b->mu);
		natsMsg_Destroy(m);
		return;
	}
	q->m = m;
	q->sub = s;
	q->next = NULL;
	if (b->qtail != NULL)
		b->qtail->next = q;
	else
		b->qhead = q;
	b->qtail = q;
	pthread_mutex_unlock(&b->mu);
	ev_async_send(b->loop, &b->wake);
}

/* libnats' callback thread. */
static void
post_state(struct bus *b, int up, int reconnected)
{
	pthread_mutex_lock(&b->mu);
	b->want_up = up;
	b->reconnected |= reconnected;
	pthread_mutex_unlock(&b->mu);
	ev_async_send(b->loop, &b->wake);
}

static void on_connected(natsConnection *nc, void *a) { (void)nc; post_state(a, 1, 0); }
static void on_reconnected(natsConnection *nc, void *a) { (void)nc; post_state(a, 1, 1); }
static void on_disconnected(natsConnection *nc, void *a) { (void)nc; post_state(a, 0, 0); }

/* The last callback libnats makes for a connection, after any other it
 * had queued: bus_close waits for it before freeing what they touch. */
static void
on_closed(natsConnection *nc, void *a)
{
	struct bus *b = a;

	(void)nc;
	pthread_mutex_lock(&b->mu);
	b->closed = 1;
	pthread_cond_signal(&b->closed_cv);
	pthread_mutex_unlock(&b->mu);
}

static void
on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *a)
{
	struct bus *b = a;

	(void)nc;
	(void)sub;
	pthread_mutex_lock(&b->mu);
	b->dropped++;
	pthread_mutex_unlock(&b->mu);
	if (err != NATS_SLOW_CONSUMER)
		log_warnx("bus: %s", natsStatus_GetText(err));
}

/*
 * The servers of a comma-separated list.  Debian's libnats 3.4.1 accepts
 * such a list in natsOptions_SetURL but then connects to none of them, so
 * the list is split here and given as an array.
 */
static int
set_servers(natsOptions *o, const char *urls)
{
	char *copy = strdup(urls), *save = NULL, *tok;
	const char *list[32];
	int n = 0, rc;

	if (copy == NULL)
		return -1;
	for (tok = strtok_r(copy, ", ", &save); tok != NULL && n < 32;
	    tok = strtok_r(NULL, ", ", &save))
		list[n++] = tok;
	rc = n > 0 && natsOptions_SetServers(o, list, n) == NATS_OK ? 0 : -1;
	free(copy);
	return rc;
}

static int
set_options(struct bus *b, const char *urls, const char *name)
{
	natsOptions *o = b->opts;

	/* Keep trying forever, every 250 ms, as lib/ipc.h does. */
	return set_servers(o, urls) == -1 ||
	    natsOptions_SetName(o, name) != NATS_OK ||
	    natsOptions_SetMaxReconnect(o, -1) != NATS_OK ||
	    natsOptions_SetReconnectWait(o, 250) != NATS_OK ||
	    natsOptions_SetReconnectJitter(o, 100, 100) != NATS_OK ||
	    natsOptions_SetPingInterval(o, 2000) != NATS_OK ||
	    natsOptions_SetMaxPingsOut(o, 2) != NATS_OK ||
	    natsOptions_SetTimeout(o, 2000) != NATS_OK ||
	    natsOptions_SetReconnectBufSize(o, 8 * 1024 * 1024) != NATS_OK ||
	    natsOptions_UseGlobalMessageDelivery(o, true) != NATS_OK ||
	    /* Without it libnats' flusher thread waits 1 ms to gather
	     * publishes; our loop gathers them itself, one write per pass. */
	    natsOptions_SetSendAsap(o, true) != NATS_OK ||
	    natsOptions_SetRetryOnFailedConnect(o, true, on_connected, b) !=
	    NATS_OK ||
	    natsOptions_SetReconnectedCB(o, on_reconnected, b) != NATS_OK ||
	    natsOptions_SetDisconnectedCB(o, on_disconnected, b) != NATS_OK ||
	    natsOptions_SetClosedCB(o, on_closed, b) != NATS_OK ||
	    natsOptions_SetErrorHandler(o, on_error, b) != NATS_OK ? -1 : 0;
}

struct bus *
bus_open(struct ev_loop *loop, const char *urls, const char *name,
    bus_state_fn *on_state, void *arg, char *err, size_t errlen)
{
	struct bus *b = calloc(1, sizeof(*b));
	natsStatus s;

	if (b == NULL || nats_Open(-1) != NATS_OK) {
		snprintf(err, errlen, "bus: out of memory");
		free(b);
		return NULL;
	}
	b->loop = loop;
	b->on_state = on_state;
	b->arg = arg;
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->closed_cv, NULL);
	ev_async_init(&b->wake, drain);
	b->wake.data = b;
	ev_async_start(loop, &b->wake);
	ev_unref(loop);		/* the bus alone does not keep a loop alive */
	if (natsOptions_Create(&b->opts) != NATS_OK ||
	    set_options(b, urls, name) == -1 ||
	    (b->ev = bus_ev_attach(b->opts, loop)) == NULL) {
		snprintf(err, errlen, "bus: bad servers '%s': %s", urls,
		    nats_GetLastError(NULL));
		bus_close(b);
		return NULL;
	}
	s = natsConnection_Connect(&b->nc, b->opts);
	if (s == NATS_OK)
		post_state(b, 1, 0);
	else if (s != NATS_NOT_YET_CONNECTED) {
		snprintf(err, errlen, "bus: '%s': %s", urls,
		    nats_GetLastError(NULL));
		bus_close(b);
		return NULL;
	} else
		log_info("bus: no server of '%s' answers yet (%s): trying",
		    urls, nats_GetLastError(NULL));
	return b;
}

static void
wait_closed(struct bus *b)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&b->mu);
	while (!b->closed && pthread_cond_timedwait(&b->closed_cv, &b->mu,
	    &until) == 0)
		;
	if (!b->closed)
		log_warnx("bus: libnats did not report the close in 5 s");
	pthread_mutex_unlock(&b->mu);
}

void
bus_close(struct bus *b)
{
	struct qmsg *q;

	if (b == NULL)
		return;
	while (b->clients != NULL)
		bus_client_free(b->clients);	/* unlinks itself */
	if (b->nc != NULL) {
		natsConnection_Close(b->nc);
		wait_closed(b);
		natsConnection_Destroy(b->nc);
	}
	for (struct bus_sub *s = b->subs, *n; s != NULL; s = n) {
		n = s->next;
		natsSubscription_Destroy(s->sub);
		free(s);
	}
	while ((q = b->qhead) != NULL) {
		b->qhead = q->next;
		natsMsg_Destroy(q->m);
		free(q);
	}
	bus_ev_free(b->ev);
	natsOptions_Destroy(b->opts);
	ev_ref(b->loop);
	ev_async_stop(b->loop, &b->wake);
	pthread_cond_destroy(&b->closed_cv);
	pthread_mutex_destroy(&b->mu);
	free(b);
}

struct bus_sub *
bus_sub_new(struct bus *b, const char *subject, const char *queue,
    bus_line_fn *fn, bus_raw_fn *raw, void *arg, char *err, size_t errlen)
{
	struct bus_sub *s = calloc(1, sizeof(*s));
	natsStatus st;

	if (s == NULL) {
		snprintf(err, errlen, "bus: out of memory");
		return NULL;
	}
	s->bus = b;
	s->fn = fn;
	s->raw = raw;
	s->arg = arg;
	if (queue != NULL)
		st = natsConnection_QueueSubscribe(&s->sub, b->nc, subject,
		    queue, on_msg, s);
	else
		st = natsConnection_Subscribe(&s->sub, b->nc, subject, on_msg,
		    s);
	if (st != NATS_OK) {
		snprintf(err, errlen, "bus: subscribing to '%s': %s", subject,
		    nats_GetLastError(NULL));
		free(s);
		return NULL;
	}
	/* A daemon's burst must not be dropped as a "slow consumer" at
	 * libnats' default of 65,536 messages: the loop takes them all. */
	natsSubscription_SetPendingLimits(s->sub, 4 * 1024 * 1024,
	    1024 * 1024 * 1024);
	s->next = b->subs;
	b->subs = s;
	return s;
}

void
bus_sub_cancel(struct bus_sub *s)
{
	if (s == NULL || s->dead)
		return;
	s->dead = 1;
	natsSubscription_Unsubscribe(s->sub);
}

int
bus_serve(struct bus *b, const char *subject, const char *queue,
    bus_line_fn *fn, void *arg, char *err, size_t errlen)
{
	return bus_sub_new(b, subject, queue, fn, NULL, arg, err, errlen) ==
	    NULL ? -1 : 0;
}

int
bus_publish(struct bus *b, const char *subject, const char *reply,
    const char *line, size_t len)
{
	natsStatus s;

	if (reply != NULL)
		s = natsConnection_PublishRequest(b->nc, subject, reply, line,
		    (int)len);
	else
		s = natsConnection_Publish(b->nc, subject, line, (int)len);
	if (s != NATS_OK)
		return -1;
	b->st.out++;
	return 0;
}

void
bus_get_stats(struct bus *b, struct bus_stats *st)
{
	*st = b->st;
	pthread_mutex_lock(&b->mu);
	st->dropped = b->dropped;
	pthread_mutex_unlock(&b->mu);
}

void
bus_add_client(struct bus *b, struct bus_client *cl)
{
	bus_client_set_next(cl, b->clients);
	b->clients = cl;
}

void
bus_del_client(struct bus *b, struct bus_client *cl)
{
	struct bus_client **pp = &b->clients;

	while (*pp != NULL && *pp != cl)
		pp = bus_client_next_ptr(*pp);
	if (*pp == cl)
		*pp = bus_client_next(cl);
}

/* A struct bus_msg is the natsMsg itself, opaque to programs. */
#define NM(m)	((natsMsg *)(void *)(m))

const char *bus_msg_subject(struct bus_msg *m) { return natsMsg_GetSubject(NM(m)); }
const char *bus_msg_reply(struct bus_msg *m) { return natsMsg_GetReply(NM(m)); }
int bus_msg_no_responders(struct bus_msg *m) { return natsMsg_IsNoResponders(NM(m)); }

const char *
bus_msg_data(struct bus_msg *m, size_t *len)
{
	*len = (size_t)natsMsg_GetDataLength(NM(m));
	return natsMsg_GetData(NM(m));
}

const char *
bus_msg_header(struct bus_msg *m, const char *key)
{
	const char *v = NULL;

	return natsMsgHeader_Get(NM(m), key, &v) == NATS_OK ? v : NULL;
}

struct bus_sub *
bus_subscribe(struct bus *b, const char *subject, const char *queue,
    bus_msg_fn *fn, void *arg, char *err, size_t errlen)
{
	struct bus_sub *s = bus_sub_new(b, subject, queue, NULL, NULL, arg,
	    err, errlen);

	if (s != NULL)
		s->msgfn = fn;	/* nothing is delivered before the loop runs */
	return s;
}

void
bus_unsubscribe(struct bus_sub *s)
{
	bus_sub_cancel(s);
}

int
bus_publish_hdr(struct bus *b, const char *subject, const char *reply,
    const char *k1, const char *v1, const char *k2, const char *v2,
    const char *data, size_t len)
{
	natsMsg *m = NULL;
	natsStatus s;

	if (natsMsg_Create(&m, subject, reply, data, (int)len) != NATS_OK)
		return -1;
	s = NATS_OK;
	if (k1 != NULL)
		s = natsMsgHeader_Set(m, k1, v1);
	if (s == NATS_OK && k1 != NULL && k2 != NULL)
		s = natsMsgHeader_Set(m, k2, v2);
	if (s == NATS_OK)
		s = natsConnection_PublishMsg(b->nc, m);
	natsMsg_Destroy(m);
	if (s != NATS_OK)
		return -1;
	b->st.out++;
	return 0;
}

int
bus_new_inbox(char *buf, size_t len)
{
	natsInbox *in = NULL;
	int n;

	if (natsInbox_Create(&in) != NATS_OK)
		return -1;
	n = snprintf(buf, len, "%s", in);
	natsInbox_Destroy(in);
	return n > 0 && (size_t)n < len ? 0 : -1;
}

size_t
bus_max_payload(struct bus *b)
{
	int64_t n = natsConnection_GetMaxPayload(b->nc);

	return n > 0 ? (size_t)n : 1024 * 1024;
}
