/*
 * chatd: the WebSocket server clients hold open (PROTOCOL.md "WebSocket").
 *
 * One libev loop runs everything: libwebsockets is given it as a foreign
 * loop, and the internal sockets (chat-store and chat-route clients, our own
 * control socket) are lib/ipc.h on the same loop, so no locks and no
 * threads.  chatd keeps only its own connections: which device is on which
 * socket, each one's outgoing queue and sync position.  Everything durable
 * is in chat-store; routing is chat-route's.
 *
 * The parts, one file each: conn.c (a connection: queue, close, registry,
 * rate), ws.c (the lws protocol callback), frames.c (client frames), sync.c
 * (catch-up from the inbox and ordering of live deliveries), upstream.c
 * (chat-route and chat-store clients), presence.c (presenced), ctl.c (our
 * control socket), alive.c (PING the silent, hang up on the dead).
 */
#ifndef CHATD_H
#define CHATD_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <jv.h>
#include <libwebsockets.h>

#include "buf.h"
#include "alive.h"
#include "strmap.h"
#include "token.h"

#define CHATD_SYNC_PAGE		200	/* messages per inbox.read */
#define CHATD_SYNC_LOWAT	(64 * 1024)	/* queue below this: next page */
#define CHATD_STORE_TIMEOUT	10000	/* ms for reads from chat-store */

/* Close codes (RFC 6455 and ours; see chatd(1)). */
#define CLOSE_NORMAL		1000
#define CLOSE_POLICY		1008	/* send queue over send_queue_max */
#define CLOSE_TOO_BIG		1009	/* frame over max_frame */
#define CLOSE_TRY_AGAIN		1013	/* chat-store unavailable */
#define CLOSE_NO_AUTH		4001	/* no auth in time, or not first */
#define CLOSE_REPLACED		4002	/* the device connected again */
#define CLOSE_UNAUTHORIZED	4003	/* token refused, or logged out */
#define CLOSE_TOO_MANY		4004	/* over max_conns_per_user */

/*
 * An outgoing frame, reference counted so one buffer serves every device a
 * group message goes to on this server.  LWS_PRE bytes of headroom precede
 * the payload, as lws_write needs.
 */
struct wsframe {
	uint32_t	 ref;
	uint32_t	 len;
	uint64_t	 id;		/* message id of a msg frame, else 0 */
	unsigned char	 buf[];		/* LWS_PRE + len */
};

/* A frame holding data[0..len) (copied), one reference; NULL if no memory. */
struct wsframe *wsframe_new(const char *data, size_t len, uint64_t id);
/* Consumes v: the frame of its compact JSON; NULL if v is invalid. */
struct wsframe *wsframe_jv(jv v, uint64_t id);
void wsframe_unref(struct wsframe *f);
static inline struct wsframe *
wsframe_ref(struct wsframe *f)
{
	f->ref++;
	return f;
}
static inline unsigned char *
wsframe_data(struct wsframe *f)
{
	return f->buf + LWS_PRE;
}

enum conn_state {
	CONN_NEW,		/* waiting for auth */
	CONN_AUTHING,		/* token good, asking chat-store */
	CONN_SYNCING,		/* sending the inbox after the cursor */
	CONN_LIVE,
	CONN_DEAD		/* lws closed it; callbacks may still hold it */
};

/* A FIFO of frames, a ring that grows by doubling. */
struct fq {
	struct wsframe	**v;
	size_t		 cap, head, n;
	size_t		 bytes;
};

struct conn {
	struct lws	*wsi;		/* NULL once closed */
	unsigned	 refs;		/* lws's, plus one per pending callback */
	struct conn	*anext, *aprev;	/* every conn not yet freed */
	enum conn_state	 state;
	char		 user[33];
	char		 device[65];
	char		 key[100];	/* "user/device": the registry key */
	size_t		 keylen;
	uint64_t	 since_ms;	/* when it authenticated */
	char		 peer[64];

	struct fq	 out;		/* frames waiting for WRITEABLE */
	int		 close_code;	/* nonzero: close at the next WRITEABLE */
	int		 close_flush;	/* ... once the queue is written */
	const char	*close_why;
	uint64_t	 tok_gen;	/* the token's generation, during auth */
	int		 has_since;
	int		 limited;	/* rate limited since the last good send */

	struct buf	 rx;		/* a message arriving in pieces */

	ev_timer	 auth_timer;
	struct alive	 alive;		/* alive.c: PING and hangup */
	double		 tokens;	/* rate limit bucket */
	ev_tstamp	 filled;

	/* sync.c */
	uint64_t	 last_id;	/* newest message id written to it */
	uint64_t	 sync_after;	/* next inbox.read starts after this */
	size_t		 sync_avg;	/* bytes per message of its last page */
	int		 sync_reading;	/* an inbox.read is in flight */
	int		 sync_silent;	/* a resync: no synced frame at the end */
	int		 sync_again;	/* a resync was asked during a sync */
	int		 sync_wait_route; /* first page waits for route's ping */
	int		 held_over;	/* held deliveries overflowed */
	struct fq	 held;		/* live deliveries during a read */

	/* presence.c */
	struct conn	*unext, *uprev;	/* the user's other connections here */
	int		 indexed;
	int		 peer_closed;	/* the client sent a close frame */

	/* recv: cursor.set, one in flight, the newest wins */
	uint64_t	 cur_want, cur_sent;
	int		 cur_busy;
};

