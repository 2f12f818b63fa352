/*
 * jslog: the message log on JetStream (chat-scaling(7), "Durability"),
 * with the config key msg_log = jetstream and bus set.
 *
 *   route --msg.append--> chat-store   (recipients resolved, id, ts, dedupe)
 *   route --entry--> chat.log.<shard>  (stream CHAT_LOG, 3 replicas,
 *                                       Nats-Msg-Id user/device/cid)
 *   route <--PubAck--                  (a majority of the 3 holds it)
 *   chatd <--ack--, deliveries         (only now)
 *
 * The entry is the msg.append line itself, with the store's id, ts and
 * recipients in it, so a store applying the stream (chat-log(1)) writes the
 * very same message, by the same op, without reading users or groups.  A
 * resend, ours after a timeout or chatd's after a crash (the store then
 * answers dup and the same id), carries the same Nats-Msg-Id: JetStream's
 * duplicate window keeps one entry, and the applier's msg.append dedupes
 * past the window.  While the stream cannot answer (no quorum) the entry is
 * sent again every second; after JSLOG_TIMEOUT_MS the send fails with
 * "unavailable" and is never acked: the device retries its cid.
 *
 * The shard of an entry is its conversation's (lib/shard.h: FNV-1a of
 * d/{a}/{b} or g/{gid} modulo log_shards), so each store shard's chat-log
 * applies its own subject only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "conf.h"
#include "jflat.h"
#include "json.h"
#include "log.h"
#include "shard.h"
#include "route.h"

#define JSLOG_STREAM	"CHAT_LOG"
#define JSLOG_REPLICAS	3
#define JSLOG_RESEND_MS	1000
#define JSLOG_TIMEOUT_MS 10000

struct jsput {
	jslog_done_fn	*done;
	void		*arg;
	char		*reply;		/* the store's reply line, kept */
	size_t		 len;
	int		 answered;	/* the stream answered (or gave up) */
	int		 failed;	/* then: why in err */
	char		 err[200];
	struct jsput	*next;		/* the order of the puts */
};

static struct {
	struct bus	*bus;
	struct bus_client **pub, *admin;	/* pub[shard] */
	unsigned	 nshards;
	struct jsput	*head, *tail;	/* puts in the order made */
	unsigned long	 puts, acked, dups, failed;
	struct buf	 line;		/* the entry being built, reused */
} J;

int
jslog_on(void)
{
	return J.bus != NULL;
}

static void
on_state(void *arg, int up)
{
	(void)arg;
	log_info("jslog: connection to the NATS cluster %s", up ? "up" :
	    "down");
}

static void
on_stream(void *arg, jv r)
{
	jv e = jv_object_get(jv_copy(r), jv_string("error"));

	(void)arg;
	if (jv_get_kind(e) == JV_KIND_OBJECT)	/* "in use": made already */
		log_info("jslog: stream '%s': %s", JSLOG_STREAM,
		    json_str(e, "description", NULL) ?: "an error");
	else
		log_info("jslog: stream '%s' ready", JSLOG_STREAM);
	jv_free(e);
	jv_free(r);
}

/* Makes the stream unless it exists; asked until a server answers. */
static void
stream_ensure(void)
{
	jv cfg = jv_object();

#define S(k, v) cfg = jv_object_set(cfg, jv_string(k), v)
	S("name", jv_string(JSLOG_STREAM));
	S("subjects", jv_array_append(jv_array(), jv_string("chat.log.>")));
	S("storage", jv_string("file"));
	S("retention", jv_string("limits"));
	S("num_replicas", jv_number(JSLOG_REPLICAS));
	S("duplicate_window", jv_number(120e9));
	S("allow_direct", jv_true());
#undef S
	bus_call(J.admin, cfg, 0, on_stream, NULL);
}

int
jslog_init(struct ev_loop *loop, char *err, size_t errlen)
{
	const char *mode = conf_get("msg_log"), *urls = conf_get("bus");

	if (mode == NULL || *mode == '\0')
		return 0;
	if (strcmp(mode, "jetstream") != 0) {
		snprintf(err, errlen, "config key 'msg_log' is '%s': empty or "
		    "'jetstream'", mode);
		return -1;
	}
	if (urls == NULL || *urls == '\0') {
		snprintf(err, errlen, "msg_log = jetstream needs the NATS "
		    "servers in config key 'bus'");
		return -1;
	}
	long long n = conf_int("log_shards");
	if (n < 1 || n > SHARD_MAX) {
		snprintf(err, errlen, "config key 'log_shards' is %lld: 1 to "
		    "%d", n, SHARD_MAX);
		return -1;
	}
	J.nshards = (unsigned)n;
	if ((J.bus = bus_open(loop, urls, "chat-route", on_state, NULL, err,
	    errlen)) == NULL)
		return -1;
	if ((J.pub = calloc(J.nshards, sizeof(*J.pub))) == NULL)
		goto nomem;
	for (unsigned i = 0; i < J.nshards; i++) {
		char subj[32];
		snprintf(subj, sizeof(subj), "chat.log.%u", i);
		if ((J.pub[i] = bus_client_new(J.bus, subj,
		    JSLOG_RESEND_MS)) == NULL)
			goto nomem;
	}
	J.admin = bus_client_new(J.bus, "$JS.API.STREAM.CREATE." JSLOG_STREAM,
	    2000);
	if (J.admin == NULL)
		goto nomem;
	stream_ensure();
	log_info("jslog: acks wait for stream '%s' on '%s', subjects "
	    "chat.log.0..%u", JSLOG_STREAM, urls, J.nshards - 1);
	return 0;
nomem:
	snprintf(err, errlen, "jslog: out of memory");
	return -1;
}

