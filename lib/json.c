/*
 * json: the few helpers every handler needs over libjq's jv: parse one
 * object from a line, read typed fields with errors that name the field,
 * and build the reply envelopes.  jq's ownership rule holds throughout:
 * every jv_* call consumes its jv arguments except jv_copy, so a helper
 * that only borrows obj passes jv_copy(obj) to jq and frees what jq gives
 * back.  A field's string pointer stays valid because obj still holds a
 * reference to that string after our own reference is freed.
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/*
 * 1 if two JSON values follow each other with no ',' or ':' between them
 * ('{"a" "b"}', '[1 2]').  libjq 1.6's parser leaks the second value on
 * that error (its value() returns "Expected separator between values"
 * without freeing it), 17 bytes and up per hostile line, so such input is
 * refused here, before jq sees it (found by tests/fuzz/fuzz_json.c).
 */
static int
adjacent_values(const char *s, size_t len)
{
	size_t i = 0;
	int after_value = 0;

	while (i < len) {
		char ch = s[i];
		if (ch == '"') {
			if (after_value)
				return 1;
			for (i++; i < len && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
			i++;
			after_value = 1;
		} else if (ch == '{' || ch == '[') {
			if (after_value)
				return 1;
			i++;
		} else if (ch == '}' || ch == ']') {
			after_value = 1;
			i++;
		} else if (ch == ',' || ch == ':') {
			after_value = 0;
			i++;
		} else if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
			i++;
		} else {
			/* A number, a literal, or bytes jq reads as one. */
			if (after_value)
				return 1;
			do
				i++;
			while (i < len && memchr("{}[],:\" \t\n\r", s[i], 11) ==
			    NULL);
			after_value = 1;
		}
	}
	return 0;
}

jv
json_parse_object(const char *buf, size_t len, char *err, size_t errlen)
{
	jv v, msg;
	const char *m, *cut;
	int mlen;

	if (len > INT_MAX) {
		snprintf(err, errlen, "JSON text too long");
		return jv_invalid();
	}
	if (buf != NULL && adjacent_values(buf, len)) {
		snprintf(err, errlen, "invalid JSON: Expected separator between "
		    "values");
		return jv_invalid();
	}
	v = jv_parse_sized(buf != NULL ? buf : "", (int)len);
	if (!jv_is_valid(v)) {
		msg = jv_invalid_get_msg(v);
		m = jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) :
		    "no JSON value";
		/* jq quotes the whole input after the reason: drop it, as
		 * the input may be large or hostile. */
		cut = strstr(m, " (while parsing");
		mlen = cut != NULL ? (int)(cut - m) : (int)strlen(m);
		snprintf(err, errlen, "invalid JSON: %.*s", mlen, m);
		jv_free(msg);
		return jv_invalid();
	}
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		snprintf(err, errlen, "expected a JSON object, not %s",
		    jv_kind_name(jv_get_kind(v)));
		jv_free(v);
		return jv_invalid();
	}
	return v;
}

/* Borrows obj; the field's value (a new reference, invalid if obj is not
 * an object or lacks field). */
static jv
field(jv obj, const char *name)
{
	if (jv_get_kind(obj) != JV_KIND_OBJECT || name == NULL)
		return jv_invalid();
	return jv_object_get(jv_copy(obj), jv_string(name));
}

const char *
json_str(jv obj, const char *name, size_t *len)
{
	jv v = field(obj, name);
	const char *s = NULL;

	if (jv_get_kind(v) == JV_KIND_STRING) {
		s = jv_string_value(v);
		if (len != NULL)
			*len = (size_t)jv_string_length_bytes(jv_copy(v));
	}
	jv_free(v);
	return s;
}

/* 1 and *out if v (borrowed) is an integer-valued number in int64 range. */
static int
as_int(jv v, int64_t *out)
{
	double d;

	if (jv_get_kind(v) != JV_KIND_NUMBER)
		return 0;
	d = jv_number_value(v);
	if (!isfinite(d) || d != trunc(d) || d < -9223372036854775808.0 ||
	    d >= 9223372036854775808.0)
		return 0;
	*out = (int64_t)d;
	return 1;
}

int
json_int(jv obj, const char *name, int64_t *out)
{
	jv v = field(obj, name);
	int ok = as_int(v, out);

	jv_free(v);
	return ok;
}

