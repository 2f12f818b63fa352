/*
 * id: 64-bit time-ordered message ids: 42 bits of milliseconds since
 * 2024-01-01, 10 bits of node, 12 bits of sequence.  The generator never
 * goes back: when the wall clock steps back it keeps using its last
 * millisecond, and when 4096 ids have been made within one millisecond it
 * borrows the next one, so ids stay strictly increasing at any rate and the
 * encoded time runs ahead of the clock by at most the burst.
 */
#include <stdint.h>
#include <time.h>

#include "id.h"

#define ID_NODE_MAX	((1U << ID_NODE_BITS) - 1)
#define ID_SEQ_MAX	((1U << ID_SEQ_BITS) - 1)

int
id_gen_init(struct id_gen *g, unsigned node)
{
	if (node > ID_NODE_MAX)
		return -1;
	g->last_ms = 0;
	g->seq = 0;
	g->node = node;
	return 0;
}

uint64_t
id_next_at(struct id_gen *g, uint64_t now)
{
	uint64_t ms = now > ID_EPOCH_MS ? now - ID_EPOCH_MS : 0;

	if (ms > g->last_ms) {
		g->last_ms = ms;
		g->seq = 0;
	} else if (g->seq < ID_SEQ_MAX) {
		g->seq++;
	} else {
		g->last_ms++;
		g->seq = 0;
	}
	return g->last_ms << (ID_NODE_BITS + ID_SEQ_BITS) |
	    (uint64_t)g->node << ID_SEQ_BITS | g->seq;
}

uint64_t
id_next(struct id_gen *g)
{
	return id_next_at(g, now_ms());
}

uint64_t
id_time_ms(uint64_t id)
{
	return (id >> (ID_NODE_BITS + ID_SEQ_BITS)) + ID_EPOCH_MS;
}

void
id_format(uint64_t id, char out[ID_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = ID_HEX_LEN - 1; i >= 0; i--) {
		out[i] = hex[id & 0xf];
		id >>= 4;
	}
	out[ID_HEX_LEN] = '\0';
}

int
id_parse(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (s == NULL || len != ID_HEX_LEN)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			v = v << 4 | (uint64_t)(s[i] - '0');
		else if (s[i] >= 'a' && s[i] <= 'f')
			v = v << 4 | (uint64_t)(s[i] - 'a' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
