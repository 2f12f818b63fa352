/*
 * test_buf: the growable buffer keeps what was added across growth, reuse
 * from len 0 keeps its memory, and JSON strings are escaped as jq escapes
 * them (the check is jq's own parse of what buf wrote, and its dump).
 */
#include <string.h>

#include <jv.h>

#include "buf.h"
#include "t.h"

static void
test_grow(void)
{
	struct buf b = BUF_INIT;
	char chunk[100];
	int ok = 1;

	memset(chunk, 'x', sizeof(chunk));
	for (int i = 0; i < 1000; i++)
		ok &= buf_add(&b, chunk, sizeof(chunk)) == 0;
	CHECK(ok && b.len == 100000 && b.cap >= b.len, "100,000 bytes in "
	    "1,000 adds, capacity %zu", b.cap);
	CHECK(b.p[0] == 'x' && b.p[99999] == 'x', "the bytes survive growth");
	size_t cap = b.cap;
	char *p = b.p;
	b.len = 0;
	CHECK(buf_adds(&b, "again") == 0 && b.cap == cap && b.p == p &&
	    b.len == 5 && memcmp(b.p, "again", 5) == 0,
	    "reuse from len 0 keeps the memory");
	CHECK(buf_add(&b, NULL, 0) == 0 && b.len == 5, "adding nothing");
	buf_free(&b);
	CHECK(b.p == NULL && b.len == 0 && b.cap == 0, "freed is empty");
}

/* buf's escape of s[0..n) is the text jq dumps for the same string. */
static int
as_jq(const char *s, size_t n)
{
	struct buf b = BUF_INIT;
	int same;

	if (buf_add_json_str(&b, s, n) == -1)
		return 0;
	jv d = jv_dump_string(jv_string_sized(s, (int)n), 0);
	same = (size_t)jv_string_length_bytes(jv_copy(d)) == b.len &&
	    memcmp(jv_string_value(d), b.p, b.len) == 0;
	jv_free(d);
	buf_free(&b);
	return same;
}

static void
test_json_str(void)
{
	char every[128];

	for (int i = 0; i < 127; i++)
		every[i] = (char)(i + 1);
	every[127] = 'z';
	CHECK(as_jq("", 0), "the empty string");
	CHECK(as_jq("hello", 5), "plain text");
	CHECK(as_jq("a\"b\\c", 5), "quote and backslash");
	CHECK(as_jq("\b\f\n\r\t", 5), "the short escapes");
	CHECK(as_jq("\x01\x1f\x7f", 3), "\\u00XX for the rest and DEL");
	CHECK(as_jq(every, sizeof(every)), "bytes 1 to 127 as jq dumps them");
	CHECK(as_jq("caf\xc3\xa9 \xe2\x82\xac", 9), "UTF-8 as it is");
	CHECK(as_jq("a\0b", 3), "a NUL inside");
}

int
main(void)
{
	test_grow();
	test_json_str();
	return t_done();
}
