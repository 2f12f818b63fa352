/*
 * chat-bus: entry point.  Options shared by every mode, then the mode from
 * one table; see chat-bus.h and chat-bus(1).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "bus.h"
#include "conf.h"
#include "json.h"
#include "log.h"
#include "chat-bus.h"

struct busopts bo = { .timeout_ms = 10000, .resend_ms = 5000,
    .count = 10000, .inflight = 1, .every = 5, .ttl = 15, .replicas = 3 };

static const struct {
	const char	*name;
	busmode_fn	*fn;
	const char	*args;
	const char	*what;
} modes[] = {
	{ "serve", mode_serve, "NAME", "serve local socket NAME's requests "
	    "on chat.NAME.0 (--lease: only while owning it)" },
	{ "attach", mode_attach, "NAME", "listen on NAME.sock, send its "
	    "requests (--session: connections) to chat.NAME.0" },
	{ "register", mode_register, "[CHATD...]", "put this machine's "
	    "chatds in the discovery bucket" },
	{ "call", mode_call, "SUBJECT [JSON...]", "send requests (arguments "
	    "or stdin lines), print the replies" },
	{ "echo", mode_echo, "SUBJECT", "answer every request on SUBJECT with "
	    "itself" },
	{ "bench", mode_bench, "SUBJECT", "round trips and throughput of "
	    "requests to SUBJECT" },
};
#define NMODES	(sizeof(modes) / sizeof(modes[0]))

static void
usage(FILE *out)
{
	fprintf(out, "usage: chat-bus [--bus URLS] [--subject S] [--queue Q] "
	    "[--sock PATH] [--session]\n"
	    "                [--discover] [--every S] [--ttl S] [--node NAME] "
	    "[--replicas N]\n"
	    "                [--lease] [--standby] [--tell] [--timeout MS] "
	    "[--resend MS]\n"
	    "                [-n N] [-c K] [--req JSON] MODE ARGS\n");
	for (size_t i = 0; i < NMODES; i++)
		fprintf(out, "  %-7s %-18s %s\n", modes[i].name, modes[i].args,
		    modes[i].what);
	fprintf(out, "The servers come from --bus or the config key 'bus'. "
	    "See chat-bus(1).\n");
}

const char *
default_subject(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "chat.%s.0", name);
	return buf;
}

/* KV keys are [-/_=.a-zA-Z0-9]: anything else in a host name becomes _. */
const char *
node_name(char *buf, size_t len)
{
	size_t i;

	if (bo.node != NULL)
		snprintf(buf, len, "%s", bo.node);
	else if (gethostname(buf, len) == -1)
		snprintf(buf, len, "node");
	buf[len - 1] = '\0';
	for (i = 0; buf[i] != '\0'; i++)
		if (strchr("-_=", buf[i]) == NULL &&
		    !(buf[i] >= 'a' && buf[i] <= 'z') &&
		    !(buf[i] >= 'A' && buf[i] <= 'Z') &&
		    !(buf[i] >= '0' && buf[i] <= '9'))
			buf[i] = '_';
	return buf;
}

static void (*state_fn)(void *, int);

static void
on_state(void *arg, int up)
{
	if (state_fn != NULL)
		state_fn(arg, up);
}

struct bus *
bus_connect(struct ev_loop *loop, const char *name,
    void (*fn)(void *arg, int up))
{
	char err[512];
	struct bus *b;

	if (bo.urls == NULL || *bo.urls == '\0')
		fatalx(EXIT_USAGE, "no NATS servers: set the config key 'bus' "
		    "or give --bus");
	state_fn = fn;
	if ((b = bus_open(loop, bo.urls, name, on_state, NULL, err,
	    sizeof(err))) == NULL)
		fatalx(EXIT_USAGE, "%s", err);
	return b;
}

#define NUM(r, st, k) r = jv_object_set(r, jv_string(#k), \
	jv_number((double)(st).k))

