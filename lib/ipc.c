/*
 * ipc: NDJSON connections on a libev loop, server and client side.
 *
 * One struct conn serves both sides: a non-blocking Unix stream socket, a
 * framer for what comes in, and an output buffer for what goes out.  Output
 * is never written from ipc_send: the connection is put on a dirty list and
 * an ev_prepare watcher, which libev runs just before it would block, writes
 * every dirty connection once.  So all the lines one loop iteration produced
 * for a peer leave in one send(2), with no extra trip through the poller.
 * Only when the kernel buffer is full does a connection wait for EV_WRITE.
 *
 * The process runs one loop (see ipc.h), so the dirty list is module state.
 * Closing is deferred with ev_once, so a handler may close its own
 * connection (or another) and the caller's stack stays valid.
 *
 * The client keeps its requests in a list in the order they were made and
 * matches a reply by searching from the oldest: peers answer in order, so
 * the match is almost always the head and costs O(1).  The requests
 * written to the current connection are a prefix of that list; `unsent`
 * points at the first one not yet written.  Requests are moved into the
 * output buffer only while it holds less than CLIENT_HIWAT, and the flush
 * path tops it up as the kernel takes bytes.  So a peer that stalls while
 * we pile up requests (or a reconnect with a large backlog) never pushes
 * the buffer past IPC_OUTBUF_MAX: without this, a reconnect queued every
 * pending request at once, passed the limit, was closed, reconnected, and
 * did the same again for ever.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>

#include "framer.h"
#include "ipc.h"
#include "util.h"

#define RECONNECT_MIN	0.05	/* seconds */
#define RECONNECT_MAX	2.0
#define READS_PER_WAKE	8	/* bound one connection's turn on the loop */
#define CLIENT_HIWAT	(4 * 1024 * 1024)	/* requests buffered ahead */

struct conn {
	int		 fd;
	ev_io		 rio, wio;
	struct framer	 fr;
	char		*out;		/* out[off..len) is unwritten */
	size_t		 off, len, cap;
	int		 closing;
	int		 dirty;
	struct conn	*dprev, *dnext;	/* the dirty list */
	struct conn	*prev, *next;	/* the server's connections */
	void		(*line_cb)(struct conn *, const char *, size_t);
	void		(*close_cb)(struct conn *);
	struct ipc_server *srv;
	struct ipc_client *cl;
	void		*data;
	char		 name[24];
};

struct ipc_conn {
	struct conn	c;
};

struct ipc_server {
	struct ev_loop	*loop;
	int		 fd;
	ev_io		 aio;
	char		 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	size_t		 maxline;
	struct ipc_handlers h;
	void		*arg;
	struct conn	*conns;
	unsigned long	 nconns, overlong, torn, rejected;
};

struct pending {
	long		 id;
	char		*line;
	size_t		 len;
	ipc_reply_fn	*cb;		/* one of cb and rawcb */
	ipc_raw_reply_fn *rawcb;
	void		*cbarg;
	ev_timer	 timer;
	struct ipc_client *cl;
	struct pending	*prev, *next;
};

struct ipc_client {
	struct ev_loop	*loop;
	char		 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct conn	*conn;		/* NULL while disconnected */
	ev_timer	 retry;
	double		 backoff;
	long		 next_id;
	struct pending	*head, *tail;
	struct pending	*unsent;	/* first request not written to conn */
	size_t		 npending;
	ipc_event_fn	*on_event;
	ipc_raw_event_fn *on_raw_event;
	ipc_connect_fn	*on_connect;
	void		*arg;
};

static struct ev_loop	*flush_loop;
static ev_prepare	 flush_watcher;
static struct conn	*dirty_head;

static void flush_conn(struct conn *c);
static void conn_close(struct conn *c);
static void client_lost(struct ipc_client *cl);
static void client_pump(struct ipc_client *cl);

/* Output */

static void
dirty_remove(struct conn *c)
{
	if (!c->dirty)
		return;
	if (c->dprev)
		c->dprev->dnext = c->dnext;
	else
		dirty_head = c->dnext;
	if (c->dnext)
		c->dnext->dprev = c->dprev;
	c->dprev = c->dnext = NULL;
	c->dirty = 0;
}

