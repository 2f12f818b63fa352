/*
 * ipc over real Unix sockets: an echo server in a child process, the
 * blocking client and the libev client in the parent.  Covers pipelining,
 * events skipped by the sync client, over-long lines, a server killed and
 * restarted with requests in flight (all resent and answered), and timeouts.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>
#include <jv.h>

#include "ipc.h"
#include "ipc_sync.h"
#include "ipc_fixture.h"
#include "t.h"

static char sock_path[108];

static void
echo_line(struct ipc_conn *c, const char *line, size_t len)
{
	jv v = jv_parse_sized(line, (int)len);
	if (!jv_is_valid(v)) {
		jv_free(v);
		ipc_send(c, "{\"id\":null,\"ok\":false}", 22);
		return;
	}
	jv op = jv_object_get(jv_copy(v), jv_string("op"));
	if (jv_get_kind(op) == JV_KIND_STRING &&
	    strcmp(jv_string_value(op), "event") == 0)
		ipc_send(c, "{\"ev\":\"tick\"}", 13);
	jv_free(op);
	jv rep = jv_object_set(jv_object(), jv_string("id"),
	    jv_object_get(jv_copy(v), jv_string("id")));
	rep = jv_object_set(rep, jv_string("ok"), jv_true());
	jv x = jv_object_get(v, jv_string("x"));
	if (jv_is_valid(x))
		rep = jv_object_set(rep, jv_string("x"), x);
	else
		jv_free(x);
	ipc_send_jv(c, rep);
}

static void
test_sync_client(void)
{
	struct ipc_sync s;
	char err[256];

	CHECK(ipc_sync_open(&s, sock_path, err, sizeof(err)) == 0,
	    "sync client connects");
	char *rep = ipc_sync_call(&s, "{\"op\":\"echo\",\"x\":5}", 2000, err,
	    sizeof(err));
	CHECK(rep && strstr(rep, "\"x\":5") && strstr(rep, "\"id\":1"),
	    "echo reply matched by id: %s", rep ? rep : err);
	free(rep);
	rep = ipc_sync_call(&s, "{\"op\":\"event\",\"x\":6}", 2000, err,
	    sizeof(err));
	CHECK(rep && strstr(rep, "\"x\":6"), "event line skipped, reply found");
	free(rep);

	/* a 2 MiB line with no newline in sight, then one that ends it */
	size_t big = 2 * 1024 * 1024;
	char *junk = malloc(big);
	memset(junk, 'a', big);
	CHECK(send(s.fd, junk, big, MSG_NOSIGNAL) == (ssize_t)big,
	    "sent 2 MiB without a newline");
	CHECK(send(s.fd, "\n", 1, MSG_NOSIGNAL) == 1, "then the newline");
	free(junk);
	rep = ipc_sync_read(&s, 2000, err, sizeof(err));
	CHECK(rep && strstr(rep, "line_too_long"), "over-long line answered: %s",
	    rep ? rep : err);
	free(rep);
	rep = ipc_sync_call(&s, "{\"op\":\"echo\",\"x\":7}", 2000, err,
	    sizeof(err));
	CHECK(rep && strstr(rep, "\"x\":7"), "connection still works after it");
	free(rep);
	ipc_sync_close(&s);

	CHECK(ipc_sync_open(&s, "/nonexistent/x.sock", err, sizeof(err)) == -1 &&
	    strstr(err, "unable to connect to '/nonexistent/x.sock'"),
	    "missing socket is a clear error: %s", err);
}

struct tally {
	int	replies, ok, in_order, unavailable;
	long	last;
	int	want;
	struct ev_loop *loop;
};

static void
on_reply(void *arg, jv rep)
{
	struct tally *t = arg;
	jv ok = jv_object_get(jv_copy(rep), jv_string("ok"));
	jv id = jv_object_get(jv_copy(rep), jv_string("id"));
	t->replies++;
	if (jv_get_kind(ok) == JV_KIND_TRUE)
		t->ok++;
	else
		t->unavailable++;
	if ((long)jv_number_value(id) > t->last)
		t->in_order++;
	t->last = (long)jv_number_value(id);
	jv_free(ok);
	jv_free(id);
	jv_free(rep);
	if (t->replies == t->want)
		ev_break(t->loop, EVBREAK_ONE);
}

struct rawt {
	int		 n;
	char		 last[256];
	struct ev_loop	*loop;
};

static void
on_raw(void *arg, const char *line, size_t len)
{
	struct rawt *r = arg;

	snprintf(r->last, sizeof(r->last), "%.*s", (int)len, line);
	r->n++;
	ev_break(r->loop, EVBREAK_ONE);
}

static int raw_events;

static int
raw_event(void *arg, const char *line, size_t len)
{
	(void)arg;
	if (memmem(line, len, "\"ev\":\"tick\"", 11) == NULL)
		return 0;
	raw_events++;
	return 1;
}

