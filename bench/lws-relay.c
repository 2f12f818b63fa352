/*
 * lws-relay: a bare libwebsockets relay, the baseline chat-bench compares
 * the stack with (it is not part of the product).  It does what a chat
 * server must at the least and nothing more: no storage, no ids, no sync.
 *
 *   client: {"type":"auth","user":U,"group"?:G}   -> {"type":"synced"}
 *   client: {"type":"send","cid":C,"to":U|"group":G,...}
 *           -> the frame itself, byte for byte, to every other connection
 *              of U (or of every member of G), then {"type":"ack","cid":C}
 *
 * One libev loop given to lws as a foreign loop, as chatd does, so the
 * comparison is of the work, not of the event loop.  Each connection has a
 * byte queue of length-prefixed frames; writes happen one frame per
 * WRITEABLE callback.  A group is whoever said it in their auth.
 *
 * usage: lws-relay [--listen HOST:PORT]     (default 127.0.0.1:8090)
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ev.h>
#include <libwebsockets.h>

#include "jscan.h"
#include "log.h"
#include "util.h"

#define NBUCKETS	65536
#define QMAX		(8 * 1024 * 1024)	/* bytes queued to one socket */
#define FRAME_MAX	65536

struct user;

struct rconn {
	struct lws	*wsi;
	struct user	*user;
	struct rconn	*next;		/* the user's other connections */
	unsigned char	*q;		/* [4-byte length][frame]... */
	size_t		 qhead, qlen, qcap;
	char		*rx;
	size_t		 rxlen;
};

struct user {
	char		 name[40];
	struct rconn	*conns;
	struct user	*next;		/* bucket chain */
};

struct group {
	char		 name[40];
	struct user	**m;
	int		 n, cap;
	struct group	*next;
};

static struct user *users[NBUCKETS];
static struct group *groups[NBUCKETS];
static unsigned char wbuf[LWS_PRE + FRAME_MAX];
static unsigned long nconns, nframes;

static unsigned
hash(const char *s, size_t n)
{
	unsigned h = 2166136261u;

	while (n-- > 0)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % NBUCKETS;
}

static struct user *
user_get(const char *s, size_t n, int create)
{
	unsigned h = hash(s, n);
	struct user *u;

	for (u = users[h]; u != NULL; u = u->next)
		if (strlen(u->name) == n && memcmp(u->name, s, n) == 0)
			return u;
	if (!create || n >= sizeof(u->name) || (u = calloc(1, sizeof(*u))) ==
	    NULL)
		return NULL;
	memcpy(u->name, s, n);
	u->next = users[h];
	users[h] = u;
	return u;
}

static struct group *
group_get(const char *s, size_t n, int create)
{
	unsigned h = hash(s, n);
	struct group *g;

	for (g = groups[h]; g != NULL; g = g->next)
		if (strlen(g->name) == n && memcmp(g->name, s, n) == 0)
			return g;
	if (!create || n >= sizeof(g->name) || (g = calloc(1, sizeof(*g))) ==
	    NULL)
		return NULL;
	memcpy(g->name, s, n);
	g->next = groups[h];
	groups[h] = g;
	return g;
}

/* Queues one frame to c; -1 if its queue is full. */
static int
enqueue(struct rconn *c, const void *buf, size_t len)
{
	uint32_t l = (uint32_t)len;

	if (c->qhead > 0 && c->qhead == c->qlen)
		c->qhead = c->qlen = 0;
	if (c->qlen + 4 + len > c->qcap) {
		if (c->qhead > 0) {
			memmove(c->q, c->q + c->qhead, c->qlen - c->qhead);
			c->qlen -= c->qhead;
			c->qhead = 0;
		}
		if (c->qlen + 4 + len > c->qcap) {
			size_t cap = (c->qlen + 4 + len) * 2;
			unsigned char *p;
			if (cap > QMAX || (p = realloc(c->q, cap)) == NULL)
				return -1;
			c->q = p;
			c->qcap = cap;
		}
	}
	memcpy(c->q + c->qlen, &l, 4);
	memcpy(c->q + c->qlen + 4, buf, len);
	c->qlen += 4 + len;
	lws_callback_on_writable(c->wsi);
	return 0;
}

static void
to_user(struct user *u, struct rconn *from, const char *buf, size_t len)
{
	struct rconn *c;

	for (c = u->conns; c != NULL; c = c->next)
		if (c != from && enqueue(c, buf, len) == -1)
			log_warnx("'%s': queue full, frame dropped", u->name);
}

