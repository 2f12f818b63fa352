/*
 * chat-route: the message path (ARCHITECTURE.md).  chatd instances connect
 * to $CHAT_RUN/route.sock; a send from one is given an id, appended by
 * chat-store (message, every inbox entry and the dedupe record in one
 * synced batch), acknowledged to the sender's chatd, and then delivered to
 * every online device of every recipient, and to the sender's other
 * devices, through the chatd holding each.
 *
 * Its state is soft: which chatd holds which device, rebuilt from the
 * chatds' announcements whenever one (re)connects.  Durable state is all
 * chat-store's, so chat-route can be killed at any moment: the chatds
 * resend what it had not answered and the store's dedupe keeps one message
 * per (user, device, cid).
 *
 * Files: peers.c (chatds and the online device table), send.c (msg.send and
 * the fan-out), relay.c (typing and presence queries), push.c (jobs for
 * chat-push), jslog.c (the message log on JetStream, when configured),
 * ops.c (the socket's request and event table), main.c.
 */
#ifndef ROUTE_H
#define ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <jv.h>

#include "buf.h"
#include "id.h"
#include "../chatd/strmap.h"	/* shared with chatd */

struct ipc_conn;
struct jflat;
struct jflat_val;

/* A connection to chat-route: a chatd once it says hello, or any client
 * (chat-api, chatctl).  Reference counted: a reply still due holds one. */
struct peer {
	struct ipc_conn	*conn;		/* NULL once the connection is gone */
	unsigned	 refs;
	int		 hello;		/* a chatd: it said hello */
	char		 name[64];
	char		 url[160];
	unsigned long	 conns;
	struct peer	*prev, *next;	/* route.peers */

	/* send.c: this peer's line while a fan-out is being built */
	struct buf	 out;		/* its delivery line being built */
	struct peer	*touched;	/* next peer in this fan-out, or NULL */
	int		 in_fanout;
};

/* One online device and the chatd holding it. */
struct udev {
	char		 device[65];
	struct peer	*peer;
	uint64_t	 at;		/* when it authenticated (ms) */
};

/* A user with at least one online device. */
struct ruser {
	char		 user[33];
	size_t		 n, cap;
	struct udev	*devs;
};

struct route {
	struct ev_loop	*loop;
	struct ipc_server *srv;
	struct ipc_server *srv0;	/* shard 0's "route" too */
	struct ipc_client *store;
	struct id_gen	 ids;
	struct strmap	 users;		/* user -> struct ruser */
	size_t		 ndevices;
	struct peer	*peers;
	unsigned	 nshards, shard;	/* route_shards, route_shard */
	struct {
		unsigned long sends, acks, dups, send_errors, deliveries,
			      deliver_lines, typing, presence_queries, kicks,
			      logouts;
	} n;
};

extern struct route route;

/* peers.c */
struct peer *peer_new(struct ipc_conn *c);
void peer_ref(struct peer *p);
void peer_unref(struct peer *p);
/* The connection closed: its devices are offline as far as we know. */
void peer_gone(struct peer *p);
/* Events from a chatd. */
void peer_hello(struct peer *p, jv ev);
void peer_load(struct peer *p, jv ev);
void peer_online(struct peer *p, jv ev);
void peer_offline(struct peer *p, jv ev);
/* The online devices of user, or NULL. */
struct ruser *peer_user(const char *user);
/* Queues line to p if it is still connected. */
void peer_send(struct peer *p, const char *line, size_t len);

/* send.c */
/* msg.send from chatd p; req is consumed, id is the request's "id". */
void send_msg(struct peer *p, jv req, jv id);
/* The same without jv, for a msg.send line scanned as f (lib/jflat.h; the
 * caller checked its op): 1 if it took the line, 0 if the jv way must
 * judge it (then parse it and call send_msg). */
int send_msg_flat(struct peer *p, const struct jflat *f);
/*
 * Delivers frame[0..flen) to the online devices of the users in the JSON
 * array users (borrowed), except skip_user's device skip_device (both may
 * be NULL; skip_device NULL with skip_user skips all of that user's
 * devices), one line per chatd.  mid is the message's hex id, or NULL for
 * an ephemeral frame.  Returns the number of devices.
 */
size_t fanout(jv users, const char *skip_user, const char *skip_device,
    const char *mid, const char *frame, size_t flen);
/* The same for users given as a JSON array's text (a jflat value), with no
 * jv: an element that is not a plain string of a user's length is no user
 * and is skipped. */
size_t fanout_raw(const struct jflat_val *users, const char *skip_user,
    const char *skip_device, const char *mid, const char *frame, size_t flen);

