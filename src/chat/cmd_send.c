/*
 * cmd_send: `chat send`.  One message at a time: it goes out with a fresh
 * cid, and the next is taken only once the server acked it (stored on disk)
 * or refused it.  If the connection drops first, the same frame, same cid,
 * goes out again after the reconnect, so a retry never makes a second
 * message.  With no TEXT, stdin is read through the loop (one line is one
 * message; --json lines name their own target), so heartbeats and acks keep
 * flowing while a slow pipe, say `chat listen | jq`, has nothing to say.
 *
 * Exit status: 0 if every message was acked, 1 if the server refused any,
 * 111 if the server could not be reached or did not ack within --timeout.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <ev.h>

#include "chat.h"
#include "id.h"
#include "json.h"
#include "log.h"
#include "util.h"

#define SEND_LINE_MAX	(1024 * 1024)
#define SEND_RETRY_SECS	1.0	/* after rate_limited or unavailable */

struct sender {
	struct ev_loop		*loop;
	struct chat_ws		*ws;
	struct chat_session	 s;
	const char		*to;		/* default target */
	const char		*group;
	int			 json_mode;
	ev_io			 in;
	char			*ibuf;
	size_t			 ilen, icap;
	int			 eof;
	int			 discarding;	/* inside an over-long line */
	unsigned long		 lineno;
	jv			 cur;		/* the frame awaiting its ack */
	int			 have_cur;
	char			 cid[80];
	char			 cid_prefix[24];
	unsigned long		 seq, acked, refused;
	ev_timer		 stall;		/* no ack for too long */
	ev_timer		 resend;
	double			 timeout;
	int			 status;	/* set when we must stop */
	int			 done;
	char			 why[256];
	char			 since_id[ID_HEX_LEN + 1];
};

static void next_message(struct sender *sd);

static void
finish(struct sender *sd, int status)
{
	if (sd->done)
		return;
	sd->done = 1;
	if (status != 0)
		sd->status = status;
	ev_io_stop(sd->loop, &sd->in);
	ev_timer_stop(sd->loop, &sd->stall);
	ev_timer_stop(sd->loop, &sd->resend);
	ws_close(sd->ws);
}

static void
send_cur(struct sender *sd)
{
	if (!sd->have_cur || !ws_ready(sd->ws))
		return;
	log_debug("sending cid %s", sd->cid);
	ws_send(sd->ws, jv_copy(sd->cur));
}

/* Makes the frame for one input line; 0, or -1 if the line is refused
 * (counted), 1 if it is to be skipped. */
static int
make_frame(struct sender *sd, const char *line, size_t len)
{
	const char *to = sd->to, *group = sd->group, *body = NULL, *cid = NULL;
	char err[160];
	jv o = jv_invalid(), f;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return 1;
	if (sd->json_mode) {
		o = json_parse_object(line, len, err, sizeof(err));
		if (!jv_is_valid(o)) {
			chat_err("line %lu: %s", sd->lineno, err);
			goto refuse;
		}
		to = json_str(o, "to", NULL);
		group = json_str(o, "group", NULL);
		body = json_str(o, "body", NULL);
		cid = json_str(o, "cid", NULL);
		if ((to == NULL) == (group == NULL) || body == NULL) {
			chat_err("line %lu: need \"to\" or \"group\", and "
			    "\"body\"", sd->lineno);
			goto refuse;
		}
		if (cid != NULL && !valid_cid(cid)) {
			chat_err("line %lu: invalid cid", sd->lineno);
			goto refuse;
		}
	}
	if (cid != NULL)
		snprintf(sd->cid, sizeof(sd->cid), "%s", cid);
	else
		snprintf(sd->cid, sizeof(sd->cid), "%s-%lu", sd->cid_prefix,
		    ++sd->seq);
	f = JV_OBJECT(jv_string("type"), jv_string("send"),
	    jv_string("cid"), jv_string(sd->cid));
	if (group != NULL)
		f = jv_object_set(f, jv_string("group"), jv_string(group));
	else
		f = jv_object_set(f, jv_string("to"), jv_string(to));
	f = jv_object_set(f, jv_string("body"), body != NULL ?
	    jv_string(body) : jv_string_sized(line, (int)len));
	/* (jv_string_sized turns bytes that are not UTF-8 into U+FFFD.) */
	jv_free(o);
	sd->cur = f;
	sd->have_cur = 1;
	return 0;
refuse:
	jv_free(o);
	sd->refused++;
	return -1;
}

/* Takes the next whole line out of the stdin buffer: 1 and a message in
 * cur, 0 when none is there yet. */
static int
take_line(struct sender *sd)
{
	char *nl;
	size_t len;
	int r;

	for (;;) {
		nl = sd->ilen > 0 ? memchr(sd->ibuf, '\n', sd->ilen) : NULL;
		if (nl == NULL && !(sd->eof && sd->ilen > 0))
			return 0;
		len = nl != NULL ? (size_t)(nl - sd->ibuf) : sd->ilen;
		sd->lineno++;
		if (sd->discarding)
			r = 1;
		else
			r = make_frame(sd, sd->ibuf, len);
		sd->discarding = 0;
		len = nl != NULL ? len + 1 : len;
		memmove(sd->ibuf, sd->ibuf + len, sd->ilen - len);
		sd->ilen -= len;
		if (r == 0)
			return 1;
	}
}

