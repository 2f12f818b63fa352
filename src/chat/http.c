/*
 * http: one JSON request to chat-api with libcurl's easy interface.  A CLI
 * makes one or two requests a run, so blocking is right here; ws.c calls
 * it only for discovery, before a connection attempt.
 *
 * Errors are reported the way every subcommand wants them: the server's
 * {"error":{"code","message"}} as "chat: code: message", and the exit status
 * that says whether trying again can help (1 refused, 111 unreachable or a
 * 5xx).
 */
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "chat.h"
#include "json.h"
#include "log.h"

#define HTTP_CONNECT_MS	5000
#define HTTP_TOTAL_MS	30000
#define HTTP_MAX_REPLY	(16 * 1024 * 1024)

struct buf {
	char	*p;
	size_t	 len;
};

static size_t
on_data(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t add = size * n;
	char *p;

	if (b->len + add > HTTP_MAX_REPLY ||
	    (p = realloc(b->p, b->len + add + 1)) == NULL)
		return 0;	/* curl fails the transfer */
	memcpy(p + b->len, data, add);
	b->p = p;
	b->len += add;
	b->p[b->len] = '\0';
	return add;
}

static void
curl_once(void)
{
	static int done;

	if (!done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		atexit(curl_global_cleanup);
		done = 1;
	}
}

/* Prints the server's error from a non-2xx reply. */
static void
print_error(long status, const struct buf *b)
{
	const char *code = NULL, *msg = NULL;
	char perr[128];
	jv o, e;

	o = json_parse_object(b->p ? b->p : "", b->len, perr, sizeof(perr));
	if (jv_is_valid(o)) {
		e = jv_object_get(jv_copy(o), jv_string("error"));
		if (jv_get_kind(e) == JV_KIND_OBJECT) {
			code = json_str(e, "code", NULL);
			msg = json_str(e, "message", NULL);
		}
		if (code != NULL)
			chat_err("%s: %s", code, msg ? msg : "");
		jv_free(e);
	}
	if (code == NULL)
		chat_err("http status %ld from the server", status);
	jv_free(o);
}

int
http_call(const char *server, const char *token, const char *method,
    const char *path, jv body, jv *reply, int flags)
{
	char url[2048], auth[600], cerr[CURL_ERROR_SIZE], perr[128];
	struct curl_slist *hdr = NULL;
	struct buf b = { NULL, 0 };
	char *payload = NULL;
	long status = 0;
	CURLcode rc;
	CURL *c;
	int ret;

	*reply = jv_invalid();
	if (jv_is_valid(body))
		payload = json_dump(body, NULL);
	else
		jv_free(body);
	curl_once();
	if ((c = curl_easy_init()) == NULL) {
		free(payload);
		if (!(flags & HTTP_QUIET))
			chat_err("unable to start libcurl");
		return EXIT_TEMP;
	}
	snprintf(url, sizeof(url), "%s%s", server, path);
	cerr[0] = '\0';
	hdr = curl_slist_append(hdr, "Accept: application/json");
	if (payload != NULL)
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
	if (token != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		hdr = curl_slist_append(hdr, auth);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	if (payload == NULL && strcmp(method, "GET") == 0)
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	else {
		/* A body, even empty, so PUT and DELETE send Content-Length. */
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload ? payload : "");
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)HTTP_CONNECT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)HTTP_TOTAL_MS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "chat/1");
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");

	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdr);
	free(payload);

	if (rc != CURLE_OK) {
		if (!(flags & HTTP_QUIET))
			chat_err("unable to reach '%s': %s", server,
			    cerr[0] ? cerr : curl_easy_strerror(rc));
		ret = EXIT_TEMP;
	} else if (status >= 200 && status < 300) {
		if (b.len == 0) {
			*reply = jv_object();
			ret = 0;
		} else {
			*reply = json_parse_object(b.p, b.len, perr,
			    sizeof(perr));
			ret = 0;
			if (!jv_is_valid(*reply)) {
				if (!(flags & HTTP_QUIET))
					chat_err("bad reply from '%s': %s",
					    url, perr);
				ret = EXIT_TEMP;
			}
		}
	} else {
		if (!(flags & HTTP_QUIET))
			print_error(status, &b);
		ret = status >= 500 ? EXIT_TEMP : CHAT_EXIT_REFUSED;
	}
	free(b.p);
	return ret;
}

int
http_session(const struct chat_session *s, const char *method,
    const char *path, jv body, jv *reply)
{
	return http_call(s->server, s->token, method, path, body, reply, 0);
}
