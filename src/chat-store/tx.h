/*
 * tx: one group-commit batch seen as a transaction.  Writes go into a
 * LevelDB WriteBatch and into an in-memory overlay at the same time; reads
 * (get and prefix scans) look at the overlay first and then at the
 * database, so an op sees what earlier ops of the same batch wrote (two
 * appends with one cid, fifty adds to one group) before anything is synced.
 * tx_commit writes the batch (synced if asked) and empties the overlay.
 *
 * Pipelined commits: tx_seal sets the current batch aside for another
 * thread to write (tx_write_sealed) while the worker runs the next batch
 * into a fresh overlay; reads see the current batch, then the sealed one,
 * then the database.  One batch is sealed at a time.
 *
 * Used by the one worker thread only, except tx_write_sealed and
 * tx_sealed_error, which the writing thread calls while it holds the
 * sealed batch (the worker only reads the sealed overlay meanwhile).
 */
#ifndef STORE_TX_H
#define STORE_TX_H

#include <stddef.h>
#include <stdint.h>
#include <jv.h>
#include <leveldb/c.h>

struct tx;

/* A transaction over db (borrowed). */
struct tx *tx_new(leveldb_t *db);
void tx_free(struct tx *t);
/* Points t at another handle after a reopen; the overlay must be empty. */
void tx_set_db(struct tx *t, leveldb_t *db);

/* 1 with a malloc'd copy of the value in *val (NUL-terminated, *vlen its
 * length), 0 if absent, -1 on a database read error (message in
 * tx_error). */
int tx_get(struct tx *t, const char *k, size_t klen, char **val,
    size_t *vlen);
/* tx_get and parse: 1 and *out (an owned jv), 0, or -1 (read error or a
 * value that is not JSON). */
int tx_get_json(struct tx *t, const char *k, size_t klen, jv *out);
/* Stages a put or a delete.  Copies key and value. */
void tx_put(struct tx *t, const char *k, size_t klen, const char *v,
    size_t vlen);
/* Consumes v: stages a put of its compact JSON. */
void tx_put_json(struct tx *t, const char *k, size_t klen, jv v);
void tx_del(struct tx *t, const char *k, size_t klen);

/* Called for each key of a scan; return 0 to go on, 1 to stop. */
typedef int tx_scan_fn(void *arg, const char *k, size_t klen, const char *v,
    size_t vlen);
/*
 * Every key starting with prefix, in key order (reverse: descending), the
 * overlay merged in.  from (may be NULL) bounds the scan exclusively: keys
 * after it going forward, before it in reverse.  Returns 0, or -1 on a
 * read error.
 */
int tx_scan(struct tx *t, const char *prefix, size_t plen, const char *from,
    size_t flen, int reverse, tx_scan_fn *fn, void *arg);

/* Writes staged in the current batch. */
size_t tx_pending(struct tx *t);
/* Sets the current batch aside (none may be sealed) and starts an empty
 * one. */
void tx_seal(struct tx *t);
/* Writes the sealed batch (synced if sync); any thread, while the worker
 * does not drop it.  0, or -1 with the reason in tx_sealed_error. */
int tx_write_sealed(struct tx *t, int sync);
const char *tx_sealed_error(struct tx *t);
/* Forgets the sealed batch, written or failed (worker). */
void tx_drop_sealed(struct tx *t);
/* Forgets the current batch's writes unwritten (worker). */
void tx_discard(struct tx *t);
/* Writes the batch (one WriteBatch; synced if sync) and clears the overlay
 * either way.  0, or -1 with the reason in tx_error. */
int tx_commit(struct tx *t, int sync);
/* The last error's text. */
const char *tx_error(struct tx *t);

/* One staged write as captured: v NULL for a delete. */
struct tx_write {
	char	*k;
	size_t	 klen;
	char	*v;
	size_t	 vlen;
};
/*
 * Capture, for the log of writes (logw.h): while on, every tx_put and
 * tx_del is also recorded, in order, with copies of key and value.
 * tx_capture(t, 1) starts an empty record, tx_capture(t, 0) stops and
 * forgets it; tx_captured gives the record so far (valid until either).
 */
void tx_capture(struct tx *t, int on);
const struct tx_write *tx_captured(struct tx *t, size_t *n);

#endif
