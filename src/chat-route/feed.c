/*
 * feed: with route shards, this shard's deliveries of messages, from
 * chat-store's feed (chat-store(1), "Feeds"; chat-route(1), "Shards").
 *
 * The store gives ids in commit order, and after each synced batch writes
 * on this shard's store connection, in that order, one "feed" event per
 * committed message with recipients on this shard.  Delivering only those,
 * in the order they come, gives every device of this shard's users its
 * messages in increasing id order, whichever shard appended them; so the
 * newest id a device holds is always a valid since (PROTOCOL.md).  Push
 * jobs for this shard's offline recipients are made here too.
 *
 * The feed is opened (feed.follow) on every connect of the store client.
 * What committed before it was open, or while the connection was down, was
 * fed to nobody here: once the store answers, every chatd is told to have
 * this shard's devices re-read their inboxes after their last id
 * ({"ev":"resync"}, upstream.c in chatd), as after a restart of this shard.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "json.h"
#include "log.h"
#include "route.h"

static unsigned long fed, fed_dups, follows;

static void
on_following(void *arg, jv reply)
{
	static const char line[] = "{\"ev\":\"resync\"}";
	unsigned long n = 0;

	(void)arg;
	if (!json_bool(reply, "ok", 0)) {
		log_warnx("chat-store refused this shard's feed: its devices "
		    "get nothing live");
		jv_free(reply);
		return;
	}
	jv_free(reply);
	follows++;
	for (struct peer *p = route.peers; p != NULL; p = p->next)
		if (p->hello && p->conn != NULL) {
			peer_send(p, line, sizeof(line) - 1);
			n++;
		}
	log_info("following chat-store's feed for shard %u: %lu chatds "
	    "told to catch up", route.shard, n);
}

void
feed_connect(void *arg)
{
	(void)arg;
	if (route.nshards <= 1)
		return;
	jv req = jv_object_set(jv_object_set(jv_object_set(jv_object(),
	    jv_string("op"), jv_string("feed.follow")), jv_string("shard"),
	    jv_number(route.shard)), jv_string("shards"),
	    jv_number(route.nshards));
	/* no timeout: resent after a reconnect, which follows anyway */
	if (ipc_call(route.store, req, 0, on_following, NULL) == -1)
		log_warnx("out of memory opening the feed");
}

/* Push jobs for the offline among users (this shard's; ev and users
 * borrowed), if any. */
static void
push_offline(jv ev, jv users, const char *from, const char *mid)
{
	int offline = 0;

	jv_array_foreach(users, i, u) {
		if (!offline && jv_get_kind(u) == JV_KIND_STRING &&
		    strcmp(jv_string_value(u), from) != 0 &&
		    peer_user(jv_string_value(u)) == NULL)
			offline = 1;
		jv_free(u);
	}
	if (!offline)
		return;
	jv f = jv_object_get(jv_copy(ev), jv_string("frame"));
	const char *to = json_str(f, "to", NULL);
	const char *group = json_str(f, "group", NULL);
	int64_t ts = 0;
	json_int(f, "ts", &ts);
	if (to != NULL || group != NULL) {
		jv pr = jv_object_set(jv_object_set(jv_object_set(jv_object(),
		    jv_string("user"), jv_string(from)), jv_string(to ? "to" :
		    "group"), jv_string(to ? to : group)), jv_string("body"),
		    jv_object_get(jv_copy(f), jv_string("body")));
		push_message(pr, users, mid, ts);
		jv_free(pr);
	}
	jv_free(f);
}

static void
feed_one(jv ev, const char *line, size_t len)
{
	static const char key[] = ",\"frame\":";
	const char *fp = memmem(line, len, key, sizeof(key) - 1);
	const char *mid = json_str(ev, "mid", NULL);
	const char *from = json_str(ev, "from", NULL);
	const char *device = json_str(ev, "device", NULL);
	jv users = jv_object_get(jv_copy(ev), jv_string("users"));

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (fp == NULL || len == 0 || line[len - 1] != '}' || mid == NULL ||
	    strlen(mid) != ID_HEX_LEN || from == NULL || device == NULL ||
	    jv_get_kind(users) != JV_KIND_ARRAY) {
		log_warnx("chat-store fed a line without its message");
		jv_free(users);
		return;
	}
	fp += sizeof(key) - 1;
	fed++;
	int dup = json_bool(ev, "dup", 0);
	fed_dups += dup;
	fanout(users, from, device, mid, fp, (size_t)(line + len - 1 - fp));
	/* last: deliveries never wait for push work; a dup was handed to
	 * chat-push the first time */
	if (!dup)
		push_offline(ev, users, from, mid);
	jv_free(users);
}

void
feed_event(void *arg, jv ev, const char *line, size_t len)
{
	const char *name = json_str(ev, "ev", NULL);

	(void)arg;
	if (name != NULL && strcmp(name, "feed") == 0)
		feed_one(ev, line, len);
	else
		log_debug("chat-store: event '%s' ignored", name ? name : "?");
	jv_free(ev);
}

jv
feed_status(jv r)
{
	if (route.nshards <= 1)
		return r;
	r = jv_object_set(r, jv_string("fed"), jv_number((double)fed));
	r = jv_object_set(r, jv_string("fed_dups"),
	    jv_number((double)fed_dups));
	return jv_object_set(r, jv_string("feed_follows"),
	    jv_number((double)follows));
}
