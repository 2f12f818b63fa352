/*
 * table: an open-addressing hash table of items found by a string key, for
 * presenced's users, devices and chatds.  The table stores pointers; each
 * item carries its own key, which the table reads through keyof.  Linear
 * probing with backward-shift deletion, so there are no tombstones and a
 * lookup never walks past the first empty slot.  Grows at 3/4 full.
 */
#ifndef PRES_TABLE_H
#define PRES_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct table_slot {
	uint64_t	 hash;
	void		*item;
};

struct table {
	struct table_slot *slots;
	size_t		 cap;	/* a power of two, or 0 */
	size_t		 n;
	/* The key of item and its length. */
	const char	*(*keyof)(const void *item, size_t *len);
};

/* An empty table; keyof tells the key of an item. */
void table_init(struct table *t,
    const char *(*keyof)(const void *item, size_t *len));
/* Frees the slots, not the items. */
void table_free(struct table *t);
/* The item with key[0..len), or NULL. */
void *table_get(const struct table *t, const char *key, size_t len);
/* Adds item, whose key must not be in the table.  0, or -1 (ENOMEM). */
int table_add(struct table *t, void *item);
/* Removes item (found by its key); nothing if it is not there. */
void table_del(struct table *t, const void *item);
/* Calls fn for each item; fn must not add or remove items. */
void table_each(const struct table *t, void (*fn)(void *item, void *arg),
    void *arg);

#endif
