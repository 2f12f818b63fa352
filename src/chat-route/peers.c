/*
 * peers: the connections to chat-route, and the table of online devices.
 *
 * users maps a user name to the devices of it that some chatd holds, each
 * with its chatd (struct peer).  A user has a handful of devices, so they
 * are a small array; a fan-out looks up each recipient once.
 *
 * A device may turn up on two chatds (it reconnected elsewhere before the
 * first noticed it was gone, or both re-announced it after our restart).
 * The newer authentication wins, by its "at" time: the other chatd is told
 * to close its connection ("kick"), so a device is never reachable by two
 * paths that could deliver out of order.
 *
 * A user's first device online cancels its waiting pushes (push.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "json.h"
#include "log.h"
#include "route.h"
#include "util.h"

struct peer *
peer_new(struct ipc_conn *c)
{
	struct peer *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->conn = c;
	p->refs = 1;
	p->next = route.peers;
	if (route.peers)
		route.peers->prev = p;
	route.peers = p;
	ipc_conn_set_data(c, p);
	return p;
}

void
peer_ref(struct peer *p)
{
	p->refs++;
}

void
peer_unref(struct peer *p)
{
	if (--p->refs > 0)
		return;
	buf_free(&p->out);
	free(p);
}

void
peer_send(struct peer *p, const char *line, size_t len)
{
	if (p->conn != NULL)
		ipc_send(p->conn, line, len);
}

struct ruser *
peer_user(const char *user)
{
	return strmap_get(&route.users, user, strlen(user));
}

static void
drop_user(struct ruser *r)
{
	strmap_del(&route.users, r->user, strlen(r->user));
	free(r->devs);
	free(r);
}

static void
remove_dev(struct ruser *r, size_t i)
{
	r->devs[i] = r->devs[--r->n];
	route.ndevices--;
}

void
peer_gone(struct peer *p)
{
	struct ruser *r, **empty = NULL;
	size_t i = 0, nempty = 0, gone = 0;

	while ((r = strmap_next(&route.users, &i)) != NULL) {
		for (size_t d = 0; d < r->n;)
			if (r->devs[d].peer == p) {
				remove_dev(r, d);
				gone++;
			} else
				d++;
		if (r->n == 0) {
			struct ruser **e = realloc(empty, (nempty + 1) *
			    sizeof(*e));
			if (e == NULL)
				continue;	/* kept empty: harmless */
			empty = e;
			empty[nempty++] = r;
		}
	}
	for (i = 0; i < nempty; i++)
		drop_user(empty[i]);
	free(empty);
	if (p->hello)
		log_info("'%s' disconnected: %zu devices offline", p->name,
		    gone);
	if (p->prev)
		p->prev->next = p->next;
	else
		route.peers = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->conn = NULL;
	peer_unref(p);
}

static void
copy_str(jv ev, const char *field, char *dst, size_t len)
{
	const char *s = json_str(ev, field, NULL);

	if (s != NULL)
		snprintf(dst, len, "%s", s);
}

void
peer_hello(struct peer *p, jv ev)
{
	copy_str(ev, "name", p->name, sizeof(p->name));
	copy_str(ev, "url", p->url, sizeof(p->url));
	p->hello = 1;
	log_info("'%s' connected (%s)", p->name, p->url);
}

void
peer_load(struct peer *p, jv ev)
{
	int64_t n;

	if (json_int(ev, "conns", &n) && n >= 0)
		p->conns = (unsigned long)n;
}

static void
kick(struct peer *p, const char *user, const char *device)
{
	char line[160];
	int n = snprintf(line, sizeof(line), "{\"ev\":\"kick\",\"user\":\"%s\","
	    "\"device\":\"%s\"}", user, device);

	route.n.kicks++;
	if (n > 0 && (size_t)n < sizeof(line))
		peer_send(p, line, (size_t)n);
}

/* The user and device of an online/offline event, checked. */
static int
dev_fields(jv ev, const char **user, const char **device, uint64_t *at)
{
	int64_t t = 0;

	*user = json_str(ev, "user", NULL);
	*device = json_str(ev, "device", NULL);
	json_int(ev, "at", &t);
	*at = t > 0 ? (uint64_t)t : 0;
	if (*user == NULL || *device == NULL || !valid_user(*user) ||
	    !valid_device(*device)) {
		log_warnx("an online/offline event without a good user and "
		    "device: ignored");
		return -1;
	}
	return 0;
}

void
peer_online(struct peer *p, jv ev)
{
	const char *user, *device;
	uint64_t at;
	struct ruser *r;

	if (dev_fields(ev, &user, &device, &at) == -1)
		return;
	if ((r = peer_user(user)) == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return;
		snprintf(r->user, sizeof(r->user), "%s", user);
		if (strmap_put(&route.users, r->user, strlen(r->user), r) ==
		    STRMAP_NOMEM) {
			free(r);
			return;
		}
	}
	for (size_t i = 0; i < r->n; i++) {
		struct udev *d = &r->devs[i];
		if (strcmp(d->device, device) != 0)
			continue;
		if (d->peer != p) {
			if (at >= d->at) {
				kick(d->peer, user, device);
				d->peer = p;
				d->at = at;
			} else
				kick(p, user, device);
		} else
			d->at = at;
		return;
	}
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 2;
		struct udev *v = realloc(r->devs, cap * sizeof(*v));
		if (v == NULL)
			return;
		r->devs = v;
		r->cap = cap;
	}
	struct udev *d = &r->devs[r->n++];
	snprintf(d->device, sizeof(d->device), "%s", device);
	d->peer = p;
	d->at = at;
	route.ndevices++;
	if (r->n == 1)		/* was offline: drop its waiting pushes */
		push_online(r->user);
}

void
peer_offline(struct peer *p, jv ev)
{
	const char *user, *device;
	uint64_t at;
	struct ruser *r;

	if (dev_fields(ev, &user, &device, &at) == -1 ||
	    (r = peer_user(user)) == NULL)
		return;
	for (size_t i = 0; i < r->n; i++)
		if (r->devs[i].peer == p && strcmp(r->devs[i].device,
		    device) == 0) {
			remove_dev(r, i);
			break;
		}
	if (r->n == 0)
		drop_user(r);
}
