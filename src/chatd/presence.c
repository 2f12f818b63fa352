/*
 * presence: chatd's side of presenced (presenced(1)).
 *
 * What presenced needs from us is which devices are here and when each was
 * last heard from.  Events (connect, beat, bye, close, drop) are gathered
 * during one loop iteration and leave as one presence.batch line, with no
 * reply asked; a device heard from again within BEAT_EVERY seconds adds no
 * beat, so a chatty device costs nothing.  Each time the connection to
 * presenced is made we send every device we hold (presence.sync, in
 * pages), so a restart of either side loses nothing, and a line dropped
 * while disconnected does not matter.
 *
 * What we get back: a friend's change as {"ev":"presence","to":[users],...},
 * written as a presence frame to each device of each listed user here; and
 * on auth, the device's friends' presence (presence.friends).  Users are
 * indexed (user -> its connections here) for that.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"
#include "conf.h"
#include "id.h"
#include "ipc.h"
#include "json.h"
#include "log.h"

#define BEAT_EVERY	2.0	/* seconds between beats of one device */
#define SYNC_PAGE	500	/* devices per presence.sync line */
#define FRIENDS_TIMEOUT	5000	/* ms */

static struct ipc_client *pres;
static struct strmap users;	/* user -> first struct conn of the user */
static char *ebuf;		/* events of this iteration, comma separated */
static size_t elen, ecap;
static ev_timer flush_timer, sync_timer;

static void
add(const char *s, size_t n)
{
	if (ecap - elen < n) {
		size_t cap = ecap ? ecap : 4096;
		while (cap - elen < n)
			cap *= 2;
		char *nb = realloc(ebuf, cap);
		if (nb == NULL)
			return;		/* dropped: the next sync repairs it */
		ebuf = nb;
		ecap = cap;
	}
	memcpy(ebuf + elen, s, n);
	elen += n;
}

static void
on_flush(struct ev_loop *loop, ev_timer *w, int revents)
{
	char head[128];
	(void)loop; (void)w; (void)revents;

	if (elen == 0)
		return;
	int n = snprintf(head, sizeof(head), "{\"op\":\"presence.batch\","
	    "\"chatd\":\"%s\",\"events\":[", chatd.name);
	size_t len = (size_t)n + elen + 2;
	char *line = malloc(len);
	if (line != NULL) {
		memcpy(line, head, (size_t)n);
		memcpy(line + n, ebuf, elen);
		memcpy(line + n + elen, "]}", 2);
		ipc_client_send_line(pres, line, len);
		free(line);
	}
	elen = 0;
}

/* Users and devices are [A-Za-z0-9_.-]: no escaping needed. */
static void
event(struct conn *c, const char *kind)
{
	char e[192];
	int n = snprintf(e, sizeof(e), "%s{\"user\":\"%s\",\"device\":\"%s\","
	    "\"kind\":\"%s\",\"ts\":%llu}", elen ? "," : "", c->user, c->device,
	    kind, (unsigned long long)now_ms());

	if (pres == NULL || !ipc_client_connected(pres))
		return;
	if (n > 0 && (size_t)n < sizeof(e))
		add(e, (size_t)n);
	if (!ev_is_active(&flush_timer)) {
		ev_timer_set(&flush_timer, 0.0, 0.0);
		ev_timer_start(chatd.loop, &flush_timer);
	}
}

void
presence_online(struct conn *c)
{
	struct conn *first = strmap_get(&users, c->user, strlen(c->user));

	c->unext = first;
	c->uprev = NULL;
	if (first != NULL)
		first->uprev = c;
	if (strmap_put(&users, c->user, strlen(c->user), c) == STRMAP_NOMEM)
		c->unext = NULL;
	c->indexed = 1;
	c->beat_at = ev_now(chatd.loop);
	event(c, "connect");
}

void
presence_offline(struct conn *c, const char *kind)
{
	/* kind NULL: only out of the index (replaced by a newer connection) */
	if (!c->indexed)
		return;
	c->indexed = 0;
	if (c->uprev != NULL)
		c->uprev->unext = c->unext;
	else if (c->unext != NULL)
		strmap_put(&users, c->unext->user, strlen(c->unext->user),
		    c->unext);
	else
		strmap_del(&users, c->user, strlen(c->user));
	if (c->unext != NULL)
		c->unext->uprev = c->uprev;
	c->unext = c->uprev = NULL;
	if (kind != NULL)
		event(c, kind);
}

void
presence_heard(struct conn *c)
{
	ev_tstamp now = ev_now(chatd.loop);

	if (c->indexed && now - c->beat_at >= BEAT_EVERY) {
		c->beat_at = now;
		event(c, "beat");
	}
}

/* A presence frame to every device of user here. */
static void
to_user(const char *user, struct wsframe *f)
{
	for (struct conn *c = strmap_get(&users, user, strlen(user)); c != NULL;
	    c = c->unext)
		if (c->state == CONN_LIVE || c->state == CONN_SYNCING)
			conn_push(c, f);
}

