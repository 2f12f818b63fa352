/*
 * apply: a store shard applies the message log (chat-scaling(7),
 * "Durability").
 *
 *   CHAT_LOG --pull, a batch--> apply --msg.append (entry as is)--> store
 *   CHAT_LOG <--+ACK, per entry-- apply <--reply, after the synced batch--
 *
 * Each entry is the msg.append line chat-route wrote, with its id, ts and
 * recipients, so the store writes the same message without reading users
 * or groups; an entry it holds already comes back dup and writes nothing.
 * The consumer is durable (its name is the shard's): JetStream keeps what
 * was acked, and redelivers after ack_wait what was not (a store that died
 * holding it), which the dedupe absorbs.
 *
 * A durable consumer remembers its position, a database does not: a store
 * rebuilt from empty would never get what the consumer acked before.  So
 * whenever the store (re)connects, the newest entry of the shard's subject
 * at or below the consumer's ack floor (witness.c) is applied again
 * first: if the store did not have it (dup false), the
 * database lost what it had acked, and the consumer is deleted and made
 * again from the stream's first entry: the store replays it all.
 *
 * The consumer is filtered on the shard's subject, chat.log.<shard>
 * (chat-route puts each message on its conversation's shard, lib/shard.h),
 * so a store shard holds, and a rebuilt one replays, only its own
 * conversations' messages.
 *
 * The same subject carries the log of writes (chat-store's logw.h): a
 * log.apply entry, the keys of a user or a group, goes to the store as is
 * too, and its probe asks with "check" whether the store holds the keys,
 * writing nothing.  The consumer is read before it is made: one made for
 * another shard stops chat-log (EXIT_USAGE) rather than be taken over.
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
#include "util.h"
#include "chat-log.h"

#define STREAM		"CHAT_LOG"
#define BATCH		256
#define INFLIGHT_MAX	1024
#define PULL_EXPIRES_S	1.0
#define ACK_WAIT_S	10

enum phase { P_IDLE, P_PROBE, P_PULL };

static struct {
	struct ev_loop	*loop;
	struct bus	*bus;
	struct ipc_client *store;
	struct bus_client *create, *info, *get, *del, *msgget;
	struct bus_client *sinfo, *supdate;	/* the stream's */
	double		 max_age_ns;	/* log_max_age, 0: none */
	int		 exit_code;	/* set when it must stop for good */
	struct bus_sub	*sub;
	char		 durable[64];
	char		 filter[32];	/* chat.log.<shard> */
	char		 inbox[128], next[160];
	enum phase	 phase;
	unsigned	 epoch;		/* a probe's generation */
	int		 pulling;	/* a pull is out */
	int		 want;		/* entries still due from it */
	ev_tstamp	 pulled_at;
	ev_timer	 watchdog;
	ev_timer	 retry;		/* a probe that failed, again */
	size_t		 inflight;
	int		 replicas;
	unsigned long	 applied, dups, errors, pulls, replays, probes;
	uint64_t	 last_seq;
} A;

struct apply {
	char		*ack;		/* the entry's $JS.ACK subject */
};

static void pull(void);
static void probe(void);
static void on_witness(void *arg, uint64_t seq, const char *err);

/* ---- applying entries ---- */

static void
on_applied(void *arg, const char *reply, size_t len)
{
	struct apply *ap = arg;
	struct jflat f;

	A.inflight--;
	if (jflat_parse(&f, reply, len) == 0 && jflat_bool(&f, "ok", 0)) {
		if (jflat_bool(&f, "dup", 0))
			A.dups++;
		else
			A.applied++;
		bus_publish(A.bus, ap->ack, NULL, "+ACK", 4);
	} else {
		char code[40] = "";
		A.errors++;
		if (jflat_parse(&f, reply, len) == 0) {
			const struct jflat_val *e = jflat_get(&f, "error");
			struct jflat ef;
			if (e != NULL && jflat_parse(&ef, e->p, e->len) == 0)
				jflat_strcpy(&ef, "code", code, sizeof(code));
		}
		if (strcmp(code, "store_unavailable") == 0 ||
		    strcmp(code, "unavailable") == 0 || code[0] == '\0')
			/* redelivered after ack_wait */
			log_warnx("an entry not applied (%s): it comes again",
			    code[0] ? code : "no reply");
		else {
			/* an entry the store refuses will never apply: say it
			 * and let it go rather than wedge the shard */
			log_warnx("an entry refused by chat-store (%s): %.*s",
			    code, (int)(len > 300 ? 300 : len), reply);
			bus_publish(A.bus, ap->ack, NULL, "+TERM", 5);
		}
	}
	free(ap->ack);
	free(ap);
	if (A.phase == P_PULL && !A.pulling && A.inflight < INFLIGHT_MAX / 2)
		pull();
}

