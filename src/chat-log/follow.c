/*
 * follow: chat-log carries its store's log of writes to the stream
 * (chat-store(1), "THE LOG OF WRITES"; chat-scaling(7), "Durability").
 *
 *   store --log.entry {seq, subject, msgid, entry}--> follow
 *   follow --entry, Nats-Msg-Id msgid--> chat.log.<shard> (CHAT_LOG)
 *   follow <--PubAck--
 *   store <--log.ack {seq}-- follow        (the op's answer goes now)
 *
 * A connection of its own to the store (apply.c's carries the entries the
 * other way), which asks log.follow each time it (re)connects; the store
 * then sends every entry not acked yet, and each new one.  Each shard's
 * entries go to the stream one at a time, the next after the PubAck of
 * the one before, so the stream holds them in the order the store made
 * them; a resend (after a reconnect, ours or the store's) carries the
 * same Nats-Msg-Id and JetStream's duplicate window keeps one copy.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "bus.h"
#include "conf.h"
#include "ipc.h"
#include "jflat.h"
#include "json.h"
#include "log.h"
#include "shard.h"
#include "chat-log.h"

#define RETRY_S		1.0

struct fent {
	struct fent	*next;
	uint64_t	 seq;
	char		*data;
	size_t		 len;
	char		 msgid[96];
};

/* One shard's entries, in order; the head is in the stream's hands. */
struct fq {
	struct fent	*head, *tail;
	int		 busy;		/* the head is out */
	struct bus_client *pub;
	unsigned	 shard;
	ev_timer	 retry;
};

static struct {
	struct ev_loop	*loop;
	struct bus	*bus;
	struct ipc_client *store;
	struct fq	*q[SHARD_MAX];
	int		 following, off;
	unsigned long	 entries, published, failed;
} F;

static void send_head(struct fq *q);

static void
fent_free(struct fent *e)
{
	free(e->data);
	free(e);
}

static void
on_puback(void *arg, jv r)
{
	struct fq *q = arg;
	struct fent *e = q->head;
	jv err = jv_object_get(jv_copy(r), jv_string("error"));
	char ack[64];
	int n;

	q->busy = 0;
	if (jv_get_kind(err) == JV_KIND_OBJECT || !json_has(r, "seq")) {
		F.failed++;
		log_warnx("log entry %" PRIu64 " of the store not taken by "
		    "chat.log.%u (%s): again in 1 s", e->seq, q->shard,
		    jv_get_kind(err) == JV_KIND_OBJECT ? json_str(err,
		    "description", NULL) ?: "an error" : "no PubAck");
		ev_timer_stop(F.loop, &q->retry);
		ev_timer_set(&q->retry, RETRY_S, 0);
		ev_timer_start(F.loop, &q->retry);
	} else {
		F.published++;
		n = snprintf(ack, sizeof(ack), "{\"op\":\"log.ack\",\"seq\":%"
		    PRIu64 "}", e->seq);
		/* lost if the store went: it sends the entry again */
		ipc_client_send_line(F.store, ack, (size_t)n);
		if ((q->head = e->next) == NULL)
			q->tail = NULL;
		fent_free(e);
		send_head(q);
	}
	jv_free(err);
	jv_free(r);
}

static void
on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	send_head(w->data);
}

static void
send_head(struct fq *q)
{
	struct fent *e = q->head;

	if (e == NULL || q->busy)
		return;
	/* no timeout: resent every second until the stream takes it */
	if (bus_call_msgid(q->pub, e->data, e->len, e->msgid, 0, on_puback,
	    q) == 0)
		q->busy = 1;
}

static struct fq *
queue_of(unsigned shard)
{
	char subj[32];
	struct fq *q = F.q[shard];

	if (q != NULL)
		return q;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	snprintf(subj, sizeof(subj), "chat.log.%u", shard);
	if ((q->pub = bus_client_new(F.bus, subj, 1000)) == NULL) {
		free(q);
		return NULL;
	}
	q->shard = shard;
	ev_init(&q->retry, on_retry);
	q->retry.data = q;
	return F.q[shard] = q;
}

