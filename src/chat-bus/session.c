/*
 * session: a local connection carried whole over NATS, both ways, for the
 * links that are more than requests and replies (chatd's link to
 * chat-route: hello, online devices, deliveries pushed back, kicks).
 *
 * attach --session NAME: each connection accepted on NAME.sock becomes a
 * session.  Its lines are published, in order, to the serving process's
 * subject for that session; the lines that come back are written to the
 * connection.  serve NAME: an "open" on chat.NAME.0 (queue group: one
 * server takes it) makes one plain connection to the local daemon
 * (lsock.c) and relays both ways.
 *
 * Wire (NATS headers; the payload is whole lines, each with its newline):
 *   open   to chat.NAME.0, reply = the attach side's subject A
 *          (Chat-Session: open); resent until answered
 *   ok     to A, reply = the serving side's subject S (Chat-Session: ok),
 *          or Chat-Session: refused while the daemon is down
 *   data   to S or A, Chat-Seq: n (1, 2, ... per direction), reply = the
 *          sender's own subject
 *   ping   as data, empty, Chat-Session: ping, after 2 s of nothing sent
 *   close  to the other side (Chat-Session: close)
 *
 * NATS core delivery is at most once, so a session never hides a loss: a
 * gap in Chat-Seq, 6 s of silence, "no responders" on a session subject,
 * or this process's connection to the cluster dropping ends the session
 * on both sides.  Ending it closes the local connection, and the program
 * there does what it does when its peer restarts: lib/ipc.h reconnects,
 * resends its unanswered requests and re-announces its state (chatd: hello
 * and every device, then each device reads its inbox after its cursor).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "buf.h"
#include "bus.h"
#include "ipc.h"
#include "log.h"
#include "chat-bus.h"

#define TICK		0.5	/* s: pings, silences, open retries */
#define PING_AFTER	2.0	/* s of nothing sent */
#define DEAD_AFTER	6.0	/* s of nothing heard */
#define OPEN_MAX	2.0	/* s between opens, at most */
#define NBUCKETS	1024

struct sess {
	uint64_t	 id;
	char		 self[192];	/* our subject for it */
	char		 peer[192];	/* theirs: "" until known */
	int		 open;
	uint64_t	 seq_out, seq_in;
	ev_tstamp	 last_in, last_out, next_open, open_wait;
	struct ipc_conn	*c;		/* attach side */
	struct lsock	*l;		/* serving side */
	struct buf	 out;		/* attach: lines not yet published */
	int		 dirty;
	char		 waiting[192];	/* draining: an open from its peer */
	struct sess	*hnext, *prev, *next;
};

static struct {
	struct ev_loop	*loop;
	struct bus	*bus;
	int		 serving;	/* 1: serve side, 0: attach side */
	const char	*service;	/* attach: the service subject */
	const char	*sock;		/* serve: the daemon's socket */
	size_t		 maxline;
	char		 inbox[128];
	uint64_t	 next_id;
	struct sess	*all;
	struct sess	*draining;	/* serve: ended, daemon conn closing */
	struct sess	*buckets[NBUCKETS];
	ev_timer	 tick;
	ev_prepare	 flusher;
	struct session_stats st;
} S;

void session_get_stats(struct session_stats *st) { *st = S.st; }

static struct sess *
find(uint64_t id)
{
	struct sess *s = S.buckets[id % NBUCKETS];

	while (s != NULL && s->id != id)
		s = s->hnext;
	return s;
}

static struct sess *
sess_new(void)
{
	struct sess *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->id = ++S.next_id;
	snprintf(s->self, sizeof(s->self), "%s.%" PRIu64, S.inbox, s->id);
	s->last_in = s->last_out = ev_now(S.loop);
	s->hnext = S.buckets[s->id % NBUCKETS];
	S.buckets[s->id % NBUCKETS] = s;
	if ((s->next = S.all) != NULL)
		S.all->prev = s;
	S.all = s;
	S.st.sessions++;
	return s;
}

/* Takes s out of the table and the list of live sessions. */
static void
sess_unlink(struct sess *s)
{
	struct sess **pp = &S.buckets[s->id % NBUCKETS];

	while (*pp != s)
		pp = &(*pp)->hnext;
	*pp = s->hnext;
	if (s->prev)
		s->prev->next = s->next;
	else
		S.all = s->next;
	if (s->next)
		s->next->prev = s->prev;
	S.st.sessions--;
}

static void
sess_free(struct sess *s)
{
	sess_unlink(s);
	buf_free(&s->out);
	free(s);
}