static void
apply_entry(const char *ack, const char *data, size_t len)
{
	struct apply *ap = calloc(1, sizeof(*ap));

	if (ap == NULL || (ap->ack = strdup(ack)) == NULL) {
		free(ap);
		return;		/* not acked: it comes again */
	}
	A.inflight++;
	/* chat-store's reply comes after the synced batch that holds it */
	if (ipc_call_raw(A.store, data, len, 0, on_applied, ap) == -1) {
		A.inflight--;
		A.errors++;
		log_warnx("an entry that is not a JSON object: dropped");
		bus_publish(A.bus, ack, NULL, "+TERM", 5);
		free(ap->ack);
		free(ap);
	}
}

/* A message on our inbox: an entry (with its ack subject) or a status. */
static void
on_msg(void *arg, struct bus_msg *m)
{
	const char *ack = bus_msg_reply(m), *data;
	size_t len;

	(void)arg;
	/* applied in any phase: an entry applies the same way twice */
	if (ack != NULL && strncmp(ack, "$JS.ACK.", 8) == 0) {
		data = bus_msg_data(m, &len);
		apply_entry(ack, data, len);
		if (--A.want > 0)
			return;
	}
	/* the batch is done, or a status (no entries, expired) */
	A.pulling = 0;
	if (A.phase == P_PULL && A.inflight < INFLIGHT_MAX)
		pull();
}

static void
pull(void)
{
	char req[96];
	int n;

	if (A.phase != P_PULL || !bus_connected(A.bus))
		return;
	n = snprintf(req, sizeof(req), "{\"batch\":%d,\"expires\":%.0f}", BATCH,
	    PULL_EXPIRES_S * 1e9);
	if (bus_publish(A.bus, A.next, A.inbox, req, (size_t)n) == 0) {
		A.pulling = 1;
		A.want = BATCH;
		A.pulled_at = ev_now(A.loop);
		A.pulls++;
	}
}

/* A pull lost with a server, or a batch cut short: ask again. */
static void
on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	if (A.phase == P_PULL && A.inflight < INFLIGHT_MAX &&
	    (!A.pulling || ev_now(loop) - A.pulled_at > PULL_EXPIRES_S + 1))
		pull();
}

/* ---- the consumer and the probe ---- */

static jv
js_err(jv r)
{
	jv e = jv_object_get(jv_copy(r), jv_string("error"));

	if (jv_get_kind(e) == JV_KIND_OBJECT)
		return e;
	jv_free(e);
	return jv_null();
}

static void
start_pulling(const char *why)
{
	log_info("applying stream '%s' subject '%s' as consumer '%s' (%s)",
	    STREAM, A.filter, A.durable, why);
	A.phase = P_PULL;
	A.pulling = 0;
	pull();
}

static void
on_deleted(void *arg, jv r)
{
	(void)arg;
	jv_free(r);
	A.replays++;
	probe();		/* made again from the first entry */
}

static void
on_probe_applied(void *arg, jv r)
{
	unsigned epoch = (unsigned)(uintptr_t)arg;

	if (epoch != A.epoch) {
		jv_free(r);
		return;
	}
	if (json_bool(r, "ok", 0) && !json_bool(r, "dup", 0)) {
		log_warnx("chat-store lacked entry %" PRIu64 ", acked before: "
		    "its database is new; replaying stream '%s' from the "
		    "start", A.last_seq, STREAM);
		/* INFO and DELETE take an empty payload, not an object */
		bus_call_msgid(A.del, "", 0, NULL, 5000, on_deleted, NULL);
	} else if (json_bool(r, "ok", 0))
		start_pulling("the store holds what was acked");
	else {
		log_warnx("probe: chat-store: %s; applying on",
		    json_str(r, "error", NULL) ?: "an error");
		start_pulling("probe failed");
	}
	jv_free(r);
}