static void
flush_dirty(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)loop; (void)w; (void)revents;
	while (dirty_head != NULL) {
		struct conn *c = dirty_head;
		dirty_remove(c);
		flush_conn(c);
	}
}

static void
flush_init(struct ev_loop *loop)
{
	if (flush_loop == loop)
		return;
	flush_loop = loop;
	ev_prepare_init(&flush_watcher, flush_dirty);
	ev_prepare_start(loop, &flush_watcher);
	ev_unref(loop);		/* flushing alone must not keep the loop alive */
}

/* Writes what the kernel takes; waits for EV_WRITE for the rest. */
static void
flush_conn(struct conn *c)
{
	struct ev_loop *loop = flush_loop;

	while (c->off < c->len) {
		ssize_t n = send(c->fd, c->out + c->off, c->len - c->off,
		    MSG_NOSIGNAL);
		if (n > 0) {
			c->off += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ev_io_start(loop, &c->wio);
			return;
		}
		conn_close(c);
		return;
	}
	c->off = c->len = 0;
	ev_io_stop(loop, &c->wio);
	if (c->cl != NULL)
		client_pump(c->cl);	/* requests held back: the next part */
}

static void
on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop; (void)revents;
	flush_conn(w->data);
}

static int
conn_queue(struct conn *c, const char *line, size_t len)
{
	if (c->closing)
		return -1;
	if (c->len - c->off + len + 1 > IPC_OUTBUF_MAX) {
		conn_close(c);	/* the peer is not reading */
		return -1;
	}
	if (c->cap - c->len < len + 1) {
		if (c->off > 0) {
			memmove(c->out, c->out + c->off, c->len - c->off);
			c->len -= c->off;
			c->off = 0;
		}
		size_t cap = c->cap ? c->cap : 4096;
		while (cap - c->len < len + 1)
			cap *= 2;
		if (cap != c->cap) {
			char *nb = realloc(c->out, cap);
			if (nb == NULL)
				return -1;
			c->out = nb;
			c->cap = cap;
		}
	}
	memcpy(c->out + c->len, line, len);
	c->out[c->len + len] = '\n';
	c->len += len + 1;
	if (!c->dirty) {
		c->dirty = 1;
		c->dprev = NULL;
		c->dnext = dirty_head;
		if (dirty_head)
			dirty_head->dprev = c;
		dirty_head = c;
	}
	return 0;
}

/* Input */

static void
on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;
	(void)loop; (void)revents;

	for (int i = 0; i < READS_PER_WAKE && !c->closing; i++) {
		ssize_t n = framer_read(&c->fr, c->fd);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			framer_eof(&c->fr);
			if (c->srv)
				c->srv->torn += c->fr.torn;
			conn_close(c);
			return;
		}
		const char *line;
		size_t len;
		int r;
		while (!c->closing && (r = framer_next(&c->fr, &line, &len)) != 0) {
			if (r == -1) {
				static const char e[] = "{\"id\":null,\"ok\":false,"
				    "\"error\":{\"code\":\"line_too_long\","
				    "\"message\":\"line over the length limit\"}}";
				if (c->srv) {
					c->srv->overlong++;
					conn_queue(c, e, sizeof(e) - 1);
				}
				continue;
			}
			if (len > 0 && line[len - 1] == '\r')
				len--;
			if (len > 0)
				c->line_cb(c, line, len);
		}
	}
}

/* Connections */

static struct conn *
conn_new(struct ev_loop *loop, int fd, size_t maxline)
{
	struct conn *c = calloc(1, sizeof(struct ipc_conn));
	if (c == NULL)
		return NULL;
	flush_init(loop);
	c->fd = fd;
	framer_init(&c->fr, maxline);
	ev_io_init(&c->rio, on_readable, fd, EV_READ);
	ev_io_init(&c->wio, on_writable, fd, EV_WRITE);
	c->rio.data = c->wio.data = c;
	snprintf(c->name, sizeof(c->name), "fd %d", fd);
	ev_io_start(loop, &c->rio);
	return c;
}

static void
conn_free(struct conn *c)
{
	framer_free(&c->fr);
	free(c->out);
	free(c);
}