jv
bus_status_reply(struct bus *b, jv id)
{
	struct bus_stats st;
	jv r = json_ok(id);

	bus_get_stats(b, &st);
	r = jv_object_set(r, jv_string("connected"),
	    jv_bool(bus_connected(b)));
	NUM(r, st, in); NUM(r, st, out); NUM(r, st, requests);
	NUM(r, st, replies); NUM(r, st, resends); NUM(r, st, no_responders);
	NUM(r, st, timeouts); NUM(r, st, reconnects); NUM(r, st, dropped);
	return session_status(r);
}

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	log_info("stopping on signal %d", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

void
stop_on_signals(struct ev_loop *loop)
{
	static ev_signal term, intr;

	signal(SIGPIPE, SIG_IGN);
	ev_signal_init(&term, on_signal, SIGTERM);
	ev_signal_init(&intr, on_signal, SIGINT);
	ev_signal_start(loop, &term);
	ev_signal_start(loop, &intr);
}

static int
num_opt(const char *s, long min, long max, long *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
main(int argc, char **argv)
{
	enum { O_BUS = 256, O_SUBJ, O_QUEUE, O_SOCK, O_TIMEOUT, O_RESEND,
	    O_REQ, O_SESSION, O_DISCOVER, O_EVERY, O_TTL, O_NODE,
	    O_REPLICAS, O_LEASE, O_STANDBY, O_TELL };
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "bus", required_argument, NULL, O_BUS },
		{ "subject", required_argument, NULL, O_SUBJ },
		{ "queue", required_argument, NULL, O_QUEUE },
		{ "sock", required_argument, NULL, O_SOCK },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "resend", required_argument, NULL, O_RESEND },
		{ "req", required_argument, NULL, O_REQ },
		{ "session", no_argument, NULL, O_SESSION },
		{ "discover", no_argument, NULL, O_DISCOVER },
		{ "every", required_argument, NULL, O_EVERY },
		{ "ttl", required_argument, NULL, O_TTL },
		{ "node", required_argument, NULL, O_NODE },
		{ "replicas", required_argument, NULL, O_REPLICAS },
		{ "lease", no_argument, NULL, O_LEASE },
		{ "standby", no_argument, NULL, O_STANDBY },
		{ "tell", no_argument, NULL, O_TELL },
		{ NULL, 0, NULL, 0 }
	};
	char err[512];
	long v;
	int ch;

	log_init("chat-bus");
	while ((ch = getopt_long(argc, argv, "+hn:c:", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'h': usage(stdout); return 0;
		case O_BUS: bo.urls = optarg; break;
		case O_SUBJ: bo.subject = optarg; break;
		case O_QUEUE: bo.queue = optarg; break;
		case O_SOCK: bo.sock = optarg; break;
		case O_REQ: bo.req = optarg; break;
		case O_SESSION: bo.session = 1; break;
		case O_DISCOVER: bo.discover = 1; break;
		case O_NODE: bo.node = optarg; break;
		case O_LEASE: bo.lease = 1; break;
		case O_STANDBY: bo.standby = 1; break;
		case O_TELL: bo.tell = 1; break;
		case O_EVERY: case O_TTL: case O_REPLICAS:
			if (num_opt(optarg, 1, ch == O_REPLICAS ? 5 : 86400,
			    &v) == -1) {
				fprintf(stderr, "chat-bus: bad number '%s'\n",
				    optarg);
				return EXIT_USAGE;
			}
			if (ch == O_EVERY) bo.every = (int)v;
			else if (ch == O_TTL) bo.ttl = (int)v, bo.ttl_set = 1;
			else bo.replicas = (int)v;
			break;
		case O_TIMEOUT: case O_RESEND: case 'n': case 'c':
			if (num_opt(optarg, ch == 'n' || ch == 'c' ? 1 : 0,
			    ch == 'c' ? 100000 : 2000000000L, &v) == -1) {
				fprintf(stderr, "chat-bus: bad number '%s'\n",
				    optarg);
				return EXIT_USAGE;
			}
			if (ch == O_TIMEOUT) bo.timeout_ms = (int)v;
			else if (ch == O_RESEND) bo.resend_ms = (int)v;
			else if (ch == 'n') bo.count = v;
			else bo.inflight = v;
			break;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (conf_load(err, sizeof(err)) == -1)
		fatalx(EXIT_USAGE, "%s", err);
	log_set_level((int)conf_int("log_level"));
	if (bo.urls == NULL)
		bo.urls = conf_get("bus");
	for (size_t i = 0; i < NMODES; i++)
		if (strcmp(argv[optind], modes[i].name) == 0)
			return modes[i].fn(argc - optind, argv + optind);
	fprintf(stderr, "chat-bus: unknown mode '%s'\n", argv[optind]);
	usage(stderr);
	return EXIT_USAGE;
}
