/*
 * jflat: a validating recursive-descent scan of one JSON object that keeps
 * only where each top-level member's name and value lie (see jflat.h).
 */
#include <stdlib.h>
#include <string.h>

#include "jflat.h"

struct scan {
	const char	*s;
	size_t		 len, i;
};

static void
skip_ws(struct scan *sc)
{
	while (sc->i < sc->len && (sc->s[sc->i] == ' ' || sc->s[sc->i] == '\t'
	    || sc->s[sc->i] == '\n' || sc->s[sc->i] == '\r'))
		sc->i++;
}

static int
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/* The value of the escape \uXXXX at s[i], or -1 if there is none. */
static long
hex4(const char *s, size_t len, size_t i)
{
	long v = 0;

	if (i + 5 >= len || s[i] != '\\' || s[i + 1] != 'u')
		return -1;
	for (size_t k = i + 2; k < i + 6; k++) {
		if (!is_hex(s[k]))
			return -1;
		v = v * 16 + (s[k] <= '9' ? s[k] - '0' :
		    (s[k] | 0x20) - 'a' + 10);
	}
	return v;
}

/* At a '"': past the closing quote, counting escapes. */
static int
scan_string(struct scan *sc, unsigned *nesc, int *uesc)
{
	const char *s = sc->s;
	size_t i = sc->i + 1;

	while (i < sc->len) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"') {
			sc->i = i + 1;
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c != '\\') {
			i++;
			continue;
		}
		if (i + 1 >= sc->len)
			return -1;
		c = (unsigned char)s[i + 1];
		if (c == 'u') {
			long u = hex4(s, sc->len, i);
			if (u == -1)
				return -1;
			/* As jq: a high surrogate must be followed by a
			 * low one (a lone low one jq reads as U+FFFD). */
			if (u >= 0xD800 && u <= 0xDBFF) {
				long lo = hex4(s, sc->len, i + 6);
				if (lo < 0xDC00 || lo > 0xDFFF)
					return -1;
				i += 6;
			}
			*uesc = 1;
			i += 6;
		} else if (c != '\0' && strchr("\"\\/bfnrt", c) != NULL)
			i += 2;
		else
			return -1;
		(*nesc)++;
	}
	return -1;
}

static int
digits(struct scan *sc)
{
	size_t start = sc->i;

	while (sc->i < sc->len && sc->s[sc->i] >= '0' && sc->s[sc->i] <= '9')
		sc->i++;
	return sc->i > start ? 0 : -1;
}

static int
scan_number(struct scan *sc)
{
	if (sc->s[sc->i] == '-')
		sc->i++;
	if (sc->i < sc->len && sc->s[sc->i] == '0')
		sc->i++;
	else if (digits(sc) == -1)
		return -1;
	if (sc->i < sc->len && sc->s[sc->i] == '.') {
		sc->i++;
		if (digits(sc) == -1)
			return -1;
	}
	if (sc->i < sc->len && (sc->s[sc->i] == 'e' || sc->s[sc->i] == 'E')) {
		sc->i++;
		if (sc->i < sc->len && (sc->s[sc->i] == '+' ||
		    sc->s[sc->i] == '-'))
			sc->i++;
		if (digits(sc) == -1)
			return -1;
	}
	return 0;
}

static int
literal(struct scan *sc, const char *word, size_t n)
{
	if (sc->len - sc->i < n || memcmp(sc->s + sc->i, word, n) != 0)
		return -1;
	sc->i += n;
	return 0;
}

static int scan_value(struct scan *sc, int depth, struct jflat_val *v);

/* At '{' or '[': past the matching close; members are not kept. */
static int
scan_container(struct scan *sc, int depth, char close)
{
	struct jflat_val v;
	unsigned nesc;
	int uesc, first = 1;

	sc->i++;
	for (;;) {
		skip_ws(sc);
		if (sc->i >= sc->len)
			return -1;
		if (sc->s[sc->i] == close && first) {
			sc->i++;
			return 0;
		}
		if (close == '}') {
			if (sc->s[sc->i] != '"' ||
			    scan_string(sc, &nesc, &uesc) == -1)
				return -1;
			skip_ws(sc);
			if (sc->i >= sc->len || sc->s[sc->i] != ':')
				return -1;
			sc->i++;
		}
		if (scan_value(sc, depth + 1, &v) == -1)
			return -1;
		skip_ws(sc);
		if (sc->i >= sc->len)
			return -1;
		if (sc->s[sc->i] == close) {
			sc->i++;
			return 0;
		}
		if (sc->s[sc->i] != ',')
			return -1;
		sc->i++;
		first = 0;
	}
}

