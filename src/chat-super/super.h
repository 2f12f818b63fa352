/*
 * chat-super: the supervisor's shared types.  One struct svc per program of
 * the stack, kept in dependency order (every program after what it needs),
 * so starting walks the array forwards and stopping walks it backwards.
 */
#ifndef CHAT_SUPER_H
#define CHAT_SUPER_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <ev.h>
#include "util.h"	/* mono_ms */

#define SUPER_MAX_SVCS	32
#define SUPER_MAX_NEEDS	8
#define SUPER_MAX_ARGS	32
#define SUPER_NAME_MAX	32

enum svc_state {
	SVC_WAITING,	/* not started: what it needs is not ready yet */
	SVC_STARTING,	/* running, has not signalled ready */
	SVC_UP,		/* running and ready */
	SVC_BACKOFF,	/* exited; restarts when its timer fires */
	SVC_STOPPING,	/* sent SIGTERM, waiting for it to exit */
	SVC_DOWN,	/* stopped by us */
	SVC_FAILED,	/* too many quick crashes in a row: not restarted */
	SVC_FATAL,	/* exited 100 or 102: not restarted */
	SVC_SKIPPED,	/* its program is not installed */
};

struct super;

struct svc {
	char		 name[SUPER_NAME_MAX];
	char		*argv[SUPER_MAX_ARGS + 1];	/* argv[0]: resolved path */
	char		*env[SUPER_MAX_ARGS + 1];	/* NAME=value to set */
	char		 cmdline[1024];			/* as configured */
	int		 needs[SUPER_MAX_NEEDS];	/* indexes into super.svcs */
	int		 nneeds;
	enum svc_state	 state;
	pid_t		 pid;		/* > 0 while a process runs */
	int		 ready_fd;	/* read end of the notification pipe */
	int		 signalled;	/* SIGTERM sent to this run */
	int		 restart_now;	/* an operator asked for a restart */
	uint64_t	 started_ms;	/* monotonic, this run */
	uint64_t	 ready_ms;	/* monotonic, 0 until ready */
	unsigned	 restarts;	/* runs started after the first */
	unsigned	 backoff_n;	/* restarts since it last stayed up */
	unsigned	 quick_n;	/* quick crashes in a row */
	char		 last_exit[32];	/* "exit 1", "signal 9", "" */
	ev_io		 ready_w;
	ev_timer	 ready_timer;
	ev_timer	 restart_timer;
	ev_timer	 kill_timer;
	ev_child	 child_w;
	struct super	*sp;
};

struct super {
	struct ev_loop	*loop;
	struct svc	 svcs[SUPER_MAX_SVCS];
	int		 n;
	int		 stopping;	/* SIGTERM/SIGINT seen */
	char		 bindir[4096];	/* where chat-super and its programs live */
	char		 logdir[4096];
	char		 source[4096];	/* stack.conf path, or "built-in" */
	uint64_t	 started_ms;
	/* from chat.conf: super_* keys, in milliseconds */
	uint64_t	 ready_timeout, grace, stable, backoff_max;
	unsigned	 fail_count;
};

/* stack.c */

/*
 * Fills sp->svcs from path if it exists, else from the built-in stack, in
 * dependency order, resolving each program in sp->bindir (a program that is
 * not there is SVC_SKIPPED).  Returns 0, or -1 with err naming the file,
 * line and reason (unknown need, a cycle, a bad name, too many fields).
 */
int stack_load(struct super *sp, const char *path, char *err, size_t errlen);
/* Writes the stack, one line a program, in the stack.conf format. */
void stack_print(const struct super *sp, FILE *out);

/* node.c */

/*
 * With the config key bus set: the stack of a node, in stack.conf's format,
 * into buf: the services of node_services run here (each also served on
 * the bus), the others reached through chat-bus.  0, or -1 with err (an
 * unknown service, buf too small).
 */
int node_stack(char *buf, size_t len, char *err, size_t errlen);

/* svc.c */

/* Starts every waiting program whose needs are all up (or skipped). */
void super_schedule(struct super *sp);
/* Begins an orderly stop: dependents first, SIGTERM, SIGKILL after the
 * grace period; breaks the loop once nothing runs. */
void super_stop(struct super *sp);
/* SIGKILLs every running program at once (a second Ctrl-C). */
void super_kill_all(struct super *sp);
/* Clears failed/fatal/backoff and (re)starts s now; a running one is
 * stopped first and started again when it has exited. */
void super_restart(struct super *sp, struct svc *s);
/* Number of programs with a live process. */
int super_running(const struct super *sp);
/* "up", "failed", ... */
const char *svc_state_name(enum svc_state st);

/* ctl.c */

/* Listens on $CHAT_RUN/super.sock for ping, status and restart.  0, or -1
 * with err. */
int ctl_start(struct super *sp, char *err, size_t errlen);
void ctl_stop(void);

#endif
