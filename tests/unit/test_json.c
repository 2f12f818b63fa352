/*
 * test_json: the jv helpers.  Parsing accepts exactly one JSON object and
 * refuses everything else with a reason; field readers check types and name
 * the field in errors; replies have the documented shape.  Run under
 * LeakSanitizer, this also checks that the helpers keep jq's ownership
 * rule: a borrowed jv is never freed, a consumed one never leaks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "t.h"

static char err[256];

static jv
parse(const char *s)
{
	err[0] = '\0';
	return json_parse_object(s, strlen(s), err, sizeof(err));
}

static void
test_parse(void)
{
	static const char *bad[] = { "", "   ", "[]", "[1,2]", "\"str\"", "42",
	    "null", "true", "nan", "{", "{\"a\":", "{\"a\" 1}", "{a:1}",
	    "{} x", "{}{}", "{} {}", "{\"a\":1}]", "{'a':1}",
	    "\xef\xbb" };
	jv v;
	size_t i;
	char *deep;

	v = parse("{\"a\":1,\"b\":\"x\"}");
	CHECK(jv_get_kind(v) == JV_KIND_OBJECT, "an object parses");
	jv_free(v);
	v = parse("  {\"a\":[1,{\"b\":null}]} \n");
	CHECK(jv_get_kind(v) == JV_KIND_OBJECT, "whitespace around an object is fine");
	jv_free(v);
	v = json_parse_object("{\"a\":1}GARBAGE", 7, err, sizeof(err));
	CHECK(jv_get_kind(v) == JV_KIND_OBJECT, "only buf[0..len) is read");
	jv_free(v);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = parse(bad[i]);
		CHECK(!jv_is_valid(v) && err[0] != '\0', "bad input %zu refused: %s", i, err);
		jv_free(v);
	}
	v = parse("[1]");
	CHECK(strstr(err, "object") != NULL, "a non-object is named as such: %s", err);
	jv_free(v);
	v = parse("{} x");
	CHECK(strstr(err, "(while parsing") == NULL && strstr(err, "invalid JSON") != NULL,
	    "a parse error does not echo the input: %s", err);
	jv_free(v);
	v = json_parse_object("{\"a\":1}\0", 8, err, sizeof(err));
	CHECK(!jv_is_valid(v), "a NUL after the object is trailing garbage");
	jv_free(v);
	v = json_parse_object(NULL, 0, err, sizeof(err));
	CHECK(!jv_is_valid(v), "NULL, 0 is refused");
	jv_free(v);

	/* Invalid UTF-8 must not crash: refused, or kept as U+FFFD. */
	v = parse("{\"a\":\"\xff\xfe\xc3\x28\xed\xa0\x80\"}");
	CHECK(!jv_is_valid(v) || jv_get_kind(v) == JV_KIND_OBJECT,
	    "invalid UTF-8 in a string does not crash");
	jv_free(v);
	v = parse("{\"\xc0\xaf\":1, \"b\":\"\xf4\x90\x80\x80\"}");
	CHECK(!jv_is_valid(v) || jv_get_kind(v) == JV_KIND_OBJECT,
	    "overlong and out-of-range UTF-8 do not crash");
	jv_free(v);

	deep = malloc(200001);
	memset(deep, '[', 100000);
	memset(deep + 100000, ']', 100000);
	deep[0] = '{';
	deep[200000] = '\0';
	v = json_parse_object(deep, 200000, err, sizeof(err));
	CHECK(!jv_is_valid(v), "100,000 levels of nesting are refused, not a crash");
	jv_free(v);
	free(deep);
}

