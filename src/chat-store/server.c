/*
 * server: chat-store's event loop (see server.h).
 *
 * The loop only parses and routes.  A request that cannot be run (not
 * JSON, no "op", an unknown op) gets its error reply made here but still
 * travels through the worker, so even errors come back in request order.
 * Per connection, the loop keeps a backlog: a slow op (OP_SLOW: password
 * hashing) is handed over only when nothing of that connection is in
 * flight, and nothing after it until it is answered.  That keeps every
 * connection's replies in order, and its own user.create visible to its
 * next request, while the hashing never holds up anyone else.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ev.h>

#include "conf.h"
#include "ipc.h"
#include "json.h"
#include "log.h"
#include "util.h"
#include "db.h"
#include "append.h"
#include "commit.h"
#include "logw.h"
#include "outbox.h"
#include "feed.h"
#include "server.h"

struct store_conn {
	struct ipc_conn		*ipc;	/* NULL once closed */
	int			 inflight;
	int			 blocked;
	struct store_req	*bl_head, *bl_tail;
	/* finished requests whose replies go out in order: one held for
	 * the log (outbox.h) holds back those behind it */
	struct store_req	*rq_head, *rq_tail;
	int			 queued;
};

static struct ev_loop *loop;
static ev_async wake_w;
static ev_prepare flush_w;
static ev_signal term_w, int_w;
static struct ipc_server *srv;
static struct store_stats stats;
static int stopping;		/* the loop has ended: send nothing more */
struct store_limits store_limits;
static int op_append = -1;
static struct store_conn internal;	/* the store's own requests */

static int
is_slow(struct store_req *r)
{
	return r->op >= 0 && (ops_flags(r->op) & OP_SLOW);
}

static void
pump(struct store_conn *sc)
{
	struct store_req *r;

	while ((r = sc->bl_head) != NULL && !sc->blocked) {
		if (is_slow(r) && sc->inflight > 0)
			break;
		sc->bl_head = r->next;
		if (sc->bl_head == NULL)
			sc->bl_tail = NULL;
		r->next = NULL;
		sc->inflight++;
		if (is_slow(r))
			sc->blocked = 1;
		commit_submit(r);
	}
}

/* r joins its connection's backlog, and what may go goes. */
static void
queue(struct store_conn *sc, struct store_req *r)
{
	if (sc->bl_tail != NULL)
		sc->bl_tail->next = r;
	else
		sc->bl_head = r;
	sc->bl_tail = r;
	pump(sc);
}

/* The ops of the log's follower (outbox.h) and of the route shards'
 * feeds (feed.h), answered on the loop: 1 if op was one. */
static int
log_op(struct ipc_conn *c, jv o, const char *op, size_t oplen)
{
	int64_t seq;

	if (oplen == 10 && memcmp(op, "log.follow", 10) == 0) {
		outbox_follow(c, json_has(o, "id") ? jv_object_get(jv_copy(o),
		    jv_string("id")) : jv_null());
		jv_free(o);
		return 1;
	}
	if (oplen == 11 && memcmp(op, "feed.follow", 11) == 0) {
		feed_follow(c, o, json_has(o, "id") ? jv_object_get(jv_copy(o),
		    jv_string("id")) : jv_null());
		return 1;
	}
	if (oplen == 7 && memcmp(op, "log.ack", 7) == 0) {
		if (json_int(o, "seq", &seq) == 1 && seq > 0)
			outbox_ack((uint64_t)seq);	/* no reply */
		jv_free(o);
		return 1;
	}
	return 0;
}

