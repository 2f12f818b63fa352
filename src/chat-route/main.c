/*
 * chat-route: entry point.  Reads the config, connects to chat-store,
 * listens on $CHAT_RUN/route.sock (or --name's), says ready, runs one libev
 * loop until SIGTERM or SIGINT.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "ipc.h"
#include "log.h"
#include "route.h"
#include "standby.h"
#include "util.h"

struct route route;
extern const struct ipc_handlers route_handlers;

static void
usage(FILE *out)
{
	fprintf(out, "usage: chat-route [--name NAME] [--leased]\n"
	    "  listens on $CHAT_RUN/route.sock, or route-K.sock with\n"
	    "  route_shards > 1 (K = route_shard); see chat-route(1)\n"
	    "  --name NAME  listen on $CHAT_RUN/NAME.sock alone\n"
	    "  --leased     follow the feed only while chat-bus serve --tell\n"
	    "               says this process owns the shard\n"
	    "  -h, --help   this text\n");
}

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	log_info("signal %d: stopping with %zu requests to chat-store "
	    "unanswered (chatd resends them)", w->signum,
	    ipc_client_pending(route.store));
	ev_break(loop, EVBREAK_ALL);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "name", required_argument, NULL, 'N' },
		{ "leased", no_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 }
	};
	char err[512], path[512];
	const char *own = NULL;
	int ch, leased = 0;

	log_init("chat-route");
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == 'N' && *optarg != '\0' && strchr(optarg, '/') == NULL)
			own = optarg;
		else if (ch == 'L')
			leased = 1;
		else if (ch == 'h') {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (conf_load(err, sizeof(err)) == -1)
		fatalx(EXIT_USAGE, "%s", err);
	log_set_level((int)conf_int("log_level"));
	long long node = conf_int("node_id");
	if (node < 0 || id_gen_init(&route.ids, (unsigned)node) == -1)
		fatalx(EXIT_USAGE, "config key 'node_id' must be 0 to 1023");
	if (mkdir_p(conf_run(), 0700) == -1)
		fatal(EXIT_TEMP, "unable to make '%s'", conf_run());
	signal(SIGPIPE, SIG_IGN);
	route.loop = ev_default_loop(0);
	strmap_init(&route.users);
	if (push_init(route.loop) == -1)
		fatalx(EXIT_USAGE, "a socket path under '%s' is too long",
		    conf_run());
	if (jslog_init(route.loop, err, sizeof(err)) == -1)
		fatalx(EXIT_USAGE, "%s", err);
	if (shards_init(route.loop, err, sizeof(err)) == -1)
		fatalx(EXIT_USAGE, "%s", err);
	standby_init(route.loop, leased);
	/* with shards, deliveries come from the store's feed (feed.c), while
	 * the shard is ours (standby.c) */
	route.store = ipc_client_new(route.loop, conf_sock_path("store", path,
	    sizeof(path)), route.nshards > 1 ? standby_feed_event : NULL,
	    route.nshards > 1 ? standby_feed_connect : NULL, NULL);
	if (route.store == NULL)
		fatalx(EXIT_USAGE, "socket path '%s' is too long", path);
	if (route.nshards > 1)	/* feed lines read without jv */
		ipc_client_raw_events(route.store, feed_line);
	long long maxline = conf_int("ipc_max_line");
	size_t max = maxline > 0 ? (size_t)maxline : 0;
	char name[32], alias[512];
	/* shard 0 of several answers on route too: chat-api's chatd.list and
	 * device.kick, chatctl (every shard knows every chatd); not under
	 * --name, where chat-bus carries route to the lease's owner */
	if (route.nshards > 1 && route.shard == 0 && own == NULL &&
	    (route.srv0 = ipc_listen(route.loop, conf_sock_path("route", alias,
	    sizeof(alias)), max, &route_handlers, NULL, err, sizeof(err))) ==
	    NULL)
		fatalx(EXIT_TEMP, "%s", err);
	route.srv = ipc_listen(route.loop, conf_sock_path(own ? own :
	    shards_sock(name, sizeof(name)), path, sizeof(path)), max, &route_handlers, NULL, err,
	    sizeof(err));
	if (route.srv == NULL)
		fatalx(EXIT_TEMP, "%s", err);

	ev_signal sigterm, sigint;
	ev_signal_init(&sigterm, on_signal, SIGTERM);
	ev_signal_init(&sigint, on_signal, SIGINT);
	ev_signal_start(route.loop, &sigterm);
	ev_signal_start(route.loop, &sigint);
	ops_settle_start(route.loop);
	log_info("listening on '%s' (shard %u of %u)", path, route.shard,
	    route.nshards);
	notify_ready();
	ev_run(route.loop, 0);

	ipc_server_close(route.srv);
	ops_free(route.loop);
	if (route.srv0 != NULL)
		ipc_server_close(route.srv0);
	shards_free();
	/* sends in flight free their contexts (chatd resends them) */
	ipc_client_cancel_all(route.store);
	ipc_client_free(route.store);
	push_free();
	jslog_free();
	strmap_free(&route.users);
	log_info("stopped");
	return 0;
}