static void open_for(const char *peer);

/* The daemon has read every line of an ended session and closed it: an
 * open that waited for that goes ahead now. */
static void
on_drained(void *arg)
{
	struct sess *s = arg;
	char peer[sizeof(s->waiting)];

	if (s->prev)
		s->prev->next = s->next;
	else
		S.draining = s->next;
	if (s->next)
		s->next->prev = s->prev;
	snprintf(peer, sizeof(peer), "%s", s->waiting);
	buf_free(&s->out);
	free(s);
	if (peer[0] != '\0')
		open_for(peer);
}

/* Serving side: the daemon's connection of an ended session is drained
 * before it is let go (lsock_drain), and a new session from the same
 * attaching process waits for that, so that the daemon never reads the
 * new session's lines (a chatd's hello, its devices) before the last lines
 * of the old one. */
static void
sess_drain(struct sess *s)
{
	struct lsock *l = s->l;

	sess_unlink(s);			/* s->l stays, for session_stop */
	s->prev = NULL;
	if ((s->next = S.draining) != NULL)
		S.draining->prev = s;
	S.draining = s;
	lsock_drain(l, on_drained, 2.0);
}

static void
tell(struct sess *s, const char *what)
{
	if (s->peer[0] != '\0')
		bus_publish_hdr(S.bus, s->peer, s->self, "Chat-Session", what,
		    NULL, NULL, NULL, 0);
}

/* Ends s on this side, telling the other side if asked. */
static void
end(struct sess *s, const char *why, int tell_peer)
{
	log_info("session %" PRIu64 "%s%s ended: %s", s->id,
	    s->peer[0] ? " with " : "", s->peer, why);
	if (tell_peer)
		tell(s, "close");
	if (s->c != NULL) {
		ipc_conn_set_data(s->c, NULL);
		ipc_close(s->c);
	}
	S.st.ended++;
	if (s->l != NULL)
		sess_drain(s);
	else
		sess_free(s);
}

/* Publishes lines buf[0..len) to the peer in pieces the server takes,
 * cut after a newline.  -1 (and s is ended) on failure. */
static int
send_lines(struct sess *s, const char *buf, size_t len)
{
	size_t max = bus_max_payload(S.bus) - 512, n;
	char seq[24];

	while (len > 0) {
		n = len;
		if (n > max) {
			const char *nl = memrchr(buf, '\n', max);
			if (nl == NULL) {
				end(s, "a line longer than the bus takes", 1);
				return -1;
			}
			n = (size_t)(nl - buf) + 1;
		}
		snprintf(seq, sizeof(seq), "%" PRIu64, ++s->seq_out);
		if (bus_publish_hdr(S.bus, s->peer, s->self, "Chat-Seq", seq,
		    NULL, NULL, buf, n) == -1) {
			end(s, "the bus took no more (buffer full)", 1);
			return -1;
		}
		S.st.msgs_out++;
		buf += n;
		len -= n;
	}
	s->last_out = ev_now(S.loop);
	return 0;
}

static void
ping(struct sess *s)
{
	char seq[24];

	snprintf(seq, sizeof(seq), "%" PRIu64, ++s->seq_out);
	bus_publish_hdr(S.bus, s->peer, s->self, "Chat-Session", "ping",
	    "Chat-Seq", seq, NULL, 0);
	s->last_out = ev_now(S.loop);
}

static void
send_open(struct sess *s)
{
	ev_tstamp now = ev_now(S.loop);

	bus_publish_hdr(S.bus, S.service, s->self, "Chat-Session", "open",
	    NULL, NULL, NULL, 0);
	s->open_wait = s->open_wait ? s->open_wait * 2 : TICK;
	if (s->open_wait > OPEN_MAX)
		s->open_wait = OPEN_MAX;
	s->next_open = now + s->open_wait;
}

/* Lines that came over the bus, to the local side. */
static int
deliver(struct sess *s, const char *data, size_t len)
{
	if (S.serving) {
		if (lsock_write(s->l, data, len) == -1) {
			end(s, "the daemon is not reading", 1);
			return -1;
		}
		return 0;
	}
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl ? (size_t)(nl - data) : len;
		if (ipc_send(s->c, data, n) == -1) {
			end(s, "the local program is not reading", 1);
			return -1;
		}
		n += nl ? 1 : 0;
		data += n;
		len -= n;
	}
	return 0;
}

