/*
 * attach: a local socket whose requests are served on a NATS subject.
 *
 * chat-bus listens on $CHAT_RUN/NAME.sock (where no daemon NAME runs on
 * this machine) and sends each request line to chat.NAME.0 with bus_call:
 * ids, resend after a reconnect or a lost responder, first reply wins.
 * The reply goes back to the connection that asked, with the asker's own
 * "id" put back, so a program talking to NAME.sock cannot tell the daemon
 * is on another machine.  An event line is published as is.  bus.status is
 * answered here.
 *
 * Replies may come back out of request order (two requests may reach two
 * members of a queue group); every program here matches replies by id.
 *
 * With --session each connection is carried whole instead (session.c):
 * for links where the daemon also writes to the program unasked.  With
 * --discover, chatd.list is answered here from the discovery bucket (kv.c)
 * instead of by chat-route: chat-api's discovery then names every live
 * chatd of every machine.
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

/* A local connection; a request still out holds a reference. */
struct aconn {
	struct ipc_conn	*c;		/* NULL once closed */
	unsigned	 refs;
};

struct ask {
	struct aconn	*a;
	jv		 id;
	struct ask	*prev, *next;	/* the asks out, freed at exit */
};

static struct bus *bus;
static struct ask *asks;
static struct bus_client *remote;
static const char *subject;

static void
unref(struct aconn *a)
{
	if (--a->refs == 0)
		free(a);
}

static void
ask_free(struct ask *k)
{
	if (k->prev != NULL)
		k->prev->next = k->next;
	else
		asks = k->next;
	if (k->next != NULL)
		k->next->prev = k->prev;
	unref(k->a);
	free(k);
}

static void
on_remote_reply(void *arg, jv r)
{
	struct ask *k = arg;

	r = jv_object_set(r, jv_string("id"), jv_copy(k->id));
	if (k->a->c != NULL)
		ipc_send_jv(k->a->c, r);
	else
		jv_free(r);
	jv_free(k->id);
	ask_free(k);
}

static void
on_line(struct ipc_conn *c, const char *line, size_t len)
{
	struct aconn *a = ipc_conn_data(c);
	char err[200];
	const char *op;
	struct ask *k;

	if (attach_local_op(c, line, len))
		return;
	jv v = json_parse_object(line, len, err, sizeof(err));

	if (!jv_is_valid(v)) {
		jv_free(v);
		ipc_send_jv(c, json_error(jv_null(), "bad_request", err));
		return;
	}
	if ((op = json_str(v, "op", NULL)) == NULL) {	/* an event */
		jv_free(v);
		if (bus_publish(bus, subject, NULL, line, len) == -1)
			log_warnx("an event dropped: the bus buffer is full");
		return;
	}
	jv id = jv_object_get(jv_copy(v), jv_string("id"));
	if ((k = malloc(sizeof(*k))) == NULL) {
		jv_free(v);
		ipc_send_jv(c, json_error(id, "unavailable", "out of memory"));
		return;
	}
	k->a = a;
	k->id = id;
	k->prev = NULL;
	if ((k->next = asks) != NULL)
		asks->prev = k;
	asks = k;
	a->refs++;
	bus_call(remote, v, bo.timeout_ms, on_remote_reply, k);
}

static void
on_open(struct ipc_conn *c)
{
	struct aconn *a = calloc(1, sizeof(*a));

	if (a == NULL) {
		ipc_close(c);
		return;
	}
	a->c = c;
	a->refs = 1;
	ipc_conn_set_data(c, a);
}

static void
on_close(struct ipc_conn *c)
{
	struct aconn *a = ipc_conn_data(c);

	if (a == NULL)
		return;
	a->c = NULL;
	unref(a);
}

static const struct ipc_handlers handlers = { on_line, on_open, on_close };

