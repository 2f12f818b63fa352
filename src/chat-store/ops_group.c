/*
 * ops_group: groups.  g/{gid} is the record (name, owner), gm/{gid}/{user}
 * a member, ug/{user}/{gid} the same edge seen from the user, all written
 * together.  The member cap is checked against the batch's overlay, so
 * concurrent adds near the cap see each other and exactly the cap wins.
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"
#include "keys.h"
#include "ops.h"

#define NAME_MAX_LEN	64
#define GID_LEN		12

struct members {
	jv	 list;		/* names, or jv_invalid() to only count */
	long	 n;
	size_t	 plen;
};

static int
member_one(void *arg, const char *k, size_t klen, const char *v, size_t vlen)
{
	struct members *m = arg;

	(void)v;
	(void)vlen;
	m->n++;
	if (jv_is_valid(m->list))
		m->list = jv_array_append(m->list,
		    jv_string_sized(k + m->plen, (int)(klen - m->plen)));
	return 0;
}

/* The members of gid: their count, and their names if names. */
static int
members(struct op_ctx *c, const char *gid, int names, struct members *m)
{
	struct skey prefix;

	key_member_prefix(&prefix, gid);
	m->list = names ? jv_array() : jv_invalid();
	m->n = 0;
	m->plen = prefix.len;
	if (tx_scan(c->tx, prefix.b, prefix.len, NULL, 0, 0, member_one,
	    m) == -1) {
		jv_free(m->list);
		op_read_error(c);
		return -1;
	}
	return 0;
}

static int
is_member(struct op_ctx *c, const char *gid, const char *user)
{
	struct skey k;
	char *v;
	size_t vlen;
	int r;

	key_member(&k, gid, user);
	r = tx_get(c->tx, k.b, k.len, &v, &vlen);
	if (r == 1)
		free(v);
	if (r == -1)
		op_read_error(c);
	return r;
}

static void
put_member(struct op_ctx *c, const char *gid, const char *user,
    const char *by)
{
	struct skey k;
	jv v = jv_object_set(jv_object(), jv_string("since"),
	    jv_number((double)c->now));

	v = jv_object_set(v, jv_string("by"), jv_string(by));
	key_member(&k, gid, user);
	tx_put_json(c->tx, k.b, k.len, jv_copy(v));
	key_user_group(&k, user, gid);
	tx_put_json(c->tx, k.b, k.len, v);
}

static int
group_field(struct op_ctx *c, const char **gid)
{
	if (op_str_field(c, "group", 34, 1, gid) == -1)
		return -1;
	if (!valid_group(*gid)) {
		op_fail(c, "bad_request", "field 'group' must be a group id");
		return -1;
	}
	return 0;
}

/* Loads the group record: 1, or -1 with no_such_group or a read error. */
static int
load_group(struct op_ctx *c, const char *gid, jv *rec)
{
	struct skey k;
	int r;

	key_group(&k, gid);
	if ((r = op_load(c, k.b, k.len, rec)) == 0) {
		op_fail(c, "no_such_group", "no group '%s'", gid);
		return -1;
	}
	return r;
}

static int
new_gid(struct op_ctx *c, char *gid)
{
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char rnd[GID_LEN];
	struct skey k;
	char *v;
	size_t vlen;
	int i, tries, r;

	for (tries = 0; tries < 8; tries++) {
		if (random_bytes(rnd, sizeof(rnd)) == -1)
			break;
		memcpy(gid, "g_", 2);
		for (i = 0; i < GID_LEN; i++)
			gid[2 + i] = alnum[rnd[i] % 36];
		gid[2 + GID_LEN] = '\0';
		key_group(&k, gid);
		if ((r = tx_get(c->tx, k.b, k.len, &v, &vlen)) == 0)
			return 0;
		if (r == 1)
			free(v);
	}
	op_fail(c, "store_unavailable", "unable to make a group id");
	return -1;
}

