/*
 * test_log: the line format, levels (and CHAT_LOG_LEVEL), errno handling,
 * one line per event whatever the message holds, fatal's exit status, and
 * the reason log.c exists: eight processes logging long lines into one
 * O_APPEND file at once never interleave a line.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "t.h"

#define STAMP	"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "

static char logpath[] = "/tmp/test_log.XXXXXX";
static int saved_stderr;

/* Points stderr at an empty log file. */
static void
capture(void)
{
	int fd = open(logpath, O_WRONLY | O_TRUNC | O_APPEND);

	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* Everything logged since capture(), NUL-terminated (static). */
static const char *
captured(void)
{
	static char buf[1 << 16];
	ssize_t n;
	int fd = open(logpath, O_RDONLY);

	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

static int
matches(const char *re, const char *s)
{
	regex_t r;
	int ok;

	if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB | REG_NEWLINE) != 0)
		return 0;
	ok = regexec(&r, s, 0, NULL, 0) == 0;
	regfree(&r);
	return ok;
}

static int
count_lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static void
test_format(void)
{
	const char *out;
	char big[10000];

	unsetenv("CHAT_LOG_LEVEL");
	log_init("/usr/local/bin/chat-test");
	CHECK(strcmp(log_prog(), "chat-test") == 0, "log_prog is the base name");

	capture();
	log_info("listening on '%s'", "var/run/store.sock");
	out = captured();
	CHECK(matches(STAMP "chat-test info: listening on 'var/run/store.sock'\n$", out),
	    "info line format: %.*s", (int)strcspn(out, "\n"), out);

	capture();
	errno = ENOENT;
	log_warn("unable to open '%s'", "x");
	CHECK(errno == ENOENT, "log_warn keeps errno");
	out = captured();
	CHECK(matches(STAMP "chat-test warning: unable to open 'x': No such file or directory\n$",
	    out), "log_warn appends strerror: %.*s", (int)strcspn(out, "\n"), out);

	capture();
	errno = ENOENT;
	log_warnx("bad line from peer");
	out = captured();
	CHECK(matches(STAMP "chat-test warning: bad line from peer\n$", out),
	    "log_warnx does not append strerror");

	capture();
	log_info("two\nlines\rand a\ttab");
	out = captured();
	CHECK(count_lines(out) == 1 && strstr(out, "two?lines?and a?tab") != NULL,
	    "control characters cannot split a line");

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	capture();
	log_info("%s", big);
	out = captured();
	CHECK(count_lines(out) == 1 && strlen(out) <= PIPE_BUF &&
	    strcmp(out + strlen(out) - 4, "...\n") == 0,
	    "a 10,000-byte message is cut to one line of at most PIPE_BUF (%zu)",
	    strlen(out));
}

static void
test_levels(void)
{
	const char *out;

	capture();
	log_set_level(1);
	log_debug("hidden");
	log_info("shown");
	out = captured();
	CHECK(strstr(out, "hidden") == NULL && strstr(out, "shown") != NULL,
	    "level 1: info, no debug");

	capture();
	log_set_level(0);
	log_info("hidden");
	log_warnx("still shown");
	out = captured();
	CHECK(strstr(out, "hidden") == NULL && strstr(out, "still shown") != NULL,
	    "level 0: warnings only");

	capture();
	log_set_level(2);
	log_debug("detail %d", 42);
	out = captured();
	CHECK(matches(STAMP "chat-test debug: detail 42\n$", out), "level 2: debug lines");

	setenv("CHAT_LOG_LEVEL", "0", 1);
	log_init("chat-test");
	capture();
	log_info("hidden");
	out = captured();
	CHECK(out[0] == '\0', "CHAT_LOG_LEVEL=0 at log_init hides info");

	setenv("CHAT_LOG_LEVEL", "2", 1);
	log_init("chat-test");
	capture();
	log_debug("seen");
	out = captured();
	CHECK(strstr(out, "debug: seen") != NULL, "CHAT_LOG_LEVEL=2 at log_init shows debug");

	setenv("CHAT_LOG_LEVEL", "loud", 1);
	log_set_level(1);
	log_init("chat-test");
	capture();
	log_debug("hidden");
	log_info("shown");
	out = captured();
	CHECK(strstr(out, "hidden") == NULL && strstr(out, "shown") != NULL,
	    "a CHAT_LOG_LEVEL that is not a number changes nothing");
	unsetenv("CHAT_LOG_LEVEL");
	log_set_level(1);
}

