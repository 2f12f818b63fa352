/*
 * commit: the worker thread, the hash threads and the queues between them
 * and the loop (see commit.h).
 *
 * A request's path: loop -> [hash: make user.create's hash] -> worker ->
 * [hash: check user.verify's password] -> done queue -> loop.  The loop
 * sends at most one slow op of a connection at a time and nothing after
 * it until it is answered (server.c), so replies keep request order on
 * every connection.
 *
 * Batches: the worker takes everything queued and runs up to BATCH_MAX ops
 * into one transaction.  The sync thread writes it with one sync and
 * releases its replies, while the worker already runs what arrives
 * meanwhile into the next transaction (tx.h: reads see the batch being
 * written); once the sync is done that whole next batch goes to the sync
 * thread.  So the disk is never idle while work waits, and each sync
 * covers everything that arrived during the one before (group commit).
 * With store_group_commit off the worker itself commits after every op
 * that wrote, the baseline the man page's figures compare against.
 * If a commit fails every reply from the batch's first writer on becomes
 * store_unavailable (later ops may have read its writes), so does every
 * op of the batch run behind it (ping and status aside), and LevelDB's
 * sticky error is cleared by reopening the database, at most once a second;
 * after a full disk only once there is room again (db.h), or every 10 s.
 */
#include <crypt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>

#include "id.h"
#include "json.h"
#include "conf.h"
#include "log.h"
#include "db.h"
#include "append.h"
#include "logw.h"
#include "commit.h"

#define BATCH_MAX	2048
#define WAKE_MIN	32
#define HASH_THREADS	2

enum { STAGE_WORK, STAGE_CREATE, STAGE_VERIFY, STAGE_DONE };

struct queue {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	struct store_req *head, *tail;
	int		 stop;
};

static struct queue work_q = { PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_COND_INITIALIZER, NULL, NULL, 0 };
static struct queue hash_q = { PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_COND_INITIALIZER, NULL, NULL, 0 };
static struct queue done_q = { PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_COND_INITIALIZER, NULL, NULL, 0 };

/* A batch: requests run into one transaction, in order. */
struct batch {
	struct store_req *head, *tail;
	struct store_req *fw;		/* its first op that wrote */
	size_t		 n, writes;
};

/* The sync thread's slot, under work_q.mu: busy while it holds a batch,
 * written once that batch's write returned (failed if it failed). */
static struct batch syncing;
static int sync_busy, sync_written, sync_failed, sync_stop;
static size_t work_n;		/* about how many wait in work_q */
static pthread_cond_t sync_cv = PTHREAD_COND_INITIALIZER;

static struct commit_config cfg;
static pthread_t worker_tid, sync_tid, hash_tid[HASH_THREADS];
static struct tx *tx;
static int broken;		/* a write failed: reopen before going on */
static uint64_t last_reopen;
static int op_create = -1, op_verify = -1, idx_ping = -1, idx_status = -1;

