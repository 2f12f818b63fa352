/*
 * conn: one client WebSocket: its lifetime, its outgoing queue, how it is
 * closed, the registry of authenticated devices, and its rate limit.
 *
 * lws owns the socket; we own a struct conn that outlives it while replies
 * from chat-store or chat-route are still due (a reference each), so a
 * callback never touches freed memory: it finds wsi == NULL and gives up.
 *
 * Writes happen only in WRITEABLE (ws.c).  conn_push appends and asks for
 * the callback; a reader that does not read fills its queue up to
 * send_queue_max and is then closed (1008) with its queue freed, so a slow
 * client costs at most that much memory.
 *
 * A logout (chat-route's kick event) closes the device's connections here,
 * found by a walk of every connection so that one still authenticating,
 * whose token was good a moment ago, is closed too and never registers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"
#include "log.h"

static struct conn *all;	/* every conn not yet freed */

struct conn *
conn_new(struct lws *wsi)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->anext = all;
	if (all != NULL)
		all->aprev = c;
	all = c;
	c->wsi = wsi;
	c->refs = 1;
	c->state = CONN_NEW;
	c->tokens = chatd.rate_burst;
	c->filled = ev_now(chatd.loop);
	lws_get_peer_simple(wsi, c->peer, sizeof(c->peer));
	ev_timer_init(&c->auth_timer, frame_auth_timeout, chatd.auth_timeout,
	    0.0);
	c->auth_timer.data = c;
	ev_timer_start(chatd.loop, &c->auth_timer);
	alive_add(c);
	chatd.conns++;
	return c;
}

void
conn_ref(struct conn *c)
{
	c->refs++;
}

static void
conn_free(struct conn *c)
{
	if (c->aprev != NULL)
		c->aprev->anext = c->anext;
	else
		all = c->anext;
	if (c->anext != NULL)
		c->anext->aprev = c->aprev;
	fq_clear(&c->out);
	fq_clear(&c->held);
	buf_free(&c->rx);
	free(c);
}

void
conn_unref(struct conn *c)
{
	if (--c->refs == 0)
		conn_free(c);
}

void
conn_free_all(void)
{
	while (all != NULL)
		conn_free(all);
}

void
conn_closed(struct conn *c)
{
	ev_timer_stop(chatd.loop, &c->auth_timer);
	alive_remove(c);
	if (c->keylen > 0 && conn_lookup(c->key, c->keylen) == c) {
		strmap_del(&chatd.devices, c->key, c->keylen);
		upstream_offline(c);
	}
	/* Clean if the client sent a close frame or we closed on purpose. */
	presence_offline(c, c->peer_closed || c->close_code ? "close" : "drop");
	if (c->state >= CONN_SYNCING)
		log_info("'%s' on %s closed", c->key, c->peer);
	c->state = CONN_DEAD;
	c->wsi = NULL;
	fq_clear(&c->out);
	fq_clear(&c->held);
	buf_free(&c->rx);
	chatd.conns--;
	conn_unref(c);
}

int
conn_push(struct conn *c, struct wsframe *f)
{
	if (c->wsi == NULL || c->close_code != 0 || f == NULL)
		return -1;
	if (c->out.bytes + f->len > chatd.send_queue_max) {
		chatd.n.slow_closed++;
		log_warnx("'%s' on %s: send queue over %zu bytes, closing",
		    c->keylen ? c->key : "-", c->peer, chatd.send_queue_max);
		conn_close(c, CLOSE_POLICY, "send queue full", 0);
		return -1;
	}
	/* Nothing queued ahead and nothing of lws's own pending: write now.
	 * Asking for WRITEABLE instead costs two epoll_ctl and a loop turn
	 * a frame; a send the kernel takes only in part is kept and
	 * finished by lws, and later frames queue behind it. */
	if (c->state == CONN_LIVE && c->out.n == 0 &&
	    !lws_partial_buffered(c->wsi)) {
		if (lws_write(c->wsi, wsframe_data(f), f->len,
		    LWS_WRITE_TEXT) < 0) {
			conn_close(c, CLOSE_TRY_AGAIN, "write failed", 0);
			return -1;
		}
		chatd.n.frames_out++;
		return 0;
	}
	if (fq_push(&c->out, wsframe_ref(f)) == -1) {
		wsframe_unref(f);
		conn_close(c, CLOSE_TRY_AGAIN, "out of memory", 0);
		return -1;
	}
	lws_callback_on_writable(c->wsi);
	return 0;
}

int
conn_push_jv(struct conn *c, jv v)
{
	struct wsframe *f = wsframe_jv(v, 0);
	int r = conn_push(c, f);

	wsframe_unref(f);
	return r;
}

void
conn_error(struct conn *c, const char *cid, const char *code,
    const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	jv e = jv_object_set(jv_object(), jv_string("type"), jv_string("error"));
	if (cid != NULL)
		e = jv_object_set(e, jv_string("cid"), jv_string(cid));
	e = jv_object_set(e, jv_string("code"), jv_string(code));
	e = jv_object_set(e, jv_string("message"), jv_string(msg));
	conn_push_jv(c, e);
}

void
conn_close(struct conn *c, int code, const char *why, int flush)
{
	if (c->wsi == NULL || c->close_code != 0)
		return;
	c->close_code = code;
	c->close_why = why;
	c->close_flush = flush;
	if (!flush)
		fq_clear(&c->out);
	fq_clear(&c->held);
	lws_callback_on_writable(c->wsi);
	/* A peer that reads nothing never gives us WRITEABLE for the close
	 * frame: cut it off anyway. */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 2);
}

void
conn_register(struct conn *c)
{
	if (c->close_code != 0)
		return;		/* logged out while its auth was checked */
	struct conn *old = strmap_put(&chatd.devices, c->key, c->keylen, c);

	if (old == STRMAP_NOMEM) {
		conn_close(c, CLOSE_TRY_AGAIN, "out of memory", 0);
		return;
	}
	upstream_online(c);
	presence_online(c);	/* before the old one goes: no flicker */
	if (old != NULL && old != c) {
		log_info("'%s' connected again from %s: closing the one on %s",
		    c->key, c->peer, old->peer);
		old->keylen = 0;	/* no longer registered */
		presence_offline(old, "close");
		conn_close(old, CLOSE_REPLACED, "replaced by a new connection",
		    1);
	}
}

struct conn *
conn_lookup(const char *key, size_t len)
{
	return strmap_get(&chatd.devices, key, len);
}

size_t
conn_logout(const char *user, const char *device)
{
	size_t n = 0;

	for (struct conn *c = all; c != NULL; c = c->anext) {
		if (c->wsi == NULL || c->close_code != 0 ||
		    c->state < CONN_AUTHING || c->state == CONN_DEAD ||
		    strcmp(c->user, user) != 0 ||
		    (device != NULL && strcmp(c->device, device) != 0))
			continue;
		log_info("'%s' on %s logged out: closing", c->key, c->peer);
		fq_clear(&c->out);	/* nothing more reaches it */
		conn_error(c, NULL, "unauthorized", "logged out: log in again");
		conn_close(c, CLOSE_UNAUTHORIZED, "logged out", 1);
		n++;
	}
	return n;
}

int
conn_rate_ok(struct conn *c)
{
	ev_tstamp now = ev_now(chatd.loop);

	c->tokens += (now - c->filled) * chatd.rate_limit;
	if (c->tokens > chatd.rate_burst)
		c->tokens = chatd.rate_burst;
	c->filled = now;
	if (c->tokens < 1.0)
		return 0;
	c->tokens -= 1.0;
	return 1;
}
