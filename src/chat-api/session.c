/*
 * session: login and logout.  Login is three steps on chat-store and one on
 * chat-route: user.verify, device.login (a new device, or the one the body
 * names), token_make with the device's revocation generation and token_ttl,
 * then discovery for chat_url.  Logout is device.logout, which bumps that
 * generation: every token of the device stops working at once.  A body
 * {"all":true} logs out every device of the user (device.list, then
 * device.logout of each).
 *
 * A revoked token no longer opens a WebSocket, but one already open would
 * stay up: after the store call, chat-route's device.kick has every chatd
 * close the device's (or the user's) sockets.  The logout is answered
 * without waiting for that: the token is revoked whatever happens to the
 * kick, and a kick chat-route cannot take within API_KICK_TIMEOUT_MS is
 * logged as not delivered.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "conf.h"
#include "ipc.h"
#include "json.h"
#include "log.h"
#include "token.h"
#include "util.h"

static void
login_done(struct api_req *r, const char *url)
{
	jv out = jv_copy(r->ctx);

	api_reply(r, 200, api_set_str(out, "chat_url", url));
}

static void
logged_in(struct api_req *r, jv reply)
{
	struct token_claims c;
	char tok[TOKEN_MAX];
	const char *user = json_str(r->ctx, "user", NULL);
	const char *device = json_str(reply, "device", NULL);
	int64_t gen;

	memset(&c, 0, sizeof(c));
	if (device == NULL || !valid_device(device) ||
	    !json_int(reply, "gen", &gen) || gen < 0) {
		jv_free(reply);
		api_error(r, 503, "unavailable",
		    "chat-store: device.login gave no device");
		return;
	}
	snprintf(c.user, sizeof(c.user), "%s", user);
	snprintf(c.device, sizeof(c.device), "%s", device);
	c.expires = (int64_t)time(NULL) + api.token_ttl;
	c.gen = (uint64_t)gen;
	if (token_make(api.secret, &c, tok) == -1) {
		jv_free(reply);
		api_error(r, 503, "unavailable", "unable to make a token");
		return;
	}
	r->ctx = api_set_str(r->ctx, "device", device);
	r->ctx = api_set_str(r->ctx, "token", tok);
	r->ctx = jv_object_set(r->ctx, jv_string("expires"),
	    jv_number((double)c.expires));
	jv_free(reply);
	api_discover(r, login_done);
}

static void
verified(struct api_req *r, jv reply)
{
	const char *code = api_reply_code(reply);
	jv op;

	if (code != NULL && (strcmp(code, "unauthorized") == 0 ||
	    strcmp(code, "no_such_user") == 0 ||
	    strcmp(code, "not_found") == 0)) {
		jv_free(reply);
		api_error(r, 401, "unauthorized", "wrong user or password");
		return;
	}
	if (code != NULL) {
		api_store_error(r, reply);
		jv_free(reply);
		return;
	}
	jv_free(reply);
	op = api_pick(r->ctx, "user", "device", NULL);
	api_store(r, jv_object_set(op, jv_string("op"),
	    jv_string("device.login")), logged_in);
}

void
api_login(struct api_req *r)
{
	char user[33], err[128];
	const char *pw, *device;
	jv op;

	if (api_need_user(r, r->json, "user", user) == -1 ||
	    api_need_password(r, &pw) == -1)
		return;
	if (json_opt_str(r->json, "device", 64, &device, err,
	    sizeof(err)) == -1) {
		api_error(r, 400, "bad_request", "%s", err);
		return;
	}
	if (device != NULL && !valid_device(device)) {
		api_error(r, 400, "bad_request",
		    "field 'device' must match ^[A-Za-z0-9_-]{1,64}$");
		return;
	}
	jv_free(r->ctx);
	r->ctx = api_set_str(jv_object(), "user", user);
	if (device != NULL)
		r->ctx = api_set_str(r->ctx, "device", device);
	op = api_set_str(api_op("user.verify"), "user", user);
	api_store_raw(r, api_set_str(op, "password", pw), verified);
}

/* Who a logout's kick is for, for the log: "user/device" or "user". */
static void
kick_name(struct api_req *r, char *buf, size_t len)
{
	if (json_bool(r->ctx, "all", 0))
		snprintf(buf, len, "%s", r->user);
	else
		snprintf(buf, len, "%s/%s", r->user, r->device);
}

