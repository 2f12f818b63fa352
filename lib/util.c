/*
 * util: the small glue every program needs: making directories, readiness
 * notification for the supervisor (s6's notification-fd protocol), splitting
 * listen addresses, kernel randomness, and the name checks of PROTOCOL.md,
 * kept here once so that every program accepts exactly the same names.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

int
mkdir_p(const char *path, int mode)
{
	char buf[PATH_MAX];
	struct stat st;
	size_t len, i;

	len = strlen(path);
	if (len == 0) {
		errno = ENOENT;
		return -1;
	}
	if (len >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, len + 1);
	/* Make each prefix that ends before a '/', then the whole path. */
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		if (buf[i - 1] == '/')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, (mode_t)mode) < 0) {
			if (errno != EEXIST)
				return -1;
			if (stat(buf, &st) < 0)
				return -1;
			if (!S_ISDIR(st.st_mode)) {
				errno = ENOTDIR;
				return -1;
			}
		}
		if (i < len)
			buf[i] = '/';
	}
	return 0;
}

int
set_nonblock(int fd)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	if ((fl = fcntl(fd, F_GETFD)) < 0 ||
	    fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
		return -1;
	return 0;
}

void
notify_ready(void)
{
	const char *s = getenv("CHAT_READY_FD");
	char *end;
	long fd;
	ssize_t w;
	int saved = errno;

	if (s == NULL || *s == '\0')
		return;
	errno = 0;
	fd = strtol(s, &end, 10);
	/* Once only, and never passed on to children we start later. */
	unsetenv("CHAT_READY_FD");
	if (errno != 0 || *end != '\0' || fd < 0 || fd > INT_MAX ||
	    fcntl((int)fd, F_GETFD) < 0) {
		errno = saved;
		return;
	}
	do
		w = write((int)fd, "\n", 1);
	while (w < 0 && errno == EINTR);
	close((int)fd);
	errno = saved;
}

int
parse_hostport(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon, *h, *p;
	size_t hl;
	long n = 0;

	if (s == NULL)
		return -1;
	if (s[0] == '[') {
		/* [v6addr]:port */
		if ((colon = strchr(s, ']')) == NULL || colon[1] != ':')
			return -1;
		h = s + 1;
		hl = (size_t)(colon - h);
		colon++;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return -1;
		h = s;
		hl = (size_t)(colon - s);
		if (memchr(h, ':', hl) != NULL)
			return -1;	/* bare IPv6 needs brackets */
	}
	if (hl == 0 || hl >= hostlen)
		return -1;
	p = colon + 1;
	if (*p == '\0' || strlen(p) > 5)
		return -1;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		n = n * 10 + (*p - '0');
	}
	if (n < 1 || n > 65535)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (int)n;
	return 0;
}

int
random_bytes(void *buf, size_t n)
{
	unsigned char *p = buf;
	ssize_t r;

	while (n > 0) {
		r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int
is_lower_digit(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int
valid_user(const char *s)
{
	size_t i;

	if (s == NULL || !is_lower_digit((unsigned char)s[0]))
		return 0;
	for (i = 1; s[i] != '\0'; i++) {
		if (i >= 32)
			return 0;
		if (!is_lower_digit((unsigned char)s[i]) && s[i] != '_' &&
		    s[i] != '.' && s[i] != '-')
			return 0;
	}
	return 1;
}

int
valid_device(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= 64)
			return 0;
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '_' || s[i] == '-'))
			return 0;
	}
	return 1;
}

int
valid_group(const char *s)
{
	size_t i;

	if (s == NULL || s[0] != 'g' || s[1] != '_' || s[2] == '\0')
		return 0;
	for (i = 2; s[i] != '\0'; i++) {
		if (i >= 2 + 32)
			return 0;
		if (!is_lower_digit((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

int
valid_cid(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= 64)
			return 0;
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	}
	return 1;
}

long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
