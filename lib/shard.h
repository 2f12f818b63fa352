/*
 * shard: which shard a key belongs to (chat-scaling(7), "Sharding").  One
 * function for every program, so that chat-route publishing a message and
 * the store shard applying it agree: FNV-1a (32 bits) of the key, mixed
 * by murmur3's finalizer, modulo the number of shards.
 *
 * A conversation's key is the one chat-store files its messages under
 * (m/{conv}/{id}): "d/{a}/{b}" for the 1:1 of users a and b, a < b in
 * strcmp order (so both directions are one conversation), "g/{gid}" for a
 * group.
 */
#ifndef CHAT_SHARD_H
#define CHAT_SHARD_H

#include <stddef.h>
#include <stdint.h>

#define SHARD_MAX	1024	/* shards of one kind, at most */

/* FNV-1a, 32 bits, of n bytes at p. */
uint32_t shard_fnv1a(const void *p, size_t n);

/* murmur3's fmix32 of h: spreads FNV-1a's bits so that any modulo,
 * a power of two too, depends on every byte of the key. */
uint32_t shard_mix(uint32_t h);

/* The shard, 0..nshards-1, of the key of n bytes: shard_mix(FNV-1a)
 * modulo nshards; nshards < 1 is 1. */
unsigned shard_of(const char *key, size_t n, unsigned nshards);

/*
 * Writes the conversation key of a message from user `from` to user `to`,
 * or to group `group` when that is not NULL (to is then ignored), into
 * buf.  Its length, or -1 if it does not fit in len bytes (with the NUL).
 */
int shard_conv_key(char *buf, size_t len, const char *from, const char *to,
    const char *group);

/* The shard of that conversation; a key too long for 512 bytes is
 * shard 0. */
unsigned shard_of_conv(const char *from, const char *to, const char *group,
    unsigned nshards);

#endif
