/*
 * tx: the overlay behind group commit (see tx.h).  Staged writes live in
 * an array with an open-addressing hash index for gets; a scan collects
 * the overlay's keys under its prefix, sorts them and merges them with a
 * LevelDB iterator.  A batch is bounded (commit.c), so the linear pass
 * over the overlay that a scan makes stays small.
 *
 * The staged keys and values are bump-allocated from the overlay's own
 * chunks, kept from batch to batch: a message stages four keys and four
 * values, and a malloc and a free for each was most of the worker's
 * allocator time at 10k msg/s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tx.h"

struct ent {
	char	*k;
	size_t	 klen;
	char	*v;		/* NULL: deleted */
	size_t	 vlen;
};

#define CHUNK_SIZE	(64 * 1024)

/* Memory for staged bytes: used of cap taken, freed all at once. */
struct chunk {
	struct chunk	*next;
	size_t		 used, cap;
	char		 b[];
};

/* One batch's staged writes: the entries, their index, the WriteBatch. */
struct overlay {
	struct chunk		*chunks; /* in use; the head is being filled */
	struct chunk		*spare;	/* CHUNK_SIZE ones kept for reuse */
	struct ent		*ents;
	size_t			 n, cap;
	size_t			 writes;	/* puts and deletes staged */
	uint32_t		*idx;	/* entry index + 1, 0 empty */
	size_t			 icap;
	leveldb_writebatch_t	*wb;
};

struct tx {
	leveldb_t		*db;
	leveldb_readoptions_t	*ro;
	leveldb_writeoptions_t	*wo_sync, *wo_nosync;
	struct overlay		 ov[2];
	struct overlay		*cur;	/* the batch being run */
	struct overlay		*sealed; /* being written, or NULL */
	char			 err[512];
	char			 serr[512];	/* the sealed batch's write */
	int			 capturing;	/* tx_capture */
	struct tx_write		*caps;
	size_t			 ncaps, capcap;
};

static void cap_clear(struct tx *t);

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		abort();
	return p;
}