static void
frame_in(struct rconn *c, const char *buf, size_t len)
{
	struct jfield f[5] = { { "type", NULL, 0 }, { "user", NULL, 0 },
	    { "group", NULL, 0 }, { "to", NULL, 0 }, { "cid", NULL, 0 } };
	struct group *g;
	struct user *u;
	char ack[128];
	int i, n;

	if (jscan(buf, len, f, 5) == -1 || f[0].val == NULL)
		return;
	if (jfield_is(&f[0], "auth") && c->user == NULL && f[1].val != NULL) {
		if ((u = user_get(f[1].val, f[1].len, 1)) == NULL)
			return;
		c->user = u;
		c->next = u->conns;
		u->conns = c;
		if (f[2].val != NULL && (g = group_get(f[2].val, f[2].len,
		    1)) != NULL) {
			for (i = 0; i < g->n && g->m[i] != u; i++)
				;
			if (i == g->n) {
				if (g->n == g->cap) {
					int cap = g->cap ? g->cap * 2 : 8;
					struct user **m = realloc(g->m,
					    (size_t)cap * sizeof(*m));
					if (m == NULL)
						return;
					g->m = m;
					g->cap = cap;
				}
				g->m[g->n++] = u;
			}
		}
		enqueue(c, "{\"type\":\"synced\"}", 17);
		return;
	}
	if (!jfield_is(&f[0], "send") || c->user == NULL)
		return;
	nframes++;
	if (f[3].val != NULL && (u = user_get(f[3].val, f[3].len, 0)) != NULL)
		to_user(u, c, buf, len);
	else if (f[2].val != NULL && (g = group_get(f[2].val, f[2].len, 0)) !=
	    NULL)
		for (i = 0; i < g->n; i++)
			to_user(g->m[i], c, buf, len);
	if (f[4].val != NULL && f[4].len < 64) {
		n = snprintf(ack, sizeof(ack), "{\"type\":\"ack\",\"cid\":"
		    "\"%.*s\"}", (int)f[4].len, f[4].val);
		enqueue(c, ack, (size_t)n);
	}
}

static int
receive(struct rconn *c, struct lws *wsi, const char *in, size_t len)
{
	char *p;

	if (lws_is_first_fragment(wsi) && lws_is_final_fragment(wsi)) {
		frame_in(c, in, len);
		return 0;
	}
	if (lws_is_first_fragment(wsi))
		c->rxlen = 0;
	if (c->rxlen + len > FRAME_MAX || (p = realloc(c->rx, c->rxlen +
	    len)) == NULL)
		return -1;
	c->rx = p;
	memcpy(c->rx + c->rxlen, in, len);
	c->rxlen += len;
	if (lws_is_final_fragment(wsi)) {
		frame_in(c, c->rx, c->rxlen);
		c->rxlen = 0;
	}
	return 0;
}

static int
writeable(struct rconn *c)
{
	uint32_t l;

	if (c->qhead == c->qlen)
		return 0;
	memcpy(&l, c->q + c->qhead, 4);
	memcpy(wbuf + LWS_PRE, c->q + c->qhead + 4, l);
	c->qhead += 4 + l;
	if (lws_write(c->wsi, wbuf + LWS_PRE, l, LWS_WRITE_TEXT) < (int)l)
		return -1;
	if (c->qhead < c->qlen)
		lws_callback_on_writable(c->wsi);
	return 0;
}

static void
closed(struct rconn *c)
{
	struct rconn **pp;

	if (c->user != NULL)
		for (pp = &c->user->conns; *pp != NULL; pp = &(*pp)->next)
			if (*pp == c) {
				*pp = c->next;
				break;
			}
	free(c->q);
	free(c->rx);
	nconns--;
}

static int
callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct rconn *c = user;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		memset(c, 0, sizeof(*c));
		c->wsi = wsi;
		nconns++;
		return 0;
	case LWS_CALLBACK_RECEIVE:
		return receive(c, wsi, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return writeable(c);
	case LWS_CALLBACK_CLOSED:
		closed(c);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static const struct lws_protocols protocols[] = {
	{ "chat.v1", callback, sizeof(struct rconn), 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	log_info("signal %d: %lu connections, %lu frames relayed", w->signum,
	    nconns, nframes);
	ev_break(loop, EVBREAK_ALL);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct lws_context_creation_info info;
	struct lws_context *ctx;
	struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
	void *loops[1] = { loop };
	char host[256] = "127.0.0.1";
	int port = 8090, ch;
	ev_signal sint, sterm;

	log_init("lws-relay");
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			if (parse_hostport(optarg, host, sizeof(host), &port) ==
			    -1)
				fatalx(EXIT_USAGE, "bad --listen '%s' "
				    "(HOST:PORT)", optarg);
			break;
		case 'h':
			printf("usage: lws-relay [--listen HOST:PORT]\n");
			return 0;
		default:
			fprintf(stderr, "usage: lws-relay [--listen "
			    "HOST:PORT]\n");
			return EXIT_USAGE;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = port;
	info.iface = host;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_LIBEV |
	    LWS_SERVER_OPTION_DISABLE_IPV6;
	info.foreign_loops = loops;
	if ((ctx = lws_create_context(&info)) == NULL)
		fatalx(EXIT_TEMP, "unable to listen on %s:%d", host, port);
	ev_signal_init(&sint, on_signal, SIGINT);
	ev_signal_init(&sterm, on_signal, SIGTERM);
	ev_signal_start(loop, &sint);
	ev_signal_start(loop, &sterm);
	log_info("listening on %s:%d", host, port);
	notify_ready();
	ev_run(loop, 0);
	lws_context_destroy(ctx);
	return 0;
}
