/*
 * presence_link: the devices this chatd holds, as presenced must hear of
 * them (see presence_link.h for the calls and presenced(1) for the lines).
 *
 * Beats are the hot path: a client frame costs one hash lookup and, at
 * most once a second per device, about 70 bytes appended to a batch line.
 * Activity inside that second marks the device "owed" and the next flush
 * sends one beat for it, so presenced's deadline and last_active_at lag by
 * at most the flush period plus a second.  Connects, byes, closes and
 * drops are flushed on the next loop turn (an ev_idle), beats within
 * 100 ms.  The batch is written by hand: user names and device ids are
 * checked (util.h) before they enter, so nothing needs escaping.
 *
 * While presenced is unreachable nothing is batched; on every connect the
 * whole table goes out as presence.sync pages, which presenced takes as
 * the truth for this chatd.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "buf.h"
#include "conf.h"
#include "id.h"
#include "ipc.h"
#include "json.h"
#include "log.h"
#include "util.h"
#include "presence_link.h"

#define PL_NAME_MAX	64
#define PL_KEY_MAX	(32 + 1 + 64)
#define PL_BEAT_EVERY	1.0		/* seconds between one device's beats */
#define PL_FLUSH_EVERY	0.1		/* seconds a beat may wait */
#define PL_LINE_MAX	(256 * 1024)	/* well under presenced's ipc_max_line */

struct plent {
	struct plent	*hnext;			/* hash chain */
	struct plent	*oprev, *onext;		/* the owed list */
	int		 owed;
	unsigned	 conns;			/* connections of this device */
	double		 sent;			/* ev_now of its last beat */
	int64_t		 last_ms;		/* its last activity */
	unsigned char	 ulen, klen;
	char		 key[];			/* "user/device" */
};

struct presence_link {
	struct ev_loop		*loop;
	struct ipc_client	*cl;
	char			 name[PL_NAME_MAX + 1];
	char			 sock[32];	/* presenced's socket name */
	presence_push_fn	*push;
	void			*arg;

	struct plent		**buckets;
	size_t			 nbuckets, ndev;
	struct plent		*owed_head, *owed_tail;

	struct buf		 out;		/* the batch being built */
	size_t			 nev;
	int			 need_sync;	/* connected: sync first */
	ev_idle			 soon;		/* flush on this loop turn */
	ev_timer		 tick;		/* flush beats within 100 ms */

	unsigned long		 beats, coalesced, events, batches, syncs,
				 pushes, dropped, errors;
};

static int
valid_name(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    strchr("_.:-", s[i]) != NULL))
			return 0;
	return i > 0 && i <= PL_NAME_MAX;
}

/* The table */

