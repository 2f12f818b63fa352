/*
 * serve: a local daemon's requests, served on a NATS subject.
 *
 * chat-bus subscribes to chat.NAME.0 in the queue group of that name (so
 * each request reaches one of the processes serving it; under a lease,
 * only the owner subscribes, outside any group: see on_gain) and keeps one
 * lib/ipc.h client to $CHAT_RUN/NAME.sock.  Each request goes to the
 * daemon with ipc_call, which waits as long as it takes and resends after
 * the daemon comes back; its reply goes to the request's reply subject
 * with the requester's own "id" put back.  A line without a reply subject
 * is an event: passed on as is.  bus.status is answered here.  A message
 * with the header Chat-Session opens a session (session.c): a connection
 * of its own to the daemon, relayed both ways.
 *
 * With --tell, the daemon is told how long it owns the shard: after each
 * acknowledged renewal, on each connect and when the lease is lost, a line
 * {"ev":"lease","key":K,"until_ms":T}, T the fence time on the machine's
 * monotonic clock (0: not ours).  A daemon that acts unasked (a route
 * shard following chat-store's feed, presenced timing devices out) does so
 * only before T, so it stops on its own if this process dies or pauses,
 * before any standby can be granted the key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "bus.h"
#include "conf.h"
#include "ipc.h"
#include "json.h"
#include "log.h"
#include "util.h"
#include "chat-bus.h"

/* A request at the daemon; listed so that those still out at exit are
 * freed (ipc_client_free drops their callbacks). */
struct fwd {
	jv		 id;		/* the requester's */
	struct fwd	*prev, *next;
	char		 reply[];	/* its reply subject */
};
static struct fwd *out;

static struct bus *bus;
static struct ipc_client *local;
static unsigned long forwarded;
static struct bus_sub *sub;		/* NULL while a lease is not ours */
static const char *subject, *queue;

static void
answer(const char *reply, jv r)
{
	size_t len;
	char *line = json_dump(r, &len);

	if (line == NULL || bus_publish(bus, reply, NULL, line, len) == -1)
		log_warnx("a reply to '%s' could not be sent: the requester "
		    "will resend", reply);
	free(line);
}

static void
on_local_reply(void *arg, jv r)
{
	struct fwd *f = arg;

	if (f->prev)
		f->prev->next = f->next;
	else
		out = f->next;
	if (f->next)
		f->next->prev = f->prev;
	answer(f->reply, jv_object_set(r, jv_string("id"), f->id));
	free(f);
}

static void
on_request(void *arg, struct bus_msg *m)
{
	const char *reply = bus_msg_reply(m), *op, *line;
	char err[200];
	struct fwd *f;
	size_t len;
	jv v;

	(void)arg;
	if (!lease_valid()) {
		/* Not ours (any more): unanswered, so the requester resends
		 * to whoever holds the lease. */
		log_debug("a request on '%s' left to the lease's owner",
		    bus_msg_subject(m));
		return;
	}
	if ((op = bus_msg_header(m, "Chat-Session")) != NULL) {
		if (strcmp(op, "open") == 0)
			session_serve_open(m);
		return;
	}
	line = bus_msg_data(m, &len);
	if (reply == NULL) {		/* an event */
		if (ipc_client_send_line(local, line, len) == -1)
			log_debug("an event dropped: the daemon is away");
		return;
	}
	v = json_parse_object(line, len, err, sizeof(err));
	if (!jv_is_valid(v)) {
		jv_free(v);
		answer(reply, json_error(jv_null(), "bad_request", err));
		return;
	}
	jv id = jv_object_get(jv_copy(v), jv_string("id"));
	if ((op = json_str(v, "op", NULL)) != NULL &&
	    strcmp(op, "bus.status") == 0) {
		jv_free(v);
		jv r = lease_status(bus_status_reply(bus, id));
		answer(reply, jv_object_set(r, jv_string("forwarded"),
		    jv_number((double)forwarded)));
		return;
	}
	if ((f = malloc(sizeof(*f) + strlen(reply) + 1)) == NULL) {
		jv_free(v);
		answer(reply, json_error(id, "unavailable", "out of memory"));
		return;
	}
	f->id = id;
	strcpy(f->reply, reply);
	f->prev = NULL;
	if ((f->next = out) != NULL)
		out->prev = f;
	out = f;
	forwarded++;
	ipc_call(local, v, 0, on_local_reply, f);
}

static void
on_local_event(void *arg, jv ev, const char *line, size_t len)
{
	(void)arg;
	(void)line;
	(void)len;
	log_debug("an event from the daemon, not carried (serve carries "
	    "requests)");
	jv_free(ev);
}

static const char *lease_key(const char *subj);

/* --tell: the daemon hears until when it owns the shard. */
static void
tell(void)
{
	char line[256];
	int n;

	if (!bo.tell)
		return;
	n = snprintf(line, sizeof(line), "{\"ev\":\"lease\",\"key\":\"%s\","
	    "\"until_ms\":%lld}\n", lease_key(subject), lease_until_ms());
	if (n > 0 && (size_t)n < sizeof(line) &&
	    ipc_client_send_line(local, line, (size_t)n) == -1)
		log_debug("the daemon is away: told again when it is back");
}

