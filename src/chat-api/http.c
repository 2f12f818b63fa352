/*
 * http: the libwebsockets glue of chat-api.  One lws protocol serves every
 * HTTP request (no mounts, so every path reaches LWS_CALLBACK_HTTP).
 *
 * A request is copied out of lws's header table at once (method, path,
 * query, bearer token, Content-Length) into a struct api_req.  The route is
 * matched straight away, so 404, 405 and 413 are answered before any body
 * is read; lws then discards the unread body and keep-alive goes on.  A
 * body is collected up to max_body and the request is dispatched when it
 * is complete.  The response is written only from LWS_CALLBACK_HTTP_WRITEABLE
 * (after lws_callback_on_writable), in chunks, stopping whenever the socket
 * is choked, with LWS_PRE headroom before each chunk.
 *
 * lws 4.1 assumes a POST, PUT or PATCH without Content-Length has a body
 * running until the connection closes; such a request is answered at once
 * as having no body, with Connection: close.  A chunked request body is
 * refused with 411, which lws 4.1 cannot decode.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libwebsockets.h>

#include "../chatd/limits.h"
#include "api.h"
#include "json.h"
#include "log.h"
#include "static.h"

#define CHUNK	16384

struct pss {
	struct api_req	*req;
	int		 close_now;	/* the last write is out: close */
};

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static struct api_req *reqs;	/* every live request */

static void
req_free(struct api_req *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	free(r->path);
	free(r->segbuf);
	free(r->body);
	free(r->resp);
	jv_free(r->query);
	jv_free(r->json);
	jv_free(r->ctx);
	free(r);
	api.live--;
}

void
api_req_free_all(void)
{
	while (reqs != NULL)
		req_free(reqs);
}

void
api_req_release(struct api_req *r)
{
	if (r->wsi == NULL && r->pending == 0)
		req_free(r);
}

/* The connection no longer holds r (closed, or its response is out). */
static void
detach(struct pss *pss)
{
	struct api_req *r;

	if (pss == NULL || (r = pss->req) == NULL)
		return;
	pss->req = NULL;
	r->wsi = NULL;
	api_req_release(r);
}

void
api_reply(struct api_req *r, int status, jv body)
{
	if (r->responded) {
		jv_free(body);
		return;
	}
	r->responded = 1;
	r->status = status;
	r->resp = json_dump(body, &r->resp_len);
	if (r->resp == NULL) {		/* out of memory: still answer */
		r->status = 503;
		r->resp_len = 0;
	}
	if (status / 100 < 6)
		api.replied[status / 100]++;
	if (r->wsi != NULL)
		lws_callback_on_writable(r->wsi);
}

void
api_reply_bytes(struct api_req *r, int status, char *buf, size_t len)
{
	if (r->responded) {
		free(buf);
		return;
	}
	r->responded = 1;
	r->status = status;
	r->resp = buf;
	r->resp_len = len;
	if (status / 100 < 6)
		api.replied[status / 100]++;
	if (r->wsi != NULL)
		lws_callback_on_writable(r->wsi);
}

void
api_error(struct api_req *r, int status, const char *code, const char *fmt,
    ...)
{
	char msg[512];
	va_list ap;
	jv e;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e = jv_object_set(jv_object(), jv_string("code"), jv_string(code));
	e = jv_object_set(e, jv_string("message"), jv_string(msg));
	if (status >= 500)
		log_warnx("%s %s: %d %s: %s", r->method_name,
		    r->path != NULL ? r->path : "?", status, code, msg);
	api_reply(r, status, jv_object_set(jv_object(), jv_string("error"),
	    e));
}

void
api_ok_empty(struct api_req *r)
{
	api_reply(r, 200, jv_object());
}

/* Copies what the request line and headers say into r; -1 after an
 * answer (a malformed header). */