static void
on_stdin(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sender *sd = w->data;
	ssize_t n;
	char *p;

	(void)loop;
	(void)revents;
	if (sd->icap - sd->ilen < 65536) {
		if ((p = realloc(sd->ibuf, sd->icap + 65536)) == NULL) {
			chat_err("out of memory");
			finish(sd, EXIT_TEMP);
			return;
		}
		sd->ibuf = p;
		sd->icap += 65536;
	}
	n = read(STDIN_FILENO, sd->ibuf + sd->ilen, sd->icap - sd->ilen);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == -1)
		chat_err("unable to read stdin: %s", strerror(errno));
	if (n <= 0) {
		sd->eof = 1;
		ev_io_stop(sd->loop, &sd->in);
	} else
		sd->ilen += (size_t)n;
	if (!sd->eof && sd->ilen > SEND_LINE_MAX && sd->ibuf != NULL &&
	    memchr(sd->ibuf, '\n', sd->ilen) == NULL) {
		/* Refuse it here rather than hold it: a body is 16 KiB at
		 * most, so this line can only be refused by the server. */
		chat_err("line %lu: longer than %d bytes", sd->lineno + 1,
		    SEND_LINE_MAX);
		sd->refused++;
		sd->discarding = 1;
		sd->ilen = 0;
		return;
	}
	if (sd->discarding && !sd->eof) {
		p = memchr(sd->ibuf, '\n', sd->ilen);
		if (p == NULL) {
			sd->ilen = 0;
			return;
		}
	}
	next_message(sd);
}

/* Moves on: the next message if there is one, else the end. */
static void
next_message(struct sender *sd)
{
	if (sd->have_cur || sd->done)
		return;
	if (take_line(sd)) {
		ev_io_stop(sd->loop, &sd->in);
		ev_timer_again(sd->loop, &sd->stall);
		send_cur(sd);
		return;
	}
	if (sd->eof) {
		finish(sd, sd->refused ? CHAT_EXIT_REFUSED : 0);
		return;
	}
	ev_io_start(sd->loop, &sd->in);
}

static void
on_ready(void *arg, jv frame)
{
	struct sender *sd = arg;

	jv_free(frame);
	log_debug("ready");
	if (sd->have_cur)
		send_cur(sd);
	else
		next_message(sd);
}

static void
settle(struct sender *sd)
{
	jv_free(sd->cur);
	sd->cur = jv_null();
	sd->have_cur = 0;
	ev_timer_stop(sd->loop, &sd->resend);
	ev_timer_again(sd->loop, &sd->stall);
	next_message(sd);
}

static void
on_frame(void *arg, jv f)
{
	struct sender *sd = arg;
	const char *type = json_str(f, "type", NULL);
	const char *cid = json_str(f, "cid", NULL);
	const char *code = json_str(f, "code", NULL);
	const char *msg = json_str(f, "message", NULL);
	int mine = sd->have_cur && cid != NULL && strcmp(cid, sd->cid) == 0;

	if (type == NULL)
		;
	else if (strcmp(type, "ack") == 0 && mine) {
		log_debug("acked cid %s as %s", cid,
		    json_str(f, "id", NULL) ? json_str(f, "id", NULL) : "?");
		sd->acked++;
		settle(sd);
	} else if (strcmp(type, "error") == 0) {
		if (code == NULL)
			code = "error";
		if (mine && (strcmp(code, "rate_limited") == 0 ||
		    strcmp(code, "unavailable") == 0)) {
			log_debug("%s for cid %s: trying again", code, cid);
			ev_timer_set(&sd->resend, SEND_RETRY_SECS, 0);
			ev_timer_start(sd->loop, &sd->resend);
		} else if (mine) {
			chat_err("%s: %s", code, msg ? msg : "");
			sd->refused++;
			settle(sd);
		} else if (cid == NULL && strcmp(code, "unauthorized") == 0) {
			chat_err("%s: %s", code, msg ? msg : "");
			finish(sd, CHAT_EXIT_REFUSED);
		} else
			log_warnx("server error %s: %s", code, msg ? msg : "");
	}
	jv_free(f);
}

static void
on_resend(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	send_cur(w->data);
}

static void
on_stall(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sender *sd = w->data;

	(void)loop;
	(void)revents;
	if (!sd->have_cur)
		return;
	chat_err("no ack for cid '%s' within %g s%s%s", sd->cid, sd->timeout,
	    sd->why[0] ? ": " : "", sd->why);
	finish(sd, EXIT_TEMP);
}

static void
on_down(void *arg, const char *why)
{
	struct sender *sd = arg;

	snprintf(sd->why, sizeof(sd->why), "%s", why);
	/* The retry is the normal course: only say so when asked. */
	log_info("%s; reconnecting", why);
}

