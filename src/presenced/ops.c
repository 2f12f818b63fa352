/*
 * ops: presenced's one table of socket ops and its dispatcher.  A line is
 * parsed once; the op's function answers (or, for presence.batch and
 * presence.sync sent without an "id", the fire-and-forget form chatd uses,
 * answers only an error).  See presenced(1) for each op.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "ipc.h"
#include "json.h"
#include "log.h"
#include "util.h"
#include "presenced.h"
#include "standby.h"

#define PRES_OPS(X)					\
	X("ping",		op_ping)		\
	X("status",		op_status)		\
	X("presence.batch",	op_batch)		\
	X("presence.sync",	op_sync)		\
	X("presence.query",	op_query)		\
	X("presence.friends",	op_friends)		\
	X("presence.online",	op_online)		\
	X("presence.notify",	op_notify)

typedef void op_fn(struct pres_conn *pc, jv req, jv id);

#define DECLARE(name, fn) static op_fn fn;
PRES_OPS(DECLARE)
#undef DECLARE

static const struct {
	const char	*name;
	op_fn		*fn;
} ops[] = {
#define ENTRY(name, fn) { name, fn },
	PRES_OPS(ENTRY)
#undef ENTRY
};

void
pres_conn_ref(struct pres_conn *pc)
{
	pc->refs++;
}

void
pres_conn_unref(struct pres_conn *pc)
{
	if (--pc->refs == 0)
		free(pc);
}

void
pres_reply(struct pres_conn *pc, jv v)
{
	if (pc->ipc != NULL)
		ipc_send_jv(pc->ipc, v);
	else
		jv_free(v);
}

void
pres_dispatch(struct pres_conn *pc, const char *line, size_t len)
{
	char err[256];
	const char *op;

	/* Heartbeats: chatd writes the op first. */
	if (len > 32 && memmem(line, 32, "\"presence.batch\"", 16) != NULL &&
	    pres_batch_fast(pc, line, len))
		return;
	jv req = json_parse_object(line, len, err, sizeof(err));

	if (!jv_is_valid(req)) {
		jv_free(req);
		log_warnx("%s: bad line: %s", ipc_conn_name(pc->ipc), err);
		pres_reply(pc, json_error(jv_null(), "bad_request", err));
		return;
	}
	if ((op = json_str(req, "ev", NULL)) != NULL &&
	    strcmp(op, "lease") == 0) {	/* chat-bus serve --tell */
		pres_standby_lease(req);
		jv_free(req);
		return;
	}
	jv id = jv_object_get(jv_copy(req), jv_string("id"));
	if ((op = json_str(req, "op", NULL)) == NULL) {
		pres_reply(pc, json_error(id, "bad_request",
		    "missing field 'op'"));
		jv_free(req);
		return;
	}
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (strcmp(op, ops[i].name) == 0) {
			ops[i].fn(pc, req, id);
			jv_free(req);
			return;
		}
	}
	snprintf(err, sizeof(err), "no op '%.64s'", op);
	pres_reply(pc, json_error(id, "unknown_op", err));
	jv_free(req);
}

static void
op_ping(struct pres_conn *pc, jv req, jv id)
{
	(void)req;
	pres_reply(pc, json_ok(id));
}

static void
chatd_one(struct pres_chatd *cd, void *arg)
{
	jv *list = arg;
	jv e = jv_object_set(jv_object(), jv_string("name"),
	    jv_string(cd->name));
	e = jv_object_set(e, jv_string("connected"), jv_bool(cd->conn != NULL));
	e = jv_object_set(e, jv_string("devices"),
	    jv_number((double)cd->ndevs));
	*list = jv_array_append(*list, e);
}

#define NUM(name, v) r = jv_object_set(r, jv_string(name), \
	jv_number((double)(v)))

