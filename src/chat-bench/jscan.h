/*
 * jscan: reads string fields of one flat JSON object in place, without
 * allocating: the hot path of chat-bench sees tens of thousands of frames a
 * second and needs only "type", "cid", "id" and "code" from them.  Nested
 * values are skipped by depth; escapes inside strings are honoured when
 * skipping, and a wanted value that holds an escape is refused rather than
 * decoded (our cids, ids and codes never need one).
 */
#ifndef BENCH_JSCAN_H
#define BENCH_JSCAN_H

#include <stddef.h>

struct jfield {
	const char	*key;	/* in: the field's name */
	const char	*val;	/* out: its string value, not terminated */
	size_t		 len;	/* out: its length; val NULL if absent */
};

/*
 * Scans the object in buf[0..len) once and fills each of the n fields
 * whose value is a string without escapes.  Returns 0, or -1 if buf is not
 * an object this scanner can read.
 */
int jscan(const char *buf, size_t len, struct jfield *f, int n);

/* 1 if field f's value equals the NUL-terminated s. */
int jfield_is(const struct jfield *f, const char *s);

#endif
