/*
 * origin: which web pages may open a WebSocket to chatd.  A browser names
 * the page's origin in the handshake's Origin header; chatd refuses, before
 * the upgrade, any origin not in conf ws_origins (plus the origin of
 * api_listen, where chat-api serves the example page).  A client that sends
 * no Origin is not a browser and is let through: the token decides.
 */
#ifndef CHATD_ORIGIN_H
#define CHATD_ORIGIN_H

#include <stddef.h>

struct lws;

/*
 * Reads conf ws_origins (comma-separated, each scheme://host[:port] as a
 * browser writes it: lower case, no path) and conf api_listen.  0, or -1
 * with err filled naming a malformed entry.  Never logs.
 */
int origin_init(char *err, size_t errlen);

/*
 * Whether the handshake on wsi may go on: 1 if it has no Origin header or
 * one that equals an allowed origin byte for byte, else 0 (after one
 * warning line naming the origin and peer).
 */
int origin_allowed(struct lws *wsi);

/* 1 if origin (NUL-terminated) is allowed; the test the above applies. */
int origin_match(const char *origin);

#endif
