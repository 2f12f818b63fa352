/*
 * conn: every device's WebSocket, on one lws client context that runs on
 * our libev loop (LWS_SERVER_OPTION_LIBEV, the loop passed as a foreign
 * loop), so the rate timer, the pacing and thousands of sockets share one
 * thread and nothing polls.
 *
 * Connects are paced (--connect-rate a second, at most --connect-inflight
 * devices between connect and synced at once) so the server is measured, not flooded, at start.
 * A connect that fails is tried again up to CONN_TRIES times; a device
 * that drops after it was ready stays down (the run reports it), because a
 * reconnect would blur what was owed to whom.
 *
 * Writes happen only in the WRITEABLE callback, one frame each, with
 * LWS_PRE headroom in one static buffer: lws copies what the kernel does
 * not take at once, so the buffer is free again when lws_write returns.
 */
#include <stdlib.h>
#include <string.h>
#include <libwebsockets.h>

#include "bench.h"
#include "log.h"

#define CONN_TICK	0.01
#define CONN_TRIES	3
#define CONN_RX_MAX	(1024 * 1024)
#define WBUF		(64 * 1024)
#define SWEEP		0.1	/* heartbeat and recv sweep, seconds */

static unsigned char wbuf[LWS_PRE + WBUF];
static ev_timer pace, sweep;
static double pace_acc;
static int *retry;
static int nretry;
static unsigned long sweeps;

static int
is_mqtt(void)
{
	return B.o.target == TARGET_MQTT;
}

void
conn_kick(struct dev *d)
{
	if (d->wsi != NULL)
		lws_callback_on_writable(d->wsi);
}

static void
connect_dev(struct dev *d)
{
	struct lws_client_connect_info ci;

	memset(&ci, 0, sizeof(ci));
	ci.context = B.ctx;
	ci.address = B.ws_host;
	ci.port = B.ws_port;
	ci.path = B.ws_path;
	ci.host = B.ws_host;
	/* no Origin: not a browser (chatd checks Origin only for browsers) */
	ci.protocol = is_mqtt() ? "mqtt" : "chat.v1";
	ci.local_protocol_name = "bench";
	ci.opaque_user_data = d;
	if (B.o.nsources > 0)
		ci.iface = B.o.sources[d->idx % B.o.nsources];
	d->state = DEV_CONNECTING;
	d->step = 0;
	d->tries++;
	B.connecting++;
	if (lws_client_connect_via_info(&ci) == NULL && d->state ==
	    DEV_CONNECTING) {
		/* refused at once (no CONNECTION_ERROR callback came) */
		B.connecting--;
		d->state = DEV_DOWN;
		B.failed_connect++;
	}
}

static void
on_pace(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dev *d;

	(void)loop;
	(void)revents;
	pace_acc += B.o.connect_rate * CONN_TICK;
	while (pace_acc >= 1 && B.connecting < B.o.connect_inflight) {
		if (nretry > 0)
			d = &B.devs[retry[--nretry]];
		else if (B.next_connect < B.ndevs)
			d = &B.devs[B.next_connect++];
		else
			break;
		pace_acc -= 1;
		connect_dev(d);
	}
	if (pace_acc > B.o.connect_inflight)
		pace_acc = B.o.connect_inflight;
	if (B.next_connect >= B.ndevs && nretry == 0)
		ev_timer_stop(B.loop, w);
}

/* Heartbeats (chat), PINGREQs (mqtt) and "recv" frames, each device in its
 * own slice of time so they do not all fall on one tick. */
static void
on_sweep(struct ev_loop *loop, ev_timer *w, int revents)
{
	unsigned long hb_slices, rv_slices;
	int i;

	(void)loop;
	(void)w;
	(void)revents;
	sweeps++;
	hb_slices = (unsigned long)(B.o.hb_every / SWEEP);
	rv_slices = (unsigned long)(B.o.recv_every / SWEEP);
	if (is_mqtt())
		hb_slices = (unsigned long)(30 / SWEEP);
	for (i = 0; i < B.ndevs; i++) {
		struct dev *d = &B.devs[i];
		int kick = 0;

		if (d->state != DEV_READY)
			continue;
		if (hb_slices > 0 && (unsigned long)i % hb_slices ==
		    sweeps % hb_slices && B.o.target != TARGET_RELAY) {
			if (is_mqtt())
				d->ping_due = 1;
			else
				d->hb_due = 1;
			kick = 1;
		}
		if (rv_slices > 0 && (unsigned long)i % rv_slices ==
		    sweeps % rv_slices && d->last_id > d->recv_sent) {
			d->recv_due = 1;
			kick = 1;
		}
		if (kick)
			conn_kick(d);
	}
}