static void
on_line(struct ipc_conn *c, const char *line, size_t len)
{
	struct store_conn *sc = ipc_conn_data(c);
	struct store_req *r;
	char err[256];
	const char *op = NULL;
	size_t oplen;
	jv o;

	__atomic_store_n(&stats.overlong,
	    ipc_server_overlong(ipc_conn_server(c)), __ATOMIC_RELAXED);
	__atomic_store_n(&stats.torn,
	    ipc_server_torn(ipc_conn_server(c)), __ATOMIC_RELAXED);
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		log_warn("dropping a request from %s", ipc_conn_name(c));
		return;
	}
	r->conn = sc;
	r->req = jv_invalid();
	r->id = jv_null();
	r->op = -1;
	if (append_args_parse(line, len, &r->fast)) {
		/* msg.append, read without jq (append.h) */
		if (op_append < 0)
			op_append = ops_find("msg.append", 10);
		r->op = op_append;
		r->id = jv_number((double)r->fast->reqid);
		queue(sc, r);
		return;
	}
	o = json_parse_object(line, len, err, sizeof(err));
	if (!jv_is_valid(o)) {
		jv_free(o);
		log_warnx("%s: bad request: %s", ipc_conn_name(c), err);
		commit_set_error(r, "bad_request", err);
	} else {
		if (json_has(o, "id")) {
			jv_free(r->id);
			r->id = jv_object_get(jv_copy(o), jv_string("id"));
		}
		op = json_str(o, "op", &oplen);
		if (op != NULL && log_op(c, o, op, oplen)) {
			commit_req_free(r);
			return;
		}
		if (op == NULL) {
			commit_set_error(r, "bad_request", json_has(o, "op") ?
			    "field 'op' must be a string" :
			    "missing field 'op'");
		} else if ((r->op = ops_find(op, oplen)) < 0) {
			snprintf(err, sizeof(err), "unknown op '%.64s'", op);
			commit_set_error(r, "unknown_op", err);
		}
		r->req = o;
	}
	if (r->op < 0) {
		__atomic_add_fetch(&stats.errors, 1, __ATOMIC_RELAXED);
		if (jv_is_valid(r->req))
			log_warnx("%s: bad request: %s", ipc_conn_name(c),
			    op == NULL ? "no 'op'" : err);
	}
	queue(sc, r);
}

static void
on_open(struct ipc_conn *c)
{
	struct store_conn *sc = calloc(1, sizeof(*sc));

	if (sc == NULL) {
		log_warn("refusing %s", ipc_conn_name(c));
		ipc_close(c);
		return;
	}
	sc->ipc = c;
	ipc_conn_set_data(c, sc);
	__atomic_add_fetch(&stats.conns, 1, __ATOMIC_RELAXED);
}

static void
on_close(struct ipc_conn *c)
{
	struct store_conn *sc = ipc_conn_data(c);
	struct store_req *r;

	if (sc == NULL)
		return;
	while ((r = sc->bl_head) != NULL) {
		sc->bl_head = r->next;
		commit_req_free(r);
	}
	sc->bl_tail = NULL;
	sc->ipc = NULL;
	outbox_conn_closed(c);
	feed_conn_closed(c);
	__atomic_sub_fetch(&stats.conns, 1, __ATOMIC_RELAXED);
	if (sc->inflight == 0 && sc->queued == 0)
		free(sc);
}

/* Sends sc's finished replies up to the first still held; frees sc once
 * it is closed and owes nothing. */
static void
send_ready(struct store_conn *sc)
{
	struct store_req *r;

	while ((r = sc->rq_head) != NULL && !r->held) {
		if ((sc->rq_head = r->next) == NULL)
			sc->rq_tail = NULL;
		sc->queued--;
		if (sc->ipc != NULL && !stopping && r->reply != NULL)
			ipc_send(sc->ipc, r->reply, r->replylen);
		commit_req_free(r);
	}
	if (sc->ipc == NULL && sc->inflight == 0 && sc->queued == 0)
		free(sc);
}

void
store_reply_ready(struct store_req *r)
{
	send_ready(r->conn);
}

void
store_submit_internal(jv req)
{
	struct store_req *r = calloc(1, sizeof(*r));
	const char *op = json_str(req, "op", NULL);

	if (r == NULL || stopping || (r->op = ops_find(op, strlen(op))) < 0) {
		free(r);
		jv_free(req);
		outbox_trimmed(0, -1);	/* tried again on the next ack */
		return;
	}
	r->conn = &internal;
	r->req = req;
	r->id = jv_null();
	commit_submit(r);
}

static void
on_wake(struct ev_loop *l, ev_async *w, int revents)
{
	struct store_req *r, *next;
	struct store_conn *sc;

	(void)l;
	(void)w;
	(void)revents;
	for (r = commit_take_done(); r != NULL; r = next) {
		next = r->next;
		sc = r->conn;
		if (sc == &internal) {		/* a log.trim */
			int64_t below = 0;
			json_int(r->req, "below", &below);
			outbox_trimmed((uint64_t)below, r->reply == NULL ||
			    strstr(r->reply, "\"ok\":true") == NULL ? -1 :
			    strstr(r->reply, "\"more\":false") == NULL);
			commit_req_free(r);
			continue;
		}
		feed_done(r);		/* route shards: in commit order */
		sc->inflight--;
		if (is_slow(r))
			sc->blocked = 0;
		r->next = NULL;
		if (r->log != NULL)
			outbox_take(r);		/* may hold the reply */
		if (sc->rq_tail != NULL)
			sc->rq_tail->next = r;
		else
			sc->rq_head = r;
		sc->rq_tail = r;
		sc->queued++;
		if (sc->ipc != NULL && !stopping)
			pump(sc);
		send_ready(sc);
	}
}

