/*
 * jflat against libjq: the fast scanner must accept only what jq accepts
 * as an object (it may refuse more: the caller then takes jq's path), and
 * read the same values.  Fixed cases, then random mutations of real lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jv.h>

#include "jflat.h"
#include "json.h"
#include "t.h"

static int
jq_object(const char *s, size_t len)
{
	char err[200];
	jv v = json_parse_object(s, len, err, sizeof(err));
	int ok = jv_is_valid(v);

	jv_free(v);
	return ok;
}

static void
fixed(void)
{
	struct jflat f;
	const char *line = " {\"op\":\"msg.send\",\"id\":42,\"user\":\"alice\","
	    "\"body\":\"a \\\"q\\\"\\n\",\"n\":null,\"o\":{\"a\":[1,{\"b\":2}]},"
	    "\"to\":\"bob\",\"ok\":true,\"arr\":[\"x\",\"y\" , \"z\"],"
	    "\"u\":\"\\u00e9\",\"id\":43} ";
	size_t len;
	int64_t n;

	CHECK(jflat_parse(&f, line, strlen(line)) == 0, "a line parses");
	CHECK(f.n == 11, "11 members (%zu)", f.n);
	const char *s = jflat_str(&f, "op", &len);
	CHECK(s && len == 8 && memcmp(s, "msg.send", 8) == 0, "op");
	CHECK(jflat_int(&f, "id", &n) && n == 43, "a repeated key: the last");
	CHECK(jflat_str(&f, "body", NULL) == NULL, "an escaped string is not "
	    "handed out as plain");
	const struct jflat_val *b = jflat_get(&f, "body");
	CHECK(b && b->type == JF_STRING && b->nesc == 3 && !b->uesc &&
	    jflat_strlen(b) == 6, "body: raw span, 3 escapes, 6 bytes decoded");
	CHECK(jflat_get(&f, "u")->uesc, "a \\u escape is flagged");
	struct jflat esc;
	CHECK(jflat_parse(&esc, "{\"to\":\"bob\",\"\\u0074o\":\"eve\"}", 28) == -1,
	    "a name with an escape sends the caller to the full parser");
	CHECK(jflat_bool(&f, "ok", 0) == 1 && jflat_bool(&f, "n", 7) == 7 &&
	    jflat_bool(&f, "none", 0) == 0, "booleans");
	const struct jflat_val *o = jflat_get(&f, "o");
	CHECK(o && o->type == JF_OBJECT && o->len == 17, "a nested object "
	    "spans its text");
	const struct jflat_val *a = jflat_get(&f, "arr");
	size_t pos = 0, k = 0;
	struct jflat_val el;
	char got[8] = "";
	while (jflat_array_next(a, &pos, &el))
		if (el.type == JF_STRING && el.len == 3 && k < 7)
			got[k++] = el.p[1];
	CHECK(strcmp(got, "xyz") == 0, "array walk: %s", got);
	pos = 0;
	struct jflat_val e2 = { "[]", 2, JF_ARRAY, 0, 0 };
	CHECK(!jflat_array_next(&e2, &pos, &el), "an empty array");
	char buf[4];
	CHECK(jflat_strcpy(&f, "to", buf, sizeof(buf)) == 0 &&
	    strcmp(buf, "bob") == 0 && jflat_strcpy(&f, "op", buf,
	    sizeof(buf)) == -1, "strcpy with its bound");

	static const char *bad[] = {
		"", "[]", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}",
		"{\"a\":1 \"b\":2}", "{\"a\":-}",
		"{\"a\":tru}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}",
		"{\"a\":\"tab\there\"}", "{\"a\":[1,]}", "{\"a\":[1 2]}",
		"{\"a\":1}x", "{\"a\":1}{}", "{\"a\":{\"b\"}}", "{'a':1}",
		"{\"a\":\"unterminated}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(jflat_parse(&f, bad[i], strlen(bad[i])) == -1 &&
		    !jq_object(bad[i], strlen(bad[i])), "refused as jq "
		    "refuses it: %s", bad[i]);
	/* jq 1.6 reads these; the grammar does not: jq's path takes them */
	CHECK(jflat_parse(&f, "{\"a\":01}", 8) == -1 &&
	    jflat_parse(&f, "{\"a\":1.}", 8) == -1, "01 and 1. are left to jq");
	CHECK(jflat_parse(&f, "{}", 2) == 0 && f.n == 0, "{}");
	CHECK(jflat_parse(&f, "{\"a\":-0.5e+3}", 13) == 0 &&
	    !jflat_int(&f, "a", &n), "a number with a fraction is no int");
	char deep[300] = "{\"a\":";
	size_t dl = strlen(deep);
	memset(deep + dl, '[', 100);
	memset(deep + dl + 100, ']', 100);
	strcpy(deep + dl + 200, "}");
	CHECK(jflat_parse(&f, deep, strlen(deep)) == -1, "nesting past %d is "
	    "left to jq", JFLAT_DEPTH);
}

/* Random bytes changed in real lines: jflat never accepts what jq
 * refuses, and when both accept, they agree on the members. */
static void
mutations(void)
{
	static const char *seeds[] = {
		"{\"op\":\"msg.send\",\"id\":7,\"user\":\"alice\",\"device\":"
		    "\"d1\",\"to\":\"bob\",\"cid\":\"c-1\",\"body\":\"hi\\n\"}",
		"{\"id\":12,\"ok\":true,\"mid\":\"0123456789abcdef\",\"ts\":"
		    "1700000000000,\"dup\":false,\"recipients\":[\"a\",\"b\"]}",
		"{\"type\":\"send\",\"to\":\"x\",\"cid\":\"1\",\"body\":"
		    "\"\\u00e9 [1,{}] \\\\ \"}",
	};
	static const char alphabet[] = "{}[]\":,\\ -0123456789.eEtrufalsn\tx";
	int agree = 0, both = 0, wrong = 0;
	char buf[256];
	struct jflat f;

	srand(1);
	for (int round = 0; round < 30000; round++) {
		const char *s = seeds[round % 3];
		size_t len = strlen(s);
		memcpy(buf, s, len);
		int edits = 1 + rand() % 3;
		for (int e = 0; e < edits; e++) {
			size_t at = (size_t)rand() % len;
			int kind = rand() % 3;
			if (kind == 0)
				buf[at] = alphabet[rand() % (sizeof(alphabet) - 1)];
			else if (kind == 1 && len > 1) {
				memmove(buf + at, buf + at + 1, len - at - 1);
				len--;
			} else if (len < sizeof(buf) - 1) {
				memmove(buf + at + 1, buf + at, len - at);
				buf[at] = alphabet[rand() % (sizeof(alphabet) - 1)];
				len++;
			}
		}
		int fl = jflat_parse(&f, buf, len) == 0;
		int jq = jq_object(buf, len);
		if (fl && !jq) {
			if (wrong++ < 5)
				printf("# jflat took what jq refuses: %.*s\n",
				    (int)len, buf);
			continue;
		}
		if (fl && jq)
			both++;
		if (fl == jq)
			agree++;
	}
	CHECK(wrong == 0, "30000 mutated lines: jflat never accepts what jq "
	    "refuses (%d did)", wrong);
	CHECK(both > 1000, "and both accept many (%d); they agree on %d",
	    both, agree);
}

int
main(void)
{
	fixed();
	mutations();
	return t_done();
}
