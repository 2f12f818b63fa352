/*
 * lease: one owner for a shard, by lease in the JetStream key-value bucket
 * chat_owners (chat-scaling(7), "Shard ownership").
 *
 * Every process serving a shard (chat-bus serve NAME --lease, on as many
 * nodes as wanted) tries to put the key NAME.SHARD with the header
 * Nats-Expected-Last-Subject-Sequence: 0, which JetStream accepts only
 * while the key holds nothing: one of them wins and is the owner.  The
 * owner renews every TTL/4 with the sequence of its own last put expected,
 * so a renewal never overwrites somebody else's lease.  The bucket's
 * max_age is the TTL: a lease nobody renews (its owner killed, its machine
 * gone, its link cut) is removed by the servers themselves, and the next
 * standby's put wins.  No client clock is compared with another's.
 *
 * The owner stops serving on its own once 3/4 of the TTL has passed since
 * it sent the last renewal that was acknowledged (the lease cannot have
 * lapsed at the servers before that, as the put was stored after it was
 * sent), so an owner cut off from the cluster has stopped before anyone
 * else can be granted the key: never two owners at once.  A renewal whose
 * acknowledgement was lost makes the next one fail ("wrong last
 * sequence"): the owner then gives the lease up and it is taken again after
 * the TTL, a failover that was not needed but never a double owner.
 *
 * A standby (--standby) asks for the first time only after STANDBY_TTLS
 * TTLs, so when the nodes of a stack start together the node named for the
 * shard takes it, its stack given that long to come up (a sanitizer build
 * on a loaded machine took over 6 s); after that it asks like the others.
 * A standby that starts while the owner is dead takes the shard that much
 * later.  lease_until_ms gives the
 * fence time on the local monotonic clock, for serve --tell to hand the
 * daemon (a daemon on the same machine reads the same clock).
 *
 * Libnats' kvStore calls block, which our loop cannot afford (kv.c says
 * why): puts are plain publishes with a reply inbox.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "bus.h"
#include "json.h"
#include "log.h"
#include "chat-bus.h"
#include "util.h"

#define STREAM		"KV_" LEASE_BUCKET
#define PREFIX		"$KV." LEASE_BUCKET "."
#define STANDBY_TTLS	5

static struct {
	struct ev_loop	*loop;
	struct bus	*bus;
	char		 key[128];
	char		 node[64];
	double		 ttl;		/* s */
	lease_fn	*gain, *lose, *renew;
	int		 owner;
	uint64_t	 seq;		/* of our last acknowledged put */
	unsigned long	 n;		/* puts sent; the reply names it */
	double		 sent_at;	/* ev_now of put n */
	int		 waiting;	/* put n unanswered */
	char		 inbox[128];
	ev_timer	 tick, fence;
	unsigned long	 taken, lost;
} L;

static void
give_up(const char *why)
{
	if (!L.owner)
		return;
	L.owner = 0;
	L.lost++;
	ev_timer_stop(L.loop, &L.fence);
	log_info("lease '%s' lost: %s", L.key, why);
	L.lose(why);
}

static void
on_fence(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	give_up("not renewed within 3/4 of the TTL");
}

static void
put(void)
{
	char subj[256], reply[200], seq[32], val[256];
	int len;

	snprintf(subj, sizeof(subj), PREFIX "%s", L.key);
	snprintf(reply, sizeof(reply), "%s.%lu", L.inbox, ++L.n);
	snprintf(seq, sizeof(seq), "%" PRIu64, L.owner ? L.seq : 0);
	len = snprintf(val, sizeof(val), "{\"node\":\"%s\",\"pid\":%ld,"
	    "\"at\":%lld}", L.node, (long)getpid(), kv_now_ms());
	L.sent_at = ev_now(L.loop);
	L.waiting = 1;
	if (bus_publish_hdr(L.bus, subj, reply,
	    "Nats-Expected-Last-Subject-Sequence", seq, NULL, NULL, val,
	    (size_t)len) == -1)
		L.waiting = 0;
}

static void
on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	/* An unanswered put is given up after TTL/2: the next one decides. */
	if (L.waiting && ev_now(L.loop) - L.sent_at < L.ttl / 2)
		return;
	if (L.n == 0 && bo.standby)
		log_info("lease '%s': the standby's wait is over, asking",
		    L.key);
	if (bus_connected(L.bus))
		put();
}

static void
acked(uint64_t seq, double sent_at)
{
	L.seq = seq;
	if (!L.owner) {
		L.owner = 1;
		L.taken++;
		log_info("lease '%s' taken (seq %" PRIu64 ", TTL %.1f s)",
		    L.key, seq, L.ttl);
		L.gain("taken");
	}
	ev_timer_stop(L.loop, &L.fence);
	ev_timer_set(&L.fence, sent_at + L.ttl * 3 / 4 - ev_now(L.loop), 0.);
	ev_timer_start(L.loop, &L.fence);
	if (L.renew != NULL)
		L.renew("renewed");
}

