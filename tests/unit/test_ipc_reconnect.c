/*
 * ipc: the client's reconnect backoff.  While its peer's socket is absent,
 * an ipc_client retries after 50 ms, then twice as long each time (to a
 * cap of 2 s, ipc.h): never sooner, and never a busy loop of connects.
 * Once a listener appears it connects.
 *
 * The attempts are seen by standing in for connect(2): this executable's
 * connect is the one libchat's ipc.o links to; it notes the time of each
 * attempt on our socket path and calls the C library's.
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>
#include <jv.h>

#include "ipc.h"
#include "ipc_fixture.h"
#include "t.h"

#define MAXTRY	4096

static char sock_path[108];
static double tries[MAXTRY];
static int ntries;

int
connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	static int (*real)(int, const struct sockaddr *, socklen_t);
	const struct sockaddr_un *un = (const struct sockaddr_un *)sa;

	if (real == NULL)
		real = (int (*)(int, const struct sockaddr *, socklen_t))
		    dlsym(RTLD_NEXT, "connect");
	if (sa->sa_family == AF_UNIX && strcmp(un->sun_path, sock_path) == 0 &&
	    ntries < MAXTRY)
		tries[ntries++] = ev_time();
	return real(fd, sa, len);
}

static int connects;

static void
on_connect(void *arg)
{
	struct ev_loop *loop = arg;

	connects++;
	ev_break(loop, EVBREAK_ONE);
}

static void
on_line(struct ipc_conn *c, const char *line, size_t len)
{
	(void)c; (void)line; (void)len;
}

int
main(void)
{
	struct ev_loop *loop = ev_default_loop(0);
	char err[256];

	signal(SIGPIPE, SIG_IGN);
	snprintf(sock_path, sizeof(sock_path), "/tmp/test-ipcr-%d.sock",
	    (int)getpid());
	unlink(sock_path);

	struct ipc_client *cl = ipc_client_new(loop, sock_path, NULL,
	    on_connect, loop);
	CHECK(cl != NULL, "client made for an absent socket");
	run_for(loop, 4.0);
	CHECK(connects == 0, "not connected: nobody listens");
	/* 0, .05, .15, .35, .75, 1.55, 3.15 s: 7 tries in 4 s on a quiet
	 * machine, fewer on a loaded one, never more */
	CHECK(ntries >= 3 && ntries <= 8, "%d connect attempts in 4 s: "
	    "retrying, without spinning", ntries);
	int doubling = 1;
	double want = 0.05;
	for (int i = 1; i < ntries; i++) {
		double gap = tries[i] - tries[i - 1];
		if (gap < want * 0.9 && doubling) {
			doubling = 0;
			printf("# attempt %d came %.3f s after the last, "
			    "before its %.3f s pause\n", i, gap, want);
		}
		want = want * 2 > 2.0 ? 2.0 : want * 2;
	}
	CHECK(doubling, "each pause at least twice the last, from 50 ms");

	/* a listener appears: the next attempt connects */
	struct ipc_handlers h = { .on_line = on_line };
	struct ipc_server *srv = ipc_listen(loop, sock_path, 0, &h, NULL, err,
	    sizeof(err));
	CHECK(srv != NULL, "listener made: %s", srv ? "" : err);
	int before = ntries;
	run_for(loop, 10.0);
	CHECK(connects == 1, "connected once the socket listens");
	CHECK(ntries - before <= 2, "after %d more attempt(s)",
	    ntries - before);

	ipc_client_free(cl);
	if (srv != NULL)
		ipc_server_close(srv);
	unlink(sock_path);
	return t_done();
}