static void
test_fatal(void)
{
	int status = 0;
	pid_t pid;

	capture();
	fflush(stdout);	/* fatal's exit() must not print our TAP lines again */
	if ((pid = fork()) == 0)
		fatalx(EXIT_TEMP, "cannot reach '%s'", "store");
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == EXIT_TEMP,
	    "fatalx exits with the status given");
	CHECK(matches(STAMP "chat-test fatal: cannot reach 'store'\n$", captured()),
	    "fatalx logs a fatal line");

	capture();
	fflush(stdout);
	if ((pid = fork()) == 0) {
		errno = EACCES;
		fatal(EXIT_USAGE, "unable to open '%s'", "db");
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == EXIT_USAGE &&
	    strstr(captured(), "fatal: unable to open 'db': Permission denied\n") != NULL,
	    "fatal appends strerror and exits 100");
}

/* Eight writers, 2,000 lines each, lengths up to 3,000 bytes, one file. */
static void
test_no_interleave(void)
{
	enum { WRITERS = 8, LINES = 2000 };
	char pay[3100], *buf, *line, *save = NULL, name[32];
	int status, w, i, bad = 0, total = 0, counts[WRITERS] = { 0 };
	pid_t pids[WRITERS];
	FILE *f;
	long size;
	regex_t re;

	capture();
	fflush(stdout);
	for (w = 0; w < WRITERS; w++) {
		if ((pids[w] = fork()) != 0)
			continue;
		snprintf(name, sizeof(name), "writer%d", w);
		log_init(name);
		srand((unsigned)w + 1);
		for (i = 0; i < LINES; i++) {
			int n = 1 + rand() % 3000;

			memset(pay, 'a' + w, (size_t)n);
			pay[n] = '\0';
			log_info("%d %d %s", i, n, pay);
		}
		_exit(0);
	}
	for (w = 0; w < WRITERS; w++)
		waitpid(pids[w], &status, 0);

	f = fopen(logpath, "r");
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	buf = malloc((size_t)size + 1);
	if (fread(buf, 1, (size_t)size, f) != (size_t)size)
		bad++;
	buf[size] = '\0';
	fclose(f);

	regcomp(&re, STAMP "writer([0-7]) info: [0-9]+ ([0-9]+) ([a-h]+)$", REG_EXTENDED);
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		regmatch_t m[4];

		total++;
		if (regexec(&re, line, 4, m, 0) != 0) {
			bad++;
			continue;
		}
		w = line[m[1].rm_so] - '0';
		/* The payload is whole and all of the writer's own letter. */
		if (atoi(line + m[2].rm_so) != m[3].rm_eo - m[3].rm_so ||
		    strspn(line + m[3].rm_so, (char[]){ (char)('a' + w), 0 }) !=
		    (size_t)(m[3].rm_eo - m[3].rm_so))
			bad++;
		else
			counts[w]++;
	}
	regfree(&re);
	free(buf);
	for (w = 0; w < WRITERS; w++)
		if (counts[w] != LINES)
			bad++;
	CHECK(total == WRITERS * LINES && bad == 0,
	    "8 processes x 2,000 lines of up to 3,000 bytes: %d lines, %d torn or lost",
	    total, bad);
}

int
main(void)
{
	int fd;

	if ((fd = mkstemp(logpath)) < 0)
		return 1;
	close(fd);
	saved_stderr = dup(STDERR_FILENO);
	test_format();
	test_levels();
	test_fatal();
	test_no_interleave();
	dup2(saved_stderr, STDERR_FILENO);
	unlink(logpath);
	return t_done();
}
