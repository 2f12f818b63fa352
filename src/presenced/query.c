/*
 * query: presence.query and presence.friends.  Presence is private to
 * friends and fellow group members: with "users", a name that is neither the
 * asker, a mutual friend, nor a member of one of the asker's groups is left
 * out of the answer (not refused, so one stranger does not fail the rest);
 * with "group", the asker must be a member and gets every member;
 * presence.friends answers for every mutual friend.
 *
 * Each is a short chain of chat-store reads (friend.list, group.list,
 * group.get, then presence.get for users presenced holds no record of);
 * the chain holds its connection by reference and answers only if the peer
 * is still there.
 */
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "json.h"
#include "log.h"
#include "util.h"
#include "presenced.h"

#define QUERY_MAX_USERS	1000
#define STORE_TIMEOUT	5000	/* ms for each read a query makes */

struct query {
	struct pres_conn *pc;
	jv		 id;
	char		 user[33];
	jv		 targets;	/* names asked for, in order */
	jv		 allowed;	/* name -> true; jv_invalid(): all */
	int		 waiting;	/* group.get replies still due */
	int		 failed;
};

static void
query_free(struct query *q)
{
	jv_free(q->id);
	jv_free(q->targets);
	jv_free(q->allowed);
	pres_conn_unref(q->pc);
	free(q);
}

static void
query_fail(struct query *q, const char *code, const char *msg)
{
	pres_reply(q->pc, json_error(jv_copy(q->id), code, msg));
	query_free(q);
}

/* Passes on a store error reply (borrowed) to the asker. */
static void
query_store_fail(struct query *q, jv reply)
{
	jv e = jv_object_get(jv_copy(reply), jv_string("error"));
	const char *code = json_str(e, "code", NULL);
	const char *msg = json_str(e, "message", NULL);

	query_fail(q, code ? code : "unavailable", msg ? msg :
	    "chat-store did not answer");
	jv_free(e);
}

static int
store_call(struct query *q, jv req, ipc_reply_fn *cb)
{
	if (ipc_call(pres_store(), req, STORE_TIMEOUT, cb, q) == -1) {
		query_fail(q, "internal", "unable to ask chat-store");
		return -1;
	}
	return 0;
}

static jv
op_req(const char *op, const char *field, const char *value)
{
	return jv_object_set(jv_object_set(jv_object(), jv_string("op"),
	    jv_string(op)), jv_string(field), jv_string(value));
}

static int
is_allowed(struct query *q, const char *name)
{
	if (!jv_is_valid(q->allowed))
		return 1;
	jv v = jv_object_get(jv_copy(q->allowed), jv_string(name));
	int r = jv_get_kind(v) == JV_KIND_TRUE;
	jv_free(v);
	return r;
}

static void
allow(struct query *q, const char *name)
{
	q->allowed = jv_object_set(q->allowed, jv_string(name), jv_true());
}

/* The answer: memory for users presenced holds, stored for the rest
 * (stored: the presence.get answer, an object name -> entry, consumed). */
static void
answer(struct query *q, jv stored)
{
	jv out = jv_array(), seen = jv_object();

	jv_array_foreach(q->targets, i, t) {
		const char *name = jv_string_value(t);
		jv had = jv_object_get(jv_copy(seen), jv_copy(t));
		if (!jv_is_valid(had) && is_allowed(q, name)) {
			struct pres_user *u = pres_user_find(name);
			seen = jv_object_set(seen, jv_copy(t), jv_true());
			if (u != NULL)
				out = jv_array_append(out, pres_entry(u));
			else {
				jv e = jv_object_get(jv_copy(stored),
				    jv_copy(t));
				if (jv_get_kind(e) == JV_KIND_OBJECT)
					out = jv_array_append(out, e);
				else
					jv_free(e);
			}
		}
		jv_free(had);
		jv_free(t);
	}
	jv_free(seen);
	jv_free(stored);
	pres_reply(q->pc, jv_object_set(json_ok(jv_copy(q->id)),
	    jv_string("presence"), out));
	query_free(q);
}

