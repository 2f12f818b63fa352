/*
 * shard: FNV-1a of a key, mixed, modulo the shard count, and the key of a
 * conversation (shard.h).
 */
#include <stdio.h>
#include <string.h>

#include "shard.h"

uint32_t
shard_fnv1a(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint32_t h = 2166136261u;	/* the offset basis */
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= s[i];
		h *= 16777619u;		/* the FNV prime */
	}
	return h;
}

/* murmur3's 32-bit finalizer: every input bit moves every output bit.
 * FNV-1a's low k bits depend only on the low k bits of each byte (its
 * multiply carries upward only), so modulo a power of two it was a
 * weak hash: with 2 shards the shard was the parity of the name's odd
 * bytes, and chat-bench's users bench2k and bench2k+1 always fell on
 * different shards. */
uint32_t
shard_mix(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

unsigned
shard_of(const char *key, size_t n, unsigned nshards)
{
	if (nshards <= 1)
		return 0;
	return shard_mix(shard_fnv1a(key, n)) % nshards;
}

int
shard_conv_key(char *buf, size_t len, const char *from, const char *to,
    const char *group)
{
	int n;

	if (group != NULL)
		n = snprintf(buf, len, "g/%s", group);
	else if (strcmp(from, to) <= 0)
		n = snprintf(buf, len, "d/%s/%s", from, to);
	else
		n = snprintf(buf, len, "d/%s/%s", to, from);
	return n < 0 || (size_t)n >= len ? -1 : n;
}

unsigned
shard_of_conv(const char *from, const char *to, const char *group,
    unsigned nshards)
{
	char key[512];
	int n = shard_conv_key(key, sizeof(key), from, to, group);

	return n < 0 ? 0 : shard_of(key, (size_t)n, nshards);
}
