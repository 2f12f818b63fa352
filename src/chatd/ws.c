/*
 * ws: the libwebsockets side of chatd: the context on our libev loop, the
 * one protocol at /v1/ws, and its callback.
 *
 * Receiving: a client message usually arrives whole in one RECEIVE and is
 * handled in place.  One that arrives in pieces (a large frame, or a
 * fragmented message) is gathered in the connection's own buffer, and its
 * declared size is checked before anything is buffered: the moment the
 * bytes held plus the bytes the frame header still promises pass
 * max_frame, the connection is closed with 1009.  The rx buffer lws keeps
 * per connection is 1 KiB, not its 4 KiB default: lws allocates it for
 * every connection, idle or not.
 *
 * Sending: a live connection's frame goes out at once when nothing is
 * queued ahead of it (conn_push); the rest in SERVER_WRITEABLE, one frame
 * each time, asking again while frames are queued, with the LWS_PRE
 * headroom every wsframe has.
 *
 * Liveness is alive.c's: every frame and pong received counts as heard,
 * and a PING it could not write at once goes first in WRITEABLE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chatd.h"
#include "conf.h"
#include "limits.h"
#include "log.h"
#include "origin.h"

#define WS_PATH		"/v1/ws"

static int
accept_path(struct lws *wsi)
{
	char uri[64];

	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
		return 0;
	return strcmp(uri, WS_PATH) == 0;
}

/* Gathers a message arriving in pieces; 1 with *msg when it is whole. */
static int
gather(struct conn *c, const char *in, size_t len, const char **msg,
    size_t *msglen)
{
	size_t more = lws_remaining_packet_payload(c->wsi);
	int whole = lws_is_final_fragment(c->wsi) && more == 0;

	if (c->rx.len + len + more > chatd.max_frame)
		return -1;
	if (c->rx.len == 0 && whole) {
		*msg = in;
		*msglen = len;
		return 1;
	}
	if (buf_add(&c->rx, in, len) == -1)
		return -1;
	if (!whole)
		return 0;
	*msg = c->rx.p;
	*msglen = c->rx.len;
	return 1;
}

static int
on_receive(struct conn *c, const char *in, size_t len)
{
	const char *msg;
	size_t msglen;

	alive_heard(c);
	if (c->close_code != 0)
		return 0;	/* closing: what else it says does not matter */
	int r = gather(c, in, len, &msg, &msglen);
	if (r == -1) {
		static const char why[] = "frame too large";
		chatd.n.too_big++;
		log_warnx("%s: message over %zu bytes, closing", c->peer,
		    chatd.max_frame);
		/* Closed from WRITEABLE like any other close, the rest of the
		 * frame read and dropped meanwhile: returning -1 here with
		 * bytes of it still in lws's buffer lost the close frame. */
		c->rx.len = 0;
		conn_close(c, CLOSE_TOO_BIG, why, 0);
		return 0;
	}
	if (r == 0)
		return 0;
	chatd.n.frames_in++;
	if (lws_frame_is_binary(c->wsi))
		conn_error(c, NULL, "bad_request", "binary frames are not "
		    "accepted: send JSON in text frames");
	else
		frame_handle(c, msg, msglen);
	c->rx.len = 0;
	if (c->rx.cap > 65536)		/* do not keep a big buffer around */
		buf_free(&c->rx);
	return 0;
}

/*
 * RFC 6455 5.5.1 and 7.4: a close frame's body is empty or a 2-byte code
 * (and a reason).  Codes a peer may send: 1000-1003, 1007-1011 (those the
 * RFC defines; lws 4.1.6 itself refuses 1012-1014, registered later) and
 * 3000-4999.  lws refuses the codes below 3000 it does not know, but echoes
 * a 1-byte body and codes of 5000 and up, so every body is checked here.
 */
static int
close_payload_ok(const unsigned char *p, size_t len)
{
	if (len == 0)
		return 1;
	if (len == 1)
		return 0;
	unsigned code = (unsigned)p[0] << 8 | p[1];
	return (code >= 1000 && code <= 1003) ||
	    (code >= 1007 && code <= 1011) || (code >= 3000 && code <= 4999);
}

/* The client sent a close frame: an invalid one fails the connection with
 * 1002 (RFC 6455 7.1.7) instead of being echoed. */
static int
on_peer_close(struct lws *wsi, struct conn *c, const unsigned char *in,
    size_t len)
{
	static const char why[] = "invalid close frame";

	if (c != NULL)
		c->peer_closed = 1;
	if (close_payload_ok(in, len))
		return 0;
	chatd.n.bad_frames++;
	log_warnx("%s: close frame with %s, failing the connection",
	    c != NULL ? c->peer : "-", len == 1 ? "a 1-byte body" :
	    "an invalid code");
	lws_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR,
	    (unsigned char *)why, sizeof(why) - 1);
	return -1;
}

