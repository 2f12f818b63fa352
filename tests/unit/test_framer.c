/*
 * The framer alone: lines split across reads, many lines in one read, an
 * over-long line dropped without desynchronising, a torn tail at EOF.
 */
#include <string.h>
#include <unistd.h>

#include "framer.h"
#include "t.h"

static int
next_is(struct framer *f, const char *want)
{
	const char *line;
	size_t len;
	if (framer_next(f, &line, &len) != 1)
		return 0;
	return len == strlen(want) && memcmp(line, want, len) == 0;
}

static void
test_split_and_coalesced(void)
{
	struct framer f;
	const char *stream = "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n";
	const char *line;
	size_t len;

	/* every split point of the stream, one byte at a time */
	framer_init(&f, 64);
	int ok = 1, got = 0;
	for (size_t i = 0; stream[i]; i++) {
		framer_feed(&f, stream + i, 1);
		while (framer_next(&f, &line, &len) == 1)
			got++;
	}
	ok = got == 3;
	CHECK(ok, "byte-at-a-time feed yields 3 lines");
	framer_free(&f);

	/* all three in one feed */
	framer_init(&f, 64);
	framer_feed(&f, stream, strlen(stream));
	CHECK(next_is(&f, "{\"a\":1}"), "coalesced: first line");
	CHECK(next_is(&f, "{\"b\":2}"), "coalesced: second line");
	CHECK(next_is(&f, "{\"c\":3}"), "coalesced: third line");
	CHECK(framer_next(&f, &line, &len) == 0, "coalesced: then nothing");
	framer_free(&f);

	/* split in the middle of a line, then the rest with the next line */
	framer_init(&f, 64);
	framer_feed(&f, "{\"x\":", 5);
	CHECK(framer_next(&f, &line, &len) == 0, "partial line is held");
	framer_feed(&f, "1}\n{\"y\":2}\n", 11);
	CHECK(next_is(&f, "{\"x\":1}"), "joined line");
	CHECK(next_is(&f, "{\"y\":2}"), "line after the join");
	framer_free(&f);
}

static void
test_overlong(void)
{
	struct framer f;
	char big[100];
	const char *line;
	size_t len;

	memset(big, 'x', sizeof(big));
	framer_init(&f, 16);
	framer_feed(&f, "ok\n", 3);
	framer_feed(&f, big, sizeof(big));
	CHECK(next_is(&f, "ok"), "line before the long one");
	CHECK(framer_next(&f, &line, &len) == -1, "over-long line reported once");
	CHECK(framer_next(&f, &line, &len) == 0, "not reported twice");
	framer_feed(&f, big, sizeof(big));
	CHECK(framer_next(&f, &line, &len) == 0, "more of it is still dropped");
	CHECK(f.len - f.start <= 16 + sizeof(big), "memory stays bounded");
	framer_feed(&f, "tail\nafter\n", 11);
	CHECK(next_is(&f, "after"), "the line after it is intact");
	CHECK(f.overlong == 1, "counted once");

	/* a long line that arrives whole with its newline */
	framer_feed(&f, big, 20);
	framer_feed(&f, "\nnext\n", 6);
	CHECK(framer_next(&f, &line, &len) == -1, "whole over-long line dropped");
	CHECK(next_is(&f, "next"), "and the next one survives");
	framer_free(&f);
}

static void
test_torn_tail(void)
{
	struct framer f;
	int p[2];

	framer_init(&f, 1024);
	CHECK(pipe(p) == 0, "pipe");
	CHECK(write(p[1], "{\"whole\":1}\n{\"torn\":", 20) == 20, "write");
	close(p[1]);
	CHECK(framer_read(&f, p[0]) == 20, "read 20 bytes");
	CHECK(next_is(&f, "{\"whole\":1}"), "whole line");
	const char *line;
	size_t len;
	CHECK(framer_next(&f, &line, &len) == 0, "torn line is not a line");
	CHECK(framer_read(&f, p[0]) == 0, "EOF");
	CHECK(framer_eof(&f) == 8, "8 torn bytes discarded");
	CHECK(f.torn == 1, "torn counted");
	close(p[0]);
	framer_free(&f);
}

int
main(void)
{
	test_split_and_coalesced();
	test_overlong();
	test_torn_tail();
	return t_done();
}
