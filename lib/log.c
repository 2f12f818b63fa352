/*
 * log: one line per event on stderr, tagged with the time (UTC, ms), the
 * program and the level.  Each line is built whole in a buffer of at most
 * PIPE_BUF bytes and handed to the kernel in one write(2), so lines from
 * processes that share a log pipe or an O_APPEND file never interleave.
 * A newline inside a message would break "one line per event", so control
 * characters are shown as '?'.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* Lines longer than this are cut and end in "..."; PIPE_BUF keeps a write
 * to a pipe atomic. */
#define LOG_LINE_MAX	PIPE_BUF

static char log_name[64];
static int log_level = 1;

void
log_init(const char *prog)
{
	const char *p, *env;
	char *end;
	long lv;

	if (prog == NULL)
		prog = program_invocation_short_name;
	if ((p = strrchr(prog, '/')) != NULL && p[1] != '\0')
		prog = p + 1;
	snprintf(log_name, sizeof(log_name), "%s", prog);

	if ((env = getenv("CHAT_LOG_LEVEL")) != NULL && *env != '\0') {
		errno = 0;
		lv = strtol(env, &end, 10);
		if (errno == 0 && *end == '\0')
			log_set_level(lv < 0 ? 0 : lv > 2 ? 2 : (int)lv);
	}
}

void
log_set_level(int level)
{
	log_level = level;
}

const char *
log_prog(void)
{
	return log_name[0] != '\0' ? log_name : program_invocation_short_name;
}

/* Formats and writes one line; errnum >= 0 appends strerror(errnum). */
static void
vlog(const char *level, int errnum, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	struct timespec ts;
	struct tm tm;
	size_t n, start, i;
	int r;
	ssize_t w;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	r = snprintf(line, sizeof(line),
	    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L, log_prog(), level);
	n = r < 0 ? 0 : (size_t)r;
	if (n > sizeof(line) - 1)
		n = sizeof(line) - 1;
	start = n;

	/* Leave room for the newline at the end of every path below. */
	r = vsnprintf(line + n, sizeof(line) - 1 - n, fmt, ap);
	if (r > 0)
		n += (size_t)r;
	if (errnum >= 0 && n < sizeof(line) - 1) {
		r = snprintf(line + n, sizeof(line) - 1 - n, ": %s",
		    strerror(errnum));
		if (r > 0)
			n += (size_t)r;
	}
	if (n >= sizeof(line) - 1) {
		n = sizeof(line) - 2;
		memcpy(line + n - 3, "...", 3);
	}
	for (i = start; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[n++] = '\n';

	do
		w = write(STDERR_FILENO, line, n);
	while (w < 0 && errno == EINTR);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if (log_level < 1)
		return;
	va_start(ap, fmt);
	vlog("info", -1, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if (log_level < 2)
		return;
	va_start(ap, fmt);
	vlog("debug", -1, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vlog("warning", saved, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vlog("warning", -1, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
fatal(int status, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vlog("fatal", saved, fmt, ap);
	va_end(ap);
	exit(status);
}

void
fatalx(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("fatal", -1, fmt, ap);
	va_end(ap);
	exit(status);
}
