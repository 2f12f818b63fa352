/*
 * ops: chat-push's socket, $CHAT_RUN/push.sock.  One table of ops, one
 * dispatcher.  push.enqueue is answered only after its job is synced: the
 * handler stores the job in the queue's pending batch and parks the reply;
 * a high-priority ev_prepare (it runs before lib/ipc's flush, in the same
 * loop iteration) commits the batch with one fsync and then answers every
 * parked request and hands the jobs to the scheduler.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "conf.h"
#include "id.h"
#include "ipc.h"
#include "json.h"
#include "log.h"
#include "util.h"
#include "push.h"

struct parked {
	struct ipc_conn	*conn;		/* NULL once the peer went away */
	jv		 id;
	struct job	*job;
};

static struct ipc_server *server;
static ev_prepare	 committer;
static struct parked	*parked;
static size_t		 nparked, capparked;
static unsigned long	 bad_requests, commit_errors;

typedef jv op_fn(jv req, jv id, struct ipc_conn *c);

#define OPS \
	X("ping",		op_ping) \
	X("status",		op_status) \
	X("push.enqueue",	op_enqueue) \
	X("push.cancel",	op_cancel) \
	X("push.status",	op_push_status)

#define X(name, fn) static op_fn fn;
OPS
#undef X

static const struct { const char *name; op_fn *fn; } ops[] = {
#define X(name, fn) { name, fn },
	OPS
#undef X
};

/* Replies are returned; jv_null() means "parked, answered later". */

static jv
op_ping(jv req, jv id, struct ipc_conn *c)
{
	(void)c;
	jv_free(req);
	return json_ok(id);
}

static jv
counters(jv r)
{
	unsigned long jobs, batches, fl;

	sched_counts(&jobs, &batches, &fl);
#define N(k, v) r = jv_object_set(r, jv_string(k), jv_number((double)(v)))
	N("queued", jobs);
	N("batches", batches);
	N("inflight", fl);
	N("enqueued", push_stats.enqueued);
	N("dup", push_stats.dup);
	N("sent", push_stats.sent);
	N("requests", push_stats.requests);
	N("retried", push_stats.retried);
	N("gone", push_stats.gone);
	N("failed", push_stats.failed);
	N("expired", push_stats.expired);
	N("cancelled", push_stats.cancelled);
	N("commits", queue_commits());
#undef N
	return r;
}

static jv
op_status(jv req, jv id, struct ipc_conn *c)
{
	jv r = counters(json_ok(id));

	(void)c;
	jv_free(req);
	r = jv_object_set(r, jv_string("conns"),
	    jv_number((double)ipc_server_conns(server)));
	r = jv_object_set(r, jv_string("bad_requests"),
	    jv_number((double)bad_requests));
	r = jv_object_set(r, jv_string("commit_errors"),
	    jv_number((double)commit_errors));
	return r;
}

static jv
op_push_status(jv req, jv id, struct ipc_conn *c)
{
	const char *user;
	char err[256];
	jv r;

	(void)c;
	if (json_opt_str(req, "user", 32, &user, err, sizeof(err)) < 0) {
		jv_free(req);
		return json_error(id, "bad_request", err);
	}
	r = counters(json_ok(id));
	r = jv_object_set(r, jv_string("jobs"), sched_list(user));
	jv_free(req);
	return r;
}

static jv
op_cancel(jv req, jv id, struct ipc_conn *c)
{
	const char *user, *device;
	char err[256];
	int n;

	(void)c;
	if (json_need_str(req, "user", 32, &user, err, sizeof(err)) < 0 ||
	    json_opt_str(req, "device", 64, &device, err, sizeof(err)) < 0) {
		jv_free(req);
		return json_error(id, "bad_request", err);
	}
	n = sched_cancel(user, device);
	jv_free(req);
	return jv_object_set(json_ok(id), jv_string("cancelled"),
	    jv_number(n));
}

static int
parked_has(const char *user, const char *device, const char *msg_id)
{
	size_t i;

	for (i = 0; i < nparked; i++) {
		struct job *j = parked[i].job;
		if (strcmp(j->msg_id, msg_id) == 0 &&
		    strcmp(j->device, device) == 0 &&
		    strcmp(j->user, user) == 0)
			return 1;
	}
	return 0;
}

