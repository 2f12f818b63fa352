/*
 * chat-log: a chat-store shard's applier of the message log, the JetStream
 * stream CHAT_LOG that chat-route writes before it acks (msg_log =
 * jetstream; chat-log(1), chat-scaling(7) "Durability").
 *
 * Files: main.c (options, the status socket), apply.c (the consumer),
 * witness.c (the newest acked entry of the shard's subject), follow.c
 * (the store's log of writes carried to the stream).
 */
#ifndef CHAT_LOG_PROG_H
#define CHAT_LOG_PROG_H

#include <stdint.h>

#include <jv.h>

struct ev_loop;
struct bus_client;

/*
 * Makes the stream (replicas) unless it exists, connects to the local
 * chat-store and, each time it (re)connects, checks it against the durable
 * consumer durable, then applies the stream's subject chat.log.<shard> to
 * it, acking each entry after the store's synced batch.  Never blocks.
 * 0, or -1 with err.
 */
int apply_start(struct ev_loop *loop, const char *urls, const char *durable,
    unsigned shard, int replicas, long long max_age_s, char *err,
    size_t errlen);
void apply_stop(void);
/* The applier's connection to NATS (follow.c shares it). */
struct bus *apply_bus(void);
/* 0, or the exit status when the applier stopped the loop for good (a
 * durable consumer made for another shard: EXIT_USAGE). */
int apply_exit_code(void);

/*
 * follow.c: follows the local chat-store's log of writes (log.follow on a
 * connection of its own) and puts each entry in the stream on bus, acking
 * it to the store after the PubAck.  Never blocks.  0, or -1 with err.
 */
int follow_start(struct ev_loop *loop, struct bus *bus, char *err,
    size_t errlen);
void follow_stop(void);
/* Adds the follower's counters to a status reply r (consumed, returned). */
jv follow_status(jv r);
/* Adds the applier's counters to a status reply r (consumed, returned). */
jv apply_status(jv r);

/* witness.c: seq is the entry found, 0 if none; err set if the stream
 * could not be asked. */
typedef void witness_fn(void *arg, uint64_t seq, const char *err);
/*
 * Finds the last entry of subject filter at or below the stream sequence
 * floor, asking msgget ($JS.API.STREAM.MSG.GET.<stream>); cb runs exactly
 * once, later.
 */
void witness_find(struct bus_client *msgget, const char *filter,
    uint64_t floor, witness_fn *cb, void *arg);

#endif