static void
on_probe_entry(void *arg, jv r)
{
	unsigned epoch = (unsigned)(uintptr_t)arg;

	if (epoch != A.epoch) {
		jv_free(r);
		return;
	}
	jv e = js_err(r);
	if (jv_get_kind(e) == JV_KIND_OBJECT ||
	    json_str(r, "op", NULL) == NULL) {
		jv_free(e);
		jv_free(r);
		start_pulling("the acked entry is gone from the stream");
		return;
	}
	jv_free(e);
	r = jv_object_delete(r, jv_string("id"));
	if (strcmp(json_str(r, "op", NULL), "log.apply") == 0) {
		/* keys, not a message: asked whether the store holds every
		 * key it puts, writing nothing (a value a later entry changed
		 * must not come back); one that only deletes says nothing of
		 * a new database, so the entry before it is asked instead */
		jv puts = jv_object_get(jv_copy(r), jv_string("puts"));
		int np = jv_get_kind(puts) == JV_KIND_ARRAY ?
		    jv_array_length(jv_copy(puts)) : 0;
		jv_free(puts);
		if (np == 0) {
			jv_free(r);
			if (A.last_seq <= 1)
				start_pulling("nothing of this shard acked yet");
			else
				witness_find(A.msgget, A.filter, A.last_seq - 1,
				    on_witness, (void *)(uintptr_t)epoch);
			return;
		}
		r = jv_object_set(r, jv_string("check"), jv_true());
	}
	ipc_call(A.store, r, 0, on_probe_applied, (void *)(uintptr_t)epoch);
}

/* The newest acked entry of ours: the store must hold it. */
static void
on_witness(void *arg, uint64_t seq, const char *err)
{
	unsigned epoch = (unsigned)(uintptr_t)arg;

	if (epoch != A.epoch)
		return;
	if (err != NULL || seq == 0) {
		start_pulling(err != NULL ? "probe failed: no witness" :
		    "nothing of this shard acked yet");
		return;
	}
	A.last_seq = seq;
	bus_call(A.get, jv_object_set(jv_object(), jv_string("seq"),
	    jv_number((double)seq)), 5000, on_probe_entry,
	    (void *)(uintptr_t)epoch);
}

static void
on_info(void *arg, jv r)
{
	unsigned epoch = (unsigned)(uintptr_t)arg;
	jv e = js_err(r);

	if (epoch != A.epoch) {
		jv_free(e);
		jv_free(r);
		return;
	}
	jv floor = jv_object_get(jv_copy(r), jv_string("ack_floor"));
	int64_t seq = 0;
	if (jv_get_kind(floor) == JV_KIND_OBJECT)
		json_int(floor, "stream_seq", &seq);
	jv_free(floor);
	if (jv_get_kind(e) == JV_KIND_OBJECT || seq <= 0) {
		jv_free(e);
		jv_free(r);
		start_pulling("nothing acked yet");
		return;
	}
	jv_free(e);
	jv_free(r);
	witness_find(A.msgget, A.filter, (uint64_t)seq, on_witness,
	    (void *)(uintptr_t)epoch);
}

static void
on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	probe();
}

/*
 * A durable consumer keeps the filter it was made with: one made for
 * another shard (log_shard or --shard changed, --durable not) would apply
 * that shard's subject to this store, or, refused, be asked for again
 * forever.  So chat-log stops for good (EXIT_USAGE) with one line saying
 * which consumer filters what.  1 if it does.
 */
static int
wrong_filter(jv info)
{
	jv cfg = jv_object_get(jv_copy(info), jv_string("config"));
	const char *have = jv_get_kind(cfg) == JV_KIND_OBJECT ?
	    json_str(cfg, "filter_subject", NULL) : NULL;
	int wrong = have != NULL && strcmp(have, A.filter) != 0;

	if (wrong) {
		log_warnx("consumer '%s' of stream '%s' filters '%s', but shard "
		    "%s wants '%s': give --durable another name, or delete the "
		    "consumer; stopping", A.durable, STREAM, have, A.filter + 9,
		    A.filter);
		A.exit_code = EXIT_USAGE;
		ev_break(A.loop, EVBREAK_ALL);
	}
	jv_free(cfg);
	return wrong;
}

static void
retry_soon(void)
{
	ev_timer_stop(A.loop, &A.retry);
	ev_timer_set(&A.retry, 1.0, 0);
	ev_timer_start(A.loop, &A.retry);
}

/* The consumer could not be made: one of another shard's, or not yet. */
static void
on_create_failed(void *arg, jv r)
{
	unsigned epoch = (unsigned)(uintptr_t)arg;

	if (epoch == A.epoch && !wrong_filter(r))
		retry_soon();
	jv_free(r);
}

static void
on_created(void *arg, jv r)
{
	unsigned epoch = (unsigned)(uintptr_t)arg;
	jv e = js_err(r);
	int failed = jv_get_kind(e) == JV_KIND_OBJECT;

	if (failed)	/* the stream not made yet, no quorum: again in 1 s */
		log_warnx("consumer '%s': %s; trying again", A.durable,
		    json_str(e, "description", NULL) ?: "an error");
	jv_free(e);
	if (epoch != A.epoch || (!failed && wrong_filter(r))) {
		jv_free(r);
		return;
	}
	jv_free(r);
	if (failed) {
		/* is it there, made for another shard? */
		bus_call_msgid(A.info, "", 0, NULL, 5000, on_create_failed,
		    (void *)(uintptr_t)epoch);
		return;
	}
	bus_call_msgid(A.info, "", 0, NULL, 5000, on_info,
	    (void *)(uintptr_t)epoch);
}

