/*
 * shards: chat-route partitioned by user (chat-scaling(7), "Sharding").
 *
 * With route_shards = N > 1, this process serves shard route_shard = k and
 * listens on route-k (shard 0 on route too, so chat-api and chatctl find
 * it by the old name).  chatd sends a device's online/offline, sends and
 * typing to the shard of the device's user, so this shard's table holds
 * exactly its users' devices; hello and load go to every shard, so any
 * shard can answer chatd.list and relay a logout kick.
 *
 * Messages reach the recipients' shards through chat-store's feed, in id
 * order (feed.c).  What crosses shards here is route.fanout: shard j
 * gets one request on a client to route-j carrying a frame for its users
 * among the recipients, which it writes to their online devices; typing
 * uses it, and a request with a "mid" (a message, as the first version
 * forwarded them) is handed to chat-push for j's offline users too.  The
 * clients resend what was unanswered after a reconnect, so a restarted or
 * taken-over shard j still gets it.  A route.fanout line is read without
 * jv (shards_fanout_flat), its frame passed on as the bytes it came as.
 *
 * Ids: with shards, the store assigns each message's id when it writes it
 * (msg.append without "mid"), so ids grow in commit order across shards
 * and every inbox, and every feed, is in id order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "ipc.h"
#include "jflat.h"
#include "json.h"
#include "log.h"
#include "route.h"
#include "shard.h"

static struct ipc_client **cl;	/* [nshards], NULL for our own */
static struct {
	unsigned long fanouts_out, fanouts_in, typing_out;
} n;

unsigned
shards_n(void)
{
	return route.nshards;
}

int
shard_mine(const char *user)
{
	return route.nshards <= 1 ||
	    shard_of(user, strlen(user), route.nshards) == route.shard;
}

const char *
shards_sock(char *name, size_t len)
{
	if (route.nshards <= 1)
		snprintf(name, len, "route");
	else
		snprintf(name, len, "route-%u", route.shard);
	return name;
}

