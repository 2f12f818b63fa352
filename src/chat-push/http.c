/*
 * http: libcurl's multi interface on the libev loop.  curl tells us which
 * sockets to watch (CURLMOPT_SOCKETFUNCTION, mapped to one ev_io each) and
 * when to wake it (CURLMOPT_TIMERFUNCTION, one ev_timer); we hand events
 * back with curl_multi_socket_action and collect finished transfers.  So a
 * slow or hanging provider never stalls the loop, connections are reused
 * from the multi handle's cache, and HTTP/2 streams are multiplexed.
 *
 * Concurrency is bounded by the scheduler, which never starts more than
 * push_concurrency requests; the multi handle caches as many idle
 * connections for reuse.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <ev.h>

#include "conf.h"
#include "push.h"

#define BODY_MAX	(64 * 1024)

struct xfer {
	CURL		*easy;
	struct http_req	*req;
	http_done_fn	*done;
	void		*arg;
	char		*body;
	size_t		 len;
	long long	 retry_after_ms;
	char		 errbuf[CURL_ERROR_SIZE];
};

struct sock {
	ev_io		 io;
	curl_socket_t	 fd;
};

static struct ev_loop	*loop;
static CURLM		*multi;
static ev_timer		 timer;
static long		 timeout_ms, connect_ms;
static int		 inflight;

int http_inflight(void) { return inflight; }

struct http_req *
http_req_new(void)
{
	return calloc(1, sizeof(struct http_req));
}

int
http_header(struct http_req *r, const char *fmt, ...)
{
	struct curl_slist *l;
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	l = curl_slist_append(r->headers, s);
	free(s);
	if (l == NULL)
		return -1;
	r->headers = l;
	return 0;
}

void
http_req_free(struct http_req *r)
{
	if (r == NULL)
		return;
	free(r->url);
	free(r->body);
	curl_slist_free_all(r->headers);
	free(r);
}

/* Retry-After: delta-seconds or an HTTP-date. */
static long long
parse_retry_after(const char *v)
{
	struct tm tm;
	char *end;
	long long s;

	while (*v == ' ' || *v == '\t')
		v++;
	if (isdigit((unsigned char)*v)) {
		s = strtoll(v, &end, 10);
		return s < 0 ? 0 : s * 1000;
	}
	memset(&tm, 0, sizeof(tm));
	if (strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm) != NULL) {
		long long at = (long long)timegm(&tm) * 1000;
		long long now = (long long)time(NULL) * 1000;
		return at > now ? at - now : 0;
	}
	return -1;
}

static size_t
on_header(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	char line[256];

	if (len > 12 && len < sizeof(line) &&
	    strncasecmp(buf, "Retry-After:", 12) == 0) {
		memcpy(line, buf + 12, len - 12);
		line[len - 12] = '\0';
		line[strcspn(line, "\r\n")] = '\0';
		x->retry_after_ms = parse_retry_after(line);
	}
	return len;
}

static size_t
on_body(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n, take = len;

	if (x->len + take > BODY_MAX)
		take = BODY_MAX - x->len;
	if (take > 0) {
		char *nb = realloc(x->body, x->len + take + 1);
		if (nb == NULL)
			return 0;
		x->body = nb;
		memcpy(x->body + x->len, buf, take);
		x->len += take;
		x->body[x->len] = '\0';
	}
	return len;
}

static void
finish(CURL *easy, CURLcode cc)
{
	struct xfer *x;
	struct http_res res;
	curl_off_t sent = 0;
	long status = 0;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &res.secs);
	curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &sent);
	res.url = x->req->url;
	res.status = cc == CURLE_OK ? status : 0;
	res.curl_code = cc;
	res.error = cc == CURLE_OK ? NULL :
	    x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc);
	res.body = x->body != NULL ? x->body : "";
	res.len = x->len;
	res.retry_after_ms = x->retry_after_ms;
	/* A transport error after the request was written: the provider may
	 * have it, so a retry must carry the same collapse key. */
	res.ambiguous = cc != CURLE_OK && sent > 0;
	curl_multi_remove_handle(multi, easy);
	curl_easy_cleanup(easy);
	inflight--;
	x->done(x->arg, &res);
	http_req_free(x->req);
	free(x->body);
	free(x);
}

