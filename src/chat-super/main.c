/*
 * chat-super: starts the stack for one $CHAT_HOME in dependency order,
 * waits for each program to be ready, restarts what exits, and stops it all
 * in reverse order on SIGTERM or SIGINT.  See chat-super(1).
 *
 * main: options, the home directory, the one-instance lock, the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "util.h"
#include "super.h"

static const char usage[] =
	"usage: chat-super [--foreground] [--print-config] [--help]\n"
	"  runs the programs of $CHAT_HOME/etc/stack.conf (or the built-in\n"
	"  stack) for CHAT_HOME (default ./var), in the foreground, until\n"
	"  SIGTERM or SIGINT; --print-config prints the stack and exits.\n"
	"  With 'bus' set in chat.conf the built-in stack is a node's: the\n"
	"  services of 'node_services', the rest reached with chat-bus\n";

static struct super sp;

/* Makes dir (mode 0700) if needed and puts its absolute path in env. */
static void
absolute_env(const char *env, const char *dir)
{
	char abs[PATH_MAX];

	if (mkdir_p(dir, 0700) < 0)
		fatal(EXIT_TEMP, "unable to make '%s'", dir);
	if (realpath(dir, abs) == NULL)
		fatal(EXIT_TEMP, "unable to resolve '%s'", dir);
	setenv(env, abs, 1);
}

static uint64_t
seconds_ms(const char *key)
{
	long long v = conf_int(key);

	if (v < 0)
		fatalx(EXIT_USAGE, "'%s' must be a whole number of seconds",
		    key);
	return (uint64_t)v * 1000;
}

/* flock on $CHAT_RUN/super.lock, held until exit, with our pid in it. */
static void
take_lock(void)
{
	char path[PATH_MAX], pid[32] = "";
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/super.lock", conf_run());
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		fatal(EXIT_TEMP, "unable to open '%s'", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK)
			fatal(EXIT_TEMP, "unable to lock '%s'", path);
		n = read(fd, pid, sizeof(pid) - 1);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		fatalx(EXIT_TEMP, "another chat-super runs for '%s' (pid %s)",
		    conf_home(), pid[0] ? pid : "unknown");
	}
	if (ftruncate(fd, 0) == 0)
		dprintf(fd, "%d\n", (int)getpid());
}

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)revents;
	if (w->signum == SIGHUP) {
		log_info("SIGHUP ignored: restart chat-super to reload");
		return;
	}
	if (sp.stopping) {
		log_warnx("second signal %d: killing every program", w->signum);
		super_kill_all(&sp);
		return;
	}
	log_info("signal %d", w->signum);
	super_stop(&sp);
}

int
main(int argc, char **argv)
{
	static ev_signal sigs[3];
	static const int signums[3] = { SIGTERM, SIGINT, SIGHUP };
	char err[1024], path[PATH_MAX], exe[PATH_MAX];
	const char *home;
	int i, print = 0;
	ssize_t n;

	log_init("chat-super");
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
			return 0;
		} else if (strcmp(argv[i], "--print-config") == 0)
			print = 1;
		else if (strcmp(argv[i], "--foreground") != 0) {
			fprintf(stderr, "chat-super: unknown option '%s'\n%s",
			    argv[i], usage);
			return EXIT_USAGE;
		}
	}

	home = getenv("CHAT_HOME");
	if (home == NULL || home[0] == '\0')
		home = "./var";
	if (!print) {
		absolute_env("CHAT_HOME", home);
		snprintf(path, sizeof(path), "%s", conf_run());
		absolute_env("CHAT_RUN", path);
		for (i = 0; i < 3; i++) {
			snprintf(path, sizeof(path), "%s/%s", conf_home(),
			    (const char *[]){ "etc", "log", "db" }[i]);
			if (mkdir_p(path, 0700) < 0)
				fatal(EXIT_TEMP, "unable to make '%s'", path);
		}
	}
	if (conf_load(err, sizeof(err)) < 0)
		fatalx(EXIT_USAGE, "%s", err);
	sp.ready_timeout = seconds_ms("super_ready_timeout");
	sp.grace = seconds_ms("super_stop_grace");
	sp.stable = seconds_ms("super_stable");
	sp.backoff_max = seconds_ms("super_backoff_max");
	if (conf_int("super_fail_count") < 1)
		fatalx(EXIT_USAGE, "'super_fail_count' must be 1 or more");
	sp.fail_count = (unsigned)conf_int("super_fail_count");

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		fatal(EXIT_TEMP, "unable to find my own directory");
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(sp.bindir, sizeof(sp.bindir), "%s", exe);
	snprintf(sp.logdir, sizeof(sp.logdir), "%s/log", conf_home());
	snprintf(path, sizeof(path), "%s/etc/stack.conf", conf_home());
	if (stack_load(&sp, path, err, sizeof(err)) < 0)
		fatalx(EXIT_USAGE, "%s", err);
	if (print) {
		stack_print(&sp, stdout);
		return 0;
	}

	take_lock();
	signal(SIGPIPE, SIG_IGN);
	sp.loop = ev_default_loop(0);
	if (sp.loop == NULL)
		fatalx(EXIT_TEMP, "unable to make the event loop");
	sp.started_ms = mono_ms();
	for (i = 0; i < 3; i++) {
		ev_signal_init(&sigs[i], on_signal, signums[i]);
		ev_signal_start(sp.loop, &sigs[i]);
	}
	if (ctl_start(&sp, err, sizeof(err)) < 0)
		fatalx(EXIT_TEMP, "%s", err);
	log_info("stack from %s, %d programs, home '%s'", sp.source, sp.n,
	    conf_home());
	for (i = 0; i < sp.n; i++)
		if (sp.svcs[i].state == SVC_SKIPPED)
			log_info("%s: skipped: '%s' is not installed",
			    sp.svcs[i].name, sp.svcs[i].argv[0]);
	super_schedule(&sp);
	notify_ready();
	ev_run(sp.loop, 0);

	ctl_stop();
	log_info("stopped");
	return 0;
}
