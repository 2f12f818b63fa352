/*
 * strmap: see strmap.h.  FNV-1a hashes, a load factor of at most 1/2, and
 * deletion by shifting later members of the probe run back, so lookups
 * stay short no matter how many entries came and went.
 */
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

static uint64_t
hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

void
strmap_init(struct strmap *m)
{
	m->slots = NULL;
	m->cap = m->n = 0;
}

void
strmap_free(struct strmap *m)
{
	free(m->slots);
	strmap_init(m);
}

static struct strmap_slot *
find(const struct strmap *m, const char *key, size_t len, uint64_t h)
{
	if (m->cap == 0)
		return NULL;
	for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct strmap_slot *s = &m->slots[i];
		if (s->key == NULL)
			return NULL;
		if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
			return s;
	}
}

void *
strmap_get(const struct strmap *m, const char *key, size_t len)
{
	struct strmap_slot *s = find(m, key, len, hash(key, len));

	return s != NULL ? s->val : NULL;
}

static void
insert(struct strmap_slot *slots, size_t cap, const struct strmap_slot *e)
{
	size_t i = e->hash & (cap - 1);

	while (slots[i].key != NULL)
		i = (i + 1) & (cap - 1);
	slots[i] = *e;
}

static int
grow(struct strmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 16;
	struct strmap_slot *slots = calloc(cap, sizeof(*slots));

	if (slots == NULL)
		return -1;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key != NULL)
			insert(slots, cap, &m->slots[i]);
	free(m->slots);
	m->slots = slots;
	m->cap = cap;
	return 0;
}

void *
strmap_put(struct strmap *m, const char *key, size_t len, void *val)
{
	uint64_t h = hash(key, len);
	struct strmap_slot *s = find(m, key, len, h);

	if (s != NULL) {
		void *old = s->val;
		s->key = key;	/* the new value's copy of the key */
		s->val = val;
		return old;
	}
	if ((m->n + 1) * 2 > m->cap && grow(m) == -1)
		return STRMAP_NOMEM;
	struct strmap_slot e = { key, len, h, val };
	insert(m->slots, m->cap, &e);
	m->n++;
	return NULL;
}

void *
strmap_del(struct strmap *m, const char *key, size_t len)
{
	struct strmap_slot *s = find(m, key, len, hash(key, len));

	if (s == NULL)
		return NULL;
	void *val = s->val;
	size_t mask = m->cap - 1, i = (size_t)(s - m->slots), j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (m->slots[j].key == NULL)
			break;
		size_t home = m->slots[j].hash & mask;
		/* Move j back to i unless its home lies cyclically in (i, j]. */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		m->slots[i] = m->slots[j];
		i = j;
	}
	m->slots[i].key = NULL;
	m->slots[i].val = NULL;
	m->n--;
	return val;
}

void *
strmap_next(const struct strmap *m, size_t *i)
{
	while (*i < m->cap) {
		struct strmap_slot *s = &m->slots[(*i)++];
		if (s->key != NULL)
			return s->val;
	}
	return NULL;
}
