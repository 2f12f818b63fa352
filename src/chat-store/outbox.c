/*
 * outbox: entries of the log of writes waiting for chat-log (outbox.h).
 * Loop thread only.  A list in seq order; acks come nearly in order, so
 * finding one is a short walk from the head.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "ipc.h"
#include "json.h"
#include "log.h"
#include "id.h"
#include "logw.h"
#include "commit.h"
#include "outbox.h"

struct obx {
	struct obx		*next;
	uint64_t		 seq;
	unsigned		 shard;
	char			*line;
	size_t			 len;
	struct store_req	*req;	/* whose answer waits, or NULL */
	ev_tstamp		 at;
};

static struct {
	struct ev_loop		*loop;
	struct store_stats	*stats;
	struct obx		*head, *tail;
	size_t			 n;
	uint64_t		 max_seq;	/* the newest taken */
	uint64_t		 trimmed;	/* L/ keys below are gone */
	int			 trimming;	/* a log.trim is out */
	struct ipc_conn		*follower;
	int			 armed;		/* followed once */
	ev_timer		 timer;
} O;

static void trim(void);

#define STAT(f, v) __atomic_store_n(&O.stats->f, (v), __ATOMIC_RELAXED)
#define BUMP(f) __atomic_add_fetch(&O.stats->f, 1, __ATOMIC_RELAXED)

static void
send_entry(struct obx *e)
{
	char head[256];
	int n;

	if (O.follower == NULL)
		return;
	n = snprintf(head, sizeof(head), "{\"ev\":\"log.entry\",\"seq\":%"
	    PRIu64 ",\"subject\":\"chat.log.%u\",\"msgid\":\"L:%s.%" PRIu64
	    "\",\"entry\":", e->seq, e->shard, logw_conf.origin, e->seq);
	char *line = malloc((size_t)n + e->len + 1);
	if (line == NULL)
		return;		/* sent again on the next follow */
	memcpy(line, head, (size_t)n);
	memcpy(line + n, e->line, e->len);
	line[(size_t)n + e->len] = '}';
	if (ipc_send(O.follower, line, (size_t)n + e->len + 1) == -1) {
		O.follower = NULL;	/* closing */
		STAT(log_following, 0);
	}
	free(line);
}

/* r's answer goes now: with err, as store_unavailable. */
static void
release(struct store_req *r, const char *err)
{
	struct obx *e;

	if (err != NULL) {
		for (e = O.head; e != NULL; e = e->next)
			if (e->req == r)
				e->req = NULL;
		BUMP(log_expired);
		commit_set_error(r, "store_unavailable", err);
	}
	r->held = 0;
	store_reply_ready(r);
}

static void
unlink_entry(struct obx *prev, struct obx *e)
{
	if (prev != NULL)
		prev->next = e->next;
	else
		O.head = e->next;
	if (O.tail == e)
		O.tail = prev;
	O.n--;
	STAT(log_pending, O.n);
	free(e->line);
	free(e);
}

static void
on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct obx *e;
	ev_tstamp now = ev_now(loop);

	(void)w;
	(void)revents;
	for (e = O.head; e != NULL; e = e->next)
		if (e->req != NULL && now - e->at > LOG_HOLD_S) {
			log_warnx("log: entry %" PRIu64 " not in the stream "
			    "after %d s (%s): its op answers store_unavailable",
			    e->seq, LOG_HOLD_S, O.follower ? "chat-log did not "
			    "ack it" : "no chat-log follows");
			release(e->req, "the log of writes did not take it in "
			    "time (chat-log, or the stream, is down); it is "
			    "stored here and goes to the log later");
		}
}

void
outbox_init(struct ev_loop *loop, struct store_stats *stats)
{
	O.loop = loop;
	O.stats = stats;
	ev_timer_init(&O.timer, on_timer, 1.0, 1.0);
	if (logw_conf.on)
		ev_timer_start(loop, &O.timer);
}

void
outbox_stop(void)
{
	if (O.loop != NULL)
		ev_timer_stop(O.loop, &O.timer);
	while (O.head != NULL) {
		if (O.head->req != NULL)
			release(O.head->req, "chat-store is stopping");
		unlink_entry(NULL, O.head);
	}
}

