/*
 * ops_device: devices.  c/{user}/{device} holds the device's revocation
 * generation (logout bumps it, so every token made before dies), its
 * cursor (the newest message id it holds; it only moves forward) and its
 * push registration.
 *
 * cursor.set (about one a second per device) rewrites only the 16 hex
 * digits of the stored cursor in the record's own text, found with
 * lib/jflat: parsing the record with jq and dumping it again was 3-6% of
 * the store's CPU at 10k msg/s.  A record it cannot read that way takes
 * the jq path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "id.h"
#include "jflat.h"
#include "json.h"
#include "util.h"
#include "keys.h"
#include "ops.h"

#define NO_CURSOR	"0000000000000000"

/* "id" is the request's own id; one of 16 hex digits still counts */
static const char *const cursor_fields[] = { "cursor", "mid", "id", NULL };

static const char *providers[] = {
	"webhook", "unifiedpush", "ntfy", "fcm", "apns", NULL
};

static int
device_field(struct op_ctx *c, const char **device)
{
	if (op_str_field(c, "device", 64, 1, device) == -1)
		return -1;
	if (!valid_device(*device)) {
		op_fail(c, "bad_request", "field 'device' must be a device id "
		    "(A-Z, a-z, 0-9, '_', '-'; at most 64)");
		return -1;
	}
	return 0;
}

/* Reads user and device and loads the record: 1, or -1 (not_found and
 * other errors set). */
static int
load_device(struct op_ctx *c, const char **user, const char **device,
    struct skey *k, jv *rec)
{
	int r;

	if (op_user_field(c, "user", user) == -1 ||
	    device_field(c, device) == -1)
		return -1;
	key_device(k, *user, *device);
	if ((r = op_load(c, k->b, k->len, rec)) == 0) {
		op_fail(c, "not_found", "no device '%s' of user '%s'", *device,
		    *user);
		return -1;
	}
	return r;
}

/* Borrows rec: what get and list show of a device. */
static jv
public_device(jv rec)
{
	static const char *fields[] = { "device", "gen", "cursor", "push",
	    NULL };
	jv o = jv_object();
	int i;

	for (i = 0; fields[i] != NULL; i++)
		if (json_has(rec, fields[i]))
			o = jv_object_set(o, jv_string(fields[i]),
			    jv_object_get(jv_copy(rec), jv_string(fields[i])));
	return o;
}

jv
op_device_login(struct op_ctx *c)
{
	const char *user, *device;
	char made[17];
	struct skey k;
	jv rec;
	int r;

	if (op_user_field(c, "user", &user) == -1 ||
	    op_user_exists(c, user) != 1)
		return jv_invalid();
	if (json_has(c->req, "device")) {
		if (device_field(c, &device) == -1)
			return jv_invalid();
	} else {
		static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789";
		unsigned char rnd[16];
		int i;
		if (random_bytes(rnd, sizeof(rnd)) == -1)
			return op_fail(c, "store_unavailable", "no randomness");
		for (i = 0; i < 16; i++)
			made[i] = set[rnd[i] % 62];
		made[16] = '\0';
		device = made;
	}
	key_device(&k, user, device);
	if ((r = op_load(c, k.b, k.len, &rec)) == -1)
		return jv_invalid();
	if (r == 0) {
		rec = jv_object_set(jv_object(), jv_string("device"),
		    jv_string(device));
		rec = jv_object_set(rec, jv_string("gen"), jv_number(1));
		rec = jv_object_set(rec, jv_string("cursor"),
		    jv_string(NO_CURSOR));
		rec = jv_object_set(rec, jv_string("created_at"),
		    jv_number((double)c->now));
		tx_put_json(c->tx, k.b, k.len, jv_copy(rec));
	}
	jv out = jv_object_set(jv_object(), jv_string("device"),
	    jv_string(device));
	out = jv_object_set(out, jv_string("gen"),
	    jv_object_get(jv_copy(rec), jv_string("gen")));
	out = jv_object_set(out, jv_string("cursor"),
	    jv_object_get(rec, jv_string("cursor")));
	return out;
}

jv
op_device_get(struct op_ctx *c)
{
	const char *user, *device;
	struct skey k;
	jv rec, out;

	if (load_device(c, &user, &device, &k, &rec) == -1)
		return jv_invalid();
	out = public_device(rec);
	jv_free(rec);
	return out;
}

jv
op_device_logout(struct op_ctx *c)
{
	const char *user, *device;
	struct skey k;
	jv rec, gen;
	double g;

	if (load_device(c, &user, &device, &k, &rec) == -1)
		return jv_invalid();
	gen = jv_object_get(jv_copy(rec), jv_string("gen"));
	g = jv_get_kind(gen) == JV_KIND_NUMBER ? jv_number_value(gen) : 0;
	jv_free(gen);
	rec = jv_object_set(rec, jv_string("gen"), jv_number(g + 1));
	tx_put_json(c->tx, k.b, k.len, rec);
	return jv_object_set(jv_object(), jv_string("gen"), jv_number(g + 1));
}

struct dlist {
	jv	list;
};

static int
dlist_one(void *arg, const char *k, size_t klen, const char *v, size_t vlen)
{
	struct dlist *d = arg;
	jv rec = jv_parse_sized(v, (int)vlen);

	(void)k;
	(void)klen;
	if (jv_get_kind(rec) == JV_KIND_OBJECT)
		d->list = jv_array_append(d->list, public_device(rec));
	jv_free(rec);
	return 0;
}

