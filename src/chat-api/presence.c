/*
 * presence: GET /v1/presence?users=a,b,c or ?group={gid}.  Presence is
 * private to friends and fellow group members.  With users=, names that
 * are neither the caller nor a friend (state `friends`) are left out of
 * the answer, not refused, so one stranger in a list does not fail the
 * rest.  With group=, the caller must be a member (403 not_member) and
 * gets every member.  The answer is chat-store's stored status (presence.get)
 * until presenced exists.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "json.h"
#include "util.h"

#define USERS_MAX	500	/* names in one users= query */

static void
answered(struct api_req *r, jv reply)
{
	jv p = jv_object_get(jv_copy(reply), jv_string("presence"));
	jv out = jv_array();
	int i, n;

	if (jv_get_kind(p) == JV_KIND_ARRAY) {
		n = jv_array_length(jv_copy(p));
		for (i = 0; i < n; i++) {
			jv e = jv_array_get(jv_copy(p), i);

			out = jv_array_append(out, api_pick(e, "user",
			    "status", "last_active_at", NULL));
			jv_free(e);
		}
	}
	jv_free(p);
	jv_free(reply);
	api_reply(r, 200, jv_object_set(jv_object(), jv_string("presence"),
	    out));
}

/* Asks chat-store for the presence of users (consumed, an array). */
static void
ask(struct api_req *r, jv users)
{
	if (jv_array_length(jv_copy(users)) == 0) {
		jv_free(users);
		answered(r, jv_object());
		return;
	}
	api_store(r, jv_object_set(api_op("presence.get"), jv_string("users"),
	    users), answered);
}

/* ctx: the names asked for; reply: the caller's friend list. */
static void
friends_known(struct api_req *r, jv reply)
{
	jv list = jv_object_get(jv_copy(reply), jv_string("friends"));
	jv ok = jv_object(), users = jv_array();
	int i, n;

	ok = jv_object_set(ok, jv_string(r->user), jv_true());
	if (jv_get_kind(list) == JV_KIND_ARRAY) {
		n = jv_array_length(jv_copy(list));
		for (i = 0; i < n; i++) {
			jv f = jv_array_get(jv_copy(list), i);
			const char *u = json_str(f, "user", NULL);
			const char *st = json_str(f, "state", NULL);

			if (u != NULL && st != NULL &&
			    strcmp(st, "friends") == 0)
				ok = jv_object_set(ok, jv_string(u),
				    jv_true());
			jv_free(f);
		}
	}
	jv_free(list);
	jv_free(reply);
	n = jv_array_length(jv_copy(r->ctx));
	for (i = 0; i < n; i++) {
		jv u = jv_array_get(jv_copy(r->ctx), i);

		if (jv_object_has(jv_copy(ok), jv_copy(u)))
			users = jv_array_append(users, u);
		else
			jv_free(u);
	}
	jv_free(ok);
	ask(r, users);
}

static void
group_known(struct api_req *r, jv reply)
{
	jv m = jv_object_get(jv_copy(reply), jv_string("members"));
	int i, n, found = 0;

	if (jv_get_kind(m) != JV_KIND_ARRAY) {
		jv_free(m);
		m = jv_array();
	}
	n = jv_array_length(jv_copy(m));
	for (i = 0; i < n && !found; i++) {
		jv u = jv_array_get(jv_copy(m), i);

		found = jv_get_kind(u) == JV_KIND_STRING &&
		    strcmp(jv_string_value(u), r->user) == 0;
		jv_free(u);
	}
	jv_free(reply);
	if (!found) {
		jv_free(m);
		api_error(r, 403, "not_member",
		    "you are not a member of that group");
		return;
	}
	ask(r, m);
}

/* Splits the users= value into ctx, an array of distinct valid names;
 * -1 after answering 400. */
static int
parse_users(struct api_req *r, const char *users)
{
	char name[33];
	const char *p = users;
	jv seen = jv_object(), list = jv_array();
	size_t len, i;
	int count = 0;

	for (;;) {
		len = strcspn(p, ",");
		if (len == 0 || len > 32)
			goto bad;
		for (i = 0; i < len; i++)
			name[i] = (char)tolower((unsigned char)p[i]);
		name[len] = '\0';
		if (!valid_user(name))
			goto bad;
		if (!jv_object_has(jv_copy(seen), jv_string(name))) {
			if (++count > USERS_MAX) {
				jv_free(seen);
				jv_free(list);
				api_error(r, 400, "bad_request",
				    "query 'users' names more than %d users",
				    USERS_MAX);
				return -1;
			}
			seen = jv_object_set(seen, jv_string(name), jv_true());
			list = jv_array_append(list, jv_string(name));
		}
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	jv_free(seen);
	jv_free(r->ctx);
	r->ctx = list;
	return 0;
bad:
	jv_free(seen);
	jv_free(list);
	api_error(r, 400, "bad_request",
	    "query 'users' must be user names separated by commas");
	return -1;
}

void
api_presence_get(struct api_req *r)
{
	const char *users = api_query(r, "users");
	const char *group = api_query(r, "group");

	if ((users == NULL) == (group == NULL)) {
		api_error(r, 400, "bad_request",
		    "give exactly one of query 'users' or 'group'");
		return;
	}
	if (group != NULL) {
		if (!valid_group(group)) {
			api_error(r, 400, "bad_request",
			    "query 'group' must match ^g_[a-z0-9]{1,32}$");
			return;
		}
		api_store(r, api_set_str(api_op("group.get"), "group", group),
		    group_known);
		return;
	}
	if (parse_users(r, users) == -1)
		return;
	api_store(r, api_set_str(api_op("friend.list"), "user", r->user),
	    friends_known);
}
