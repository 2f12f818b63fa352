/*
 * commit: group commit.  One worker thread owns the database: it takes
 * every request queued since it last looked, runs each op in order against
 * one batch transaction (tx.h), writes the batch with one sync, and only
 * then hands the replies back to the event loop, in request order.  The
 * loop never touches LevelDB, so it never waits on fsync.
 *
 * Password hashing (yescrypt, ~50 ms) runs on two more threads so it never
 * holds up a batch: user.create is hashed before the worker sees it, and
 * user.verify is checked after its batch, on the way back to the loop.
 */
#ifndef STORE_COMMIT_H
#define STORE_COMMIT_H

#include <stddef.h>
#include <jv.h>
#include <leveldb/c.h>

#include "ops.h"

struct store_conn;
struct append_args;
struct logw_entry;

/* One request on its way through the threads.  Made and freed by the
 * loop; owned by whichever thread holds it. */
struct store_req {
	struct store_req	*next;
	struct store_conn	*conn;	/* the loop's; never touched elsewhere */
	int			 op;	/* table index, -1 if reply is made */
	jv			 req;	/* the parsed request (owned) */
	jv			 id;	/* its "id", repeated in the reply */
	char			*reply;	/* the reply line, malloc'd */
	size_t			 replylen;
	char			*hash;	/* see struct op_ctx */
	struct append_args	*fast;	/* msg.append read without jv */
	int			 stage;	/* where it goes next (commit.c) */
	struct logw_entry	*log;	/* its writes for the log (logw.h) */
	int			 log_wait; /* entries not yet in the stream */
	int			 held;	/* its reply waits for them */
};

struct commit_config {
	leveldb_t	*db;		/* NULL: start degraded, open on demand */
	const char	*path;		/* for a reopen after a write error */
	int		 paranoid;
	int		 sync;		/* conf store_sync */
	int		 group;		/* conf store_group_commit */
	struct store_stats *stats;
	/* Called from any thread when replies are ready (ev_async_send). */
	void		(*wake)(void *arg);
	void		*arg;
};

/* Starts the worker and hash threads.  0, or -1 with err. */
int commit_start(const struct commit_config *cfg, char *err, size_t errlen);
/* Hands r over (from the loop): to the hash threads, or to the worker at
 * the next commit_flush. */
void commit_submit(struct store_req *r);
/* Wakes the worker once for everything submitted since the last flush:
 * the loop calls it before it blocks, not once a request. */
void commit_flush(void);
/* The finished requests, oldest first, taken from the threads (loop). */
struct store_req *commit_take_done(void);
/* Lets the threads finish what they hold, joins them; returns the db
 * handle the worker ended with (it may have reopened it). */
leveldb_t *commit_stop(void);

/* Sets r->reply to an error reply for r->id (and drops r->log). */
void commit_set_error(struct store_req *r, const char *code,
    const char *msg);
/* Frees r and what it holds. */
void commit_req_free(struct store_req *r);

#endif
