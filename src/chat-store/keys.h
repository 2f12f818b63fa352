/*
 * keys: the LevelDB key layout of ARCHITECTURE.md, in one place.
 *
 *   u/{user}                 profile and password hash
 *   f/{user}/{other}         friend edge: requested, pending or friends
 *   g/{gid}                  group record
 *   gm/{gid}/{user}          group member
 *   ug/{user}/{gid}          a user's groups
 *   m/{conv}/{id}            message; conv is d/{a}/{b} (a < b) or g/{gid}
 *   i/{user}/{id}            inbox entry pointing at the message
 *   c/{user}/{device}        device: generation, cursor, push registration
 *   x/{user}/{device}/{cid}  dedupe record of a sent message
 *   p/{user}                 presence
 *
 * Ids in keys are 8 bytes big-endian, so a prefix scan returns a
 * conversation or an inbox in id order.  The printable form used by dump,
 * export, and the get and scan ops shows those ids as 16 hex digits and
 * escapes any other byte outside 0x21..0x7e (and '\') as \xNN.
 */
#ifndef STORE_KEYS_H
#define STORE_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define KEY_MAX		256
#define KEY_PRINT_MAX	(KEY_MAX * 4 + 24)	/* escapes, a hex id, NUL */

struct skey {
	size_t	len;
	char	b[KEY_MAX];
};

/* Each builder fills k; components are NUL-terminated strings already
 * checked by the caller (user names, devices, gids, cids), so they fit. */
void key_user(struct skey *k, const char *user);
void key_users_prefix(struct skey *k);			/* u/ */
void key_friend(struct skey *k, const char *user, const char *other);
void key_friend_prefix(struct skey *k, const char *user);
void key_group(struct skey *k, const char *gid);
void key_member(struct skey *k, const char *gid, const char *user);
void key_member_prefix(struct skey *k, const char *gid);
void key_user_group(struct skey *k, const char *user, const char *gid);
void key_user_group_prefix(struct skey *k, const char *user);
/* conv is "d/a/b" or "g/gid" (see key_conv_*). */
void key_msg(struct skey *k, const char *conv, uint64_t id);
void key_msg_prefix(struct skey *k, const char *conv);
void key_inbox(struct skey *k, const char *user, uint64_t id);
void key_inbox_prefix(struct skey *k, const char *user);
void key_device(struct skey *k, const char *user, const char *device);
void key_device_prefix(struct skey *k, const char *user);
void key_dedupe(struct skey *k, const char *user, const char *device,
    const char *cid);
void key_presence(struct skey *k, const char *user);

/* The conversation name of a 1:1 pair (sorted) or a group, into out
 * (at least 80 bytes). */
void key_conv_direct(char *out, size_t len, const char *a, const char *b);
void key_conv_group(char *out, size_t len, const char *gid);

/* The id in the last 8 bytes of an m/ or i/ key; -1 if k is not one. */
int key_tail_id(const char *k, size_t len, uint64_t *id);

/* The printable form of a key into out (KEY_PRINT_MAX bytes); returns out. */
char *key_print(const char *k, size_t len, char *out);
/* The reverse: parses a printable key into k.  -1 if it is too long or
 * has a bad escape.  key_parse(key_print(k)) == k for every key of the
 * layout. */
int key_parse(const char *s, size_t len, struct skey *k);

#endif
