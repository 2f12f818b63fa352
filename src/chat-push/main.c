/*
 * chat-push: the push notification daemon (see chat-push(1)).  Takes jobs
 * on $CHAT_RUN/push.sock, keeps them in its own LevelDB queue under
 * $CHAT_HOME/push until a provider accepted them, and sends them with
 * libcurl on the libev loop.  With --stdin it is a filter instead.
 *
 * main: options, config, the queue, the socket, the loop.
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "conf.h"
#include "id.h"
#include "json.h"
#include "log.h"
#include "util.h"
#include "push.h"

static const char usage[] =
	"usage: chat-push [--stdin] [--help]\n"
	"  serves push.enqueue on $CHAT_RUN/push.sock and delivers the jobs,\n"
	"  kept in $CHAT_HOME/push, to webhook, unifiedpush, ntfy, fcm, apns;\n"
	"  --stdin sends the NDJSON jobs read from standard input instead\n";

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	log_info("signal %d: stopping", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

static void
load_job(void *arg, uint64_t due, uint64_t seq, jv v, const char *raw,
    size_t len)
{
	int64_t at = 0;
	struct job *j;

	(void)arg;
	if (!json_int(v, "queued_at", &at) || at <= 0)
		at = (int64_t)now_ms();
	j = sched_job_new(v, raw, len, seq, (uint64_t)at);
	if (j == NULL)
		fatalx(EXIT_TEMP, "out of memory loading the queue");
	j->due_key = due;
	sched_add(j);
}

int
main(int argc, char **argv)
{
	static ev_signal sigs[2];
	char err[1024], dir[PATH_MAX], sock[PATH_MAX], store[PATH_MAX];
	struct ev_loop *loop;
	unsigned long jobs, batches, fl;
	int i, filter = 0, corrupt, status = 0;

	log_init("chat-push");
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
			return 0;
		} else if (strcmp(argv[i], "--stdin") == 0)
			filter = 1;
		else {
			fprintf(stderr, "chat-push: unknown option '%s'\n%s",
			    argv[i], usage);
			return EXIT_USAGE;
		}
	}
	if (conf_load(err, sizeof(err)) < 0)
		fatalx(EXIT_USAGE, "%s", err);
	signal(SIGPIPE, SIG_IGN);
	loop = ev_default_loop(0);
	if (loop == NULL)
		fatalx(EXIT_TEMP, "unable to make the event loop");
	if (http_init(loop, err, sizeof(err)) < 0 ||
	    prov_fcm_init(err, sizeof(err)) < 0 ||
	    prov_apns_init(err, sizeof(err)) < 0)
		fatalx(EXIT_USAGE, "%s", err);
	if (filter) {
		status = filter_run(loop);
		http_shutdown();
		return status;
	}

	snprintf(dir, sizeof(dir), "%s/push", conf_home());
	if (mkdir_p(dir, 0700) < 0)
		fatal(EXIT_TEMP, "unable to make '%s'", dir);
	if (queue_open(dir, &corrupt, err, sizeof(err)) < 0)
		fatalx(corrupt ? EXIT_CORRUPT : EXIT_TEMP, "%s", err);
	sched_init(loop, NULL, conf_sock_path("store", store, sizeof(store)));
	if (queue_load(load_job, NULL, err, sizeof(err)) < 0)
		fatalx(EXIT_CORRUPT, "%s", err);
	if (err[0] != '\0')
		log_warnx("%s", err);
	sched_counts(&jobs, &batches, &fl);
	conf_sock_path("push", sock, sizeof(sock));
	if (ops_start(loop, sock, err, sizeof(err)) < 0)
		fatalx(EXIT_TEMP, "%s", err);
	for (i = 0; i < 2; i++) {
		ev_signal_init(&sigs[i], on_signal, i ? SIGINT : SIGTERM);
		ev_signal_start(loop, &sigs[i]);
	}
	log_info("listening on '%s', %lu queued job(s) for %lu device(s) "
	    "from '%s'", sock, jobs, batches, dir);
	notify_ready();
	ev_run(loop, 0);

	ops_stop();
	if (queue_commit(err, sizeof(err)) < 0)
		log_warnx("%s", err);
	sched_counts(&jobs, &batches, &fl);
	queue_close();
	http_shutdown();
	log_info("stopped, %lu job(s) left queued", jobs);
	return 0;
}
