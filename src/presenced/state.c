/*
 * state: the devices presenced knows, by user and by chatd, and their
 * deadlines.  Every deadline is "the time a device was last heard + one
 * fixed timeout", so appending a device that was just heard keeps the list
 * in deadline order: a beat is a hash lookup and an O(1) move to the tail,
 * and one ev_timer set for the head expires devices.  Nothing here scans
 * all devices.
 *
 * A device stays online while it is held by a chatd or was dropped less
 * than presence_timeout ago; bye and a clean close remove it at once.  A
 * user is online while it has a device.
 */
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "id.h"
#include "ipc.h"
#include "log.h"
#include "presenced.h"
#include "table.h"

struct pres_stats pres_stats;

static struct ev_loop	*loop;
static double		 timeout;
static struct table	 users, devs, chatds;
static struct pres_dev	*dl_head, *dl_tail;	/* deadline order */
static ev_timer		 expiry;
static unsigned long	 nonline;

static const char *
user_key(const void *item, size_t *len)
{
	const struct pres_user *u = item;
	*len = strlen(u->name);
	return u->name;
}

static const char *
dev_key(const void *item, size_t *len)
{
	const struct pres_dev *d = item;
	*len = d->klen;
	return d->key;
}

static const char *
chatd_key(const void *item, size_t *len)
{
	const struct pres_chatd *cd = item;
	*len = strlen(cd->name);
	return cd->name;
}

static void on_expiry(struct ev_loop *l, ev_timer *w, int revents);

void
pres_state_init(struct ev_loop *l, double t)
{
	loop = l;
	timeout = t;
	table_init(&users, user_key);
	table_init(&devs, dev_key);
	table_init(&chatds, chatd_key);
	ev_timer_init(&expiry, on_expiry, 0.0, 0.0);
}

/* Users */

struct pres_user *
pres_user_find(const char *name)
{
	return table_get(&users, name, strlen(name));
}

struct pres_user *
pres_user_get(const char *name)
{
	struct pres_user *u = pres_user_find(name);

	if (u != NULL)
		return u;
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	snprintf(u->name, sizeof(u->name), "%s", name);
	if (table_add(&users, u) == -1) {
		free(u);
		return NULL;
	}
	return u;
}

jv
pres_entry(const struct pres_user *u)
{
	jv e = jv_object_set(jv_object(), jv_string("user"),
	    jv_string(u->name));
	/* Before its load the stored status is unknown: the devices tell. */
	int on = u->loaded ? u->shown : u->ndev > 0;
	e = jv_object_set(e, jv_string("status"),
	    jv_string(on ? "online" : "offline"));
	return jv_object_set(e, jv_string("last_active_at"),
	    jv_number((double)u->last_active));
}

void
pres_settle(struct pres_user *u)
{
	if (!u->loaded) {
		if (u->loading)
			return;
		if (u->ndev > 0) {
			pres_load(u);
			return;
		}
		table_del(&users, u);	/* came and went before its load */
		free(u);
		return;
	}
	unsigned want = u->ndev > 0;
	if (want != u->shown) {
		u->shown = want;
		if (want) {
			nonline++;
			pres_stats.online++;
		} else {
			nonline--;
			pres_stats.offline++;
		}
		log_debug("'%s' is %s", u->name, want ? "online" : "offline");
		pres_publish(u, 1);
	}
	/* Offline, told, and nothing in flight: the store holds the rest. */
	if (u->ndev == 0 && !u->shown && !u->loading) {
		table_del(&users, u);
		free(u);
	}
}

void
pres_loaded(struct pres_user *u, int online, int64_t last_active)
{
	u->loading = 0;
	u->loaded = 1;
	u->shown = online != 0;
	if (online)
		nonline++;
	/* Came and went before its load: nobody was told it was online,
	 * but its activity is newer than the store's; persist that. */
	if (!online && u->ndev == 0 && u->last_active > last_active)
		pres_publish(u, 0);
	if (last_active > u->last_active)
		u->last_active = last_active;
	pres_settle(u);
}

/* Chatds */

struct pres_chatd *
pres_chatd_find(const char *name)
{
	return table_get(&chatds, name, strlen(name));
}

struct pres_chatd *
pres_chatd_claim(struct pres_conn *pc, const char *name)
{
	struct pres_chatd *cd = pres_chatd_find(name);

	if (pc->chatd == cd && cd != NULL)
		return cd;
	if (cd == NULL) {
		if ((cd = calloc(1, sizeof(*cd))) == NULL)
			return NULL;
		snprintf(cd->name, sizeof(cd->name), "%s", name);
		cd->to = jv_invalid();
		if (table_add(&chatds, cd) == -1) {
			free(cd);
			return NULL;
		}
	}
	if (pc->chatd != NULL && pc->chatd->conn == pc)
		pc->chatd->conn = NULL;		/* it changed its name */
	if (cd->conn != NULL && cd->conn != pc) {
		log_warnx("chatd '%s' reconnected on %s", name,
		    pc->ipc ? ipc_conn_name(pc->ipc) : "?");
		cd->conn->chatd = NULL;
	} else
		log_info("chatd '%s' connected (%lu devices known)", name,
		    cd->ndevs);
	cd->conn = pc;
	cd->warned_foreign = 0;
	pc->chatd = cd;
	return cd;
}