static uint64_t
hash_key(const char *k, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)k[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static int
make_key(char *key, const char *user, const char *device)
{
	if (!valid_user(user) || !valid_device(device))
		return -1;
	return snprintf(key, PL_KEY_MAX + 1, "%s/%s", user, device);
}

static struct plent **
slot_of(struct presence_link *pl, const char *key, size_t klen)
{
	struct plent **pp = &pl->buckets[hash_key(key, klen) &
	    (pl->nbuckets - 1)];

	while (*pp != NULL && ((*pp)->klen != klen ||
	    memcmp((*pp)->key, key, klen) != 0))
		pp = &(*pp)->hnext;
	return pp;
}

static int
grow(struct presence_link *pl)
{
	size_t n = pl->nbuckets * 2;
	struct plent **nb = calloc(n, sizeof(*nb));

	if (nb == NULL)
		return -1;
	for (size_t i = 0; i < pl->nbuckets; i++) {
		struct plent *e = pl->buckets[i], *next;
		for (; e != NULL; e = next) {
			next = e->hnext;
			size_t b = hash_key(e->key, e->klen) & (n - 1);
			e->hnext = nb[b];
			nb[b] = e;
		}
	}
	free(pl->buckets);
	pl->buckets = nb;
	pl->nbuckets = n;
	return 0;
}

static void
owed_unlink(struct presence_link *pl, struct plent *e)
{
	if (!e->owed)
		return;
	if (e->oprev)
		e->oprev->onext = e->onext;
	else
		pl->owed_head = e->onext;
	if (e->onext)
		e->onext->oprev = e->oprev;
	else
		pl->owed_tail = e->oprev;
	e->oprev = e->onext = NULL;
	e->owed = 0;
}

/* The batch */

static void sync_all(struct presence_link *pl);

/* Starts the beat flush PL_FLUSH_EVERY from now.  The set matters: a
 * one-shot ev_timer that fired keeps an "after" of zero or less, so a
 * bare ev_timer_start fires it again at once, on every loop turn (it
 * made chatd spin at 2k msg/s: 54% of its CPU walking the owed list). */
static void
arm_tick(struct presence_link *pl)
{
	if (ev_is_active(&pl->tick))
		return;
	ev_timer_set(&pl->tick, PL_FLUSH_EVERY, 0.0);
	ev_timer_start(pl->loop, &pl->tick);
}

static void
flush(struct presence_link *pl)
{
	ev_idle_stop(pl->loop, &pl->soon);
	if (pl->need_sync && pl->cl != NULL && ipc_client_connected(pl->cl))
		sync_all(pl);
	if (pl->nev == 0)
		return;
	if (buf_add(&pl->out, "]}", 2) == 0) {
		if (ipc_client_send_line(pl->cl, pl->out.p, pl->out.len) == 0)
			pl->batches++;
		else
			pl->dropped += pl->nev;	/* the sync on connect */
	}
	pl->out.len = 0;
	pl->nev = 0;
}

/* Appends one event to the batch (only while connected: a sync follows
 * every connect, so what happens before it needs no line). */
static void
emit(struct presence_link *pl, const struct plent *e, const char *kind,
    int64_t ts)
{
	char ev[PL_KEY_MAX + 96];
	int n;

	if (!ipc_client_connected(pl->cl)) {
		pl->dropped++;
		return;
	}
	n = snprintf(ev, sizeof(ev), "%s{\"user\":\"%.*s\",\"device\":\"%s\","
	    "\"kind\":\"%s\",\"ts\":%lld}", pl->nev ? "," : "", (int)e->ulen,
	    e->key, e->key + e->ulen + 1, kind, (long long)ts);
	if (pl->out.len + (size_t)n + 2 > PL_LINE_MAX)
		flush(pl);
	if (pl->nev == 0) {
		int h = snprintf(ev, sizeof(ev), "{\"op\":\"presence.batch\","
		    "\"chatd\":\"%s\",\"events\":[", pl->name);
		pl->out.len = 0;
		if (buf_add(&pl->out, ev, (size_t)h) == -1) {
			pl->dropped++;
			return;
		}
		n = snprintf(ev, sizeof(ev), "{\"user\":\"%.*s\",\"device\":"
		    "\"%s\",\"kind\":\"%s\",\"ts\":%lld}", (int)e->ulen,
		    e->key, e->key + e->ulen + 1, kind, (long long)ts);
	}
	if (buf_add(&pl->out, ev, (size_t)n) == -1) {
		pl->dropped++;
		return;
	}
	pl->nev++;
	pl->events++;
	arm_tick(pl);
}

static void
emit_now(struct presence_link *pl, const struct plent *e, const char *kind,
    int64_t ts)
{
	emit(pl, e, kind, ts);
	if (pl->nev > 0)
		ev_idle_start(pl->loop, &pl->soon);
}

static void
beat(struct presence_link *pl, struct plent *e, double now)
{
	owed_unlink(pl, e);
	e->sent = now;
	pl->beats++;
	emit(pl, e, "beat", e->last_ms);
}

static void
on_soon(struct ev_loop *loop, ev_idle *w, int revents)
{
	(void)loop; (void)revents;
	flush(w->data);
}

static void
on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct presence_link *pl = w->data;
	double now = ev_now(loop);
	(void)revents;

	/* Owed beats that are due; the list holds only devices heard from
	 * within the last second, so walking it is cheap. */
	for (struct plent *e = pl->owed_head, *next; e != NULL; e = next) {
		next = e->onext;
		if (now - e->sent >= PL_BEAT_EVERY)
			beat(pl, e, now);
	}
	flush(pl);
	if (pl->owed_head != NULL)
		arm_tick(pl);
}

