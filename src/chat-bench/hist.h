/*
 * hist: a latency histogram in logarithmic buckets, HDR style: 64 linear
 * sub-buckets per power of two of microseconds, so every recorded value is
 * kept within 1/64 (1.6%) and recording is a few integer operations with no
 * allocation.  Covers 1 us to 2^40 us.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

struct hist;

/* A new empty histogram, or NULL if out of memory. */
struct hist *hist_new(void);
void hist_free(struct hist *h);
/* Records one value in seconds (negative values count as 0). */
void hist_add(struct hist *h, double seconds);
uint64_t hist_count(const struct hist *h);
/* The value at quantile q (0..1) in milliseconds: the upper edge of its
 * bucket, or the exact maximum for q = 1.  0 if empty. */
double hist_ms(const struct hist *h, double q);
double hist_max_ms(const struct hist *h);
double hist_mean_ms(const struct hist *h);

#endif
