/*
 * strmap: a string-keyed hash table of pointers, open addressing with
 * linear probing and backward-shift deletion (no tombstones, so a table
 * that sees constant churn of devices never degrades).
 *
 * The map does not own keys or values: a key must stay valid, unchanged,
 * while its entry is in the map; callers keep it inside the value they
 * store.  Used by chatd (devices on this server) and chat-route (online
 * devices per user); it lives in chatd's folder and chat-route links it.
 */
#ifndef CHAT_STRMAP_H
#define CHAT_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap_slot {
	const char	*key;		/* NULL: empty */
	size_t		 len;
	uint64_t	 hash;
	void		*val;
};

struct strmap {
	struct strmap_slot *slots;
	size_t		 cap;		/* 0 or a power of two */
	size_t		 n;
};

/* An empty map; allocates nothing until the first put. */
void strmap_init(struct strmap *m);
/* Frees the table (not the keys or values). */
void strmap_free(struct strmap *m);
/* The value stored for key[0..len), or NULL. */
void *strmap_get(const struct strmap *m, const char *key, size_t len);
/* Stores val for key[0..len) (borrowed, see above), replacing any value.
 * Returns the value it replaced, NULL if there was none, or STRMAP_NOMEM
 * (and stores nothing) if memory ran out. */
void *strmap_put(struct strmap *m, const char *key, size_t len, void *val);
/* Removes key[0..len); returns its value, or NULL if it was not there. */
void *strmap_del(struct strmap *m, const char *key, size_t len);
/* Iteration: start with *i = 0; returns the next value or NULL at the end.
 * The map must not change during an iteration. */
void *strmap_next(const struct strmap *m, size_t *i);

#define STRMAP_NOMEM	((void *)-1)

#endif
