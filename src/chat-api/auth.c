/*
 * auth: the Bearer token check every endpoint but health, signup and login
 * goes through.  token_check (lib/token.c) proves the form, the MAC under
 * $CHAT_HOME/etc/secret and the expiry without any I/O; then chat-store's
 * device.get says whether the device still exists and what its revocation
 * generation is now.  Logout bumps that generation, so a token dies at
 * once, everywhere, without a revocation list.  Every failure is the same
 * 401 unauthorized, with the reason in the message.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "json.h"
#include "token.h"

static void
checked(struct api_req *r, jv reply)
{
	int64_t gen;
	const char *code = api_reply_code(reply);

	if (code != NULL && strcmp(code, "not_found") != 0 &&
	    strcmp(code, "no_such_user") != 0 &&
	    strcmp(code, "unauthorized") != 0) {
		api_store_error(r, reply);	/* the store is down: 503 */
		jv_free(reply);
		return;
	}
	if (code != NULL) {
		jv_free(reply);
		api_error(r, 401, "unauthorized", "no such device");
		return;
	}
	if (!json_int(reply, "gen", &gen) || (uint64_t)gen != r->token_gen) {
		jv_free(reply);
		api_error(r, 401, "unauthorized", "token revoked");
		return;
	}
	jv_free(reply);
	r->auth_next(r);
}

void
api_auth(struct api_req *r, void (*next)(struct api_req *))
{
	struct token_claims c;
	char err[128];
	jv op;

	if (r->bearer_bad) {
		api_error(r, 401, "unauthorized",
		    "header 'Authorization' must be 'Bearer <token>'");
		return;
	}
	if (r->bearer[0] == '\0') {
		api_error(r, 401, "unauthorized", "missing bearer token");
		return;
	}
	if (token_check(api.secret, r->bearer, (int64_t)time(NULL), &c, err,
	    sizeof(err)) == -1) {
		api_error(r, 401, "unauthorized", "%s", err);
		return;
	}
	memcpy(r->user, c.user, sizeof(r->user));
	memcpy(r->device, c.device, sizeof(r->device));
	r->token_gen = c.gen;
	r->auth_next = next;
	op = api_set_str(api_op("device.get"), "user", r->user);
	api_store_raw(r, api_set_str(op, "device", r->device), checked);
}
