/*
 * hist: see hist.h.  Bucket index for a value v in microseconds: values
 * below 64 have their own bucket; above, the top 6 bits after the leading
 * one pick the sub-bucket of v's power of two.
 */
#include <stdlib.h>

#include "hist.h"

#define SUB_BITS	6
#define SUB		(1 << SUB_BITS)
#define MAX_EXP		40
#define NBUCKETS	((MAX_EXP - SUB_BITS + 1) * SUB + SUB)

struct hist {
	uint64_t	 n;
	uint64_t	 max_us;
	double		 sum;
	uint64_t	 b[NBUCKETS];
};

static unsigned
bucket(uint64_t v)
{
	unsigned e;

	if (v < SUB)
		return (unsigned)v;
	e = 63 - (unsigned)__builtin_clzll(v);	/* v's power of two, >= 6 */
	if (e > MAX_EXP)
		return NBUCKETS - 1;
	return SUB + (e - SUB_BITS) * SUB +
	    (unsigned)((v >> (e - SUB_BITS)) & (SUB - 1));
}

/* The largest value that falls in bucket i. */
static uint64_t
bucket_top(unsigned i)
{
	unsigned e, s;

	if (i < SUB)
		return i;
	e = (i - SUB) / SUB + SUB_BITS;
	s = (i - SUB) % SUB;
	return ((uint64_t)(SUB + s + 1) << (e - SUB_BITS)) - 1;
}

struct hist *
hist_new(void)
{
	return calloc(1, sizeof(struct hist));
}

void
hist_free(struct hist *h)
{
	free(h);
}

void
hist_add(struct hist *h, double seconds)
{
	uint64_t us = seconds > 0 ? (uint64_t)(seconds * 1e6 + 0.5) : 0;

	h->b[bucket(us)]++;
	h->n++;
	h->sum += seconds > 0 ? seconds : 0;
	if (us > h->max_us)
		h->max_us = us;
}

uint64_t
hist_count(const struct hist *h)
{
	return h->n;
}

double
hist_ms(const struct hist *h, double q)
{
	uint64_t want, seen = 0, top;
	unsigned i;

	if (h->n == 0)
		return 0;
	if (q >= 1)
		return h->max_us / 1e3;
	want = (uint64_t)(q * (double)h->n);
	if ((double)want < q * (double)h->n)
		want++;
	if (want < 1)
		want = 1;
	for (i = 0; i < NBUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want) {
			top = bucket_top(i);
			return (top < h->max_us ? top : h->max_us) / 1e3;
		}
	}
	return h->max_us / 1e3;
}

double
hist_max_ms(const struct hist *h)
{
	return h->max_us / 1e3;
}

double
hist_mean_ms(const struct hist *h)
{
	return h->n ? h->sum / (double)h->n * 1e3 : 0;
}