void
pres_conn_closed(struct pres_conn *pc)
{
	struct pres_chatd *cd = pc->chatd;

	if (cd == NULL || cd->conn != pc)
		return;
	cd->conn = NULL;
	cd->syncing = 0;
	log_warnx("chatd '%s' disconnected: its %lu devices go offline after "
	    "%.0f s unless it syncs again", cd->name, cd->ndevs, timeout);
}

void
pres_chatd_each(void (*fn)(struct pres_chatd *, void *), void *arg)
{
	table_each(&chatds, (void (*)(void *, void *))fn, arg);
}

/* Devices */

static void
dl_unlink(struct pres_dev *d)
{
	if (d->tprev)
		d->tprev->tnext = d->tnext;
	else
		dl_head = d->tnext;
	if (d->tnext)
		d->tnext->tprev = d->tprev;
	else
		dl_tail = d->tprev;
	d->tnext = d->tprev = NULL;
}

/* Heard now: the new deadline is the latest of all, so d goes last. */
static void
dev_touch(struct pres_dev *d)
{
	double now = ev_now(loop);

	if (dl_tail != d) {
		if (d->tprev != NULL || dl_head == d)
			dl_unlink(d);
		d->tprev = dl_tail;
		if (dl_tail)
			dl_tail->tnext = d;
		else
			dl_head = d;
		dl_tail = d;
	}
	d->deadline = now + timeout;
	if (!ev_is_active(&expiry)) {
		ev_timer_set(&expiry, dl_head->deadline - now, 0.0);
		ev_timer_start(loop, &expiry);
	}
}

static void
dev_detach(struct pres_dev *d)
{
	struct pres_chatd *cd = d->chatd;

	if (cd == NULL)
		return;
	if (d->cprev)
		d->cprev->cnext = d->cnext;
	else
		cd->devs = d->cnext;
	if (d->cnext)
		d->cnext->cprev = d->cprev;
	d->cnext = d->cprev = NULL;
	cd->ndevs--;
	d->chatd = NULL;
}

static void
dev_attach(struct pres_dev *d, struct pres_chatd *cd)
{
	if (d->chatd == cd)
		return;
	dev_detach(d);
	d->chatd = cd;
	d->cnext = cd->devs;
	if (cd->devs)
		cd->devs->cprev = d;
	cd->devs = d;
	cd->ndevs++;
}

static struct pres_dev *
dev_find(const char *key, size_t klen)
{
	return table_get(&devs, key, klen);
}

/* A new device of user u; the caller touches and attaches it. */
static struct pres_dev *
dev_new(struct pres_user *u, const char *key, size_t klen)
{
	struct pres_dev *d = calloc(1, sizeof(*d) + klen + 1);

	if (d == NULL)
		return NULL;
	memcpy(d->key, key, klen);
	d->klen = (unsigned char)klen;
	d->user = u;
	d->since = ev_now(loop);
	if (table_add(&devs, d) == -1) {
		free(d);
		return NULL;
	}
	d->unext = u->devs;
	if (u->devs)
		u->devs->uprev = d;
	u->devs = d;
	u->ndev++;
	return d;
}

/* d is gone; its user may go offline (and be freed). */
static void
dev_remove(struct pres_dev *d)
{
	struct pres_user *u = d->user;

	dev_detach(d);
	if (d->tprev != NULL || dl_head == d)
		dl_unlink(d);
	if (d->uprev)
		d->uprev->unext = d->unext;
	else
		u->devs = d->unext;
	if (d->unext)
		d->unext->uprev = d->uprev;
	u->ndev--;
	table_del(&devs, d);
	free(d);
	if (u->ndev == 0)
		pres_settle(u);
}

static void
on_expiry(struct ev_loop *l, ev_timer *w, int revents)
{
	double now = ev_now(l);
	(void)revents;

	while (dl_head != NULL && dl_head->deadline <= now) {
		pres_stats.expired++;
		log_debug("device '%s' silent for %.0f s", dl_head->key,
		    timeout);
		dev_remove(dl_head);
	}
	if (dl_head != NULL) {
		ev_timer_set(w, dl_head->deadline - now, 0.0);
		ev_timer_start(l, w);
	}
}

static int
make_key(char *key, const char *user, const char *device)
{
	int n = snprintf(key, PRES_DEVKEY_MAX + 1, "%s/%s", user, device);
	return n > 0 && n <= PRES_DEVKEY_MAX ? n : -1;
}

static void
note_activity(struct pres_user *u, int64_t ts)
{
	if (ts <= 0)
		ts = (int64_t)now_ms();
	if (ts > u->last_active)
		u->last_active = ts;
}

