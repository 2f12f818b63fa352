/*
 * outbox: the loop's side of the log of writes (logw.h).  An op's entries
 * wait here, in the order the worker ran the ops, until chat-log, which
 * follows the store over its socket (log.follow), has put each in the
 * stream and acked it (log.ack); the op's answer waits with them.
 *
 *   store --{"ev":"log.entry","seq","subject","msgid","entry"}--> chat-log
 *   chat-log --entry, Nats-Msg-Id msgid--> CHAT_LOG --PubAck--> chat-log
 *   store <--{"op":"log.ack","seq"}-- chat-log  ==> the answer goes
 *
 * The entries are in the database too (logw.h, L/ keys, written in the
 * op's own batch): the ones still there at start-up wait here again, and
 * log.trim deletes those acked.  Their Nats-Msg-Id is L:{origin}.{seq}.
 *
 * Until a chat-log has followed this store once, answers do not wait
 * (a store without a chat-log, such as a route node's own, is not a
 * shard of the log) but the entries are kept for the first follower.
 * Once one has, an answer that waits LOG_HOLD_S without its acks becomes
 * store_unavailable (the write is stored here and still goes to the
 * stream when a follower comes).  At most OUTBOX_MAX entries wait; past
 * that the oldest is dropped, counted and logged.
 */
#ifndef STORE_OUTBOX_H
#define STORE_OUTBOX_H

#include <stdint.h>
#include <jv.h>

struct ev_loop;
struct ipc_conn;
struct store_req;
struct store_stats;

#define LOG_HOLD_S	5
#define OUTBOX_MAX	10000

/* With logw_conf.on: starts the outbox's timer on loop. */
void outbox_init(struct ev_loop *loop, struct store_stats *stats);
/* Answers every waiting request store_unavailable, frees the entries. */
void outbox_stop(void);
/* r is done and ok: takes r->log.  1 if r's answer must wait (r->held
 * set; store_reply_ready(r) is called later), 0 to answer now. */
int outbox_take(struct store_req *r);
/* c asked log.follow (id: its request id, consumed): answered, then sent
 * every entry waiting and each new one. */
void outbox_follow(struct ipc_conn *c, jv id);
/* The entry seq is in the stream. */
void outbox_ack(uint64_t seq);
/* c closed: if it followed, nobody does now. */
void outbox_conn_closed(struct ipc_conn *c);

/* An entry kept in the database (logw_load at start-up): it waits for
 * the first follower.  Copies line. */
void outbox_restore(uint64_t seq, unsigned shard, const char *line,
    size_t len);
/* A log.trim of the L/ keys below below is done; more: 1 some are left,
 * 0 none, -1 it failed. */
void outbox_trimmed(uint64_t below, int more);

/* server.c: r's answer may go (in its connection's order). */
void store_reply_ready(struct store_req *r);
/* server.c: runs req (consumed) through the worker for the store itself;
 * its answer goes to outbox_trimmed. */
void store_submit_internal(jv req);

#endif