void
jslog_free(void)
{
	if (J.bus != NULL)
		bus_close(J.bus);	/* puts still out are not called */
	J.bus = NULL;
	free(J.pub);
	J.pub = NULL;
	buf_free(&J.line);
}

/* Finishes the answered puts at the head, in the order made: the store
 * answered them in id order, and acks and deliveries must leave in it
 * (chatd drops a delivery older than a device's newest), even when a
 * resend makes the stream answer a later one first. */
static void
finish_in_order(void)
{
	struct jsput *p;

	while ((p = J.head) != NULL && p->answered) {
		if ((J.head = p->next) == NULL)
			J.tail = NULL;
		p->done(p->arg, p->reply, p->len, p->failed ? p->err : NULL);
		free(p->reply);
		free(p);
	}
}

static void
on_puback(void *arg, jv r)
{
	struct jsput *p = arg;
	jv e = jv_object_get(jv_copy(r), jv_string("error"));
	if (jv_get_kind(e) == JV_KIND_OBJECT || !json_has(r, "seq")) {
		const char *d = jv_get_kind(e) == JV_KIND_OBJECT ?
		    json_str(e, "description", NULL) : NULL;
		if (d == NULL)
			d = json_str(e, "message", NULL);
		snprintf(p->err, sizeof(p->err), "the message log did not "
		    "take it (%s)", d ? d : "no PubAck");
		p->failed = 1;
		J.failed++;
		log_warnx("jslog: %s", p->err);
	} else {
		J.acked++;
		J.dups += json_bool(r, "duplicate", 0);
	}
	jv_free(e);
	jv_free(r);
	p->answered = 1;
	finish_in_order();
}

#define B(s, n) buf_add(&J.line, (s), (n))
#define BS(s) B((s), strlen(s))

int
jslog_put(const struct jslog_msg *m, const char *reply, size_t len,
    jslog_done_fn *done, void *arg)
{
	struct jflat f;
	const struct jflat_val *rcpt, *mid, *ts;
	char msgid[200];
	struct jsput *p;

	if (jflat_parse(&f, reply, len) == -1 || !jflat_bool(&f, "ok", 0) ||
	    (mid = jflat_get(&f, "mid")) == NULL || mid->type != JF_STRING ||
	    (ts = jflat_get(&f, "ts")) == NULL || ts->type != JF_NUMBER ||
	    (rcpt = jflat_get(&f, "recipients")) == NULL ||
	    rcpt->type != JF_ARRAY)
		return 0;	/* an error: answered as without the log */
	J.line.len = 0;
	if (BS("{\"op\":\"msg.append\",\"from\":\"") || BS(m->user) ||
	    BS("\",\"device\":\"") || BS(m->device) || BS("\",\"cid\":") ||
	    buf_add_json_str(&J.line, m->cid, strlen(m->cid)) ||
	    BS(m->group ? ",\"group\":\"" : ",\"to\":\"") || BS(m->target) ||
	    BS("\",\"body\":") || B(m->body, m->blen) || BS(",\"mid\":") ||
	    B(mid->p, mid->len) || BS(",\"ts\":") || B(ts->p, ts->len) ||
	    BS(",\"recipients\":") || B(rcpt->p, rcpt->len) || BS("}"))
		goto nomem;
	/* user and device names are [a-z0-9_.-] and [A-Za-z0-9_-]; a cid
	 * is printable ASCII, which a header value takes */
	snprintf(msgid, sizeof(msgid), "%s/%s/%s", m->user, m->device, m->cid);
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->reply = malloc(len)) == NULL) {
		free(p);
		goto nomem;
	}
	memcpy(p->reply, reply, len);
	p->len = len;
	p->done = done;
	p->arg = arg;
	unsigned shard = shard_of_conv(m->user, m->group ? NULL : m->target,
	    m->group ? m->target : NULL, J.nshards);
	if (bus_call_msgid(J.pub[shard], J.line.p, J.line.len, msgid, JSLOG_TIMEOUT_MS,
	    on_puback, p) == -1) {
		free(p->reply);
		free(p);
		goto nomem;
	}
	if (J.tail != NULL)
		J.tail->next = p;
	else
		J.head = p;
	J.tail = p;
	J.puts++;
	return 1;
nomem:
	J.failed++;
	done(arg, reply, len, "out of memory for the message log");
	return 1;
}

#undef B
#undef BS

jv
jslog_status(jv r)
{
	if (J.bus == NULL)
		return r;
#define N(k, v) r = jv_object_set(r, jv_string(k), jv_number((double)(v)))
	r = jv_object_set(r, jv_string("log_connected"),
	    jv_bool(bus_connected(J.bus)));
	N("log_puts", J.puts);
	N("log_acked", J.acked);
	N("log_dups", J.dups);
	N("log_failed", J.failed);
	size_t pending = 0;
	for (unsigned i = 0; i < J.nshards; i++)
		pending += bus_client_pending(J.pub[i]);
	N("log_pending", pending);
	N("log_shards", J.nshards);
#undef N
	return r;
}