static void
on_local_connect(void *arg)
{
	(void)arg;
	tell();
}

static void
on_renew(const char *why)
{
	(void)why;
	tell();
}

static void
on_state(void *arg, int up)
{
	(void)arg;
	session_bus_state(up);
}

static void on_request(void *arg, struct bus_msg *m);

static void
on_gain(const char *why)
{
	char err[512];

	(void)why;
	/* Not in the queue group: an owner paused past its lease keeps its
	 * subscription until the servers drop its connection (minutes), and
	 * in one queue group it would still draw half the requests, none of
	 * them answered.  Subscribed plainly, every request reaches the new
	 * owner too; the old one, fenced, answers none (on_request). */
	if (sub == NULL && (sub = bus_subscribe(bus, subject, NULL,
	    on_request, NULL, err, sizeof(err))) == NULL)
		log_warnx("lease held but '%s' not served: %s", subject, err);
	else
		log_info("serving '%s': this process owns it", subject);
}

/* The lease went elsewhere: no new request is taken, and every session
 * ends, so their programs open them again at the new owner. */
static void
on_lose(const char *why)
{
	if (sub != NULL)
		bus_unsubscribe(sub);
	sub = NULL;
	session_end_all("the lease moved away");
	tell();
	log_info("no longer serving '%s': %s", subject, why);
}

/* "chat.route.0" -> "route.0": the lease's key. */
static const char *
lease_key(const char *subj)
{
	return strncmp(subj, "chat.", 5) == 0 ? subj + 5 : subj;
}

/* --lease, or NAME in the config key bus_leases (a comma list). */
static int
leased(const char *name)
{
	const char *l = conf_get("bus_leases");
	size_t n = strlen(name);

	if (bo.lease)
		return 1;
	for (const char *p = l; p != NULL && *p != '\0';
	    p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
		while (*p == ' ')
			p++;
		if (strncmp(p, name, n) == 0 && (p[n] == ',' ||
		    p[n] == '\0' || p[n] == ' '))
			return 1;
	}
	return 0;
}

int
mode_serve(int argc, char **argv)
{
	char subj[256], path[512], err[512];
	const char *name = argc == 2 ? argv[1] : NULL;
	struct ev_loop *loop = ev_default_loop(0);

	if (name == NULL || *name == '\0' || strchr(name, '/') != NULL) {
		fprintf(stderr, "usage: chat-bus serve NAME\n");
		return EXIT_USAGE;
	}
	subject = bo.subject ? bo.subject :
	    default_subject(name, subj, sizeof(subj));
	queue = bo.queue ? bo.queue : subject;
	const char *sock = bo.sock ? bo.sock :
	    conf_sock_path(name, path, sizeof(path));
	if (sock == NULL)
		fatalx(EXIT_USAGE, "socket path of '%s' is too long", name);
	stop_on_signals(loop);
	if ((local = ipc_client_new(loop, sock, on_local_event,
	    on_local_connect, NULL)) == NULL)
		fatalx(EXIT_USAGE, "socket path '%s' is too long", sock);
	bus = bus_connect(loop, name, on_state);
	long long maxline = conf_int("ipc_max_line");
	if (session_serve_start(loop, bus, sock, maxline > 0 ?
	    (size_t)maxline : 0, err, sizeof(err)) == -1)
		fatalx(EXIT_TEMP, "%s", err);
	if (leased(name)) {
		char node[64];
		int ttl = bo.ttl_set ? bo.ttl : (int)conf_int("bus_lease_ttl");
		if (ttl < 1)
			fatalx(EXIT_USAGE, "bus_lease_ttl must be at least 1 s");
		if (lease_start(loop, bus, lease_key(subject), node_name(node,
		    sizeof(node)), ttl, bo.replicas, on_gain, on_lose, err,
		    sizeof(err)) == -1)
			fatalx(EXIT_TEMP, "%s", err);
		lease_on_renew(on_renew);
		log_info("standing by for '%s' on '%s' (lease '%s')", sock,
		    subject, lease_key(subject));
	} else {
		if ((sub = bus_subscribe(bus, subject, queue, on_request, NULL,
		    err, sizeof(err))) == NULL)
			fatalx(EXIT_TEMP, "%s", err);
		log_info("serving '%s' on '%s' (queue group '%s')", sock,
		    subject, queue);
	}
	notify_ready();
	ev_run(loop, 0);
	log_info("stopped with %zu requests unanswered by '%s' (their "
	    "requesters resend them)", ipc_client_pending(local), sock);
	lease_stop();
	session_stop();
	bus_close(bus);
	ipc_client_free(local);
	for (struct fwd *f = out, *n; f != NULL; f = n) {
		n = f->next;
		jv_free(f->id);
		free(f);
	}
	return 0;
}
