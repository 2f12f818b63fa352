/*
 * droppush: the push a dropped device is owed (see droppush.h).
 *
 *   drop ──device.get──> chat-store     cursor and push registration
 *        ──inbox.read──> chat-store     after the cursor: the newest message
 *                                       from someone else, since the auth
 *        ──push.enqueue──> chat-push    one job; chat-push collapses and
 *                                       dedupes (user, device, msg_id)
 *
 * Each step holds a small copy of what it needs, never the connection,
 * which is gone.  Store reads use chatd's store client with a timeout;
 * requests to chat-push time out too, so a stack without chat-push costs a
 * bounded wait and a log line, never memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"
#include "conf.h"
#include "droppush.h"
#include "id.h"
#include "ipc.h"
#include "json.h"
#include "log.h"

#define DP_TIMEOUT	10000	/* ms for each request */
#define DP_PAGE		200	/* inbox entries looked at */
#define DP_PENDING_MAX	1000	/* drops being looked up at once */

struct drop {
	char		 user[33];
	char		 device[65];
	uint64_t	 since_ms, last_id;
	jv		 reg;		/* the device's push registration */
};

static struct ipc_client *push_cl;
static unsigned long pending;
static struct {
	unsigned long drops, lookups, enqueued, skipped, failed;
} n;

static void
drop_free(struct drop *d)
{
	jv_free(d->reg);
	free(d);
	pending--;
}

static void
on_enqueued(void *arg, jv reply)
{
	(void)arg;
	if (json_bool(reply, "ok", 0))
		n.enqueued++;
	else {
		jv e = jv_object_get(jv_copy(reply), jv_string("error"));
		const char *code = json_str(e, "code", NULL);
		n.failed++;
		log_warnx("push for a dropped device: chat-push: %s",
		    code ? code : "?");
		jv_free(e);
	}
	jv_free(reply);
}

/* The conversation of message m as chat-push names it. */
static void
conv_of(jv m, char *out, size_t len)
{
	const char *from = json_str(m, "from", NULL);
	const char *to = json_str(m, "to", NULL);
	const char *group = json_str(m, "group", NULL);

	if (group != NULL)
		snprintf(out, len, "%s", group);
	else if (from != NULL && to != NULL)
		snprintf(out, len, "d/%s/%s", strcmp(from, to) < 0 ? from : to,
		    strcmp(from, to) < 0 ? to : from);
	else
		out[0] = '\0';
}

static void
enqueue(struct drop *d, jv m)
{
	char conv[100];
	int64_t ts = 0;

	conv_of(m, conv, sizeof(conv));
	json_int(m, "ts", &ts);
	if (conv[0] == '\0' || presence_user_here(d->user)) {
		n.skipped++;
		jv_free(m);
		return;
	}
	jv req = jv_object();
	req = jv_object_set(req, jv_string("op"), jv_string("push.enqueue"));
	req = jv_object_set(req, jv_string("user"), jv_string(d->user));
	req = jv_object_set(req, jv_string("device"), jv_string(d->device));
	req = jv_object_set(req, jv_string("push"), jv_copy(d->reg));
	req = jv_object_set(req, jv_string("from"),
	    jv_object_get(jv_copy(m), jv_string("from")));
	req = jv_object_set(req, jv_string("conv"), jv_string(conv));
	req = jv_object_set(req, jv_string("msg_id"),
	    jv_object_get(jv_copy(m), jv_string("id")));
	req = jv_object_set(req, jv_string("ts"), jv_number((double)ts));
	req = jv_object_set(req, jv_string("body"),
	    jv_object_get(jv_copy(m), jv_string("body")));
	jv_free(m);
	log_info("'%s/%s' dropped with unconfirmed messages: push", d->user,
	    d->device);
	ipc_call(push_cl, req, DP_TIMEOUT, on_enqueued, NULL);
}