/* The attach side's answer to its open. */
static void
opened(struct sess *s, struct bus_msg *m, const char *kind)
{
	const char *reply = bus_msg_reply(m);

	if (strcmp(kind, "refused") == 0) {
		log_debug("session %" PRIu64 ": refused (the daemon is "
		    "down): trying again", s->id);
		return;
	}
	if (s->open || reply == NULL)
		return;			/* an answer to a resent open */
	snprintf(s->peer, sizeof(s->peer), "%s", reply);
	s->open = 1;
	S.st.opened++;
	log_info("session %" PRIu64 " open with %s", s->id, s->peer);
	if (s->out.len > 0 && send_lines(s, s->out.p, s->out.len) == 0)
		s->out.len = 0;
}

/* Everything that arrives on our session subjects. */
static void
on_inbox(void *arg, struct bus_msg *m)
{
	const char *subj = bus_msg_subject(m), *dot = strrchr(subj, '.');
	const char *kind, *seqs, *data;
	struct sess *s;
	size_t len;

	(void)arg;
	s = dot ? find(strtoull(dot + 1, NULL, 10)) : NULL;
	if (bus_msg_no_responders(m)) {
		if (s != NULL && s->open)
			end(s, "the other side is gone", 0);
		return;			/* an unanswered open: retried */
	}
	kind = bus_msg_header(m, "Chat-Session");
	if (s == NULL) {
		if ((kind == NULL || strcmp(kind, "close") != 0) &&
		    bus_msg_reply(m) != NULL)
			bus_publish_hdr(S.bus, bus_msg_reply(m), NULL,
			    "Chat-Session", "close", NULL, NULL, NULL, 0);
		return;
	}
	if (kind != NULL && strcmp(kind, "close") == 0) {
		end(s, "closed by the other side", 0);
		return;
	}
	if (!S.serving && !s->open) {
		if (kind != NULL && strcmp(kind, "ping") != 0)
			opened(s, m, kind);
		else
			end(s, "lines before the session was open", 1);
		return;
	}
	if (kind != NULL && strcmp(kind, "ping") != 0)
		return;			/* "ok" to a resent open */
	if ((seqs = bus_msg_header(m, "Chat-Seq")) == NULL ||
	    strtoull(seqs, NULL, 10) != s->seq_in + 1) {
		end(s, "lines lost on the way (a gap in Chat-Seq)", 1);
		return;
	}
	s->seq_in++;
	s->last_in = ev_now(S.loop);
	S.st.msgs_in++;
	data = bus_msg_data(m, &len);
	if (len > 0)
		deliver(s, data, len);
}

static void
on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	ev_tstamp now = ev_now(loop);
	struct sess *s, *next;

	(void)w;
	(void)revents;
	for (s = S.all; s != NULL; s = next) {
		next = s->next;
		if (!S.serving && !s->open) {
			if (now >= s->next_open && bus_connected(S.bus))
				send_open(s);
			continue;
		}
		if (now - s->last_in >= DEAD_AFTER) {
			end(s, "nothing heard for 6 s", 1);
			continue;
		}
		if (now - s->last_out >= PING_AFTER)
			ping(s);
	}
}

/* Before the loop sleeps: what the local programs wrote this pass goes
 * out, one message a session. */
static void
on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct sess *s, *next;

	(void)loop;
	(void)w;
	(void)revents;
	for (s = S.all; s != NULL; s = next) {
		next = s->next;
		if (!s->dirty)
			continue;
		s->dirty = 0;
		if (s->open && s->out.len > 0 &&
		    send_lines(s, s->out.p, s->out.len) == 0)
			s->out.len = 0;
	}
}

void
session_bus_state(int up)
{
	struct sess *s, *next;

	if (up)
		return;
	/* Lines may have been lost with the connection: every session ends,
	 * and the programs on both ends reconnect and restate. */
	for (s = S.all; s != NULL; s = next) {
		next = s->next;
		end(s, "the connection to the cluster dropped", 1);
	}
}

static int
start(struct ev_loop *loop, struct bus *b, char *err, size_t errlen)
{
	char wild[160];

	S.loop = loop;
	S.bus = b;
	if (bus_new_inbox(S.inbox, sizeof(S.inbox)) == -1) {
		snprintf(err, errlen, "no inbox subject");
		return -1;
	}
	snprintf(wild, sizeof(wild), "%s.*", S.inbox);
	if (bus_subscribe(b, wild, NULL, on_inbox, NULL, err, errlen) == NULL)
		return -1;
	ev_timer_init(&S.tick, on_tick, TICK, TICK);
	ev_timer_start(loop, &S.tick);
	ev_prepare_init(&S.flusher, on_prepare);
	ev_prepare_start(loop, &S.flusher);
	ev_unref(loop);
	ev_unref(loop);
	return 0;
}

