/*
 * append: msg.append's fast path (ops_msg.c).  chat-route sends one
 * msg.append per message; the loop reads such a line with lib/jflat.h
 * instead of libjq, the worker runs it from plain fields and prints the
 * reply itself.  A line the fast path does not take (anything it would
 * have to refuse, a body with a \u escape) goes the jv way, op_msg_append,
 * which answers every error; both write the same bytes.
 */
#ifndef STORE_APPEND_H
#define STORE_APPEND_H

#include <stddef.h>
#include <stdint.h>

#include "ops.h"

/* msg.append's fields, checked. */
struct append_args {
	char		 from[33], device[65], cid[65], target[35];
	int		 group;		/* target is a group, else a user */
	const char	*body;		/* decoded */
	size_t		 blen;
	char		*body_buf;	/* the fast path's copy of it */
	uint64_t	 mid;
	int		 have_mid;
	int64_t		 ts;
	int		 have_ts;
	int64_t		 reqid;		/* the request's "id" */
	const char	*rcpt;		/* "recipients" given (JSON text of
					 * an array of user names): a log
					 * entry applied (chat-log(1)) */
};

/* 1 and *out (malloc'd) if line is a msg.append the fast path takes, else
 * 0 (then parse it with jq). */
int append_args_parse(const char *line, size_t len, struct append_args **out);
void append_args_free(struct append_args *a);

/* Runs msg.append from a in the worker: 0 and the whole reply line in
 * *reply (malloc'd), or -1 with c->code and c->msg set. */
int op_msg_append_fast(struct op_ctx *c, const struct append_args *a,
    char **reply, size_t *len);

/* A commit failed: what msg.append learnt about users in it may be
 * untrue (worker thread). */
void append_forget_users(void);

#endif
