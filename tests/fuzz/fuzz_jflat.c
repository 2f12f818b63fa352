/*
 * fuzz_jflat: libFuzzer target for lib/jflat.c, the scanner the message
 * path reads client frames and internal lines with instead of libjq.  As
 * tests/unit/test_jflat does on mutated lines, its decision is checked
 * against jq's parser (json_parse_object) on the same bytes: jflat may
 * refuse more (the caller then takes jq's path) but must never accept
 * what jq refuses, and when both accept, the plain fields read the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jflat.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
ascii(const char *p, size_t len)
{
	while (len-- > 0)
		if ((unsigned char)*p++ >= 0x80)
			return 0;
	return 1;
}

/* Every element span of an array is itself a value jq reads. */
static void
walk(const struct jflat_val *arr)
{
	struct jflat_val el;
	size_t pos = 0, n = 0;

	while (jflat_array_next(arr, &pos, &el)) {
		if (el.p < arr->p || el.p + el.len > arr->p + arr->len ||
		    ++n > arr->len)
			abort();
	}
}

/* One member: its value as jflat reads it against jq's. */
static void
member(const struct jflat *f, jv o, const char *key, int plainkeys)
{
	const struct jflat_val *v = jflat_get(f, key);
	const char *s, *js;
	size_t len, jlen;
	int64_t n, jn;

	if (v == NULL)
		return;
	if (v->type == JF_ARRAY)
		walk(v);
	if (!plainkeys)
		return;	/* jq may read a "\u0061"-spelt key as "a" */
	if (!json_has(o, key))
		abort();
	if ((s = jflat_str(f, key, &len)) != NULL && ascii(s, len)) {
		js = json_str(o, key, &jlen);
		if (js == NULL || jlen != len || memcmp(js, s, len) != 0)
			abort();
	}
	if (v->type == JF_STRING && !v->uesc && ascii(v->p, v->len)) {
		js = json_str(o, key, &jlen);
		if (js == NULL || jlen != jflat_strlen(v))
			abort();
	}
	if (jflat_int(f, key, &n) && n > -(1LL << 52) && n < (1LL << 52) &&
	    (!json_int(o, key, &jn) || jn != n))
		abort();
	if (jflat_bool(f, key, 7) != json_bool(o, key, 7))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct jflat f;
	char err[200], key[64];
	int fl, plainkeys = 1;
	size_t i;
	jv o;

	fl = jflat_parse(&f, s, size) == 0;
	o = json_parse_object(s, size, err, sizeof(err));
	if (fl && !jv_is_valid(o))
		abort();	/* jflat took what jq refuses */
	if (fl) {
		if (f.n > JFLAT_MAX)
			abort();
		for (i = 0; i < f.n; i++)
			if (f.m[i].kesc || !ascii(f.m[i].key, f.m[i].klen))
				plainkeys = 0;	/* jq may read two as one */
		for (i = 0; i < f.n; i++) {
			if (f.m[i].kesc || f.m[i].klen >= sizeof(key) ||
			    !ascii(f.m[i].key, f.m[i].klen) ||
			    memchr(f.m[i].key, '\0', f.m[i].klen) != NULL)
				continue;
			memcpy(key, f.m[i].key, f.m[i].klen);
			key[f.m[i].klen] = '\0';
			member(&f, o, key, plainkeys);
		}
	}
	jv_free(o);
	return 0;
}