static void
on_stored(void *arg, jv reply)
{
	struct query *q = arg;
	jv list = jv_object_get(jv_copy(reply), jv_string("presence"));
	jv byname = jv_object();

	if (!json_bool(reply, "ok", 0) || jv_get_kind(list) != JV_KIND_ARRAY) {
		query_store_fail(q, reply);
		jv_free(list);
		jv_free(byname);
		jv_free(reply);
		return;
	}
	jv_array_foreach(list, i, e) {
		const char *name = json_str(e, "user", NULL);
		if (name != NULL)
			byname = jv_object_set(byname, jv_string(name), e);
		else
			jv_free(e);
	}
	jv_free(list);
	jv_free(reply);
	answer(q, byname);
}

/* Allowed targets known; ask the store for those presenced holds not. */
static void
resolve(struct query *q)
{
	jv ask = jv_array();
	int n = 0;

	jv_array_foreach(q->targets, i, t) {
		const char *name = jv_string_value(t);
		if (is_allowed(q, name) && pres_user_find(name) == NULL) {
			ask = jv_array_append(ask, t);
			n++;
		} else
			jv_free(t);
	}
	if (n == 0) {
		jv_free(ask);
		answer(q, jv_object());
		return;
	}
	store_call(q, jv_object_set(jv_object_set(jv_object(),
	    jv_string("op"), jv_string("presence.get")), jv_string("users"),
	    ask), on_stored);
}

/* Mutual friends of the asker from a friend.list reply (borrowed). */
static jv
mutual_friends(jv reply)
{
	jv list = jv_object_get(jv_copy(reply), jv_string("friends"));
	jv out = jv_array();

	if (jv_get_kind(list) == JV_KIND_ARRAY) {
		jv_array_foreach(list, i, f) {
			const char *name = json_str(f, "user", NULL);
			const char *st = json_str(f, "state", NULL);
			if (name && st && strcmp(st, "friends") == 0)
				out = jv_array_append(out, jv_string(name));
			jv_free(f);
		}
	}
	jv_free(list);
	return out;
}

/* users form: after the fellow members of every group of the asker. */
static void
on_group_members(void *arg, jv reply)
{
	struct query *q = arg;
	jv members = jv_object_get(jv_copy(reply), jv_string("members"));

	if (json_bool(reply, "ok", 0) && jv_get_kind(members) == JV_KIND_ARRAY) {
		jv_array_foreach(members, i, m) {
			if (jv_get_kind(m) == JV_KIND_STRING)
				allow(q, jv_string_value(m));
			jv_free(m);
		}
	} else if (!q->failed) {
		/* a group deleted meanwhile is fine; the store down is not */
		jv e = jv_object_get(jv_copy(reply), jv_string("error"));
		const char *code = json_str(e, "code", NULL);
		if (code == NULL || strcmp(code, "no_such_group") != 0)
			q->failed = 1;
		jv_free(e);
	}
	jv_free(members);
	if (--q->waiting == 0) {
		if (q->failed)
			query_store_fail(q, reply);
		else
			resolve(q);
	}
	jv_free(reply);
}

static void
on_groups(void *arg, jv reply)
{
	struct query *q = arg;
	jv groups = jv_object_get(jv_copy(reply), jv_string("groups"));

	if (!json_bool(reply, "ok", 0) || jv_get_kind(groups) != JV_KIND_ARRAY) {
		query_store_fail(q, reply);
		goto out;
	}
	q->waiting = 1;		/* held until every call is made */
	jv_array_foreach(groups, i, g) {
		const char *gid = json_str(g, "group", NULL);
		if (gid != NULL && ipc_call(pres_store(), op_req("group.get",
		    "group", gid), STORE_TIMEOUT, on_group_members, q) == 0)
			q->waiting++;
		jv_free(g);
	}
	if (--q->waiting == 0)
		resolve(q);
out:
	jv_free(groups);
	jv_free(reply);
}

static void
on_friend_list(void *arg, jv reply)
{
	struct query *q = arg;
	int all = 1;

	if (!json_bool(reply, "ok", 0)) {
		query_store_fail(q, reply);
		jv_free(reply);
		return;
	}
	jv fr = mutual_friends(reply);
	jv_free(reply);
	jv_array_foreach(fr, i, f) {
		allow(q, jv_string_value(f));
		jv_free(f);
	}
	jv_free(fr);
	jv_array_foreach(q->targets, i, t) {
		if (!is_allowed(q, jv_string_value(t)))
			all = 0;
		jv_free(t);
	}
	if (all)
		resolve(q);
	else
		store_call(q, op_req("group.list", "user", q->user), on_groups);
}

