/*
 * svc: one supervised program's life, as s6 and runit run it.
 *
 * Start: fork; the child gets its own session (so a terminal's Ctrl-C
 * reaches only chat-super, which then stops the stack in order), dies with
 * chat-super (PR_SET_PDEATHSIG: a killed supervisor leaves no orphans that a
 * new one would race), has stdin on /dev/null, stdout and stderr appended to
 * $CHAT_HOME/log/<name>.log, and the write end of a fresh pipe as fd 3,
 * named by CHAT_READY_FD.  The program is ready when a newline arrives on
 * the read end; no newline within super_ready_timeout is a failed start.
 *
 * Exit: 100 (usage/config) and 102 (corrupt data) are permanent: the program
 * is marked fatal and left down.  Anything else restarts after a pause of
 * 1 s doubling to super_backoff_max, reset once a run stayed up
 * super_stable seconds.  A run that ended before it was ready, or less than
 * a second after, is a quick crash (unless a SIGKILL from outside ended
 * it); super_fail_count of them in a row mark the program failed.  So a crash loop costs at most one fork a second and
 * then stops, while a program killed now and then by an operator or a test
 * is always brought back.
 *
 * Stop: a program is sent SIGTERM (to its whole process group) only once
 * every program that needs it has exited; SIGKILL follows after
 * super_stop_grace.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "super.h"

#define READY_FD	3
#define QUICK_MS	1000	/* a run shorter than this after ready is quick */

static const char *const state_names[] = {
	[SVC_WAITING] = "waiting", [SVC_STARTING] = "starting",
	[SVC_UP] = "up", [SVC_BACKOFF] = "backoff",
	[SVC_STOPPING] = "stopping", [SVC_DOWN] = "down",
	[SVC_FAILED] = "failed", [SVC_FATAL] = "fatal",
	[SVC_SKIPPED] = "skipped",
};

static void on_ready(struct ev_loop *loop, ev_io *w, int revents);
static void on_ready_timeout(struct ev_loop *loop, ev_timer *w, int revents);
static void on_restart(struct ev_loop *loop, ev_timer *w, int revents);
static void on_kill(struct ev_loop *loop, ev_timer *w, int revents);
static void on_child(struct ev_loop *loop, ev_child *w, int revents);
static void stop_progress(struct super *sp);

const char *
svc_state_name(enum svc_state st)
{
	return state_names[st];
}

/* In the child, between fork and exec: only async-signal-safe calls, but
 * chat-super is single-threaded, so setenv is safe too. */
static void __attribute__((noreturn))
child(struct svc *s, pid_t parent, int ready_w, int logfd)
{
	sigset_t none;
	int sig, nullfd, i;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(EXIT_TEMP);	/* chat-super died before prctl */
	setsid();
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	nullfd = open("/dev/null", O_RDONLY);
	if (nullfd < 0 || dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 ||
	    dup2(logfd, 2) < 0)
		_exit(EXIT_TEMP);
	if (ready_w == READY_FD)
		fcntl(READY_FD, F_SETFD, 0);
	else if (dup2(ready_w, READY_FD) < 0)
		_exit(EXIT_TEMP);
	close_range(READY_FD + 1, ~0U, 0);
	setenv("CHAT_READY_FD", "3", 1);
	for (i = 0; s->env[i] != NULL; i++)
		putenv(s->env[i]);
	execv(s->argv[0], s->argv);
	dprintf(2, "chat-super: unable to run '%s': %s\n", s->argv[0],
	    strerror(errno));
	_exit(EXIT_TEMP);
}