/* The newest message of the page from someone else that reached this
 * connection: past the device's cursor (the page starts there), at most
 * its last id.  Ids are compared, never chatd's clock with the time in an
 * id: chat-route makes ids on its own clock, and a chatd running ahead of
 * it (another host; row 13 under faketime) would see every message as
 * older than the auth and owe no push.  A message synced on this
 * connection and never confirmed is owed one too; chat-push dedupes
 * (user, device, msg_id). */
static void
on_inbox(void *arg, jv reply)
{
	struct drop *d = arg;
	jv list = jv_object_get(jv_copy(reply), jv_string("messages"));
	jv best = jv_invalid();

	if (jv_get_kind(list) == JV_KIND_ARRAY) {
		jv_array_foreach(list, i, m) {
			const char *from = json_str(m, "from", NULL);
			const char *s = json_str(m, "id", NULL);
			uint64_t id;
			if (from != NULL && strcmp(from, d->user) != 0 &&
			    s != NULL && id_parse(s, strlen(s), &id) == 0 &&
			    id <= d->last_id) {
				jv_free(best);
				best = m;
			} else
				jv_free(m);
		}
	}
	if (jv_is_valid(best))
		enqueue(d, best);
	else
		jv_free(best);
	jv_free(list);
	jv_free(reply);
	drop_free(d);
}

static void
on_device(void *arg, jv reply)
{
	struct drop *d = arg;
	const char *s = json_str(reply, "cursor", NULL);
	uint64_t cursor = 0;
	char hex[ID_HEX_LEN + 1];

	d->reg = jv_object_get(jv_copy(reply), jv_string("push"));
	if (s != NULL)
		id_parse(s, strlen(s), &cursor);
	jv_free(reply);
	if (jv_get_kind(d->reg) != JV_KIND_OBJECT || cursor >= d->last_id) {
		drop_free(d);	/* no registration, or nothing unconfirmed */
		return;
	}
	id_format(cursor, hex);
	jv req = jv_object_set(jv_object_set(jv_object_set(jv_object_set(
	    jv_object(), jv_string("op"), jv_string("inbox.read")),
	    jv_string("user"), jv_string(d->user)), jv_string("after"),
	    jv_string(hex)), jv_string("limit"), jv_number(DP_PAGE));
	ipc_call(chatd.store, req, DP_TIMEOUT, on_inbox, d);
}

void
droppush_dropped(const char *user, const char *device, uint64_t since_ms,
    uint64_t last_id)
{
	struct drop *d;

	n.drops++;
	if (last_id == 0)
		return;		/* nothing reached it on this connection */
	if (pending >= DP_PENDING_MAX || (d = calloc(1, sizeof(*d))) == NULL) {
		n.skipped++;
		return;
	}
	pending++;
	n.lookups++;
	snprintf(d->user, sizeof(d->user), "%s", user);
	snprintf(d->device, sizeof(d->device), "%s", device);
	d->since_ms = since_ms;
	d->last_id = last_id;
	d->reg = jv_null();
	ipc_call(chatd.store, jv_object_set(jv_object_set(jv_object_set(
	    jv_object(), jv_string("op"), jv_string("device.get")),
	    jv_string("user"), jv_string(user)), jv_string("device"),
	    jv_string(device)), DP_TIMEOUT, on_device, d);
}

jv
droppush_status(void)
{
	jv r = jv_object();
#define NUM(k) r = jv_object_set(r, jv_string(#k), jv_number((double)n.k))
	NUM(drops); NUM(lookups); NUM(enqueued); NUM(skipped); NUM(failed);
#undef NUM
	return jv_object_set(r, jv_string("pending"), jv_number((double)pending));
}

int
droppush_start(char *err, size_t errlen)
{
	char path[512];

	push_cl = ipc_client_new(chatd.loop, conf_sock_path("push", path,
	    sizeof(path)), NULL, NULL, NULL);
	if (push_cl == NULL) {
		snprintf(err, errlen, "unable to set up the chat-push client");
		return -1;
	}
	return 0;
}

void
droppush_stop(void)
{
	if (push_cl != NULL)
		ipc_client_free(push_cl);
	push_cl = NULL;
}
