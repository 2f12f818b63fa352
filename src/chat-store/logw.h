/*
 * logw: the log of writes that are not messages (chat-scaling(7),
 * "Durability"; chat-store(1), "THE LOG OF WRITES").  With msg_log =
 * jetstream, every op flagged OP_LOG (ops.h) goes on the JetStream stream
 * CHAT_LOG as the keys its batch wrote, not as the op:
 *
 *   {"op":"log.apply","origin":O,"puts":[{"key":K,"value":V}],"dels":[K]}
 *
 * one entry per shard its keys belong to (a user's keys on the user's
 * shard, a group's g/ and gm/ on its conversation's), so a replay computes
 * nothing (a user.create entry carries the hash, never the password).
 * The worker builds the entries here; outbox.c holds the op's answer until
 * chat-log has them in the stream; ops_log.c applies one (log.apply).
 *
 * origin names the database that made the entry: a random id kept in the
 * file chat-origin in the database's directory, so a database wiped (or
 * rebuilt) is a new origin, and the store that made an entry knows it
 * holds it already.
 */
#ifndef STORE_LOGW_H
#define STORE_LOGW_H

#include <stddef.h>
#include <stdint.h>

#include <leveldb/c.h>

#include "tx.h"

/* One entry: the log.apply line for one shard. */
struct logw_entry {
	struct logw_entry	*next;
	uint64_t		 seq;		/* logw_keep's */
	unsigned		 shard;
	char			*line;		/* malloc'd, no newline */
	size_t			 len;
};

/* Set once by the loop before the worker starts. */
struct logw_conf {
	int		on;		/* msg_log = jetstream */
	unsigned	nshards;	/* log_shards */
	char		origin[40];	/* 16 hex digits */
};
extern struct logw_conf logw_conf;

/*
 * Reads msg_log and log_shards into logw_conf and, with the log on, the
 * origin from dbdir/chat-origin, making it (synced) if absent; dbdir NULL
 * or unwritable: a fresh origin kept in memory.  0, or -1 with err (a bad
 * key).
 */
int logw_init(const char *dbdir, char *err, size_t errlen);

/* The shard of a key: the user's for u/ f/ c/ ug/ x/ i/ p/, the group's
 * conversation (g/{gid}) for g/ and gm/, else 0. */
unsigned logw_key_shard(const char *k, size_t klen, unsigned nshards);

/* The entries for the writes w[0..n) of one op (the last write of a key
 * wins), in the order of the shards' first keys; NULL if none. */
struct logw_entry *logw_build(const struct tx_write *w, size_t n);
void logw_free(struct logw_entry *e);

/*
 * The entries wait in the database too, until chat-log has them in the
 * stream: key L/{seq: 8 bytes big-endian}/{shard}, value the line, put in
 * the op's own batch (a transactional outbox), so a store that dies
 * before the PubAck sends them when it is back, and one no chat-log
 * followed keeps them for the first.  log.trim deletes those acked.
 */
#define LOGW_PREFIX	"L/"
/* Numbers each of list's entries (worker) and stages its L/ key in t. */
void logw_keep(struct tx *t, struct logw_entry *list);
/* Reads every L/ key of db (start-up, before the worker): calls fn for
 * each in seq order, and numbers new entries after the last. */
typedef void logw_load_fn(uint64_t seq, unsigned shard, const char *line,
    size_t len);
void logw_load(leveldb_t *db, logw_load_fn *fn);
/* The L/ key of seq, shard into k (KEY_MAX bytes); its length. */
size_t logw_key(char *k, uint64_t seq, unsigned shard);

#endif
