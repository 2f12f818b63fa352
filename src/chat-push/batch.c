/*
 * batch: the per-device batches of jobs and the order they are due in.
 * A hash table finds the batch of (user, device), for collapse and for
 * push.cancel; a binary min-heap keyed by due time holds the batches that
 * are waiting, so the scheduler's one timer always knows the earliest.
 * Jobs themselves are compact: their stored JSON line and the few fields
 * the scheduler reads, parsed again only to build a notification.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "push.h"

static struct batch	**buckets;
static size_t		 nbuckets, nbatches;
static struct batch	**heap;
static size_t		 heaplen, heapcap;

uint64_t
batch_hash(const char *a, const char *b, const char *c)
{
	const char *parts[3] = { a, b, c };
	uint64_t h = 1469598103934665603ULL;
	int i;

	for (i = 0; i < 3; i++) {
		for (const char *p = parts[i]; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ULL;
		h = (h ^ 0x1f) * 1099511628211ULL;
	}
	return h;
}



static struct batch **
slot(const char *user, const char *device)
{
	uint64_t h = batch_hash(user, device, "");
	struct batch **p = &buckets[h & (nbuckets - 1)];

	while (*p != NULL && (strcmp((*p)->user, user) != 0 ||
	    strcmp((*p)->device, device) != 0))
		p = &(*p)->hnext;
	return p;
}

static void
grow(void)
{
	struct batch **old = buckets, *b, *next;
	size_t i, n = nbuckets;

	nbuckets = n ? n * 2 : 1024;
	buckets = calloc(nbuckets, sizeof(*buckets));
	if (buckets == NULL)
		fatalx(EXIT_TEMP, "out of memory");
	for (i = 0; i < n; i++)
		for (b = old[i]; b != NULL; b = next) {
			next = b->hnext;
			b->hnext = NULL;
			*slot(b->user, b->device) = b;
		}
	free(old);
}

struct batch *
batch_get(const char *user, const char *device, int create)
{
	struct batch **p, *b;

	if (nbuckets == 0 && !create)
		return NULL;
	if (nbuckets == 0 || nbatches >= nbuckets)
		grow();
	p = slot(user, device);
	if (*p != NULL || !create)
		return *p;
	b = calloc(1, sizeof(*b));
	if (b == NULL || (b->user = strdup(user)) == NULL ||
	    (b->device = strdup(device)) == NULL)
		fatalx(EXIT_TEMP, "out of memory");
	b->state = B_WAIT;
	b->hi = (size_t)-1;
	*p = b;
	nbatches++;
	return b;
}

void
batch_free(struct batch *b)
{
	struct batch **p = slot(b->user, b->device);

	if (*p == b) {
		*p = b->hnext;
		nbatches--;
	}
	free(b->user);
	free(b->device);
	free(b);
}

/* --- the heap of waiting batches ------------------------------------------ */

static void
heap_swap(size_t i, size_t k)
{
	struct batch *t = heap[i];

	heap[i] = heap[k];
	heap[k] = t;
	heap[i]->hi = i;
	heap[k]->hi = k;
}

void
heap_up(size_t i)
{
	while (i > 0 && heap[(i - 1) / 2]->due > heap[i]->due) {
		heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
heap_down(size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < heaplen && heap[l]->due < heap[m]->due)
			m = l;
		if (r < heaplen && heap[r]->due < heap[m]->due)
			m = r;
		if (m == i)
			return;
		heap_swap(i, m);
		i = m;
	}
}

void
heap_push(struct batch *b)
{
	if (heaplen == heapcap) {
		heapcap = heapcap ? heapcap * 2 : 256;
		heap = realloc(heap, heapcap * sizeof(*heap));
		if (heap == NULL)
			fatalx(EXIT_TEMP, "out of memory");
	}
	b->state = B_WAIT;
	b->hi = heaplen;
	heap[heaplen++] = b;
	heap_up(b->hi);
}

void
heap_remove(struct batch *b)
{
	size_t i = b->hi;

	if (i == (size_t)-1)
		return;
	heaplen--;
	if (i != heaplen) {
		heap[i] = heap[heaplen];
		heap[i]->hi = i;
		heap_up(i);
		heap_down(heap[i]->hi);
	}
	b->hi = (size_t)-1;
}

/* --- jobs ------------------------------------------------------------------ */

struct job *
sched_job_new(jv v, const char *json, size_t len, uint64_t seq,
    uint64_t queued_at)
{
	const char *user = json_str(v, "user", NULL);
	const char *device = json_str(v, "device", NULL);
	size_t ul = strlen(user), dl = strlen(device);
	struct job *j = calloc(1, sizeof(*j) + ul + dl + 2);

	if (j != NULL && json != NULL && (j->json = malloc(len + 1)) != NULL) {
		memcpy(j->json, json, len);
		j->json[len] = '\0';
		j->len = len;
	} else if (j != NULL && json == NULL)
		j->json = json_dump(jv_copy(v), &j->len);
	if (j == NULL || j->json == NULL) {
		free(j);
		jv_free(v);
		return NULL;
	}
	j->seq = seq;
	j->queued_at = queued_at;
	memcpy(j->ud, user, ul + 1);
	memcpy(j->ud + ul + 1, device, dl + 1);
	j->user = j->ud;
	j->device = j->ud + ul + 1;
	snprintf(j->msg_id, sizeof(j->msg_id), "%s",
	    json_str(v, "msg_id", NULL));
	snprintf(j->provider, sizeof(j->provider), "%s",
	    json_str(v, "provider", NULL));
	jv_free(v);
	return j;
}

void
sched_job_free(struct job *j)
{
	if (j == NULL)
		return;
	free(j->json);
	free(j);
}

struct batch *
heap_top(void)
{
	return heaplen > 0 ? heap[0] : NULL;
}

size_t batch_count(void) { return nbatches; }

void
batch_each(void (*fn)(struct batch *, void *), void *arg)
{
	struct batch *b, *next;
	size_t i;

	for (i = 0; i < nbuckets; i++)
		for (b = buckets[i]; b != NULL; b = next) {
			next = b->hnext;
			fn(b, arg);
		}
}