static void
on_reply(void *arg, struct bus_msg *m)
{
	const char *subj = bus_msg_subject(m), *dot = strrchr(subj, '.');
	char err[200];
	size_t len;
	const char *data;
	int64_t seq = 0;
	jv r, e;

	(void)arg;
	if (dot == NULL || strtoul(dot + 1, NULL, 10) != L.n || !L.waiting)
		return;			/* a late reply to an earlier put */
	L.waiting = 0;
	if (bus_msg_no_responders(m))
		return;			/* no JetStream now: tried again */
	data = bus_msg_data(m, &len);
	r = json_parse_object(data, len, err, sizeof(err));
	if (!jv_is_valid(r)) {
		jv_free(r);
		return;
	}
	e = jv_object_get(jv_copy(r), jv_string("error"));
	if (jv_get_kind(e) == JV_KIND_OBJECT) {
		const char *d = json_str(e, "description", NULL);
		if (L.owner)		/* another holds it, or ours lapsed */
			give_up(d ? d : "refused");
		else if (d != NULL && strstr(d, "wrong last sequence") == NULL)
			log_debug("lease '%s' not taken: %s", L.key, d);
	} else if (json_int(r, "seq", &seq) && seq > 0)
		acked((uint64_t)seq, L.sent_at);
	jv_free(e);
	jv_free(r);
}

static void
on_created(void *arg, jv r)
{
	jv e = jv_object_get(jv_copy(r), jv_string("error"));

	(void)arg;
	if (jv_get_kind(e) == JV_KIND_OBJECT)	/* made by another node */
		log_info("bucket '%s': %s", LEASE_BUCKET,
		    json_str(e, "description", NULL) ?: "an error");
	else
		log_info("bucket '%s' ready (TTL %.1f s)", LEASE_BUCKET,
		    L.ttl);
	jv_free(e);
	jv_free(r);
	ev_timer_start(L.loop, &L.tick);
}

static void
ensure_bucket(int replicas)
{
	struct bus_client *cl = bus_client_new(L.bus, "$JS.API.STREAM.CREATE."
	    STREAM, 2000);
	double ns = L.ttl * 1e9;
	jv cfg = jv_object();

	if (cl == NULL) {
		ev_timer_start(L.loop, &L.tick);
		return;
	}
#define S(k, v) cfg = jv_object_set(cfg, jv_string(k), v)
	S("name", jv_string(STREAM));
	S("subjects", jv_array_append(jv_array(), jv_string(PREFIX ">")));
	S("max_msgs_per_subject", jv_number(1));
	S("max_age", jv_number(ns));
	S("duplicate_window", jv_number(ns));
	S("storage", jv_string("file"));
	S("discard", jv_string("new"));
	S("num_replicas", jv_number(replicas));
	S("allow_direct", jv_true());
#undef S
	bus_call(cl, cfg, 0, on_created, NULL);
}

int
lease_start(struct ev_loop *loop, struct bus *b, const char *key,
    const char *node, int ttl, int replicas, lease_fn *gain, lease_fn *lose,
    char *err, size_t errlen)
{
	char sub[160];

	L.loop = loop;
	L.bus = b;
	L.ttl = ttl;
	L.gain = gain;
	L.lose = lose;
	snprintf(L.key, sizeof(L.key), "%s", key);
	snprintf(L.node, sizeof(L.node), "%s", node);
	if (bus_new_inbox(L.inbox, sizeof(L.inbox)) == -1) {
		snprintf(err, errlen, "no inbox for the lease");
		return -1;
	}
	snprintf(sub, sizeof(sub), "%s.*", L.inbox);
	if (bus_subscribe(b, sub, NULL, on_reply, NULL, err, errlen) == NULL)
		return -1;
	ev_timer_init(&L.tick, on_tick, bo.standby ?
	    STANDBY_TTLS * L.ttl : 0., L.ttl / 4);
	ev_timer_init(&L.fence, on_fence, 0., 0.);
	ensure_bucket(replicas);
	log_info("asking for lease '%s' as '%s' every %.2f s", L.key, L.node,
	    L.ttl / 4);
	return 0;
}

void
lease_on_renew(lease_fn *fn)
{
	L.renew = fn;
}

long long
lease_until_ms(void)
{
	if (!lease_valid() || L.loop == NULL)
		return 0;
	return mono_ms() +
	    (long long)(ev_timer_remaining(L.loop, &L.fence) * 1000);
}

int
lease_owner(void)
{
	return L.owner;
}

int
lease_valid(void)
{
	if (L.loop == NULL)
		return 1;		/* no lease: always served */
	/* After a pause (SIGSTOP, a stalled VM) ev_now has moved on but the
	 * fence timer may not have run yet in this pass of the loop. */
	return L.owner && ev_is_active(&L.fence) &&
	    ev_timer_remaining(L.loop, &L.fence) > 0.;
}

jv
lease_status(jv r)
{
	if (L.key[0] == '\0')
		return r;
	jv l = jv_object_set(jv_object(), jv_string("key"),
	    jv_string(L.key));
	l = jv_object_set(l, jv_string("node"), jv_string(L.node));
	l = jv_object_set(l, jv_string("owner"), jv_bool(L.owner));
	l = jv_object_set(l, jv_string("seq"), jv_number((double)L.seq));
	l = jv_object_set(l, jv_string("taken"), jv_number((double)L.taken));
	l = jv_object_set(l, jv_string("lost"), jv_number((double)L.lost));
	return jv_object_set(r, jv_string("lease"), l);
}

void
lease_stop(void)
{
	if (L.loop == NULL)
		return;
	ev_timer_stop(L.loop, &L.tick);
	ev_timer_stop(L.loop, &L.fence);
	if (L.owner)
		log_info("lease '%s' left to lapse: stopping", L.key);
	L.owner = 0;
}