static void
op_status(struct pres_conn *pc, jv req, jv id)
{
	jv chatds = jv_array();
	jv r = json_ok(id);
	(void)req;

	pres_chatd_each(chatd_one, &chatds);
	NUM("pid", getpid());
	NUM("devices", pres_ndevices());
	NUM("users", pres_nusers());
	NUM("online", pres_nonline());
	r = jv_object_set(r, jv_string("chatds"), chatds);
	r = jv_object_set(r, jv_string("store_connected"),
	    jv_bool(ipc_client_connected(pres_store())));
	NUM("store_pending", ipc_client_pending(pres_store()) +
	    pres_publish_queued());
	NUM("batches", pres_stats.batches);
	NUM("events", pres_stats.events);
	NUM("bad_events", pres_stats.bad_events);
	NUM("connects", pres_stats.connects);
	NUM("beats", pres_stats.beats);
	NUM("byes", pres_stats.byes);
	NUM("closes", pres_stats.closes);
	NUM("drops", pres_stats.drops);
	NUM("stale", pres_stats.stale);
	NUM("syncs", pres_stats.syncs);
	NUM("gone", pres_stats.gone);
	NUM("expired", pres_stats.expired);
	NUM("went_online", pres_stats.online);
	NUM("went_offline", pres_stats.offline);
	NUM("fanout_lines", pres_stats.fanout_lines);
	NUM("fanout_users", pres_stats.fanout_users);
	NUM("queries", pres_stats.queries);
	NUM("loads", pres_stats.loads);
	NUM("swept", pres_stats.swept);
	NUM("store_errors", pres_stats.store_errors);
	NUM("foreign", pres_stats.foreign);
	NUM("notify_sent", pres_stats.notify_sent);
	NUM("notify_received", pres_stats.notify_received);
	NUM("notify_held", pres_stats.notify_held);
	NUM("notify_dropped", pres_stats.notify_dropped);
	NUM("notify_errors", pres_stats.notify_errors);
	pres_reply(pc, pres_standby_status(pres_shard_status(r)));
}

int
pres_valid_chatd(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    strchr("_.:-", s[i]) != NULL))
			return 0;
	return i > 0 && i <= PRES_CHATD_MAX;
}

/* The chatd a batch or sync speaks for, or NULL after an error reply. */
static struct pres_chatd *
need_chatd(struct pres_conn *pc, jv req, jv id)
{
	const char *name = json_str(req, "chatd", NULL);
	struct pres_chatd *cd;

	if (name == NULL || !pres_valid_chatd(name)) {
		pres_reply(pc, json_error(id, "bad_request", "field 'chatd' "
		    "must name the chatd: 1 to 64 of [A-Za-z0-9_.:-]"));
		return NULL;
	}
	if ((cd = pres_chatd_claim(pc, name)) == NULL) {
		pres_reply(pc, json_error(id, "internal", "out of memory"));
		return NULL;
	}
	return cd;
}

static int
parse_kind(const char *s, enum pres_kind *k)
{
	static const struct { const char *name; enum pres_kind k; } kinds[] = {
		{ "beat", PK_BEAT }, { "connect", PK_CONNECT },
		{ "bye", PK_BYE }, { "close", PK_CLOSE }, { "drop", PK_DROP },
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(s, kinds[i].name) == 0) {
			*k = kinds[i].k;
			return 0;
		}
	return -1;
}

/* One {user,device,...} element (borrowed): 0 with the fields, or -1 with
 * why in err. */
static int
device_fields(jv e, const char **user, const char **device, int64_t *ts,
    char *err, size_t errlen)
{
	if (jv_get_kind(e) != JV_KIND_OBJECT) {
		snprintf(err, errlen, "not an object");
		return -1;
	}
	*user = json_str(e, "user", NULL);
	*device = json_str(e, "device", NULL);
	if (*user == NULL || !valid_user(*user)) {
		snprintf(err, errlen, "field 'user' is not a user name");
		return -1;
	}
	if (*device == NULL || !valid_device(*device)) {
		snprintf(err, errlen, "field 'device' is not a device id");
		return -1;
	}
	*ts = 0;
	if (json_has(e, "ts") && !json_int(e, "ts", ts)) {
		snprintf(err, errlen, "field 'ts' must be an integer");
		return -1;
	}
	return 0;
}

/* Ends a batch or sync: ok with counts if the sender wants a reply, an
 * error naming the first bad element if any was bad. */
static void
batch_reply(struct pres_conn *pc, jv req, jv id, unsigned long applied,
    unsigned long bad, const char *what, int first_bad, const char *err)
{
	if (bad > 0) {
		char msg[300];
		snprintf(msg, sizeof(msg), "%lu bad %s (%lu applied); the "
		    "first, at %d: %s", bad, what, applied, first_bad, err);
		log_warnx("%s: %s", ipc_conn_name(pc->ipc), msg);
		pres_reply(pc, json_error(id, "bad_request", msg));
		return;
	}
	if (json_has(req, "id"))
		pres_reply(pc, jv_object_set(json_ok(id), jv_string("applied"),
		    jv_number((double)applied)));
	else
		jv_free(id);
}

