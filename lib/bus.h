/*
 * bus: the stack's NDJSON lines on NATS subjects, on the daemon's own libev
 * loop (chat-scaling(7), "Many machines: NATS").
 *
 * The same lines as lib/ipc.h, another transport: a request is published
 * with a reply subject, its reply goes back to that subject, an event is a
 * plain publish.  libnats does the socket work on our loop (bus_ev.c, the
 * libev adapter that Debian's libnats-dev does not ship) but delivers
 * messages and connection news on threads of its own; bus.c hands both to
 * the loop through an ev_async, so every callback below runs on the loop
 * thread, like the rest of a daemon.
 *
 * Requests (bus_call.c) keep lib/ipc.h's promise: the reply's callback runs
 * exactly once; an unanswered request is resent after the connection to
 * the cluster comes back, after "no responders" (with backoff), and after
 * resend_ms of silence (a responder that died holding it): ids make a
 * resend safe, and the first reply wins.
 */
#ifndef CHAT_BUS_H
#define CHAT_BUS_H

#include <stddef.h>
#include <jv.h>

struct ev_loop;
struct bus;
struct bus_client;

/* The connection to the cluster went up (1) or down (0). */
typedef void bus_state_fn(void *arg, int up);
/* A line on a served subject.  reply is the subject to answer on, or NULL
 * for an event; all valid only during the call. */
typedef void bus_line_fn(void *arg, const char *subject, const char *reply,
    const char *line, size_t len);
/* A reply (consumed by the callee), as lib/ipc.h's ipc_reply_fn: on a
 * timeout {"id":..,"ok":false,"error":{"code":"unavailable",..}}. */
typedef void bus_reply_fn(void *cbarg, jv reply);

/*
 * Connects to urls ("nats://h:p[,nats://h:p...]") as client name, on loop.
 * Does not wait for the cluster: when no server answers yet it keeps
 * trying, forever, as after any disconnect.  on_state may be NULL.
 * Returns NULL with err filled on a bad URL or no memory.
 */
struct bus *bus_open(struct ev_loop *loop, const char *urls, const char *name,
    bus_state_fn *on_state, void *arg, char *err, size_t errlen);
/* Closes the connection (flushing what it can) and frees every client and
 * subscription.  Callbacks still due are not called. */
void bus_close(struct bus *b);
int bus_connected(struct bus *b);

/* Calls fn for every line on subject (wildcards allowed), as one member of
 * queue group queue (NULL: every subscriber gets every line).  Lives until
 * bus_close.  Returns 0, or -1 with err filled. */
int bus_serve(struct bus *b, const char *subject, const char *queue,
    bus_line_fn *fn, void *arg, char *err, size_t errlen);
/* Publishes line to subject, with reply subject reply (may be NULL).
 * Never blocks: while the cluster is away libnats buffers it (8 MB).
 * Returns 0, or -1 (buffer full, closed). */
int bus_publish(struct bus *b, const char *subject, const char *reply,
    const char *line, size_t len);

/*
 * Whole messages, for programs that need NATS headers (chat-bus's
 * sessions).  A struct bus_msg is valid only during the handler's call.
 */
struct bus_msg;
struct bus_sub;
typedef void bus_msg_fn(void *arg, struct bus_msg *m);
const char *bus_msg_subject(struct bus_msg *m);
const char *bus_msg_reply(struct bus_msg *m);		/* or NULL */
const char *bus_msg_data(struct bus_msg *m, size_t *len);
/* The value of header key, or NULL. */
const char *bus_msg_header(struct bus_msg *m, const char *key);
/* NATS' status for a request nobody is subscribed to. */
int bus_msg_no_responders(struct bus_msg *m);
/* As bus_serve, with whole messages; the subscription lives until
 * bus_unsubscribe or bus_close.  NULL with err filled. */
struct bus_sub *bus_subscribe(struct bus *b, const char *subject,
    const char *queue, bus_msg_fn *fn, void *arg, char *err, size_t errlen);
void bus_unsubscribe(struct bus_sub *s);
/* As bus_publish, with up to two headers (a NULL key ends them). */
int bus_publish_hdr(struct bus *b, const char *subject, const char *reply,
    const char *k1, const char *v1, const char *k2, const char *v2,
    const char *data, size_t len);
/* A new unique inbox subject prefix in buf ("_INBOX.xxx"); 0 or -1. */
int bus_new_inbox(char *buf, size_t len);
/* The largest payload the server takes (1 MB unless configured). */
size_t bus_max_payload(struct bus *b);

/* Counters for status ops. */
struct bus_stats {
	unsigned long	in, out, requests, replies, resends, no_responders,
			timeouts, reconnects, dropped;
};
void bus_get_stats(struct bus *b, struct bus_stats *st);

/* A requester of subject; resend_ms (> 0) is how long a request waits for
 * its reply before it is sent again. */
struct bus_client *bus_client_new(struct bus *b, const char *subject,
    int resend_ms);
/* Frees cl; callbacks of requests still out are not called. */
void bus_client_free(struct bus_client *cl);
/*
 * As ipc_call: consumes req (an object), sets its "id", publishes it and
 * calls cb exactly once, with the reply or, after timeout_ms (0: never),
 * with "unavailable".  Returns 0, or -1 if req is not an object.
 */
int bus_call(struct bus_client *cl, jv req, int timeout_ms, bus_reply_fn *cb,
    void *cbarg);
/*
 * As bus_call for a payload that is not ours to number (a JetStream
 * publish): data[0..len) goes as is, copied, with the header Nats-Msg-Id
 * msgid (NULL: none), the same on every resend, so JetStream's duplicate
 * window keeps one copy.  The reply is matched by subject; cb gets it
 * parsed (a JetStream PubAck or error) or, after timeout_ms, an
 * "unavailable" error.  Returns 0, or -1 (no memory: cb is not called).
 */
int bus_call_msgid(struct bus_client *cl, const char *data, size_t len,
    const char *msgid, int timeout_ms, bus_reply_fn *cb, void *cbarg);
size_t bus_client_pending(struct bus_client *cl);

#endif