static void
on_give_up(void *arg)
{
	struct sender *sd = arg;

	/* Waiting for stdin with nothing to send is no failure. */
	if (!sd->have_cur)
		return;
	chat_err("unable to reach the chat server%s%s", sd->why[0] ? ": " :
	    "", sd->why);
	finish(sd, EXIT_TEMP);
}

static void
on_closed(void *arg)
{
	struct sender *sd = arg;

	ev_break(sd->loop, EVBREAK_ALL);
}

/* The send device wants no backlog: "since" an id of this very moment
 * skips the sync (it moves no cursor), so a send starts at once. */
static const char *
since(void *arg)
{
	struct sender *sd = arg;
	uint64_t ms = now_ms() - ID_EPOCH_MS;

	id_format(ms << (ID_NODE_BITS + ID_SEQ_BITS) |
	    ((1ULL << (ID_NODE_BITS + ID_SEQ_BITS)) - 1), sd->since_id);
	return sd->since_id;
}

static const struct option send_opts[] = {
	{ "group", required_argument, NULL, 'g' },
	{ "json", no_argument, NULL, 'j' },
	{ "timeout", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

int
cmd_send(int argc, char **argv)
{
	static const struct ws_handlers h = {
		.since = since, .on_ready = on_ready, .on_frame = on_frame,
		.on_down = on_down, .on_give_up = on_give_up,
		.on_closed = on_closed,
	};
	struct sender sd;
	unsigned char rnd[8];
	char err[256], *text, *end;
	size_t i, len;
	int c, status;

	memset(&sd, 0, sizeof(sd));
	sd.cur = jv_null();
	sd.timeout = 30;
	while ((c = getopt_long(argc, argv, "g:h", send_opts, NULL)) != -1) {
		switch (c) {
		case 'g':
			sd.group = optarg;
			break;
		case 'j':
			sd.json_mode = 1;
			break;
		case 't':
			sd.timeout = strtod(optarg, &end);
			if (*end != '\0' || sd.timeout <= 0)
				return chat_bad_usage(argv[0]);
			break;
		case 'h':
			chat_usage(stdout, argv[0]);
			return 0;
		default:
			return chat_bad_usage(argv[0]);
		}
	}
	if (sd.json_mode) {
		if (sd.group != NULL || optind != argc)
			return chat_bad_usage(argv[0]);
	} else if (sd.group != NULL) {
		if ((status = chat_check_group(sd.group)) != 0)
			return status;
	} else {
		if (optind >= argc)
			return chat_bad_usage(argv[0]);
		sd.to = argv[optind++];
		if ((status = chat_check_user((char *)sd.to)) != 0)
			return status;
	}
	if ((status = chat_need_session(&sd.s)) != 0)
		return status;
	if (sd.s.send_token[0] != '\0') {
		memcpy(sd.s.token, sd.s.send_token, sizeof(sd.s.token));
		memcpy(sd.s.device, sd.s.send_device, sizeof(sd.s.device));
	}
	if (random_bytes(rnd, sizeof(rnd)) == -1) {
		chat_err("unable to make a cid: no random bytes");
		return EXIT_TEMP;
	}
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(sd.cid_prefix + 2 * i, 3, "%02x", rnd[i]);

	sd.loop = ev_default_loop(0);
	ev_io_init(&sd.in, on_stdin, STDIN_FILENO, EV_READ);
	sd.in.data = &sd;
	ev_init(&sd.stall, on_stall);
	sd.stall.repeat = sd.timeout;
	sd.stall.data = &sd;
	ev_init(&sd.resend, on_resend);
	sd.resend.data = &sd;
	if (optind < argc) {
		/* TEXT on the command line: its words make one message, sent
		 * as written (a newline in it stays in the body). */
		for (len = 0, i = (size_t)optind; i < (size_t)argc; i++)
			len += strlen(argv[i]) + 1;
		if ((text = malloc(len)) == NULL)
			return EXIT_TEMP;
		text[0] = '\0';
		for (i = (size_t)optind; i < (size_t)argc; i++) {
			if (i > (size_t)optind)
				strcat(text, " ");
			strcat(text, argv[i]);
		}
		sd.eof = 1;
		status = make_frame(&sd, text, strlen(text));
		free(text);
		if (status != 0) {
			if (status == 1)
				chat_err("empty message");
			return EXIT_USAGE;
		}
	}
	if ((sd.ws = ws_open(sd.loop, &sd.s, &h, &sd, sd.timeout, err,
	    sizeof(err))) == NULL) {
		chat_err("%s", err);
		free(sd.ibuf);
		return EXIT_TEMP;
	}
	ev_run(sd.loop, 0);
	ws_free(sd.ws);
	jv_free(sd.cur);
	free(sd.ibuf);
	log_debug("%lu acked, %lu refused", sd.acked, sd.refused);
	if (sd.status == 0 && sd.refused > 0)
		sd.status = CHAT_EXIT_REFUSED;
	return sd.status;
}