static int
on_writeable(struct conn *c)
{
	if (c->close_code != 0 && (!c->close_flush || c->out.n == 0)) {
		const char *why = c->close_why ? c->close_why : "";
		lws_close_reason(c->wsi, (enum lws_close_status)c->close_code,
		    (unsigned char *)why, strlen(why));
		return -1;
	}
	if (c->alive.ping_due) {
		if (alive_write_ping(c) == -1)
			return -1;
		if (c->out.n > 0)
			lws_callback_on_writable(c->wsi);
		return 0;
	}
	struct wsframe *f = fq_pop(&c->out);
	if (f == NULL)
		return 0;
	int n = lws_write(c->wsi, wsframe_data(f), f->len, LWS_WRITE_TEXT);
	wsframe_unref(f);
	if (n < 0)
		return -1;
	chatd.n.frames_out++;
	if (c->out.n > 0 || c->close_code != 0)
		lws_callback_on_writable(c->wsi);
	if (c->state == CONN_SYNCING && c->out.bytes < CHATD_SYNC_LOWAT)
		sync_drained(c);
	return 0;
}

static int
callback_chat(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct conn **pc = user;

	if (limits_callback(wsi, reason, in) == -1)
		return -1;	/* max_conns_per_ip */
	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return accept_path(wsi) && origin_allowed(wsi) ? 0 : -1;
	case LWS_CALLBACK_ESTABLISHED:
		if ((*pc = conn_new(wsi)) == NULL)
			return -1;
		return 0;
	case LWS_CALLBACK_RECEIVE:
		return *pc != NULL ? on_receive(*pc, in, len) : -1;
	case LWS_CALLBACK_RECEIVE_PONG:
		if (*pc != NULL)
			alive_heard(*pc);
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return *pc != NULL ? on_writeable(*pc) : -1;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		return on_peer_close(wsi, *pc, in, len);
	case LWS_CALLBACK_CLOSED:
		if (*pc != NULL) {
			conn_closed(*pc);
			*pc = NULL;
		}
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static const struct lws_protocols protocols[] = {
	/* First, so a client naming no subprotocol gets it. */
	/* rx_buffer_size 1024: lws allocates it for every connection at once
	 * (pt_serv_buf_size, 4 KiB, if 0), so it is most of an idle
	 * connection's memory; longer frames come in pieces (gather). */
	{ "chat.v1", callback_chat, sizeof(struct conn *), 1024, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void
lws_log(int level, const char *line)
{
	int n = (int)strlen(line);

	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (level & LLL_ERR)
		log_warnx("lws: %.*s", n, line);
	else
		log_debug("lws: %.*s", n, line);
}

static lws_retry_bo_t retry;

void
ws_start(void)
{
	struct lws_context_creation_info info;
	void *loops[1] = { chatd.loop };

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
	memset(&info, 0, sizeof(info));
	info.port = chatd.port;
	info.iface = chatd.host;
	info.protocols = protocols;
	info.vhost_name = chatd.name;
	info.options = LWS_SERVER_OPTION_LIBEV |
	    LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_DISABLE_IPV6;
	info.foreign_loops = loops;
	/* Handshakes and other round trips lws protects: slow-header
	 * clients are dropped after this. */
	info.timeout_secs = 5;
	/* The whole request head, however slowly it trickles (slowloris). */
	info.timeout_secs_ah_idle = (unsigned)conf_int("handshake_timeout");
	limits_init((unsigned)conf_int("max_conns_per_ip"));
	limits_user_init((unsigned)conf_int("max_conns_per_user"));
	/* lws's validity pings off (a policy of zeros: without one it
	 * pings after 300 s): alive.c PINGs the silent and hangs up. */
	memset(&retry, 0, sizeof(retry));
	info.retry_and_idle_policy = &retry;
	chatd.lws = lws_create_context(&info);
	if (chatd.lws == NULL) {
		/* lws 4.1.6 leaks 96 bytes of the vhost it failed to make.
		 * Leave now, skipping the exit handlers, or LeakSanitizer's
		 * would turn this 111 into a 1 over lws's leak. */
		log_warnx("unable to listen on %s:%d", chatd.host, chatd.port);
		_exit(EXIT_TEMP);
	}
}

void
ws_stop(void)
{
	if (chatd.lws != NULL) {
		lws_context_destroy(chatd.lws);
		chatd.lws = NULL;
		limits_free();
	}
}
