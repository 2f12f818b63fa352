/*
 * chatd: entry point.  Reads options and config, opens the secret, starts
 * the upstream clients, the WebSocket listener and the control socket on
 * one libev loop, says ready, runs until SIGTERM or SIGINT.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"
#include "conf.h"
#include "log.h"
#include "lwstimer.h"
#include "origin.h"
#include "util.h"

struct chatd chatd;

static void
usage(FILE *out)
{
	fprintf(out, "usage: chatd [--listen HOST:PORT]\n"
	    "  --listen HOST:PORT  WebSocket address (default: conf "
	    "chatd_listen)\n"
	    "  -h, --help          this text; see chatd(1)\n");
}

static long long
conf_pos(const char *key)
{
	long long v = conf_int(key);

	if (v <= 0)
		fatalx(EXIT_USAGE, "config key '%s' must be a positive integer",
		    key);
	return v;
}

static void
configure(const char *listen)
{
	char err[512];

	if (conf_load(err, sizeof(err)) == -1)
		fatalx(EXIT_USAGE, "%s", err);
	if (listen == NULL)
		listen = conf_get("chatd_listen");
	if (parse_hostport(listen, chatd.host, sizeof(chatd.host),
	    &chatd.port) == -1 || chatd.port <= 0)
		fatalx(EXIT_USAGE, "bad listen address '%s': want HOST:PORT",
		    listen);
	snprintf(chatd.name, sizeof(chatd.name), "chatd-%d", chatd.port);
	snprintf(chatd.url, sizeof(chatd.url), "ws://%s:%d/v1/ws", chatd.host,
	    chatd.port);
	log_init(chatd.name);
	log_set_level((int)conf_int("log_level"));
	chatd.max_frame = (size_t)conf_pos("max_frame");
	chatd.max_message = (size_t)conf_pos("max_message");
	chatd.send_queue_max = (size_t)conf_pos("send_queue_max");
	chatd.auth_timeout = (double)conf_pos("auth_timeout");
	chatd.rate_limit = (double)conf_pos("rate_limit");
	chatd.rate_burst = (double)conf_pos("rate_burst");
	chatd.hangup_secs = (int)conf_pos("presence_timeout");
	if (origin_init(err, sizeof(err)) == -1)
		fatalx(EXIT_USAGE, "%s", err);

	char path[1024];
	snprintf(path, sizeof(path), "%s/etc", conf_home());
	if (mkdir_p(path, 0700) == -1 || mkdir_p(conf_run(), 0700) == -1)
		fatal(EXIT_TEMP, "unable to make '%s' or '%s'", path,
		    conf_run());
	snprintf(path, sizeof(path), "%s/etc/secret", conf_home());
	if (token_load_secret(path, 1, chatd.secret, err, sizeof(err)) == -1)
		fatalx(EXIT_TEMP, "%s", err);
}

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	log_info("signal %d: closing %lu connections", w->signum, chatd.conns);
	ctl_stop();
	ws_stop();	/* every connection closes; chat-route is told */
	alive_stop();
	ev_break(loop, EVBREAK_ALL);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *listen = NULL;
	char err[512];
	int ch;

	log_init("chatd");
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			listen = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	configure(listen);
	signal(SIGPIPE, SIG_IGN);
	chatd.loop = ev_default_loop(0);
	strmap_init(&chatd.devices);
	alive_init(chatd.loop, chatd.hangup_secs);
	if (upstream_start(err, sizeof(err)) == -1)
		fatalx(EXIT_USAGE, "%s", err);
	if (presence_start(err, sizeof(err)) == -1)
		fatalx(EXIT_USAGE, "%s", err);
	if (ctl_start(err, sizeof(err)) == -1)
		fatalx(EXIT_TEMP, "%s", err);
	ws_start();
	lwstimer_start(chatd.loop, &chatd.lws, 0.1);	/* lws's deadlines */

	ev_signal sigterm, sigint;
	ev_signal_init(&sigterm, on_signal, SIGTERM);
	ev_signal_init(&sigint, on_signal, SIGINT);
	ev_signal_start(chatd.loop, &sigterm);
	ev_signal_start(chatd.loop, &sigint);
	log_info("listening on %s", chatd.url);
	notify_ready();
	ev_run(chatd.loop, 0);

	ev_run(chatd.loop, EVRUN_NOWAIT);	/* flush the offline events */
	presence_stop();
	upstream_stop();
	conn_free_all();
	strmap_free(&chatd.devices);
	log_info("stopped");
	return 0;
}