/* Appends the list head..tail to q; wakes one taker. */
static void
put_list(struct queue *q, struct store_req *head, struct store_req *tail)
{
	if (head == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	if (q->tail != NULL)
		q->tail->next = head;
	else
		q->head = head;
	q->tail = tail;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

static void
put(struct queue *q, struct store_req *r)
{
	r->next = NULL;
	put_list(q, r, r);
}

/* Waits for work: all of q (all) or its head.  NULL once q is stopped
 * and empty. */
static struct store_req *
take(struct queue *q, int all)
{
	struct store_req *r;

	pthread_mutex_lock(&q->mu);
	while (q->head == NULL && !q->stop)
		pthread_cond_wait(&q->cv, &q->mu);
	r = q->head;
	if (r != NULL) {
		if (all) {
			q->head = q->tail = NULL;
		} else {
			q->head = r->next;
			if (q->head == NULL)
				q->tail = NULL;
			r->next = NULL;
		}
	}
	pthread_mutex_unlock(&q->mu);
	return r;
}

void
commit_set_error(struct store_req *r, const char *code, const char *msg)
{
	free(r->reply);
	r->reply = json_dump(json_error(jv_copy(r->id), code, msg),
	    &r->replylen);
	logw_free(r->log);	/* nothing of the op was stored */
	r->log = NULL;
}

void
commit_req_free(struct store_req *r)
{
	jv_free(r->req);
	jv_free(r->id);
	free(r->reply);
	free(r->hash);
	append_args_free(r->fast);
	logw_free(r->log);
	free(r);
}

static void
done(struct store_req *head, struct store_req *tail)
{
	if (head == NULL)
		return;
	put_list(&done_q, head, tail);
	cfg.wake(cfg.arg);
}

/* Runs one op into the transaction; sets r->reply. */
static void
run(struct store_req *r)
{
	struct op_ctx c;
	jv out;

	if (r->op < 0)
		return;
	memset(&c, 0, sizeof(c));
	c.tx = tx;
	c.req = r->req;
	c.now = now_ms();
	c.stats = cfg.stats;
	c.hash = r->hash;
	r->hash = NULL;
	__atomic_add_fetch(&cfg.stats->ops, 1, __ATOMIC_RELAXED);
	if (r->fast != NULL && !broken) {
		if (op_msg_append_fast(&c, r->fast, &r->reply,
		    &r->replylen) == -1) {
			__atomic_add_fetch(&cfg.stats->errors, 1,
			    __ATOMIC_RELAXED);
			commit_set_error(r, c.code ? c.code :
			    "store_unavailable", c.msg);
		}
		return;
	}
	/* with the log on, an op that writes keys other than a message's
	 * records them for it (logw.h) */
	int logged = logw_conf.on && (ops_flags(r->op) & OP_LOG);
	if (broken && r->op != idx_ping && r->op != idx_status)
		out = op_fail(&c, "store_unavailable", "the database failed a "
		    "write and is being reopened");
	else {
		if (logged)
			tx_capture(tx, 1);
		out = ops_run(r->op, &c);
	}
	if (logged) {
		size_t nw;
		const struct tx_write *w = tx_captured(tx, &nw);
		if (jv_is_valid(out))
			r->log = logw_build(w, nw);
		tx_capture(tx, 0);
		logw_keep(tx, r->log);	/* in the op's own batch */
	}
	if (jv_is_valid(out)) {
		r->reply = json_dump(jv_object_merge(json_ok(jv_copy(r->id)),
		    out), &r->replylen);
		r->hash = c.hash;	/* user.verify: checked on the way */
	} else {
		jv_free(out);
		__atomic_add_fetch(&cfg.stats->errors, 1, __ATOMIC_RELAXED);
		commit_set_error(r, c.code ? c.code : "store_unavailable",
		    c.msg);
		free(c.hash);
	}
}

static void
try_reopen(void)
{
	char err[1024];
	enum db_status st;
	uint64_t now = now_ms();
	int room;

	/* On a disk still full the open would fail after a whole recovery,
	 * with every request waiting: wait for room (then at once), or 10 s.
	 * Any other error: once a second. */
	if (!(db_full() && db_room_again(cfg.path)) &&
	    now - last_reopen < (db_full() ? 10000 : 1000))
		return;
	last_reopen = now;
	room = db_room_again(cfg.path);
	if (cfg.db != NULL)
		leveldb_close(cfg.db);	/* releases its LOCK for the reopen */
	cfg.db = db_open(cfg.path, 1, cfg.paranoid, &st, err, sizeof(err));
	tx_set_db(tx, cfg.db);
	if (cfg.db == NULL) {
		/* Room that came while this open ran (the 10 s try racing a
		 * remount) is not the level the disk is full at: keep the
		 * one noted before, and the next turn tries again at once
		 * (row 10 waited 10 s more with 56 MiB free). */
		if (room || !db_full() || !db_room_again(cfg.path))
			db_note_failure(cfg.path, err);
		log_warnx("reopen failed, trying again %s (%lld KiB free): %s",
		    db_room_again(cfg.path) ? "in a second" :
		    "once there is room (or in 10 s)",
		    db_free_bytes(cfg.path) / 1024, err);
		return;
	}
	db_note_failure(cfg.path, NULL);
	broken = 0;
	log_info("database reopened after a write error");
}

static uint64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void release(struct batch *b);

/* Commits the batch head..tail and releases its replies (worker_serial). */
static void
flush(struct store_req *head, struct store_req *tail,
    struct store_req *first_writer, size_t n)
{
	struct store_req *r;
	struct batch b = { NULL, NULL, NULL, 0, 0 };
	size_t writes = tx_pending(tx);
	int failed = 0;

	if (writes > 0) {
		/* the time a batch waits for its write and sync: the floor
		 * of the ack latency, and the disk's, not ours */
		uint64_t t0 = mono_us(), us;
		failed = tx_commit(tx, cfg.sync) == -1;
		us = mono_us() - t0;
		__atomic_add_fetch(&cfg.stats->commit_us, us, __ATOMIC_RELAXED);
		if (us > cfg.stats->max_commit_us)
			__atomic_store_n(&cfg.stats->max_commit_us, us,
			    __ATOMIC_RELAXED);
		__atomic_add_fetch(&cfg.stats->batches, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&cfg.stats->writes, writes,
		    __ATOMIC_RELAXED);
		if (cfg.sync)
			__atomic_add_fetch(&cfg.stats->syncs, 1,
			    __ATOMIC_RELAXED);
		if (n > cfg.stats->max_batch)
			__atomic_store_n(&cfg.stats->max_batch, n,
			    __ATOMIC_RELAXED);
	}
	if (failed) {
		log_warnx("write of a batch of %zu ops failed: %s", n,
		    tx_error(tx));
		db_note_failure(cfg.path, tx_error(tx));
		broken = 1;
		append_forget_users();
		for (r = first_writer; r != NULL; r = r->next) {
			__atomic_add_fetch(&cfg.stats->errors, 1,
			    __ATOMIC_RELAXED);
			commit_set_error(r, "store_unavailable", "the write "
			    "failed; nothing of this op was stored");
			free(r->hash);
			r->hash = NULL;
			if (r == tail)
				break;
		}
	}
	b.head = head;
	b.tail = tail;
	release(&b);
}

/* store_group_commit off: one commit per op that wrote, by the worker. */
static void
worker_serial(struct store_req *list)
{
	struct store_req *r;
	size_t before;

	while (list != NULL) {
		r = list;
		list = r->next;
		r->next = NULL;
		before = tx_pending(tx);
		run(r);
		flush(r, r, tx_pending(tx) > before ? r : NULL, 1);
	}
}

/* Releases b's replies, in order (user.verify's via a hash thread). */
static void
release(struct batch *b)
{
	struct store_req *r, *next, *dh = NULL, *dt = NULL;

	for (r = b->head; r != NULL; r = next) {
		next = r == b->tail ? NULL : r->next;
		r->next = NULL;
		if (r->op == op_verify && r->hash != NULL) {
			r->stage = STAGE_VERIFY;
			put(&hash_q, r);
			continue;
		}
		r->stage = STAGE_DONE;
		if (dt != NULL)
			dt->next = r;
		else
			dh = r;
		dt = r;
	}
	done(dh, dt);
	memset(b, 0, sizeof(*b));
}

/* Every reply of b from r on becomes store_unavailable. */
static void
fail_from(struct batch *b, struct store_req *r, int keep_ping)
{
	for (; r != NULL; r = r == b->tail ? NULL : r->next) {
		if (r->op < 0 || (keep_ping && (r->op == idx_ping ||
		    r->op == idx_status)))
			continue;
		__atomic_add_fetch(&cfg.stats->errors, 1, __ATOMIC_RELAXED);
		commit_set_error(r, "store_unavailable", "the write failed; "
		    "nothing of this op was stored");
		free(r->hash);
		r->hash = NULL;
	}
}

/* The sync thread: writes each sealed batch with one sync, releases its
 * replies if that worked, and tells the worker. */
static void *
syncer(void *arg)
{
	struct batch b;
	uint64_t t0, us;
	int failed;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&work_q.mu);
		while ((!sync_busy || sync_written) && !sync_stop)
			pthread_cond_wait(&sync_cv, &work_q.mu);
		if (!sync_busy || sync_written) {
			pthread_mutex_unlock(&work_q.mu);
			return NULL;
		}
		b = syncing;
		pthread_mutex_unlock(&work_q.mu);

		t0 = mono_us();
		failed = tx_write_sealed(tx, cfg.sync) == -1;
		us = mono_us() - t0;
		__atomic_add_fetch(&cfg.stats->commit_us, us, __ATOMIC_RELAXED);
		if (us > cfg.stats->max_commit_us)
			__atomic_store_n(&cfg.stats->max_commit_us, us,
			    __ATOMIC_RELAXED);
		__atomic_add_fetch(&cfg.stats->batches, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&cfg.stats->writes, b.writes,
		    __ATOMIC_RELAXED);
		if (cfg.sync)
			__atomic_add_fetch(&cfg.stats->syncs, 1,
			    __ATOMIC_RELAXED);
		if (b.n > cfg.stats->max_batch)
			__atomic_store_n(&cfg.stats->max_batch, b.n,
			    __ATOMIC_RELAXED);
		if (!failed)
			release(&b);	/* the worker waits for sync_written */

		pthread_mutex_lock(&work_q.mu);
		sync_written = 1;
		sync_failed = failed;
		pthread_cond_signal(&work_q.cv);
		pthread_mutex_unlock(&work_q.mu);
	}
}

