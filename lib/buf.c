/*
 * buf: a growable byte buffer (buf.h).  One copy of what six files had
 * each written for themselves.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

int
buf_reserve(struct buf *b, size_t more)
{
	size_t cap;
	char *np;

	if (b->cap - b->len >= more)
		return 0;
	cap = b->cap ? b->cap : 1024;
	while (cap - b->len < more) {
		if (cap > ((size_t)-1) / 2) {
			errno = ENOMEM;
			return -1;
		}
		cap *= 2;
	}
	if ((np = realloc(b->p, cap)) == NULL)
		return -1;
	b->p = np;
	b->cap = cap;
	return 0;
}

int
buf_add(struct buf *b, const void *s, size_t n)
{
	if (buf_reserve(b, n) == -1)
		return -1;
	if (n > 0)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	return 0;
}

int
buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

/* Escaped as jq's dump escapes, byte for byte (chat-store's values must
 * stay jq's own text: chat-store export, tests comparing with jq). */
int
buf_add_json_str(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	static const char shortc[] = "\"\"\\\\\bb\ff\nn\rr\tt";
	size_t i, run = 0, start = b->len;

	if (buf_add(b, "\"", 1) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		const char *sh;
		char esc[6] = { '\\', 'u', '0', '0', 0, 0 };
		size_t elen = 6;

		if (ch >= 0x20 && ch != '"' && ch != '\\' && ch != 0x7f)
			continue;
		if (buf_add(b, s + run, i - run) == -1)
			goto fail;
		run = i + 1;
		if (ch != 0 && (sh = strchr(shortc, ch)) != NULL) {
			esc[1] = sh[1];
			elen = 2;
		} else {
			esc[4] = hex[ch >> 4];
			esc[5] = hex[ch & 15];
		}
		if (buf_add(b, esc, elen) == -1)
			goto fail;
	}
	if (buf_add(b, s + run, n - run) == 0 && buf_add(b, "\"", 1) == 0)
		return 0;
fail:
	b->len = start;
	return -1;
}

void
buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}
