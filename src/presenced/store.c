/*
 * store: presenced's side of chat-store.
 *
 * Loading: the first time presenced sees a user it asks chat-store for the
 * stored status (presence.get, up to 1000 users a request, gathered over
 * one loop turn), so that after a restart a user whose devices come back
 * is "still online", not "offline then online", and nobody is told.
 *
 * Publishing: each online<->offline change writes presence.set (status and
 * last_active_at: one write per change) and asks friend.list; the answer
 * becomes one event line per chatd that holds a device of a mutual friend.
 * Requests wait for the store without a time limit and are resent after a
 * reconnect (ipc.h), in order, so changes reach friends in order.  At most
 * STORE_INFLIGHT of them are out at once; the rest wait in a FIFO here.
 *
 * Sweep: after a restart, users the store still calls online but that no
 * chatd announced within presence_timeout are set offline, once (only
 * this shard's users: another shard owns the rest, see shard.c).  With
 * --leased, changes are published and the sweep runs only while the shard
 * is ours (standby.c).
 */
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "ipc.h"
#include "json.h"
#include "log.h"
#include "util.h"
#include "presenced.h"
#include "standby.h"

#define LOAD_MAX	1000	/* chat-store's presence.get limit */
#define SWEEP_PAGE	1000

static struct ev_loop	 *loop;
static struct ipc_client *store;
static struct pres_user	 *lq_head, *lq_tail;
static ev_prepare	  load_flush;
static ev_timer		  sweep_timer;

struct load_batch {
	size_t		 n;
	struct pres_user *u[LOAD_MAX];
};

/* A change to persist and push; one reference for each of its two
 * requests.  Changes wait in pub_head..pub_tail while chat-store already
 * has STORE_INFLIGHT requests of ours: a connect storm of a million users
 * must not become a million requests queued at once. */
struct pub {
	char		 user[33];
	int		 online;
	int		 tell;		/* 0: persist only, no friend.list */
	int64_t		 at;
	int		 refs;
	struct pub	*next;
};

#define STORE_INFLIGHT	4096

static struct pub	*pub_head, *pub_tail;
static unsigned long	 pub_queued;

static void pump(void);

static void
pub_unref(struct pub *p)
{
	if (--p->refs == 0)
		free(p);
}

unsigned long pres_publish_queued(void) { return pub_queued; }

struct ipc_client *pres_store(void) { return store; }

/* Logs a failed reply; consumes reply. */
static void
store_error(const char *what, const char *user, jv reply)
{
	jv e = jv_object_get(jv_copy(reply), jv_string("error"));
	const char *msg = json_str(e, "message", NULL);

	pres_stats.store_errors++;
	log_warnx("chat-store %s for '%s' failed: %s", what, user,
	    msg ? msg : "no reason given");
	jv_free(e);
	jv_free(reply);
}

/* Loading */

static void
on_loaded(void *arg, jv reply)
{
	struct load_batch *b = arg;
	jv list = jv_object_get(jv_copy(reply), jv_string("presence"));
	int ok = json_bool(reply, "ok", 0) &&
	    jv_get_kind(list) == JV_KIND_ARRAY &&
	    (size_t)jv_array_length(jv_copy(list)) == b->n;

	if (!ok)
		store_error("presence.get", b->u[0]->name, jv_copy(reply));
	for (size_t i = 0; i < b->n; i++) {
		int online = 0;
		int64_t at = 0;
		if (ok) {
			jv e = jv_array_get(jv_copy(list), (int)i);
			const char *st = json_str(e, "status", NULL);
			const char *name = json_str(e, "user", NULL);
			if (name && strcmp(name, b->u[i]->name) == 0) {
				online = st && strcmp(st, "online") == 0;
				json_int(e, "last_active_at", &at);
			}
			jv_free(e);
		}
		pres_loaded(b->u[i], online, at);
	}
	jv_free(list);
	jv_free(reply);
	free(b);
}

static void
flush_loads(struct ev_loop *l, ev_prepare *w, int revents)
{
	(void)revents;
	ev_prepare_stop(l, w);
	while (lq_head != NULL) {
		struct load_batch *b = malloc(sizeof(*b));
		if (b == NULL) {
			ev_prepare_start(l, w);		/* try next turn */
			return;
		}
		jv names = jv_array();
		b->n = 0;
		while (lq_head != NULL && b->n < LOAD_MAX) {
			struct pres_user *u = lq_head;
			lq_head = u->lnext;
			u->lnext = NULL;
			b->u[b->n++] = u;
			names = jv_array_append(names, jv_string(u->name));
		}
		if (lq_head == NULL)
			lq_tail = NULL;
		pres_stats.loads++;
		jv req = jv_object_set(jv_object_set(jv_object(),
		    jv_string("op"), jv_string("presence.get")),
		    jv_string("users"), names);
		if (ipc_call(store, req, 0, on_loaded, b) == -1)
			on_loaded(b, json_error(jv_null(), "internal",
			    "unable to queue presence.get"));
	}
}

