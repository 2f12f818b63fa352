/*
 * ipc_fixture.h: what the ipc unit tests share: a server in a child process
 * (on a loop of its own) and a bounded run of the parent's loop.  Static
 * inline functions in a header, so each test stays one file and one binary.
 */
#ifndef CHAT_IPC_FIXTURE_H
#define CHAT_IPC_FIXTURE_H

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <ev.h>

#include "ipc.h"

/*
 * Forks a server listening on PATH (lines up to MAXLINE, 0 for ipc's
 * default) that answers each line with ON_LINE; returns its pid once it
 * listens, -1 if it could not.
 */
static inline pid_t
fixture_server(const char *path, size_t maxline,
    void (*on_line)(struct ipc_conn *, const char *, size_t))
{
	int p[2];

	if (pipe(p) == -1)
		return -1;
	pid_t pid = fork();
	if (pid != 0) {
		char b;
		close(p[1]);
		if (read(p[0], &b, 1) != 1)
			pid = -1;
		close(p[0]);
		return pid;
	}
	close(p[0]);
	/* a loop of its own: the parent's default loop (and its epoll fd)
	 * came along with fork */
	signal(SIGTERM, SIG_DFL);
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct ipc_handlers h = { .on_line = on_line };
	char err[256];
	if (ipc_listen(loop, path, maxline, &h, NULL, err, sizeof(err)) ==
	    NULL) {
		fprintf(stderr, "listen: %s\n", err);
		_exit(1);
	}
	if (write(p[1], "r", 1) != 1)
		_exit(1);
	ev_run(loop, 0);
	_exit(0);
}

static inline void
fixture_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w; (void)revents;
	ev_break(loop, EVBREAK_ONE);
}

/* Runs LOOP until something breaks it, or SECS at the most. */
static inline void
run_for(struct ev_loop *loop, double secs)
{
	ev_timer guard;

	ev_timer_init(&guard, fixture_guard, secs, 0.0);
	ev_timer_start(loop, &guard);
	ev_run(loop, 0);
	ev_timer_stop(loop, &guard);
}

#endif
