/*
 * ops_presence: p/{user} holds the status presenced last persisted and
 * last_active_at.  A user never seen reads as offline, last active at 0.
 */
#include <string.h>

#include "json.h"
#include "util.h"
#include "keys.h"
#include "ops.h"

#define PRESENCE_GET_MAX	1000

jv
op_presence_set(struct op_ctx *c)
{
	const char *user, *status;
	int64_t at;
	struct skey k;
	jv rec;

	if (op_user_field(c, "user", &user) == -1 ||
	    op_str_field(c, "status", 16, 1, &status) == -1)
		return jv_invalid();
	if (strcmp(status, "online") != 0 && strcmp(status, "offline") != 0)
		return op_fail(c, "bad_request", "field 'status' must be "
		    "'online' or 'offline'");
	if (json_need_int(c->req, "last_active_at", &at, c->msg,
	    sizeof(c->msg)) == -1) {
		c->code = "bad_request";
		return jv_invalid();
	}
	if (op_user_exists(c, user) != 1)
		return jv_invalid();
	rec = jv_object_set(jv_object(), jv_string("status"),
	    jv_string(status));
	rec = jv_object_set(rec, jv_string("last_active_at"),
	    jv_number((double)at));
	key_presence(&k, user);
	tx_put_json(c->tx, k.b, k.len, jv_copy(rec));
	return jv_object_set(rec, jv_string("user"), jv_string(user));
}

jv
op_presence_get(struct op_ctx *c)
{
	jv users, out, rec, e;
	struct skey k;
	int i, n, r;

	users = jv_object_get(jv_copy(c->req), jv_string("users"));
	if (jv_get_kind(users) != JV_KIND_ARRAY) {
		int had = json_has(c->req, "users");
		jv_free(users);
		return op_fail(c, "bad_request", had ? "field 'users' must be "
		    "an array of user names" : "missing field 'users'");
	}
	n = jv_array_length(jv_copy(users));
	if (n > PRESENCE_GET_MAX) {
		jv_free(users);
		return op_fail(c, "bad_request", "field 'users' names more "
		    "than %d users", PRESENCE_GET_MAX);
	}
	out = jv_array();
	for (i = 0; i < n; i++) {
		jv u = jv_array_get(jv_copy(users), i);
		if (jv_get_kind(u) != JV_KIND_STRING ||
		    !valid_user(jv_string_value(u))) {
			jv_free(u);
			jv_free(users);
			jv_free(out);
			return op_fail(c, "bad_request", "field 'users' must "
			    "be an array of user names");
		}
		key_presence(&k, jv_string_value(u));
		if ((r = op_load(c, k.b, k.len, &rec)) == -1) {
			jv_free(u);
			jv_free(users);
			jv_free(out);
			return jv_invalid();
		}
		e = jv_object_set(jv_object(), jv_string("user"), u);
		if (r == 1) {
			e = jv_object_set(e, jv_string("status"),
			    jv_object_get(jv_copy(rec), jv_string("status")));
			e = jv_object_set(e, jv_string("last_active_at"),
			    jv_object_get(rec, jv_string("last_active_at")));
		} else {
			e = jv_object_set(e, jv_string("status"),
			    jv_string("offline"));
			e = jv_object_set(e, jv_string("last_active_at"),
			    jv_number(0));
		}
		out = jv_array_append(out, e);
	}
	jv_free(users);
	return jv_object_set(jv_object(), jv_string("presence"), out);
}