static void
set_exit(struct svc *s, int status)
{
	if (WIFEXITED(status))
		snprintf(s->last_exit, sizeof(s->last_exit), "exit %d",
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(s->last_exit, sizeof(s->last_exit), "signal %d",
		    WTERMSIG(status));
	else
		snprintf(s->last_exit, sizeof(s->last_exit), "status %d",
		    status);
}

static void
close_ready(struct svc *s)
{
	struct ev_loop *loop = s->sp->loop;

	ev_io_stop(loop, &s->ready_w);
	ev_timer_stop(loop, &s->ready_timer);
	if (s->ready_fd >= 0)
		close(s->ready_fd);
	s->ready_fd = -1;
}

/* The pause before the next restart, and the bookkeeping of quick crashes:
 * returns 0 to restart after *delay_ms, -1 if the program is now failed. */
static int
next_delay(struct svc *s, int status, uint64_t now, uint64_t *delay_ms)
{
	struct super *sp = s->sp;
	uint64_t up = s->ready_ms ? now - s->ready_ms : 0;
	int outside_kill = WIFSIGNALED(status) && WTERMSIG(status) ==
	    SIGKILL && !s->signalled;

	/* A SIGKILL we did not send (an operator, the OOM killer, a test's
	 * nemesis) says nothing about the program: back off, never give up. */
	if (outside_kill)
		;
	else if (s->ready_ms == 0 || up < QUICK_MS)
		s->quick_n++;
	else
		s->quick_n = 0;
	if (s->ready_ms != 0 && up >= sp->stable)
		s->backoff_n = 0;
	if (s->quick_n >= sp->fail_count)
		return -1;
	*delay_ms = 1000;
	for (unsigned i = 0; i < s->backoff_n && *delay_ms < sp->backoff_max;
	    i++)
		*delay_ms *= 2;
	if (*delay_ms > sp->backoff_max)
		*delay_ms = sp->backoff_max;
	if (*delay_ms < 1000)
		*delay_ms = 1000;
	s->backoff_n++;
	return 0;
}

/* After a run that ended with status (0 if it never began): marks s failed,
 * or arms its restart timer. */
static void
restart_later(struct svc *s, int status, uint64_t now)
{
	uint64_t delay;

	if (next_delay(s, status, now, &delay) < 0) {
		s->state = SVC_FAILED;
		log_warnx("%s: failed: %u quick crashes in a row; not "
		    "restarting", s->name, s->quick_n);
		return;
	}
	s->state = SVC_BACKOFF;
	log_info("%s: restarting in %llu ms", s->name,
	    (unsigned long long)delay);
	ev_timer_init(&s->restart_timer, on_restart, (double)delay / 1000, 0);
	s->restart_timer.data = s;
	/* The pause counts from now, not from the start of this loop
	 * iteration: never a restart sooner than delay after the exit. */
	ev_now_update(s->sp->loop);
	ev_timer_start(s->sp->loop, &s->restart_timer);
}

/* Forks and execs s.  On failure the run counts as a quick crash. */
static void
spawn(struct svc *s)
{
	struct super *sp = s->sp;
	char path[8192];
	int rp[2], logfd;
	pid_t pid, parent = getpid();

	snprintf(path, sizeof(path), "%s/%s.log", sp->logdir, s->name);
	logfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0) {
		log_warn("%s: unable to open '%s'", s->name, path);
		goto failed;
	}
	if (pipe2(rp, O_CLOEXEC) < 0) {
		log_warn("%s: pipe", s->name);
		close(logfd);
		goto failed;
	}
	pid = fork();
	if (pid < 0) {
		log_warn("%s: fork", s->name);
		close(rp[0]);
		close(rp[1]);
		close(logfd);
		goto failed;
	}
	if (pid == 0)
		child(s, parent, rp[1], logfd);
	close(rp[1]);
	close(logfd);
	set_nonblock(rp[0]);

	s->pid = pid;
	s->state = SVC_STARTING;
	s->signalled = 0;
	s->started_ms = mono_ms();
	s->ready_ms = 0;
	s->ready_fd = rp[0];
	ev_io_init(&s->ready_w, on_ready, rp[0], EV_READ);
	s->ready_w.data = s;
	ev_io_start(sp->loop, &s->ready_w);
	ev_timer_init(&s->ready_timer, on_ready_timeout,
	    (double)sp->ready_timeout / 1000, 0);
	s->ready_timer.data = s;
	ev_timer_start(sp->loop, &s->ready_timer);
	ev_child_init(&s->child_w, on_child, pid, 0);
	s->child_w.data = s;
	ev_child_start(sp->loop, &s->child_w);
	log_info("%s: started pid %d: %s", s->name, (int)pid, s->cmdline);
	return;
failed:
	snprintf(s->last_exit, sizeof(s->last_exit), "spawn failed");
	s->ready_ms = 0;
	s->signalled = 0;
	restart_later(s, 0, mono_ms());
}

