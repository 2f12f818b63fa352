/*
 * lsock: one plain connection to a local daemon's Unix socket, for the
 * serving side of a session (session.c).
 *
 * Not lib/ipc.h's client: a session relays a connection as it is, so it
 * must neither match replies nor resend after a reconnect.  If the daemon
 * goes away the session ends and the program at the other end reconnects
 * and says again what it needs to (lib/ipc.h's clients do).  Bytes read
 * are handed on as whole lines; a partial line waits for its end.
 *
 * An ended session's connection is drained, not just closed: shutdown for
 * writing, then read until the daemon closes its end.  The daemon has then
 * read every line we wrote on it, so a new session's lines on another
 * connection cannot overtake the old ones (see session.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>

#include "ipc.h"
#include "chat-bus.h"

#define READ_CHUNK	(64 * 1024)

struct lsock {
	struct ev_loop	*loop;
	ev_io		 rio, wio;
	int		 fd;
	lsock_data_fn	*on_data;
	lsock_close_fn	*on_close;
	void		*arg;
	char		*in;		/* a partial line, then what was read */
	size_t		 inlen, incap;
	char		*out;		/* not yet written */
	size_t		 outoff, outlen, outcap;
	size_t		 maxline;
	int		 busy, dead;	/* in on_data; closed meanwhile */
	lsock_drained_fn *on_drained;	/* set: draining (lsock_drain) */
	ev_timer	 drain_tm;
};

static void
gone(struct lsock *l, const char *why)
{
	lsock_close_fn *fn = l->on_close;
	void *arg = l->arg;

	lsock_close(l);
	fn(arg, why);
}

static int
reserve(char **buf, size_t *cap, size_t need)
{
	size_t n = *cap ? *cap : 4096;
	char *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	if ((p = realloc(*buf, n)) == NULL)
		return -1;
	*buf = p;
	*cap = n;
	return 0;
}

/* Hands every whole line read so far on, keeps the partial rest.  1: l
 * was closed by the callee (and is freed now), -1: a line too long. */
static int
hand_lines(struct lsock *l)
{
	char *end = memrchr(l->in, '\n', l->inlen);
	size_t n;

	if (end == NULL)
		return l->inlen > l->maxline ? -1 : 0;
	n = (size_t)(end - l->in) + 1;
	l->busy = 1;
	l->on_data(l->arg, l->in, n);
	l->busy = 0;
	if (l->dead) {
		lsock_close(l);
		return 1;
	}
	if (l->on_drained != NULL)	/* lsock_drain from inside on_data */
		return 1;
	memmove(l->in, l->in + n, l->inlen - n);
	l->inlen -= n;
	return 0;
}

static void
drained(struct lsock *l)
{
	lsock_drained_fn *fn = l->on_drained;
	void *arg = l->arg;

	ev_timer_stop(l->loop, &l->drain_tm);
	l->on_drained = NULL;
	lsock_close(l);
	fn(arg);
}

static void
on_drain_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	drained(w->data);
}

/* Draining: what the daemon still says is dropped, until its EOF. */
static void
drain_read(struct lsock *l)
{
	char buf[4096];
	ssize_t n = read(l->fd, buf, sizeof(buf));

	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
		drained(l);
}

static void
on_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct lsock *l = w->data;
	ssize_t n;

	(void)loop;
	(void)revents;
	if (l->on_drained != NULL) {
		drain_read(l);
		return;
	}
	if (reserve(&l->in, &l->incap, l->inlen + READ_CHUNK) == -1) {
		gone(l, "out of memory");
		return;
	}
	n = read(l->fd, l->in + l->inlen, READ_CHUNK);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		gone(l, n == 0 ? "the daemon closed it" : strerror(errno));
		return;
	}
	if (n > 0) {
		l->inlen += (size_t)n;
		int rc = hand_lines(l);
		if (rc == -1)
			gone(l, "a line too long from the daemon");
	}
}

static void
flush(struct lsock *l)
{
	while (l->outoff < l->outlen) {
		ssize_t n = write(l->fd, l->out + l->outoff,
		    l->outlen - l->outoff);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			ev_io_start(l->loop, &l->wio);
			return;
		}
		if (n <= 0) {
			gone(l, strerror(errno));
			return;
		}
		l->outoff += (size_t)n;
	}
	l->outoff = l->outlen = 0;
	ev_io_stop(l->loop, &l->wio);
}

static void
on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	flush(w->data);
}

struct lsock *
lsock_connect(struct ev_loop *loop, const char *path, size_t maxline,
    lsock_data_fn *on_data, lsock_close_fn *on_close, void *arg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct lsock *l;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	strcpy(sa.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return NULL;
	/* A local stream connect completes at once or fails at once. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    (l = calloc(1, sizeof(*l))) == NULL) {
		int e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	l->loop = loop;
	l->fd = fd;
	l->on_data = on_data;
	l->on_close = on_close;
	l->arg = arg;
	l->maxline = maxline ? maxline : IPC_MAXLINE_DEFAULT;
	ev_io_init(&l->rio, on_read, fd, EV_READ);
	ev_io_init(&l->wio, on_write, fd, EV_WRITE);
	l->rio.data = l->wio.data = l;
	ev_io_start(loop, &l->rio);
	return l;
}

int
lsock_write(struct lsock *l, const char *buf, size_t len)
{
	if (l->outlen - l->outoff + len > IPC_OUTBUF_MAX)
		return -1;		/* the daemon is not reading */
	if (l->outoff > 0 && l->outoff == l->outlen)
		l->outoff = l->outlen = 0;
	if (reserve(&l->out, &l->outcap, l->outlen + len) == -1)
		return -1;
	memcpy(l->out + l->outlen, buf, len);
	l->outlen += len;
	/* Written when the loop next finds the socket writable: never
	 * from inside this call, so on_close never runs under a caller. */
	ev_io_start(l->loop, &l->wio);
	return 0;
}

void
lsock_drain(struct lsock *l, lsock_drained_fn *fn, double timeout)
{
	l->on_drained = fn;
	ev_io_stop(l->loop, &l->wio);
	l->outoff = l->outlen = 0;	/* lines of an ended session: dropped */
	shutdown(l->fd, SHUT_WR);
	ev_timer_init(&l->drain_tm, on_drain_timeout, timeout, 0.0);
	l->drain_tm.data = l;
	ev_timer_start(l->loop, &l->drain_tm);
}

size_t
lsock_queued(struct lsock *l)
{
	return l->outlen - l->outoff;
}

void
lsock_close(struct lsock *l)
{
	if (l == NULL)
		return;
	if (l->busy) {			/* from inside on_data: hand_lines frees */
		l->dead = 1;
		return;
	}
	ev_io_stop(l->loop, &l->rio);
	ev_io_stop(l->loop, &l->wio);
	if (l->on_drained != NULL)
		ev_timer_stop(l->loop, &l->drain_tm);
	close(l->fd);
	free(l->in);
	free(l->out);
	free(l);
}
