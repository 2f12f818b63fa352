/*
 * bus_call: requests over NATS with lib/ipc.h's promise (see bus.h).
 *
 * Each client subscribes once to a wildcard of its own inbox and sends
 * request n with reply subject <inbox>.<n>, so a reply, and NATS' "no
 * responders" status (which has no body to carry an id), are matched by
 * their subject.  The request's "id" is n too, so the reply line reads as
 * it would on a socket.
 *
 * A request stays pending, in the order made, until answered.  It is
 * published again: after a reconnect (a reply may have been lost with the
 * old connection), after "no responders" (the service is restarting; 50 ms
 * doubling to 2 s), and after resend_ms without a reply (the responder
 * died holding it).  The first reply wins; later ones find nothing pending.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "bus_int.h"
#include "json.h"
#include "log.h"

#define NBUCKETS	4096
#define BACKOFF_MIN	50
#define BACKOFF_MAX	2000

struct breq {
	struct bus_client *cl;
	uint64_t	 seq;
	char		*line;
	size_t		 len;
	char		*msgid;		/* Nats-Msg-Id header, or NULL */
	bus_reply_fn	*cb;
	void		*cbarg;
	ev_timer	 tm;
	ev_tstamp	 deadline;	/* 0: none */
	int		 backoff;	/* ms, after "no responders" */
	struct breq	*prev, *next;	/* the client's order */
	struct breq	*hnext;		/* its bucket */
};

struct bus_client {
	struct bus	*bus;
	char		 subject[256];
	char		 inbox[128];
	struct bus_sub	*sub;
	int		 resend_ms;
	uint64_t	 seq;
	size_t		 n;
	struct breq	*head, *tail;
	struct breq	*buckets[NBUCKETS];
	struct bus_client *next;
};

struct bus_client *bus_client_next(struct bus_client *cl) { return cl->next; }
struct bus_client **bus_client_next_ptr(struct bus_client *cl) { return &cl->next; }
void bus_client_set_next(struct bus_client *cl, struct bus_client *n) { cl->next = n; }
size_t bus_client_pending(struct bus_client *cl) { return cl->n; }

static struct breq *
find(struct bus_client *cl, uint64_t seq)
{
	struct breq *r = cl->buckets[seq % NBUCKETS];

	while (r != NULL && r->seq != seq)
		r = r->hnext;
	return r;
}

/* Unlinks r from its client and stops its timer; r is then the caller's. */
static void
unlink_req(struct breq *r)
{
	struct bus_client *cl = r->cl;
	struct breq **pp = &cl->buckets[r->seq % NBUCKETS];

	while (*pp != r)
		pp = &(*pp)->hnext;
	*pp = r->hnext;
	if (r->prev)
		r->prev->next = r->next;
	else
		cl->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		cl->tail = r->prev;
	cl->n--;
	ev_timer_stop(bus_loop(cl->bus), &r->tm);
}

static void
free_req(struct breq *r)
{
	free(r->line);
	free(r->msgid);
	free(r);
}

/* Publishes r and arms its timer for after ms (or its deadline). */
static void
send_req(struct breq *r, int ms)
{
	struct bus_client *cl = r->cl;
	struct ev_loop *loop = bus_loop(cl->bus);
	char reply[160];
	ev_tstamp after = ms / 1000.0;

	snprintf(reply, sizeof(reply), "%s.%" PRIu64, cl->inbox, r->seq);
	if ((r->msgid != NULL ? bus_publish_hdr(cl->bus, cl->subject, reply,
	    "Nats-Msg-Id", r->msgid, NULL, NULL, r->line, r->len) :
	    bus_publish(cl->bus, cl->subject, reply, r->line, r->len)) == -1)
		log_debug("bus: '%s': request %" PRIu64 " not sent yet",
		    cl->subject, r->seq);
	if (r->deadline > 0 && ev_now(loop) + after > r->deadline)
		after = r->deadline - ev_now(loop);
	ev_timer_stop(loop, &r->tm);
	ev_timer_set(&r->tm, after > 0 ? after : 0, 0);
	ev_timer_start(loop, &r->tm);
}

static void
on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct breq *r = w->data;
	struct bus_stats *st = bus_stats_of(r->cl->bus);

	(void)revents;
	if (r->deadline > 0 && ev_now(loop) >= r->deadline - 0.0005) {
		char msg[320];
		jv id = jv_number((double)r->seq);
		snprintf(msg, sizeof(msg), "no reply from '%s' in time",
		    r->cl->subject);
		unlink_req(r);
		st->timeouts++;
		r->cb(r->cbarg, json_error(id, "unavailable", msg));
		free_req(r);
		return;
	}
	if (!bus_connected(r->cl->bus)) {
		/* Everything pending goes again on reconnect. */
		send_req(r, r->cl->resend_ms);
		return;
	}
	st->resends++;
	send_req(r, r->cl->resend_ms);
}

