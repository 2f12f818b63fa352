/*
 * table: string-keyed open addressing (see table.h).  FNV-1a is enough for
 * keys that are user names and device ids chosen by the server; the table
 * never holds a key a stranger can pick freely enough to flood one chain
 * without also owning that many accounts.
 */
#include <stdlib.h>
#include <string.h>

#include "table.h"

static uint64_t
hash_key(const char *k, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)k[i];
		h *= 0x100000001b3ULL;
	}
	return h | 1;	/* never 0: 0 marks nothing, useful in a debugger */
}

void
table_init(struct table *t, const char *(*keyof)(const void *, size_t *))
{
	memset(t, 0, sizeof(*t));
	t->keyof = keyof;
}

void
table_free(struct table *t)
{
	free(t->slots);
	t->slots = NULL;
	t->cap = t->n = 0;
}

static int
same_key(const struct table *t, const void *item, const char *key, size_t len)
{
	size_t ilen;
	const char *ik = t->keyof(item, &ilen);

	return ilen == len && memcmp(ik, key, len) == 0;
}

void *
table_get(const struct table *t, const char *key, size_t len)
{
	if (t->cap == 0)
		return NULL;
	uint64_t h = hash_key(key, len);
	size_t mask = t->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		const struct table_slot *s = &t->slots[i];
		if (s->item == NULL)
			return NULL;
		if (s->hash == h && same_key(t, s->item, key, len))
			return s->item;
	}
}

static void
put_slot(struct table_slot *slots, size_t cap, uint64_t h, void *item)
{
	size_t mask = cap - 1;
	size_t i = h & mask;

	while (slots[i].item != NULL)
		i = (i + 1) & mask;
	slots[i].hash = h;
	slots[i].item = item;
}

static int
grow(struct table *t)
{
	size_t cap = t->cap ? t->cap * 2 : 64;
	struct table_slot *ns = calloc(cap, sizeof(*ns));

	if (ns == NULL)
		return -1;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i].item != NULL)
			put_slot(ns, cap, t->slots[i].hash, t->slots[i].item);
	free(t->slots);
	t->slots = ns;
	t->cap = cap;
	return 0;
}

int
table_add(struct table *t, void *item)
{
	size_t len;
	const char *k;

	if ((t->n + 1) * 4 > t->cap * 3 && grow(t) == -1)
		return -1;
	k = t->keyof(item, &len);
	put_slot(t->slots, t->cap, hash_key(k, len), item);
	t->n++;
	return 0;
}

void
table_del(struct table *t, const void *item)
{
	size_t len, mask = t->cap - 1;
	const char *k;

	if (t->cap == 0)
		return;
	k = t->keyof(item, &len);
	size_t i = hash_key(k, len) & mask;
	while (t->slots[i].item != item) {
		if (t->slots[i].item == NULL)
			return;
		i = (i + 1) & mask;
	}
	/* Backward shift: pull later members of the run into the hole. */
	size_t hole = i;
	for (size_t j = (i + 1) & mask; t->slots[j].item != NULL;
	    j = (j + 1) & mask) {
		size_t home = t->slots[j].hash & mask;
		/* j's item may move to hole unless its home lies in (hole, j] */
		int stays = hole <= j ? (home > hole && home <= j) :
		    (home > hole || home <= j);
		if (!stays) {
			t->slots[hole] = t->slots[j];
			hole = j;
		}
	}
	t->slots[hole].item = NULL;
	t->slots[hole].hash = 0;
	t->n--;
}

void
table_each(const struct table *t, void (*fn)(void *, void *), void *arg)
{
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i].item != NULL)
			fn(t->slots[i].item, arg);
}
