/*
 * users: health, signup and profiles (GET /v1/users/{user}, GET and PATCH
 * /v1/me).  Passwords go to chat-store as given (over the private socket)
 * and are stored only as crypt(3) yescrypt hashes there; chat-api never
 * keeps or logs one.
 */
#include <string.h>

#include "api.h"
#include "json.h"

void
api_health(struct api_req *r)
{
	api_reply(r, 200, jv_object_set(jv_object(), jv_string("ok"),
	    jv_true()));
}

static void
profile(struct api_req *r, jv reply)
{
	api_reply(r, 200, api_pick(reply, "user", "display_name",
	    "created_at", NULL));
	jv_free(reply);
}

static void
signed_up(struct api_req *r, jv reply)
{
	api_reply(r, 201, api_pick(reply, "user", "display_name",
	    "created_at", NULL));
	jv_free(reply);
}

void
api_signup(struct api_req *r)
{
	char user[33];
	const char *pw, *dn;
	jv op;

	if (api_need_user(r, r->json, "user", user) == -1 ||
	    api_need_password(r, &pw) == -1 ||
	    api_check_text(r, r->json, "display_name", 0, API_NAME_MAX,
	    &dn) == -1)
		return;
	op = api_set_str(api_op("user.create"), "user", user);
	op = api_set_str(op, "password", pw);
	if (dn != NULL)
		op = api_set_str(op, "display_name", dn);
	api_store(r, op, signed_up);
}

void
api_user_get(struct api_req *r)
{
	const char *user = api_user_param(r, 0, "path segment 'user'");

	if (user == NULL)
		return;
	api_store(r, api_set_str(api_op("user.get"), "user", user), profile);
}

void
api_me_get(struct api_req *r)
{
	api_store(r, api_set_str(api_op("user.get"), "user", r->user),
	    profile);
}

void
api_me_patch(struct api_req *r)
{
	const char *dn;
	jv op;

	if (api_check_text(r, r->json, "display_name", 1, API_NAME_MAX,
	    &dn) == -1)
		return;
	op = api_set_str(api_op("user.update"), "user", r->user);
	api_store(r, api_set_str(op, "display_name", dn), profile);
}