static char *
dup_bytes(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* n bytes of o's chunks, s[0..n) copied in and a NUL after them. */
static char *
ov_copy(struct overlay *o, const char *s, size_t n)
{
	struct chunk *c = o->chunks;
	char *p;

	if (c == NULL || c->cap - c->used < n + 1) {
		if (n + 1 <= CHUNK_SIZE && o->spare != NULL) {
			c = o->spare;
			o->spare = c->next;
		} else {
			size_t cap = n + 1 > CHUNK_SIZE ? n + 1 : CHUNK_SIZE;
			c = xmalloc(sizeof(*c) + cap);
			c->cap = cap;
		}
		c->used = 0;
		c->next = o->chunks;
		o->chunks = c;
	}
	p = c->b + c->used;
	c->used += n + 1;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* Gives back every chunk: the standard ones to spare, larger ones freed. */
static void
ov_release(struct overlay *o)
{
	struct chunk *c, *next;

	for (c = o->chunks; c != NULL; c = next) {
		next = c->next;
		if (c->cap == CHUNK_SIZE) {
			c->next = o->spare;
			o->spare = c;
		} else
			free(c);
	}
	o->chunks = NULL;
}

static void
ov_init(struct overlay *o)
{
	o->wb = leveldb_writebatch_create();
	o->icap = 1024;
	o->idx = calloc(o->icap, sizeof(*o->idx));
	if (o->idx == NULL)
		abort();
}

struct tx *
tx_new(leveldb_t *db)
{
	struct tx *t = calloc(1, sizeof(*t));

	if (t == NULL)
		abort();
	t->db = db;
	t->ro = leveldb_readoptions_create();
	/* A block whose checksum fails is an error, not garbage served as a
	 * record (paranoid_checks alone checks only what open reads). */
	leveldb_readoptions_set_verify_checksums(t->ro, 1);
	t->wo_sync = leveldb_writeoptions_create();
	leveldb_writeoptions_set_sync(t->wo_sync, 1);
	t->wo_nosync = leveldb_writeoptions_create();
	ov_init(&t->ov[0]);
	ov_init(&t->ov[1]);
	t->cur = &t->ov[0];
	return t;
}

static void
clear(struct overlay *o)
{
	ov_release(o);
	memset(o->idx, 0, o->icap * sizeof(*o->idx));
	o->n = 0;
	o->writes = 0;
	leveldb_writebatch_clear(o->wb);
}

void
tx_free(struct tx *t)
{
	int i;

	if (t == NULL)
		return;
	for (i = 0; i < 2; i++) {
		struct chunk *c, *next;
		clear(&t->ov[i]);
		for (c = t->ov[i].spare; c != NULL; c = next) {
			next = c->next;
			free(c);
		}
		free(t->ov[i].ents);
		free(t->ov[i].idx);
		leveldb_writebatch_destroy(t->ov[i].wb);
	}
	cap_clear(t);
	free(t->caps);
	leveldb_writeoptions_destroy(t->wo_sync);
	leveldb_writeoptions_destroy(t->wo_nosync);
	leveldb_readoptions_destroy(t->ro);
	free(t);
}

void
tx_set_db(struct tx *t, leveldb_t *db)
{
	clear(&t->ov[0]);
	clear(&t->ov[1]);
	t->sealed = NULL;
	t->db = db;
}

static uint32_t
hash(const char *k, size_t n)
{
	uint32_t h = 2166136261u;

	while (n-- > 0)
		h = (h ^ (unsigned char)*k++) * 16777619u;
	return h;
}

/* The slot of k in o's index: holding it, or the empty one it would go in. */
static size_t
slot(const struct overlay *o, const char *k, size_t klen)
{
	size_t i = hash(k, klen) & (o->icap - 1);

	while (o->idx[i] != 0) {
		struct ent *e = &o->ents[o->idx[i] - 1];
		if (e->klen == klen && memcmp(e->k, k, klen) == 0)
			break;
		i = (i + 1) & (o->icap - 1);
	}
	return i;
}

/* k's entry in o, or NULL. */
static struct ent *
find(const struct overlay *o, const char *k, size_t klen)
{
	size_t s;

	if (o->n == 0)
		return NULL;
	s = slot(o, k, klen);
	return o->idx[s] != 0 ? &o->ents[o->idx[s] - 1] : NULL;
}

static void
grow_index(struct overlay *o)
{
	size_t i;

	free(o->idx);
	o->icap *= 2;
	o->idx = calloc(o->icap, sizeof(*o->idx));
	if (o->idx == NULL)
		abort();
	for (i = 0; i < o->n; i++)
		o->idx[slot(o, o->ents[i].k, o->ents[i].klen)] = (uint32_t)i + 1;
}

static void
stage(struct overlay *o, const char *k, size_t klen, const char *v,
    size_t vlen)
{
	size_t s = slot(o, k, klen);
	struct ent *e;

	if (o->idx[s] != 0) {
		e = &o->ents[o->idx[s] - 1];	/* its old value stays unused */
	} else {
		if (o->n == o->cap) {
			o->cap = o->cap ? o->cap * 2 : 256;
			o->ents = realloc(o->ents, o->cap * sizeof(*o->ents));
			if (o->ents == NULL)
				abort();
		}
		e = &o->ents[o->n++];
		e->k = ov_copy(o, k, klen);
		e->klen = klen;
		o->idx[s] = (uint32_t)o->n;
		if (o->n * 2 > o->icap)
			grow_index(o);
	}
	e->v = v ? ov_copy(o, v, vlen) : NULL;
	e->vlen = vlen;
	o->writes++;
}

static void
cap_clear(struct tx *t)
{
	size_t i;

	for (i = 0; i < t->ncaps; i++) {
		free(t->caps[i].k);
		free(t->caps[i].v);
	}
	t->ncaps = 0;
}

static void
cap_add(struct tx *t, const char *k, size_t klen, const char *v, size_t vlen)
{
	struct tx_write *w;

	if (!t->capturing)
		return;
	if (t->ncaps == t->capcap) {
		t->capcap = t->capcap ? t->capcap * 2 : 16;
		t->caps = realloc(t->caps, t->capcap * sizeof(*t->caps));
		if (t->caps == NULL)
			abort();
	}
	w = &t->caps[t->ncaps++];
	w->k = dup_bytes(k, klen);
	w->klen = klen;
	w->v = v ? dup_bytes(v, vlen) : NULL;
	w->vlen = vlen;
}

void
tx_capture(struct tx *t, int on)
{
	cap_clear(t);
	t->capturing = on;
}

const struct tx_write *
tx_captured(struct tx *t, size_t *n)
{
	*n = t->ncaps;
	return t->caps;
}

void
tx_put(struct tx *t, const char *k, size_t klen, const char *v, size_t vlen)
{
	cap_add(t, k, klen, v, vlen);
	stage(t->cur, k, klen, v, vlen);
	leveldb_writebatch_put(t->cur->wb, k, klen, v, vlen);
}

void
tx_put_json(struct tx *t, const char *k, size_t klen, jv v)
{
	jv s = jv_dump_string(v, 0);

	tx_put(t, k, klen, jv_string_value(s), (size_t)jv_string_length_bytes(
	    jv_copy(s)));
	jv_free(s);
}

void
tx_del(struct tx *t, const char *k, size_t klen)
{
	cap_add(t, k, klen, NULL, 0);
	stage(t->cur, k, klen, NULL, 0);
	leveldb_writebatch_delete(t->cur->wb, k, klen);
}

int
tx_get(struct tx *t, const char *k, size_t klen, char **val, size_t *vlen)
{
	struct ent *e;
	char *lerr = NULL, *v;

	/* this batch, then the one being written, then the database */
	if ((e = find(t->cur, k, klen)) != NULL ||
	    (t->sealed != NULL && (e = find(t->sealed, k, klen)) != NULL)) {
		if (e->v == NULL)
			return 0;
		*val = dup_bytes(e->v, e->vlen);
		*vlen = e->vlen;
		return 1;
	}
	v = leveldb_get(t->db, t->ro, k, klen, vlen, &lerr);
	if (lerr != NULL) {
		snprintf(t->err, sizeof(t->err), "%s", lerr);
		leveldb_free(lerr);
		return -1;
	}
	if (v == NULL)
		return 0;
	*val = dup_bytes(v, *vlen);
	leveldb_free(v);
	return 1;
}

int
tx_get_json(struct tx *t, const char *k, size_t klen, jv *out)
{
	char *v;
	size_t vlen;
	int r = tx_get(t, k, klen, &v, &vlen);

	if (r != 1)
		return r;
	*out = jv_parse_sized(v, (int)vlen);
	free(v);
	if (!jv_is_valid(*out) || jv_get_kind(*out) != JV_KIND_OBJECT) {
		jv_free(*out);
		*out = jv_invalid();
		snprintf(t->err, sizeof(t->err), "value of a key is not a "
		    "JSON object");
		return -1;
	}
	return 1;
}

static int
keycmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

static int sort_reverse;

static int
entcmp(const void *a, const void *b)
{
	const struct ent *x = *(struct ent *const *)a;
	const struct ent *y = *(struct ent *const *)b;
	int c = keycmp(x->k, x->klen, y->k, y->klen);

	return sort_reverse ? -c : c;
}

/* Inside the scan: has the prefix and lies beyond from. */
static int
in_range(const char *k, size_t klen, const char *prefix, size_t plen,
    const char *from, size_t flen, int reverse)
{
	int c;

	if (klen < plen || memcmp(k, prefix, plen) != 0)
		return 0;
	if (from == NULL)
		return 1;
	c = keycmp(k, klen, from, flen);
	return reverse ? c < 0 : c > 0;
}

/* Positions it on the first key of the scan (still to be range-checked). */
static void
seek_start(leveldb_iterator_t *it, const char *prefix, size_t plen,
    const char *from, size_t flen, int reverse)
{
	char up[1024];
	size_t n;

	if (!reverse) {
		if (from != NULL && keycmp(from, flen, prefix, plen) > 0)
			leveldb_iter_seek(it, from, flen);
		else
			leveldb_iter_seek(it, prefix, plen);
		return;
	}
	if (from != NULL) {
		leveldb_iter_seek(it, from, flen);
	} else {
		/* the first key after every key with the prefix */
		n = plen < sizeof(up) ? plen : sizeof(up);
		memcpy(up, prefix, n);
		while (n > 0 && (unsigned char)up[n - 1] == 0xff)
			n--;
		if (n == 0) {
			leveldb_iter_seek_to_last(it);
			return;
		}
		up[n - 1]++;
		leveldb_iter_seek(it, up, n);
	}
	if (leveldb_iter_valid(it))
		leveldb_iter_prev(it);
	else
		leveldb_iter_seek_to_last(it);
}

int
tx_scan(struct tx *t, const char *prefix, size_t plen, const char *from,
    size_t flen, int reverse, tx_scan_fn *fn, void *arg)
{
	struct ent **ov = NULL;
	size_t nov = 0, oi = 0, i;
	leveldb_iterator_t *it;
	const char *dk, *dv;
	size_t dklen, dvlen;
	char *lerr = NULL;
	int r = 0, c;

	struct overlay *cur = t->cur, *sealed = t->sealed;
	size_t max = cur->n + (sealed != NULL ? sealed->n : 0);

	/* the overlays' keys in range; the sealed batch's only where the
	 * current one does not shadow them */
	for (i = 0; i < cur->n; i++)
		if (in_range(cur->ents[i].k, cur->ents[i].klen, prefix, plen,
		    from, flen, reverse)) {
			if (ov == NULL)
				ov = xmalloc(max * sizeof(*ov));
			ov[nov++] = &cur->ents[i];
		}
	for (i = 0; sealed != NULL && i < sealed->n; i++)
		if (in_range(sealed->ents[i].k, sealed->ents[i].klen, prefix,
		    plen, from, flen, reverse) && find(cur, sealed->ents[i].k,
		    sealed->ents[i].klen) == NULL) {
			if (ov == NULL)
				ov = xmalloc(max * sizeof(*ov));
			ov[nov++] = &sealed->ents[i];
		}
	sort_reverse = reverse;
	if (nov > 1)
		qsort(ov, nov, sizeof(*ov), entcmp);

	it = leveldb_create_iterator(t->db, t->ro);
	seek_start(it, prefix, plen, from, flen, reverse);
	for (;;) {
		dk = NULL;
		if (leveldb_iter_valid(it)) {
			dk = leveldb_iter_key(it, &dklen);
			/* skip the from key itself, stop past the prefix */
			if (from != NULL && keycmp(dk, dklen, from, flen) == 0) {
				if (reverse)
					leveldb_iter_prev(it);
				else
					leveldb_iter_next(it);
				continue;
			}
			if (!in_range(dk, dklen, prefix, plen, from, flen,
			    reverse))
				dk = NULL;
		}
		if (dk == NULL && oi == nov)
			break;
		if (dk == NULL)
			c = 1;
		else if (oi == nov)
			c = -1;
		else {
			c = keycmp(dk, dklen, ov[oi]->k, ov[oi]->klen);
			if (reverse)
				c = -c;
		}
		if (c < 0) {
			dv = leveldb_iter_value(it, &dvlen);
			r = fn(arg, dk, dklen, dv, dvlen);
			if (reverse)
				leveldb_iter_prev(it);
			else
				leveldb_iter_next(it);
		} else {
			struct ent *e = ov[oi++];
			if (c == 0) {	/* the overlay shadows the db */
				if (reverse)
					leveldb_iter_prev(it);
				else
					leveldb_iter_next(it);
			}
			if (e->v != NULL)
				r = fn(arg, e->k, e->klen, e->v, e->vlen);
		}
		if (r != 0)
			break;
	}
	leveldb_iter_get_error(it, &lerr);
	leveldb_iter_destroy(it);
	free(ov);
	if (lerr != NULL) {
		snprintf(t->err, sizeof(t->err), "%s", lerr);
		leveldb_free(lerr);
		return -1;
	}
	return 0;
}

size_t
tx_pending(struct tx *t)
{
	return t->cur->writes;
}

void
tx_seal(struct tx *t)
{
	struct overlay *o = t->cur;

	if (t->sealed != NULL)
		abort();	/* one batch in flight at a time */
	t->sealed = o;
	t->cur = o == &t->ov[0] ? &t->ov[1] : &t->ov[0];
}

int
tx_write_sealed(struct tx *t, int sync)
{
	char *lerr = NULL;

	if (t->sealed == NULL || t->sealed->writes == 0)
		return 0;
	leveldb_write(t->db, sync ? t->wo_sync : t->wo_nosync,
	    t->sealed->wb, &lerr);
	if (lerr != NULL) {
		snprintf(t->serr, sizeof(t->serr), "%s", lerr);
		leveldb_free(lerr);
		return -1;
	}
	return 0;
}

const char *
tx_sealed_error(struct tx *t)
{
	return t->serr;
}

void
tx_drop_sealed(struct tx *t)
{
	if (t->sealed == NULL)
		return;
	clear(t->sealed);
	t->sealed = NULL;
}

void
tx_discard(struct tx *t)
{
	clear(t->cur);
}

int
tx_commit(struct tx *t, int sync)
{
	int r;

	if (t->cur->writes == 0)
		return 0;
	tx_seal(t);
	r = tx_write_sealed(t, sync);
	if (r == -1)
		snprintf(t->err, sizeof(t->err), "%s", t->serr);
	tx_drop_sealed(t);
	return r;
}

const char *
tx_error(struct tx *t)
{
	return t->err;
}
