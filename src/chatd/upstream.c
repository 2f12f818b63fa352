/*
 * upstream: chatd's two clients, to chat-store (auth, sync, cursors) and to
 * chat-route (sends, typing, presence queries, and the deliveries it pushes
 * back as events on the same connection).
 *
 * chat-route keeps only soft state about us: which devices we hold and how
 * many connections we have.  Each time the route connection is made (first
 * start, or after chat-route restarted) we say hello and announce every
 * device again, so a route restart loses no routing state; between
 * connections a device coming or going is a one-line event.  Our own
 * requests (sends) are ipc_call's and are resent by lib/ipc after a
 * reconnect.
 *
 * With route_shards = N > 1 there is one link a shard, to route-0 ..
 * route-(N-1): hello and load go to every shard (so any can answer
 * chatd.list and relay a logout), a device's online/offline, sends,
 * typing and presence queries to its user's shard (FNV-1a of the name,
 * lib/shard.h), and deliveries and kicks are taken from every link.  A
 * link that comes back announces that shard's devices and then has them
 * re-read their inboxes, as after a restart of the one chat-route.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"
#include "conf.h"
#include "deliver.h"
#include "id.h"
#include "ipc.h"
#include "json.h"
#include "log.h"
#include "shard.h"

#define LOAD_EVERY	1.0	/* seconds between load reports */

static ev_timer load_timer;
static unsigned long load_told = (unsigned long)-1;

static unsigned
shard_of_user(const char *user)
{
	return shard_of(user, strlen(user), chatd.nroutes);
}

struct ipc_client *
upstream_route(const char *user)
{
	return chatd.nroutes <= 1 ? chatd.route :
	    chatd.routes[shard_of_user(user)];
}

int
upstream_route_connected(void)
{
	for (unsigned k = 0; k < chatd.nroutes; k++)
		if (!ipc_client_connected(chatd.routes[k]))
			return 0;
	return 1;
}

size_t
upstream_route_pending(void)
{
	size_t n = 0;

	for (unsigned k = 0; k < chatd.nroutes; k++)
		n += ipc_client_pending(chatd.routes[k]);
	return n;
}

static void
route_line(struct ipc_client *cl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
route_line(struct ipc_client *cl, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof(line))
		ipc_client_send_line(cl, line, (size_t)n);
}

/* Users and devices are [A-Za-z0-9_.-]: they need no JSON escaping. */
static void
announce(struct ipc_client *cl, struct conn *c, const char *ev)
{
	route_line(cl, "{\"ev\":\"%s\",\"user\":\"%s\",\"device\":\"%s\","
	    "\"at\":%llu}", ev, c->user, c->device,
	    (unsigned long long)c->since_ms);
}

void
upstream_online(struct conn *c)
{
	announce(upstream_route(c->user), c, "online");
}

void
upstream_offline(struct conn *c)
{
	announce(upstream_route(c->user), c, "offline");
}

static void
tell_load(struct ipc_client *cl)
{
	route_line(cl, "{\"ev\":\"load\",\"conns\":%lu}", chatd.conns);
}

static void
on_load_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop; (void)w; (void)revents;
	if (chatd.conns == load_told)
		return;
	for (unsigned k = 0; k < chatd.nroutes; k++)
		if (ipc_client_connected(chatd.routes[k]))
			tell_load(chatd.routes[k]);
	load_told = chatd.conns;
}

/* 1 if c's user belongs to route shard k (with one chat-route, all). */
static int
on_shard(struct conn *c, unsigned k)
{
	return chatd.nroutes <= 1 || shard_of_user(c->user) == k;
}

static void
on_route_caught_up(void *arg, jv reply)
{
	unsigned k = (unsigned)(uintptr_t)arg;
	size_t i = 0, n = 0;
	struct conn *c;

	jv_free(reply);
	while ((c = strmap_next(&chatd.devices, &i)) != NULL)
		if (on_shard(c, k) && (c->state == CONN_LIVE ||
		    c->state == CONN_SYNCING)) {
			sync_start(c, c->last_id, 1);
			n++;
		}
	if (n > 0)
		log_info("chat-route%s has our %zu devices: catching them up",
		    chatd.nroutes > 1 ? " shard" : "", n);
}

/*
 * lib/ipc calls this on every (re)connect, before it resends what was left
 * unanswered: hello, load, every device, then a ping.  Its reply means
 * chat-route has registered our devices, so anything committed after that
 * is delivered live; anything committed before it (perhaps by a chat-route
 * that crashed before delivering) is in the inboxes, and each device
 * re-reads its inbox after its last id.
 */
static void
on_route_connect(void *arg)
{
	unsigned k = (unsigned)(uintptr_t)arg;
	struct ipc_client *cl = chatd.routes[k];
	size_t i = 0;
	struct conn *c;

	route_line(cl, "{\"ev\":\"hello\",\"name\":\"%s\",\"url\":\"%s\"}",
	    chatd.name, chatd.url);
	tell_load(cl);
	while ((c = strmap_next(&chatd.devices, &i)) != NULL)
		if (on_shard(c, k))
			announce(cl, c, "online");
	ipc_call(cl, jv_object_set(jv_object(), jv_string("op"),
	    jv_string("ping")), 0, on_route_caught_up, arg);
}

/* The raw bytes of the "frame" member, which chat-route writes last, so a
 * delivery is written to devices exactly as the route built it. */
