/*
 * friends: PUT and DELETE /v1/friends/{user}, GET /v1/friends.  A request
 * is one-sided until the other user also adds (then both are `friends`);
 * chat-store keeps the states.  The list carries status and last_active_at
 * for `friends` only, read in one presence.get for all of them.
 */
#include <string.h>

#include "api.h"
#include "json.h"

static void
added(struct api_req *r, jv reply)
{
	api_reply(r, 200, api_pick(reply, "user", "state", NULL));
	jv_free(reply);
}

void
api_friend_put(struct api_req *r)
{
	const char *other = api_user_param(r, 0, "path segment 'user'");
	jv op;

	if (other == NULL)
		return;
	if (strcmp(other, r->user) == 0) {
		api_error(r, 400, "bad_request",
		    "path segment 'user' must not be yourself");
		return;
	}
	op = api_set_str(api_op("friend.add"), "user", r->user);
	api_store(r, api_set_str(op, "other", other), added);
}

static void
removed(struct api_req *r, jv reply)
{
	jv_free(reply);
	api_ok_empty(r);
}

void
api_friend_delete(struct api_req *r)
{
	const char *other = api_user_param(r, 0, "path segment 'user'");
	jv op;

	if (other == NULL)
		return;
	op = api_set_str(api_op("friend.remove"), "user", r->user);
	api_store(r, api_set_str(op, "other", other), removed);
}

/* ctx holds the friend list; reply is presence for its `friends`. */
static void
with_presence(struct api_req *r, jv reply)
{
	jv pres = jv_object_get(jv_copy(reply), jv_string("presence"));
	jv byuser = jv_object(), out = jv_array();
	int i, n;

	if (jv_get_kind(pres) == JV_KIND_ARRAY) {
		n = jv_array_length(jv_copy(pres));
		for (i = 0; i < n; i++) {
			jv p = jv_array_get(jv_copy(pres), i);
			const char *u = json_str(p, "user", NULL);

			if (u != NULL)
				byuser = jv_object_set(byuser, jv_string(u),
				    jv_copy(p));
			jv_free(p);
		}
	}
	jv_free(pres);
	n = jv_array_length(jv_copy(r->ctx));
	for (i = 0; i < n; i++) {
		jv f = jv_array_get(jv_copy(r->ctx), i);
		jv e = api_pick(f, "user", "state", NULL);
		const char *u = json_str(f, "user", NULL);
		const char *st = json_str(f, "state", NULL);

		if (u != NULL && st != NULL && strcmp(st, "friends") == 0) {
			jv p = jv_object_get(jv_copy(byuser), jv_string(u));
			const char *status = json_str(p, "status", NULL);
			int64_t at;

			if (!json_int(p, "last_active_at", &at))
				at = 0;
			e = api_set_str(e, "status",
			    status != NULL ? status : "offline");
			e = jv_object_set(e, jv_string("last_active_at"),
			    jv_number((double)at));
			jv_free(p);
		}
		out = jv_array_append(out, e);
		jv_free(f);
	}
	jv_free(byuser);
	jv_free(reply);
	api_reply(r, 200, jv_object_set(jv_object(), jv_string("friends"),
	    out));
}

static void
listed(struct api_req *r, jv reply)
{
	jv list = jv_object_get(jv_copy(reply), jv_string("friends"));
	jv names = jv_array(), op;
	int i, n;

	jv_free(reply);
	if (jv_get_kind(list) != JV_KIND_ARRAY) {
		jv_free(list);
		list = jv_array();
	}
	n = jv_array_length(jv_copy(list));
	for (i = 0; i < n; i++) {
		jv f = jv_array_get(jv_copy(list), i);
		const char *u = json_str(f, "user", NULL);
		const char *st = json_str(f, "state", NULL);

		if (u != NULL && st != NULL && strcmp(st, "friends") == 0)
			names = jv_array_append(names, jv_string(u));
		jv_free(f);
	}
	jv_free(r->ctx);
	r->ctx = list;
	if (jv_array_length(jv_copy(names)) == 0) {
		jv_free(names);
		with_presence(r, jv_object());
		return;
	}
	op = jv_object_set(api_op("presence.get"), jv_string("users"), names);
	api_store(r, op, with_presence);
}

void
api_friends_get(struct api_req *r)
{
	api_store(r, api_set_str(api_op("friend.list"), "user", r->user),
	    listed);
}