static void
conn_finish(int revents, void *arg)
{
	struct conn *c = arg;
	(void)revents;
	if (c->close_cb)
		c->close_cb(c);
	conn_free(c);
}

/* Stops c at once; the owner hears of it (close_cb) from the loop. */
static void
conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	dirty_remove(c);
	ev_io_stop(flush_loop, &c->rio);
	ev_io_stop(flush_loop, &c->wio);
	close(c->fd);
	c->fd = -1;
	ev_once(flush_loop, -1, 0, 0.0, conn_finish, c);
	struct ipc_client *cl = c->cl;
	c->cl = NULL;
	if (cl != NULL && cl->conn == c) {
		cl->conn = NULL;
		client_lost(cl);
	}
}

/* Server */

static void
server_line(struct conn *c, const char *line, size_t len)
{
	c->srv->h.on_line((struct ipc_conn *)c, line, len);
}

static void
server_conn_closed(struct conn *c)
{
	struct ipc_server *s = c->srv;

	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	if (s->h.on_close)
		s->h.on_close((struct ipc_conn *)c);
}

/* Only our own uid (or root) may talk to a daemon's socket. */
static int
peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return 0;
	return cred.uid == geteuid() || cred.uid == 0;
}

static void
on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ipc_server *s = w->data;
	(void)revents;

	for (;;) {
		int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1)
			return;		/* EAGAIN, or EMFILE: try on the next wake */
		if (!peer_allowed(fd)) {
			s->rejected++;
			close(fd);
			continue;
		}
		struct conn *c = conn_new(loop, fd, s->maxline);
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->srv = s;
		c->line_cb = server_line;
		c->close_cb = server_conn_closed;
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		s->nconns++;
		if (s->h.on_open)
			s->h.on_open((struct ipc_conn *)c);
	}
}

static int
fill_addr(struct sockaddr_un *sa, const char *path, char *err, size_t errlen)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		snprintf(err, errlen, "socket path '%s' is too long", path);
		return -1;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

/* Refuses a live listener at path; unlinks a stale socket file. */
static int
clear_stale(const struct sockaddr_un *sa, char *err, size_t errlen)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	int r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	int saved = errno;
	close(fd);
	if (r == 0) {
		snprintf(err, errlen, "another process is listening on '%s'",
		    sa->sun_path);
		return -1;
	}
	if (saved == ECONNREFUSED && unlink(sa->sun_path) == -1 &&
	    errno != ENOENT) {
		snprintf(err, errlen, "unable to remove stale '%s': %s",
		    sa->sun_path, strerror(errno));
		return -1;
	}
	return 0;
}

struct ipc_server *
ipc_listen(struct ev_loop *loop, const char *path, size_t maxline,
    const struct ipc_handlers *h, void *arg, char *err, size_t errlen)
{
	struct sockaddr_un sa;

	if (fill_addr(&sa, path, err, errlen) == -1 ||
	    clear_stale(&sa, err, errlen) == -1)
		return NULL;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return NULL;
	}
	mode_t old = umask(077);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	int saved = errno;
	umask(old);
	if (r == -1 || chmod(path, 0600) == -1 || listen(fd, SOMAXCONN) == -1) {
		snprintf(err, errlen, "unable to listen on '%s': %s", path,
		    strerror(r == -1 ? saved : errno));
		close(fd);
		return NULL;
	}
	struct ipc_server *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return NULL;
	}
	s->loop = loop;
	s->fd = fd;
	strcpy(s->path, path);
	s->maxline = maxline ? maxline : IPC_MAXLINE_DEFAULT;
	s->h = *h;
	s->arg = arg;
	flush_init(loop);
	ev_io_init(&s->aio, on_accept, fd, EV_READ);
	s->aio.data = s;
	ev_io_start(loop, &s->aio);
	return s;
}

void
ipc_server_close(struct ipc_server *s)
{
	if (s == NULL)
		return;
	ev_io_stop(s->loop, &s->aio);
	close(s->fd);
	unlink(s->path);
	while (s->conns != NULL) {
		struct conn *c = s->conns;
		flush_conn(c);
		if (!c->closing) {
			c->closing = 1;
			dirty_remove(c);
			ev_io_stop(s->loop, &c->rio);
			ev_io_stop(s->loop, &c->wio);
			close(c->fd);
			server_conn_closed(c);
			conn_free(c);
		} else {
			/* its deferred close is pending: let it find no server */
			s->conns = c->next;
			c->close_cb = NULL;
		}
	}
	free(s);
}