jv
op_group_create(struct op_ctx *c)
{
	const char *owner, *name, *u;
	char gid[GID_LEN + 3];
	jv list, names, rec, out;
	struct skey k;
	int i, j, n, dup;

	if (op_user_field(c, "owner", &owner) == -1 ||
	    op_str_field(c, "name", NAME_MAX_LEN, 1, &name) == -1 ||
	    op_user_exists(c, owner) != 1)
		return jv_invalid();
	list = jv_object_get(jv_copy(c->req), jv_string("members"));
	if (jv_get_kind(list) == JV_KIND_INVALID ||
	    jv_get_kind(list) == JV_KIND_NULL) {
		jv_free(list);
		list = jv_array();
	}
	if (jv_get_kind(list) != JV_KIND_ARRAY) {
		jv_free(list);
		return op_fail(c, "bad_request", "field 'members' must be an "
		    "array of user names");
	}
	/* the owner first, then each named member once */
	names = jv_array_append(jv_array(), jv_string(owner));
	n = jv_array_length(jv_copy(list));
	for (i = 0; i < n; i++) {
		jv m = jv_array_get(jv_copy(list), i);
		if (jv_get_kind(m) != JV_KIND_STRING ||
		    !valid_user(jv_string_value(m))) {
			jv_free(m);
			jv_free(list);
			jv_free(names);
			return op_fail(c, "bad_request", "field 'members' must "
			    "be an array of user names");
		}
		dup = 0;
		for (j = 0; j < jv_array_length(jv_copy(names)) && !dup; j++) {
			jv o = jv_array_get(jv_copy(names), j);
			dup = strcmp(jv_string_value(o),
			    jv_string_value(m)) == 0;
			jv_free(o);
		}
		if (!dup && op_user_exists(c, jv_string_value(m)) != 1) {
			jv_free(m);
			jv_free(list);
			jv_free(names);
			return jv_invalid();
		}
		names = dup ? names : jv_array_append(names, jv_copy(m));
		jv_free(m);
	}
	jv_free(list);
	n = jv_array_length(jv_copy(names));
	if (n > store_limits.group_max_members) {
		jv_free(names);
		return op_fail(c, "group_full", "a group has at most %ld "
		    "members", store_limits.group_max_members);
	}
	if (new_gid(c, gid) == -1) {
		jv_free(names);
		return jv_invalid();
	}
	rec = jv_object();
	rec = jv_object_set(rec, jv_string("group"), jv_string(gid));
	rec = jv_object_set(rec, jv_string("name"), jv_string(name));
	rec = jv_object_set(rec, jv_string("owner"), jv_string(owner));
	rec = jv_object_set(rec, jv_string("created_at"),
	    jv_number((double)c->now));
	key_group(&k, gid);
	tx_put_json(c->tx, k.b, k.len, jv_copy(rec));
	for (i = 0; i < n; i++) {
		jv m = jv_array_get(jv_copy(names), i);
		u = jv_string_value(m);
		put_member(c, gid, u, owner);
		jv_free(m);
	}
	out = jv_object_set(rec, jv_string("members"), names);
	return out;
}

jv
op_group_get(struct op_ctx *c)
{
	const char *gid;
	struct members m;
	jv rec;

	if (group_field(c, &gid) == -1 || load_group(c, gid, &rec) == -1)
		return jv_invalid();
	if (members(c, gid, 1, &m) == -1) {
		jv_free(rec);
		return jv_invalid();
	}
	return jv_object_set(rec, jv_string("members"), m.list);
}

struct glist {
	struct op_ctx	*c;
	jv		 groups;
	size_t		 plen;
	int		 failed;
};