/* The sync thread is done with its batch: forget its overlay; if its
 * write failed, fail it and everything run behind it (cur), which may
 * have read its writes. */
static void
synced(struct batch *cur)
{
	tx_drop_sealed(tx);
	if (!sync_failed)
		return;
	log_warnx("write of a batch of %zu ops failed: %s", syncing.n,
	    tx_sealed_error(tx));
	db_note_failure(cfg.path, tx_sealed_error(tx));
	broken = 1;
	append_forget_users();
	fail_from(&syncing, syncing.fw, 0);
	release(&syncing);
	tx_discard(tx);
	fail_from(cur, cur->head, 1);
	release(cur);
}

/* Hands cur to the sync thread (work_q.mu held), or releases it at once
 * if it wrote nothing: nothing it read is unwritten any more. */
static void
submit(struct batch *cur)
{
	if (cur->writes == 0) {
		release(cur);
		return;
	}
	tx_seal(tx);
	syncing = *cur;
	sync_busy = 1;
	sync_written = 0;
	memset(cur, 0, sizeof(*cur));
	pthread_cond_signal(&sync_cv);
}

/* Runs list into cur, at most BATCH_MAX ops; returns what is left. */
static struct store_req *
run_into(struct batch *cur, struct store_req *list)
{
	struct store_req *r;
	size_t before;

	while (list != NULL && cur->n < BATCH_MAX) {
		r = list;
		list = r->next;
		r->next = NULL;
		before = tx_pending(tx);
		run(r);
		if (tx_pending(tx) > before && cur->fw == NULL)
			cur->fw = r;
		if (cur->tail != NULL)
			cur->tail->next = r;
		else
			cur->head = r;
		cur->tail = r;
		cur->n++;
	}
	cur->writes = tx_pending(tx);
	return list;
}