static void
test_ev_client(pid_t *server)
{
	struct ev_loop *loop = ev_default_loop(0);
	struct ipc_client *cl = ipc_client_new(loop, sock_path, NULL, NULL, NULL);
	struct tally t = { .want = 10000, .loop = loop };

	for (int i = 0; i < t.want; i++)
		ipc_call(cl, jv_object_set(jv_object(), jv_string("x"),
		    jv_number(i)), 0, on_reply, &t);
	run_for(loop, 10);
	CHECK(t.replies == 10000 && t.ok == 10000, "10000 pipelined calls "
	    "answered (%d)", t.replies);
	CHECK(t.in_order == 10000, "replies in request order");

	/* a request as bytes: the id goes in front, the reply comes as bytes */
	struct rawt rt = { .loop = loop };
	CHECK(ipc_call_raw(cl, "{\"x\":99}", 8, 0, on_raw, &rt) == 0,
	    "raw call queued");
	run_for(loop, 5);
	CHECK(rt.n == 1 && strstr(rt.last, "\"x\":99") &&
	    strstr(rt.last, "\"ok\":true") && strncmp(rt.last, "{\"id\":10001,",
	    12) == 0, "raw reply: %s", rt.last);
	CHECK(ipc_call_raw(cl, "{ }", 3, 0, on_raw, &rt) == 0 &&
	    ipc_call_raw(cl, "[1]", 3, 0, on_raw, &rt) == -1,
	    "raw call of an empty object; a non-object refused");
	run_for(loop, 5);
	CHECK(rt.n == 2 && strcmp(rt.last, "{\"id\":10002,\"ok\":true}") == 0,
	    "empty object answered: %s", rt.last);

	/* an event goes to the raw hook, unparsed, and is not matched */
	ipc_client_raw_events(cl, raw_event);
	rt.n = 0;
	raw_events = 0;
	ipc_call(cl, jv_object_set(jv_object(), jv_string("op"),
	    jv_string("event")), 0, on_reply, &t);
	t.want = t.replies + 1;
	run_for(loop, 5);
	CHECK(raw_events == 1 && t.replies == 10001, "event line taken by the "
	    "raw hook (%d), the reply still matched", raw_events);
	ipc_client_raw_events(cl, NULL);

	/* the server dies; calls made meanwhile wait and are resent */
	kill(*server, SIGKILL);
	waitpid(*server, NULL, 0);
	struct tally t2 = { .want = 100, .loop = loop };
	for (int i = 0; i < 100; i++)
		ipc_call(cl, jv_object_set(jv_object(), jv_string("x"),
		    jv_number(i)), 0, on_reply, &t2);
	run_for(loop, 0.3);
	CHECK(t2.replies == 0, "no reply while the server is down");
	CHECK(ipc_client_pending(cl) == 100, "100 pending");
	*server = fixture_server(sock_path, 1024 * 1024, echo_line);
	run_for(loop, 10);
	CHECK(t2.replies == 100 && t2.ok == 100, "all 100 resent and answered "
	    "after restart (%d)", t2.replies);

	/* timeouts while the server is down */
	kill(*server, SIGKILL);
	waitpid(*server, NULL, 0);
	struct tally t3 = { .want = 3, .loop = loop };
	for (int i = 0; i < 3; i++)
		ipc_call(cl, jv_object(), 100, on_reply, &t3);
	run_for(loop, 5);
	CHECK(t3.replies == 3 && t3.unavailable == 3,
	    "timed-out calls get 'unavailable'");
	rt.n = 0;
	ipc_call_raw(cl, "{}", 2, 100, on_raw, &rt);
	run_for(loop, 5);
	CHECK(rt.n == 1 && strstr(rt.last, "\"ok\":false") &&
	    strstr(rt.last, "\"code\":\"unavailable\""), "a raw call times "
	    "out as a line: %s", rt.last);
	CHECK(ipc_client_pending(cl) == 0, "nothing left pending");

	/* a program stopping answers what is still pending, at once */
	struct tally t4 = { .want = 2, .loop = loop };
	rt.n = 0;
	ipc_call(cl, jv_object(), 0, on_reply, &t4);
	ipc_call(cl, jv_object(), 0, on_reply, &t4);
	ipc_call_raw(cl, "{}", 2, 0, on_raw, &rt);
	ipc_client_cancel_all(cl);
	CHECK(t4.replies == 2 && t4.unavailable == 2 && rt.n == 1 &&
	    strstr(rt.last, "\"stopping\"") && ipc_client_pending(cl) == 0,
	    "cancel_all answers every pending call with unavailable");
	*server = fixture_server(sock_path, 1024 * 1024, echo_line);
	ipc_client_free(cl);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	snprintf(sock_path, sizeof(sock_path), "/tmp/test-ipc-%d.sock",
	    (int)getpid());
	pid_t server = fixture_server(sock_path, 1024 * 1024, echo_line);
	CHECK(server > 0, "echo server started");

	/* a second listener on a live socket is refused */
	struct ipc_handlers h = { .on_line = echo_line };
	char err[256];
	CHECK(ipc_listen(ev_default_loop(0), sock_path, 0, &h, NULL, err,
	    sizeof(err)) == NULL && strstr(err, "another process"),
	    "live socket not stolen: %s", err);

	test_sync_client();
	test_ev_client(&server);

	kill(server, SIGTERM);
	waitpid(server, NULL, 0);
	unlink(sock_path);
	return t_done();
}
