/*
 * ops: the one table of chat-store's socket ops, and what an op function
 * gets to work with.  Each op reads its request, checks everything first,
 * then stages its writes in the batch transaction (tx.h), and returns the
 * fields of its reply.  An op never writes and then fails: a failed op
 * leaves the batch as it found it.
 *
 * X(name, function, flags): OP_SLOW marks the ops whose password hashing
 * runs outside the worker (commit.c): user.create is hashed before the
 * worker sees it, user.verify is checked after.  OP_LOG marks the ops
 * whose writes go on the log with msg_log = jetstream (logw.h): the keys
 * their batch wrote, held until chat-log has them in the stream.
 * cursor.set and presence.set are not logged (see chat-store(1)).
 */
#ifndef STORE_OPS_H
#define STORE_OPS_H

#include <stdint.h>
#include <jv.h>

#include "tx.h"

#define OP_SLOW		1
#define OP_LOG		2

#define STORE_OPS(X)							\
	X("ping",		op_ping,		0)		\
	X("status",		op_status,		0)		\
	X("user.create",	op_user_create,		OP_SLOW | OP_LOG)	\
	X("user.get",		op_user_get,		0)		\
	X("user.verify",	op_user_verify,		OP_SLOW)	\
	X("user.update",	op_user_update,		OP_LOG)		\
	X("user.list",		op_user_list,		0)		\
	X("friend.add",		op_friend_add,		OP_LOG)		\
	X("friend.remove",	op_friend_remove,	OP_LOG)		\
	X("friend.list",	op_friend_list,		0)		\
	X("friend.check",	op_friend_check,	0)		\
	X("group.create",	op_group_create,	OP_LOG)		\
	X("group.get",		op_group_get,		0)		\
	X("group.list",		op_group_list,		0)		\
	X("group.add",		op_group_add,		OP_LOG)		\
	X("group.remove",	op_group_remove,	OP_LOG)		\
	X("msg.append",		op_msg_append,		0)		\
	X("msg.history",	op_msg_history,		0)		\
	X("inbox.read",		op_inbox_read,		0)		\
	X("device.login",	op_device_login,	OP_LOG)		\
	X("device.get",		op_device_get,		0)		\
	X("device.logout",	op_device_logout,	OP_LOG)		\
	X("device.list",	op_device_list,		0)		\
	X("cursor.set",		op_cursor_set,		0)		\
	X("push.set",		op_push_set,		OP_LOG)		\
	X("push.clear",		op_push_clear,		OP_LOG)		\
	X("presence.set",	op_presence_set,	0)		\
	X("presence.get",	op_presence_get,	0)		\
	X("log.apply",		op_log_apply,		0)		\
	X("log.trim",		op_log_trim,		0)		\
	X("get",		op_get,			0)		\
	X("scan",		op_scan,		0)

/* Counters for the status op; written by the worker unless noted. */
struct store_stats {
	unsigned long	ops, errors, appends, dups, batches, syncs, writes;
	unsigned long	max_batch, conns, overlong, torn; /* conns, overlong,
					 * torn: the loop */
	unsigned long	hashes;
	unsigned long	commit_us, max_commit_us;	/* in writes + syncs */
	/* the log of writes (outbox.c, the loop's): entries not yet in the
	 * stream, put there, dropped unsent, answers that waited too long,
	 * and whether chat-log follows */
	unsigned long	log_pending, log_acked, log_dropped, log_expired;
	unsigned long	log_following;
};

/* Limits from the config, set once by main before the worker starts. */
struct store_limits {
	long	group_max_members;
	long	max_message;
	long	node_id;
};
extern struct store_limits store_limits;

struct op_ctx {
	struct tx		*tx;
	jv			 req;		/* the request, borrowed */
	uint64_t		 now;		/* ms since the Unix epoch */
	struct store_stats	*stats;
	/* user.create: the hash made for it (NULL if hashing failed);
	 * user.verify: set to the stored hash the password is checked
	 * against after the batch (malloc'd; NULL answers at once). */
	char			*hash;
	/* an error: its code and message */
	const char		*code;
	char			 msg[256];
};

typedef jv op_fn(struct op_ctx *c);
#define X(name, fn, flags) op_fn fn;
STORE_OPS(X)
#undef X

/* The table index of op name, or -1. */
int ops_find(const char *name, size_t len);
/* The op's flags (OP_SLOW). */
int ops_flags(int op);
const char *ops_name(int op);
/* Runs op against c: returns the reply fields (an object) or jv_invalid()
 * with c->code and c->msg set. */
jv ops_run(int op, struct op_ctx *c);

/* A password of 8 to 256 bytes without NUL (the hash threads skip others,
 * user.create rejects them). */
int store_password_ok(const char *pw, size_t len);

/* Helpers for the op files (ops.c). */

/* Fails the op: sets code and message, returns jv_invalid(). */
jv op_fail(struct op_ctx *c, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A required user-name field: 0 and *out, or -1 with bad_request set. */
int op_user_field(struct op_ctx *c, const char *field, const char **out);
/* A required or optional string field of 1..maxlen bytes. */
int op_str_field(struct op_ctx *c, const char *field, size_t maxlen,
    int required, const char **out);
/* An optional integer field: 0 (and *out left alone if missing), -1. */
int op_int_field(struct op_ctx *c, const char *field, int64_t *out);
/* An optional message id field (16 hex): 1 and *out, 0 missing, -1. */
int op_id_field(struct op_ctx *c, const char *field, uint64_t *out);
/* A message id given in the first present of fields (a NULL-terminated
 * list); a last resort "id" counts only if it is 16 hex digits, since
 * "id" is otherwise the request's correlation id.  1, 0 none, -1. */
int op_msgid_field(struct op_ctx *c, const char *const *fields,
    uint64_t *out);
/* limit: default def, clamped to 1..max; -1 if not an integer. */
int op_limit(struct op_ctx *c, int def, int max, int *out);
/* 1 if user exists, 0 if not (no_such_user set), -1 on a read error
 * (store_unavailable set). */
int op_user_exists(struct op_ctx *c, const char *user);
/* Reads the JSON object at key: 1 and *out, 0 absent, -1 (error set). */
int op_load(struct op_ctx *c, const char *k, size_t klen, jv *out);
/* Fails the op with store_unavailable and the transaction's read error. */
jv op_read_error(struct op_ctx *c);

#endif
