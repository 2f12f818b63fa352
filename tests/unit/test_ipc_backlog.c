/*
 * ipc: a client that piles up more requests than IPC_OUTBUF_MAX while its
 * peer is stalled (SIGSTOP), and again while the peer is down.
 *
 * Before the fix the client queued every request into the connection's
 * output buffer at once: past 64 MiB the connection was closed as "not
 * reading", the client reconnected, queued everything again, and went
 * round that loop for ever, answering nothing even after the peer resumed.
 * Now requests are fed to the socket as it drains: everything is answered,
 * in order, on the first connection.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>
#include <jv.h>

#include "ipc.h"
#include "ipc_fixture.h"
#include "t.h"

#define PAD	1000		/* bytes of padding a request */
#define NREQ	80000		/* 80 MB of requests: past IPC_OUTBUF_MAX */

static char sock_path[108];

/* Replies {"id":N,"ok":true}: the padding is not echoed. */
static void
reply_line(struct ipc_conn *c, const char *line, size_t len)
{
	const char *p = memmem(line, len, "\"id\":", 5);
	char out[64];

	if (p == NULL)
		return;
	long id = strtol(p + 5, NULL, 10);
	int n = snprintf(out, sizeof(out), "{\"id\":%ld,\"ok\":true}", id);
	ipc_send(c, out, (size_t)n);
}

struct tally {
	int		 replies, ok, in_order, connects;
	long		 last;
	struct ev_loop	*loop;
};

static void
on_reply(void *arg, jv rep)
{
	struct tally *t = arg;
	jv ok = jv_object_get(jv_copy(rep), jv_string("ok"));
	jv id = jv_object_get(jv_copy(rep), jv_string("id"));

	t->replies++;
	t->ok += jv_get_kind(ok) == JV_KIND_TRUE;
	t->in_order += (long)jv_number_value(id) > t->last;
	t->last = (long)jv_number_value(id);
	jv_free(ok);
	jv_free(id);
	jv_free(rep);
	if (t->replies == NREQ)
		ev_break(t->loop, EVBREAK_ONE);
}

static void
on_connect(void *arg)
{
	((struct tally *)arg)->connects++;
}

static void
pile_up(struct ipc_client *cl, struct tally *t, const char *pad)
{
	for (int i = 0; i < NREQ; i++)
		ipc_call(cl, jv_object_set(jv_object(), jv_string("pad"),
		    jv_string(pad)), 0, on_reply, t);
}

int
main(void)
{
	struct ev_loop *loop = ev_default_loop(0);
	char pad[PAD + 1];

	signal(SIGPIPE, SIG_IGN);
	memset(pad, 'p', PAD);
	pad[PAD] = '\0';
	snprintf(sock_path, sizeof(sock_path), "/tmp/test-ipcb-%d.sock",
	    (int)getpid());
	pid_t server = fixture_server(sock_path, 0, reply_line);
	CHECK(server > 0, "server started");

	/* 1: the peer stalls with the connection up */
	struct tally t = { .loop = loop };
	struct ipc_client *cl = ipc_client_new(loop, sock_path, NULL,
	    on_connect, &t);
	CHECK(t.connects == 0, "not connected inside ipc_client_new");
	run_for(loop, 0.1);	/* the first connect is made from the loop */
	CHECK(t.connects == 1, "connected");
	kill(server, SIGSTOP);
	pile_up(cl, &t, pad);
	run_for(loop, 1.0);	/* a reconnect loop would be turning now */
	CHECK(t.replies == 0, "nothing answered while the peer is stopped");
	kill(server, SIGCONT);
	run_for(loop, 600);	/* a bound: ends at the last reply */
	CHECK(t.replies == NREQ && t.ok == NREQ, "all %d requests (%d MB) "
	    "answered after the peer resumed (%d)", NREQ, NREQ * PAD / 1000000,
	    t.replies);
	CHECK(t.in_order == NREQ, "in request order");
	CHECK(t.connects == 1, "on the first connection: no reconnect loop "
	    "(%d connects)", t.connects);

	/* 2: the peer is down; the whole backlog waits for the reconnect */
	kill(server, SIGKILL);
	waitpid(server, NULL, 0);
	struct tally t2 = { .loop = loop };
	ipc_client_free(cl);
	cl = ipc_client_new(loop, sock_path, NULL, on_connect, &t2);
	CHECK(t2.connects == 0, "peer down: not connected");
	pile_up(cl, &t2, pad);
	run_for(loop, 0.2);
	server = fixture_server(sock_path, 0, reply_line);
	run_for(loop, 600);	/* a bound: ends at the last reply */
	CHECK(t2.replies == NREQ && t2.ok == NREQ, "all %d resent and answered "
	    "after the reconnect (%d)", NREQ, t2.replies);
	CHECK(t2.connects == 1, "one connect (%d)", t2.connects);
	CHECK(ipc_client_pending(cl) == 0, "nothing left pending");

	ipc_client_free(cl);
	kill(server, SIGTERM);
	waitpid(server, NULL, 0);
	unlink(sock_path);
	return t_done();
}
