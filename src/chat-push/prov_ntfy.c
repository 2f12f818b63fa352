/*
 * prov_ntfy: a publish to an ntfy topic.  The endpoint is the topic's URL,
 * or a bare topic name published on push_ntfy_base.
 *
 *   POST {endpoint}  or  POST {push_ntfy_base}/{topic}
 *   Title: {title}
 *   Priority: high
 *   Tags: speech_balloon
 *   X-Message-Id: {msg_id}
 *   Authorization: Bearer {token}      (only if the registration has one)
 *
 *   {text}                              (plain text: the message body)
 *
 * Header values are reduced to printable ASCII (a user's group name could
 * otherwise inject a header); the body carries UTF-8 as is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "push.h"

/* printable ASCII only; anything else becomes '?' */
static void
header_safe(char *out, size_t max, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < max; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[i] = '\0';
}

static int
build(const struct push_note *n, struct http_req *r, char *err, size_t errlen)
{
	char title[PUSH_TITLE_MAX];
	const char *base = conf_get("push_ntfy_base");
	int n1;

	if (strncmp(n->endpoint, "http://", 7) == 0 ||
	    strncmp(n->endpoint, "https://", 8) == 0)
		r->url = strdup(n->endpoint);
	else if (strspn(n->endpoint, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(n->endpoint)) {
		snprintf(err, errlen, "bad ntfy topic '%s'", n->endpoint);
		return -1;
	} else {
		n1 = asprintf(&r->url, "%s/%s", base, n->endpoint);
		if (n1 < 0)
			r->url = NULL;
	}
	header_safe(title, sizeof(title), n->title);
	r->body = strdup(n->text);
	r->bodylen = strlen(n->text);
	r->http2 = 1;
	if (r->body == NULL || r->url == NULL ||
	    http_header(r, "Title: %s", title) < 0 ||
	    http_header(r, "Priority: high") < 0 ||
	    http_header(r, "Tags: speech_balloon") < 0 ||
	    http_header(r, "X-Message-Id: %s", n->msg_id) < 0 ||
	    http_header(r, "Content-Type: text/plain; charset=utf-8") < 0 ||
	    (n->token != NULL &&
	    http_header(r, "Authorization: Bearer %s", n->token) < 0)) {
		snprintf(err, errlen, "out of memory");
		return PROV_LATER;
	}
	return 0;
}

const struct push_provider prov_ntfy = {
	"ntfy", build, push_verdict_http,
};
