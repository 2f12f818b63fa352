/*
 * ws: one WebSocket to chatd, kept open.  A libwebsockets client on a libev
 * loop: lws gets our loop as a foreign loop (LWS_SERVER_OPTION_LIBEV), so
 * stdin, the heartbeat and the reconnect backoff are plain ev watchers next
 * to the socket, and nothing polls.  (The default lws poll loop would do for
 * one socket too; libev is chosen because `chat send` must read stdin while
 * it waits for acks and heartbeats, which lws's loop offers only by adopting
 * the descriptor as a raw file.)
 *
 * Each attempt: discovery (GET /v1/discover, else the URL login gave), the
 * upgrade, then "auth" with the caller's "since".  Nothing else is written
 * until "ready" comes back; frames the caller queues before that are
 * refused so that the caller resends them from on_ready, with the same cid.
 * A failure waits 250 ms doubling to 8 s, a random half to whole of it, so
 * many clients that lost one server do not return in step.  lws itself pings
 * a connection idle for 10 s and hangs up one silent for 25 s, which finds a
 * server that vanished without a close.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <ev.h>
#include <libwebsockets.h>

#include "chat.h"
#include "json.h"
#include "log.h"

#define WS_BACKOFF_MIN	0.25
#define WS_BACKOFF_MAX	8.0
#define WS_HB_SECS	5.0
#define WS_AUTH_SECS	10.0	/* an upgrade that gets no "ready" */
#define WS_RX_MAX	(1024 * 1024)
#define WS_CLOSE_REPLACED 4002	/* chatd(1): the device connected again */

enum ws_state { WS_DOWN, WS_CONNECTING, WS_AUTH, WS_READY };

struct frame {
	struct frame	*next;
	size_t		 len;
	unsigned char	 buf[];	/* LWS_PRE headroom, then the text */
};

struct chat_ws {
	struct ev_loop		*loop;
	struct lws_context	*ctx;
	struct lws		*wsi;
	const struct chat_session *s;
	struct ws_handlers	 h;
	void			*arg;
	enum ws_state		 state;
	int			 closing;	/* ws_close called */
	int			 kill;		/* close this connection */
	int			 freeing;
	ev_timer		 retry;
	ev_timer		 hb;
	double			 backoff;
	double			 give_up;
	ev_tstamp		 down_since;
	ev_tstamp		 opened_at;
	struct frame		*out, *out_tail;
	char			 recv_id[17];
	char			*rx;
	size_t			 rx_len;
	int			 close_code;
	char			 url[512];
	char			 host[256];
	char			 path[512];
	char			 why[1024];
};

static const lws_retry_bo_t ws_idle_policy = {
	.secs_since_valid_ping = 10,
	.secs_since_valid_hangup = 25,
};

static void connect_now(struct chat_ws *ws);

static void
out_clear(struct chat_ws *ws)
{
	struct frame *f;

	while ((f = ws->out) != NULL) {
		ws->out = f->next;
		free(f);
	}
	ws->out_tail = NULL;
	ws->recv_id[0] = '\0';
}

/* Queues v (consumed) to be written; the caller asks for writable. */
static int
out_push(struct chat_ws *ws, jv v)
{
	struct frame *f;
	size_t len;
	char *s;

	if ((s = json_dump(v, &len)) == NULL)
		return -1;
	if ((f = malloc(sizeof(*f) + LWS_PRE + len)) == NULL) {
		free(s);
		return -1;
	}
	memcpy(f->buf + LWS_PRE, s, len);
	free(s);
	f->len = len;
	f->next = NULL;
	if (ws->out_tail != NULL)
		ws->out_tail->next = f;
	else
		ws->out = f;
	ws->out_tail = f;
	if (ws->wsi != NULL)
		lws_callback_on_writable(ws->wsi);
	return 0;
}

