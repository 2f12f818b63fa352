/*
 * buf: a growable byte buffer, for the lines a program builds by hand on
 * its hot paths (a delivery, a feed line, a stored value) and reuses from
 * one to the next, so a steady stream allocates nothing.
 *
 * A struct buf is plain data: zero it (BUF_INIT) to start, set len to 0 to
 * reuse it, buf_free() to let its memory go.  Nothing here logs or exits;
 * every add returns -1 when memory runs out and leaves the buffer as it
 * was.  The bytes are not NUL-terminated unless the caller adds one.
 */
#ifndef CHAT_BUF_H
#define CHAT_BUF_H

#include <stddef.h>

struct buf {
	char	*p;
	size_t	 len, cap;
};

#define BUF_INIT { NULL, 0, 0 }

/* Room for at least more bytes after len (capacity doubles, from 1 KiB).
 * 0, or -1 out of memory (errno ENOMEM). */
int	buf_reserve(struct buf *b, size_t more);

/* Appends n bytes of s.  0 or -1 (out of memory). */
int	buf_add(struct buf *b, const void *s, size_t n);

/* Appends the NUL-terminated string s.  0 or -1. */
int	buf_adds(struct buf *b, const char *s);

/* Appends the n bytes of s as one JSON string: quoted, with '"', '\\' and
 * control characters escaped (other bytes, UTF-8 included, as they are).
 * 0 or -1. */
int	buf_add_json_str(struct buf *b, const char *s, size_t n);

/* Frees the memory; b is empty (BUF_INIT) again. */
void	buf_free(struct buf *b);

#endif