void
pres_load(struct pres_user *u)
{
	u->loading = 1;
	u->lnext = NULL;
	if (lq_tail)
		lq_tail->lnext = u;
	else
		lq_head = u;
	lq_tail = u;
	if (!ev_is_active(&load_flush))
		ev_prepare_start(loop, &load_flush);
}

/* Publishing */

static void
on_set(void *arg, jv reply)
{
	struct pub *p = arg;

	if (!json_bool(reply, "ok", 0))
		store_error("presence.set", p->user, jv_copy(reply));
	jv_free(reply);
	pub_unref(p);
	pump();
}

/* The chatds touched by one fan-out. */
struct touched {
	struct pres_chatd **cd;
	size_t		   n, cap;
};

static void
add_recipient(struct touched *t, struct pres_chatd *cd, struct pres_user *fu)
{
	if (!jv_is_valid(cd->to)) {
		if (t->n == t->cap) {
			size_t cap = t->cap ? t->cap * 2 : 8;
			void *n = realloc(t->cd, cap * sizeof(*t->cd));
			if (n == NULL)
				return;
			t->cd = n;
			t->cap = cap;
		}
		t->cd[t->n++] = cd;
		cd->to = jv_array();
		cd->last_to = NULL;
	}
	if (cd->last_to != fu) {
		cd->to = jv_array_append(cd->to, jv_string(fu->name));
		cd->last_to = fu;
		pres_stats.fanout_users++;
	}
}

void
pres_fanout(const char *user, int online, int64_t at, jv names,
    double heard_by)
{
	struct touched t = { NULL, 0, 0 };

	jv_array_foreach(names, i, f) {
		struct pres_user *fu = jv_get_kind(f) == JV_KIND_STRING ?
		    pres_user_find(jv_string_value(f)) : NULL;

		if (fu != NULL)
			for (struct pres_dev *d = fu->devs; d; d = d->unext)
				if (d->chatd && d->chatd->conn &&
				    d->chatd->conn->ipc && d->since <= heard_by)
					add_recipient(&t, d->chatd, fu);
		jv_free(f);
	}
	jv_free(names);
	for (size_t i = 0; i < t.n; i++) {
		struct pres_chatd *cd = t.cd[i];
		jv ev = jv_object_set(jv_object(), jv_string("ev"),
		    jv_string("presence"));
		ev = jv_object_set(ev, jv_string("to"), cd->to);
		ev = jv_object_set(ev, jv_string("user"), jv_string(user));
		ev = jv_object_set(ev, jv_string("status"),
		    jv_string(online ? "online" : "offline"));
		ev = jv_object_set(ev, jv_string("last_active_at"),
		    jv_number((double)at));
		cd->to = jv_invalid();
		cd->last_to = NULL;
		pres_stats.fanout_lines++;
		ipc_send_jv(cd->conn->ipc, ev);
	}
	free(t.cd);
}

/* The mutual friends from friend.list: ours are fanned out here, each
 * other shard's go to that shard in one presence.notify. */
static void
on_friends(void *arg, jv reply)
{
	struct pub *p = arg;
	jv list = jv_object_get(jv_copy(reply), jv_string("friends"));
	unsigned n = pres_nshards();
	jv *by = NULL;

	if (!json_bool(reply, "ok", 0) || jv_get_kind(list) != JV_KIND_ARRAY) {
		store_error("friend.list", p->user, jv_copy(reply));
		goto out;
	}
	if ((by = malloc(n * sizeof(*by))) == NULL) {
		log_warnx("out of memory: '%s' is %s, friends not told",
		    p->user, p->online ? "online" : "offline");
		goto out;
	}
	for (unsigned j = 0; j < n; j++)
		by[j] = jv_array();
	jv_array_foreach(list, i, f) {
		const char *name = json_str(f, "user", NULL);
		const char *st = json_str(f, "state", NULL);

		if (name && st && strcmp(st, "friends") == 0 && valid_user(name)) {
			unsigned j = pres_shard_of(name);
			by[j] = jv_array_append(by[j], jv_string(name));
		}
		jv_free(f);
	}
	for (unsigned j = 0; j < n; j++) {
		if (j == pres_shard_me())
			pres_fanout(p->user, p->online, p->at, by[j],
			    ev_now(loop));
		else if (jv_array_length(jv_copy(by[j])) > 0)
			pres_shard_notify(j, p->user, p->online, p->at, by[j]);
		else
			jv_free(by[j]);
	}
	free(by);
out:
	jv_free(list);
	jv_free(reply);
	pub_unref(p);
	pump();
}