static int
glist_one(void *arg, const char *k, size_t klen, const char *v, size_t vlen)
{
	struct glist *st = arg;
	char gid[64];
	struct skey gk;
	jv rec, e;
	size_t n = klen - st->plen;

	(void)v;
	(void)vlen;
	if (n >= sizeof(gid))
		return 0;
	memcpy(gid, k + st->plen, n);
	gid[n] = '\0';
	key_group(&gk, gid);
	switch (op_load(st->c, gk.b, gk.len, &rec)) {
	case -1:
		st->failed = 1;
		return 1;
	case 0:
		return 0;
	}
	e = jv_object_set(jv_object(), jv_string("group"), jv_string(gid));
	e = jv_object_set(e, jv_string("name"),
	    jv_object_get(rec, jv_string("name")));
	st->groups = jv_array_append(st->groups, e);
	return 0;
}

jv
op_group_list(struct op_ctx *c)
{
	const char *user;
	struct skey prefix;
	struct glist st;

	if (op_user_field(c, "user", &user) == -1)
		return jv_invalid();
	key_user_group_prefix(&prefix, user);
	st.c = c;
	st.groups = jv_array();
	st.plen = prefix.len;
	st.failed = 0;
	if (tx_scan(c->tx, prefix.b, prefix.len, NULL, 0, 0, glist_one,
	    &st) == -1 || st.failed) {
		jv_free(st.groups);
		return st.failed ? jv_invalid() : op_read_error(c);
	}
	return jv_object_set(jv_object(), jv_string("groups"), st.groups);
}

jv
op_group_add(struct op_ctx *c)
{
	const char *gid, *user, *by;
	struct members m;
	jv rec, out;
	int r;

	if (group_field(c, &gid) == -1 || op_user_field(c, "user", &user) == -1
	    || op_user_field(c, "by", &by) == -1 ||
	    load_group(c, gid, &rec) == -1)
		return jv_invalid();
	jv_free(rec);
	if ((r = is_member(c, gid, by)) != 1)
		return r == 0 ? op_fail(c, "not_member", "'%s' is not a member "
		    "of '%s'", by, gid) : jv_invalid();
	if (op_user_exists(c, user) != 1 || (r = is_member(c, gid, user)) == -1
	    || members(c, gid, 0, &m) == -1)
		return jv_invalid();
	out = jv_object_set(jv_object(), jv_string("group"), jv_string(gid));
	out = jv_object_set(out, jv_string("user"), jv_string(user));
	if (r == 1)
		return jv_object_set(jv_object_set(out, jv_string("added"),
		    jv_false()), jv_string("count"), jv_number((double)m.n));
	if (m.n >= store_limits.group_max_members) {
		jv_free(out);
		return op_fail(c, "group_full", "group '%s' has %ld members, "
		    "the most it may have", gid, m.n);
	}
	put_member(c, gid, user, by);
	return jv_object_set(jv_object_set(out, jv_string("added"), jv_true()),
	    jv_string("count"), jv_number((double)(m.n + 1)));
}

jv
op_group_remove(struct op_ctx *c)
{
	const char *gid, *user, *by, *owner;
	struct skey k;
	jv rec;
	int r, is_owner;

	if (group_field(c, &gid) == -1 || op_user_field(c, "user", &user) == -1
	    || op_user_field(c, "by", &by) == -1 ||
	    load_group(c, gid, &rec) == -1)
		return jv_invalid();
	owner = json_str(rec, "owner", NULL);
	is_owner = owner != NULL && strcmp(owner, by) == 0;
	if (owner != NULL && strcmp(owner, user) == 0) {
		jv_free(rec);
		return op_fail(c, "bad_request", "the owner cannot leave "
		    "group '%s'", gid);
	}
	jv_free(rec);
	if (!is_owner && strcmp(user, by) != 0)
		return op_fail(c, "not_owner", "only the owner of '%s' removes "
		    "other members", gid);
	if ((r = is_member(c, gid, user)) != 1)
		return r == 0 ? op_fail(c, "not_member", "'%s' is not a member "
		    "of '%s'", user, gid) : jv_invalid();
	key_member(&k, gid, user);
	tx_del(c->tx, k.b, k.len);
	key_user_group(&k, user, gid);
	tx_del(c->tx, k.b, k.len);
	return jv_object();
}
