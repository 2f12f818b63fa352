/*
 * queue: chat-push's durable job queue, a LevelDB of its own in
 * $CHAT_HOME/push (chat-store owns the chat database; this is private
 * state).  One key per job, ordered by due time then sequence:
 *
 *   j/{due ms, 16 hex}/{seq, 16 hex}  ->  the job's JSON (+ "queued_at")
 *
 * Writes are gathered into one WriteBatch and written with sync by
 * queue_commit, which the ops layer calls once per loop iteration before it
 * answers: a push.enqueue is acknowledged only once its job is on disk
 * (group commit: many jobs, one fsync), and a delivered job's delete is
 * synced the same way.  With no database open (--stdin) every call is a
 * no-op.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <leveldb/c.h>

#include "json.h"
#include "push.h"

#define KEYLEN	(2 + 16 + 1 + 16)

static leveldb_t		*db;
static leveldb_options_t	*opts;
static leveldb_writeoptions_t	*wsync;
static leveldb_readoptions_t	*ropts;
static leveldb_writebatch_t	*wb;
static int			 dirty;
static uint64_t			 next_seq = 1;
static unsigned long		 commits;

static void
make_key(char out[KEYLEN + 1], uint64_t due, uint64_t seq)
{
	snprintf(out, KEYLEN + 1, "j/%016" PRIx64 "/%016" PRIx64, due, seq);
}

int
queue_open(const char *dir, int *corrupt, char *err, size_t errlen)
{
	char *e = NULL;

	*corrupt = 0;
	opts = leveldb_options_create();
	leveldb_options_set_create_if_missing(opts, 1);
	leveldb_options_set_paranoid_checks(opts, 1);
	db = leveldb_open(opts, dir, &e);
	if (db == NULL) {
		snprintf(err, errlen, "unable to open '%s': %s", dir,
		    e ? e : "unknown error");
		*corrupt = e != NULL && strstr(e, "orruption") != NULL;
		leveldb_free(e);
		leveldb_options_destroy(opts);
		opts = NULL;
		return -1;
	}
	wsync = leveldb_writeoptions_create();
	leveldb_writeoptions_set_sync(wsync, 1);
	ropts = leveldb_readoptions_create();
	leveldb_readoptions_set_verify_checksums(ropts, 1);
	wb = leveldb_writebatch_create();
	return 0;
}

int queue_is_open(void) { return db != NULL; }
int queue_dirty(void) { return db != NULL && dirty; }
uint64_t queue_next_seq(void) { return next_seq++; }
unsigned long queue_commits(void) { return commits; }

void
queue_close(void)
{
	if (db == NULL)
		return;
	leveldb_writebatch_destroy(wb);
	leveldb_readoptions_destroy(ropts);
	leveldb_writeoptions_destroy(wsync);
	leveldb_close(db);
	leveldb_options_destroy(opts);
	db = NULL;
}

int
queue_load(queue_load_fn *fn, void *arg, char *err, size_t errlen)
{
	leveldb_iterator_t *it = leveldb_create_iterator(db, ropts);
	char *e = NULL, perr[256];
	uint64_t due, seq;
	unsigned long bad = 0;

	for (leveldb_iter_seek(it, "j/", 2); leveldb_iter_valid(it);
	    leveldb_iter_next(it)) {
		size_t klen, vlen;
		const char *k = leveldb_iter_key(it, &klen);
		const char *v = leveldb_iter_value(it, &vlen);
		char kbuf[KEYLEN + 1];
		jv obj;

		if (klen < 2 || memcmp(k, "j/", 2) != 0)
			break;
		memcpy(kbuf, k, klen < KEYLEN ? klen : KEYLEN);
		kbuf[klen < KEYLEN ? klen : KEYLEN] = '\0';
		obj = klen == KEYLEN ? json_parse_object(v, vlen, perr,
		    sizeof(perr)) : jv_invalid();
		if (klen != KEYLEN || sscanf(kbuf, "j/%16" SCNx64 "/%16" SCNx64,
		    &due, &seq) != 2 || !jv_is_valid(obj) ||
		    job_check(obj, perr, sizeof(perr)) < 0) {
			/* not ours or damaged: kept for a person to look at,
			 * never sent */
			jv_free(obj);
			bad++;
			continue;
		}
		if (seq >= next_seq)
			next_seq = seq + 1;
		fn(arg, due, seq, obj, v, vlen);
	}
	leveldb_iter_get_error(it, &e);
	leveldb_iter_destroy(it);
	if (e != NULL) {
		snprintf(err, errlen, "unable to read the queue: %s", e);
		leveldb_free(e);
		return -1;
	}
	if (bad > 0)
		snprintf(err, errlen, "%lu unreadable job record(s) skipped",
		    bad);
	else if (errlen > 0)
		err[0] = '\0';
	return 0;
}

void
queue_put(uint64_t due, uint64_t seq, const char *val, size_t len)
{
	char k[KEYLEN + 1];

	if (db == NULL)
		return;
	make_key(k, due, seq);
	leveldb_writebatch_put(wb, k, KEYLEN, val, len);
	dirty = 1;
}

void
queue_del(uint64_t due, uint64_t seq)
{
	char k[KEYLEN + 1];

	if (db == NULL)
		return;
	make_key(k, due, seq);
	leveldb_writebatch_delete(wb, k, KEYLEN);
	dirty = 1;
}

int
queue_commit(char *err, size_t errlen)
{
	char *e = NULL;

	if (db == NULL || !dirty)
		return 0;
	leveldb_write(db, wsync, wb, &e);
	leveldb_writebatch_clear(wb);
	dirty = 0;
	commits++;
	if (e != NULL) {
		snprintf(err, errlen, "unable to write the queue: %s", e);
		leveldb_free(e);
		return -1;
	}
	return 0;
}
