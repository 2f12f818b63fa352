/*
 * static: the web page's files, served by chat-api from conf web_root.
 *
 * Only GET and HEAD, only outside /v1/, and only regular files that really
 * live under the root: the decoded path is refused if it holds a NUL, a
 * control byte, a backslash, a '%' (what is left of a double encoding), an
 * empty, "." or ".." segment, or a segment starting with a dot (no dotfiles);
 * then realpath(3) of the file must still lie inside realpath(3) of the
 * root, so a symlink that points out of it is refused too (403).  lws has
 * already decoded %2e%2e to ".." by the time we see it, so the encoded form
 * is refused by the same check.  A file is read whole (at most
 * STATIC_MAX_FILE bytes: the page is small) and answered like any other
 * response, by http.c's writer, with the headers below.
 *
 * Caching: the page's files are not fingerprinted, so every file is
 * "no-cache" (the browser keeps it but asks again each time) with a weak
 * ETag from inode, size and mtime: a reload costs a 304 per file.
 *
 * Content-Security-Policy: the page's own scripts and styles only (no
 * inline code or style, no eval), images from itself or data: URLs, and
 * connections to itself and to the WebSocket host of conf chatd_url on any
 * port (chatds found by discovery differ only by port on one machine).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "api.h"
#include "conf.h"
#include "log.h"
#include "static.h"

#define STATIC_MAX_FILE	(4 << 20)
#define STATIC_MAX_PATH	512

static char *root;		/* realpath of web_root, NULL when off */
static size_t rootlen;
static char csp[512];

static const struct { const char *ext, *type; } types[] = {
	{ ".html",	"text/html; charset=utf-8" },
	{ ".js",	"text/javascript; charset=utf-8" },
	{ ".mjs",	"text/javascript; charset=utf-8" },
	{ ".css",	"text/css; charset=utf-8" },
	{ ".json",	"application/json" },
	{ ".txt",	"text/plain; charset=utf-8" },
	{ ".png",	"image/png" },
	{ ".jpg",	"image/jpeg" },
	{ ".svg",	"image/svg+xml" },
	{ ".ico",	"image/x-icon" },
	{ ".webp",	"image/webp" },
	{ ".woff2",	"font/woff2" },
	{ ".webmanifest", "application/manifest+json" },
};

/* The host of a ws:// or wss:// URL as scheme://host, if it is plain. */
static int
ws_source(const char *url, char *out, size_t outlen)
{
	const char *h, *end;
	size_t schemelen, hostlen;

	if (strncmp(url, "ws://", 5) == 0)
		schemelen = 5;
	else if (strncmp(url, "wss://", 6) == 0)
		schemelen = 6;
	else
		return -1;
	h = url + schemelen;
	if (*h == '[')
		end = strchr(h, ']') != NULL ? strchr(h, ']') + 1 : NULL;
	else
		end = h + strcspn(h, ":/");
	if (end == NULL || end == h)
		return -1;
	hostlen = (size_t)(end - h);
	if (strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-[]:") < hostlen)
		return -1;
	if ((size_t)snprintf(out, outlen, "%.*s%.*s:*", (int)schemelen, url,
	    (int)hostlen, h) >= outlen)
		return -1;
	return 0;
}

int
api_static_init(char *err, size_t errlen)
{
	const char *dir = conf_get("web_root");
	char ws[300];
	struct stat st;

	if (dir == NULL || dir[0] == '\0')
		return 0;
	if ((root = realpath(dir, NULL)) == NULL) {
		snprintf(err, errlen, "web_root '%s': %s", dir, strerror(errno));
		return -1;
	}
	if (stat(root, &st) == -1 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "web_root '%s': not a directory", dir);
		free(root);
		root = NULL;
		return -1;
	}
	rootlen = strlen(root);
	if (ws_source(conf_get("chatd_url"), ws, sizeof(ws)) == -1)
		ws[0] = '\0';
	snprintf(csp, sizeof(csp), "default-src 'none'; script-src 'self'; "
	    "style-src 'self'; img-src 'self' data:; connect-src 'self'%s%s; "
	    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
	    ws[0] != '\0' ? " " : "", ws);
	return 0;
}

void
api_static_free(void)
{
	free(root);
	root = NULL;
}