/* relay.c */
void relay_typing(struct peer *p, jv ev);
void relay_presence(struct peer *p, jv req, jv id);
/* device.kick {user, device?}: tells every chatd to close the device's (or
 * all the user's) connections after a logout; answers {chatds: n told}. */
void relay_kick(struct peer *p, jv req, jv id);

/* push.c */
/* Connects to chat-push and opens a second connection to chat-store for
 * the lookups; both keep retrying.  Returns -1 if a socket path is too
 * long. */
int push_init(struct ev_loop *loop);
/* Closes both; push work still out is dropped. */
void push_free(void);
/*
 * A message was appended and acked (not a dup): req is the msg.send
 * request (user, to|group, body), recipients the store's list (sender
 * included), mid and ts the message's id and time; all borrowed.  For each
 * recipient but the sender with no online device, asks chat-store for its
 * devices and enqueues a job with chat-push for each device with a push
 * registration.  Never blocks and never fails the send: at worst the
 * notification is skipped and logged.
 */
void push_message(jv req, jv recipients, const char *mid, int64_t ts);
/* user's first device came online: its waiting jobs are cancelled. */
void push_online(const char *user);
/* Adds the push_* counters to a status reply r (consumed, returned). */
jv push_status(jv r);

/* ops.c */
/* With shards: messages are held for the first seconds (ops.c). */
void ops_settle_start(struct ev_loop *loop);
void ops_free(struct ev_loop *loop);

/* feed.c: with shards, chat-store's feed of this shard's messages */
/* The store client (re)connected: opens the feed (ipc_connect_fn). */
void feed_connect(void *arg);
/* A feed line read as bytes, with no jv (ipc_raw_event_fn): 1 if it took
 * it, 0 to have it parsed and given to feed_event (a line the scanner
 * does not take, any other event, or a shard we do not own: standby.c). */
int feed_line(void *arg, const char *line, size_t len);
/* An event from chat-store: a fed message is delivered (ipc_event_fn). */
void feed_event(void *arg, jv ev, const char *line, size_t len);
/* Adds the feed's counters to a status reply (consumes and returns r). */
jv feed_status(jv r);

/* shards.c */
/* Reads route_shards and route_shard, opens a client to every other
 * shard's socket.  0, or -1 with err filled. */
int shards_init(struct ev_loop *loop, char *err, size_t errlen);
void shards_free(void);
unsigned shards_n(void);
/* 1 if user belongs to this shard (always, unsharded). */
int shard_mine(const char *user);
/* This shard's socket name: route, or route-k. */
const char *shards_sock(char *name, size_t len);
/*
 * Sends one route.fanout to each other shard that has users among users
 * (borrowed), with the frame and the skip and mid as for fanout(); push 1
 * has that shard hand its offline users to chat-push.  If ack is not NULL,
 * ack[0..acklen) is sent to p once every request is answered (at once if
 * none was needed).
 */
void shards_forward(jv users, const char *skip_user, const char *skip_device,
    const char *mid, int push, const char *frame, size_t flen,
    struct peer *p, const char *ack, size_t acklen);
/* route.fanout from another shard; line[0..len) is the request's bytes
 * (the frame is taken from them).  req and id consumed. */
void shards_op_fanout(struct peer *p, jv req, jv id, const char *line,
    size_t len);
/* The same without jv, for a route.fanout line scanned as f (its op
 * checked): 1 if it took and answered it, 0 if shards_op_fanout must. */
int shards_fanout_flat(struct peer *p, const struct jflat *f);
jv shards_status(jv r);

/* jslog.c */
/* With msg_log = jetstream: connects to the bus and makes the stream.
 * 0 (also when off), or -1 with err filled (a bad key). */
int jslog_init(struct ev_loop *loop, char *err, size_t errlen);
void jslog_free(void);
/* 1 when acks wait for the message log. */
int jslog_on(void);
/* A send as the fast path holds it (all borrowed; body is JSON text). */
struct jslog_msg {
	const char	*user, *device, *cid, *target;
	int		 group;
	const char	*body;
	size_t		 blen;
};
/* err NULL: the entry is in the stream; reply is the store's line. */
typedef void jslog_done_fn(void *arg, const char *reply, size_t len,
    const char *err);
/*
 * reply[0..len) is chat-store's answer to m's msg.append.  If it is not a
 * success, returns 0 and does nothing (answer it as without the log).
 * Else puts the entry in the stream and returns 1: done runs exactly once,
 * later (never inside this call but for out of memory), with a copy of
 * reply, when the stream acknowledged it or gave up.
 */
int jslog_put(const struct jslog_msg *m, const char *reply, size_t len,
    jslog_done_fn *done, void *arg);
/* Adds the log_* counters to a status reply r (consumed, returned). */
jv jslog_status(jv r);

#endif