static void
schedule_retry(struct chat_ws *ws)
{
	ev_tstamp now = ev_now(ws->loop);
	double d;

	ws->state = WS_DOWN;
	if (ws->closing) {
		if (ws->h.on_closed)
			ws->h.on_closed(ws->arg);
		return;
	}
	if (ws->give_up > 0 && now - ws->down_since >= ws->give_up &&
	    ws->h.on_give_up) {
		ws->h.on_give_up(ws->arg);
		if (ws->closing)
			return;
	}
	d = ws->backoff * (0.5 + 0.5 * drand48());
	ws->backoff = ws->backoff * 2 > WS_BACKOFF_MAX ? WS_BACKOFF_MAX :
	    ws->backoff * 2;
	log_debug("reconnecting in %.2f s", d);
	ev_timer_stop(ws->loop, &ws->retry);
	ev_timer_set(&ws->retry, d, 0);
	ev_timer_start(ws->loop, &ws->retry);
}

/* The connection is gone, for whatever reason: tell the caller, retry. */
static void
went_down(struct chat_ws *ws, const char *why)
{
	enum ws_state was = ws->state;

	ws->wsi = NULL;
	ws->kill = 0;
	out_clear(ws);
	free(ws->rx);
	ws->rx = NULL;
	ws->rx_len = 0;
	ev_timer_stop(ws->loop, &ws->hb);
	if (was == WS_READY)
		ws->down_since = ev_now(ws->loop);
	ws->state = WS_DOWN;
	if (ws->freeing)
		return;
	/* Replaced by another connection of this device (4002): coming back
	 * at once would only replace that one in turn. */
	if (ws->close_code == WS_CLOSE_REPLACED)
		ws->backoff = WS_BACKOFF_MAX;
	ws->close_code = 0;
	if (!ws->closing && ws->h.on_down)
		ws->h.on_down(ws->arg, why);
	schedule_retry(ws);
}

static void
on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	connect_now(w->data);
}

static void
on_hb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct chat_ws *ws = w->data;

	(void)revents;
	if (ws->state == WS_READY)
		out_push(ws, JV_OBJECT(jv_string("type"), jv_string("hb")));
	else if (ws->state == WS_AUTH && ws->wsi != NULL &&
	    ev_now(loop) - ws->opened_at > WS_AUTH_SECS) {
		snprintf(ws->why, sizeof(ws->why), "no answer to auth");
		ws->kill = 1;
		lws_callback_on_writable(ws->wsi);
	}
}

/* A whole text message from the server. */
static void
on_message(struct chat_ws *ws, const char *buf, size_t len)
{
	const char *type;
	char err[128];
	jv v;

	v = json_parse_object(buf, len, err, sizeof(err));
	if (!jv_is_valid(v)) {
		log_warnx("ignoring a frame from the server: %s", err);
		jv_free(v);
		return;
	}
	type = json_str(v, "type", NULL);
	if (type != NULL && strcmp(type, "ready") == 0 &&
	    ws->state == WS_AUTH) {
		ws->state = WS_READY;
		ws->backoff = WS_BACKOFF_MIN;
		if (ws->h.on_ready)
			ws->h.on_ready(ws->arg, v);
		else
			jv_free(v);
		return;
	}
	if (ws->h.on_frame)
		ws->h.on_frame(ws->arg, v);
	else
		jv_free(v);
}

static void
send_auth(struct chat_ws *ws)
{
	const char *since = ws->h.since ? ws->h.since(ws->arg) : NULL;
	jv a;

	a = JV_OBJECT(jv_string("type"), jv_string("auth"),
	    jv_string("token"), jv_string(ws->s->token));
	if (since != NULL && since[0] != '\0')
		a = jv_object_set(a, jv_string("since"), jv_string(since));
	out_push(ws, a);
}

