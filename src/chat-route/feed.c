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
 *
 * Every message passes here once per shard it has recipients on, so a feed
 * line is read in place (lib/jflat.h, feed_line, taken as bytes before
 * lib/ipc parses it) and its frame is passed on to the chatds as the bytes
 * it came as; only push work for an offline recipient builds jv values.
 * A line the scanner does not take goes the jv way (feed_event), which
 * means the same.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "jflat.h"
#include "json.h"
#include "log.h"
#include "route.h"
#include "standby.h"

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

/* Push jobs for the offline among users (this shard's), for the message
 * whose client frame is f (both borrowed). */
static void
push_offline(jv f, jv users, const char *from, const char *mid)
{
	const char *to = json_str(f, "to", NULL);
	const char *group = json_str(f, "group", NULL);
	int64_t ts = 0;

	json_int(f, "ts", &ts);
	if (to == NULL && group == NULL)
		return;
	jv pr = jv_object_set(jv_object_set(jv_object_set(jv_object(),
	    jv_string("user"), jv_string(from)), jv_string(to ? "to" :
	    "group"), jv_string(to ? to : group)), jv_string("body"),
	    jv_object_get(jv_copy(f), jv_string("body")));
	push_message(pr, users, mid, ts);
	jv_free(pr);
}

/* 1 if a user in users (a JSON array's text) other than from has no
 * online device here.  A name that is not a plain string of a user's
 * length is in no table here, so it counts as offline. */
static int
any_offline(const struct jflat_val *users, const char *from)
{
	struct jflat_val u;
	size_t pos = 0;
	char name[40];

	while (jflat_array_next(users, &pos, &u)) {
		if (u.type != JF_STRING)
			continue;
		if (u.nesc != 0 || u.len - 2 >= sizeof(name))
			return 1;
		memcpy(name, u.p + 1, u.len - 2);
		name[u.len - 2] = '\0';
		if (strcmp(name, from) != 0 && peer_user(name) == NULL)
			return 1;
	}
	return 0;
}

int
feed_line(void *arg, const char *line, size_t len)
{
	struct jflat f;
	const struct jflat_val *users, *frame;
	const char *ev;
	size_t evlen;
	char mid[ID_HEX_LEN + 1], from[40], device[72];

	(void)arg;
	if (!standby_owning() || jflat_parse(&f, line, len) == -1 ||
	    (ev = jflat_str(&f, "ev", &evlen)) == NULL || evlen != 4 ||
	    memcmp(ev, "feed", 4) != 0 ||
	    jflat_strcpy(&f, "mid", mid, sizeof(mid)) == -1 ||
	    strlen(mid) != ID_HEX_LEN ||
	    jflat_strcpy(&f, "from", from, sizeof(from)) == -1 ||
	    jflat_strcpy(&f, "device", device, sizeof(device)) == -1 ||
	    (users = jflat_get(&f, "users")) == NULL ||
	    users->type != JF_ARRAY || (frame = jflat_get(&f, "frame")) ==
	    NULL || frame->type != JF_OBJECT)
		return 0;	/* standby.c or feed_event judges it */
	fed++;
	int dup = jflat_bool(&f, "dup", 0);
	fed_dups += dup;
	fanout_raw(users, from, device, mid, frame->p, frame->len);
	/* last: deliveries never wait for push work; a dup was handed to
	 * chat-push the first time */
	if (!dup && any_offline(users, from)) {
		jv fj = jv_parse_sized(frame->p, (int)frame->len);
		jv uj = jv_parse_sized(users->p, (int)users->len);
		push_offline(fj, uj, from, mid);
		jv_free(uj);
		jv_free(fj);
	}
	return 1;
}

/* A feed line feed_line did not take (jv's reading of it). */
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
	if (!dup) {
		int offline = 0;
		jv_array_foreach(users, i, u) {
			if (!offline && jv_get_kind(u) == JV_KIND_STRING &&
			    strcmp(jv_string_value(u), from) != 0 &&
			    peer_user(jv_string_value(u)) == NULL)
				offline = 1;
			jv_free(u);
		}
		jv f = jv_object_get(jv_copy(ev), jv_string("frame"));
		if (offline)
			push_offline(f, users, from, mid);
		jv_free(f);
	}
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
