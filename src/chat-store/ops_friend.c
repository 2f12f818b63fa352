/*
 * ops_friend: friend edges.  A request writes two edges in one batch:
 * f/{user}/{other} "requested" and f/{other}/{user} "pending"; when the
 * other side adds back, both become "friends".  Removing deletes both.
 */
#include <string.h>

#include "json.h"
#include "keys.h"
#include "ops.h"

static void
put_edge(struct op_ctx *c, const char *a, const char *b, const char *state)
{
	struct skey k;
	jv v = jv_object();

	v = jv_object_set(v, jv_string("state"), jv_string(state));
	v = jv_object_set(v, jv_string("since"), jv_number((double)c->now));
	key_friend(&k, a, b);
	tx_put_json(c->tx, k.b, k.len, v);
}

/* The state of the edge a->b into *state (a jv string or null). */
static int
edge_state(struct op_ctx *c, const char *a, const char *b, jv *state)
{
	struct skey k;
	jv rec;
	int r;

	key_friend(&k, a, b);
	if ((r = op_load(c, k.b, k.len, &rec)) == -1)
		return -1;
	*state = r == 1 ? jv_object_get(rec, jv_string("state")) : jv_null();
	if (jv_get_kind(*state) != JV_KIND_STRING) {
		jv_free(*state);
		*state = jv_null();
	}
	return 0;
}

static int
pair(struct op_ctx *c, const char **user, const char **other)
{
	if (op_user_field(c, "user", user) == -1 ||
	    op_user_field(c, "other", other) == -1)
		return -1;
	if (strcmp(*user, *other) == 0) {
		op_fail(c, "bad_request", "'user' and 'other' are the same");
		return -1;
	}
	return 0;
}

jv
op_friend_add(struct op_ctx *c)
{
	const char *user, *other, *now;
	jv state;

	if (pair(c, &user, &other) == -1 || op_user_exists(c, user) != 1 ||
	    op_user_exists(c, other) != 1 ||
	    edge_state(c, user, other, &state) == -1)
		return jv_invalid();
	now = jv_get_kind(state) == JV_KIND_STRING ?
	    jv_string_value(state) : "";
	if (strcmp(now, "friends") == 0 || strcmp(now, "requested") == 0) {
		/* nothing changes: already asked, or already friends */
	} else if (strcmp(now, "pending") == 0) {
		put_edge(c, user, other, "friends");
		put_edge(c, other, user, "friends");
		jv_free(state);
		state = jv_string("friends");
	} else {
		put_edge(c, user, other, "requested");
		put_edge(c, other, user, "pending");
		jv_free(state);
		state = jv_string("requested");
	}
	return jv_object_set(jv_object_set(jv_object(), jv_string("user"),
	    jv_string(other)), jv_string("state"), state);
}

jv
op_friend_remove(struct op_ctx *c)
{
	const char *user, *other;
	struct skey k;
	jv state;

	if (pair(c, &user, &other) == -1 ||
	    edge_state(c, user, other, &state) == -1)
		return jv_invalid();
	if (jv_get_kind(state) != JV_KIND_NULL) {
		key_friend(&k, user, other);
		tx_del(c->tx, k.b, k.len);
		key_friend(&k, other, user);
		tx_del(c->tx, k.b, k.len);
	}
	jv_free(state);
	return jv_object();
}

jv
op_friend_check(struct op_ctx *c)
{
	const char *user, *other;
	jv state;

	if (pair(c, &user, &other) == -1 ||
	    edge_state(c, user, other, &state) == -1)
		return jv_invalid();
	return jv_object_set(jv_object(), jv_string("state"), state);
}

struct list_state {
	jv	friends;
	size_t	plen;
};

static int
list_one(void *arg, const char *k, size_t klen, const char *v, size_t vlen)
{
	struct list_state *st = arg;
	jv rec = jv_parse_sized(v, (int)vlen);
	jv e = jv_object();

	e = jv_object_set(e, jv_string("user"),
	    jv_string_sized(k + st->plen, (int)(klen - st->plen)));
	e = jv_object_set(e, jv_string("state"),
	    jv_get_kind(rec) == JV_KIND_OBJECT ?
	    jv_object_get(jv_copy(rec), jv_string("state")) : jv_null());
	jv_free(rec);
	st->friends = jv_array_append(st->friends, e);
	return 0;
}

jv
op_friend_list(struct op_ctx *c)
{
	const char *user;
	struct skey prefix;
	struct list_state st;

	if (op_user_field(c, "user", &user) == -1 ||
	    op_user_exists(c, user) != 1)
		return jv_invalid();
	key_friend_prefix(&prefix, user);
	st.friends = jv_array();
	st.plen = prefix.len;
	if (tx_scan(c->tx, prefix.b, prefix.len, NULL, 0, 0, list_one,
	    &st) == -1) {
		jv_free(st.friends);
		return op_read_error(c);
	}
	return jv_object_set(jv_object(), jv_string("friends"), st.friends);
}