void *ipc_server_arg(struct ipc_server *s) { return s->arg; }
struct ipc_server *ipc_conn_server(struct ipc_conn *c) { return c->c.srv; }
void ipc_conn_set_data(struct ipc_conn *c, void *data) { c->c.data = data; }
void *ipc_conn_data(struct ipc_conn *c) { return c->c.data; }
const char *ipc_conn_name(struct ipc_conn *c) { return c->c.name; }
size_t ipc_queued(struct ipc_conn *c) { return c->c.len - c->c.off; }
unsigned long ipc_server_conns(struct ipc_server *s) { return s->nconns; }
unsigned long ipc_server_overlong(struct ipc_server *s) { return s->overlong; }
unsigned long ipc_server_torn(struct ipc_server *s) { return s->torn; }

int
ipc_send(struct ipc_conn *c, const char *line, size_t len)
{
	return conn_queue(&c->c, line, len);
}

int
ipc_send_jv(struct ipc_conn *c, jv v)
{
	if (!jv_is_valid(v)) {
		jv_free(v);
		return -1;
	}
	jv s = jv_dump_string(v, 0);
	int r = conn_queue(&c->c, jv_string_value(s),
	    (size_t)jv_string_length_bytes(jv_copy(s)));
	jv_free(s);
	return r;
}

void
ipc_close(struct ipc_conn *c)
{
	if (c->c.closing)
		return;
	dirty_remove(&c->c);
	flush_conn(&c->c);
	conn_close(&c->c);
}

/* Client */

static void
pending_unlink(struct ipc_client *cl, struct pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		cl->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		cl->tail = p->prev;
	if (cl->unsent == p)
		cl->unsent = p->next;
	cl->npending--;
	ev_timer_stop(cl->loop, &p->timer);
}

static void
pending_free(struct pending *p)
{
	free(p->line);
	free(p);
}

/* The id of a reply written as {"id":N,... (ours always are), without
 * parsing the line: 1 and *id, or 0 (then the line is parsed). */
static int
fast_id(const char *line, size_t len, long *id)
{
	size_t i = 6;
	long n = 0;

	if (len < 8 || memcmp(line, "{\"id\":", 6) != 0)
		return 0;
	if (line[i] < '0' || line[i] > '9')
		return 0;
	for (; i < len && i < 24 && line[i] >= '0' && line[i] <= '9'; i++)
		n = n * 10 + (line[i] - '0');
	if (i >= len || (line[i] != ',' && line[i] != '}'))
		return 0;
	*id = n;
	return 1;
}

static jv
parse_object(const char *line, size_t len)
{
	jv v = jv_parse_sized(line, (int)len);

	if (jv_is_valid(v) && jv_get_kind(v) == JV_KIND_OBJECT)
		return v;
	jv_free(v);
	return jv_invalid();
}

static void
client_line(struct conn *c, const char *line, size_t len)
{
	struct ipc_client *cl = c->cl;
	jv v = jv_invalid();
	long want;
	int have = fast_id(line, len, &want);

	if (!have) {
		if (cl->on_raw_event != NULL && cl->on_raw_event(cl->arg, line,
		    len))
			return;	/* an event, taken as bytes */
		v = parse_object(line, len);
		if (!jv_is_valid(v))
			return;	/* a peer's garbage line: nothing to match */
		jv id = jv_object_get(jv_copy(v), jv_string("id"));
		if ((have = jv_get_kind(id) == JV_KIND_NUMBER))
			want = (long)jv_number_value(id);
		jv_free(id);
	}
	for (struct pending *p = cl->head; have && p != NULL; p = p->next) {
		if (p->id != want)
			continue;
		pending_unlink(cl, p);
		if (p->rawcb != NULL) {
			jv_free(v);
			p->rawcb(p->cbarg, line, len);
		} else {
			if (!jv_is_valid(v) && !jv_is_valid(v = parse_object(line,
			    len)))
				v = jv_parse("{\"ok\":false,\"error\":{\"code\":"
				    "\"unavailable\",\"message\":\"a reply that "
				    "is not JSON\"}}");
			p->cb(p->cbarg, v);
		}
		pending_free(p);
		return;
	}
	if (!jv_is_valid(v) && !jv_is_valid(v = parse_object(line, len)))
		return;
	if (cl->on_event)
		cl->on_event(cl->arg, v, line, len);
	else
		jv_free(v);
}

