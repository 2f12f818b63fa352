/*
 * prov_unifiedpush: UnifiedPush's application-server side, which is
 * RFC 8030's push message request: the message is the raw body of a POST
 * to the endpoint URL the distributor gave the device.
 *
 *   POST {endpoint}
 *   Content-Type: application/octet-stream   (the bytes are our JSON)
 *   TTL: {seconds}                 (push_max_age: how long the server
 *                                   may hold it for an offline device)
 *   Urgency: high
 *   Topic: {msg_id}                (RFC 8030 replacement key: a retry of
 *                                   the same notification replaces itself)
 *
 *   {"title","text","from","conv","group"?,"msg_id","count","body"?}
 *
 * The spec says a 201 is success; any 2xx is taken as one.  A 404 or 410
 * means the distributor dropped the endpoint.  Messages are not encrypted
 * (RFC 8291): the content is what push_preview allows, no more.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
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
	long long ttl = conf_int("push_max_age");

	o = set_str(o, "title", n->title);
	o = set_str(o, "text", n->text);
	o = set_str(o, "from", n->from);
	o = set_str(o, "conv", n->conv);
	o = set_str(o, "group", n->group);
	o = set_str(o, "msg_id", n->msg_id);
	o = jv_object_set(o, jv_string("count"), jv_number(n->count));
	o = set_str(o, "body", n->body);
	r->body = json_dump(o, &r->bodylen);
	r->url = strdup(n->endpoint);
	r->http2 = 1;
	if (r->body == NULL || r->url == NULL ||
	    http_header(r, "Content-Type: application/octet-stream") < 0 ||
	    http_header(r, "TTL: %lld", ttl > 0 ? ttl : 86400) < 0 ||
	    http_header(r, "Urgency: high") < 0 ||
	    http_header(r, "Topic: %s", n->msg_id) < 0) {
		snprintf(err, errlen, "out of memory");
		return PROV_LATER;
	}
	return 0;
}

const struct push_provider prov_unifiedpush = {
	"unifiedpush", build, push_verdict_http,
};
