/*
 * framer: splits a byte stream into NDJSON lines, independent of any event
 * loop, so it is tested on its own with split and coalesced reads.
 *
 * A line longer than the limit is dropped whole (up to its newline) and
 * reported once, so one bad peer line never desynchronises the stream and
 * never grows memory past the limit.  At EOF a partial last line is
 * discarded and counted: a writer killed mid-line never yields a spliced or
 * truncated record.
 */
#ifndef CHAT_FRAMER_H
#define CHAT_FRAMER_H

#include <stddef.h>
#include <sys/types.h>

struct framer {
	char	*buf;
	size_t	 start;		/* first unconsumed byte */
	size_t	 len;		/* bytes held, from 0 */
	size_t	 cap;
	size_t	 max;		/* longest accepted line, without newline */
	size_t	 scan;		/* bytes before this already searched for '\n' */
	int	 discarding;	/* inside an over-long line */
	unsigned long overlong;	/* lines dropped for length */
	unsigned long torn;	/* partial lines discarded at EOF */
};

/* An empty framer accepting lines of up to max bytes. */
void framer_init(struct framer *f, size_t max);
void framer_free(struct framer *f);

/* One read(2) from fd into the buffer.  Returns what read returned: >0
 * bytes, 0 at EOF, -1 with errno (EAGAIN included). */
ssize_t framer_read(struct framer *f, int fd);
/* Appends n bytes as if read; -1 (ENOMEM) only if memory runs out. */
int framer_feed(struct framer *f, const void *data, size_t n);

/*
 * The next complete line.  Returns 1 with *line and *len (no newline; a
 * trailing '\r' is kept) valid until the next framer call; 0 when no whole
 * line is buffered; -1 once for each over-long line dropped (the caller
 * replies with an error and calls again).
 */
int framer_next(struct framer *f, const char **line, size_t *len);

/* At EOF: discards a partial line, counting it in f->torn.  Returns the
 * number of bytes discarded. */
size_t framer_eof(struct framer *f);

#endif
