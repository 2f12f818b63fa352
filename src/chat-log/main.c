/*
 * chat-log: entry point.  Reads the config, starts the applier (apply.c),
 * listens on $CHAT_RUN/log.sock for ping and status, says ready, runs one
 * libev loop until SIGTERM or SIGINT.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "conf.h"
#include "ipc.h"
#include "jflat.h"
#include "json.h"
#include "log.h"
#include "shard.h"
#include "util.h"
#include "chat-log.h"

static void
usage(FILE *out)
{
	fprintf(out, "usage: chat-log [--bus URLS] [--durable NAME] "
	    "[--shard N] [--replicas N]\n"
	    "  applies a store shard's subject of the JetStream stream "
	    "CHAT_LOG to the\n  local chat-store; see chat-log(1)\n"
	    "  --bus URLS      NATS servers (default: config key 'bus')\n"
	    "  --durable NAME  the durable consumer (default store<node_id>)\n"
	    "  --shard N       the store shard, subject chat.log.N (default: "
	    "config key\n                  'log_shard'), below 'log_shards'\n"
	    "  --replicas N    the stream's replicas if it is made here "
	    "(default 3)\n"
	    "  -h, --help      this text\n");
}

static void
on_line(struct ipc_conn *c, const char *line, size_t len)
{
	struct jflat f;
	const char *op;
	size_t oplen;
	char err[200];
	jv req = json_parse_object(line, len, err, sizeof(err));
	jv id = jv_is_valid(req) ? jv_object_get(jv_copy(req),
	    jv_string("id")) : jv_null();

	jv_free(req);
	if (jflat_parse(&f, line, len) == -1 ||
	    (op = jflat_str(&f, "op", &oplen)) == NULL)
		ipc_send_jv(c, json_error(id, "bad_request", "a request needs "
		    "an 'op'"));
	else if (oplen == 4 && memcmp(op, "ping", 4) == 0)
		ipc_send_jv(c, json_ok(id));
	else if (oplen == 6 && memcmp(op, "status", 6) == 0)
		ipc_send_jv(c, follow_status(apply_status(json_ok(id))));
	else
		ipc_send_jv(c, json_error(id, "unknown_op", "chat-log answers "
		    "ping and status"));
}

static const struct ipc_handlers handlers = { on_line, NULL, NULL };

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	log_info("stopping on signal %d (entries not acked come again)",
	    w->signum);
	ev_break(loop, EVBREAK_ALL);
}

int
main(int argc, char **argv)
{
	enum { O_BUS = 256, O_DURABLE, O_REPLICAS, O_SHARD };
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "bus", required_argument, NULL, O_BUS },
		{ "durable", required_argument, NULL, O_DURABLE },
		{ "replicas", required_argument, NULL, O_REPLICAS },
		{ "shard", required_argument, NULL, O_SHARD },
		{ NULL, 0, NULL, 0 }
	};
	const char *urls = NULL, *durable = NULL, *shard_arg = NULL;
	long long shard, nshards;
	char err[512], path[512], name[64];
	int ch, replicas = 3;

	log_init("chat-log");
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h': usage(stdout); return 0;
		case O_BUS: urls = optarg; break;
		case O_DURABLE: durable = optarg; break;
		case O_SHARD: shard_arg = optarg; break;
		case O_REPLICAS:
			replicas = atoi(optarg);
			if (replicas < 1 || replicas > 5) {
				fprintf(stderr, "chat-log: bad number '%s'\n",
				    optarg);
				return EXIT_USAGE;
			}
			break;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (conf_load(err, sizeof(err)) == -1)
		fatalx(EXIT_USAGE, "%s", err);
	log_set_level((int)conf_int("log_level"));
	if (urls == NULL)
		urls = conf_get("bus");
	if (urls == NULL || *urls == '\0')
		fatalx(EXIT_USAGE, "no NATS servers: set the config key 'bus' "
		    "or give --bus");
	nshards = conf_int("log_shards");
	if (nshards < 1 || nshards > SHARD_MAX)
		fatalx(EXIT_USAGE, "config key 'log_shards' is %lld: 1 to %d",
		    nshards, SHARD_MAX);
	if (shard_arg != NULL) {
		char *end;
		shard = strtoll(shard_arg, &end, 10);
		if (*shard_arg == '\0' || *end != '\0')
			fatalx(EXIT_USAGE, "bad shard '%s'", shard_arg);
	} else
		shard = conf_int("log_shard");
	if (shard < 0 || shard >= nshards)
		fatalx(EXIT_USAGE, "shard %lld is not below log_shards (%lld)",
		    shard, nshards);
	if (durable == NULL) {
		snprintf(name, sizeof(name), "store%lld", conf_int("node_id"));
		durable = name;
	}
	if (durable[0] == '\0' || strcspn(durable, ".*> \t") !=
	    strlen(durable))
		fatalx(EXIT_USAGE, "consumer name '%s' must not hold '.', '*', "
		    "'>' or blanks", durable);
	if (mkdir_p(conf_run(), 0700) == -1)
		fatal(EXIT_TEMP, "unable to make '%s'", conf_run());
	signal(SIGPIPE, SIG_IGN);
	struct ev_loop *loop = ev_default_loop(0);
	long long max_age = conf_int("log_max_age");
	if (max_age < 0)
		fatalx(EXIT_USAGE, "config key 'log_max_age' is %lld: seconds, "
		    "0 for none", max_age);
	if (apply_start(loop, urls, durable, (unsigned)shard, replicas,
	    max_age, err, sizeof(err)) == -1 ||
	    follow_start(loop, apply_bus(), err, sizeof(err)) == -1)
		fatalx(EXIT_USAGE, "%s", err);
	struct ipc_server *srv = ipc_listen(loop, conf_sock_path("log", path,
	    sizeof(path)), 0, &handlers, NULL, err, sizeof(err));
	if (srv == NULL)
		fatalx(EXIT_TEMP, "%s", err);

	ev_signal sigterm, sigint;
	ev_signal_init(&sigterm, on_signal, SIGTERM);
	ev_signal_init(&sigint, on_signal, SIGINT);
	ev_signal_start(loop, &sigterm);
	ev_signal_start(loop, &sigint);
	log_info("listening on '%s', consumer '%s' of shard %lld of %lld on "
	    "'%s'", path, durable, shard, nshards, urls);
	notify_ready();
	ev_run(loop, 0);

	ipc_server_close(srv);
	follow_stop();
	apply_stop();
	log_info("stopped");
	return apply_exit_code();
}
