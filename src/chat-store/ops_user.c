/*
 * ops_user: accounts.  u/{user} holds the profile and the password's
 * yescrypt hash.  The hashing itself never runs here (it takes tens of
 * milliseconds): user.create arrives with its hash already made in
 * c->hash, and user.verify hands the stored hash back in c->hash for the
 * check that runs after the batch (commit.c).
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "keys.h"
#include "ops.h"

#define PASSWORD_MIN	8
#define PASSWORD_MAX	256
#define DISPLAY_MAX	64

/* Borrows rec: the public profile of a stored user record. */
static jv
profile(jv rec)
{
	jv o = jv_object();

	o = jv_object_set(o, jv_string("user"),
	    jv_object_get(jv_copy(rec), jv_string("user")));
	o = jv_object_set(o, jv_string("display_name"),
	    jv_object_get(jv_copy(rec), jv_string("display_name")));
	o = jv_object_set(o, jv_string("created_at"),
	    jv_object_get(jv_copy(rec), jv_string("created_at")));
	return o;
}

int
store_password_ok(const char *pw, size_t len)
{
	return pw != NULL && len >= PASSWORD_MIN && len <= PASSWORD_MAX &&
	    memchr(pw, '\0', len) == NULL;
}

jv
op_user_create(struct op_ctx *c)
{
	const char *user, *pw, *dn;
	size_t pwlen;
	struct skey k;
	jv rec;
	int r;

	if (op_user_field(c, "user", &user) == -1 ||
	    op_str_field(c, "display_name", DISPLAY_MAX, 0, &dn) == -1)
		return jv_invalid();
	pw = json_str(c->req, "password", &pwlen);
	if (pw == NULL)
		return op_fail(c, "bad_request", json_has(c->req, "password") ?
		    "field 'password' must be a string" :
		    "missing field 'password'");
	if (!store_password_ok(pw, pwlen))
		return op_fail(c, "bad_request", "field 'password' must be "
		    "%d to %d bytes", PASSWORD_MIN, PASSWORD_MAX);
	if (c->hash == NULL)
		return op_fail(c, "store_unavailable", "unable to hash the "
		    "password");
	key_user(&k, user);
	if ((r = op_load(c, k.b, k.len, &rec)) == -1)
		return jv_invalid();
	if (r == 1) {
		jv_free(rec);
		return op_fail(c, "user_exists", "user '%s' exists", user);
	}
	rec = jv_object();
	rec = jv_object_set(rec, jv_string("user"), jv_string(user));
	rec = jv_object_set(rec, jv_string("display_name"),
	    jv_string(dn ? dn : user));
	rec = jv_object_set(rec, jv_string("created_at"),
	    jv_number((double)c->now));
	rec = jv_object_set(rec, jv_string("hash"), jv_string(c->hash));
	tx_put_json(c->tx, k.b, k.len, jv_copy(rec));
	jv out = profile(rec);
	jv_free(rec);
	return out;
}

jv
op_user_get(struct op_ctx *c)
{
	const char *user;
	struct skey k;
	jv rec, out;
	int r;

	if (op_user_field(c, "user", &user) == -1)
		return jv_invalid();
	key_user(&k, user);
	if ((r = op_load(c, k.b, k.len, &rec)) != 1)
		return r == 0 ? op_fail(c, "no_such_user", "no user '%s'",
		    user) : jv_invalid();
	out = profile(rec);
	jv_free(rec);
	return out;
}

jv
op_user_verify(struct op_ctx *c)
{
	const char *user, *pw, *hash;
	struct skey k;
	jv rec;
	int r;

	if (op_user_field(c, "user", &user) == -1 ||
	    op_str_field(c, "password", PASSWORD_MAX, 1, &pw) == -1)
		return jv_invalid();
	key_user(&k, user);
	if ((r = op_load(c, k.b, k.len, &rec)) == -1)
		return jv_invalid();
	if (r == 0)
		return op_fail(c, "unauthorized", "wrong user or password");
	hash = json_str(rec, "hash", NULL);
	if (hash == NULL) {
		jv_free(rec);
		return op_fail(c, "unauthorized", "wrong user or password");
	}
	free(c->hash);
	c->hash = strdup(hash);
	jv_free(rec);
	if (c->hash == NULL)
		return op_fail(c, "store_unavailable", "out of memory");
	return jv_object_set(jv_object(), jv_string("user"), jv_string(user));
}

jv
op_user_update(struct op_ctx *c)
{
	const char *user, *dn;
	struct skey k;
	jv rec, out;
	int r;

	if (op_user_field(c, "user", &user) == -1 ||
	    op_str_field(c, "display_name", DISPLAY_MAX, 1, &dn) == -1)
		return jv_invalid();
	key_user(&k, user);
	if ((r = op_load(c, k.b, k.len, &rec)) != 1)
		return r == 0 ? op_fail(c, "no_such_user", "no user '%s'",
		    user) : jv_invalid();
	rec = jv_object_set(rec, jv_string("display_name"), jv_string(dn));
	tx_put_json(c->tx, k.b, k.len, jv_copy(rec));
	out = profile(rec);
	jv_free(rec);
	return out;
}

struct list_state {
	jv	users;
	int	left;
};

static int
list_one(void *arg, const char *k, size_t klen, const char *v, size_t vlen)
{
	struct list_state *st = arg;
	jv rec = jv_parse_sized(v, (int)vlen);

	(void)k;
	(void)klen;
	if (jv_get_kind(rec) == JV_KIND_OBJECT)
		st->users = jv_array_append(st->users, profile(rec));
	jv_free(rec);
	return --st->left == 0;
}

jv
op_user_list(struct op_ctx *c)
{
	const char *after;
	struct skey prefix, from;
	struct list_state st;
	int limit;

	if (op_str_field(c, "after", 32, 0, &after) == -1 ||
	    op_limit(c, 100, 1000, &limit) == -1)
		return jv_invalid();
	key_users_prefix(&prefix);
	if (after != NULL)
		key_user(&from, after);
	st.users = jv_array();
	st.left = limit;
	if (tx_scan(c->tx, prefix.b, prefix.len, after ? from.b : NULL,
	    after ? from.len : 0, 0, list_one, &st) == -1) {
		jv_free(st.users);
		return op_read_error(c);
	}
	return jv_object_set(jv_object(), jv_string("users"), st.users);
}