int
shards_init(struct ev_loop *loop, char *err, size_t errlen)
{
	long long ns = conf_int("route_shards"), k = conf_int("route_shard");
	char name[32], path[512];

	if (ns < 1 || ns > SHARD_MAX || k < 0 || k >= ns) {
		snprintf(err, errlen, "config keys 'route_shards' (1..%d) and "
		    "'route_shard' (0..route_shards-1) are out of range",
		    SHARD_MAX);
		return -1;
	}
	route.nshards = (unsigned)ns;
	route.shard = (unsigned)k;
	if (ns == 1)
		return 0;
	if ((cl = calloc((size_t)ns, sizeof(*cl))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (unsigned j = 0; j < route.nshards; j++) {
		if (j == route.shard)
			continue;
		snprintf(name, sizeof(name), "route-%u", j);
		cl[j] = ipc_client_new(loop, conf_sock_path(name, path,
		    sizeof(path)), NULL, NULL, NULL);
		if (cl[j] == NULL) {
			snprintf(err, errlen, "socket path '%s' is too long",
			    path);
			return -1;
		}
	}
	return 0;
}

void
shards_free(void)
{
	if (cl == NULL)
		return;
	for (unsigned j = 0; j < route.nshards; j++)
		if (cl[j] != NULL) {
			ipc_client_cancel_all(cl[j]);
			ipc_client_free(cl[j]);
		}
	free(cl);
	cl = NULL;
}

/* One message's fan-out requests still out, and the ack they hold. */
struct fwd {
	unsigned	 waiting;
	struct peer	*p;		/* NULL: nothing to send at the end */
	char		*ack;
	size_t		 acklen;
};

static void
fwd_done(struct fwd *w)
{
	if (--w->waiting > 0)
		return;
	if (w->p != NULL) {
		peer_send(w->p, w->ack, w->acklen);
		peer_unref(w->p);
	}
	free(w->ack);
	free(w);
}

static void
on_fanned(void *arg, const char *line, size_t len)
{
	struct fwd *w = arg;

	if (memmem(line, len, "\"ok\":true", 9) == NULL)
		log_warnx("a route.fanout was refused: %.*s",
		    (int)(len > 200 ? 200 : len), line);
	fwd_done(w);
}

/* Appends name to shard j's list (a JSON array being written). */
static int
list_add(struct buf *b, const char *name)
{
	if (buf_adds(b, b->len > 0 ? ",\"" : "\"") == -1 ||
	    buf_adds(b, name) == -1)
		return -1;
	return buf_add(b, "\"", 1);
}

/* One route.fanout line for shard j's users list[0..llen). */
static int
send_one(unsigned j, const char *list, size_t llen, const char *skip_user,
    const char *skip_device, const char *mid, int push, const char *frame,
    size_t flen, struct fwd *w)
{
	static struct buf b;

	b.len = 0;
#define A(s) buf_adds(&b, (s))
	if (A("{\"op\":\"route.fanout\",\"users\":[") ||
	    buf_add(&b, list, llen) || A("]"))
		return -1;
	if (skip_user != NULL && (A(",\"skip_user\":\"") || A(skip_user) ||
	    A("\"")))
		return -1;
	if (skip_device != NULL && (A(",\"skip_device\":\"") ||
	    A(skip_device) || A("\"")))
		return -1;
	if (mid != NULL && (A(",\"mid\":\"") || A(mid) || A("\"")))
		return -1;
	if (A(push ? ",\"push\":true" : "") || A(",\"frame\":") ||
	    buf_add(&b, frame, flen) || A("}"))
		return -1;
#undef A
	w->waiting++;
	/* no timeout: resent after every reconnect until shard j answers */
	if (ipc_call_raw(cl[j], b.p, b.len, 0, on_fanned, w) == -1) {
		w->waiting--;
		return -1;
	}
	return 0;
}

void
shards_forward(jv users, const char *skip_user, const char *skip_device,
    const char *mid, int push, const char *frame, size_t flen,
    struct peer *p, const char *ack, size_t acklen)
{
	struct fwd *w = calloc(1, sizeof(*w));
	struct buf *lists = NULL;

	if (w == NULL || (lists = calloc(route.nshards, sizeof(*lists))) ==
	    NULL) {
		log_warnx("out of memory forwarding a fan-out");
		goto out;	/* unacked: chatd resends */
	}
	if (ack != NULL && (w->ack = malloc(acklen)) == NULL)
		goto out;
	if (ack != NULL)
		memcpy(w->ack, ack, acklen);
	w->acklen = acklen;
	w->waiting = 1;		/* held until every request is out */
	if (jv_get_kind(users) == JV_KIND_ARRAY)
		jv_array_foreach(users, i, u) {
			if (jv_get_kind(u) == JV_KIND_STRING) {
				const char *s = jv_string_value(u);
				unsigned j = shard_of(s, strlen(s),
				    route.nshards);
				if (j != route.shard && cl != NULL)
					list_add(&lists[j], s);
			}
			jv_free(u);
		}
	for (unsigned j = 0; j < route.nshards; j++)
		if (lists[j].len > 0) {
			if (send_one(j, lists[j].p, lists[j].len, skip_user,
			    skip_device, mid, push, frame, flen, w) == 0)
				n.fanouts_out++;
			else
				log_warnx("out of memory forwarding to "
				    "route-%u", j);
		}
	if (mid == NULL)
		n.typing_out += w->waiting - 1;
	if (ack != NULL) {
		w->p = p;
		peer_ref(p);
	}
	fwd_done(w);
	w = NULL;
out:
	if (w != NULL) {
		free(w->ack);
		free(w);
	}
	for (unsigned j = 0; lists != NULL && j < route.nshards; j++)
		buf_free(&lists[j]);
	free(lists);
}

/* A forwarded message's push work: frame f's sender and target, users
 * ours (both borrowed). */
static void
push_forwarded(jv f, jv users, const char *mid)
{
	const char *to = json_str(f, "to", NULL);
	const char *group = json_str(f, "group", NULL);
	int64_t ts = 0;

	json_int(f, "ts", &ts);
	if (json_str(f, "from", NULL) == NULL || (to == NULL && group == NULL))
		return;
	jv pr = jv_object_set(jv_object_set(jv_object_set(jv_object(),
	    jv_string("user"), jv_string(json_str(f, "from", NULL))),
	    jv_string(to ? "to" : "group"), jv_string(to ? to : group)),
	    jv_string("body"), jv_object_get(jv_copy(f), jv_string("body")));
	push_message(pr, users, mid, ts);
	jv_free(pr);
}

/* An optional plain string member into out: 0 (absent: out is ""), 1, or
 * -1 if it is there but not a string of at most outlen - 1 bytes without
 * escapes. */
static int
opt_str(const struct jflat *f, const char *key, char *out, size_t outlen)
{
	out[0] = '\0';
	if (jflat_get(f, key) == NULL)
		return 0;
	return jflat_strcpy(f, key, out, outlen) == 0 ? 1 : -1;
}

int
shards_fanout_flat(struct peer *p, const struct jflat *f)
{
	const struct jflat_val *users = jflat_get(f, "users");
	const struct jflat_val *frame = jflat_get(f, "frame");
	const struct jflat_val *id = jflat_get(f, "id");
	char su[40], sd[72], mid[ID_HEX_LEN + 1], ok[48];
	int hsu, hsd, hmid;
	uint64_t m;

	/* anything odd, the jv way answers (or refuses) it */
	if (users == NULL || users->type != JF_ARRAY || frame == NULL ||
	    frame->type != JF_OBJECT || id == NULL || id->type != JF_NUMBER ||
	    id->len > 24 || (hsu = opt_str(f, "skip_user", su, sizeof(su))) ==
	    -1 || (hsd = opt_str(f, "skip_device", sd, sizeof(sd))) == -1 ||
	    (hmid = opt_str(f, "mid", mid, sizeof(mid))) == -1 ||
	    (hmid && id_parse(mid, strlen(mid), &m) == -1))
		return 0;
	n.fanouts_in++;
	fanout_raw(users, hsu ? su : NULL, hsd ? sd : NULL, hmid ? mid : NULL,
	    frame->p, frame->len);
	if (hmid && jflat_bool(f, "push", 0)) {
		jv fj = jv_parse_sized(frame->p, (int)frame->len);
		jv uj = jv_parse_sized(users->p, (int)users->len);
		push_forwarded(fj, uj, mid);
		jv_free(uj);
		jv_free(fj);
	}
	snprintf(ok, sizeof(ok), "{\"id\":%.*s,\"ok\":true}", (int)id->len,
	    id->p);
	if (p->conn != NULL)
		ipc_send(p->conn, ok, strlen(ok));
	return 1;
}

/* route.fanout from another shard: deliver to ours, push the offline. */
void
shards_op_fanout(struct peer *p, jv req, jv id, const char *line, size_t len)
{
	static const char key[] = ",\"frame\":";
	const char *fp = memmem(line, len, key, sizeof(key) - 1);
	jv users = jv_object_get(jv_copy(req), jv_string("users"));
	const char *mid = json_str(req, "mid", NULL);
	uint64_t m;

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (fp == NULL || line[len - 1] != '}' ||
	    jv_get_kind(users) != JV_KIND_ARRAY ||
	    (mid != NULL && id_parse(mid, strlen(mid), &m) == -1)) {
		jv_free(users);
		jv_free(req);
		if (p->conn != NULL)
			ipc_send_jv(p->conn, json_error(id, "bad_request",
			    "route.fanout needs 'users', a good 'mid' and "
			    "'frame' last"));
		else
			jv_free(id);
		return;
	}
	fp += sizeof(key) - 1;
	size_t flen = (size_t)(line + len - 1 - fp);
	n.fanouts_in++;
	fanout(users, json_str(req, "skip_user", NULL),
	    json_str(req, "skip_device", NULL), mid, fp, flen);
	if (mid != NULL && json_bool(req, "push", 0)) {
		jv f = jv_parse_sized(fp, (int)flen);
		push_forwarded(f, users, mid);
		jv_free(f);
	}
	jv_free(users);
	jv_free(req);
	if (p->conn != NULL)
		ipc_send_jv(p->conn, json_ok(id));
	else
		jv_free(id);
}

jv
shards_status(jv r)
{
	unsigned long connected = 0;

	r = jv_object_set(r, jv_string("shard"), jv_number(route.shard));
	r = jv_object_set(r, jv_string("shards"), jv_number(route.nshards));
	if (cl == NULL)
		return r;
	size_t pending = 0;
	for (unsigned j = 0; j < route.nshards; j++)
		if (cl[j] != NULL) {
			connected += ipc_client_connected(cl[j]) ? 1 : 0;
			pending += ipc_client_pending(cl[j]);
		}
	r = jv_object_set(r, jv_string("shards_connected"),
	    jv_number((double)connected));
	r = jv_object_set(r, jv_string("fanouts_pending"),
	    jv_number((double)pending));
	r = jv_object_set(r, jv_string("fanouts_out"),
	    jv_number((double)n.fanouts_out));
	r = jv_object_set(r, jv_string("fanouts_in"),
	    jv_number((double)n.fanouts_in));
	return jv_object_set(r, jv_string("typing_out"),
	    jv_number((double)n.typing_out));
}
