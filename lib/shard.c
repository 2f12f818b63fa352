/*
 * shard: FNV-1a of a key modulo the shard count, and the key of a
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

unsigned
shard_of(const char *key, size_t n, unsigned nshards)
{
	if (nshards <= 1)
		return 0;
	return shard_fnv1a(key, n) % nshards;
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
