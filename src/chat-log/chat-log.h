/*
 * chat-log: a chat-store shard's applier of the message log, the JetStream
 * stream CHAT_LOG that chat-route writes before it acks (msg_log =
 * jetstream; chat-log(1), chat-scaling(7) "Durability").
 *
 * Files: main.c (options, the status socket), apply.c (the consumer).
 */
#ifndef CHAT_LOG_PROG_H
#define CHAT_LOG_PROG_H

#include <jv.h>

struct ev_loop;

/*
 * Makes the stream (replicas) unless it exists, connects to the local
 * chat-store and, each time it (re)connects, checks it against the durable
 * consumer durable, then applies the stream to it, acking each entry
 * after the store's synced batch.  Never blocks.  0, or -1 with err.
 */
int apply_start(struct ev_loop *loop, const char *urls, const char *durable,
    int replicas, char *err, size_t errlen);
void apply_stop(void);
/* Adds the applier's counters to a status reply r (consumed, returned). */
jv apply_status(jv r);

#endif