static int
needs_ready(const struct super *sp, const struct svc *s)
{
	int k;

	for (k = 0; k < s->nneeds; k++) {
		enum svc_state st = sp->svcs[s->needs[k]].state;

		if (st != SVC_UP && st != SVC_SKIPPED)
			return 0;
	}
	return 1;
}

void
super_schedule(struct super *sp)
{
	int i;

	if (sp->stopping)
		return;
	for (i = 0; i < sp->n; i++) {
		struct svc *s = &sp->svcs[i];

		if (s->state == SVC_WAITING && needs_ready(sp, s))
			spawn(s);
	}
}

static void
on_ready(struct ev_loop *loop, ev_io *w, int revents)
{
	struct svc *s = w->data;
	char buf[64];
	ssize_t n;

	(void)revents;
	n = read(s->ready_fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0 && memchr(buf, '\n', (size_t)n) == NULL)
		return;
	if (n <= 0) {
		/* Closed without a newline: not ready; the timer decides. */
		ev_io_stop(loop, w);
		close(s->ready_fd);
		s->ready_fd = -1;
		return;
	}
	close_ready(s);
	s->ready_ms = mono_ms();
	if (s->state == SVC_STARTING)
		s->state = SVC_UP;
	log_info("%s: ready, pid %d, after %llu ms", s->name, (int)s->pid,
	    (unsigned long long)(s->ready_ms - s->started_ms));
	super_schedule(s->sp);
}

/* sig to the program's process group, once: to the pid alone if the child
 * has not yet made its group (it is between fork and setsid). */
static void
signal_group(pid_t pid, int sig)
{
	if (kill(-pid, sig) < 0 && errno == ESRCH)
		kill(pid, sig);
}

static void
terminate(struct svc *s)
{
	struct super *sp = s->sp;

	if (s->pid <= 0 || s->signalled)
		return;
	s->signalled = 1;
	signal_group(s->pid, SIGTERM);
	ev_timer_init(&s->kill_timer, on_kill, (double)sp->grace / 1000, 0);
	s->kill_timer.data = s;
	ev_timer_start(sp->loop, &s->kill_timer);
}

static void
on_ready_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct svc *s = w->data;

	(void)loop;
	(void)revents;
	log_warnx("%s: not ready after %llu ms: stopping pid %d", s->name,
	    (unsigned long long)s->sp->ready_timeout, (int)s->pid);
	close_ready(s);
	terminate(s);
}

static void
on_kill(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct svc *s = w->data;

	(void)loop;
	(void)revents;
	if (s->pid <= 0)
		return;
	log_warnx("%s: pid %d still running %llu ms after SIGTERM: SIGKILL",
	    s->name, (int)s->pid, (unsigned long long)s->sp->grace);
	signal_group(s->pid, SIGKILL);
}

static void
on_restart(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct svc *s = w->data;

	(void)loop;
	(void)revents;
	if (s->sp->stopping || s->state != SVC_BACKOFF)
		return;
	s->state = SVC_WAITING;
	s->restarts++;
	if (needs_ready(s->sp, s))
		spawn(s);
	else
		log_info("%s: waiting for what it needs before restarting",
		    s->name);
}