static int
scan_value(struct scan *sc, int depth, struct jflat_val *v)
{
	int r;

	if (depth > JFLAT_DEPTH)
		return -1;
	skip_ws(sc);
	if (sc->i >= sc->len)
		return -1;
	v->p = sc->s + sc->i;
	v->nesc = 0;
	v->uesc = 0;
	switch (sc->s[sc->i]) {
	case '"':
		v->type = JF_STRING;
		r = scan_string(sc, &v->nesc, &v->uesc);
		break;
	case '{':
		v->type = JF_OBJECT;
		r = scan_container(sc, depth, '}');
		break;
	case '[':
		v->type = JF_ARRAY;
		r = scan_container(sc, depth, ']');
		break;
	case 't':
		v->type = JF_TRUE;
		r = literal(sc, "true", 4);
		break;
	case 'f':
		v->type = JF_FALSE;
		r = literal(sc, "false", 5);
		break;
	case 'n':
		v->type = JF_NULL;
		r = literal(sc, "null", 4);
		break;
	default:
		v->type = JF_NUMBER;
		r = scan_number(sc);
	}
	v->len = (size_t)(sc->s + sc->i - v->p);
	return r;
}

int
jflat_parse(struct jflat *f, const char *s, size_t len)
{
	struct scan sc = { s, len, 0 };
	unsigned kesc;
	int kuesc;

	f->n = 0;
	skip_ws(&sc);
	if (sc.i >= len || s[sc.i] != '{')
		return -1;
	sc.i++;
	skip_ws(&sc);
	if (sc.i < len && s[sc.i] == '}')
		sc.i++;
	else
		for (;;) {
			skip_ws(&sc);
			if (f->n == JFLAT_MAX || sc.i >= len || s[sc.i] != '"')
				return -1;
			size_t k = sc.i;
			kesc = 0;
			/* A name with an escape may spell a name the caller
			 * asks for ("\u0074o" is "to"): the full parser
			 * decides what such an object means. */
			if (scan_string(&sc, &kesc, &kuesc) == -1 || kesc > 0)
				return -1;
			f->m[f->n].key = s + k + 1;
			f->m[f->n].klen = sc.i - k - 2;
			f->m[f->n].kesc = kesc > 0;
			skip_ws(&sc);
			if (sc.i >= len || s[sc.i] != ':')
				return -1;
			sc.i++;
			if (scan_value(&sc, 1, &f->m[f->n].v) == -1)
				return -1;
			f->n++;
			skip_ws(&sc);
			if (sc.i >= len)
				return -1;
			if (s[sc.i] == '}') {
				sc.i++;
				break;
			}
			if (s[sc.i] != ',')
				return -1;
			sc.i++;
		}
	skip_ws(&sc);
	return sc.i == len ? 0 : -1;
}

const struct jflat_val *
jflat_get(const struct jflat *f, const char *key)
{
	size_t klen = strlen(key);

	for (size_t i = f->n; i-- > 0;)
		if (f->m[i].klen == klen && !f->m[i].kesc &&
		    memcmp(f->m[i].key, key, klen) == 0)
			return &f->m[i].v;
	return NULL;
}

const char *
jflat_str(const struct jflat *f, const char *key, size_t *len)
{
	const struct jflat_val *v = jflat_get(f, key);

	if (v == NULL || v->type != JF_STRING || v->nesc > 0)
		return NULL;
	if (len != NULL)
		*len = v->len - 2;
	return v->p + 1;
}

int
jflat_strcpy(const struct jflat *f, const char *key, char *out, size_t outlen)
{
	size_t len;
	const char *s = jflat_str(f, key, &len);

	if (s == NULL || len >= outlen)
		return -1;
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

int
jflat_int(const struct jflat *f, const char *key, int64_t *out)
{
	const struct jflat_val *v = jflat_get(f, key);
	char buf[24];

	if (v == NULL || v->type != JF_NUMBER || v->len >= sizeof(buf) ||
	    memchr(v->p, '.', v->len) || memchr(v->p, 'e', v->len) ||
	    memchr(v->p, 'E', v->len))
		return 0;
	memcpy(buf, v->p, v->len);
	buf[v->len] = '\0';
	char *end;
	long long n = strtoll(buf, &end, 10);
	if (*end != '\0' || v->len > 18)	/* stays exact as a double, too */
		return 0;
	*out = n;
	return 1;
}

int
jflat_bool(const struct jflat *f, const char *key, int def)
{
	const struct jflat_val *v = jflat_get(f, key);

	if (v == NULL || v->type == JF_FALSE)
		return 0;
	return v->type == JF_TRUE ? 1 : def;
}

size_t
jflat_strlen(const struct jflat_val *v)
{
	return v->len - 2 - v->nesc;
}

int
jflat_array_next(const struct jflat_val *arr, size_t *pos,
    struct jflat_val *el)
{
	struct scan sc = { arr->p, arr->len, *pos };

	if (arr->type != JF_ARRAY)
		return 0;
	if (sc.i == 0)
		sc.i = 1;	/* past '[' */
	skip_ws(&sc);
	if (sc.i >= sc.len || sc.s[sc.i] == ']')
		return 0;
	if (sc.s[sc.i] == ',')
		sc.i++;
	if (scan_value(&sc, 1, el) == -1)
		return 0;	/* cannot happen: jflat_parse checked it */
	*pos = sc.i;
	return 1;
}
