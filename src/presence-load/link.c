/*
 * link: presence-load --link NAME drives chatd's presence_link module
 * (src/chatd/presence_link.c) exactly as chatd calls it, from commands on
 * stdin, so the module is tested against a real presenced before chatd is
 * wired to it.  Commands, one a line:
 *
 *   connect|activity|bye|close|drop USER DEVICE
 *   query USER NAME[,NAME...]     group USER GID     friends USER
 *   status                        quit
 *
 * Output, one a line: "push TO[,TO...] FRAME" for each presence event
 * handed to chatd, "reply JSON" for each query answer, "status JSON".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "framer.h"
#include "json.h"
#include "log.h"
#include "../chatd/presence_link.h"
#include "load.h"

static struct presence_link *pl;
static struct framer in;

static void
on_push(void *arg, const char *const *to, size_t nto, const char *frame,
    size_t len)
{
	(void)arg;
	fputs("push ", stdout);
	for (size_t i = 0; i < nto; i++)
		printf("%s%s", i ? "," : "", to[i]);
	printf(" %.*s\n", (int)len, frame);
	fflush(stdout);
}

static void
on_reply(void *arg, jv reply)
{
	(void)arg;
	char *s = json_dump(reply, NULL);
	printf("reply %s\n", s ? s : "invalid");
	fflush(stdout);
	free(s);
}

static void
command(struct ev_loop *loop, char *line)
{
	char *verb = strtok(line, " "), *a = strtok(NULL, " ");
	char *b = strtok(NULL, " ");

	if (verb == NULL)
		return;
	if (strcmp(verb, "quit") == 0) {
		ev_break(loop, EVBREAK_ALL);
	} else if (strcmp(verb, "status") == 0) {
		char *s = json_dump(presence_link_status(pl), NULL);
		printf("status %s\n", s);
		fflush(stdout);
		free(s);
	} else if (a == NULL) {
		log_warnx("'%s' needs arguments", verb);
	} else if (strcmp(verb, "friends") == 0) {
		presence_link_friends(pl, a, 5000, on_reply, NULL);
	} else if (b == NULL) {
		log_warnx("'%s' needs two arguments", verb);
	} else if (strcmp(verb, "query") == 0) {
		jv users = jv_array();
		for (char *n = strtok(b, ","); n; n = strtok(NULL, ","))
			users = jv_array_append(users, jv_string(n));
		presence_link_query(pl, a, users, NULL, 5000, on_reply, NULL);
	} else if (strcmp(verb, "group") == 0) {
		presence_link_query(pl, a, jv_invalid(), b, 5000, on_reply,
		    NULL);
	} else if (strcmp(verb, "connect") == 0) {
		presence_link_connect(pl, a, b);
	} else if (strcmp(verb, "activity") == 0) {
		presence_link_activity(pl, a, b);
	} else if (strcmp(verb, "bye") == 0) {
		presence_link_bye(pl, a, b);
	} else if (strcmp(verb, "close") == 0) {
		presence_link_close(pl, a, b);
	} else if (strcmp(verb, "drop") == 0) {
		presence_link_drop(pl, a, b);
	} else
		log_warnx("unknown command '%s'", verb);
}

static void
on_stdin(struct ev_loop *loop, ev_io *w, int revents)
{
	const char *line;
	size_t len;
	char buf[512];
	(void)revents;

	ssize_t n = framer_read(&in, w->fd);
	if (n == 0) {
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	while (framer_next(&in, &line, &len) == 1) {
		if (len >= sizeof(buf))
			continue;
		memcpy(buf, line, len);
		buf[len] = '\0';
		command(loop, buf);
	}
}

int
load_link(const char *name)
{
	struct ev_loop *loop = EV_DEFAULT;
	ev_io io;

	if ((pl = presence_link_new(loop, name, "presence", on_push, NULL)) == NULL)
		fatalx(EXIT_USAGE, "bad chatd name '%s'", name);
	framer_init(&in, 4096);
	ev_io_init(&io, on_stdin, STDIN_FILENO, EV_READ);
	ev_io_start(loop, &io);
	ev_run(loop, 0);
	presence_link_free(pl);
	framer_free(&in);
	return 0;
}