/* Sends the queued changes chat-store has room for, oldest first. */
static void
pump(void)
{
	while (pub_head != NULL &&
	    ipc_client_pending(store) + 2 <= STORE_INFLIGHT) {
		struct pub *p = pub_head;
		jv req;

		if ((pub_head = p->next) == NULL)
			pub_tail = NULL;
		pub_queued--;
		p->refs = p->tell ? 2 : 1;
		req = jv_object_set(jv_object(), jv_string("op"),
		    jv_string("presence.set"));
		req = jv_object_set(req, jv_string("user"), jv_string(p->user));
		req = jv_object_set(req, jv_string("status"),
		    jv_string(p->online ? "online" : "offline"));
		req = jv_object_set(req, jv_string("last_active_at"),
		    jv_number((double)p->at));
		int tell = p->tell;
		if (ipc_call(store, req, 0, on_set, p) == -1)
			pub_unref(p);
		if (!tell)
			continue;
		req = jv_object_set(jv_object_set(jv_object(), jv_string("op"),
		    jv_string("friend.list")), jv_string("user"),
		    jv_string(p->user));
		if (ipc_call(store, req, 0, on_friends, p) == -1)
			pub_unref(p);
	}
}

void
pres_publish(struct pres_user *u, int tell)
{
	if (!pres_standby_owning()) {
		pres_standby_skipped();
		return;
	}
	struct pub *p = calloc(1, sizeof(*p));

	if (p == NULL) {
		log_warnx("out of memory: '%s' is %s, not persisted", u->name,
		    u->shown ? "online" : "offline");
		return;
	}
	memcpy(p->user, u->name, sizeof(p->user));
	p->online = u->shown;
	p->tell = tell;
	p->at = u->last_active;
	if (pub_tail)
		pub_tail->next = p;
	else
		pub_head = p;
	pub_tail = p;
	pub_queued++;
	pump();
}

/* Sweep */

static void sweep_page(const char *after);

static void
on_sweep(void *arg, jv reply)
{
	jv items = jv_object_get(jv_copy(reply), jv_string("items"));
	char last[64] = "";
	(void)arg;

	if (!json_bool(reply, "ok", 0) || jv_get_kind(items) != JV_KIND_ARRAY) {
		store_error("scan of p/", "*", jv_copy(reply));
		goto out;
	}
	jv_array_foreach(items, i, it) {
		const char *key = json_str(it, "key", NULL);
		jv v = jv_object_get(jv_copy(it), jv_string("value"));
		const char *st = jv_get_kind(v) == JV_KIND_OBJECT ?
		    json_str(v, "status", NULL) : NULL;
		int64_t at = 0;

		if (key != NULL) {
			snprintf(last, sizeof(last), "%s", key);
			if (jv_get_kind(v) == JV_KIND_OBJECT)
				json_int(v, "last_active_at", &at);
		}
		if (key && strncmp(key, "p/", 2) == 0 && valid_user(key + 2) &&
		    pres_shard_mine(key + 2) &&
		    st && strcmp(st, "online") == 0 &&
		    pres_user_find(key + 2) == NULL) {
			struct pres_user *u = pres_user_get(key + 2);
			if (u != NULL) {
				pres_stats.swept++;
				log_info("'%s' was online before the restart and "
				    "no chatd has it: offline", key + 2);
				pres_loaded(u, 1, at);	/* settles: offline */
			}
		}
		jv_free(v);
		jv_free(it);
	}
	if (json_bool(reply, "more", 0) && last[0] != '\0') {
		sweep_page(last);
		goto out;
	}
	log_info("sweep done: %lu users set offline", pres_stats.swept);
out:
	jv_free(items);
	jv_free(reply);
}

static void
sweep_page(const char *after)
{
	jv req = jv_object_set(jv_object(), jv_string("op"), jv_string("scan"));
	req = jv_object_set(req, jv_string("prefix"), jv_string("p/"));
	req = jv_object_set(req, jv_string("limit"), jv_number(SWEEP_PAGE));
	if (after != NULL)
		req = jv_object_set(req, jv_string("after"), jv_string(after));
	ipc_call(store, req, 0, on_sweep, NULL);
}

static void
on_sweep_timer(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l; (void)w; (void)revents;
	sweep_page(NULL);
}

static void
sweep_start(void)
{
	ev_timer_stop(loop, &sweep_timer);
	ev_timer_start(loop, &sweep_timer);
}

static void
sweep_stop(void)
{
	ev_timer_stop(loop, &sweep_timer);
}

void
pres_store_init(struct ev_loop *l, struct ipc_client *cl, double sweep_after,
    int leased)
{
	loop = l;
	store = cl;
	ev_prepare_init(&load_flush, flush_loads);
	ev_timer_init(&sweep_timer, on_sweep_timer, sweep_after, 0.0);
	pres_standby_init(loop, leased, sweep_start, sweep_stop);
}
