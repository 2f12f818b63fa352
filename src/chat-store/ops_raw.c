/*
 * ops_raw: get and scan of raw keys, for inspection by hand and by
 * chatctl.  Keys come and go in their printable form (keys.h: ids as 16
 * hex digits); a value that is JSON is shown as JSON, anything else as a
 * string.
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "keys.h"
#include "ops.h"

/* A stored value as JSON, or as a string if it is not JSON. */
static jv
show_value(const char *v, size_t vlen)
{
	jv j = jv_parse_sized(v, (int)vlen);

	if (jv_is_valid(j))
		return j;
	jv_free(j);
	return jv_string_sized(v, (int)vlen);
}

static int
key_field(struct op_ctx *c, const char *field, int required, struct skey *k)
{
	const char *s;
	size_t len;

	if (op_str_field(c, field, KEY_PRINT_MAX, required, &s) == -1)
		return -1;
	if (s == NULL)
		return 0;
	len = strlen(s);
	if (key_parse(s, len, k) == -1) {
		op_fail(c, "bad_request", "field '%s' is not a printable key",
		    field);
		return -1;
	}
	return 1;
}

jv
op_get(struct op_ctx *c)
{
	struct skey k;
	char *v, pk[KEY_PRINT_MAX];
	size_t vlen;
	jv out;
	int r;

	if (key_field(c, "key", 1, &k) == -1)
		return jv_invalid();
	if ((r = tx_get(c->tx, k.b, k.len, &v, &vlen)) != 1)
		return r == 0 ? op_fail(c, "not_found", "no key '%s'",
		    key_print(k.b, k.len, pk)) : op_read_error(c);
	out = jv_object_set(jv_object(), jv_string("key"),
	    jv_string(key_print(k.b, k.len, pk)));
	out = jv_object_set(out, jv_string("value"), show_value(v, vlen));
	free(v);
	return out;
}

struct items {
	jv	list;
	int	left;
	int	more;
};

static int
item_one(void *arg, const char *k, size_t klen, const char *v, size_t vlen)
{
	struct items *it = arg;
	char pk[KEY_PRINT_MAX];
	jv e;

	if (it->left == 0) {
		it->more = 1;
		return 1;
	}
	e = jv_object_set(jv_object(), jv_string("key"),
	    jv_string(key_print(k, klen, pk)));
	e = jv_object_set(e, jv_string("value"), show_value(v, vlen));
	it->list = jv_array_append(it->list, e);
	it->left--;
	return 0;
}

jv
op_scan(struct op_ctx *c)
{
	struct skey prefix, after;
	struct items it;
	int limit, r;

	if (json_has(c->req, "prefix")) {
		if (key_field(c, "prefix", 1, &prefix) == -1)
			return jv_invalid();
	} else
		prefix.len = 0;
	if ((r = key_field(c, "after", 0, &after)) == -1 ||
	    op_limit(c, 100, 1000, &limit) == -1)
		return jv_invalid();
	it.list = jv_array();
	it.left = limit;
	it.more = 0;
	if (tx_scan(c->tx, prefix.b, prefix.len, r ? after.b : NULL,
	    r ? after.len : 0, 0, item_one, &it) == -1) {
		jv_free(it.list);
		return op_read_error(c);
	}
	return jv_object_set(jv_object_set(jv_object(), jv_string("items"),
	    it.list), jv_string("more"), jv_bool(it.more));
}
