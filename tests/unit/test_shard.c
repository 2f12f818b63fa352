/*
 * test_shard: FNV-1a gives the published test vectors, both directions of
 * a 1:1 are one conversation and so one shard, a group's key is its id,
 * and the keys spread over the shards.
 */
#include <stdio.h>
#include <string.h>

#include "shard.h"
#include "t.h"

static void
test_fnv(void)
{
	CHECK(shard_fnv1a("", 0) == 0x811c9dc5u, "fnv1a('') is the basis");
	CHECK(shard_fnv1a("a", 1) == 0xe40c292cu, "fnv1a('a')");
	CHECK(shard_fnv1a("foobar", 6) == 0xbf9cf968u, "fnv1a('foobar')");
	CHECK(shard_of("foobar", 6, 1) == 0 && shard_of("foobar", 6, 0) == 0,
	    "one shard (or a count below one) is shard 0");
	/* murmur3_32 of "" with seed s is fmix32(s): published vectors */
	CHECK(shard_mix(0) == 0 && shard_mix(1) == 0x514e28b7u &&
	    shard_mix(0xffffffffu) == 0x81f16f39u, "the mix is murmur3's fmix32");
	CHECK(shard_of("foobar", 6, 7) == shard_mix(0xbf9cf968u) % 7,
	    "the mixed hash modulo the count");
}

static void
test_conv(void)
{
	char k[64], big[600];

	CHECK(shard_conv_key(k, sizeof(k), "bob", "alice", NULL) == 11 &&
	    strcmp(k, "d/alice/bob") == 0, "a 1:1's key is d/a/b, a < b");
	CHECK(shard_conv_key(k, sizeof(k), "alice", "bob", NULL) == 11 &&
	    strcmp(k, "d/alice/bob") == 0, "either direction");
	CHECK(shard_conv_key(k, sizeof(k), "alice", "x", "g_abc") == 7 &&
	    strcmp(k, "g/g_abc") == 0, "a group's key is g/gid");
	CHECK(shard_conv_key(k, 8, "alice", "bob", NULL) == -1,
	    "a key that does not fit is -1");
	CHECK(shard_of_conv("bob", "alice", NULL, 16) ==
	    shard_of_conv("alice", "bob", NULL, 16), "one shard both ways");
	CHECK(shard_of_conv("alice", NULL, "g_abc", 3) ==
	    shard_mix(shard_fnv1a("g/g_abc", 7)) % 3,
	    "a group's shard hashes g/gid");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(shard_of_conv(big, "b", NULL, 5) == 0, "a key too long: 0");
}

static void
test_spread(void)
{
	unsigned count[4] = { 0 }, i, min = ~0u, max = 0;
	char u[32];

	for (i = 0; i < 4000; i++) {
		snprintf(u, sizeof(u), "user%u", i);
		count[shard_of_conv(u, "zed", NULL, 4)]++;
	}
	for (i = 0; i < 4; i++) {
		min = count[i] < min ? count[i] : min;
		max = count[i] > max ? count[i] : max;
	}
	CHECK(min > 800 && max < 1200, "4,000 conversations on 4 shards: "
	    "%u to %u each", min, max);
}

/* Names that differ in one low bit (chat-bench's pairs bench2k and
 * bench2k+1): FNV-1a alone modulo 2 put every pair on two shards. */
static void
test_pairs(void)
{
	unsigned same = 0, i;
	char a[32], b[32];

	for (i = 0; i < 1000; i += 2) {
		snprintf(a, sizeof(a), "bench%u", i);
		snprintf(b, sizeof(b), "bench%u", i + 1);
		same += shard_of(a, strlen(a), 2) == shard_of(b, strlen(b), 2);
	}
	CHECK(same > 200 && same < 300, "500 pairs of names a bit apart: %u "
	    "on one shard of 2 (about half)", same);
}

int
main(void)
{
	test_fnv();
	test_conv();
	test_spread();
	test_pairs();
	return t_done();
}