/* group form */
static void
on_group(void *arg, jv reply)
{
	struct query *q = arg;
	jv members = jv_object_get(jv_copy(reply), jv_string("members"));
	int member = 0;

	if (!json_bool(reply, "ok", 0) || jv_get_kind(members) != JV_KIND_ARRAY) {
		query_store_fail(q, reply);
		goto out;
	}
	jv_array_foreach(members, i, m) {
		if (jv_get_kind(m) == JV_KIND_STRING &&
		    strcmp(jv_string_value(m), q->user) == 0)
			member = 1;
		jv_free(m);
	}
	if (!member) {
		query_fail(q, "not_member", "not a member of that group");
		goto out;
	}
	jv_free(q->targets);
	q->targets = members;
	members = jv_invalid();
	resolve(q);
out:
	jv_free(members);
	jv_free(reply);
}

/* presence.friends */
static void
on_friends_only(void *arg, jv reply)
{
	struct query *q = arg;

	if (!json_bool(reply, "ok", 0)) {
		query_store_fail(q, reply);
		jv_free(reply);
		return;
	}
	jv_free(q->targets);
	q->targets = mutual_friends(reply);
	jv_free(reply);
	resolve(q);
}

static struct query *
query_new(struct pres_conn *pc, jv req, jv id)
{
	const char *user = NULL;
	char err[128];
	struct query *q;

	if (json_need_str(req, "user", 32, &user, err, sizeof(err)) == -1 ||
	    !valid_user(user)) {
		pres_reply(pc, json_error(id, "bad_request", user ?
		    "field 'user' is not a user name" : err));
		return NULL;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL) {
		pres_reply(pc, json_error(id, "internal", "out of memory"));
		return NULL;
	}
	pres_stats.queries++;
	q->pc = pc;
	pres_conn_ref(pc);
	q->id = id;
	snprintf(q->user, sizeof(q->user), "%s", user);
	q->targets = jv_array();
	q->allowed = jv_object();
	allow(q, q->user);
	return q;
}

void
pres_query(struct pres_conn *pc, jv req, jv id)
{
	jv users = jv_object_get(jv_copy(req), jv_string("users"));
	const char *group = json_str(req, "group", NULL);
	struct query *q;
	int bad = 0, n;

	if ((jv_get_kind(users) == JV_KIND_ARRAY) == (group != NULL)) {
		jv_free(users);
		pres_reply(pc, json_error(id, "bad_request", "give one of "
		    "'users' (a list of user names) or 'group' (a group id)"));
		return;
	}
	if (group != NULL && !valid_group(group)) {
		jv_free(users);
		pres_reply(pc, json_error(id, "bad_request",
		    "field 'group' is not a group id"));
		return;
	}
	if (group == NULL) {
		n = jv_array_length(jv_copy(users));
		bad = n < 1 || n > QUERY_MAX_USERS;
		jv_array_foreach(users, i, u) {
			if (jv_get_kind(u) != JV_KIND_STRING ||
			    !valid_user(jv_string_value(u)))
				bad = 1;
			jv_free(u);
		}
		if (bad) {
			jv_free(users);
			pres_reply(pc, json_error(id, "bad_request", "field "
			    "'users' must list 1 to 1000 user names"));
			return;
		}
	}
	if ((q = query_new(pc, req, id)) == NULL) {
		jv_free(users);
		return;
	}
	if (group != NULL) {
		jv_free(users);
		q->allowed = (jv_free(q->allowed), jv_invalid());
		store_call(q, op_req("group.get", "group", group), on_group);
		return;
	}
	jv_free(q->targets);
	q->targets = users;
	store_call(q, op_req("friend.list", "user", q->user), on_friend_list);
}

void
pres_friends(struct pres_conn *pc, jv req, jv id)
{
	struct query *q = query_new(pc, req, id);

	if (q == NULL)
		return;
	q->allowed = (jv_free(q->allowed), jv_invalid());
	store_call(q, op_req("friend.list", "user", q->user), on_friends_only);
}
