/*
 * framer: NDJSON line splitting over a growable buffer.
 *
 * Bytes live in buf[start..len).  framer_next hands out lines in place (no
 * copy) and only moves start; the held bytes are slid to the front before
 * the next read, so a burst of small lines costs one memmove, not one each.
 * `scan` remembers how far a partial line was already searched, so a long
 * line arriving in many reads is scanned once, not once per read.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "framer.h"

#define FRAMER_READ	65536	/* bytes asked of one read(2) */

void
framer_init(struct framer *f, size_t max)
{
	memset(f, 0, sizeof(*f));
	f->max = max;
}

void
framer_free(struct framer *f)
{
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

/* Slides held bytes to the front and makes room for want more. */
static int
reserve(struct framer *f, size_t want)
{
	if (f->start > 0) {
		memmove(f->buf, f->buf + f->start, f->len - f->start);
		f->len -= f->start;
		f->scan -= f->start;
		f->start = 0;
	}
	if (f->cap - f->len >= want)
		return 0;
	size_t cap = f->cap ? f->cap : 4096;
	while (cap - f->len < want)
		cap *= 2;
	char *nb = realloc(f->buf, cap);
	if (nb == NULL) {
		errno = ENOMEM;
		return -1;
	}
	f->buf = nb;
	f->cap = cap;
	return 0;
}

/*
 * While discarding an over-long line, or once the held partial line passes
 * the limit, drop bytes so memory stays bounded by max plus one read.
 */
static void
trim_overlong(struct framer *f)
{
	if (!f->discarding && f->len - f->start > f->max &&
	    memchr(f->buf + f->start, '\n', f->len - f->start) == NULL) {
		f->discarding = 1;
		f->overlong++;
	}
	if (!f->discarding)
		return;
	char *nl = memchr(f->buf + f->start, '\n', f->len - f->start);
	if (nl == NULL) {
		f->start = f->scan = f->len;
		return;
	}
	f->start = f->scan = (size_t)(nl - f->buf) + 1;
	f->discarding = 0;
}

ssize_t
framer_read(struct framer *f, int fd)
{
	if (reserve(f, FRAMER_READ) == -1)
		return -1;
	ssize_t n = read(fd, f->buf + f->len, f->cap - f->len);
	if (n > 0)
		f->len += (size_t)n;
	return n;
}

int
framer_feed(struct framer *f, const void *data, size_t n)
{
	if (reserve(f, n) == -1)
		return -1;
	memcpy(f->buf + f->len, data, n);
	f->len += n;
	return 0;
}

int
framer_next(struct framer *f, const char **line, size_t *len)
{
	unsigned long before = f->overlong;

	if (f->start == f->len)
		return 0;	/* nothing held (buf may still be NULL) */
	trim_overlong(f);
	if (f->overlong != before && !f->discarding)
		return -1;	/* a whole over-long line was dropped just now */
	if (f->discarding)
		return f->overlong != before ? -1 : 0;
	if (f->scan < f->start)
		f->scan = f->start;
	char *nl = memchr(f->buf + f->scan, '\n', f->len - f->scan);
	if (nl == NULL) {
		f->scan = f->len;
		return 0;
	}
	size_t n = (size_t)(nl - (f->buf + f->start));
	if (n > f->max) {
		f->overlong++;
		f->start = f->scan = (size_t)(nl - f->buf) + 1;
		return -1;
	}
	*line = f->buf + f->start;
	*len = n;
	f->start = f->scan = (size_t)(nl - f->buf) + 1;
	return 1;
}

size_t
framer_eof(struct framer *f)
{
	size_t n = f->len - f->start;

	if (n > 0 && !f->discarding)
		f->torn++;
	f->start = f->len = f->scan = 0;
	f->discarding = 0;
	return n;
}
