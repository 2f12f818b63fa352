/*
 * id: 64-bit time-ordered message ids (ARCHITECTURE.md): 42 bits of
 * milliseconds since 2024-01-01T00:00:00Z, 10 bits of node id, 12 bits of
 * sequence.  An id never decreases, even when the wall clock steps back: the
 * generator keeps the last millisecond it used and, if the sequence runs out
 * within one, borrows the next millisecond.  Printed as 16 lower-case hex
 * digits, so string order is id order.
 */
#ifndef CHAT_ID_H
#define CHAT_ID_H

#include <stdint.h>
#include <stddef.h>

#define ID_EPOCH_MS	1704067200000ULL	/* 2024-01-01T00:00:00Z */
#define ID_NODE_BITS	10
#define ID_SEQ_BITS	12
#define ID_HEX_LEN	16

struct id_gen {
	uint64_t last_ms;	/* ms since ID_EPOCH_MS of the last id */
	uint32_t seq;		/* sequence within last_ms */
	uint32_t node;		/* 0..1023 */
};

/* Prepares a generator for node (0..1023); -1 if node is out of range. */
int id_gen_init(struct id_gen *g, unsigned node);
/* The next id at wall time now_ms (ms since the Unix epoch); strictly
 * greater than every id g made before. */
uint64_t id_next_at(struct id_gen *g, uint64_t now_ms);
/* id_next_at with the real clock. */
uint64_t id_next(struct id_gen *g);
/* Unix-epoch milliseconds encoded in id. */
uint64_t id_time_ms(uint64_t id);
/* Writes 16 hex digits and a NUL into out (17 bytes). */
void id_format(uint64_t id, char out[ID_HEX_LEN + 1]);
/* Parses exactly 16 lower-case hex digits; -1 on anything else. */
int id_parse(const char *s, size_t len, uint64_t *out);
/* Unix-epoch milliseconds now (CLOCK_REALTIME). */
uint64_t now_ms(void);

#endif
