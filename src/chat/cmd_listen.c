/*
 * cmd_listen: `chat listen`.  Writes every message, presence change, typing
 * notice and error the server sends as one NDJSON line on stdout, flushed
 * at once (or a line of text with --format text), and keeps doing so across
 * disconnects.
 *
 * The cursor: the id of the last message written out is kept in the config
 * directory and sent as "since" on every (re)connect, so the server sends
 * exactly what came after it.  A device receives ids in increasing order
 * (PROTOCOL.md), so any id not above the cursor is one already written, and
 * is dropped: each message is printed once.  A message is written first and
 * acknowledged ("recv", and the cursor file) after, once per loop turn for
 * all the messages that turn brought; a crash in between prints a message
 * again on the next run rather than ever losing one.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <ev.h>

#include "chat.h"
#include "id.h"
#include "json.h"
#include "log.h"

struct listener {
	struct ev_loop		*loop;
	struct chat_ws		*ws;
	struct chat_session	 s;
	enum chat_format	 fmt;
	unsigned long		 count;		/* stop after this many; 0 never */
	unsigned long		 printed;
	char			 last[ID_HEX_LEN + 1];
	int			 dirty;		/* last not yet saved and recv'd */
	ev_prepare		 prep;
	ev_signal		 sigint, sigterm;
	int			 status;
	int			 done;
	char			 why[256];
};

/* Saves the cursor and tells the server, for everything written so far. */
static void
commit(struct listener *l)
{
	char err[512];

	if (!l->dirty)
		return;
	l->dirty = 0;
	if (session_cursor_save(l->last, err, sizeof(err)) == -1)
		log_warnx("%s", err);
	ws_recv(l->ws, l->last);
}

static void
finish(struct listener *l, int status)
{
	if (l->done)
		return;
	l->done = 1;
	l->status = status;
	commit(l);
	ev_signal_stop(l->loop, &l->sigint);
	ev_signal_stop(l->loop, &l->sigterm);
	ws_close(l->ws);
}

static void
on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)loop;
	(void)revents;
	commit(w->data);
}

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)revents;
	finish(w->data, 0);
}

static const char *
since(void *arg)
{
	struct listener *l = arg;

	return l->last[0] != '\0' ? l->last : NULL;
}

static void
on_ready(void *arg, jv f)
{
	struct listener *l = arg;
	const char *cur = json_str(f, "cursor", NULL);

	log_info("ready as %s device %s, from %s", l->s.user, l->s.device,
	    l->last[0] ? l->last : cur && cur[0] ? cur : "the start");
	jv_free(f);
}

/* Writes f (borrowed); stops the loop if stdout is gone. */
static int
emit(struct listener *l, jv f)
{
	int r;

	if (l->fmt == FMT_TEXT)
		r = print_frame_text(stdout, f);
	else
		r = print_json(stdout, jv_copy(f));
	if (r == 0)
		r = print_flush(stdout);
	if (r != 0) {
		/* The reader went away (EPIPE) is how a pipeline ends. */
		if (errno != EPIPE)
			chat_err("unable to write stdout: %s", strerror(errno));
		finish(l, errno == EPIPE ? 0 : CHAT_EXIT_REFUSED);
		return -1;
	}
	return 0;
}

static void
on_msg(struct listener *l, jv f)
{
	const char *id = json_str(f, "id", NULL);
	uint64_t v;

	if (id == NULL || id_parse(id, strlen(id), &v) == -1) {
		log_warnx("a message without a valid id: ignored");
		return;
	}
	if (l->last[0] != '\0' && strcmp(id, l->last) <= 0) {
		log_debug("message %s again: dropped", id);
		return;
	}
	if (emit(l, f) == -1)
		return;
	memcpy(l->last, id, sizeof(l->last));
	l->dirty = 1;
	if (l->count > 0 && ++l->printed >= l->count)
		finish(l, 0);
}