int
outbox_take(struct store_req *r)
{
	struct logw_entry *le;
	struct obx *e;
	int n = 0, dropped = 0;

	for (le = r->log; le != NULL; le = le->next) {
		if (O.n >= OUTBOX_MAX) {
			log_warnx("log: %d entries wait for chat-log: entry %"
			    PRIu64 " dropped, never to reach the stream",
			    OUTBOX_MAX, O.head->seq);
			BUMP(log_dropped);
			if (O.head->req != NULL)
				release(O.head->req, "the log of writes is "
				    "full");
			unlink_entry(NULL, O.head);
			dropped = 1;
		}
		if ((e = calloc(1, sizeof(*e))) == NULL)
			continue;
		e->seq = le->seq;
		if (e->seq > O.max_seq)
			O.max_seq = e->seq;
		e->shard = le->shard;
		e->line = le->line;	/* taken */
		e->len = le->len;
		le->line = NULL;
		e->at = ev_now(O.loop);
		e->req = O.armed ? r : NULL;
		if (O.tail != NULL)
			O.tail->next = e;
		else
			O.head = e;
		O.tail = e;
		O.n++;
		n += O.armed;
		send_entry(e);
	}
	STAT(log_pending, O.n);
	if (dropped)
		trim();		/* its key goes too */
	logw_free(r->log);
	r->log = NULL;
	r->log_wait = n;
	r->held = n > 0;
	return r->held;
}

void
outbox_restore(uint64_t seq, unsigned shard, const char *line, size_t len)
{
	struct obx *e = calloc(1, sizeof(*e));

	if (e == NULL || (e->line = malloc(len)) == NULL) {
		free(e);
		return;
	}
	memcpy(e->line, line, len);
	e->len = len;
	e->seq = seq;
	e->shard = shard;
	if (O.tail != NULL)
		O.tail->next = e;
	else
		O.head = e;
	O.tail = e;
	O.n++;
	if (seq > O.max_seq)
		O.max_seq = seq;
	if (O.trimmed == 0)
		O.trimmed = seq;	/* nothing acked below the first kept */
	STAT(log_pending, O.n);
}

/* The L/ keys of the entries acked go, one log.trim at a time. */
static void
trim(void)
{
	uint64_t below = O.head != NULL ? O.head->seq : O.max_seq + 1;

	if (O.trimming || below <= O.trimmed || O.max_seq == 0)
		return;
	O.trimming = 1;
	store_submit_internal(jv_object_set(jv_object_set(jv_object(),
	    jv_string("op"), jv_string("log.trim")), jv_string("below"),
	    jv_number((double)below)));
}

void
outbox_trimmed(uint64_t below, int more)
{
	O.trimming = 0;
	if (more == -1)
		return;		/* failed: the next ack tries again */
	if (!more && below > O.trimmed)
		O.trimmed = below;
	trim();
}

void
outbox_follow(struct ipc_conn *c, jv id)
{
	struct obx *e;
	jv ok = json_ok(id);

	if (!logw_conf.on) {
		ipc_send_jv(c, json_error(jv_object_get(ok, jv_string("id")),
		    "bad_request", "the log of writes is off (msg_log is not "
		    "jetstream)"));
		return;
	}
	if (O.follower != NULL && O.follower != c)
		log_info("log: %s follows now, not %s", ipc_conn_name(c),
		    ipc_conn_name(O.follower));
	else
		log_info("log: %s follows, %zu entries waiting",
		    ipc_conn_name(c), O.n);
	O.follower = c;
	O.armed = 1;
	STAT(log_following, 1);
	ipc_send_jv(c, jv_object_set(ok, jv_string("origin"),
	    jv_string(logw_conf.origin)));
	for (e = O.head; e != NULL; e = e->next)
		send_entry(e);
}

void
outbox_ack(uint64_t seq)
{
	struct obx *e, *prev = NULL;
	struct store_req *r;

	for (e = O.head; e != NULL && e->seq != seq; e = e->next)
		prev = e;
	if (e == NULL)
		return;		/* acked already (a resend's ack) */
	r = e->req;
	unlink_entry(prev, e);
	BUMP(log_acked);
	if (r != NULL && --r->log_wait == 0)
		release(r, NULL);
	trim();
}

void
outbox_conn_closed(struct ipc_conn *c)
{
	if (O.follower != c)
		return;
	log_warnx("log: %s no longer follows: %zu entries wait",
	    ipc_conn_name(c), O.n);
	O.follower = NULL;
	STAT(log_following, 0);
}