static void
check_done(void)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(multi, &left)) != NULL)
		if (m->msg == CURLMSG_DONE)
			finish(m->easy_handle, m->data.result);
}

static void
on_io(struct ev_loop *l, ev_io *w, int revents)
{
	struct sock *s = w->data;
	int running, what = 0;

	(void)l;
	if (revents & EV_READ)
		what |= CURL_CSELECT_IN;
	if (revents & EV_WRITE)
		what |= CURL_CSELECT_OUT;
	curl_multi_socket_action(multi, s->fd, what, &running);
	check_done();
}

static void
on_timer(struct ev_loop *l, ev_timer *w, int revents)
{
	int running;

	(void)l; (void)w; (void)revents;
	curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done();
}

static int
sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *sockp)
{
	struct sock *s = sockp;
	int ev = 0;

	(void)easy; (void)userp;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			ev_io_stop(loop, &s->io);
			free(s);
			curl_multi_assign(multi, fd, NULL);
		}
		return 0;
	}
	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL)
			return -1;
		s->fd = fd;
		s->io.data = s;
		curl_multi_assign(multi, fd, s);
	} else
		ev_io_stop(loop, &s->io);
	if (what & CURL_POLL_IN)
		ev |= EV_READ;
	if (what & CURL_POLL_OUT)
		ev |= EV_WRITE;
	ev_io_init(&s->io, on_io, fd, ev);
	ev_io_start(loop, &s->io);
	return 0;
}

static int
timer_cb(CURLM *m, long ms, void *userp)
{
	(void)m; (void)userp;
	ev_timer_stop(loop, &timer);
	if (ms >= 0) {
		/* 0 means "now": run it from the loop, not from inside curl */
		ev_timer_set(&timer, ms / 1000.0, 0.);
		ev_timer_start(loop, &timer);
	}
	return 0;
}

int
http_init(struct ev_loop *l, char *err, size_t errlen)
{
	long long conc = conf_int("push_concurrency");

	timeout_ms = conf_int("push_timeout_ms");
	connect_ms = conf_int("push_connect_timeout_ms");
	if (timeout_ms <= 0 || connect_ms <= 0 || conc <= 0) {
		snprintf(err, errlen, "push_timeout_ms, push_connect_timeout_ms"
		    " and push_concurrency must be positive numbers");
		return -1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (multi = curl_multi_init()) == NULL) {
		snprintf(err, errlen, "unable to start libcurl");
		return -1;
	}
	loop = l;
	ev_timer_init(&timer, on_timer, 0., 0.);
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
	/* the scheduler bounds the transfers; a limit here would only queue
	 * them inside curl, their timeouts running */
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)conc);
	return 0;
}

void
http_shutdown(void)
{
	if (multi == NULL)
		return;
	ev_timer_stop(loop, &timer);
	curl_multi_cleanup(multi);
	multi = NULL;
	curl_global_cleanup();
}

int
http_start(struct http_req *r, http_done_fn *done, void *arg)
{
	struct xfer *x;
	CURL *e;

	x = calloc(1, sizeof(*x));
	e = curl_easy_init();
	if (x == NULL || e == NULL) {
		free(x);
		if (e)
			curl_easy_cleanup(e);
		http_req_free(r);
		return -1;
	}
	x->easy = e;
	x->req = r;
	x->done = done;
	x->arg = arg;
	x->retry_after_ms = -1;
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	/* Endpoints come from users' registrations: plain web only, no
	 * redirects to somewhere else. */
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, r->http2 ?
	    (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_1_1);
	/* wait for a connection being made to multiplex over it: HTTP/2
	 * only, on HTTP/1.1 it would serialise the requests */
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, r->http2 &&
	    strncmp(r->url, "https:", 6) == 0 ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "chat-push/1");
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body != NULL ? r->body : "");
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)(r->body != NULL ? r->bodylen : 0));
	/* no "Expect: 100-continue" round trip */
	http_header(r, "Expect:");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	if (curl_multi_add_handle(multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		http_req_free(r);
		free(x);
		return -1;
	}
	inflight++;
	return 0;
}
