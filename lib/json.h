/*
 * json: helpers over libjq's jv, which is our JSON library.
 *
 * Ownership is jq's: every jv_* call consumes its jv arguments except
 * jv_copy.  Each helper here says whether it consumes or borrows.  A string
 * pointer returned from a borrowed object stays valid while that object
 * lives.  Field errors name the field: "missing field 'to'",
 * "field 'body' must be a string".
 */
#ifndef CHAT_JSON_H
#define CHAT_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <jv.h>

/* Parses buf[0..len) as one JSON object.  On any error (not JSON, not an
 * object, trailing garbage) returns jv_invalid() and fills err. */
jv json_parse_object(const char *buf, size_t len, char *err, size_t errlen);

/* Borrows obj.  The string field's value, or NULL if it is missing or not a
 * string.  len (may be NULL) receives its byte length. */
const char *json_str(jv obj, const char *field, size_t *len);
/* Borrows obj.  1 and *out if field is an integer-valued number, else 0. */
int json_int(jv obj, const char *field, int64_t *out);
/* Borrows obj.  1 if field is true, 0 if false or missing, def otherwise. */
int json_bool(jv obj, const char *field, int def);
/* Borrows obj.  1 if obj has field (any type, even null). */
int json_has(jv obj, const char *field);

/* Borrows obj.  A required string of 1..maxlen bytes: 0 and *out, or -1 with
 * err naming the field. */
int json_need_str(jv obj, const char *field, size_t maxlen, const char **out,
    char *err, size_t errlen);
/* Borrows obj.  Like json_need_str but a missing field is fine: *out = NULL. */
int json_opt_str(jv obj, const char *field, size_t maxlen, const char **out,
    char *err, size_t errlen);
/* Borrows obj.  A required integer: 0 and *out, or -1 with err. */
int json_need_int(jv obj, const char *field, int64_t *out, char *err,
    size_t errlen);

/* Consumes v.  Compact JSON in a malloc'd NUL-terminated buffer without a
 * newline; *len (may be NULL) gets its length.  NULL if v is invalid. */
char *json_dump(jv v, size_t *len);

/* Consumes id.  A reply object {"id":id,"ok":true} to extend. */
jv json_ok(jv id);
/* Consumes id.  {"id":id,"ok":false,"error":{"code":code,"message":msg}}. */
jv json_error(jv id, const char *code, const char *msg);

#endif
