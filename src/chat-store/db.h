/*
 * db: opening chat-store's LevelDB database, and telling the reasons a
 * open fails apart: another chat-store holds it (LevelDB's LOCK file), the
 * data is corrupt (paranoid_checks found it), or anything else.
 */
#ifndef STORE_DB_H
#define STORE_DB_H

#include <stddef.h>
#include <leveldb/c.h>

enum db_status {
	DB_OK,
	DB_MISSING,	/* no database there and create was 0 */
	DB_LOCKED,	/* in use by a running chat-store */
	DB_CORRUPT,	/* paranoid checks refused it */
	DB_FULL,	/* no space left on the device (recovery writes) */
	DB_ERROR	/* I/O and everything else */
};

/* $CHAT_HOME/db, in static storage. */
const char *db_path(void);

/*
 * Opens the database at path, creating it (and its parents) if create.
 * paranoid sets LevelDB's paranoid_checks.  Returns the handle, or NULL with
 * *status set and a complete message in err ("database 'var/db' is in use
 * by a running chat-store").  Never waits for a lock.
 */
leveldb_t *db_open(const char *path, int create, int paranoid,
    enum db_status *status, char *err, size_t errlen);

/*
 * A full disk: an open there fails only after a whole recovery (LevelDB
 * replays its log and writes it out as a table), so retrying it every
 * second keeps the thread that owns the database busy for nothing.
 * db_note_failure(path, err) remembers the free space of path's
 * filesystem if err says the disk is full (and forgets it otherwise);
 * db_room_again(path) is 1 unless such a failure is remembered and the free
 * space has not grown by 1 MiB since.
 */
void db_note_failure(const char *path, const char *err);
/* 1 while a failure for a full disk is remembered. */
int db_full(void);
/* Free bytes (for an unprivileged user) on path's filesystem, or -1. */
long long db_free_bytes(const char *path);
int db_room_again(const char *path);

/* The exit status that fits a failed open: EXIT_TEMP for a lock, a full
 * disk or an I/O error, EXIT_CORRUPT for corruption, EXIT_USAGE for a missing db. */
int db_exit_status(enum db_status status);

#endif