/* Writes one queued frame; more on the next writable. */
static int
write_one(struct chat_ws *ws, struct lws *wsi)
{
	struct frame *f;
	char tmp[64];
	int n;

	if (ws->kill || (ws->closing && ws->out == NULL &&
	    ws->recv_id[0] == '\0')) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	if ((f = ws->out) != NULL) {
		ws->out = f->next;
		if (ws->out == NULL)
			ws->out_tail = NULL;
		n = lws_write(wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
		free(f);
		if (n < 0)
			return -1;
	} else if (ws->recv_id[0] != '\0' && ws->state == WS_READY) {
		struct frame *r;

		n = snprintf(tmp, sizeof(tmp),
		    "{\"type\":\"recv\",\"id\":\"%s\"}", ws->recv_id);
		ws->recv_id[0] = '\0';
		if ((r = malloc(sizeof(*r) + LWS_PRE + (size_t)n)) == NULL)
			return -1;
		memcpy(r->buf + LWS_PRE, tmp, (size_t)n);
		n = lws_write(wsi, r->buf + LWS_PRE, (size_t)n, LWS_WRITE_TEXT);
		free(r);
		if (n < 0)
			return -1;
	}
	if (ws->out != NULL || ws->recv_id[0] != '\0' || ws->closing)
		lws_callback_on_writable(wsi);
	return 0;
}

static int
ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct chat_ws *ws = lws_get_opaque_user_data(wsi);
	const unsigned char *p = in;
	char *nrx;

	(void)user;
	if (ws == NULL)
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		snprintf(ws->why, sizeof(ws->why), "unable to connect to "
		    "'%s': %s", ws->url, in ? (const char *)in : "error");
		if (ws->wsi == wsi || ws->state == WS_CONNECTING)
			went_down(ws, ws->why);
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		ws->wsi = wsi;
		ws->state = WS_AUTH;
		ws->close_code = 0;
		ws->why[0] = '\0';
		ws->opened_at = ev_now(ws->loop);
		log_debug("connected to '%s'", ws->url);
		send_auth(ws);
		ev_timer_again(ws->loop, &ws->hb);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (lws_is_first_fragment(wsi))
			ws->rx_len = 0;
		if (ws->rx_len + len > WS_RX_MAX) {
			snprintf(ws->why, sizeof(ws->why),
			    "server frame over %d bytes", WS_RX_MAX);
			return -1;
		}
		if ((nrx = realloc(ws->rx, ws->rx_len + len + 1)) == NULL)
			return -1;
		ws->rx = nrx;
		memcpy(ws->rx + ws->rx_len, in, len);
		ws->rx_len += len;
		if (lws_is_final_fragment(wsi) && !lws_frame_is_binary(wsi)) {
			ws->rx[ws->rx_len] = '\0';
			on_message(ws, ws->rx, ws->rx_len);
			ws->rx_len = 0;
		}
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return write_one(ws, wsi);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (len >= 2) {
			ws->close_code = p[0] << 8 | p[1];
			snprintf(ws->why, sizeof(ws->why),
			    "server closed the connection (%d%s%.*s)",
			    ws->close_code, len > 2 ? ": " : "",
			    (int)(len > 2 && len < 200 ? len - 2 : 0),
			    (const char *)p + 2);
		}
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (ws->why[0] == '\0')
			snprintf(ws->why, sizeof(ws->why),
			    "connection to '%s' closed", ws->url);
		went_down(ws, ws->why);
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols ws_protocols[] = {
	{ "chat", ws_callback, 0, 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* The URL to try now: discovery, else login's. */
static void
pick_url(struct chat_ws *ws)
{
	const char *u;
	jv r;

	if (http_call(ws->s->server, ws->s->token, "GET", "/v1/discover",
	    jv_invalid(), &r, HTTP_QUIET) == 0 &&
	    (u = json_str(r, "chat_url", NULL)) != NULL && u[0] != '\0')
		snprintf(ws->url, sizeof(ws->url), "%s", u);
	else if (ws->s->chat_url[0] != '\0')
		snprintf(ws->url, sizeof(ws->url), "%s", ws->s->chat_url);
	else
		snprintf(ws->url, sizeof(ws->url), "ws://127.0.0.1:8081/v1/ws");
	jv_free(r);
}

static void
connect_now(struct chat_ws *ws)
{
	struct lws_client_connect_info ci;
	const char *prot, *ads, *path;
	char tmp[sizeof(ws->url)];
	struct lws *wsi = NULL;
	int port;

	pick_url(ws);
	memcpy(tmp, ws->url, sizeof(tmp));
	if (lws_parse_uri(tmp, &prot, &ads, &port, &path) != 0 ||
	    (strcmp(prot, "ws") != 0 && strcmp(prot, "wss") != 0)) {
		snprintf(ws->why, sizeof(ws->why), "bad chat url '%s'",
		    ws->url);
		went_down(ws, ws->why);
		return;
	}
	snprintf(ws->host, sizeof(ws->host), "%s", ads);
	snprintf(ws->path, sizeof(ws->path), "/%s", path);
	memset(&ci, 0, sizeof(ci));
	ci.context = ws->ctx;
	ci.address = ws->host;
	ci.port = port;
	ci.path = ws->path;
	ci.host = ws->host;
	/* no Origin: a CLI is not a browser, and chatd checks Origin against
	 * ws_origins only for browsers */
	ci.ssl_connection = strcmp(prot, "wss") == 0 ? LCCSCF_USE_SSL : 0;
	ci.local_protocol_name = ws_protocols[0].name;
	ci.opaque_user_data = ws;
	ci.retry_and_idle_policy = &ws_idle_policy;
	ci.pwsi = &wsi;
	ws->state = WS_CONNECTING;
	ws->why[0] = '\0';
	log_debug("connecting to '%s'", ws->url);
	if (lws_client_connect_via_info(&ci) == NULL &&
	    ws->state == WS_CONNECTING) {
		/* Failed before any callback could say so. */
		if (ws->why[0] == '\0')
			snprintf(ws->why, sizeof(ws->why),
			    "unable to connect to '%s'", ws->url);
		went_down(ws, ws->why);
	}
}

static void
lws_log(int level, const char *line)
{
	(void)level;
	log_debug("lws: %.*s", (int)strcspn(line, "\n"), line);
}

struct chat_ws *
ws_open(struct ev_loop *loop, const struct chat_session *s,
    const struct ws_handlers *h, void *arg, double give_up, char *err,
    size_t errlen)
{
	struct lws_context_creation_info info;
	struct chat_ws *ws;
	void *loops[1];

	if ((ws = calloc(1, sizeof(*ws))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	srand48((long)time(NULL) ^ (long)getpid() << 16);
	lws_set_log_level(getenv("CHAT_LWS_DEBUG") ? LLL_ERR | LLL_WARN |
	    LLL_NOTICE : 0, lws_log);
	loops[0] = loop;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = ws_protocols;
	info.options = LWS_SERVER_OPTION_LIBEV |
	    LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.foreign_loops = loops;
	info.gid = -1;
	info.uid = -1;
	if ((ws->ctx = lws_create_context(&info)) == NULL) {
		snprintf(err, errlen, "unable to start libwebsockets "
		    "(is the libev event plugin installed?)");
		free(ws);
		return NULL;
	}
	ws->loop = loop;
	ws->s = s;
	ws->h = *h;
	ws->arg = arg;
	ws->give_up = give_up;
	ws->backoff = WS_BACKOFF_MIN;
	ws->down_since = ev_now(loop);
	ev_timer_init(&ws->retry, on_retry, 0, 0);
	ws->retry.data = ws;
	ev_timer_start(loop, &ws->retry);
	ev_init(&ws->hb, on_hb);
	ws->hb.repeat = WS_HB_SECS;
	ws->hb.data = ws;
	return ws;
}

int
ws_send(struct chat_ws *ws, jv frame)
{
	if (ws->state != WS_READY || ws->closing) {
		jv_free(frame);
		return -1;
	}
	return out_push(ws, frame);
}

void
ws_recv(struct chat_ws *ws, const char *id)
{
	if (ws->state != WS_READY)
		return;
	snprintf(ws->recv_id, sizeof(ws->recv_id), "%s", id);
	lws_callback_on_writable(ws->wsi);
}

int
ws_ready(struct chat_ws *ws)
{
	return ws->state == WS_READY;
}

void
ws_close(struct chat_ws *ws)
{
	ws->closing = 1;
	ev_timer_stop(ws->loop, &ws->retry);
	if (ws->wsi != NULL)
		lws_callback_on_writable(ws->wsi);
	else if (ws->state != WS_CONNECTING && ws->h.on_closed)
		ws->h.on_closed(ws->arg);
}

void
ws_free(struct chat_ws *ws)
{
	if (ws == NULL)
		return;
	ws->freeing = 1;
	ev_timer_stop(ws->loop, &ws->retry);
	ev_timer_stop(ws->loop, &ws->hb);
	lws_context_destroy(ws->ctx);
	out_clear(ws);
	free(ws->rx);
	free(ws);
}