static void
test_fields(void)
{
	jv o = parse("{\"s\":\"hello\",\"e\":\"\",\"n\":42,\"neg\":-7,"
	    "\"f\":1.5,\"big\":1e300,\"t\":true,\"fa\":false,\"nu\":null,"
	    "\"ns\":\"5\",\"nul\":\"a\\u0000b\",\"u\":\"h\\u00e9\"}");
	const char *s;
	size_t len = 0;
	int64_t n;

	s = json_str(o, "s", &len);
	CHECK(s != NULL && strcmp(s, "hello") == 0 && len == 5, "json_str reads a string and its length");
	s = json_str(o, "u", &len);
	CHECK(s != NULL && strcmp(s, "h\xc3\xa9") == 0 && len == 3, "json_str gives UTF-8 bytes");
	s = json_str(o, "nul", &len);
	CHECK(s != NULL && len == 3, "json_str's length counts past an escaped NUL");
	CHECK(json_str(o, "n", NULL) == NULL, "json_str of a number is NULL");
	CHECK(json_str(o, "missing", NULL) == NULL, "json_str of a missing field is NULL");
	CHECK(json_str(jv_null(), "s", NULL) == NULL, "json_str of a non-object is NULL");
	/* Still readable after other calls: obj holds the string. */
	s = json_str(o, "s", NULL);
	jv_free(parse("{\"x\":\"yyyyy\"}"));
	CHECK(strcmp(s, "hello") == 0, "a borrowed string lives as long as the object");

	CHECK(json_int(o, "n", &n) == 1 && n == 42, "json_int reads 42");
	CHECK(json_int(o, "neg", &n) == 1 && n == -7, "json_int reads -7");
	CHECK(json_int(o, "f", &n) == 0, "json_int refuses 1.5");
	CHECK(json_int(o, "big", &n) == 0, "json_int refuses 1e300");
	CHECK(json_int(o, "ns", &n) == 0, "json_int refuses the string \"5\"");
	CHECK(json_int(o, "missing", &n) == 0, "json_int refuses a missing field");

	CHECK(json_bool(o, "t", 7) == 1, "json_bool true");
	CHECK(json_bool(o, "fa", 7) == 0, "json_bool false");
	CHECK(json_bool(o, "missing", 7) == 0, "json_bool missing is 0");
	CHECK(json_bool(o, "nu", 7) == 7, "json_bool null gives the default");
	CHECK(json_bool(o, "s", 7) == 7, "json_bool of a string gives the default");

	CHECK(json_has(o, "nu") == 1, "json_has sees a null field");
	CHECK(json_has(o, "missing") == 0, "json_has of a missing field");
	CHECK(json_has(jv_null(), "x") == 0, "json_has of a non-object is 0");

	CHECK(json_need_str(o, "s", 5, &s, err, sizeof(err)) == 0 &&
	    strcmp(s, "hello") == 0, "need_str at exactly maxlen");
	CHECK(json_need_str(o, "s", 4, &s, err, sizeof(err)) == -1 &&
	    strstr(err, "'s'") != NULL, "need_str over maxlen: %s", err);
	CHECK(json_need_str(o, "to", 64, &s, err, sizeof(err)) == -1 &&
	    strcmp(err, "missing field 'to'") == 0, "need_str missing: %s", err);
	CHECK(json_need_str(o, "n", 64, &s, err, sizeof(err)) == -1 &&
	    strcmp(err, "field 'n' must be a string") == 0, "need_str number: %s", err);
	CHECK(json_need_str(o, "nu", 64, &s, err, sizeof(err)) == -1 &&
	    strcmp(err, "field 'nu' must be a string") == 0, "need_str null: %s", err);
	CHECK(json_need_str(o, "e", 64, &s, err, sizeof(err)) == -1 &&
	    strstr(err, "'e'") != NULL, "need_str empty: %s", err);
	CHECK(json_need_str(o, "nul", 64, &s, err, sizeof(err)) == -1 &&
	    strstr(err, "'nul'") != NULL, "need_str with a NUL inside: %s", err);

	s = "x";
	CHECK(json_opt_str(o, "missing", 64, &s, err, sizeof(err)) == 0 && s == NULL,
	    "opt_str missing is fine and NULL");
	s = "x";
	CHECK(json_opt_str(o, "nu", 64, &s, err, sizeof(err)) == 0 && s == NULL,
	    "opt_str null counts as missing");
	CHECK(json_opt_str(o, "s", 64, &s, err, sizeof(err)) == 0 && strcmp(s, "hello") == 0,
	    "opt_str present");
	CHECK(json_opt_str(o, "n", 64, &s, err, sizeof(err)) == -1 &&
	    strcmp(err, "field 'n' must be a string") == 0, "opt_str wrong type: %s", err);
	CHECK(json_opt_str(o, "s", 2, &s, err, sizeof(err)) == -1, "opt_str too long");

	CHECK(json_need_int(o, "n", &n, err, sizeof(err)) == 0 && n == 42, "need_int");
	CHECK(json_need_int(o, "limit", &n, err, sizeof(err)) == -1 &&
	    strcmp(err, "missing field 'limit'") == 0, "need_int missing: %s", err);
	CHECK(json_need_int(o, "s", &n, err, sizeof(err)) == -1 &&
	    strcmp(err, "field 's' must be an integer") == 0, "need_int string: %s", err);
	CHECK(json_need_int(o, "f", &n, err, sizeof(err)) == -1, "need_int 1.5");
	jv_free(o);
}

static void
test_dump_replies(void)
{
	char *s;
	size_t len = 0;
	jv r;

	s = json_dump(parse("{ \"a\" : [1, 2], \"b\": \"\xc3\xa9\\n\" }"), &len);
	CHECK(s != NULL && strcmp(s, "{\"a\":[1,2],\"b\":\"\xc3\xa9\\n\"}") == 0 &&
	    len == strlen(s), "json_dump is compact, one line: %s", s ? s : "(null)");
	free(s);
	CHECK(json_dump(jv_invalid(), &len) == NULL, "json_dump of invalid is NULL");
	CHECK(json_dump(jv_invalid_with_msg(jv_string("x")), NULL) == NULL,
	    "json_dump of invalid with a message is NULL (and frees it)");

	s = json_dump(json_ok(jv_number(7)), NULL);
	CHECK(s != NULL && strcmp(s, "{\"id\":7,\"ok\":true}") == 0, "json_ok: %s", s);
	free(s);
	r = json_ok(jv_number(8));
	r = jv_object_set(r, jv_string("user"), jv_string("alice"));
	s = json_dump(r, NULL);
	CHECK(s != NULL && strcmp(s, "{\"id\":8,\"ok\":true,\"user\":\"alice\"}") == 0,
	    "json_ok extends: %s", s);
	free(s);
	s = json_dump(json_error(jv_number(9), "not_member", "not in 'g_1'"), NULL);
	CHECK(s != NULL && strcmp(s, "{\"id\":9,\"ok\":false,\"error\":{\"code\":"
	    "\"not_member\",\"message\":\"not in 'g_1'\"}}") == 0, "json_error: %s", s);
	free(s);
	s = json_dump(json_error(jv_invalid(), "bad_request", "not JSON"), NULL);
	CHECK(s != NULL && strncmp(s, "{\"id\":null,", 11) == 0,
	    "a reply to a request without id has id null: %s", s);
	free(s);
	s = json_dump(json_ok(jv_string("abc")), NULL);
	CHECK(s != NULL && strcmp(s, "{\"id\":\"abc\",\"ok\":true}") == 0,
	    "a string id is echoed as given");
	free(s);
}

int
main(void)
{
	test_parse();
	test_fields();
	test_dump_replies();
	return t_done();
}