/* {"ev":"log.entry","seq","subject":"chat.log.<n>","msgid","entry"} */
static void
on_event(void *arg, jv ev, const char *line, size_t len)
{
	struct jflat f;
	const struct jflat_val *entry;
	char subj[32];
	int64_t seq;
	unsigned long shard;
	char *end;
	struct fent *e;
	struct fq *q;

	(void)arg;
	jv_free(ev);
	if (jflat_parse(&f, line, len) == -1 || (entry = jflat_get(&f,
	    "entry")) == NULL || jflat_int(&f, "seq", &seq) != 1 ||
	    jflat_strcpy(&f, "subject", subj, sizeof(subj)) == -1 ||
	    strncmp(subj, "chat.log.", 9) != 0)
		return;		/* not ours */
	shard = strtoul(subj + 9, &end, 10);
	if (*end != '\0' || end == subj + 9 || shard >= SHARD_MAX ||
	    (q = queue_of((unsigned)shard)) == NULL ||
	    (e = calloc(1, sizeof(*e))) == NULL)
		return;		/* not acked: the store's answer says so */
	if (jflat_strcpy(&f, "msgid", e->msgid, sizeof(e->msgid)) == -1 ||
	    (e->data = malloc(entry->len)) == NULL) {
		free(e);
		return;
	}
	memcpy(e->data, entry->p, entry->len);
	e->len = entry->len;
	e->seq = (uint64_t)seq;
	F.entries++;
	if (q->tail != NULL)
		q->tail->next = e;
	else
		q->head = e;
	q->tail = e;
	send_head(q);
}

static void
on_followed(void *arg, jv r)
{
	(void)arg;
	if (json_bool(r, "ok", 0)) {
		F.following = 1;
		log_info("following chat-store's log of writes (origin %s)",
		    json_str(r, "origin", NULL) ?: "?");
	} else if (!F.off) {
		/* the store's log is off (no msg_log): nothing to carry */
		F.off = 1;
		log_warnx("chat-store does not log its writes: %s",
		    json_str(r, "error", NULL) ?: "an error");
	}
	jv_free(r);
}

/* The store (re)connected: it sends every entry not acked again, so
 * what waits here unsent goes (a head already out is answered). */
static void
on_connect(void *arg)
{
	unsigned i;
	struct fent *e, *next;

	(void)arg;
	F.following = 0;
	for (i = 0; i < SHARD_MAX; i++) {
		struct fq *q = F.q[i];
		if (q == NULL || q->head == NULL)
			continue;
		for (e = q->busy ? q->head->next : q->head; e != NULL; e = next) {
			next = e->next;
			fent_free(e);
		}
		if (q->busy) {
			q->head->next = NULL;
			q->tail = q->head;
		} else
			q->head = q->tail = NULL;
	}
	ipc_call(F.store, jv_object_set(jv_object(), jv_string("op"),
	    jv_string("log.follow")), 5000, on_followed, NULL);
}

int
follow_start(struct ev_loop *loop, struct bus *bus, char *err,
    size_t errlen)
{
	char path[512];

	F.loop = loop;
	F.bus = bus;
	F.store = ipc_client_new(loop, conf_sock_path("store", path,
	    sizeof(path)), on_event, on_connect, NULL);
	if (F.store == NULL) {
		snprintf(err, errlen, "socket path '%s' is too long", path);
		return -1;
	}
	return 0;
}

void
follow_stop(void)
{
	unsigned i;
	struct fent *e;

	for (i = 0; i < SHARD_MAX; i++) {
		struct fq *q = F.q[i];
		if (q == NULL)
			continue;
		ev_timer_stop(F.loop, &q->retry);
		while ((e = q->head) != NULL) {
			q->head = e->next;
			fent_free(e);
		}
		free(q);	/* its bus_client goes with the bus */
		F.q[i] = NULL;
	}
	if (F.store != NULL) {
		ipc_client_cancel_all(F.store);
		ipc_client_free(F.store);
	}
}

jv
follow_status(jv r)
{
	size_t waiting = 0;
	unsigned i;
	struct fent *e;

	for (i = 0; i < SHARD_MAX; i++)
		for (e = F.q[i] ? F.q[i]->head : NULL; e; e = e->next)
			waiting++;
#define N(k, v) r = jv_object_set(r, jv_string(k), jv_number((double)(v)))
	r = jv_object_set(r, jv_string("following"), jv_bool(F.following));
	N("log_entries", F.entries);
	N("log_published", F.published);
	N("log_failed", F.failed);
	N("log_waiting", waiting);
#undef N
	return r;
}