void
session_end_all(const char *why)
{
	while (S.all != NULL)
		end(S.all, why, 1);
}

void
session_stop(void)
{
	while (S.all != NULL)
		end(S.all, "chat-bus is stopping", 1);
	while (S.draining != NULL) {
		struct sess *s = S.draining;
		S.draining = s->next;
		lsock_close(s->l);	/* no on_drained now */
		buf_free(&s->out);
		free(s);
	}
	if (S.loop != NULL) {
		ev_ref(S.loop);
		ev_ref(S.loop);
		ev_timer_stop(S.loop, &S.tick);
		ev_prepare_stop(S.loop, &S.flusher);
	}
}

/* ---- the serving side ---- */

int
session_serve_start(struct ev_loop *loop, struct bus *b, const char *sock,
    size_t maxline, char *err, size_t errlen)
{
	S.serving = 1;
	S.sock = sock;
	S.maxline = maxline;
	return start(loop, b, err, errlen);
}

static void
on_daemon_lines(void *arg, const char *buf, size_t len)
{
	send_lines(arg, buf, len);
}

static void
on_daemon_gone(void *arg, const char *why)
{
	struct sess *s = arg;
	char msg[200];

	s->l = NULL;		/* lsock freed itself */
	snprintf(msg, sizeof(msg), "the daemon's connection: %s", why);
	end(s, msg, 1);
}

/* Same attaching process: the subjects differ only after the last dot. */
static int
same_origin(const char *a, const char *b)
{
	const char *da = strrchr(a, '.'), *db = strrchr(b, '.');

	return da != NULL && db != NULL && da - a == db - b &&
	    strncmp(a, b, (size_t)(da - a)) == 0;
}

void
session_serve_open(struct bus_msg *m)
{
	const char *peer = bus_msg_reply(m);

	if (peer != NULL && strlen(peer) < sizeof(((struct sess *)0)->peer))
		open_for(peer);
}

static void
open_for(const char *peer)
{
	struct sess *s;

	for (s = S.draining; s != NULL; s = s->next)
		if (same_origin(s->peer, peer)) {
			snprintf(s->waiting, sizeof(s->waiting), "%s", peer);
			return;
		}
	for (s = S.all; s != NULL; s = s->next)
		if (strcmp(s->peer, peer) == 0) {	/* a resent open */
			tell(s, "ok");
			return;
		}
	if ((s = sess_new()) == NULL)
		return;
	snprintf(s->peer, sizeof(s->peer), "%s", peer);
	s->open = 1;
	if ((s->l = lsock_connect(S.loop, S.sock, S.maxline, on_daemon_lines,
	    on_daemon_gone, s)) == NULL) {
		log_debug("session for %s refused: '%s': %m", peer, S.sock);
		tell(s, "refused");
		sess_free(s);
		return;
	}
	S.st.opened++;
	tell(s, "ok");
	log_info("session %" PRIu64 " open for %s on '%s'", s->id, peer,
	    S.sock);
}

/* ---- the attach side ---- */

static void
on_line(struct ipc_conn *c, const char *line, size_t len)
{
	struct sess *s = ipc_conn_data(c);

	if (s == NULL || attach_local_op(c, line, len))
		return;
	if (s->out.len + len + 1 > IPC_OUTBUF_MAX) {
		end(s, "the cluster is away and the buffer is full", 1);
		return;
	}
	if (buf_reserve(&s->out, len + 1) == -1) {
		end(s, "out of memory", 1);
		return;
	}
	buf_add(&s->out, line, len);
	buf_add(&s->out, "\n", 1);
	s->dirty = 1;
}

static void
on_open(struct ipc_conn *c)
{
	struct sess *s = sess_new();

	if (s == NULL) {
		ipc_close(c);
		return;
	}
	s->c = c;
	ipc_conn_set_data(c, s);
	if (bus_connected(S.bus))
		send_open(s);
}

static void
on_close(struct ipc_conn *c)
{
	struct sess *s = ipc_conn_data(c);

	if (s == NULL)
		return;
	s->c = NULL;
	end(s, "the local program closed it", 1);
}

static const struct ipc_handlers handlers = { on_line, on_open, on_close };

const struct ipc_handlers *
session_attach_start(struct ev_loop *loop, struct bus *b,
    const char *service, char *err, size_t errlen)
{
	S.serving = 0;
	S.service = service;
	return start(loop, b, err, errlen) == -1 ? NULL : &handlers;
}
