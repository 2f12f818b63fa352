/*
 * fuzz_frame: libFuzzer target for chatd's client frame validator,
 * frame_handle() in src/chatd/frames.c, compiled as it is and linked with
 * stand-ins for everything around it (connections, chat-route, presence),
 * so every frame type's field checks run on arbitrary bytes.  The first
 * input byte picks the connection's state (new, authenticating, live); the
 * rest is the frame's payload.  Any crash, leak or UB is a finding.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"
#include "limits.h"
#include "ipc.h"
#include "json.h"
#include "token.h"

struct chatd chatd;

/* Stand-ins: each does nothing but keep jq's ownership rule. */
void conn_error(struct conn *c, const char *cid, const char *code,
    const char *fmt, ...) { (void)c; (void)cid; (void)code; (void)fmt; }
void conn_close(struct conn *c, int code, const char *why, int flush)
{ c->close_code = code; (void)why; (void)flush; }
int conn_push_jv(struct conn *c, jv v) { (void)c; jv_free(v); return 0; }
int conn_push(struct conn *c, struct wsframe *f) { (void)c; (void)f; return 0; }
void conn_ref(struct conn *c) { c->refs++; }
void conn_unref(struct conn *c) { c->refs--; }
void conn_register(struct conn *c) { (void)c; }
struct conn *conn_lookup(const char *key, size_t len)
{ (void)key; (void)len; return NULL; }
int conn_rate_ok(struct conn *c) { (void)c; return 1; }
int limits_user_take(struct lws *wsi, const char *user, int force)
{ (void)wsi; (void)user; (void)force; return 0; }
void presence_heard(struct conn *c) { (void)c; }
void presence_offline(struct conn *c, const char *kind) { (void)c; (void)kind; }
void presence_friends(struct conn *c) { (void)c; }
void upstream_offline(struct conn *c) { (void)c; }
/* The link of the user's route shard: the stand-ins below ignore it. */
struct ipc_client *upstream_route(const char *user)
{ (void)user; return NULL; }
void sync_start(struct conn *c, uint64_t after, int silent)
{ (void)c; (void)after; (void)silent; }
void sync_start_registered(struct conn *c, uint64_t after)
{ (void)c; (void)after; }
int lws_rx_flow_control(struct lws *wsi, int enable)
{ (void)wsi; (void)enable; return 0; }
int ipc_call(struct ipc_client *cl, jv req, int timeout_ms, ipc_reply_fn *cb,
    void *cbarg)
{
	(void)cl; (void)timeout_ms;
	if (jv_get_kind(req) != JV_KIND_OBJECT) {
		jv_free(req);
		return -1;
	}
	jv_free(req);
	/* Answered at once, as a peer that is down would be after its
	 * timeout, so every callback runs and frees what it holds. */
	cb(cbarg, jv_parse("{\"id\":1,\"ok\":false,\"error\":{\"code\":"
	    "\"unavailable\",\"message\":\"fuzz\"}}"));
	return 0;
}
size_t ipc_client_pending(struct ipc_client *cl) { (void)cl; return 0; }
/* send_fast's line, built from the frame's raw spans, must be one JSON
 * object as jq reads it; answered with an ack or a refusal in turn. */
int ipc_call_raw(struct ipc_client *cl, const char *obj, size_t len,
    int timeout_ms, ipc_raw_reply_fn *cb, void *cbarg)
{
	static const char *replies[] = {
		"{\"id\":1,\"ok\":true,\"ack\":{\"type\":\"ack\",\"cid\":\"c\"}}",
		"{\"id\":1,\"ok\":false,\"error\":{\"code\":\"unavailable\","
		    "\"message\":\"fuzz\"}}",
	};
	static unsigned turn;
	char err[200];
	jv v;

	(void)cl; (void)timeout_ms;
	v = json_parse_object(obj, len, err, sizeof(err));
	if (!jv_is_valid(v))
		abort();
	jv_free(v);
	const char *r = replies[turn++ % 2];
	cb(cbarg, r, strlen(r));
	return 0;
}
int ipc_client_send_line(struct ipc_client *cl, const char *line, size_t len)
{ (void)cl; (void)line; (void)len; return 0; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct conn c;
	static const enum conn_state states[] = { CONN_NEW, CONN_AUTHING,
	    CONN_LIVE };

	if (size < 1)
		return 0;
	if (chatd.max_message == 0) {
		chatd.max_frame = 65536;
		chatd.max_message = 16384;
		chatd.send_queue_max = 1 << 20;
		chatd.rate_limit = chatd.rate_burst = 100;
		memset(chatd.secret, 7, sizeof(chatd.secret));
	}
	memset(&c, 0, sizeof(c));
	c.state = states[data[0] % 3];
	strcpy(c.user, "alice");
	strcpy(c.device, "dev1");
	strcpy(c.key, "alice/dev1");
	c.keylen = strlen(c.key);
	c.wsi = (struct lws *)&c;	/* never dereferenced: lws is stubbed */
	frame_handle(&c, (const char *)data + 1, size - 1);
	return 0;
}