/* A message on our inbox wildcard: a reply or "no responders". */
static void
on_reply(void *arg, natsMsg *m)
{
	struct bus_client *cl = arg;
	struct bus_stats *st = bus_stats_of(cl->bus);
	const char *subj = natsMsg_GetSubject(m), *dot = strrchr(subj, '.');
	char err[200];
	struct breq *r;
	jv v;

	if (dot == NULL || (r = find(cl, strtoull(dot + 1, NULL, 10))) ==
	    NULL)
		return;			/* answered already, or timed out */
	if (natsMsg_IsNoResponders(m)) {
		st->no_responders++;
		r->backoff = r->backoff ? r->backoff * 2 : BACKOFF_MIN;
		if (r->backoff > BACKOFF_MAX)
			r->backoff = BACKOFF_MAX;
		ev_timer_stop(bus_loop(cl->bus), &r->tm);
		ev_timer_set(&r->tm, r->backoff / 1000.0, 0);
		ev_timer_start(bus_loop(cl->bus), &r->tm);
		return;
	}
	v = json_parse_object(natsMsg_GetData(m),
	    (size_t)natsMsg_GetDataLength(m), err, sizeof(err));
	if (!jv_is_valid(v)) {
		log_warnx("bus: '%s': a reply that is not JSON (%s): waiting "
		    "for another", cl->subject, err);
		jv_free(v);
		return;
	}
	unlink_req(r);
	st->replies++;
	r->cb(r->cbarg, v);
	free_req(r);
}

struct bus_client *
bus_client_new(struct bus *b, const char *subject, int resend_ms)
{
	struct bus_client *cl = calloc(1, sizeof(*cl));
	natsInbox *inbox = NULL;
	char wild[160], err[256];

	if (cl == NULL)
		return NULL;
	cl->bus = b;
	cl->resend_ms = resend_ms > 0 ? resend_ms : 5000;
	if (snprintf(cl->subject, sizeof(cl->subject), "%s", subject) >=
	    (int)sizeof(cl->subject) || natsInbox_Create(&inbox) != NATS_OK) {
		free(cl);
		return NULL;
	}
	snprintf(cl->inbox, sizeof(cl->inbox), "%s", inbox);
	natsInbox_Destroy(inbox);
	snprintf(wild, sizeof(wild), "%s.*", cl->inbox);
	if ((cl->sub = bus_sub_new(b, wild, NULL, NULL, on_reply, cl, err,
	    sizeof(err))) == NULL) {
		log_warnx("%s", err);
		free(cl);
		return NULL;
	}
	bus_add_client(b, cl);
	return cl;
}

void
bus_client_free(struct bus_client *cl)
{
	struct breq *r;

	if (cl == NULL)
		return;
	while ((r = cl->head) != NULL) {
		unlink_req(r);
		free_req(r);
	}
	bus_sub_cancel(cl->sub);
	bus_del_client(cl->bus, cl);
	free(cl);
}

/* Links r (line set) into cl's pending requests and sends it. */
static void
enqueue(struct bus_client *cl, struct breq *r, int timeout_ms)
{
	if (timeout_ms > 0)
		r->deadline = ev_now(bus_loop(cl->bus)) + timeout_ms / 1000.0;
	ev_init(&r->tm, on_timer);
	r->tm.data = r;
	r->hnext = cl->buckets[r->seq % NBUCKETS];
	cl->buckets[r->seq % NBUCKETS] = r;
	r->prev = cl->tail;
	if (cl->tail)
		cl->tail->next = r;
	else
		cl->head = r;
	cl->tail = r;
	cl->n++;
	bus_stats_of(cl->bus)->requests++;
	send_req(r, cl->resend_ms);
}

int
bus_call(struct bus_client *cl, jv req, int timeout_ms, bus_reply_fn *cb,
    void *cbarg)
{
	struct breq *r;

	if (jv_get_kind(req) != JV_KIND_OBJECT) {
		jv_free(req);
		return -1;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		jv_free(req);
		cb(cbarg, json_error(jv_null(), "unavailable", "out of memory"));
		return 0;
	}
	r->cl = cl;
	r->seq = ++cl->seq;
	r->cb = cb;
	r->cbarg = cbarg;
	req = jv_object_set(req, jv_string("id"), jv_number((double)r->seq));
	if ((r->line = json_dump(req, &r->len)) == NULL) {
		free(r);
		cb(cbarg, json_error(jv_number((double)cl->seq), "unavailable",
		    "out of memory"));
		return 0;
	}
	enqueue(cl, r, timeout_ms);
	return 0;
}

int
bus_call_msgid(struct bus_client *cl, const char *data, size_t len,
    const char *msgid, int timeout_ms, bus_reply_fn *cb, void *cbarg)
{
	struct breq *r = calloc(1, sizeof(*r));

	if (r == NULL || (r->line = malloc(len ? len : 1)) == NULL ||
	    (msgid != NULL && (r->msgid = strdup(msgid)) == NULL)) {
		if (r != NULL)
			free_req(r);
		return -1;
	}
	memcpy(r->line, data, len);
	r->len = len;
	r->cl = cl;
	r->seq = ++cl->seq;
	r->cb = cb;
	r->cbarg = cbarg;
	enqueue(cl, r, timeout_ms);
	return 0;
}

void
bus_client_reconnected(struct bus_client *cl)
{
	for (struct breq *r = cl->head; r != NULL; r = r->next) {
		bus_stats_of(cl->bus)->resends++;
		send_req(r, cl->resend_ms);
	}
}