static void
on_frame(void *arg, jv f)
{
	struct listener *l = arg;
	const char *type = json_str(f, "type", NULL);
	const char *code;

	if (l->done || type == NULL)
		;
	else if (strcmp(type, "msg") == 0)
		on_msg(l, f);
	else if (strcmp(type, "synced") == 0)
		log_info("synced");
	else if (strcmp(type, "presence") == 0 ||
	    strcmp(type, "typing") == 0)
		emit(l, f);
	else if (strcmp(type, "error") == 0) {
		code = json_str(f, "code", NULL);
		if (code != NULL && strcmp(code, "unauthorized") == 0 &&
		    !json_has(f, "cid")) {
			chat_err("%s: %s", code, json_str(f, "message", NULL) ?
			    json_str(f, "message", NULL) : "");
			finish(l, CHAT_EXIT_REFUSED);
		} else
			emit(l, f);
	}
	jv_free(f);
}

static void
on_down(void *arg, const char *why)
{
	struct listener *l = arg;

	snprintf(l->why, sizeof(l->why), "%s", why);
	log_warnx("%s; reconnecting", why);
}

static void
on_give_up(void *arg)
{
	struct listener *l = arg;

	chat_err("unable to reach the chat server%s%s", l->why[0] ? ": " : "",
	    l->why);
	finish(l, EXIT_TEMP);
}

static void
on_closed(void *arg)
{
	struct listener *l = arg;

	ev_break(l->loop, EVBREAK_ALL);
}

static const struct option listen_opts[] = {
	{ "format", required_argument, NULL, 'f' },
	{ "count", required_argument, NULL, 'n' },
	{ "timeout", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

int
cmd_listen(int argc, char **argv)
{
	static const struct ws_handlers h = {
		.since = since, .on_ready = on_ready, .on_frame = on_frame,
		.on_down = on_down, .on_give_up = on_give_up,
		.on_closed = on_closed,
	};
	struct listener l;
	double timeout = 0;
	char err[256], *end;
	int c, status;

	memset(&l, 0, sizeof(l));
	while ((c = getopt_long(argc, argv, "f:n:h", listen_opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (print_parse_format(optarg, &l.fmt) == -1)
				return chat_bad_usage(argv[0]);
			break;
		case 'n':
			l.count = strtoul(optarg, &end, 10);
			if (*end != '\0' || l.count == 0)
				return chat_bad_usage(argv[0]);
			break;
		case 't':
			timeout = strtod(optarg, &end);
			if (*end != '\0' || timeout <= 0)
				return chat_bad_usage(argv[0]);
			break;
		case 'h':
			chat_usage(stdout, argv[0]);
			return 0;
		default:
			return chat_bad_usage(argv[0]);
		}
	}
	if (optind != argc)
		return chat_bad_usage(argv[0]);
	if ((status = chat_need_session(&l.s)) != 0)
		return status;
	/* A long-running listener logs its connections. */
	if (getenv("CHAT_LOG_LEVEL") == NULL)
		log_set_level(1);
	session_cursor_load(l.last);

	l.loop = ev_default_loop(0);
	ev_prepare_init(&l.prep, on_prepare);
	l.prep.data = &l;
	ev_prepare_start(l.loop, &l.prep);
	ev_signal_init(&l.sigint, on_signal, SIGINT);
	l.sigint.data = &l;
	ev_signal_start(l.loop, &l.sigint);
	ev_signal_init(&l.sigterm, on_signal, SIGTERM);
	l.sigterm.data = &l;
	ev_signal_start(l.loop, &l.sigterm);
	if ((l.ws = ws_open(l.loop, &l.s, &h, &l, timeout, err,
	    sizeof(err))) == NULL) {
		chat_err("%s", err);
		return EXIT_TEMP;
	}
	ev_run(l.loop, 0);
	ev_prepare_stop(l.loop, &l.prep);
	ws_free(l.ws);
	return l.status;
}
