/*
 * jscan: see jscan.h.  A tiny state machine over the top level of one
 * object: key string, colon, value; a value that is not a string is
 * skipped by counting brackets outside strings.
 */
#include <string.h>

#include "jscan.h"

static const char *
skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' ||
	    *p == '\r'))
		p++;
	return p;
}

/* p at an opening quote: returns the closing quote, or NULL.  *esc is set
 * if the string holds a backslash. */
static const char *
string_end(const char *p, const char *end, int *esc)
{
	*esc = 0;
	for (p++; p < end; p++) {
		if (*p == '\\') {
			*esc = 1;
			p++;
		} else if (*p == '"')
			return p;
	}
	return NULL;
}

/* Skips a non-string value; returns the byte after it, or NULL. */
static const char *
skip_value(const char *p, const char *end)
{
	int depth = 0, esc;

	for (; p < end; p++) {
		switch (*p) {
		case '"':
			if ((p = string_end(p, end, &esc)) == NULL)
				return NULL;
			break;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			if (depth == 0)
				return p;
			if (--depth == 0)
				return p + 1;
			break;
		case ',':
			if (depth == 0)
				return p;
			break;
		}
	}
	return depth == 0 ? p : NULL;
}

int
jscan(const char *buf, size_t len, struct jfield *f, int n)
{
	const char *p = buf, *end = buf + len, *k, *ke, *v, *ve;
	int i, esc;

	for (i = 0; i < n; i++) {
		f[i].val = NULL;
		f[i].len = 0;
	}
	p = skip_ws(p, end);
	if (p == end || *p++ != '{')
		return -1;
	for (;;) {
		p = skip_ws(p, end);
		if (p < end && *p == '}')
			return 0;
		if (p == end || *p != '"' || (ke = string_end(p, end,
		    &esc)) == NULL)
			return -1;
		k = p + 1;
		p = skip_ws(ke + 1, end);
		if (p == end || *p++ != ':')
			return -1;
		p = skip_ws(p, end);
		if (p == end)
			return -1;
		if (*p == '"') {
			if ((ve = string_end(p, end, &esc)) == NULL)
				return -1;
			v = p + 1;
			for (i = 0; i < n && !esc; i++)
				if (strlen(f[i].key) == (size_t)(ke - k) &&
				    memcmp(f[i].key, k, (size_t)(ke - k)) == 0) {
					f[i].val = v;
					f[i].len = (size_t)(ve - v);
				}
			p = ve + 1;
		} else if ((p = skip_value(p, end)) == NULL)
			return -1;
		p = skip_ws(p, end);
		if (p < end && *p == ',')
			p++;
		else if (p < end && *p == '}')
			return 0;
		else
			return -1;
	}
}

int
jfield_is(const struct jfield *f, const char *s)
{
	size_t n = strlen(s);

	return f->val != NULL && f->len == n && memcmp(f->val, s, n) == 0;
}