static void
kicked(void *arg, jv reply)
{
	struct api_req *r = arg;
	char who[100];
	int64_t n = 0;

	r->pending--;
	kick_name(r, who, sizeof(who));
	if (json_bool(reply, "ok", 0)) {
		json_int(reply, "chatds", &n);
		log_info("logout of '%s': %lld chatds told to close its sockets",
		    who, (long long)n);
	} else {
		jv e = jv_object_get(jv_copy(reply), jv_string("error"));
		const char *msg = json_str(e, "message", NULL);
		log_warnx("logout of '%s': kick not delivered (chat-route: %s): "
		    "its open sockets stay up", who, msg ? msg : "error");
		jv_free(e);
	}
	jv_free(reply);
	api_req_release(r);
}

/* Asks chat-route to close the logged-out sockets; r is held until the
 * answer (or the timeout) so the log can name them. */
static void
kick(struct api_req *r)
{
	char who[100];
	jv op = api_set_str(api_op("device.kick"), "user", r->user);

	if (!json_bool(r->ctx, "all", 0))
		op = api_set_str(op, "device", r->device);
	r->pending++;
	if (api.route == NULL ||
	    ipc_call(api.route, op, API_KICK_TIMEOUT_MS, kicked, r) == -1) {
		if (api.route == NULL)
			jv_free(op);
		r->pending--;
		kick_name(r, who, sizeof(who));
		log_warnx("logout of '%s': kick not delivered: no chat-route "
		    "client", who);
	}
}

static void
logged_out(struct api_req *r, jv reply)
{
	jv_free(reply);
	api_ok_empty(r);
	kick(r);
}

static void next_device(struct api_req *r);

static void
device_out(struct api_req *r, jv reply)
{
	const char *code = api_reply_code(reply);

	if (code != NULL && strcmp(code, "not_found") != 0) {
		/* Some tokens may be revoked already: still close those. */
		api_store_error(r, reply);
		jv_free(reply);
		kick(r);
		return;
	}
	jv_free(reply);
	next_device(r);
}

/* Logs out the next device of ctx.devices, or answers once none is left. */
static void
next_device(struct api_req *r)
{
	jv devs = jv_object_get(jv_copy(r->ctx), jv_string("devices"));
	int n = jv_get_kind(devs) == JV_KIND_ARRAY ?
	    jv_array_length(jv_copy(devs)) : 0;

	if (n == 0) {
		jv_free(devs);
		int64_t count = 0;
		json_int(r->ctx, "count", &count);
		api_reply(r, 200, jv_object_set(jv_object(),
		    jv_string("devices"), jv_number((double)count)));
		kick(r);
		return;
	}
	jv d = jv_array_get(jv_copy(devs), n - 1);
	r->ctx = jv_object_set(r->ctx, jv_string("devices"),
	    jv_array_slice(devs, 0, n - 1));
	jv op = api_set_str(api_op("device.logout"), "user", r->user);
	api_store_raw(r, jv_object_set(op, jv_string("device"), d),
	    device_out);
}

static void
listed(struct api_req *r, jv reply)
{
	jv list = jv_object_get(jv_copy(reply), jv_string("devices"));
	jv names = jv_array();

	jv_free(reply);
	if (jv_get_kind(list) == JV_KIND_ARRAY)
		jv_array_foreach(list, i, d) {
			const char *dev = json_str(d, "device", NULL);
			if (dev != NULL && valid_device(dev))
				names = jv_array_append(names, jv_string(dev));
			jv_free(d);
		}
	jv_free(list);
	r->ctx = jv_object_set(r->ctx, jv_string("count"),
	    jv_number(jv_array_length(jv_copy(names))));
	r->ctx = jv_object_set(r->ctx, jv_string("devices"), names);
	next_device(r);
}

void
api_logout(struct api_req *r)
{
	char err[256];
	jv op;

	if (r->body_len > 0) {		/* optional: {"all":true} */
		jv_free(r->json);
		r->json = json_parse_object(r->body, r->body_len, err,
		    sizeof(err));
		if (!jv_is_valid(r->json)) {
			jv_free(r->json);
			r->json = jv_null();
			api_error(r, 400, "bad_request", "body: %s", err);
			return;
		}
	}
	int all = json_bool(r->json, "all", -1);
	if (all == -1) {
		api_error(r, 400, "bad_request", "field 'all' must be a boolean");
		return;
	}
	jv_free(r->ctx);
	r->ctx = jv_object_set(jv_object(), jv_string("all"), jv_bool(all));
	op = api_set_str(api_op(all ? "device.list" : "device.logout"), "user",
	    r->user);
	if (all)
		api_store(r, op, listed);
	else
		api_store(r, api_set_str(op, "device", r->device), logged_out);
}
