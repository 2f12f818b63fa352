/*
 * call and echo: the bus from a shell.
 *
 * call sends each argument, or each stdin line when there is none, as one
 * request to SUBJECT, all at once, and prints the replies in the order of
 * the requests, each with the id the request had (none: no id).  Exit
 * status: 0 every reply ok, 1 some reply an error, 111 some request
 * unanswered within --timeout, 100 a line that is not a JSON object.
 *
 * echo answers every request on SUBJECT with the request's own bytes: a
 * responder that costs nothing, to measure NATS alone (chat-bus bench).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "bus.h"
#include "json.h"
#include "log.h"
#include "util.h"
#include "chat-bus.h"

struct slot {
	jv	 id;		/* as given, or invalid: none */
	jv	 reply;		/* invalid until it comes */
};

static struct slot *slots;
static size_t nslots, nleft;
static struct ev_loop *loop;

static void
on_reply(void *arg, jv r)
{
	struct slot *s = arg;

	if (jv_is_valid(s->id))
		r = jv_object_set(r, jv_string("id"), jv_copy(s->id));
	else
		r = jv_object_delete(r, jv_string("id"));
	s->reply = r;
	if (--nleft == 0)
		ev_break(loop, EVBREAK_ALL);
}

static int
add(const char *line, size_t len, jv *reqs, size_t *n)
{
	char err[200];
	jv v = json_parse_object(line, len, err, sizeof(err));

	if (!jv_is_valid(v)) {
		jv_free(v);
		fprintf(stderr, "chat-bus: request %zu: %s\n", *n + 1, err);
		return -1;
	}
	reqs[(*n)++] = v;
	return 0;
}

/* The requests: the arguments, or stdin's non-empty lines. */
static jv *
read_requests(int argc, char **argv, size_t *n)
{
	jv *reqs = NULL;
	size_t cap = 0;
	char *line = NULL;
	size_t lcap = 0;
	ssize_t len;
	int i = 0;

	*n = 0;
	for (;;) {
		const char *s;
		size_t slen;
		if (argc > 0) {
			if (i == argc)
				break;
			s = argv[i++];
			slen = strlen(s);
		} else {
			if ((len = getline(&line, &lcap, stdin)) == -1)
				break;
			while (len > 0 && (line[len - 1] == '\n' ||
			    line[len - 1] == '\r'))
				line[--len] = '\0';
			if (len == 0)
				continue;
			s = line;
			slen = (size_t)len;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			jv *nr = realloc(reqs, cap * sizeof(*nr));
			if (nr == NULL)
				fatal(EXIT_TEMP, "out of memory");
			reqs = nr;
		}
		if (add(s, slen, reqs, n) == -1) {
			free(line);
			exit(EXIT_USAGE);
		}
	}
	free(line);
	return reqs;
}

int
mode_call(int argc, char **argv)
{
	struct bus *bus;
	struct bus_client *cl;
	size_t n;
	int status = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: chat-bus call SUBJECT [JSON...]\n");
		return EXIT_USAGE;
	}
	jv *reqs = read_requests(argc - 2, argv + 2, &n);
	if (n == 0) {
		free(reqs);
		return 0;
	}
	loop = ev_default_loop(0);
	bus = bus_connect(loop, "chat-bus call", NULL);
	if ((cl = bus_client_new(bus, argv[1], bo.resend_ms)) == NULL)
		fatalx(EXIT_USAGE, "bad subject '%s'", argv[1]);
	if ((slots = calloc(n, sizeof(*slots))) == NULL)
		fatal(EXIT_TEMP, "out of memory");
	nslots = nleft = n;
	for (size_t i = 0; i < n; i++) {
		slots[i].id = json_has(reqs[i], "id") ? jv_object_get(
		    jv_copy(reqs[i]), jv_string("id")) : jv_invalid();
		slots[i].reply = jv_invalid();
		bus_call(cl, reqs[i], bo.timeout_ms, on_reply, &slots[i]);
	}
	free(reqs);
	/* The timers of the requests keep the loop alive until each ends. */
	ev_run(loop, 0);
	for (size_t i = 0; i < nslots; i++) {
		jv r = slots[i].reply;
		const char *code = NULL;
		if (!json_bool(r, "ok", 0)) {
			jv e = jv_object_get(jv_copy(r), jv_string("error"));
			code = jv_get_kind(e) == JV_KIND_OBJECT ?
			    json_str(e, "code", NULL) : NULL;
			int s = code && strcmp(code, "unavailable") == 0 ?
			    EXIT_TEMP : 1;
			if (s > status)
				status = s;
			jv_free(e);
		}
		char *out = json_dump(r, NULL);
		printf("%s\n", out ? out : "null");
		free(out);
		jv_free(slots[i].id);
	}
	free(slots);
	fflush(stdout);
	bus_close(bus);
	return status;
}

static struct bus *echo_bus;

static void
on_echo(void *arg, const char *subject, const char *reply, const char *line,
    size_t len)
{
	(void)arg;
	(void)subject;
	if (reply != NULL)
		bus_publish(echo_bus, reply, NULL, line, len);
}

int
mode_echo(int argc, char **argv)
{
	char err[512];

	if (argc != 2) {
		fprintf(stderr, "usage: chat-bus echo SUBJECT\n");
		return EXIT_USAGE;
	}
	loop = ev_default_loop(0);
	stop_on_signals(loop);
	echo_bus = bus_connect(loop, "chat-bus echo", NULL);
	if (bus_serve(echo_bus, argv[1], bo.queue ? bo.queue : argv[1],
	    on_echo, NULL, err, sizeof(err)) == -1)
		fatalx(EXIT_TEMP, "%s", err);
	log_info("echoing requests on '%s'", argv[1]);
	notify_ready();
	ev_run(loop, 0);
	bus_close(echo_bus);
	return 0;
}