static void
on_child(struct ev_loop *loop, ev_child *w, int revents)
{
	struct svc *s = w->data;
	struct super *sp = s->sp;
	uint64_t now = mono_ms();
	int st = w->rstatus, code;

	(void)revents;
	ev_child_stop(loop, w);
	ev_timer_stop(loop, &s->kill_timer);
	close_ready(s);
	/* Whatever the program left in its group goes with it. */
	kill(-s->pid, SIGKILL);
	set_exit(s, st);
	log_info("%s: pid %d exited (%s) after %llu ms", s->name, (int)s->pid,
	    s->last_exit, (unsigned long long)(now - s->started_ms));
	s->pid = 0;
	if (sp->stopping) {
		s->state = SVC_DOWN;
		stop_progress(sp);
		return;
	}
	if (s->restart_now) {
		s->restart_now = 0;
		s->state = SVC_WAITING;
		s->restarts++;
		super_schedule(sp);
		return;
	}
	code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	if (code == EXIT_USAGE || code == EXIT_CORRUPT) {
		s->state = SVC_FATAL;
		log_warnx("%s: fatal: exit %d means %s; not restarting",
		    s->name, code, code == EXIT_USAGE ?
		    "a usage or config error" : "corrupt data (repair it)");
		return;
	}
	restart_later(s, st, now);
}

int
super_running(const struct super *sp)
{
	int i, n = 0;

	for (i = 0; i < sp->n; i++)
		if (sp->svcs[i].pid > 0)
			n++;
	return n;
}

/* SIGTERMs every running program that no running program needs. */
static void
stop_progress(struct super *sp)
{
	int i, j, k, held;

	for (i = sp->n - 1; i >= 0; i--) {
		struct svc *s = &sp->svcs[i];

		if (s->pid <= 0 || s->signalled)
			continue;
		held = 0;
		for (j = i + 1; j < sp->n && !held; j++)
			for (k = 0; k < sp->svcs[j].nneeds; k++)
				if (sp->svcs[j].needs[k] == i &&
				    sp->svcs[j].pid > 0)
					held = 1;
		if (held)
			continue;
		log_info("%s: stopping pid %d", s->name, (int)s->pid);
		s->state = SVC_STOPPING;
		terminate(s);
	}
	if (super_running(sp) == 0) {
		log_info("every program has stopped");
		ev_break(sp->loop, EVBREAK_ALL);
	}
}

void
super_stop(struct super *sp)
{
	int i;

	if (sp->stopping)
		return;
	sp->stopping = 1;
	log_info("stopping the stack");
	for (i = 0; i < sp->n; i++) {
		struct svc *s = &sp->svcs[i];

		ev_timer_stop(sp->loop, &s->restart_timer);
		if (s->state == SVC_BACKOFF || s->state == SVC_WAITING)
			s->state = SVC_DOWN;
	}
	stop_progress(sp);
}

void
super_kill_all(struct super *sp)
{
	int i;

	for (i = 0; i < sp->n; i++)
		if (sp->svcs[i].pid > 0) {
			log_warnx("%s: SIGKILL pid %d", sp->svcs[i].name,
			    (int)sp->svcs[i].pid);
			signal_group(sp->svcs[i].pid, SIGKILL);
		}
}

void
super_restart(struct super *sp, struct svc *s)
{
	if (sp->stopping || s->state == SVC_SKIPPED)
		return;
	s->quick_n = 0;
	s->backoff_n = 0;
	ev_timer_stop(sp->loop, &s->restart_timer);
	if (s->pid > 0) {
		log_info("%s: restart asked: stopping pid %d", s->name,
		    (int)s->pid);
		s->restart_now = 1;
		s->state = SVC_STOPPING;
		terminate(s);
		return;
	}
	log_info("%s: start asked (was %s)", s->name,
	    svc_state_name(s->state));
	s->state = SVC_WAITING;
	super_schedule(sp);
}