jv
session_status(jv r)
{
	struct session_stats st;

	session_get_stats(&st);
	r = jv_object_set(r, jv_string("sessions"),
	    jv_number((double)st.sessions));
	r = jv_object_set(r, jv_string("sessions_opened"),
	    jv_number((double)st.opened));
	r = jv_object_set(r, jv_string("sessions_ended"),
	    jv_number((double)st.ended));
	r = jv_object_set(r, jv_string("session_msgs_in"),
	    jv_number((double)st.msgs_in));
	return jv_object_set(r, jv_string("session_msgs_out"),
	    jv_number((double)st.msgs_out));
}

/* A short line naming an op chat-bus answers itself; the check is a
 * memmem on short lines only, so carried lines cost next to nothing. */
int
attach_local_op(struct ipc_conn *c, const char *line, size_t len)
{
	static const char st[] = "\"bus.status\"", cl[] = "\"chatd.list\"";
	const char *op;
	char err[200];
	jv v;

	if (len > 200 || (memmem(line, len, st, sizeof(st) - 1) == NULL &&
	    (!kv_mirror_live() || memmem(line, len, cl, sizeof(cl) - 1) ==
	    NULL)))
		return 0;
	v = json_parse_object(line, len, err, sizeof(err));
	if (!jv_is_valid(v) || (op = json_str(v, "op", NULL)) == NULL ||
	    (strcmp(op, "bus.status") != 0 && (!kv_mirror_live() ||
	    strcmp(op, "chatd.list") != 0))) {
		jv_free(v);
		return 0;
	}
	jv id = jv_object_get(jv_copy(v), jv_string("id"));
	if (strcmp(op, "bus.status") == 0)
		ipc_send_jv(c, jv_object_set(bus_status_reply(bus, id),
		    jv_string("pending"),
		    jv_number((double)bus_client_pending(remote))));
	else
		ipc_send_jv(c, kv_mirror_list(id));
	jv_free(v);
	return 1;
}

static void
on_state(void *arg, int up)
{
	(void)arg;
	session_bus_state(up);
}

int
mode_attach(int argc, char **argv)
{
	char subj[256], path[512], err[512];
	const char *name = argc == 2 ? argv[1] : NULL;
	struct ev_loop *loop = ev_default_loop(0);
	struct ipc_server *srv;

	if (name == NULL || *name == '\0' || strchr(name, '/') != NULL) {
		fprintf(stderr, "usage: chat-bus attach NAME\n");
		return EXIT_USAGE;
	}
	subject = bo.subject ? bo.subject :
	    default_subject(name, subj, sizeof(subj));
	const char *sock = bo.sock ? bo.sock :
	    conf_sock_path(name, path, sizeof(path));
	stop_on_signals(loop);
	bus = bus_connect(loop, name, on_state);
	if ((remote = bus_client_new(bus, subject, bo.resend_ms)) == NULL)
		fatalx(EXIT_TEMP, "unable to make a requester of '%s'",
		    subject);
	if (bo.discover && kv_mirror_start(bus, bo.ttl, err, sizeof(err)) ==
	    -1)
		fatalx(EXIT_TEMP, "%s", err);
	const struct ipc_handlers *h = &handlers;
	if (bo.session && (h = session_attach_start(loop, bus, subject, err,
	    sizeof(err))) == NULL)
		fatalx(EXIT_TEMP, "%s", err);
	if (bo.sock == NULL && mkdir_p(conf_run(), 0700) == -1)
		fatal(EXIT_TEMP, "unable to make '%s'", conf_run());
	long long maxline = conf_int("ipc_max_line");
	if ((srv = ipc_listen(loop, sock, maxline > 0 ? (size_t)maxline : 0,
	    h, NULL, err, sizeof(err))) == NULL)
		fatalx(EXIT_TEMP, "%s", err);
	log_info("listening on '%s' for '%s'%s", sock, subject,
	    bo.session ? ", a session a connection" : "");
	notify_ready();
	ev_run(loop, 0);
	ipc_server_close(srv);
	session_stop();
	log_info("stopped with %zu requests to '%s' unanswered",
	    bus_client_pending(remote), subject);
	bus_close(bus);		/* frees remote, without calling back */
	while (asks != NULL) {	/* the requests it dropped */
		jv_free(asks->id);
		ask_free(asks);
	}
	return 0;
}
