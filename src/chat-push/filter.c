/*
 * filter: chat-push --stdin.  Reads NDJSON jobs (the fields of
 * push.enqueue) from standard input and sends them with the same
 * scheduler, providers and retries as the daemon, but with no socket and
 * no queue database: what is not sent when the process ends is lost.
 * Prints one NDJSON result line per job on standard output and exits when
 * input has ended and every job is settled: 0 if every job was delivered,
 * 100 if a line was malformed, 111 if a job failed or was given up.
 */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "framer.h"
#include "id.h"
#include "json.h"
#include "log.h"
#include "util.h"
#include "push.h"

static struct framer	fr;
static ev_io		in;
static ev_prepare	done_check;
static int		eof;
static unsigned long	lineno, bad, failed, sent;
static uint64_t		seq = 1;

static void
report(const struct job *j, enum push_verdict v, long status,
    const char *why)
{
	static const char *names[] = { "sent", "retry", "gone", "failed" };
	jv o = jv_object();
	char *s;

	if (v == PV_OK)
		sent++;
	else
		failed++;
	o = jv_object_set(o, jv_string("user"),
	    jv_string(j->user));
	o = jv_object_set(o, jv_string("device"),
	    jv_string(j->device));
	o = jv_object_set(o, jv_string("msg_id"),
	    jv_string(j->msg_id));
	o = jv_object_set(o, jv_string("ok"), jv_bool(v == PV_OK));
	o = jv_object_set(o, jv_string("result"), jv_string(names[v]));
	o = jv_object_set(o, jv_string("status"), jv_number(status));
	o = jv_object_set(o, jv_string("reason"), jv_string(why));
	if ((s = json_dump(o, NULL)) != NULL) {
		printf("%s\n", s);
		fflush(stdout);
	}
	free(s);
}

static void
take(const char *line, size_t len)
{
	char err[256];
	struct job *j;
	jv v;

	lineno++;
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return;
	v = json_parse_object(line, len, err, sizeof(err));
	if (jv_is_valid(v))
		v = job_normalize(v);
	if (jv_is_valid(v) && job_check(v, err, sizeof(err)) < 0) {
		jv_free(v);
		v = jv_invalid();
	}
	if (!jv_is_valid(v)) {
		jv_free(v);
		bad++;
		log_warnx("stdin line %lu: %s", lineno, err);
		return;
	}
	j = sched_job_new(v, NULL, 0, seq++, now_ms());
	if (j == NULL) {
		failed++;
		log_warnx("stdin line %lu: out of memory", lineno);
		return;
	}
	j->due_key = now_ms();
	sched_add(j);
}

static void
drain(void)
{
	const char *line;
	size_t len;
	int r;

	while ((r = framer_next(&fr, &line, &len)) != 0) {
		if (r < 0) {
			lineno++;
			bad++;
			log_warnx("stdin line %lu: line too long", lineno);
			continue;
		}
		take(line, len);
	}
}

static void
on_input(struct ev_loop *loop, ev_io *w, int revents)
{
	ssize_t n;

	(void)revents;
	n = framer_read(&fr, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n < 0)
			log_warn("reading stdin");
		/* a last line without its newline is still a line here */
		framer_feed(&fr, "\n", 1);
		eof = 1;
		ev_io_stop(loop, w);
	}
	drain();
}

static void
on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)w; (void)revents;
	if (eof && sched_idle())
		ev_break(loop, EVBREAK_ALL);
}

int
filter_run(struct ev_loop *loop)
{
	sched_init(loop, report, NULL);
	framer_init(&fr, 1 << 20);
	set_nonblock(0);
	ev_io_init(&in, on_input, 0, EV_READ);
	ev_io_start(loop, &in);
	ev_prepare_init(&done_check, on_prepare);
	ev_prepare_start(loop, &done_check);
	ev_run(loop, 0);
	framer_free(&fr);
	log_info("stdin: %lu line(s), %lu sent, %lu not delivered, %lu "
	    "malformed", lineno, sent, failed, bad);
	if (bad > 0)
		return EXIT_USAGE;
	return failed > 0 ? EXIT_TEMP : 0;
}