static void *
worker(void *arg)
{
	struct batch cur;
	struct store_req *list, *rest, *last;
	int written;

	(void)arg;
	memset(&cur, 0, sizeof(cur));
	for (;;) {
		pthread_mutex_lock(&work_q.mu);
		for (;;) {
			if (sync_busy && sync_written)
				break;
			if (work_q.head != NULL && cur.n < BATCH_MAX)
				break;
			if (!sync_busy && cur.n > 0)
				break;
			if (work_q.stop && work_q.head == NULL && !sync_busy)
				break;
			pthread_cond_wait(&work_q.cv, &work_q.mu);
		}
		if (work_q.stop && work_q.head == NULL && !sync_busy &&
		    cur.n == 0) {
			pthread_mutex_unlock(&work_q.mu);
			return NULL;
		}
		list = NULL;
		if (cur.n < BATCH_MAX) {
			list = work_q.head;
			work_q.head = work_q.tail = NULL;
			work_n = 0;
		}
		written = sync_busy && sync_written;
		pthread_mutex_unlock(&work_q.mu);

		if (written)
			synced(&cur);
		if (broken && !sync_busy)
			try_reopen();
		if (!cfg.group) {
			worker_serial(list);
			continue;
		}
		rest = run_into(&cur, list);

		pthread_mutex_lock(&work_q.mu);
		if (written)
			sync_busy = 0;
		if (rest != NULL) {	/* a full batch: the rest waits */
			for (last = rest; last->next != NULL; last = last->next)
				;
			last->next = work_q.head;
			if (work_q.head == NULL)
				work_q.tail = last;
			work_q.head = rest;
		}
		if (!sync_busy && cur.n > 0)
			submit(&cur);
		pthread_mutex_unlock(&work_q.mu);
	}
}

static void
hash_create(struct store_req *r, struct crypt_data *cd)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	const char *pw, *h;
	size_t len;

	pw = json_str(r->req, "password", &len);
	if (!store_password_ok(pw, len))
		return;		/* the op says what is wrong with it */
	long long cost = conf_int("password_cost");
	if (cost < 1 || cost > 11)
		cost = 5;	/* libxcrypt's default; main.c refuses a bad value */
	if (crypt_gensalt_rn("$y$", (unsigned long)cost, NULL, 0, salt,
	    sizeof(salt)) == NULL)
		return;
	h = crypt_rn(pw, salt, cd, sizeof(*cd));
	if (h != NULL && h[0] == '$')
		r->hash = strdup(h);
}