static struct wsframe *
frame_of(jv ev, const char *line, size_t len, uint64_t id)
{
	static const char key[] = ",\"frame\":";
	const char *p = memmem(line, len, key, sizeof(key) - 1);

	if (p != NULL && len > 0 && line[len - 1] == '}') {
		p += sizeof(key) - 1;
		return wsframe_new(p, (size_t)(line + len - 1 - p), id);
	}
	return wsframe_jv(jv_object_get(jv_copy(ev), jv_string("frame")), id);
}

static void
deliver(jv ev, const char *line, size_t len)
{
	const char *s;
	size_t slen;
	uint64_t id = 0;

	if ((s = json_str(ev, "mid", &slen)) != NULL &&
	    id_parse(s, slen, &id) == -1)
		return;
	jv devs = jv_object_get(jv_copy(ev), jv_string("devs"));
	if (jv_get_kind(devs) != JV_KIND_ARRAY) {
		jv_free(devs);
		return;
	}
	struct wsframe *f = frame_of(ev, line, len, id);
	if (f != NULL) {
		jv_array_foreach(devs, i, d) {
			struct conn *c;
			if (jv_get_kind(d) == JV_KIND_STRING &&
			    (c = conn_lookup(jv_string_value(d),
			    (size_t)jv_string_length_bytes(jv_copy(d)))) != NULL)
				sync_deliver(c, f);
			jv_free(d);
		}
		wsframe_unref(f);
	}
	jv_free(devs);
}

/* A kick: the device connected on another chatd (4002), or, with "why":
 * "logout", the device (or with no device the user) logged out (4003). */
static void
kick(jv ev)
{
	char key[100];
	const char *user = json_str(ev, "user", NULL);
	const char *device = json_str(ev, "device", NULL);
	const char *why = json_str(ev, "why", NULL);
	struct conn *c;

	if (user == NULL)
		return;
	if (why != NULL && strcmp(why, "logout") == 0) {
		size_t n = conn_logout(user, device);
		log_info("logout of '%s%s%s': %zu connections closed here",
		    user, device ? "/" : "", device ? device : "", n);
		return;
	}
	if (device == NULL)
		return;
	int n = snprintf(key, sizeof(key), "%s/%s", user, device);
	if (n > 0 && (size_t)n < sizeof(key) &&
	    (c = conn_lookup(key, (size_t)n)) != NULL) {
		log_info("'%s' connected on another chatd: closing it here",
		    key);
		conn_close(c, CLOSE_REPLACED, "replaced by a new connection", 1);
	}
}

static void
on_route_event(void *arg, jv ev, const char *line, size_t len)
{
	const char *name = json_str(ev, "ev", NULL);

	if (name == NULL)
		log_warnx("chat-route: a line that is neither a reply nor an "
		    "event");
	else if (strcmp(name, "deliver") == 0)
		deliver(ev, line, len);
	else if (strcmp(name, "kick") == 0)
		kick(ev);
	else if (strcmp(name, "resync") == 0)
		/* a route shard's feed from chat-store (re)opened: what
		 * committed before is in the inboxes (chat-route(1)) */
		on_route_caught_up(arg, jv_null());
	else
		log_debug("chat-route: event '%s' ignored", name);
	jv_free(ev);
}

int
upstream_start(char *err, size_t errlen)
{
	char path[512];

	chatd.store = ipc_client_new(chatd.loop, conf_sock_path("store", path,
	    sizeof(path)), NULL, NULL, NULL);
	if (chatd.store == NULL) {
		snprintf(err, errlen, "socket path '%s' is too long", path);
		return -1;
	}
	long long ns = conf_int("route_shards");
	if (ns < 1 || ns > SHARD_MAX) {
		snprintf(err, errlen, "config key 'route_shards' must be 1 to "
		    "%d", SHARD_MAX);
		return -1;
	}
	chatd.nroutes = (unsigned)ns;
	if ((chatd.routes = calloc(chatd.nroutes, sizeof(*chatd.routes))) ==
	    NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (unsigned k = 0; k < chatd.nroutes; k++) {
		char name[32];
		if (ns > 1)
			snprintf(name, sizeof(name), "route-%u", k);
		else
			snprintf(name, sizeof(name), "route");
		chatd.routes[k] = ipc_client_new(chatd.loop, conf_sock_path(
		    name, path, sizeof(path)), on_route_event,
		    on_route_connect, (void *)(uintptr_t)k);
		if (chatd.routes[k] == NULL) {
			snprintf(err, errlen, "socket path '%s' is too long",
			    path);
			return -1;
		}
		/* deliveries are read without jv first (deliver.c) */
		ipc_client_raw_events(chatd.routes[k], deliver_line);
	}
	chatd.route = chatd.routes[0];
	ev_timer_init(&load_timer, on_load_timer, LOAD_EVERY, LOAD_EVERY);
	ev_timer_start(chatd.loop, &load_timer);
	ev_unref(chatd.loop);
	return 0;
}

void
upstream_stop(void)
{
	ev_ref(chatd.loop);
	ev_timer_stop(chatd.loop, &load_timer);
	/* Calls still out (a dropped device's push lookup, a send) hold
	 * memory their callbacks free: answer them unavailable now, while
	 * the connections they name still exist. */
	for (unsigned k = 0; k < chatd.nroutes; k++)
		ipc_client_cancel_all(chatd.routes[k]);
	ipc_client_cancel_all(chatd.store);
	for (unsigned k = 0; k < chatd.nroutes; k++)
		ipc_client_free(chatd.routes[k]);
	ipc_client_free(chatd.store);
	free(chatd.routes);
	chatd.routes = NULL;
	chatd.nroutes = 0;
	chatd.route = chatd.store = NULL;
}
