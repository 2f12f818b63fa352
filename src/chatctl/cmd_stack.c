/*
 * cmd_stack: the subcommands about the running stack rather than its data:
 * status (chat-super's table of programs), call (any op of any program, by
 * its socket) and logs (a program's log file, optionally followed).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "json.h"
#include "log.h"
#include "chatctl.h"

/* ms as a short human duration: 950ms, 12.3s, 4m05s, 2h03m, 3d04h. */
static void
duration(double ms, char *buf, size_t len)
{
	unsigned long long s = (unsigned long long)(ms / 1000);

	if (ms < 1000)
		snprintf(buf, len, "%.0fms", ms);
	else if (s < 60)
		snprintf(buf, len, "%.1fs", ms / 1000);
	else if (s < 3600)
		snprintf(buf, len, "%llum%02llus", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%lluh%02llum", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, len, "%llud%02lluh", s / 86400, s % 86400 / 3600);
}

int
cmd_status(int argc, char **argv)
{
	jv rep, list, p, pid;
	char up[32], pidbuf[16];
	int i, n;

	(void)argv;
	if (argc != 1)
		return ctl_usage("status takes no arguments");
	rep = rpc_call("super", jv_object_set(jv_object(), jv_string("op"),
	    jv_string("status")));
	if (!rpc_ok("super", rep)) {
		jv_free(rep);
		return CTL_EXIT_NO;
	}
	if (out_structured()) {
		out_json(rep);
		return out_failed() ? CTL_EXIT_NO : 0;
	}
	list = jv_object_get(jv_copy(rep), jv_string("programs"));
	n = jv_get_kind(list) == JV_KIND_ARRAY ? jv_array_length(jv_copy(list))
	    : 0;
	printf("%-12s %-9s %-8s %-9s %-8s %s\n", "NAME", "STATE", "PID",
	    "UPTIME", "RESTARTS", "LAST EXIT");
	for (i = 0; i < n; i++) {
		int64_t ms = 0, restarts = 0;
		const char *last, *name, *state;

		p = jv_array_get(jv_copy(list), i);
		pid = jv_object_get(jv_copy(p), jv_string("pid"));
		json_int(p, "uptime_ms", &ms);
		json_int(p, "restarts", &restarts);
		last = json_str(p, "last_exit", NULL);
		if (jv_get_kind(pid) == JV_KIND_NUMBER) {
			duration((double)ms, up, sizeof(up));
			snprintf(pidbuf, sizeof(pidbuf), "%d",
			    (int)jv_number_value(pid));
		} else {
			snprintf(up, sizeof(up), "-");
			snprintf(pidbuf, sizeof(pidbuf), "-");
		}
		name = json_str(p, "name", NULL);
		state = json_str(p, "state", NULL);
		printf("%-12s %-9s %-8s %-9s %-8lld %s\n", name ? name : "?",
		    state ? state : "?", pidbuf, up, (long long)restarts,
		    last ? last : "-");
		jv_free(pid);
		jv_free(p);
	}
	jv_free(list);
	jv_free(rep);
	return 0;
}

int
cmd_call(int argc, char **argv)
{
	char err[512];
	jv req, rep;
	int ok;

	if (argc != 3)
		return ctl_usage("usage: chatctl call PROGRAM 'JSON'");
	req = json_parse_object(argv[2], strlen(argv[2]), err, sizeof(err));
	if (!jv_is_valid(req)) {
		jv_free(req);
		return ctl_usage("request '%s' is not a JSON object: %s",
		    argv[2], err);
	}
	if (json_str(req, "op", NULL) == NULL) {
		jv_free(req);
		return ctl_usage("request '%s' has no string field 'op'",
		    argv[2]);
	}
	rep = rpc_call(argv[1], req);
	ok = json_bool(rep, "ok", 0);
	out_json(rep);
	if (out_failed())
		return CTL_EXIT_NO;
	return ok ? 0 : CTL_EXIT_NO;
}

/* Copies fd from its current offset to stdout; returns the new offset. */
static off_t
copy_out(int fd, off_t off)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		fwrite(buf, 1, (size_t)n, stdout);
		off += n;
	}
	fflush(stdout);
	return off;
}

/* The offset where the last n lines of fd begin. */
static off_t
last_lines(int fd, long n)
{
	char buf[8192];
	off_t end = lseek(fd, 0, SEEK_END), pos = end;
	ssize_t got, i;
	long seen = 0;

	while (pos > 0) {
		size_t want = pos > (off_t)sizeof(buf) ? sizeof(buf) :
		    (size_t)pos;

		pos -= (off_t)want;
		got = pread(fd, buf, want, pos);
		if (got <= 0)
			return 0;
		for (i = got - 1; i >= 0; i--)
			if (buf[i] == '\n' && pos + i != end - 1 &&
			    ++seen == n)
				return pos + i + 1;
	}
	return 0;
}

int
cmd_logs(int argc, char **argv)
{
	char path[4096], *end;
	const char *prog = NULL;
	struct stat st, now;
	long n = -1;
	int i, follow = 0, fd;
	off_t off;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--follow")
		    == 0)
			follow = 1;
		else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			n = strtol(argv[++i], &end, 10);
			if (*end != '\0' || n < 0)
				return ctl_usage("-n needs a number of lines");
		} else if (prog == NULL && argv[i][0] != '-')
			prog = argv[i];
		else
			return ctl_usage("usage: chatctl logs PROGRAM [-f] "
			    "[-n LINES]");
	}
	if (prog == NULL || strchr(prog, '/') != NULL)
		return ctl_usage("usage: chatctl logs PROGRAM [-f] [-n LINES]");
	snprintf(path, sizeof(path), "%s/log/%s.log", conf_home(), prog);
	if ((fd = open(path, O_RDONLY)) < 0) {
		fprintf(stderr, "chatctl: unable to open '%s': %s\n", path,
		    strerror(errno));
		return CTL_EXIT_NO;
	}
	off = n >= 0 ? last_lines(fd, n) : 0;
	lseek(fd, off, SEEK_SET);
	off = copy_out(fd, off);
	while (follow) {
		usleep(200000);
		off = copy_out(fd, off);
		/* Truncated or replaced: start again from its beginning. */
		if (fstat(fd, &st) == 0 && st.st_size < off)
			off = lseek(fd, 0, SEEK_SET);
		if (stat(path, &now) == 0 && fstat(fd, &st) == 0 &&
		    now.st_ino != st.st_ino) {
			close(fd);
			if ((fd = open(path, O_RDONLY)) < 0)
				return CTL_EXIT_NO;
			off = 0;
		}
	}
	close(fd);
	return 0;
}