static void
dev_gone(struct dev *d, const char *why)
{
	int was = d->state;

	d->wsi = NULL;
	d->rx_len = 0;
	if (was == DEV_CONNECTING || was == DEV_AUTH) {
		B.connecting--;
		if (d->tries < CONN_TRIES && B.phase < PHASE_LOAD) {
			d->state = DEV_IDLE;
			retry[nretry++] = d->idx;
			if (!ev_is_active(&pace))
				ev_timer_start(B.loop, &pace);
			log_debug("%s: %s: trying again", d->user, why);
			return;
		}
		d->state = DEV_DOWN;
		B.failed_connect++;
		log_warnx("%s: unable to connect: %s", d->user, why);
		return;
	}
	d->state = DEV_DOWN;
	if (was == DEV_READY)
		bench_dev_down(d, why);
}

void
bench_dev_ready(struct dev *d)
{
	if (d->state != DEV_AUTH)
		return;
	d->state = DEV_READY;
	B.connecting--;
	B.ready++;
	if (B.ready + B.failed_connect == B.ndevs)
		B.t_connected = bench_now();
}

/* A whole frame for the chat and relay protocols. */
static int
rx_frame(struct dev *d, struct lws *wsi, const char *in, size_t len)
{
	if (lws_is_first_fragment(wsi) && lws_is_final_fragment(wsi)) {
		chat_rx(d, in, len);
		return 0;
	}
	if (lws_is_first_fragment(wsi))
		d->rx_len = 0;
	if (d->rx_len + len > CONN_RX_MAX)
		return -1;
	if (d->rx_len + len > d->rx_cap) {
		size_t cap = (d->rx_len + len) * 2;
		unsigned char *p = realloc(d->rx, cap);
		if (p == NULL)
			return -1;
		d->rx = p;
		d->rx_cap = cap;
	}
	memcpy(d->rx + d->rx_len, in, len);
	d->rx_len += len;
	if (lws_is_final_fragment(wsi)) {
		chat_rx(d, (const char *)d->rx, d->rx_len);
		d->rx_len = 0;
	}
	return 0;
}

static int
on_writeable(struct dev *d, struct lws *wsi)
{
	size_t len;

	len = is_mqtt() ? mqtt_write(d, wbuf + LWS_PRE, WBUF) :
	    chat_write(d, wbuf + LWS_PRE, WBUF);
	if (len > 0 && lws_write(wsi, wbuf + LWS_PRE, len, is_mqtt() ?
	    LWS_WRITE_BINARY : LWS_WRITE_TEXT) < (int)len)
		return -1;
	if (is_mqtt() ? mqtt_pending(d) : chat_pending(d))
		lws_callback_on_writable(wsi);
	return 0;
}

static int
callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct dev *d = lws_get_opaque_user_data(wsi);
	char why[160];

	if (d == NULL)
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		snprintf(why, sizeof(why), "%s", in ? (const char *)in :
		    "connection error");
		load_count_error("connect_error");
		dev_gone(d, why);
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		d->wsi = wsi;
		d->state = DEV_AUTH;
		lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (is_mqtt())
			return mqtt_rx(d, in, len);
		return rx_frame(d, wsi, in, len);
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return on_writeable(d, wsi);
	case LWS_CALLBACK_CLIENT_CLOSED:
		dev_gone(d, "closed by the server");
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	{ "bench", callback, 0, 65536, 0, NULL, 0 },
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

int
conn_init(char *err, size_t errlen)
{
	struct lws_context_creation_info info;
	void *loops[1] = { B.loop };
	char tmp[512];
	const char *prot, *ads, *path;

	snprintf(tmp, sizeof(tmp), "%s", B.o.ws);
	if (lws_parse_uri(tmp, &prot, &ads, &B.ws_port, &path) != 0 ||
	    strcmp(prot, "ws") != 0) {
		snprintf(err, errlen, "bad WebSocket url '%s' (ws://host:port"
		    "/path)", B.o.ws);
		return -1;
	}
	snprintf(B.ws_host, sizeof(B.ws_host), "%s", ads);
	snprintf(B.ws_path, sizeof(B.ws_path), "/%s", path);
	lws_set_log_level(LLL_ERR, lws_log);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_LIBEV;
	info.foreign_loops = loops;
	info.timeout_secs = 20;
	if ((B.ctx = lws_create_context(&info)) == NULL) {
		snprintf(err, errlen, "unable to make the lws context (is "
		    "libwebsockets-evlib-ev installed?)");
		return -1;
	}
	if ((retry = calloc((size_t)B.ndevs + 1, sizeof(*retry))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

void
conn_start(void)
{
	B.t_connect0 = bench_now();
	ev_timer_init(&pace, on_pace, CONN_TICK, CONN_TICK);
	ev_timer_start(B.loop, &pace);
	ev_timer_init(&sweep, on_sweep, SWEEP, SWEEP);
	ev_timer_start(B.loop, &sweep);
}

void
conn_fini(void)
{
	ev_timer_stop(B.loop, &pace);
	ev_timer_stop(B.loop, &sweep);
	if (B.ctx != NULL)
		lws_context_destroy(B.ctx);
	B.ctx = NULL;
	free(retry);
}
