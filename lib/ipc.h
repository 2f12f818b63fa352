/*
 * ipc: NDJSON over Unix domain stream sockets, on a libev loop.
 *
 * How it fits every loop: all our daemons run one libev loop.  chatd and
 * chat-api hand that same loop to libwebsockets as a foreign loop
 * (LWS_SERVER_OPTION_LIBEV with info.foreign_loops), so lws and our internal
 * sockets share one epoll and one thread; the other daemons run the loop
 * themselves.  Line splitting lives in framer.c and knows no loop at all.
 *
 * Server side: ipc_listen() makes $CHAT_RUN/<name>.sock safely (connects
 * first to detect a live listener, unlinks a stale one, umask 077, chmod
 * 0600, and rejects peers of another uid via SO_PEERCRED).  Each accepted
 * connection calls on_line once per line; replies are queued with ipc_send
 * and written when the socket is writable, many lines per write(2).
 *
 * Client side: ipc_client keeps one connection to a peer, reconnects with
 * backoff (50 ms doubling to 2 s), pipelines requests, matches replies by
 * "id", and resends every unanswered request after a reconnect, in the
 * order they were first made (ids make a resend safe).
 */
#ifndef CHAT_IPC_H
#define CHAT_IPC_H

#include <stddef.h>
#include <stdint.h>
#include <jv.h>

struct ev_loop;
struct ipc_conn;
struct ipc_server;
struct ipc_client;

#define IPC_MAXLINE_DEFAULT	(1024 * 1024)
#define IPC_OUTBUF_MAX		(64 * 1024 * 1024)	/* then the peer is too slow */

struct ipc_handlers {
	/* One complete line, without its newline; valid only during the call. */
	void	(*on_line)(struct ipc_conn *c, const char *line, size_t len);
	/* A connection accepted (may be NULL). */
	void	(*on_open)(struct ipc_conn *c);
	/* The connection is going away: forget c (may be NULL). */
	void	(*on_close)(struct ipc_conn *c);
};

/*
 * Listens on path.  maxline bounds an incoming line: an over-long line is
 * dropped and answered with {"ok":false,"error":{"code":"line_too_long"}},
 * and the connection goes on.  Returns NULL with err filled if the socket
 * cannot be made or another process is listening there.
 */
struct ipc_server *ipc_listen(struct ev_loop *loop, const char *path,
    size_t maxline, const struct ipc_handlers *h, void *arg, char *err,
    size_t errlen);
/* Closes every connection (calling on_close), the listener, unlinks path. */
void ipc_server_close(struct ipc_server *s);
/* The arg given to ipc_listen. */
void *ipc_server_arg(struct ipc_server *s);
/* The server a connection came from. */
struct ipc_server *ipc_conn_server(struct ipc_conn *c);
/* Per-connection data for the program. */
void ipc_conn_set_data(struct ipc_conn *c, void *data);
void *ipc_conn_data(struct ipc_conn *c);
/* A short name for logs: "fd 7" */
const char *ipc_conn_name(struct ipc_conn *c);

/*
 * Queues line (no newline; one is added) for c.  Never blocks.  Returns 0,
 * or -1 if the connection is closing or its queue passed IPC_OUTBUF_MAX (then
 * it is closed: the peer is not reading).
 */
int ipc_send(struct ipc_conn *c, const char *line, size_t len);
/* Consumes v.  ipc_send of its compact JSON. */
int ipc_send_jv(struct ipc_conn *c, jv v);
/* Bytes queued and not yet written. */
size_t ipc_queued(struct ipc_conn *c);
/* Flushes what can be written without blocking, then closes c.  on_close
 * runs later, from the loop, never inside this call. */
void ipc_close(struct ipc_conn *c);
/* Counters for status ops. */
unsigned long ipc_server_conns(struct ipc_server *s);
unsigned long ipc_server_overlong(struct ipc_server *s);
unsigned long ipc_server_torn(struct ipc_server *s);

/* A reply to a request, consumed by the callee.  On a timeout the reply is
 * {"id":..,"ok":false,"error":{"code":"unavailable",...}}. */
typedef void ipc_reply_fn(void *cbarg, jv reply);
/* A line from the peer that is not a reply (it has no "id" we are waiting
 * for): an event such as a delivery.  line is the raw bytes, ev the parsed
 * object (consumed by the callee). */
typedef void ipc_event_fn(void *arg, jv ev, const char *line, size_t len);
/* The client has (re)connected: re-announce any state the peer keeps. */
typedef void ipc_connect_fn(void *arg);

/* A client for the socket at path.  It connects from the loop, on its next
 * iteration (never inside this call, so on_connect never runs before the
 * caller holds the returned pointer), and keeps trying.  Requests made
 * before that wait, unsent.  on_event and on_connect may be NULL. */
struct ipc_client *ipc_client_new(struct ev_loop *loop, const char *path,
    ipc_event_fn *on_event, ipc_connect_fn *on_connect, void *arg);
void ipc_client_free(struct ipc_client *cl);
/* Answers every request still pending with an "unavailable" error, now,
 * so callers free what each one holds; for a program that is stopping
 * (ipc_client_free drops them without a call). */
void ipc_client_cancel_all(struct ipc_client *cl);

/*
 * Consumes req (an object).  Sets its "id", sends it (or holds it until
 * connected, or while 4 MiB of requests wait to be written: a stalled peer
 * never makes the output pass IPC_OUTBUF_MAX), and calls cb exactly once: with the reply, or with an
 * "unavailable" error after timeout_ms (0: wait forever, resending after
 * every reconnect).  A reply arriving after a timeout is dropped.  Returns 0,
 * or -1 if req is not an object (cb is not called).
 */
int ipc_call(struct ipc_client *cl, jv req, int timeout_ms, ipc_reply_fn *cb,
    void *cbarg);
/* A reply as bytes, line[0..len) valid only during the call. */
typedef void ipc_raw_reply_fn(void *cbarg, const char *line, size_t len);
/*
 * ipc_call for a request already in bytes, so the message path needs no jv
 * to build it and none to read the reply: obj[0..len) is one JSON object
 * with no "id" member ("{"id":N," is put before its members).  cb gets
 * the reply line (on a timeout, the line of ipc_call's "unavailable"
 * error).  Returns 0, or -1 if obj is not "{...}" or memory ran out.
 */
int ipc_call_raw(struct ipc_client *cl, const char *obj, size_t len,
    int timeout_ms, ipc_raw_reply_fn *cb, void *cbarg);
/* Sends line as is, no reply expected; dropped (returns -1) if not
 * connected.  For events a peer can afford to lose or rebuilds on connect. */
int ipc_client_send_line(struct ipc_client *cl, const char *line, size_t len);
int ipc_client_connected(struct ipc_client *cl);
/* A line that does not start {"id":N (so it is not one of our replies),
 * offered as bytes before it is parsed: the function returns 1 if it took
 * the line (an event it knows), 0 to have it parsed, matched or given to
 * on_event as usual.  For events on the message path (deliveries). */
typedef int ipc_raw_event_fn(void *arg, const char *line, size_t len);
void ipc_client_raw_events(struct ipc_client *cl, ipc_raw_event_fn *fn);
/* Requests sent or queued and not yet answered. */
size_t ipc_client_pending(struct ipc_client *cl);

#endif
