/*
 * db: opens LevelDB with the options chat-store always wants and turns
 * LevelDB's error strings into a status and a message a person can act on.
 * paranoid_checks is on by default (conf store_paranoid): with defaults
 * LevelDB silently drops records around corruption in its log, and an
 * acknowledged message must never vanish without a word.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "conf.h"
#include "log.h"
#include "util.h"
#include "db.h"

#define WRITE_BUFFER	((size_t)32 << 20)
#define MAX_FILE	((size_t)8 << 20)

/* The write buffer for a database at path: WRITE_BUFFER, or a quarter of
 * the room on its disk if that is less (at least 1 MiB).  LevelDB keeps a
 * buffer's worth of writes in its log before it writes a table, so on a
 * disk smaller than the buffer the log alone filled it; the store's reopen
 * after ENOSPC then turned that log into a smaller table and freed room on
 * its own (tests/97-disk-full row 10 saw acks while "full" and a slow
 * first ack after room returned, 2 runs of 10, on an 8 MiB tmpfs). */
static size_t
write_buffer(const char *path)
{
	struct statvfs vfs;
	size_t room;

	if (statvfs(path, &vfs) == -1)
		return WRITE_BUFFER;
	room = (size_t)vfs.f_bavail * vfs.f_frsize / 4;
	if (room < ((size_t)1 << 20))
		room = (size_t)1 << 20;
	return room < WRITE_BUFFER ? room : WRITE_BUFFER;
}

const char *
db_path(void)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/db", conf_home());
	return path;
}

leveldb_t *
db_open(const char *path, int create, int paranoid, enum db_status *status,
    char *err, size_t errlen)
{
	leveldb_options_t *o;
	leveldb_t *db;
	char *lerr = NULL;

	if (create && mkdir_p(path, 0700) == -1) {
		*status = DB_ERROR;
		snprintf(err, errlen, "unable to create '%s': %m", path);
		return NULL;
	}
	o = leveldb_options_create();
	leveldb_options_set_create_if_missing(o, create);
	leveldb_options_set_paranoid_checks(o, paranoid);
	/* 32 MiB memtables (LevelDB's default is 4, ours was 8) and 8 MiB
	 * tables (default 2): fewer, larger level-0 tables, so less of
	 * level 1 is rewritten per message by compaction; 300,000 appends
	 * took 42 and 38 us of CPU each at 8 MiB, 29 and 33 at 32
	 * (bench/README.md, Session 6).  Costs up to two memtables of
	 * memory and a longer log to replay at open; bounded on a small
	 * disk (write_buffer). */
	leveldb_options_set_write_buffer_size(o, write_buffer(path));
	leveldb_options_set_max_file_size(o, MAX_FILE);
	/* Snappy per block, unless store_compress is false: it saves about
	 * 2.3 times the disk on chat text for 3-17% of the store's CPU.  A
	 * block records how it was written, so a database written either way
	 * opens and reads under the other. */
	leveldb_options_set_compression(o, conf_bool("store_compress") ?
	    leveldb_snappy_compression : leveldb_no_compression);
	/* A bloom filter per table: msg.append's dedupe lookup misses almost
	 * always, and without one each miss read index and data blocks of
	 * every level (11% of the store's CPU at 10k msg/s).  Tables written
	 * before keep working without one.  Made once: LevelDB keeps the
	 * pointer for as long as a database is open. */
	static leveldb_filterpolicy_t *bloom;
	if (bloom == NULL)
		bloom = leveldb_filterpolicy_create_bloom(10);
	leveldb_options_set_filter_policy(o, bloom);
	db = leveldb_open(o, path, &lerr);
	leveldb_options_destroy(o);
	if (db != NULL) {
		*status = DB_OK;
		return db;
	}
	if (strstr(lerr, "lock ") != NULL || strstr(lerr, "LOCK") != NULL) {
		*status = DB_LOCKED;
		snprintf(err, errlen, "database '%s' is in use by a running "
		    "chat-store", path);
	} else if (strstr(lerr, "Corruption") != NULL) {
		*status = DB_CORRUPT;
		snprintf(err, errlen, "database '%s' is corrupt (%s); restore "
		    "it from an export or repair it before starting", path,
		    lerr);
	} else if (strstr(lerr, "No space left on device") != NULL) {
		*status = DB_FULL;
		snprintf(err, errlen, "unable to open database '%s': %s",
		    path, lerr);
	} else if (strstr(lerr, "does not exist") != NULL) {
		*status = DB_MISSING;
		snprintf(err, errlen, "no database at '%s'", path);
	} else {
		*status = DB_ERROR;
		snprintf(err, errlen, "unable to open database '%s': %s",
		    path, lerr);
	}
	leveldb_free(lerr);
	return NULL;
}

#define ROOM_STEP	(1LL << 20)

static long long full_free = -1;	/* free bytes when a write hit ENOSPC */

long long
db_free_bytes(const char *path)
{
	struct statvfs sv;

	if (statvfs(path, &sv) == -1)
		return -1;
	return (long long)sv.f_bavail * (long long)sv.f_frsize;
}

void
db_note_failure(const char *path, const char *err)
{
	full_free = -1;
	if (err != NULL && strstr(err, "No space left on device") != NULL)
		full_free = db_free_bytes(path);
}

int
db_full(void)
{
	return full_free >= 0;
}

int
db_room_again(const char *path)
{
	long long now;

	if (full_free < 0)
		return 1;
	now = db_free_bytes(path);
	return now < 0 || now >= full_free + ROOM_STEP;
}

int
db_exit_status(enum db_status status)
{
	switch (status) {
	case DB_CORRUPT:
		return EXIT_CORRUPT;
	case DB_MISSING:
		return EXIT_USAGE;
	default:
		return EXIT_TEMP;
	}
}