/* Program-wide settings and handles, set up once in main.c. */
struct chatd {
	struct ev_loop		*loop;
	struct lws_context	*lws;
	struct ipc_client	*store;
	struct ipc_client	*route;	/* routes[0] */
	struct ipc_client	**routes; /* one a route shard (upstream.c) */
	unsigned		 nroutes;
	struct ipc_server	*ctl;
	unsigned char		 secret[TOKEN_SECRET_LEN];
	char			 name[32];	/* chatd-<port> */
	char			 url[128];	/* ws://host:port/v1/ws */
	char			 host[64];
	int			 port;
	size_t			 max_frame, max_message, send_queue_max;
	double			 auth_timeout, rate_limit, rate_burst;
	int			 hangup_secs;

	struct strmap		 devices;	/* key -> struct conn, authed */
	unsigned long		 conns;		/* open WebSockets */
	struct {
		unsigned long	 frames_in, frames_out, bad_frames, sends,
				 acks, send_errors, delivered, dropped_old,
				 rate_limited, slow_closed, too_big, auth_ok,
				 auth_failed, auth_timeout, syncs, synced_msgs,
				 resyncs;
	} n;
};

extern struct chatd chatd;

/* conn.c */
struct conn *conn_new(struct lws *wsi);
void conn_ref(struct conn *c);
/* Drops one reference; frees c with the last. */
void conn_unref(struct conn *c);
/* At exit, once no callback can run: frees the connections that requests
 * never answered still held. */
void conn_free_all(void);
/* lws closed the socket: unregisters, tells chat-route, frees the queue. */
void conn_closed(struct conn *c);
/*
 * Queues f (takes a reference of its own) for c and asks for WRITEABLE.
 * Past send_queue_max queued bytes the connection is closed with 1008 and
 * the frame dropped.  Returns 0, or -1 if c is closed or closing.
 */
int conn_push(struct conn *c, struct wsframe *f);
/* conn_push of a frame of the compact JSON of v (consumed). */
int conn_push_jv(struct conn *c, jv v);
/* {"type":"error","cid"?,"code","message"} to c; cid may be NULL. */
void conn_error(struct conn *c, const char *cid, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Closes c with code and reason at its next WRITEABLE: after what is
 * queued if flush, else at once, dropping the queue.  Nothing more is
 * queued after this; a reader that never reads is cut off after 2 s. */
void conn_close(struct conn *c, int code, const char *why, int flush);
/* Registers an authenticated c under "user/device", closing an older
 * connection of the same device (4002). */
void conn_register(struct conn *c);
struct conn *conn_lookup(const char *key, size_t len);
/*
 * The device (or, with device NULL, every device of user) logged out: its
 * connections here, authenticated or still authenticating, are sent an
 * error frame instead of what they had queued and closed with 4003.
 * Returns how many.
 */
size_t conn_logout(const char *user, const char *device);
/* 1 if one more message fits the device's rate, and takes a token. */
int conn_rate_ok(struct conn *c);
/* The FIFO helpers. */
int fq_push(struct fq *q, struct wsframe *f);
struct wsframe *fq_pop(struct fq *q);
void fq_clear(struct fq *q);

/* ws.c */
/* Creates the lws context on chatd.loop, listening on host:port; when it
 * cannot, logs why and exits 111 at once. */
void ws_start(void);
void ws_stop(void);

/* frames.c */
/* One complete client message (text frame) in buf[0..len). */
void frame_handle(struct conn *c, const char *buf, size_t len);
/* The auth timer of c fired. */
void frame_auth_timeout(struct ev_loop *loop, ev_timer *w, int revents);

/* sync.c */
/* Starts sending c's inbox after `after`; silent: no synced frame. */
void sync_start(struct conn *c, uint64_t after, int silent);
/* The sync after auth: the inbox is read once chat-route has the device
 * (see sync.c). */
void sync_start_registered(struct conn *c, uint64_t after);
/* c's queue drained below the low-water mark: maybe ask the next page. */
void sync_drained(struct conn *c);
/* A live delivery of message f->id (or a typing notice, id 0) for c: it is
 * written, held or dropped as ordering demands. */
void sync_deliver(struct conn *c, struct wsframe *f);
/* chat-route came back: every live device catches up silently. */
void sync_resync_all(void);

/* upstream.c */
/* Connects to chat-store and chat-route. */
int upstream_start(char *err, size_t errlen);
void upstream_stop(void);
/* Tells chat-route a device came or went (dropped if route is down: the
 * reconnect announces every device anew). */
void upstream_online(struct conn *c);
void upstream_offline(struct conn *c);
/* The link to the route shard of user (route_shards: FNV-1a of the name);
 * the only one with a single chat-route. */
struct ipc_client *upstream_route(const char *user);
/* 1 if every route link is connected. */
int upstream_route_connected(void);
/* Requests unanswered on every route link. */
size_t upstream_route_pending(void);

/* presence.c */
/* Connects to presenced (and keeps trying). */
int presence_start(char *err, size_t errlen);
void presence_stop(void);
/* c authenticated: indexed by user, "connect" told to presenced. */
void presence_online(struct conn *c);
/* c is gone: kind "bye", "close" (clean, on either side's initiative) or
 * "drop" (silent) for presenced; once per connection. */
void presence_offline(struct conn *c, const char *kind);
/* c sent a frame: activity (presence_link coalesces the beats). */
void presence_heard(struct conn *c);
/* Sends c its friends' presence (presence.friends), when it arrives. */
void presence_friends(struct conn *c);
/* presence_link's counters, for the status op. */
jv presence_status(void);

/* ctl.c */
int ctl_start(char *err, size_t errlen);
void ctl_stop(void);

#endif