/* Makes the consumer (a no-op when it exists) and checks the store still
 * holds its ack floor. */
static void
create_consumer(unsigned epoch)
{
	jv cfg = jv_object();

#define S(k, v) cfg = jv_object_set(cfg, jv_string(k), v)
	S("durable_name", jv_string(A.durable));
	S("ack_policy", jv_string("explicit"));
	S("deliver_policy", jv_string("all"));
	S("ack_wait", jv_number(ACK_WAIT_S * 1e9));
	S("max_ack_pending", jv_number(INFLIGHT_MAX * 4));
	S("filter_subject", jv_string(A.filter));
#undef S
	bus_call(A.create, jv_object_set(jv_object_set(jv_object(),
	    jv_string("stream_name"), jv_string(STREAM)), jv_string("config"),
	    cfg), 0, on_created, (void *)(uintptr_t)epoch);
}

/* The consumer as it is, before it is made: JetStream 2.9 takes a
 * durable create with another filter as an update of the filter, keeping
 * the old shard's position (this shard's entries below it never come). */
static void
on_pre_info(void *arg, jv r)
{
	unsigned epoch = (unsigned)(uintptr_t)arg;
	jv e = js_err(r);
	int64_t code = 0;

	if (jv_get_kind(e) == JV_KIND_OBJECT)
		json_int(e, "code", &code);
	jv_free(e);
	if (epoch != A.epoch || wrong_filter(r)) {
		jv_free(r);
		return;
	}
	if (json_has(r, "config") || code == 404)	/* ours, or none yet */
		create_consumer(epoch);
	else
		retry_soon();		/* no answer: the cluster is down */
	jv_free(r);
}

/* Checks the consumer, makes it, then checks the store; pulling stops
 * meanwhile. */
static void
probe(void)
{
	A.phase = P_PROBE;
	A.epoch++;
	A.probes++;
	bus_call_msgid(A.info, "", 0, NULL, 5000, on_pre_info,
	    (void *)(uintptr_t)A.epoch);
}

static void
on_updated(void *arg, jv r)
{
	jv e = js_err(r);

	(void)arg;
	if (jv_get_kind(e) == JV_KIND_OBJECT)
		log_warnx("stream '%s': max_age not set: %s", STREAM,
		    json_str(e, "description", NULL) ?: "an error");
	else
		log_info("stream '%s': max_age set to %.0f s (log_max_age)",
		    STREAM, A.max_age_ns / 1e9);
	jv_free(e);
	jv_free(r);
}

/* The stream as it is: its max_age made log_max_age if it is not. */
static void
on_stream_info(void *arg, jv r)
{
	jv cfg = jv_object_get(jv_copy(r), jv_string("config"));
	int64_t have = -1;

	(void)arg;
	jv_free(r);
	if (jv_get_kind(cfg) != JV_KIND_OBJECT) {
		jv_free(cfg);
		return;
	}
	json_int(cfg, "max_age", &have);
	if ((double)have == A.max_age_ns) {
		jv_free(cfg);
		return;
	}
	cfg = jv_object_set(cfg, jv_string("max_age"),
	    jv_number(A.max_age_ns));
	bus_call(A.supdate, cfg, 5000, on_updated, NULL);
}

static void
on_stream(void *arg, jv r)
{
	jv e = js_err(r);

	(void)arg;
	if (jv_get_kind(e) == JV_KIND_OBJECT) {	/* "in use": made already */
		log_info("stream '%s': %s", STREAM,
		    json_str(e, "description", NULL) ?: "an error");
		/* made by chat-route, or before log_max_age changed */
		bus_call_msgid(A.sinfo, "", 0, NULL, 5000, on_stream_info,
		    NULL);
	}
	jv_free(e);
	jv_free(r);
}

/* The store (re)connected: check what it holds before applying on. */
static void
on_store(void *arg)
{
	(void)arg;
	log_info("chat-store connected: checking it against the log");
	probe();
}

static void
on_state(void *arg, int up)
{
	(void)arg;
	log_info("connection to the NATS cluster %s", up ? "up" : "down");
	if (up && A.phase == P_PULL)
		pull();
}

struct bus *
apply_bus(void)
{
	return A.bus;
}

