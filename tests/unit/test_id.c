/*
 * test_id: message ids are unique and strictly increasing over a burst of a
 * million, survive a clock that steps back and a sequence that runs out
 * within one millisecond, and print and parse as 16 lower-case hex digits
 * whose string order is id order.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "id.h"
#include "t.h"

#define SEQ_MASK	((1ULL << ID_SEQ_BITS) - 1)
#define NODE_OF(id)	((unsigned)((id) >> ID_SEQ_BITS) & ((1U << ID_NODE_BITS) - 1))

static void
test_init(void)
{
	struct id_gen g;

	CHECK(id_gen_init(&g, 0) == 0, "node 0 accepted");
	CHECK(id_gen_init(&g, 1023) == 0, "node 1023 accepted");
	CHECK(id_gen_init(&g, 1024) == -1, "node 1024 refused");
	CHECK(id_gen_init(&g, (unsigned)-1) == -1, "node UINT_MAX refused");
}

static void
test_burst(void)
{
	struct id_gen g;
	uint64_t prev, id, t0, t1;
	int i, bad = 0, badnode = 0;

	id_gen_init(&g, 517);
	t0 = now_ms();
	prev = id_next(&g);
	for (i = 1; i < 1000000; i++) {
		id = id_next(&g);
		if (id <= prev)
			bad++;
		if (NODE_OF(id) != 517)
			badnode++;
		prev = id;
	}
	t1 = now_ms();
	CHECK(bad == 0, "1,000,000 ids from the real clock strictly increase "
	    "(%d out of order or repeated)", bad);
	CHECK(badnode == 0, "every id carries node 517");
	/* Borrowing may run ahead of the clock by at most burst/4096 ms. */
	CHECK(id_time_ms(prev) >= t0 && id_time_ms(prev) <= t1 + 1000000 / 4096 + 1,
	    "the last id's time is within the burst window");

	/* The same burst with a frozen clock: all borrowed milliseconds. */
	id_gen_init(&g, 1);
	prev = id_next_at(&g, ID_EPOCH_MS + 5000);
	for (i = 1, bad = 0; i < 1000000; i++) {
		id = id_next_at(&g, ID_EPOCH_MS + 5000);
		if (id <= prev)
			bad++;
		prev = id;
	}
	CHECK(bad == 0, "1,000,000 ids at one frozen millisecond strictly increase");
	CHECK(id_time_ms(prev) == ID_EPOCH_MS + 5000 + (1000000 - 1) / 4096,
	    "a frozen clock advances one ms per 4096 ids (%" PRIu64 ")",
	    (uint64_t)(id_time_ms(prev) - ID_EPOCH_MS));
}

static void
test_clock_back(void)
{
	struct id_gen g;
	uint64_t t = ID_EPOCH_MS + 86400000ULL, a, b, c, d;

	id_gen_init(&g, 3);
	a = id_next_at(&g, t);
	b = id_next_at(&g, t - 1000);
	CHECK(b > a, "clock one second back: id still increases");
	CHECK(id_time_ms(b) == t, "clock back: the last millisecond is kept");
	c = id_next_at(&g, t - 3600000);
	CHECK(c > b, "clock an hour back: id still increases");
	d = id_next_at(&g, t + 1);
	CHECK(d > c && id_time_ms(d) == t + 1 && (d & SEQ_MASK) == 0,
	    "clock moves forward again: new millisecond, sequence 0");
	c = id_next_at(&g, 0);
	CHECK(c > d, "clock before the id epoch: id still increases");

	id_gen_init(&g, 3);
	a = id_next_at(&g, 0);
	CHECK(id_time_ms(a) == ID_EPOCH_MS, "a time before the epoch clamps to it");
}