/* Sync */

static void
sync_page(struct presence_link *pl, jv devices, int seq, int more)
{
	jv req = jv_object_set(jv_object(), jv_string("op"),
	    jv_string("presence.sync"));
	req = jv_object_set(req, jv_string("chatd"), jv_string(pl->name));
	req = jv_object_set(req, jv_string("seq"), jv_number(seq));
	req = jv_object_set(req, jv_string("more"), jv_bool(more));
	req = jv_object_set(req, jv_string("devices"), devices);
	size_t len;
	char *line = json_dump(req, &len);
	if (line != NULL)
		ipc_client_send_line(pl->cl, line, len);
	free(line);
}

/* Sends the whole table as presence.sync pages: what this chatd holds. */
static void
sync_all(struct presence_link *pl)
{
	jv page = jv_array();
	size_t bytes = 0;
	int seq = 0;

	pl->need_sync = 0;
	pl->out.len = pl->nev = 0;		/* the sync says it all */
	pl->syncs++;
	for (size_t i = 0; i < pl->nbuckets; i++) {
		for (struct plent *e = pl->buckets[i]; e; e = e->hnext) {
			if (bytes > PL_LINE_MAX / 2) {
				sync_page(pl, page, seq++, 1);
				page = jv_array();
				bytes = 0;
			}
			jv d = jv_object_set(jv_object(), jv_string("user"),
			    jv_string_sized(e->key, e->ulen));
			d = jv_object_set(d, jv_string("device"),
			    jv_string(e->key + e->ulen + 1));
			d = jv_object_set(d, jv_string("ts"),
			    jv_number((double)e->last_ms));
			page = jv_array_append(page, d);
			bytes += e->klen + 48;
		}
	}
	sync_page(pl, page, seq, 0);
	log_info("presenced connected on '%s': synced %zu devices", pl->sock,
	    pl->ndev);
}

/* The sync goes out from the loop, ahead of any batch. */
static void
on_connect(void *arg)
{
	struct presence_link *pl = arg;

	pl->need_sync = 1;
	pl->out.len = pl->nev = 0;
	ev_idle_start(pl->loop, &pl->soon);
}

/* Events from presenced */

static void
on_event(void *arg, jv ev, const char *line, size_t len)
{
	struct presence_link *pl = arg;
	const char *kind = json_str(ev, "ev", NULL);
	(void)line; (void)len;

	if (kind == NULL) {
		/* an error answering a batch sent without an id */
		jv e = jv_object_get(jv_copy(ev), jv_string("error"));
		const char *msg = json_str(e, "message", NULL);
		pl->errors++;
		log_warnx("presenced: %s", msg ? msg : "unexpected line");
		jv_free(e);
		jv_free(ev);
		return;
	}
	if (strcmp(kind, "presence") != 0) {
		jv_free(ev);
		return;
	}
	jv to = jv_object_get(jv_copy(ev), jv_string("to"));
	const char *user = json_str(ev, "user", NULL);
	const char *status = json_str(ev, "status", NULL);
	int64_t at = 0;
	json_int(ev, "last_active_at", &at);
	if (jv_get_kind(to) == JV_KIND_ARRAY && user && status &&
	    valid_user(user) && (strcmp(status, "online") == 0 ||
	    strcmp(status, "offline") == 0)) {
		int n = jv_array_length(jv_copy(to));
		const char **names = calloc((size_t)n + 1, sizeof(*names));
		size_t k = 0;
		char frame[192];
		int flen = snprintf(frame, sizeof(frame), "{\"type\":\"presence\","
		    "\"user\":\"%s\",\"status\":\"%s\",\"last_active_at\":%lld}",
		    user, status, (long long)at);
		if (names != NULL) {
			for (int i = 0; i < n; i++) {
				jv u = jv_array_get(jv_copy(to), i);
				/* strings of to live while to does */
				if (jv_get_kind(u) == JV_KIND_STRING)
					names[k++] = jv_string_value(u);
				jv_free(u);
			}
			pl->pushes++;
			pl->push(pl->arg, names, k, frame, (size_t)flen);
			free(names);
		}
	}
	jv_free(to);
	jv_free(ev);
}

