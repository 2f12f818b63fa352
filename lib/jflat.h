/*
 * jflat: the top-level members of one JSON object as raw byte spans, found
 * in one validating pass that allocates nothing.
 *
 * Why: the message path (chatd -> chat-route -> chat-store and back) handles
 * every message several times, and libjq's jv builds a tree, hashes every
 * key and allocates every string of every line.  On the hot path a program
 * needs a handful of flat fields and passes the rest on as the bytes it
 * got (a body is copied from a client's frame into the next hop's line
 * without being decoded and escaped again).  Anything this scanner does
 * not take (not an object, too many members, a string field with a \u
 * escape the caller wants decoded) sends the caller to json.h's full
 * parser, so the two never disagree about what a line means.
 *
 * The text is checked against the JSON grammar (strings, escapes, control
 * characters, numbers, nesting up to JFLAT_DEPTH), so a span handed on is
 * always valid JSON; UTF-8 is not checked here (chatd's WebSocket layer
 * validates client text, and internal peers are our own programs).
 */
#ifndef CHAT_JFLAT_H
#define CHAT_JFLAT_H

#include <stddef.h>
#include <stdint.h>

#define JFLAT_MAX	32	/* members of one object */
#define JFLAT_DEPTH	64	/* nesting of any value */

enum jflat_type {
	JF_STRING, JF_NUMBER, JF_OBJECT, JF_ARRAY, JF_TRUE, JF_FALSE, JF_NULL
};

/* A value: p[0..len) is its JSON text (a string's quotes included). */
struct jflat_val {
	const char	*p;
	size_t		 len;
	enum jflat_type	 type;
	unsigned	 nesc;		/* a string's escapes */
	int		 uesc;		/* a string has a \u escape */
};

struct jflat {
	size_t		 n;
	struct {
		const char	*key;	/* the name's bytes, no quotes */
		size_t		 klen;
		int		 kesc;	/* always 0: jflat_parse refuses those */
		struct jflat_val v;
	} m[JFLAT_MAX];
};

/* Scans s[0..len) (whitespace around allowed) as one JSON object.  0, or
 * -1 if it is not valid JSON, not an object, has over JFLAT_MAX members,
 * or has a member name with an escape (left to the full parser, which
 * reads "\u0074o" as "to"). */
int jflat_parse(struct jflat *f, const char *s, size_t len);

/* The member named key (the last one if repeated, as jq reads it), or
 * NULL. */
const struct jflat_val *jflat_get(const struct jflat *f, const char *key);

/* A string member with no escapes: its bytes (not terminated, quotes
 * excluded) and *len; NULL if absent, not a string, or escaped. */
const char *jflat_str(const struct jflat *f, const char *key, size_t *len);
/* Copies such a string into out[0..outlen) with a NUL: 0, or -1 if absent,
 * escaped, or too long. */
int jflat_strcpy(const struct jflat *f, const char *key, char *out,
    size_t outlen);
/* 1 and *out if key is an integer number (no fraction or exponent) that
 * fits, else 0. */
int jflat_int(const struct jflat *f, const char *key, int64_t *out);
/* 1 if key is true, 0 if false or absent, def for anything else. */
int jflat_bool(const struct jflat *f, const char *key, int def);

/* The decoded length of a string value with no \u escape. */
size_t jflat_strlen(const struct jflat_val *v);

/* Walks the elements of an array value: start with *pos = 0; 1 with *el
 * for each, 0 at the end. */
int jflat_array_next(const struct jflat_val *arr, size_t *pos,
    struct jflat_val *el);

#endif
