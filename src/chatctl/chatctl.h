/*
 * chatctl: the operator's CLI.  Shared declarations of its parts: out.c
 * (printing, with an optional jq filter), rpc.c (one blocking request to a
 * program's socket) and the subcommands in cmd_*.c.
 */
#ifndef CHATCTL_H
#define CHATCTL_H

#include <stddef.h>
#include <jv.h>

/* Exit statuses: s6's, plus 1 for "the answer was no" (ok:false). */
#define CTL_EXIT_NO	1

struct ctl_opts {
	int		 json;		/* --json: JSON lines instead of tables */
	int		 raw;		/* --raw: strings bare, as jq -r */
	const char	*filter;	/* --filter EXPR, or NULL */
	int		 timeout_ms;	/* --timeout, per request */
};

extern struct ctl_opts ctl_opts;

/* A subcommand: argv[0] is its name; returns the exit status. */
typedef int ctl_cmd_fn(int argc, char **argv);

/* out.c */

/*
 * Compiles filter (if not NULL) with libjq.  0, or -1 with err holding jq's
 * own message, naming the expression.
 */
int out_init(const char *filter, int raw, char *err, size_t errlen);
void out_free(void);
/* 1 when output is JSON lines (--json or --filter), 0 for tables. */
int out_structured(void);
/* Consumes v.  Prints it as one compact JSON line, or each result of the
 * filter on it (strings bare with --raw).  -1 if the filter failed on v
 * (the message is printed), else 0. */
int out_json(jv v);
/* 1 if any out_json call has failed. */
int out_failed(void);

/* rpc.c */

/*
 * Sends the JSON object text req to the program whose socket name is prog
 * ("store", "super", "chatd-8081", or a path with a '/'), waits for its
 * reply (ctl_opts.timeout_ms) and returns it parsed.  On a connection
 * error or timeout prints the reason and exits 111; on a reply that is not
 * JSON exits 111 as well.
 */
jv rpc_call(const char *prog, jv req);
/* Borrows reply.  1 if "ok" is true; otherwise prints the error to stderr
 * ("chatctl: store: no_such_user: ...") and returns 0. */
int rpc_ok(const char *prog, jv reply);

/* The subcommands. */
int cmd_status(int argc, char **argv);
int cmd_call(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_users(int argc, char **argv);
int cmd_groups(int argc, char **argv);
int cmd_history(int argc, char **argv);

/* Prints "chatctl: <msg>" and the usage hint to stderr; returns 100. */
int ctl_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