int
json_bool(jv obj, const char *name, int def)
{
	jv v = field(obj, name);
	jv_kind k = jv_get_kind(v);

	jv_free(v);
	if (k == JV_KIND_TRUE)
		return 1;
	if (k == JV_KIND_FALSE || k == JV_KIND_INVALID)
		return 0;
	return def;
}

int
json_has(jv obj, const char *name)
{
	if (jv_get_kind(obj) != JV_KIND_OBJECT || name == NULL)
		return 0;
	return jv_object_has(jv_copy(obj), jv_string(name));
}

/* The checks json_need_str and json_opt_str share; v is borrowed. */
static int
check_str(jv v, const char *name, size_t maxlen, const char **out,
    char *err, size_t errlen)
{
	const char *s;
	size_t n;

	if (jv_get_kind(v) != JV_KIND_STRING) {
		snprintf(err, errlen, "field '%s' must be a string", name);
		return -1;
	}
	s = jv_string_value(v);
	n = (size_t)jv_string_length_bytes(jv_copy(v));
	if (n == 0) {
		snprintf(err, errlen, "field '%s' must not be empty", name);
		return -1;
	}
	if (n > maxlen) {
		snprintf(err, errlen, "field '%s' is longer than %zu bytes",
		    name, maxlen);
		return -1;
	}
	/* Callers get a C string: a NUL inside would silently cut it. */
	if (memchr(s, '\0', n) != NULL) {
		snprintf(err, errlen, "field '%s' must not contain NUL", name);
		return -1;
	}
	*out = s;
	return 0;
}

int
json_need_str(jv obj, const char *name, size_t maxlen, const char **out,
    char *err, size_t errlen)
{
	jv v = field(obj, name);
	int rc;

	if (!jv_is_valid(v)) {
		jv_free(v);
		snprintf(err, errlen, "missing field '%s'", name);
		return -1;
	}
	rc = check_str(v, name, maxlen, out, err, errlen);
	jv_free(v);
	return rc;
}

int
json_opt_str(jv obj, const char *name, size_t maxlen, const char **out,
    char *err, size_t errlen)
{
	jv v = field(obj, name);
	int rc = 0;

	*out = NULL;
	if (jv_is_valid(v) && jv_get_kind(v) != JV_KIND_NULL)
		rc = check_str(v, name, maxlen, out, err, errlen);
	jv_free(v);
	return rc;
}

int
json_need_int(jv obj, const char *name, int64_t *out, char *err,
    size_t errlen)
{
	jv v = field(obj, name);
	int rc = 0;

	if (!jv_is_valid(v)) {
		snprintf(err, errlen, "missing field '%s'", name);
		rc = -1;
	} else if (!as_int(v, out)) {
		snprintf(err, errlen, "field '%s' must be an integer", name);
		rc = -1;
	}
	jv_free(v);
	return rc;
}

char *
json_dump(jv v, size_t *len)
{
	jv s;
	char *out;
	size_t n;

	if (!jv_is_valid(v)) {
		jv_free(v);
		return NULL;
	}
	s = jv_dump_string(v, 0);
	n = (size_t)jv_string_length_bytes(jv_copy(s));
	if ((out = malloc(n + 1)) != NULL) {
		memcpy(out, jv_string_value(s), n);
		out[n] = '\0';
		if (len != NULL)
			*len = n;
	}
	jv_free(s);
	return out;
}

/* Consumes id; a request without a usable id is answered with null. */
static jv
reply_id(jv id)
{
	if (jv_is_valid(id))
		return id;
	jv_free(id);
	return jv_null();
}

jv
json_ok(jv id)
{
	jv r = jv_object_set(jv_object(), jv_string("id"), reply_id(id));

	return jv_object_set(r, jv_string("ok"), jv_true());
}

jv
json_error(jv id, const char *code, const char *msg)
{
	jv e, r;

	e = jv_object_set(jv_object(), jv_string("code"),
	    jv_string(code != NULL ? code : "internal"));
	e = jv_object_set(e, jv_string("message"),
	    jv_string(msg != NULL ? msg : ""));
	r = jv_object_set(jv_object(), jv_string("id"), reply_id(id));
	r = jv_object_set(r, jv_string("ok"), jv_false());
	return jv_object_set(r, jv_string("error"), e);
}