static const char *
content_type(const char *path)
{
	const char *dot = strrchr(path, '.');
	size_t i;

	if (dot != NULL && strchr(dot, '/') == NULL)
		for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcmp(dot, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

/* 0 if every segment of path is a plain name; else the HTTP status to
 * refuse it with. */
static int
check_path(const char *path, size_t len)
{
	const char *seg, *p;
	size_t n;

	if (len != strlen(path) || path[0] != '/')
		return 400;			/* a NUL inside, or no root */
	if (len > STATIC_MAX_PATH)
		return 404;
	for (p = path; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\' ||
		    *p == '%')
			return 400;
	for (seg = path + 1; *seg != '\0'; seg += n + 1) {
		n = strcspn(seg, "/");
		if ((n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return 403;
		if (n == 0 && seg[n] == '/')
			return 404;		/* "//" */
		if (n > 0 && seg[0] == '.')
			return 404;		/* dotfiles stay private */
		if (seg[n] == '\0')
			break;
	}
	return 0;
}

/* Reads the regular file at real into a new buffer; -1 with errno. */
static int
read_file(const char *real, struct stat *st, char **buf)
{
	ssize_t got;
	size_t off = 0;
	int fd, e;

	if ((fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, st) == -1)
		goto fail;
	if (!S_ISREG(st->st_mode)) {
		errno = EISDIR;
		goto fail;
	}
	if (st->st_size > STATIC_MAX_FILE) {
		errno = EFBIG;
		goto fail;
	}
	if ((*buf = malloc((size_t)st->st_size + 1)) == NULL)
		goto fail;
	while (off < (size_t)st->st_size) {
		got = read(fd, *buf + off, (size_t)st->st_size - off);
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0) {
			e = got == 0 ? EIO : errno;
			free(*buf);
			*buf = NULL;
			errno = e;
			goto fail;
		}
		off += (size_t)got;
	}
	close(fd);
	return 0;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* 1 if the request's If-None-Match names etag. */
static int
not_modified(struct lws *wsi, const char *etag)
{
	char v[256];

	if (lws_hdr_copy(wsi, v, sizeof(v), WSI_TOKEN_HTTP_IF_NONE_MATCH) <= 0)
		return 0;
	return strstr(v, etag + 2) != NULL || strcmp(v, "*") == 0;
}

int
api_static_serve(struct lws *wsi, struct api_req *r, const char *uri,
    size_t urilen)
{
	char want[PATH_MAX], *real, *raw, *buf = NULL;
	struct stat st;
	int status, rawlen;

	if (root == NULL || uri == NULL)
		return 0;
	if (strncmp(uri, "/v1", 3) == 0 && (uri[3] == '\0' || uri[3] == '/'))
		return 0;
	if (strcmp(r->method_name, "GET") != 0 &&
	    strcmp(r->method_name, "HEAD") != 0) {
		strcpy(r->allow, "GET, HEAD");
		api_error(r, 405, "method_not_allowed",
		    "%s is not allowed on '%s' (allowed: GET, HEAD)",
		    r->method_name, r->path);
		return 1;
	}
	/* lws decodes %00 into the stored URI, and the callback's copy ends
	 * at the first NUL: compare with the stored length. */
	if (lws_http_get_uri_and_method(wsi, &raw, &rawlen) < 0 || raw == NULL ||
	    memchr(raw, '\0', (size_t)rawlen) != NULL)
		urilen = (size_t)-1;
	if ((status = check_path(uri, urilen)) != 0) {
		log_warnx("static: refused path '%s' (%d)", r->path, status);
		api_error(r, status, status == 403 ? "forbidden" :
		    status == 400 ? "bad_request" : "not_found",
		    "no such page '%s'", r->path);
		return 1;
	}
	if ((size_t)snprintf(want, sizeof(want), "%s%s%s", root, uri,
	    uri[urilen - 1] == '/' ? "index.html" : "") >= sizeof(want)) {
		api_error(r, 404, "not_found", "no such page '%s'", r->path);
		return 1;
	}
	if ((real = realpath(want, NULL)) == NULL) {
		api_error(r, 404, "not_found", "no such page '%s'", r->path);
		return 1;
	}
	if (strncmp(real, root, rootlen) != 0 || real[rootlen] != '/') {
		log_warnx("static: '%s' leads out of web_root: refused",
		    r->path);
		free(real);
		api_error(r, 403, "forbidden", "no such page '%s'", r->path);
		return 1;
	}
	if (read_file(real, &st, &buf) == -1) {
		if (errno != ENOENT && errno != EISDIR)
			log_warn("static: '%s'", real);
		free(real);
		api_error(r, 404, "not_found", "no such page '%s'", r->path);
		return 1;
	}
	r->ctype = content_type(real);
	free(real);
	snprintf(r->etag, sizeof(r->etag), "W/\"%llx-%llx-%llx\"",
	    (unsigned long long)st.st_ino, (unsigned long long)st.st_size,
	    (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL +
	    (unsigned long long)st.st_mtim.tv_nsec);
	if (not_modified(wsi, r->etag)) {
		free(buf);
		api_reply_bytes(r, 304, NULL, 0);
		return 1;
	}
	api_reply_bytes(r, 200, buf, (size_t)st.st_size);
	return 1;
}

static int
header(struct lws *wsi, const char *name, const char *value,
    unsigned char **p, unsigned char *end)
{
	return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
	    (const unsigned char *)value, (int)strlen(value), p, end);
}

int
api_static_headers(struct lws *wsi, struct api_req *r, unsigned char **p,
    unsigned char *end)
{
	if (header(wsi, "cache-control:", "no-cache", p, end) ||
	    (r->etag[0] != '\0' && header(wsi, "etag:", r->etag, p, end)) ||
	    header(wsi, "content-security-policy:", csp, p, end) ||
	    header(wsi, "x-content-type-options:", "nosniff", p, end) ||
	    header(wsi, "referrer-policy:", "no-referrer", p, end) ||
	    header(wsi, "x-frame-options:", "DENY", p, end) ||
	    header(wsi, "cross-origin-opener-policy:", "same-origin", p, end))
		return -1;
	return 0;
}