/* The device is held by cd and was just heard from. */
static struct pres_dev *
dev_heard(struct pres_chatd *cd, const char *user, const char *device,
    int64_t ts)
{
	char key[PRES_DEVKEY_MAX + 1];
	int klen = make_key(key, user, device);
	struct pres_dev *d;
	struct pres_user *u;

	if (klen < 0)
		return NULL;
	if ((d = dev_find(key, (size_t)klen)) == NULL) {
		if ((u = pres_user_get(user)) == NULL ||
		    (d = dev_new(u, key, (size_t)klen)) == NULL)
			return NULL;
		note_activity(u, ts);
		dev_attach(d, cd);
		dev_touch(d);
		if (u->ndev == 1)
			pres_settle(u);
		return d;
	}
	note_activity(d->user, ts);
	dev_attach(d, cd);
	dev_touch(d);
	return d;
}

/* A device of another shard's user: a chatd configured with another
 * presence_shards.  Holding it would make the user online on two shards,
 * so it is counted and left out; one warning per chatd connection. */
static void
foreign(struct pres_chatd *cd, const char *user)
{
	pres_stats.foreign++;
	if (cd->warned_foreign)
		return;
	cd->warned_foreign = 1;
	log_warnx("chatd '%s' sent a device of '%s', of shard %u, not ours (%u "
	    "of %u): ignored; is its presence_shards %u?", cd->name, user,
	    pres_shard_of(user), pres_shard_me(), pres_nshards(),
	    pres_nshards());
}

int
pres_event(struct pres_chatd *cd, const char *user, const char *device,
    enum pres_kind kind, int64_t ts)
{
	char key[PRES_DEVKEY_MAX + 1];
	struct pres_dev *d;
	int klen;

	if (!pres_shard_mine(user)) {
		foreign(cd, user);
		return 0;
	}
	switch (kind) {
	case PK_CONNECT:
	case PK_BEAT:
		if (kind == PK_CONNECT)
			pres_stats.connects++;
		else
			pres_stats.beats++;
		return dev_heard(cd, user, device, ts) ? 0 : -1;
	case PK_BYE:
	case PK_CLOSE:
		if (kind == PK_BYE)
			pres_stats.byes++;
		else
			pres_stats.closes++;
		if ((klen = make_key(key, user, device)) < 0 ||
		    (d = dev_find(key, (size_t)klen)) == NULL)
			return 0;
		/* A device that moved to another chatd is that one's now. */
		if (d->chatd != NULL && d->chatd != cd) {
			pres_stats.stale++;
			return 0;
		}
		note_activity(d->user, ts);
		dev_remove(d);
		return 0;
	case PK_DROP:
		pres_stats.drops++;
		if ((klen = make_key(key, user, device)) < 0 ||
		    (d = dev_find(key, (size_t)klen)) == NULL)
			return 0;
		if (d->chatd != cd) {
			pres_stats.stale++;
			return 0;
		}
		dev_detach(d);	/* its deadline stands */
		return 0;
	}
	return 0;
}

void
pres_sync_begin(struct pres_chatd *cd)
{
	cd->sync_gen++;
	cd->syncing = 1;
}

int
pres_sync_device(struct pres_chatd *cd, const char *user, const char *device,
    int64_t ts)
{
	struct pres_dev *d;

	if (!pres_shard_mine(user)) {
		foreign(cd, user);
		return 0;
	}
	if ((d = dev_heard(cd, user, device, ts)) == NULL)
		return -1;
	d->sync_gen = cd->sync_gen;
	/* The chatd held it, maybe since before we started: it may have
	 * missed what shard.c holds for the settle. */
	d->since = 0;
	return 0;
}

void
pres_sync_end(struct pres_chatd *cd)
{
	struct pres_dev *d, *next;
	unsigned long gone = 0;

	if (!cd->syncing)
		return;
	cd->syncing = 0;
	pres_stats.syncs++;
	for (d = cd->devs; d != NULL; d = next) {
		next = d->cnext;
		if (d->sync_gen != cd->sync_gen) {
			gone++;
			dev_remove(d);
		}
	}
	pres_stats.gone += gone;
	log_info("chatd '%s' synced: %lu devices, %lu gone", cd->name,
	    cd->ndevs, gone);
}

struct online_acc {
	jv		 list;
	int		 left;
	unsigned long	 total;
};

static void
online_one(void *item, void *arg)
{
	struct pres_user *u = item;
	struct online_acc *a = arg;

	if (!(u->loaded ? u->shown : u->ndev > 0))
		return;
	a->total++;
	if (a->left > 0) {
		a->left--;
		a->list = jv_array_append(a->list, pres_entry(u));
	}
}

jv
pres_online_list(int limit, unsigned long *total)
{
	struct online_acc a = { jv_array(), limit, 0 };

	table_each(&users, online_one, &a);
	*total = a.total;
	return a.list;
}

unsigned long pres_ndevices(void) { return devs.n; }
unsigned long pres_nusers(void) { return users.n; }
unsigned long pres_nonline(void) { return nonline; }