int
apply_exit_code(void)
{
	return A.exit_code;
}

int
apply_start(struct ev_loop *loop, const char *urls, const char *durable,
    unsigned shard, int replicas, long long max_age_s, char *err,
    size_t errlen)
{
	char subj[256], path[512];

	A.loop = loop;
	A.max_age_ns = (double)max_age_s * 1e9;
	snprintf(A.filter, sizeof(A.filter), "chat.log.%u", shard);
	A.replicas = replicas;
	snprintf(A.durable, sizeof(A.durable), "%s", durable);
	if ((A.bus = bus_open(loop, urls, "chat-log", on_state, NULL, err,
	    errlen)) == NULL)
		return -1;
#define CL(f, s) do { snprintf(subj, sizeof(subj), s "." STREAM ".%s", \
	A.durable); if ((A.f = bus_client_new(A.bus, subj, 2000)) == NULL) \
	goto nomem; } while (0)
	CL(create, "$JS.API.CONSUMER.DURABLE.CREATE");
	CL(info, "$JS.API.CONSUMER.INFO");
	CL(del, "$JS.API.CONSUMER.DELETE");
#undef CL
	if ((A.get = bus_client_new(A.bus, "$JS.API.DIRECT.GET." STREAM,
	    2000)) == NULL || (A.msgget = bus_client_new(A.bus,
	    "$JS.API.STREAM.MSG.GET." STREAM, 2000)) == NULL || bus_new_inbox(A.inbox, sizeof(A.inbox)) == -1)
		goto nomem;
	snprintf(A.next, sizeof(A.next), "$JS.API.CONSUMER.MSG.NEXT." STREAM
	    ".%s", A.durable);
	if ((A.sub = bus_subscribe(A.bus, A.inbox, NULL, on_msg, NULL, err,
	    errlen)) == NULL)
		return -1;
	struct bus_client *mk = bus_client_new(A.bus, "$JS.API.STREAM.CREATE."
	    STREAM, 2000);
	if (mk == NULL || (A.sinfo = bus_client_new(A.bus,
	    "$JS.API.STREAM.INFO." STREAM, 2000)) == NULL || (A.supdate =
	    bus_client_new(A.bus, "$JS.API.STREAM.UPDATE." STREAM, 2000)) ==
	    NULL)
		goto nomem;
	jv cfg = jv_object();
#define S(k, v) cfg = jv_object_set(cfg, jv_string(k), v)
	S("name", jv_string(STREAM));
	S("subjects", jv_array_append(jv_array(), jv_string("chat.log.>")));
	S("storage", jv_string("file"));
	S("retention", jv_string("limits"));
	S("num_replicas", jv_number(replicas));
	S("duplicate_window", jv_number(120e9));
	S("allow_direct", jv_true());
	S("max_age", jv_number(A.max_age_ns));
#undef S
	bus_call(mk, cfg, 0, on_stream, NULL);
	ev_init(&A.retry, on_retry);
	ev_timer_init(&A.watchdog, on_watchdog, 1.0, 1.0);
	ev_timer_start(loop, &A.watchdog);
	/* the probe starts when the store connects */
	A.store = ipc_client_new(loop, conf_sock_path("store", path,
	    sizeof(path)), NULL, on_store, NULL);
	if (A.store == NULL) {
		snprintf(err, errlen, "socket path '%s' is too long", path);
		return -1;
	}
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

void
apply_stop(void)
{
	ev_timer_stop(A.loop, &A.watchdog);
	ev_timer_stop(A.loop, &A.retry);
	if (A.store != NULL) {
		ipc_client_cancel_all(A.store);
		ipc_client_free(A.store);
	}
	if (A.bus != NULL)
		bus_close(A.bus);
}

jv
apply_status(jv r)
{
	static const char *const phases[] = { "idle", "probe", "pull" };

#define N(k, v) r = jv_object_set(r, jv_string(k), jv_number((double)(v)))
	r = jv_object_set(r, jv_string("consumer"), jv_string(A.durable));
	r = jv_object_set(r, jv_string("subject"), jv_string(A.filter));
	r = jv_object_set(r, jv_string("phase"), jv_string(phases[A.phase]));
	r = jv_object_set(r, jv_string("bus_connected"),
	    jv_bool(bus_connected(A.bus)));
	r = jv_object_set(r, jv_string("store_connected"),
	    jv_bool(ipc_client_connected(A.store)));
	N("applied", A.applied);
	N("dups", A.dups);
	N("errors", A.errors);
	N("inflight", A.inflight);
	N("pulls", A.pulls);
	N("probes", A.probes);
	N("replays", A.replays);
#undef N
	return r;
}