static jv
op_enqueue(jv req, jv id, struct ipc_conn *c)
{
	const char *user, *device, *msg_id;
	uint64_t now = now_ms(), due;
	struct job *j;
	char err[256];

	req = job_normalize(req);
	if (job_check(req, err, sizeof(err)) < 0) {
		jv_free(req);
		bad_requests++;
		return json_error(id, "bad_request", err);
	}
	user = json_str(req, "user", NULL);
	device = json_str(req, "device", NULL);
	msg_id = json_str(req, "msg_id", NULL);
	if (sched_has(user, device, msg_id) ||
	    parked_has(user, device, msg_id)) {
		push_stats.dup++;
		jv_free(req);
		return jv_object_set(json_ok(id), jv_string("dup"), jv_true());
	}
	if (nparked == capparked) {
		size_t cap = capparked ? capparked * 2 : 64;
		struct parked *np = realloc(parked, cap * sizeof(*np));
		if (np == NULL) {
			jv_free(req);
			return json_error(id, "store_unavailable",
			    "out of memory");
		}
		parked = np;
		capparked = cap;
	}
	due = sched_due_for(user, device);
	req = jv_object_delete(req, jv_string("op"));
	req = jv_object_delete(req, jv_string("id"));
	req = jv_object_set(req, jv_string("queued_at"),
	    jv_number((double)now));
	j = sched_job_new(req, NULL, 0, queue_next_seq(), now);
	if (j == NULL)
		return json_error(id, "store_unavailable", "out of memory");
	j->due_key = due;
	queue_put(due, j->seq, j->json, j->len);
	parked[nparked].conn = c;
	parked[nparked].id = id;
	parked[nparked].job = j;
	nparked++;
	return jv_null();
}

/* Commits what the handlers and the scheduler queued, then answers. */
static void
on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	char err[512];
	size_t i;
	int rc;

	(void)loop; (void)w; (void)revents;
	if (nparked == 0 && !queue_dirty())
		return;
	rc = queue_commit(err, sizeof(err));
	if (rc < 0) {
		commit_errors++;
		log_warnx("%s", err);
	}
	for (i = 0; i < nparked; i++) {
		struct parked *p = &parked[i];
		jv r;
		if (rc == 0) {
			r = jv_object_set(json_ok(p->id), jv_string("dup"),
			    jv_false());
			push_stats.enqueued++;
			log_debug("queued %s/%s msg %s", p->job->user,
			    p->job->device, p->job->msg_id);
			sched_add(p->job);
		} else {
			r = json_error(p->id, "store_unavailable", err);
			sched_job_free(p->job);
		}
		if (p->conn != NULL)
			ipc_send_jv(p->conn, r);
		else
			jv_free(r);
	}
	nparked = 0;
}

static void
on_line(struct ipc_conn *c, const char *line, size_t len)
{
	char err[256];
	const char *op;
	jv req, id, r;
	size_t i;

	req = json_parse_object(line, len, err, sizeof(err));
	if (!jv_is_valid(req)) {
		bad_requests++;
		log_warnx("%s: bad request: %s", ipc_conn_name(c), err);
		ipc_send_jv(c, json_error(jv_null(), "bad_request", err));
		return;
	}
	id = jv_object_get(jv_copy(req), jv_string("id"));
	if (!jv_is_valid(id))
		id = jv_null();
	op = json_str(req, "op", NULL);
	for (i = 0; op != NULL && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(ops[i].name, op) == 0)
			break;
	if (op == NULL || i == sizeof(ops) / sizeof(ops[0])) {
		bad_requests++;
		snprintf(err, sizeof(err), op ? "unknown op '%s'" :
		    "missing field 'op'", op);
		log_warnx("%s: %s", ipc_conn_name(c), err);
		jv_free(req);
		ipc_send_jv(c, json_error(id, "unknown_op", err));
		return;
	}
	r = ops[i].fn(req, id, c);
	if (jv_get_kind(r) == JV_KIND_NULL)
		return;
	if (!json_bool(r, "ok", 0))
		log_warnx("%s: %s refused", ipc_conn_name(c), ops[i].name);
	ipc_send_jv(c, r);
}

static void
on_close(struct ipc_conn *c)
{
	size_t i;

	for (i = 0; i < nparked; i++)
		if (parked[i].conn == c)
			parked[i].conn = NULL;
}

int
ops_start(struct ev_loop *loop, const char *path, char *err, size_t errlen)
{
	static const struct ipc_handlers h = { on_line, NULL, on_close };
	long long maxline = conf_int("ipc_max_line");

	server = ipc_listen(loop, path, maxline > 0 ? (size_t)maxline :
	    IPC_MAXLINE_DEFAULT, &h, NULL, err, errlen);
	if (server == NULL)
		return -1;
	ev_prepare_init(&committer, on_prepare);
	ev_set_priority(&committer, EV_MAXPRI);
	ev_prepare_start(loop, &committer);
	ev_unref(loop);
	return 0;
}

void
ops_stop(void)
{
	if (server != NULL)
		ipc_server_close(server);
	server = NULL;
}
