/*
 * opts: chat-bench's command line (chat-bench(1)).  Every number is
 * checked; a bad one is a usage error (exit 100) naming the option.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "log.h"

static const char usage[] =
"usage: chat-bench [--target chat|relay|mosquitto] [--devices N] [--rate R]\n"
"                  [--duration S] [--warmup S] [--drain S] [--group-size G]\n"
"                  [--group-ratio F] [--body-bytes B] [--idle] [--api URL]\n"
"                  [--ws URL] [--mint] [--state FILE] [--setup-only]\n"
"                  [--seed-users]\n"
"                  [--prefix NAME] [--password PW] [--connect-rate N]\n"
"                  [--connect-inflight N]\n"
"                  [--recv-every S] [--hb-every S] [--source ADDR]...\n"
"                  [--pids-from-super] [--pid NAME=PID]... [--label TEXT]\n"
"                  [--verbose]\n"
"Offers a fixed rate of 1:1 and group messages from N devices and prints\n"
"one JSON object: rates, acks, deliveries, lost, latency percentiles, CPU\n"
"and memory of the named server processes.  Exit 0 if nothing acked was\n"
"lost, 1 otherwise, 100 on a usage error.  See chat-bench(1).\n";

static void
bad(const char *opt, const char *val)
{
	fprintf(stderr, "chat-bench: bad value '%s' for --%s\n%s", val, opt,
	    usage);
	exit(EXIT_USAGE);
}

static double
num(const char *opt, const char *s, double min, double max)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end != '\0' || !(v >= min && v <= max))
		bad(opt, s);
	return v;
}

void
bench_options(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "target", required_argument, NULL, 't' },
		{ "devices", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "drain", required_argument, NULL, 'D' },
		{ "group-size", required_argument, NULL, 'g' },
		{ "group-ratio", required_argument, NULL, 'G' },
		{ "body-bytes", required_argument, NULL, 'b' },
		{ "idle", no_argument, NULL, 'i' },
		{ "api", required_argument, NULL, 'a' },
		{ "ws", required_argument, NULL, 'W' },
		{ "mint", no_argument, NULL, 'm' },
		{ "state", required_argument, NULL, 's' },
		{ "setup-only", no_argument, NULL, 'S' },
		{ "seed-users", no_argument, NULL, 'U' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "password", required_argument, NULL, 'P' },
		{ "connect-rate", required_argument, NULL, 'c' },
		{ "connect-inflight", required_argument, NULL, 'I' },
		{ "recv-every", required_argument, NULL, 'R' },
		{ "hb-every", required_argument, NULL, 'H' },
		{ "source", required_argument, NULL, 'o' },
		{ "pids-from-super", no_argument, NULL, 'X' },
		{ "pid", required_argument, NULL, 'x' },
		{ "label", required_argument, NULL, 'l' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct bench_opts *o = &B.o;
	char *eq;
	int ch;

	o->target = TARGET_CHAT;
	o->devices = 1000;
	o->rate = 1000;
	o->duration = 10;
	o->warmup = 2;
	o->drain = 5;
	o->body_bytes = 100;
	o->connect_rate = 500;
	o->connect_inflight = 1000;
	o->recv_every = 1;
	o->hb_every = 5;
	o->prefix = "bench";
	o->password = "bench-password";
	while ((ch = getopt_long(argc, argv, "hv", longopts, NULL)) != -1) {
		switch (ch) {
		case 't':
			if (strcmp(optarg, "chat") == 0)
				o->target = TARGET_CHAT;
			else if (strcmp(optarg, "relay") == 0)
				o->target = TARGET_RELAY;
			else if (strcmp(optarg, "mosquitto") == 0 ||
			    strcmp(optarg, "mqtt") == 0)
				o->target = TARGET_MQTT;
			else
				bad("target", optarg);
			break;
		case 'n': o->devices = (int)num("devices", optarg, 2, 1e6); break;
		case 'r': o->rate = num("rate", optarg, 0.001, 1e7); break;
		case 'd': o->duration = num("duration", optarg, 0.1, 86400); break;
		case 'w': o->warmup = num("warmup", optarg, 0, 3600); break;
		case 'D': o->drain = num("drain", optarg, 0, 3600); break;
		case 'g': o->group_size = (int)num("group-size", optarg, 2, 100000); break;
		case 'G': o->group_ratio = num("group-ratio", optarg, 0, 1); break;
		case 'b': o->body_bytes = (int)num("body-bytes", optarg, 1, 16384); break;
		case 'i': o->idle = 1; break;
		case 'a': o->api = optarg; break;
		case 'W': o->ws = optarg; break;
		case 'm': o->mint = 1; break;
		case 's': o->state = optarg; break;
		case 'S': o->setup_only = 1; break;
		case 'U': o->seed_users = 1; break;
		case 'p':
			if (strlen(optarg) < 1 || strlen(optarg) > 20)
				bad("prefix", optarg);
			o->prefix = optarg;
			break;
		case 'P': o->password = optarg; break;
		case 'c': o->connect_rate = num("connect-rate", optarg, 1, 1e6); break;
		case 'I': o->connect_inflight = (int)num("connect-inflight", optarg, 1, 1e6); break;
		case 'R': o->recv_every = num("recv-every", optarg, 0, 3600); break;
		case 'H': o->hb_every = num("hb-every", optarg, 0, 3600); break;
		case 'o':
			if (o->nsources == (int)(sizeof(o->sources) /
			    sizeof(o->sources[0])))
				bad("source", optarg);
			o->sources[o->nsources++] = optarg;
			break;
		case 'X': o->pids_from_super = 1; break;
		case 'x':
			if ((eq = strchr(optarg, '=')) == NULL || eq == optarg ||
			    o->npids == BENCH_MAX_PIDS)
				bad("pid", optarg);
			*eq = '\0';
			o->pid_names[o->npids] = optarg;
			o->pids[o->npids++] = (int)num("pid", eq + 1, 1, 1e9);
			break;
		case 'l': o->label = optarg; break;
		case 'v': o->verbose++; break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		default:
			fputs(usage, stderr);
			exit(EXIT_USAGE);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "chat-bench: unexpected argument '%s'\n%s",
		    argv[optind], usage);
		exit(EXIT_USAGE);
	}
	if (o->group_ratio > 0 && o->group_size == 0)
		o->group_size = 10;
	if (o->group_size > o->devices) {
		fprintf(stderr, "chat-bench: --group-size %d is more than "
		    "--devices %d\n", o->group_size, o->devices);
		exit(EXIT_USAGE);
	}
	if (o->target != TARGET_CHAT && o->ws == NULL && !o->seed_users) {
		fprintf(stderr, "chat-bench: --target relay and mosquitto "
		    "need --ws URL\n");
		exit(EXIT_USAGE);
	}
	if (o->target == TARGET_CHAT && !o->mint && o->api == NULL)
		o->api = "http://127.0.0.1:8080";
}
