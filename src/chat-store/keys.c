/*
 * keys: builds every key of the layout (keys.h) and converts keys to and
 * from their printable form.  Nothing else in chat-store spells a key.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "keys.h"

/* k = parts joined by '/', NULL-terminated list; a trailing "" adds a
 * final '/', which is how prefixes end. */
static void
build(struct skey *k, const char *first, ...)
{
	va_list ap;
	const char *p;
	size_t n;

	k->len = 0;
	va_start(ap, first);
	for (p = first; p != NULL; p = va_arg(ap, const char *)) {
		if (p != first && k->len < KEY_MAX)
			k->b[k->len++] = '/';
		n = strlen(p);
		if (n > KEY_MAX - k->len)
			n = KEY_MAX - k->len;
		memcpy(k->b + k->len, p, n);
		k->len += n;
	}
	va_end(ap);
}

static void
add_id(struct skey *k, uint64_t id)
{
	int i;

	if (k->len + 9 > KEY_MAX)
		return;
	k->b[k->len++] = '/';
	for (i = 7; i >= 0; i--)
		k->b[k->len++] = (char)(id >> (i * 8));
}

void key_user(struct skey *k, const char *u) { build(k, "u", u, NULL); }
void key_users_prefix(struct skey *k) { build(k, "u", "", NULL); }
void key_friend(struct skey *k, const char *u, const char *o)
{ build(k, "f", u, o, NULL); }
void key_friend_prefix(struct skey *k, const char *u)
{ build(k, "f", u, "", NULL); }
void key_group(struct skey *k, const char *g) { build(k, "g", g, NULL); }
void key_member(struct skey *k, const char *g, const char *u)
{ build(k, "gm", g, u, NULL); }
void key_member_prefix(struct skey *k, const char *g)
{ build(k, "gm", g, "", NULL); }
void key_user_group(struct skey *k, const char *u, const char *g)
{ build(k, "ug", u, g, NULL); }
void key_user_group_prefix(struct skey *k, const char *u)
{ build(k, "ug", u, "", NULL); }
void key_msg_prefix(struct skey *k, const char *conv)
{ build(k, "m", conv, "", NULL); }
void key_inbox_prefix(struct skey *k, const char *u)
{ build(k, "i", u, "", NULL); }
void key_device(struct skey *k, const char *u, const char *d)
{ build(k, "c", u, d, NULL); }
void key_device_prefix(struct skey *k, const char *u)
{ build(k, "c", u, "", NULL); }
void key_dedupe(struct skey *k, const char *u, const char *d, const char *cid)
{ build(k, "x", u, d, cid, NULL); }
void key_presence(struct skey *k, const char *u) { build(k, "p", u, NULL); }

void
key_msg(struct skey *k, const char *conv, uint64_t id)
{
	build(k, "m", conv, NULL);
	add_id(k, id);
}

void
key_inbox(struct skey *k, const char *user, uint64_t id)
{
	build(k, "i", user, NULL);
	add_id(k, id);
}

void
key_conv_direct(char *out, size_t len, const char *a, const char *b)
{
	if (strcmp(a, b) > 0) {
		const char *t = a;
		a = b;
		b = t;
	}
	snprintf(out, len, "d/%s/%s", a, b);
}

void
key_conv_group(char *out, size_t len, const char *gid)
{
	snprintf(out, len, "g/%s", gid);
}

int
key_tail_id(const char *k, size_t len, uint64_t *id)
{
	size_t i;

	if (len < 11 || k[1] != '/' || (k[0] != 'm' && k[0] != 'i') ||
	    k[len - 9] != '/')
		return -1;
	*id = 0;
	for (i = len - 8; i < len; i++)
		*id = *id << 8 | (unsigned char)k[i];
	return 0;
}

char *
key_print(const char *k, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t id;
	size_t i, n = 0, body = len;
	int has_id = key_tail_id(k, len, &id) == 0;

	if (has_id)
		body = len - 8;
	if (body > KEY_MAX)
		body = KEY_MAX;
	for (i = 0; i < body; i++) {
		unsigned char c = (unsigned char)k[i];
		if (c <= 0x20 || c > 0x7e || c == '\\') {
			out[n++] = '\\';
			out[n++] = 'x';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		} else
			out[n++] = (char)c;
	}
	if (has_id)
		for (i = 0; i < 16; i++)
			out[n++] = hex[(id >> (60 - 4 * i)) & 15];
	out[n] = '\0';
	return out;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
key_parse(const char *s, size_t len, struct skey *k)
{
	size_t i, body = len;
	int tail = 0;

	/* m/.../<16 hex> and i/.../<16 hex>: the id goes back to 8 bytes */
	if (len >= 19 && s[1] == '/' && (s[0] == 'm' || s[0] == 'i') &&
	    s[len - 17] == '/') {
		tail = 1;
		for (i = len - 16; i < len; i++)
			if (hexval(s[i]) < 0 || (s[i] >= 'A' && s[i] <= 'F'))
				tail = 0;
		if (tail)
			body = len - 16;
	}
	k->len = 0;
	for (i = 0; i < body; i++) {
		if (k->len >= KEY_MAX)
			return -1;
		if (s[i] == '\\') {
			if (i + 3 >= body || s[i + 1] != 'x' ||
			    hexval(s[i + 2]) < 0 || hexval(s[i + 3]) < 0)
				return -1;
			k->b[k->len++] = (char)(hexval(s[i + 2]) << 4 |
			    hexval(s[i + 3]));
			i += 3;
		} else
			k->b[k->len++] = s[i];
	}
	if (tail) {
		uint64_t id = 0;
		int j;
		if (k->len + 8 > KEY_MAX)
			return -1;
		for (i = len - 16; i < len; i++)
			id = id << 4 | (uint64_t)hexval(s[i]);
		for (j = 7; j >= 0; j--)
			k->b[k->len++] = (char)(id >> (j * 8));
	}
	return 0;
}
