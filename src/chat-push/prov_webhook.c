/*
 * prov_webhook: a POST of the notification as JSON to the endpoint URL the
 * device registered:
 *
 *   POST {endpoint}
 *   Content-Type: application/json
 *   Idempotency-Key: {msg_id}          (the newest message: same on retry)
 *   Authorization: Bearer {token}      (only if the registration has one)
 *
 *   {"user","device","from","conv","group"?,"msg_id","count","ts",
 *    "title","text","body"?}            (body only with push_preview)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "push.h"

static jv
set_str(jv o, const char *k, const char *v)
{
	return v != NULL ? jv_object_set(o, jv_string(k), jv_string(v)) : o;
}

static int
build(const struct push_note *n, struct http_req *r, char *err, size_t errlen)
{
	jv o = jv_object();

	o = set_str(o, "user", n->user);
	o = set_str(o, "device", n->device);
	o = set_str(o, "from", n->from);
	o = set_str(o, "conv", n->conv);
	o = set_str(o, "group", n->group);
	o = set_str(o, "msg_id", n->msg_id);
	o = jv_object_set(o, jv_string("count"), jv_number(n->count));
	o = jv_object_set(o, jv_string("ts"), jv_number((double)n->ts));
	o = set_str(o, "title", n->title);
	o = set_str(o, "text", n->text);
	o = set_str(o, "body", n->body);
	r->body = json_dump(o, &r->bodylen);
	r->url = strdup(n->endpoint);
	r->http2 = 1;
	if (r->body == NULL || r->url == NULL ||
	    http_header(r, "Content-Type: application/json") < 0 ||
	    http_header(r, "Idempotency-Key: %s", n->msg_id) < 0 ||
	    (n->token != NULL &&
	    http_header(r, "Authorization: Bearer %s", n->token) < 0)) {
		snprintf(err, errlen, "out of memory");
		return PROV_LATER;
	}
	return 0;
}

const struct push_provider prov_webhook = {
	"webhook", build, push_verdict_http,
};