static void
test_overflow(void)
{
	struct id_gen g;
	uint64_t t = ID_EPOCH_MS + 123456, id = 0, prev = 0;
	int i, same = 1;

	id_gen_init(&g, 9);
	for (i = 0; i < 4096; i++) {
		id = id_next_at(&g, t);
		if (id_time_ms(id) != t || (id & SEQ_MASK) != (uint64_t)i)
			same = 0;
		if (i > 0 && id <= prev)
			same = 0;
		prev = id;
	}
	CHECK(same, "4096 ids fit in one millisecond, sequence 0..4095");
	id = id_next_at(&g, t);
	CHECK(id > prev && id_time_ms(id) == t + 1 && (id & SEQ_MASK) == 0,
	    "the 4097th borrows the next millisecond with sequence 0");
	prev = id;
	id = id_next_at(&g, t + 1);
	CHECK(id > prev && (id & SEQ_MASK) == 1,
	    "the real clock reaching the borrowed ms continues its sequence");
	prev = id;
	id = id_next_at(&g, t + 2);
	CHECK(id > prev && id_time_ms(id) == t + 2 && (id & SEQ_MASK) == 0,
	    "a later real ms starts again at sequence 0");
	CHECK(NODE_OF(id) == 9, "node bits survive overflow");
}

static void
test_format_parse(void)
{
	static const uint64_t vals[] = { 0, 1, 0xf, 0x10, 0x0123456789abcdefULL,
	    0xfedcba9876543210ULL, UINT64_MAX };
	static const char *bad[] = { "", "0", "000000000000000", "00000000000000000",
	    "0123456789ABCDEF", "0123456789abcdeg", " 123456789abcdef",
	    "0x23456789abcdef", "-123456789abcdef", "+123456789abcdef",
	    "0123456789abcde ", "ffffffffffffffff0" };
	char buf[ID_HEX_LEN + 1], a[ID_HEX_LEN + 1], b[ID_HEX_LEN + 1];
	struct id_gen g;
	uint64_t v, x, y;
	size_t i;
	int ok = 1, order = 1;

	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		id_format(vals[i], buf);
		if (strlen(buf) != ID_HEX_LEN || id_parse(buf, strlen(buf), &v) != 0 ||
		    v != vals[i])
			ok = 0;
	}
	CHECK(ok, "format then parse gives the same id back");
	id_format(0x0123456789abcdefULL, buf);
	CHECK(strcmp(buf, "0123456789abcdef") == 0, "format is lower-case, zero padded: %s", buf);
	id_format(1, buf);
	CHECK(strcmp(buf, "0000000000000001") == 0, "id 1 is 0000000000000001");

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 42;
		CHECK(id_parse(bad[i], strlen(bad[i]), &v) == -1 && v == 42,
		    "parse refuses '%s'", bad[i]);
	}
	CHECK(id_parse("0123456789abcdef", 15, &v) == -1, "parse refuses a short length");
	CHECK(id_parse("0123456\0" "89abcdef", 16, &v) == -1, "parse refuses a NUL inside");
	CHECK(id_parse(NULL, 16, &v) == -1, "parse refuses NULL");

	/* String order is numeric order, across ids made at different times. */
	id_gen_init(&g, 77);
	srand(7);
	for (i = 0; i < 100000; i++) {
		x = (uint64_t)rand() << 33 ^ (uint64_t)rand() << 2 ^ (uint64_t)rand();
		y = (uint64_t)rand() << 33 ^ (uint64_t)rand() << 2 ^ (uint64_t)rand();
		id_format(x, a);
		id_format(y, b);
		if ((strcmp(a, b) < 0) != (x < y))
			order = 0;
	}
	CHECK(order, "string order equals id order over 100,000 random pairs");
	x = id_next_at(&g, ID_EPOCH_MS + 1);
	y = id_next_at(&g, 4102444800000ULL);	/* 2100-01-01 */
	id_format(x, a);
	id_format(y, b);
	CHECK(strcmp(a, b) < 0 && id_time_ms(y) == 4102444800000ULL,
	    "an id from 2100 sorts after one from 2024 (%s < %s)", a, b);
}

static void
test_now(void)
{
	uint64_t a = now_ms(), b = now_ms();

	CHECK(a > ID_EPOCH_MS && b >= a, "now_ms is after 2024 and does not run back");
}

int
main(void)
{
	test_init();
	test_burst();
	test_clock_back();
	test_overflow();
	test_format_parse();
	test_now();
	return t_done();
}
