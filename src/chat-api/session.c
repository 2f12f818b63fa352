/*
 * session: login and logout.  Login is three steps on chat-store and one on
 * chat-route: user.verify, device.login (a new device, or the one the body
 * names), token_make with the device's revocation generation and token_ttl,
 * then discovery for chat_url.  Logout is device.logout, which bumps that
 * generation: every token of the device stops working at once.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "conf.h"
#include "json.h"
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

static void
logged_out(struct api_req *r, jv reply)
{
	jv_free(reply);
	api_ok_empty(r);
}

void
api_logout(struct api_req *r)
{
	jv op = api_set_str(api_op("device.logout"), "user", r->user);

	api_store(r, api_set_str(op, "device", r->device), logged_out);
}
