/*
 * groups: create, list, read, and membership.  The creator is owner and
 * member; any member adds; the owner removes anyone and a member removes
 * itself (chat-store enforces both, and the cap group_max_members, in the
 * same step as the write).  A group is visible to its members only.
 */
#include <ctype.h>
#include <string.h>

#include "api.h"
#include "json.h"
#include "util.h"

#define GID_RE	"^g_[a-z0-9]{1,32}$"

/* The gid path capture, or NULL after answering 400. */
static const char *
gid_param(struct api_req *r)
{
	const char *gid = api_param(r, 0);

	if (gid == NULL || !valid_group(gid)) {
		api_error(r, 400, "bad_request",
		    "path segment 'gid' must match " GID_RE);
		return NULL;
	}
	return gid;
}

/* 1 if user is in reply's (borrowed) "members". */
static int
is_member(jv reply, const char *user)
{
	jv m = jv_object_get(jv_copy(reply), jv_string("members"));
	int i, n, found = 0;

	if (jv_get_kind(m) == JV_KIND_ARRAY) {
		n = jv_array_length(jv_copy(m));
		for (i = 0; i < n && !found; i++) {
			jv u = jv_array_get(jv_copy(m), i);

			found = jv_get_kind(u) == JV_KIND_STRING &&
			    strcmp(jv_string_value(u), user) == 0;
			jv_free(u);
		}
	}
	jv_free(m);
	return found;
}

static void
created(struct api_req *r, jv reply)
{
	api_reply(r, 201, api_pick(reply, "group", "name", "owner", "members",
	    "created_at", NULL));
	jv_free(reply);
}

void
api_groups_post(struct api_req *r)
{
	const char *name;
	jv members, list = jv_array(), op;
	char u[40];
	int i, n, j;

	if (api_check_text(r, r->json, "name", 1, API_NAME_MAX, &name) == -1) {
		jv_free(list);
		return;
	}
	members = jv_object_get(jv_copy(r->json), jv_string("members"));
	if (jv_get_kind(members) == JV_KIND_INVALID ||
	    jv_get_kind(members) == JV_KIND_NULL) {
		jv_free(members);
		members = jv_array();
	}
	if (jv_get_kind(members) != JV_KIND_ARRAY) {
		jv_free(members);
		jv_free(list);
		api_error(r, 400, "bad_request",
		    "field 'members' must be an array of user names");
		return;
	}
	n = jv_array_length(jv_copy(members));
	if (n > api.group_max) {
		jv_free(members);
		jv_free(list);
		api_error(r, 409, "group_full",
		    "a group has at most %lld members", api.group_max);
		return;
	}
	for (i = 0; i < n; i++) {
		jv m = jv_array_get(jv_copy(members), i);

		if (jv_get_kind(m) != JV_KIND_STRING ||
		    jv_string_length_bytes(jv_copy(m)) > 32) {
			jv_free(m);
			goto bad;
		}
		for (j = 0; jv_string_value(m)[j] != '\0'; j++)
			u[j] = (char)tolower(
			    (unsigned char)jv_string_value(m)[j]);
		u[j] = '\0';
		jv_free(m);
		if (!valid_user(u))
			goto bad;
		list = jv_array_append(list, jv_string(u));
	}
	jv_free(members);
	op = api_set_str(api_op("group.create"), "owner", r->user);
	op = api_set_str(op, "name", name);
	api_store(r, jv_object_set(op, jv_string("members"), list), created);
	return;
bad:
	jv_free(members);
	jv_free(list);
	api_error(r, 400, "bad_request",
	    "field 'members' must be an array of user names (item %d)", i);
}

static void
groups_listed(struct api_req *r, jv reply)
{
	jv g = jv_object_get(jv_copy(reply), jv_string("groups"));

	if (jv_get_kind(g) != JV_KIND_ARRAY) {
		jv_free(g);
		g = jv_array();
	}
	jv_free(reply);
	api_reply(r, 200, jv_object_set(jv_object(), jv_string("groups"), g));
}

void
api_groups_get(struct api_req *r)
{
	api_store(r, api_set_str(api_op("group.list"), "user", r->user),
	    groups_listed);
}

static void
group_read(struct api_req *r, jv reply)
{
	if (!is_member(reply, r->user)) {
		jv_free(reply);
		api_error(r, 403, "not_member", "you are not a member of '%s'",
		    api_param(r, 0));
		return;
	}
	api_reply(r, 200, api_pick(reply, "group", "name", "owner", "members",
	    "created_at", NULL));
	jv_free(reply);
}

void
api_group_get(struct api_req *r)
{
	const char *gid = gid_param(r);

	if (gid != NULL)
		api_store(r, api_set_str(api_op("group.get"), "group", gid),
		    group_read);
}

static void
member_done(struct api_req *r, jv reply)
{
	jv_free(reply);
	api_ok_empty(r);
}

static void
member_op(struct api_req *r, const char *opname)
{
	const char *gid, *user;
	jv op;

	if ((gid = gid_param(r)) == NULL ||
	    (user = api_user_param(r, 1, "path segment 'user'")) == NULL)
		return;
	op = api_set_str(api_op(opname), "group", gid);
	op = api_set_str(op, "user", user);
	api_store(r, api_set_str(op, "by", r->user), member_done);
}

void
api_member_put(struct api_req *r)
{
	member_op(r, "group.add");
}

void
api_member_delete(struct api_req *r)
{
	member_op(r, "group.remove");
}