static int
read_request(struct lws *wsi, struct api_req *r, const char *uri)
{
	static const struct { int lws; enum api_method m; const char *name; }
	    methods[] = {
		{ LWSHUMETH_GET, API_GET, "GET" },
		{ LWSHUMETH_POST, API_POST, "POST" },
		{ LWSHUMETH_PUT, API_PUT, "PUT" },
		{ LWSHUMETH_PATCH, API_PATCH, "PATCH" },
		{ LWSHUMETH_DELETE, API_DELETE, "DELETE" },
		{ LWSHUMETH_HEAD, API_OTHER, "HEAD" },
		{ LWSHUMETH_OPTIONS, API_OTHER, "OPTIONS" },
	};
	char buf[4096], *u;
	size_t i;
	int m, n, ulen;

	m = lws_http_get_uri_and_method(wsi, &u, &ulen);
	r->method = API_OTHER;
	r->method_name = "OTHER";
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (methods[i].lws == m) {
			r->method = methods[i].m;
			r->method_name = methods[i].name;
		}
	if ((r->path = strdup(uri != NULL ? uri : "/")) == NULL)
		return -1;

	r->query = jv_object();
	for (n = 0; lws_hdr_copy_fragment(wsi, buf, sizeof(buf),
	    WSI_TOKEN_HTTP_URI_ARGS, n) >= 0; n++) {
		char *eq = strchr(buf, '=');

		if (eq != NULL)
			*eq++ = '\0';
		if (buf[0] == '\0' || jv_object_has(jv_copy(r->query),
		    jv_string(buf)))
			continue;
		r->query = jv_object_set(r->query, jv_string(buf),
		    jv_string(eq != NULL ? eq : ""));
	}

	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) > 0) {
		n = lws_hdr_copy(wsi, buf, sizeof(buf),
		    WSI_TOKEN_HTTP_AUTHORIZATION);
		if (n > 7 && strncasecmp(buf, "Bearer ", 7) == 0 &&
		    (size_t)n - 7 < sizeof(r->bearer))
			memcpy(r->bearer, buf + 7, (size_t)n - 7 + 1);
		else
			r->bearer_bad = 1;
	}

	r->declared = -1;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
		n = lws_hdr_copy(wsi, buf, sizeof(buf),
		    WSI_TOKEN_HTTP_CONTENT_LENGTH);
		if (n <= 0 || n > 18 || strspn(buf, "0123456789") !=
		    (size_t)n) {
			r->close_after = 1;
			api_error(r, 400, "bad_request",
			    "header 'Content-Length' is not a number");
			return -1;
		}
		r->declared = atoll(buf);
	}
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
		r->close_after = 1;
		api_error(r, 411, "length_required",
		    "a request body needs Content-Length (no chunked bodies)");
		return -1;
	}
	return 0;
}

/*
 * A client that sent "Expect: 100-continue" waits for this before sending
 * its body (curl for a second); lws 4.1 does not send it.  On h1, lws_write
 * of headers is a plain write, buffered by lws if the socket is full.
 */
static void
continue_100(struct lws *wsi)
{
	static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
	unsigned char buf[LWS_PRE + sizeof(line)];
	char v[32];

	if (lws_hdr_copy(wsi, v, sizeof(v), WSI_TOKEN_HTTP_EXPECT) <= 0 ||
	    strcasecmp(v, "100-continue") != 0)
		return;
	memcpy(buf + LWS_PRE, line, sizeof(line) - 1);
	if (lws_write(wsi, buf + LWS_PRE, sizeof(line) - 1,
	    LWS_WRITE_HTTP_HEADERS) != (int)sizeof(line) - 1)
		log_warnx("unable to send 100 Continue");
}

/* LWS_CALLBACK_HTTP: a new request. */
static int
on_request(struct lws *wsi, struct pss *pss, const char *uri, size_t urilen)
{
	struct api_req *r;

	detach(pss);
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -1;
	r->wsi = wsi;
	r->query = jv_null();
	r->json = jv_null();
	r->ctx = jv_null();
	r->started_us = now_us();
	if ((r->next = reqs) != NULL)
		reqs->prev = r;
	reqs = r;
	pss->req = r;
	api.live++;
	api.requests++;

	if (read_request(wsi, r, uri) == -1) {
		if (r->path == NULL)
			return -1;
		return 0;
	}
	if (api_static_serve(wsi, r, uri, urilen))
		return 0;		/* the web page's files: answered */
	if (api_route_match(r) == -1)
		return 0;		/* 404 or 405 answered */
	if (r->declared > (long long)api.max_body) {
		api_error(r, 413, "too_large",
		    "request body is larger than %zu bytes", api.max_body);
		return 0;
	}
	if (r->declared > 0 || (r->declared == 0 && r->method == API_POST)) {
		continue_100(wsi);
		return 0;		/* dispatched at BODY_COMPLETION */
	}
	if (r->declared < 0 && (r->method == API_POST ||
	    r->method == API_PUT || r->method == API_PATCH))
		r->close_after = 1;	/* lws would wait for a body */
	api_route_dispatch(r);
	return 0;
}