jv
op_device_list(struct op_ctx *c)
{
	const char *user;
	struct skey prefix;
	struct dlist d;

	if (op_user_field(c, "user", &user) == -1 ||
	    op_user_exists(c, user) != 1)
		return jv_invalid();
	key_device_prefix(&prefix, user);
	d.list = jv_array();
	if (tx_scan(c->tx, prefix.b, prefix.len, NULL, 0, 0, dlist_one,
	    &d) == -1) {
		jv_free(d.list);
		return op_read_error(c);
	}
	return jv_object_set(jv_object(), jv_string("devices"), d.list);
}

/*
 * cursor.set on the record's text v[0..vlen): 1 with hex set to the cursor
 * now stored (the new one staged if it is newer), or 0 if the text is not
 * an object whose "cursor" is 16 hex digits (then the jq path decides).
 */
static int
cursor_set_text(struct op_ctx *c, const struct skey *k, char *v, size_t vlen,
    uint64_t id, char hex[ID_HEX_LEN + 1])
{
	struct jflat f;
	const char *cur;
	size_t clen;
	uint64_t old;

	if (jflat_parse(&f, v, vlen) == -1 ||
	    (cur = jflat_str(&f, "cursor", &clen)) == NULL ||
	    clen != ID_HEX_LEN || id_parse(cur, clen, &old) == -1)
		return 0;
	if (id <= old) {
		id_format(old, hex);
		return 1;
	}
	id_format(id, hex);
	/* same length, so every other byte of the record stays as it was */
	memcpy(v + (cur - v), hex, ID_HEX_LEN);
	tx_put(c->tx, k->b, k->len, v, vlen);
	return 1;
}

jv
op_cursor_set(struct op_ctx *c)
{
	const char *user, *device, *cur;
	struct skey k;
	uint64_t id, old = 0;
	jv rec, cj;
	char hex[ID_HEX_LEN + 1], *v;
	size_t vlen;
	int r;

	if (op_user_field(c, "user", &user) == -1 ||
	    device_field(c, &device) == -1)
		return jv_invalid();
	key_device(&k, user, device);
	if ((r = tx_get(c->tx, k.b, k.len, &v, &vlen)) != 1) {
		if (r == -1)
			return op_read_error(c);
		return op_fail(c, "not_found", "no device '%s' of user '%s'",
		    device, user);
	}
	if (op_msgid_field(c, cursor_fields, &id) != 1) {
		free(v);
		return c->code ? jv_invalid() : op_fail(c, "bad_request",
		    "missing field 'cursor' (a message id)");
	}
	r = cursor_set_text(c, &k, v, vlen, id, hex);
	free(v);
	if (r == 1)
		return jv_object_set(jv_object(), jv_string("cursor"),
		    jv_string(hex));
	if (load_device(c, &user, &device, &k, &rec) == -1)
		return jv_invalid();
	cj = jv_object_get(jv_copy(rec), jv_string("cursor"));
	cur = jv_get_kind(cj) == JV_KIND_STRING ? jv_string_value(cj) : NULL;
	if (cur != NULL && id_parse(cur, strlen(cur), &old) == -1)
		old = 0;
	jv_free(cj);
	if (id > old) {
		id_format(id, hex);
		rec = jv_object_set(rec, jv_string("cursor"), jv_string(hex));
		tx_put_json(c->tx, k.b, k.len, rec);
	} else {
		id_format(old, hex);
		jv_free(rec);
	}
	return jv_object_set(jv_object(), jv_string("cursor"), jv_string(hex));
}

jv
op_push_set(struct op_ctx *c)
{
	const char *user, *device, *provider, *endpoint, *token;
	struct skey k;
	jv rec, push;
	int i;

	if (op_str_field(c, "provider", 32, 1, &provider) == -1 ||
	    op_str_field(c, "endpoint", 2048, 1, &endpoint) == -1 ||
	    op_str_field(c, "token", 4096, 0, &token) == -1)
		return jv_invalid();
	for (i = 0; providers[i] != NULL; i++)
		if (strcmp(providers[i], provider) == 0)
			break;
	if (providers[i] == NULL)
		return op_fail(c, "bad_request", "field 'provider' must be one "
		    "of webhook, unifiedpush, ntfy, fcm, apns");
	if (load_device(c, &user, &device, &k, &rec) == -1)
		return jv_invalid();
	push = jv_object_set(jv_object(), jv_string("provider"),
	    jv_string(provider));
	push = jv_object_set(push, jv_string("endpoint"), jv_string(endpoint));
	if (token != NULL)
		push = jv_object_set(push, jv_string("token"),
		    jv_string(token));
	rec = jv_object_set(rec, jv_string("push"), jv_copy(push));
	tx_put_json(c->tx, k.b, k.len, rec);
	return jv_object_set(jv_object_set(jv_object(), jv_string("device"),
	    jv_string(device)), jv_string("push"), push);
}

jv
op_push_clear(struct op_ctx *c)
{
	const char *user, *device;
	struct skey k;
	jv rec;

	if (load_device(c, &user, &device, &k, &rec) == -1)
		return jv_invalid();
	if (json_has(rec, "push")) {
		rec = jv_object_delete(rec, jv_string("push"));
		tx_put_json(c->tx, k.b, k.len, rec);
	} else
		jv_free(rec);
	return jv_object();
}