/* API */

struct presence_link *
presence_link_new(struct ev_loop *loop, const char *name, const char *sock,
    presence_push_fn *push, void *arg)
{
	char path[512];
	struct presence_link *pl;

	if (!valid_name(name) || strlen(sock) >= sizeof(pl->sock) ||
	    (pl = calloc(1, sizeof(*pl))) == NULL)
		return NULL;
	pl->loop = loop;
	snprintf(pl->name, sizeof(pl->name), "%s", name);
	snprintf(pl->sock, sizeof(pl->sock), "%s", sock);
	pl->push = push;
	pl->arg = arg;
	pl->nbuckets = 1024;
	if ((pl->buckets = calloc(pl->nbuckets, sizeof(*pl->buckets))) == NULL) {
		free(pl);
		return NULL;
	}
	ev_idle_init(&pl->soon, on_soon);
	pl->soon.data = pl;
	ev_timer_init(&pl->tick, on_tick, PL_FLUSH_EVERY, 0.0);
	pl->tick.data = pl;
	conf_sock_path(sock, path, sizeof(path));
	pl->cl = ipc_client_new(loop, path, on_event, on_connect, pl);
	if (pl->cl == NULL) {
		free(pl->buckets);
		free(pl);
		return NULL;
	}
	return pl;
}

void
presence_link_free(struct presence_link *pl)
{
	if (pl == NULL)
		return;
	flush(pl);
	ev_timer_stop(pl->loop, &pl->tick);
	ev_idle_stop(pl->loop, &pl->soon);
	ipc_client_free(pl->cl);
	for (size_t i = 0; i < pl->nbuckets; i++) {
		struct plent *e = pl->buckets[i], *next;
		for (; e != NULL; e = next) {
			next = e->hnext;
			free(e);
		}
	}
	free(pl->buckets);
	buf_free(&pl->out);
	free(pl);
}

void
presence_link_connect(struct presence_link *pl, const char *user,
    const char *device)
{
	char key[PL_KEY_MAX + 1];
	int klen = make_key(key, user, device);

	if (klen < 0)
		return;
	struct plent **pp = slot_of(pl, key, (size_t)klen), *e = *pp;
	if (e == NULL) {
		if (pl->ndev + 1 > pl->nbuckets && grow(pl) == 0)
			pp = slot_of(pl, key, (size_t)klen);
		if ((e = calloc(1, sizeof(*e) + (size_t)klen + 1)) == NULL)
			return;
		memcpy(e->key, key, (size_t)klen);
		e->klen = (unsigned char)klen;
		e->ulen = (unsigned char)strlen(user);
		*pp = e;
		pl->ndev++;
	}
	e->conns++;
	e->last_ms = (int64_t)now_ms();
	e->sent = ev_now(pl->loop);
	owed_unlink(pl, e);
	emit_now(pl, e, "connect", e->last_ms);
}