static void
op_batch(struct pres_conn *pc, jv req, jv id)
{
	struct pres_chatd *cd = need_chatd(pc, req, id);
	unsigned long applied = 0, bad = 0;
	int first_bad = -1;
	char err[128] = "";

	if (cd == NULL)
		return;
	jv events = jv_object_get(jv_copy(req), jv_string("events"));
	if (jv_get_kind(events) != JV_KIND_ARRAY) {
		jv_free(events);
		pres_reply(pc, json_error(id, "bad_request",
		    "field 'events' must be an array"));
		return;
	}
	pres_stats.batches++;
	jv_array_foreach(events, i, e) {
		const char *user, *device, *kind;
		int64_t ts;
		enum pres_kind k;
		char why[128];

		if (device_fields(e, &user, &device, &ts, why,
		    sizeof(why)) == 0) {
			kind = json_str(e, "kind", NULL);
			if (kind == NULL || parse_kind(kind, &k) == -1)
				snprintf(why, sizeof(why), "field 'kind' must "
				    "be connect, beat, bye, close or drop");
			else if (pres_event(cd, user, device, k, ts) == 0) {
				applied++;
				jv_free(e);
				continue;
			} else
				snprintf(why, sizeof(why), "out of memory");
		}
		if (bad++ == 0) {
			first_bad = i;
			snprintf(err, sizeof(err), "%s", why);
		}
		jv_free(e);
	}
	jv_free(events);
	pres_stats.events += applied;
	pres_stats.bad_events += bad;
	batch_reply(pc, req, id, applied, bad, "events", first_bad, err);
}

static void
op_sync(struct pres_conn *pc, jv req, jv id)
{
	struct pres_chatd *cd = need_chatd(pc, req, id);
	unsigned long applied = 0, bad = 0;
	int first_bad = -1;
	int64_t seq = 0;
	char err[128] = "";

	if (cd == NULL)
		return;
	jv list = jv_object_get(jv_copy(req), jv_string("devices"));
	if (jv_get_kind(list) != JV_KIND_ARRAY ||
	    (json_has(req, "seq") && !json_int(req, "seq", &seq))) {
		jv_free(list);
		pres_reply(pc, json_error(id, "bad_request", "field 'devices' "
		    "must be an array, 'seq' an integer"));
		return;
	}
	if (seq == 0 || !cd->syncing)
		pres_sync_begin(cd);
	jv_array_foreach(list, i, e) {
		const char *user, *device;
		int64_t ts;
		char why[128];

		if (device_fields(e, &user, &device, &ts, why,
		    sizeof(why)) == 0) {
			if (pres_sync_device(cd, user, device, ts) == 0) {
				applied++;
				jv_free(e);
				continue;
			}
			snprintf(why, sizeof(why), "out of memory");
		}
		if (bad++ == 0) {
			first_bad = i;
			snprintf(err, sizeof(err), "%s", why);
		}
		jv_free(e);
	}
	jv_free(list);
	if (!json_bool(req, "more", 0))
		pres_sync_end(cd);
	batch_reply(pc, req, id, applied, bad, "devices", first_bad, err);
}

static void
op_query(struct pres_conn *pc, jv req, jv id)
{
	pres_query(pc, req, id);
}

static void
op_friends(struct pres_conn *pc, jv req, jv id)
{
	pres_friends(pc, req, id);
}

static void
op_notify(struct pres_conn *pc, jv req, jv id)
{
	pres_notify(pc, req, id);
}

static void
op_online(struct pres_conn *pc, jv req, jv id)
{
	int64_t limit = 1000;
	unsigned long total;

	if (json_has(req, "limit") && (!json_int(req, "limit", &limit) ||
	    limit < 0 || limit > 100000)) {
		pres_reply(pc, json_error(id, "bad_request",
		    "field 'limit' must be an integer from 0 to 100000"));
		return;
	}
	jv list = pres_online_list((int)limit, &total);
	jv r = jv_object_set(json_ok(id), jv_string("presence"), list);
	pres_reply(pc, jv_object_set(r, jv_string("count"),
	    jv_number((double)total)));
}