static struct wsframe *
presence_frame(jv p)
{
	jv f = jv_object_set(jv_object(), jv_string("type"),
	    jv_string("presence"));

	f = jv_object_set(f, jv_string("user"), jv_object_get(jv_copy(p),
	    jv_string("user")));
	f = jv_object_set(f, jv_string("status"), jv_object_get(jv_copy(p),
	    jv_string("status")));
	f = jv_object_set(f, jv_string("last_active_at"),
	    jv_object_get(jv_copy(p), jv_string("last_active_at")));
	jv_free(p);
	return wsframe_jv(f, 0);
}

static void
on_event(void *arg, jv ev, const char *line, size_t len)
{
	const char *name = json_str(ev, "ev", NULL);
	(void)arg; (void)line; (void)len;

	if (name == NULL || strcmp(name, "presence") != 0 ||
	    json_str(ev, "user", NULL) == NULL) {
		jv_free(ev);
		return;
	}
	jv to = jv_object_get(jv_copy(ev), jv_string("to"));
	struct wsframe *f = presence_frame(jv_copy(ev));
	if (f != NULL && jv_get_kind(to) == JV_KIND_ARRAY) {
		jv_array_foreach(to, i, u) {
			if (jv_get_kind(u) == JV_KIND_STRING)
				to_user(jv_string_value(u), f);
			jv_free(u);
		}
	}
	wsframe_unref(f);
	jv_free(to);
	jv_free(ev);
}

static void
on_friends(void *arg, jv reply)
{
	struct conn *c = arg;
	jv list = jv_object_get(jv_copy(reply), jv_string("presence"));

	if (c->wsi != NULL && jv_get_kind(list) == JV_KIND_ARRAY) {
		jv_array_foreach(list, i, p) {
			struct wsframe *f = presence_frame(p);
			conn_push(c, f);
			wsframe_unref(f);
		}
	}
	jv_free(list);
	jv_free(reply);
	conn_unref(c);
}

void
presence_friends(struct conn *c)
{
	if (pres == NULL || !ipc_client_connected(pres))
		return;
	conn_ref(c);
	if (ipc_call(pres, jv_object_set(jv_object_set(jv_object(),
	    jv_string("op"), jv_string("presence.friends")), jv_string("user"),
	    jv_string(c->user)), FRIENDS_TIMEOUT, on_friends, c) == -1)
		conn_unref(c);
}

/* Every device we hold, in pages; from the loop, after a connect. */
static void
on_sync(struct ev_loop *loop, ev_timer *w, int revents)
{
	char head[160];
	size_t i = 0, n = 0;
	int seq = 0;
	struct conn *c, *next;
	(void)loop; (void)w; (void)revents;

	if (!ipc_client_connected(pres))
		return;
	on_flush(NULL, NULL, 0);	/* events before the sync go first */
	next = strmap_next(&chatd.devices, &i);
	do {
		snprintf(head, sizeof(head), "{\"op\":\"presence.sync\","
		    "\"chatd\":\"%s\",\"seq\":%d,\"devices\":[", chatd.name,
		    seq++);
		elen = 0;
		add(head, strlen(head));
		for (n = 0; n < SYNC_PAGE && (c = next) != NULL; n++) {
			char d[160];
			next = strmap_next(&chatd.devices, &i);
			int k = snprintf(d, sizeof(d), "%s{\"user\":\"%s\","
			    "\"device\":\"%s\"}", n ? "," : "", c->user,
			    c->device);
			if (k > 0 && (size_t)k < sizeof(d))
				add(d, (size_t)k);
		}
		add(next ? "],\"more\":true}" : "],\"more\":false}",
		    next ? 14 : 15);
		ipc_client_send_line(pres, ebuf, elen);
	} while (next != NULL);
	elen = 0;
}

static void
on_connect(void *arg)
{
	(void)arg;
	elen = 0;	/* the sync says it all */
	ev_timer_stop(chatd.loop, &sync_timer);
	ev_timer_set(&sync_timer, 0.0, 0.0);
	ev_timer_start(chatd.loop, &sync_timer);
}

int
presence_start(char *err, size_t errlen)
{
	char path[512];

	strmap_init(&users);
	ev_timer_init(&flush_timer, on_flush, 0.0, 0.0);
	ev_timer_init(&sync_timer, on_sync, 0.0, 0.0);
	pres = ipc_client_new(chatd.loop, conf_sock_path("presence", path,
	    sizeof(path)), on_event, on_connect, NULL);
	if (pres == NULL) {
		snprintf(err, errlen, "socket path '%s' is too long", path);
		return -1;
	}
	return 0;
}

void
presence_stop(void)
{
	on_flush(NULL, NULL, 0);
	ev_timer_stop(chatd.loop, &flush_timer);
	ev_timer_stop(chatd.loop, &sync_timer);
	ipc_client_free(pres);
	pres = NULL;
	strmap_free(&users);
	free(ebuf);
	ebuf = NULL;
	elen = ecap = 0;
}