static void
client_conn_closed(struct conn *c)
{
	(void)c;	/* the client already let go of it in client_lost */
}

/* The connection broke: every request goes back to unsent, and we retry. */
static void
client_lost(struct ipc_client *cl)
{
	if (cl->conn != NULL) {
		struct conn *c = cl->conn;
		cl->conn = NULL;
		c->cl = NULL;
		conn_close(c);
	}
	cl->unsent = cl->head;
	ev_timer_set(&cl->retry, cl->backoff, 0.0);
	ev_timer_start(cl->loop, &cl->retry);
	cl->backoff = cl->backoff * 2 > RECONNECT_MAX ? RECONNECT_MAX :
	    cl->backoff * 2;
}

/* Moves unsent requests, oldest first, into the connection's output
 * buffer while it holds less than CLIENT_HIWAT. */
static void
client_pump(struct ipc_client *cl)
{
	struct pending *p;

	while ((p = cl->unsent) != NULL && cl->conn != NULL &&
	    cl->conn->len - cl->conn->off < CLIENT_HIWAT) {
		if (conn_queue(cl->conn, p->line, p->len) == -1)
			return;
		cl->unsent = p->next;
	}
}

static void
client_connect(struct ipc_client *cl)
{
	struct sockaddr_un sa;
	char err[256];

	if (fill_addr(&sa, cl->path, err, sizeof(err)) == -1)
		return;		/* checked in ipc_client_new: cannot happen */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		if (fd != -1)
			close(fd);
		client_lost(cl);
		return;
	}
	struct conn *c = conn_new(cl->loop, fd, IPC_MAXLINE_DEFAULT * 64);
	if (c == NULL) {
		close(fd);
		client_lost(cl);
		return;
	}
	c->cl = cl;
	c->line_cb = client_line;
	c->close_cb = client_conn_closed;
	cl->conn = c;
	cl->backoff = RECONNECT_MIN;
	if (cl->on_connect)
		cl->on_connect(cl->arg);
	client_pump(cl);
}

static void
on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop; (void)revents;
	client_connect(w->data);
}

struct ipc_client *
ipc_client_new(struct ev_loop *loop, const char *path, ipc_event_fn *on_event,
    ipc_connect_fn *on_connect, void *arg)
{
	struct ipc_client *cl = calloc(1, sizeof(*cl));

	if (cl == NULL || strlen(path) >= sizeof(cl->path)) {
		free(cl);
		return NULL;
	}
	flush_init(loop);
	cl->loop = loop;
	strcpy(cl->path, path);
	cl->on_event = on_event;
	cl->on_connect = on_connect;
	cl->arg = arg;
	cl->next_id = 1;
	cl->backoff = RECONNECT_MIN;
	/* The first connect happens on the loop, never in here, so on_connect
	 * always runs with the caller's pointer to cl already set. */
	ev_timer_init(&cl->retry, on_retry, 0.0, 0.0);
	cl->retry.data = cl;
	ev_timer_start(loop, &cl->retry);
	return cl;
}

void
ipc_client_free(struct ipc_client *cl)
{
	if (cl == NULL)
		return;
	ev_timer_stop(cl->loop, &cl->retry);
	if (cl->conn != NULL) {
		cl->conn->cl = NULL;	/* no top-up from the flush */
		flush_conn(cl->conn);
		conn_close(cl->conn);
	}
	while (cl->head != NULL) {
		struct pending *p = cl->head;
		pending_unlink(cl, p);
		pending_free(p);
	}
	free(cl);
}