static void
hash_verify(struct store_req *r, struct crypt_data *cd)
{
	const char *pw, *h;
	size_t len, hl = strlen(r->hash);

	pw = json_str(r->req, "password", &len);
	h = pw != NULL ? crypt_rn(pw, r->hash, cd, sizeof(*cd)) : NULL;
	if (h == NULL || strlen(h) != hl || CRYPTO_memcmp(h, r->hash, hl) != 0)
		commit_set_error(r, "unauthorized", "wrong user or password");
	free(r->hash);
	r->hash = NULL;
}

static void *
hasher(void *arg)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	struct store_req *r;

	(void)arg;
	if (cd == NULL)
		abort();
	while ((r = take(&hash_q, 0)) != NULL) {
		__atomic_add_fetch(&cfg.stats->hashes, 1, __ATOMIC_RELAXED);
		if (r->stage == STAGE_CREATE) {
			hash_create(r, cd);
			r->stage = STAGE_WORK;
			put(&work_q, r);
		} else {
			hash_verify(r, cd);
			r->stage = STAGE_DONE;
			r->next = NULL;
			done(r, r);
		}
	}
	free(cd);
	return NULL;
}

int
commit_start(const struct commit_config *c, char *err, size_t errlen)
{
	sigset_t all, old;
	int i, r = 0;

	cfg = *c;
	op_create = ops_find("user.create", 11);
	op_verify = ops_find("user.verify", 11);
	idx_ping = ops_find("ping", 4);
	idx_status = ops_find("status", 6);
	tx = tx_new(cfg.db);
	broken = cfg.db == NULL;	/* started degraded: open it on demand */
	/* signals belong to the loop's thread: the threads start blocking them */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&worker_tid, NULL, worker, NULL) != 0 ||
	    pthread_create(&sync_tid, NULL, syncer, NULL) != 0) {
		snprintf(err, errlen, "unable to start the worker threads");
		r = -1;
	}
	for (i = 0; i < HASH_THREADS && r == 0; i++)
		if (pthread_create(&hash_tid[i], NULL, hasher, NULL) != 0) {
			snprintf(err, errlen, "unable to start a hash thread");
			r = -1;
		}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

/* What the loop handed over since it last flushed (loop thread only). */
static struct store_req *sub_head, *sub_tail;
static size_t sub_n;

void
commit_submit(struct store_req *r)
{
	if (r->op == op_create && r->op >= 0) {
		r->stage = STAGE_CREATE;
		put(&hash_q, r);
		return;
	}
	r->stage = STAGE_WORK;
	r->next = NULL;
	if (sub_tail != NULL)
		sub_tail->next = r;
	else
		sub_head = r;
	sub_tail = r;
	sub_n++;
}

/*
 * While a sync runs, the worker is woken only once WAKE_MIN requests wait
 * (or by the sync's end): a wake a loop turn cost chat-store a tenth of
 * its CPU in futex calls and context switches, and running a few ops
 * early gains little against a sync of milliseconds.
 */
void
commit_flush(void)
{
	if (sub_head == NULL)
		return;
	pthread_mutex_lock(&work_q.mu);
	if (work_q.tail != NULL)
		work_q.tail->next = sub_head;
	else
		work_q.head = sub_head;
	work_q.tail = sub_tail;
	work_n += sub_n;
	if (!sync_busy || work_n >= WAKE_MIN)
		pthread_cond_signal(&work_q.cv);
	pthread_mutex_unlock(&work_q.mu);
	sub_head = sub_tail = NULL;
	sub_n = 0;
}

struct store_req *
commit_take_done(void)
{
	struct store_req *r;

	pthread_mutex_lock(&done_q.mu);
	r = done_q.head;
	done_q.head = done_q.tail = NULL;
	pthread_mutex_unlock(&done_q.mu);
	return r;
}

static void
stop_queue(struct queue *q)
{
	pthread_mutex_lock(&q->mu);
	q->stop = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

leveldb_t *
commit_stop(void)
{
	struct store_req *r;
	int i;

	/* the hashers first: what they hold still goes to the worker */
	stop_queue(&hash_q);
	for (i = 0; i < HASH_THREADS; i++)
		pthread_join(hash_tid[i], NULL);
	stop_queue(&work_q);
	pthread_join(worker_tid, NULL);
	pthread_mutex_lock(&work_q.mu);
	sync_stop = 1;
	pthread_cond_signal(&sync_cv);
	pthread_mutex_unlock(&work_q.mu);
	pthread_join(sync_tid, NULL);
	/* verifies the worker passed on after the hashers stopped */
	while ((r = take(&hash_q, 0)) != NULL) {
		commit_set_error(r, "store_unavailable", "chat-store is "
		    "stopping");
		done(r, r);
	}
	tx_free(tx);
	return cfg.db;
}