static int
on_body(struct api_req *r, const void *in, size_t len)
{
	char *nb;

	if (r == NULL || r->responded || len == 0)
		return 0;
	if (r->body_len + len > api.max_body) {
		api_error(r, 413, "too_large",
		    "request body is larger than %zu bytes", api.max_body);
		return 0;
	}
	if ((nb = realloc(r->body, r->body_len + len + 1)) == NULL)
		return -1;
	r->body = nb;
	memcpy(r->body + r->body_len, in, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
	return 0;
}

/* The response is out: log it, let go of r, and go on (keep-alive) or
 * close. */
static int
finish(struct lws *wsi, struct pss *pss, struct api_req *r)
{
	int close_after = r->close_after;

	log_debug("%s %s %d %zu bytes %.1f ms", r->method_name, r->path,
	    r->status, r->resp_len, (now_us() - r->started_us) / 1000.0);
	detach(pss);
	if (close_after) {
		if (lws_send_pipe_choked(wsi)) {
			pss->close_now = 1;
			lws_callback_on_writable(wsi);
			return 0;
		}
		return -1;
	}
	if (lws_http_transaction_completed(wsi))
		return -1;
	return 0;
}

static int
on_writable(struct lws *wsi, struct pss *pss)
{
	unsigned char buf[LWS_PRE + CHUNK], *start = buf + LWS_PRE, *p = start,
	    *end = buf + sizeof(buf) - 1;
	struct api_req *r = pss->req;
	size_t n;
	int last;

	if (pss->close_now)
		return -1;
	if (r == NULL || !r->responded)
		return 0;
	if (!r->headers_sent) {
		if (lws_add_http_common_headers(wsi, (unsigned)r->status,
		    r->ctype != NULL ? r->ctype : "application/json",
		    r->resp_len, &p, end))
			return -1;
		if (r->ctype != NULL) {
			if (api_static_headers(wsi, r, &p, end))
				return -1;
		} else if (lws_add_http_header_by_name(wsi,
		    (const unsigned char *)"cache-control:",
		    (const unsigned char *)"no-store", 8, &p, end))
			return -1;
		if (r->allow[0] != '\0' && lws_add_http_header_by_name(wsi,
		    (const unsigned char *)"allow:",
		    (const unsigned char *)r->allow, (int)strlen(r->allow), &p,
		    end))
			return -1;
		if (r->close_after && lws_add_http_header_by_token(wsi,
		    WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5,
		    &p, end))
			return -1;
		if (lws_finalize_http_header(wsi, &p, end))
			return -1;
		r->headers_sent = 1;
		if (strcmp(r->method_name, "HEAD") == 0)
			r->resp_off = r->resp_len;	/* headers only */
		/* On h1 (we serve no h2) a write is a plain write: the first
		 * body bytes go out with the headers, one segment, not two. */
		n = r->resp_len - r->resp_off;
		if (n > (size_t)(end - p))
			n = (size_t)(end - p);
		if (n > 0)	/* a 304 has no body: resp may be NULL */
			memcpy(p, r->resp + r->resp_off, n);
		p += n;
		r->resp_off += n;
		if (lws_write(wsi, start, (size_t)(p - start),
		    r->resp_off == r->resp_len ? LWS_WRITE_HTTP_FINAL :
		    LWS_WRITE_HTTP_HEADERS) != (int)(p - start))
			return -1;
	}
	while (r->resp_off < r->resp_len) {
		if (lws_send_pipe_choked(wsi)) {
			lws_callback_on_writable(wsi);
			return 0;
		}
		n = r->resp_len - r->resp_off;
		if (n > CHUNK)
			n = CHUNK;
		last = r->resp_off + n == r->resp_len;
		memcpy(start, r->resp + r->resp_off, n);
		if (lws_write(wsi, start, n, last ? LWS_WRITE_HTTP_FINAL :
		    LWS_WRITE_HTTP) != (int)n)
			return -1;
		r->resp_off += n;
	}
	return finish(wsi, pss, r);
}

static int
callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct pss *pss = user;

	if (limits_callback(wsi, reason, in) == -1)
		return -1;	/* max_conns_per_ip */
	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return on_request(wsi, pss, in, len);
	case LWS_CALLBACK_HTTP_BODY:
		if (pss != NULL && on_body(pss->req, in, len) == -1)
			return -1;
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (pss != NULL && pss->req != NULL && !pss->req->responded &&
		    pss->req->route != NULL && !pss->req->dispatched)
			api_route_dispatch(pss->req);
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return pss != NULL ? on_writable(wsi, pss) : 0;
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		detach(pss);
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
	{ "http", callback, sizeof(struct pss), 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

const struct lws_protocols *const api_protocols = protocols;
