/*
 * chat-bus: carries the stack's NDJSON lines between a Unix socket and NATS
 * subjects, so an unchanged program on one machine reaches a daemon on
 * another (chat-bus(1), chat-scaling(7)).
 *
 *   serve NAME   the local daemon NAME's requests, served on chat.NAME.0
 *   attach NAME  a local socket NAME.sock whose requests go to chat.NAME.0
 *   call SUBJ    one request per argument or stdin line; prints replies
 *   echo SUBJ    answers each request with itself (to measure NATS alone)
 *   bench SUBJ   round trips and throughput of requests to SUBJ
 *
 * Files: main.c (options and modes), serve.c, attach.c, call.c (call and
 * echo), bench.c.
 */
#ifndef CHAT_BUS_PROG_H
#define CHAT_BUS_PROG_H

#include <jv.h>

struct ev_loop;
struct bus;

struct busopts {
	const char	*urls;		/* --bus or conf "bus" */
	const char	*subject;	/* --subject, or chat.NAME.0 */
	const char	*queue;		/* --queue, or the subject */
	const char	*sock;		/* --sock, or $CHAT_RUN/NAME.sock */
	int		 timeout_ms;	/* --timeout */
	int		 resend_ms;	/* --resend */
	long		 count;		/* bench -n */
	long		 inflight;	/* bench -c */
	const char	*req;		/* bench --req */
	int		 session;	/* attach --session */
	int		 discover;	/* attach --discover */
	int		 every;		/* register --every (s) */
	int		 ttl;		/* --ttl (s) of the discovery bucket */
	int		 ttl_set;	/* --ttl given (else a lease's is conf's) */
	int		 replicas;	/* register --replicas */
	const char	*node;		/* register --node, serve --lease */
	int		 lease;		/* serve --lease (or conf bus_leases) */
	int		 standby;	/* serve --standby: first ask after 5 TTL */
	int		 tell;		/* serve --tell: {"ev":"lease"} lines */
};
extern struct busopts bo;

typedef int busmode_fn(int argc, char **argv);
busmode_fn mode_serve, mode_attach, mode_call, mode_echo, mode_bench,
    mode_register;

/* main.c: connects to bo.urls as client name on loop; exits 100 if no bus
 * is configured or the URL is bad.  on_state (may be NULL) hears the
 * connection go down and up. */
struct bus *bus_connect(struct ev_loop *loop, const char *name,
    void (*on_state)(void *arg, int up));
/* The default subject of service name: chat.NAME.0 in buf. */
const char *default_subject(const char *name, char *buf, size_t len);
/* A reply to a bus.status request (consumes id): the bus counters. */
jv bus_status_reply(struct bus *b, jv id);
/* Stops the loop on SIGTERM and SIGINT. */
void stop_on_signals(struct ev_loop *loop);

/* lsock.c: a plain connection to a local socket (see there).  on_data
 * gets whole lines, with their newlines; on_close runs once, from the
 * loop, after which the lsock is freed. */
struct lsock;
typedef void lsock_data_fn(void *arg, const char *buf, size_t len);
typedef void lsock_close_fn(void *arg, const char *why);
/* NULL with errno set when the daemon is not there. */
struct lsock *lsock_connect(struct ev_loop *loop, const char *path,
    size_t maxline, lsock_data_fn *on_data, lsock_close_fn *on_close,
    void *arg);
/* Queues buf; -1 when over IPC_OUTBUF_MAX (the daemon is not reading). */
int lsock_write(struct lsock *l, const char *buf, size_t len);
size_t lsock_queued(struct lsock *l);
/* Closes without calling on_close. */
void lsock_close(struct lsock *l);
/* Drops what is queued, shuts the writing side and waits (at most timeout
 * s) for the daemon to close its side, having read all we wrote; then
 * frees l and calls fn(arg) from the loop, never inside this call.  May be
 * called from inside on_data. */
typedef void lsock_drained_fn(void *arg);
void lsock_drain(struct lsock *l, lsock_drained_fn *fn, double timeout);

/* session.c: connections carried whole over the bus (see there). */
struct ipc_handlers;
struct bus_msg;
struct session_stats {
	unsigned long	sessions, opened, ended, msgs_in, msgs_out;
};
int session_serve_start(struct ev_loop *loop, struct bus *b,
    const char *sock, size_t maxline, char *err, size_t errlen);
/* An "open" on the service subject (serve.c hands it over). */
void session_serve_open(struct bus_msg *m);
/* The handlers for the attach side's listening socket, or NULL. */
const struct ipc_handlers *session_attach_start(struct ev_loop *loop,
    struct bus *b, const char *service, char *err, size_t errlen);
void session_bus_state(int up);
void session_get_stats(struct session_stats *st);
void session_stop(void);
/* attach.c: answers a line meant for chat-bus itself (bus.status,
 * chatd.list) on c; 1 if it did, 0 to carry it. */
struct ipc_conn;
int attach_local_op(struct ipc_conn *c, const char *line, size_t len);
/* The session counters added to a status reply. */
jv session_status(jv r);

/* kv.c: the discovery bucket (see there). */
#define KV_BUCKET	"chat_chatd"
long long kv_now_ms(void);
/* Makes the bucket (TTL ttl s) unless it exists; asks until answered. */
void kv_bucket_ensure(struct bus *b, int ttl, int replicas);
/* Puts val (borrowed) under key; 0 or -1. */
int kv_put(struct bus *b, const char *key, jv val);
/* Keeps the bucket's live entries; 0 or -1 with err filled. */
int kv_mirror_start(struct bus *b, int ttl, char *err, size_t errlen);
/* 1 if the mirror runs and holds a live entry (else chatd.list is left
 * to chat-route). */
int kv_mirror_live(void);
/* A chatd.list reply (consumes id) from the live entries. */
jv kv_mirror_list(jv id);

/* lease.c: one owner of a shard, by lease in the bucket chat_owners (see
 * there).  gain runs when this process takes the lease, lose when it
 * stops holding it (taken by another, or not renewed in time). */
#define LEASE_BUCKET	"chat_owners"
typedef void lease_fn(const char *why);
int lease_start(struct ev_loop *loop, struct bus *b, const char *key,
    const char *node, int ttl, int replicas, lease_fn *gain, lease_fn *lose,
    char *err, size_t errlen);
int lease_owner(void);
/* 1 when requests may be answered: no lease runs, or ours has not reached
 * its fence time (checked per request, as a pause may hold the timer). */
int lease_valid(void);
/* fn runs after each acknowledged put while owner (the first too). */
void lease_on_renew(lease_fn *fn);
/* The fence time of our lease on CLOCK_MONOTONIC, in ms; 0 unless owner. */
long long lease_until_ms(void);
/* Adds {"lease":{key,node,owner,seq,taken,lost}} to r when a lease runs. */
jv lease_status(jv r);
/* Stops renewing: the lease lapses after the TTL. */
void lease_stop(void);
/* session.c: ends every open session (the lease moved away). */
void session_end_all(const char *why);
/* The host name, or bo.node, as a key word ([-_=a-zA-Z0-9]) in buf. */
const char *node_name(char *buf, size_t len);

#endif
