/*
 * ipc_sync: the blocking client for command-line tools.  poll(2) bounds
 * every wait; lines are split by the same framer the daemons use.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jv.h>

#include "ipc.h"
#include "ipc_sync.h"
#include "util.h"

int
ipc_sync_open(struct ipc_sync *s, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path '%s' is too long", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		snprintf(err, errlen, "unable to connect to '%s': %s", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	s->fd = fd;
	s->next_id = 1;
	framer_init(&s->fr, IPC_MAXLINE_DEFAULT * 64);
	return 0;
}

void
ipc_sync_close(struct ipc_sync *s)
{
	if (s->fd != -1)
		close(s->fd);
	s->fd = -1;
	framer_free(&s->fr);
}

static int
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

char *
ipc_sync_read(struct ipc_sync *s, int timeout_ms, char *err, size_t errlen)
{
	long long deadline = timeout_ms > 0 ? mono_ms() + timeout_ms : 0;

	for (;;) {
		const char *line;
		size_t len;
		int r = framer_next(&s->fr, &line, &len);
		if (r == 1) {
			char *out = malloc(len + 1);
			if (out == NULL) {
				snprintf(err, errlen, "out of memory");
				return NULL;
			}
			memcpy(out, line, len);
			out[len] = '\0';
			return out;
		}
		if (r == -1)
			continue;	/* an over-long line: skipped */
		int wait = -1;
		if (deadline) {
			long long left = deadline - mono_ms();
			if (left <= 0) {
				snprintf(err, errlen, "no reply within %d ms",
				    timeout_ms);
				return NULL;
			}
			wait = (int)left;
		}
		struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
		int pr = poll(&pfd, 1, wait);
		if (pr == -1 && errno == EINTR)
			continue;
		if (pr == 0)
			continue;
		ssize_t n = framer_read(&s->fr, s->fd);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s", n == 0 ?
			    "the peer closed the connection" : strerror(errno));
			return NULL;
		}
	}
}

char *
ipc_sync_call(struct ipc_sync *s, const char *req, int timeout_ms, char *err,
    size_t errlen)
{
	jv v = jv_parse(req);
	if (!jv_is_valid(v) || jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		snprintf(err, errlen, "request is not a JSON object");
		return NULL;
	}
	long id = s->next_id++;
	jv line = jv_dump_string(jv_object_set(v, jv_string("id"),
	    jv_number(id)), 0);
	int r = write_all(s->fd, jv_string_value(line),
	    strlen(jv_string_value(line)));
	jv_free(line);
	if (r == -1 || write_all(s->fd, "\n", 1) == -1) {
		snprintf(err, errlen, "unable to send: %s", strerror(errno));
		return NULL;
	}
	for (;;) {
		char *rep = ipc_sync_read(s, timeout_ms, err, errlen);
		if (rep == NULL)
			return NULL;
		jv rv = jv_parse(rep);
		jv rid = jv_is_valid(rv) && jv_get_kind(rv) == JV_KIND_OBJECT ?
		    jv_object_get(jv_copy(rv), jv_string("id")) : jv_invalid();
		int match = jv_get_kind(rid) == JV_KIND_NUMBER &&
		    (long)jv_number_value(rid) == id;
		int unmatched_error = jv_get_kind(rid) == JV_KIND_NULL;
		jv_free(rid);
		jv_free(rv);
		if (match || unmatched_error)
			return rep;	/* ours, or an error the peer could not tie to an id */
		free(rep);
	}
}