/* Takes p off the list and answers it with an "unavailable" error. */
static void
fail_pending(struct ipc_client *cl, struct pending *p, const char *why)
{
	pending_unlink(cl, p);
	if (p->rawcb != NULL) {
		char line[160];
		int n = snprintf(line, sizeof(line), "{\"id\":%ld,\"ok\":false,"
		    "\"error\":{\"code\":\"unavailable\",\"message\":\"%s\"}}",
		    p->id, why);
		p->rawcb(p->cbarg, line, (size_t)n);
		pending_free(p);
		return;
	}
	p->cb(p->cbarg, jv_object_set(jv_object_set(
	    jv_object_set(jv_object(), jv_string("id"), jv_number(p->id)),
	    jv_string("ok"), jv_false()), jv_string("error"),
	    jv_object_set(jv_object_set(jv_object(), jv_string("code"),
	    jv_string("unavailable")), jv_string("message"),
	    jv_string(why))));
	pending_free(p);
}

static void
on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct pending *p = w->data;
	struct ipc_client *cl = p->cl;
	(void)loop; (void)revents;

	fail_pending(cl, p, cl->conn ? "no reply in time" : "peer is down");
}

void
ipc_client_cancel_all(struct ipc_client *cl)
{
	while (cl != NULL && cl->head != NULL)
		fail_pending(cl, cl->head, "stopping");
}

/* Queues a request whose line is already made (taken, malloc'd). */
static void
pending_add(struct ipc_client *cl, struct pending *p, int timeout_ms)
{
	p->cl = cl;
	ev_timer_init(&p->timer, on_timeout, timeout_ms / 1000.0, 0.0);
	p->timer.data = p;
	if (timeout_ms > 0)
		ev_timer_start(cl->loop, &p->timer);
	p->prev = cl->tail;
	if (cl->tail)
		cl->tail->next = p;
	else
		cl->head = p;
	cl->tail = p;
	cl->npending++;
	if (cl->unsent == NULL)
		cl->unsent = p;
	client_pump(cl);
}

int
ipc_call(struct ipc_client *cl, jv req, int timeout_ms, ipc_reply_fn *cb,
    void *cbarg)
{
	if (jv_get_kind(req) != JV_KIND_OBJECT) {
		jv_free(req);
		return -1;
	}
	struct pending *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		jv_free(req);
		return -1;
	}
	p->id = cl->next_id++;
	jv s = jv_dump_string(jv_object_set(req, jv_string("id"),
	    jv_number(p->id)), 0);
	p->len = (size_t)jv_string_length_bytes(jv_copy(s));
	p->line = malloc(p->len);
	if (p->line == NULL) {
		jv_free(s);
		free(p);
		return -1;
	}
	memcpy(p->line, jv_string_value(s), p->len);
	jv_free(s);
	p->cb = cb;
	p->cbarg = cbarg;
	pending_add(cl, p, timeout_ms);
	return 0;
}

int
ipc_call_raw(struct ipc_client *cl, const char *obj, size_t len,
    int timeout_ms, ipc_raw_reply_fn *cb, void *cbarg)
{
	char head[32];
	size_t i = 1;

	if (len < 2 || obj[0] != '{' || obj[len - 1] != '}')
		return -1;
	while (i < len && (obj[i] == ' ' || obj[i] == '\t'))
		i++;
	struct pending *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -1;
	p->id = cl->next_id++;
	/* {"id":N, then the members; {"id":N} for an empty object */
	size_t hlen = (size_t)snprintf(head, sizeof(head), "{\"id\":%ld%s",
	    p->id, obj[i] == '}' ? "" : ",");
	p->len = hlen + len - 1;
	if ((p->line = malloc(p->len)) == NULL) {
		free(p);
		return -1;
	}
	memcpy(p->line, head, hlen);
	memcpy(p->line + hlen, obj + 1, len - 1);
	p->rawcb = cb;
	p->cbarg = cbarg;
	pending_add(cl, p, timeout_ms);
	return 0;
}

int
ipc_client_send_line(struct ipc_client *cl, const char *line, size_t len)
{
	if (cl->conn == NULL)
		return -1;
	return conn_queue(cl->conn, line, len);
}

int ipc_client_connected(struct ipc_client *cl) { return cl->conn != NULL; }
size_t ipc_client_pending(struct ipc_client *cl) { return cl->npending; }

void
ipc_client_raw_events(struct ipc_client *cl, ipc_raw_event_fn *fn)
{
	cl->on_raw_event = fn;
}