void
presence_link_activity(struct presence_link *pl, const char *user,
    const char *device)
{
	char key[PL_KEY_MAX + 1];
	int klen = make_key(key, user, device);
	struct plent *e;

	if (klen < 0 || (e = *slot_of(pl, key, (size_t)klen)) == NULL)
		return;
	double now = ev_now(pl->loop);
	e->last_ms = (int64_t)(now * 1000.0);
	if (now - e->sent >= PL_BEAT_EVERY) {
		beat(pl, e, now);
		return;
	}
	pl->coalesced++;
	if (e->owed)
		return;
	e->owed = 1;
	e->onext = NULL;
	e->oprev = pl->owed_tail;
	if (pl->owed_tail)
		pl->owed_tail->onext = e;
	else
		pl->owed_head = e;
	pl->owed_tail = e;
	arm_tick(pl);
}

/* The end of one connection of user/device: kind goes out if it was the
 * device's last connection here. */
static void
ended(struct presence_link *pl, const char *user, const char *device,
    const char *kind)
{
	char key[PL_KEY_MAX + 1];
	int klen = make_key(key, user, device);
	struct plent **pp, *e;

	if (klen < 0 || (e = *(pp = slot_of(pl, key, (size_t)klen))) == NULL)
		return;
	if (--e->conns > 0)
		return;
	if (strcmp(kind, "drop") != 0)
		e->last_ms = (int64_t)now_ms();
	emit_now(pl, e, kind, e->last_ms);
	owed_unlink(pl, e);
	*pp = e->hnext;
	pl->ndev--;
	free(e);
}

void
presence_link_bye(struct presence_link *pl, const char *user,
    const char *device)
{
	ended(pl, user, device, "bye");
}

void
presence_link_close(struct presence_link *pl, const char *user,
    const char *device)
{
	ended(pl, user, device, "close");
}

void
presence_link_drop(struct presence_link *pl, const char *user,
    const char *device)
{
	ended(pl, user, device, "drop");
}

int
presence_link_query(struct presence_link *pl, const char *user, jv users,
    const char *group, int timeout_ms, ipc_reply_fn *cb, void *cbarg)
{
	jv req = jv_object_set(jv_object(), jv_string("op"),
	    jv_string("presence.query"));
	req = jv_object_set(req, jv_string("user"), jv_string(user));
	/* The events held for the next batch go first, on the same
	 * connection: a query must see every change this chatd has seen
	 * (a device that just connected is online in the answer), and a
	 * busy loop runs the idle flush late. */
	flush(pl);
	if (group != NULL) {
		jv_free(users);
		req = jv_object_set(req, jv_string("group"), jv_string(group));
	} else
		req = jv_object_set(req, jv_string("users"), users);
	return ipc_call(pl->cl, req, timeout_ms, cb, cbarg);
}

int
presence_link_friends(struct presence_link *pl, const char *user,
    int timeout_ms, ipc_reply_fn *cb, void *cbarg)
{
	jv req = jv_object_set(jv_object(), jv_string("op"),
	    jv_string("presence.friends"));
	req = jv_object_set(req, jv_string("user"), jv_string(user));
	/* No flush: the answer is the friends' statuses, not this user's,
	 * and an auth storm's connects stay in few batches. */
	return ipc_call(pl->cl, req, timeout_ms, cb, cbarg);
}

#define NUM(o, name, v) o = jv_object_set(o, jv_string(name), \
	jv_number((double)(v)))

jv
presence_link_status(const struct presence_link *pl)
{
	jv o = jv_object();

	NUM(o, "devices", pl->ndev);
	o = jv_object_set(o, jv_string("connected"),
	    jv_bool(ipc_client_connected(pl->cl)));
	NUM(o, "beats", pl->beats);
	NUM(o, "coalesced", pl->coalesced);
	NUM(o, "events", pl->events);
	NUM(o, "batches", pl->batches);
	NUM(o, "syncs", pl->syncs);
	NUM(o, "pushes", pl->pushes);
	NUM(o, "dropped", pl->dropped);
	NUM(o, "errors", pl->errors);
	return o;
}
