/*
 * static: chat-api serves a directory of static files (conf web_root, the
 * example web page) at every path outside /v1/, for GET and HEAD, with a
 * Content-Type per extension, Cache-Control, an ETag and a
 * Content-Security-Policy.  Off when web_root is empty.
 */
#ifndef CHAT_API_STATIC_H
#define CHAT_API_STATIC_H

#include <stddef.h>

struct lws;
struct api_req;

/*
 * Reads conf web_root (resolved with realpath(3)) and conf chatd_url (the
 * WebSocket host the policy lets the page reach).  0, or -1 with err filled
 * if web_root is set but is not a directory.  Never logs.
 */
int api_static_init(char *err, size_t errlen);
/* Frees what api_static_init made. */
void api_static_free(void);

/*
 * Whether r (its path as lws decoded it: uri, urilen bytes) is a page
 * request: web_root is on and the path is not the API's (/v1 or under it).
 * If so, answers r at once (200 with the file, 304, 400, 403, 404 or 405)
 * and returns 1; otherwise 0 and r is untouched.  Never blocks longer than
 * one read of a small local file.
 */
int api_static_serve(struct lws *wsi, struct api_req *r, const char *uri,
    size_t urilen);

/*
 * Adds a static answer's headers (Cache-Control, ETag, the security
 * headers) to the header block at *p (up to end); 0, or -1 if it is full.
 */
int api_static_headers(struct lws *wsi, struct api_req *r, unsigned char **p,
    unsigned char *end);

#endif
