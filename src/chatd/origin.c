/*
 * origin: the Origin allowlist of chatd's WebSocket handshake (the browser
 * half of cross-site WebSocket hijacking: a page on another site could
 * otherwise open a socket here with whatever the browser holds).
 *
 * The comparison is exact, byte for byte, as RFC 6454 serializes an origin:
 * browsers send scheme and host in lower case with no trailing dot and the
 * port only when it is not the default, so "HTTP://LOCALHOST:8080" or
 * "http://localhost.:8080" are other origins and are refused.  Entries are
 * checked when the config is read, so one that could never match (a path,
 * a trailing slash, capitals) is a configuration error, not a silent
 * refusal of every browser.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "conf.h"
#include "log.h"
#include "origin.h"
#include "util.h"

#define ORIGIN_MAX	32	/* entries */
#define ORIGIN_LEN	256	/* bytes of one, with its NUL */

static char allowed[ORIGIN_MAX][ORIGIN_LEN];
static int nallowed;

/* 1 if s (len bytes) is scheme://host[:port] in a browser's form. */
static int
well_formed(const char *s, size_t len)
{
	const char *h, *end = s + len, *p;
	size_t skip;

	if (len > 7 && strncmp(s, "http://", 7) == 0)
		skip = 7;
	else if (len > 8 && strncmp(s, "https://", 8) == 0)
		skip = 8;
	else
		return 0;
	h = s + skip;
	if (*h == '[') {			/* [v6]:port */
		if ((p = memchr(h, ']', (size_t)(end - h))) == NULL)
			return 0;
		for (h++; h < p; h++)
			if (!isxdigit((unsigned char)*h) && *h != ':' &&
			    *h != '.')
				return 0;
		h = p + 1;
	} else {
		for (p = h; p < end && *p != ':'; p++)
			if (!islower((unsigned char)*p) &&
			    !isdigit((unsigned char)*p) && *p != '.' &&
			    *p != '-')
				return 0;
		if (p == h || p[-1] == '.')
			return 0;		/* empty, or a trailing dot */
		h = p;
	}
	if (h == end)
		return 1;
	if (*h != ':' || end - h < 2 || end - h > 6)
		return 0;
	for (h++; h < end; h++)
		if (!isdigit((unsigned char)*h))
			return 0;
	return 1;
}

static int
add(const char *s, size_t len)
{
	int i;

	for (i = 0; i < nallowed; i++)
		if (strlen(allowed[i]) == len &&
		    memcmp(allowed[i], s, len) == 0)
			return 0;
	if (nallowed == ORIGIN_MAX || len >= ORIGIN_LEN)
		return -1;
	memcpy(allowed[nallowed], s, len);
	allowed[nallowed++][len] = '\0';
	return 0;
}

int
origin_init(char *err, size_t errlen)
{
	const char *list = conf_get("ws_origins"), *p, *e;
	char host[200], buf[ORIGIN_LEN];
	int port, n;

	nallowed = 0;
	for (p = list != NULL ? list : ""; *p != '\0'; p = *e ? e + 1 : e) {
		e = p + strcspn(p, ",");
		while (p < e && isspace((unsigned char)*p))
			p++;
		n = (int)(e - p);
		while (n > 0 && isspace((unsigned char)p[n - 1]))
			n--;
		if (n == 0)
			continue;
		if (!well_formed(p, (size_t)n)) {
			snprintf(err, errlen, "ws_origins: '%.*s' is not an "
			    "origin as a browser sends it (scheme://host[:port], "
			    "lower case, no path)", n, p);
			return -1;
		}
		if (add(p, (size_t)n) == -1) {
			snprintf(err, errlen, "ws_origins: more than %d "
			    "origins, or one over %d bytes", ORIGIN_MAX,
			    ORIGIN_LEN - 1);
			return -1;
		}
	}
	/* Where chat-api serves the page is always a good origin. */
	if (parse_hostport(conf_get("api_listen"), host, sizeof(host),
	    &port) == 0 && port > 0) {
		n = snprintf(buf, sizeof(buf), "http://%s:%d", host, port);
		if (n > 0 && n < (int)sizeof(buf) && well_formed(buf, (size_t)n))
			(void)add(buf, (size_t)n);
		if (strcmp(host, "127.0.0.1") == 0) {
			n = snprintf(buf, sizeof(buf), "http://localhost:%d",
			    port);
			(void)add(buf, (size_t)n);
		}
	}
	return 0;
}

int
origin_match(const char *origin)
{
	int i;

	for (i = 0; i < nallowed; i++)
		if (strcmp(origin, allowed[i]) == 0)
			return 1;
	return 0;
}

int
origin_allowed(struct lws *wsi)
{
	char origin[ORIGIN_LEN], peer[64];
	int i, len = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN);

	if (len <= 0)
		return 1;		/* not a browser */
	if (len < (int)sizeof(origin) && lws_hdr_copy(wsi, origin,
	    sizeof(origin), WSI_TOKEN_ORIGIN) == len &&
	    memchr(origin, '\0', (size_t)len) == NULL && origin_match(origin))
		return 1;
	if (len >= (int)sizeof(origin) || lws_hdr_copy(wsi, origin,
	    sizeof(origin), WSI_TOKEN_ORIGIN) < 0)
		strcpy(origin, "(unreadable)");
	for (i = 0; origin[i] != '\0'; i++)	/* the log stays one line */
		if (!isprint((unsigned char)origin[i]))
			origin[i] = '?';
	lws_get_peer_simple(wsi, peer, sizeof(peer));
	log_warnx("%s: Origin '%.*s' is not in ws_origins: refused", peer,
	    80, origin);
	return 0;
}