/* Before the loop blocks: what this turn read goes to the worker at once. */
static void
on_prepare(struct ev_loop *l, ev_prepare *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
	commit_flush();
}

static void
wake(void *arg)
{
	(void)arg;
	ev_async_send(loop, &wake_w);
}

static void
on_signal(struct ev_loop *l, ev_signal *w, int revents)
{
	(void)revents;
	log_info("stopping on signal %d", w->signum);
	ev_break(l, EVBREAK_ALL);
}

static const struct ipc_handlers handlers = { on_line, on_open, on_close };

int
store_serve(void)
{
	struct commit_config cc;
	char err[1024], path[4096];
	enum db_status st;
	leveldb_t *db;
	long long maxline;

	store_limits.group_max_members = conf_int("group_max_members");
	store_limits.max_message = conf_int("max_message");
	store_limits.node_id = conf_int("node_id");
	maxline = conf_int("ipc_max_line");
	if (store_limits.group_max_members < 1 || store_limits.max_message < 1
	    || store_limits.node_id < 0 || store_limits.node_id > 1023 ||
	    maxline < 1024)
		fatalx(EXIT_USAGE, "bad group_max_members, max_message, "
		    "node_id or ipc_max_line in the configuration");
	db = db_open(db_path(), 1, conf_bool("store_paranoid"), &st, err,
	    sizeof(err));
	/* A full disk is not fixed by exiting: serve degraded, every op
	 * refused with store_unavailable, and let commit.c open it again
	 * once there is room (RELIABILITY.md row 10). */
	if (db == NULL && st != DB_FULL)
		fatalx(db_exit_status(st), "%s", err);
	if (db == NULL)
		db_note_failure(db_path(), err);
	if (db == NULL)
		log_warnx("%s: serving degraded, store_unavailable to every op "
		    "until it opens", err);

	signal(SIGPIPE, SIG_IGN);
	loop = EV_DEFAULT;
	ev_async_init(&wake_w, on_wake);
	ev_async_start(loop, &wake_w);
	ev_prepare_init(&flush_w, on_prepare);
	ev_prepare_start(loop, &flush_w);
	memset(&cc, 0, sizeof(cc));
	cc.db = db;
	cc.path = db_path();
	cc.paranoid = conf_bool("store_paranoid");
	cc.sync = conf_bool("store_sync");
	cc.group = conf_bool("store_group_commit");
	cc.stats = &stats;
	cc.wake = wake;
	if (logw_init(db != NULL ? db_path() : NULL, err, sizeof(err)) == -1)
		fatalx(EXIT_USAGE, "%s", err);
	outbox_init(loop, &stats);
	if (logw_conf.on)
		logw_load(db, outbox_restore);
	if (logw_conf.on)
		log_info("log of writes on: origin %s, %u shards; answers "
		    "wait for chat-log once it follows", logw_conf.origin,
		    logw_conf.nshards);
	if (commit_start(&cc, err, sizeof(err)) == -1)
		fatalx(EXIT_TEMP, "%s", err);

	if (mkdir_p(conf_run(), 0700) == -1)
		fatal(EXIT_TEMP, "unable to create '%s'", conf_run());
	conf_sock_path("store", path, sizeof(path));
	srv = ipc_listen(loop, path, (size_t)maxline, &handlers, NULL, err,
	    sizeof(err));
	if (srv == NULL)
		fatalx(EXIT_TEMP, "%s", err);
	ev_signal_init(&term_w, on_signal, SIGTERM);
	ev_signal_start(loop, &term_w);
	ev_signal_init(&int_w, on_signal, SIGINT);
	ev_signal_start(loop, &int_w);
	log_info("listening on '%s', database '%s' (sync %s, group commit "
	    "%s)", path, db_path(), cc.sync ? "on" : "off",
	    cc.group ? "on" : "off");
	notify_ready();
	ev_run(loop, 0);

	stopping = 1;
	commit_flush();
	ipc_server_close(srv);
	db = commit_stop();
	on_wake(loop, &wake_w, 0);	/* frees what finished meanwhile */
	outbox_stop();			/* and what waited for the log */
	if (db != NULL)
		leveldb_close(db);
	log_info("stopped");
	return 0;
}
