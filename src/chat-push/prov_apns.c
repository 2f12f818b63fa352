/*
 * prov_apns: Apple Push Notification service, HTTP/2 with token auth.
 *
 * The provider token is a JWT signed ES256 with the .p8 key named by
 * push_apns_key: header {"alg":"ES256","kid":push_apns_key_id}, claims
 * {"iss":push_apns_team_id,"iat"}.  Apple accepts one for an hour and
 * refuses new ones more often than every 20 minutes, so it is made once
 * and renewed after 50 minutes (or at once when APNs calls it expired).
 *
 *   POST {push_apns_base}/3/device/{device token}
 *   authorization: bearer {jwt}
 *   apns-topic: {endpoint if it is a bundle id, else push_apns_topic}
 *   apns-push-type: alert
 *   apns-priority: 10
 *   apns-expiration: {now + push_max_age}
 *   apns-collapse-id: {msg_id}
 *
 *   {"aps":{"alert":{"title","body"},"sound":"default","thread-id":conv},
 *    "conv","from","msg_id","count"}
 *
 * 410 (Unregistered) and 400 BadDeviceToken: the token is dead.  403
 * ExpiredProviderToken or InvalidProviderToken: a new JWT, then retry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "conf.h"
#include "id.h"
#include "json.h"
#include "log.h"
#include "push.h"

#define JWT_LIFE_MS	(50 * 60 * 1000)

static EVP_PKEY	*key;
static char	*jwt;
static uint64_t	 jwt_until;

int
prov_apns_init(char *err, size_t errlen)
{
	const char *path = conf_get("push_apns_key");
	char perr[256];

	if (path == NULL || path[0] == '\0')
		return 0;
	if (conf_get("push_apns_key_id")[0] == '\0' ||
	    conf_get("push_apns_team_id")[0] == '\0') {
		snprintf(err, errlen, "push_apns_key needs push_apns_key_id "
		    "and push_apns_team_id");
		return -1;
	}
	key = jwt_key_file(path, perr, sizeof(perr));
	if (key == NULL || EVP_PKEY_base_id(key) != EVP_PKEY_EC) {
		snprintf(err, errlen, "%s", key == NULL ? perr :
		    "push_apns_key is not an EC (P-256) key");
		return -1;
	}
	return 0;
}

static const char *
provider_token(char *err, size_t errlen)
{
	jv h, c;

	if (jwt != NULL && now_ms() < jwt_until)
		return jwt;
	h = jv_object_set(jv_object(), jv_string("alg"), jv_string("ES256"));
	h = jv_object_set(h, jv_string("kid"),
	    jv_string(conf_get("push_apns_key_id")));
	c = jv_object_set(jv_object(), jv_string("iss"),
	    jv_string(conf_get("push_apns_team_id")));
	c = jv_object_set(c, jv_string("iat"),
	    jv_number((double)(now_ms() / 1000)));
	free(jwt);
	jwt = jwt_sign(h, c, key, err, errlen);
	jv_free(h);
	jv_free(c);
	if (jwt != NULL)
		jwt_until = now_ms() + JWT_LIFE_MS;
	return jwt;
}

static int
build(const struct push_note *n, struct http_req *r, char *err, size_t errlen)
{
	const char *topic, *bearer;
	jv aps, o;
	long long age = conf_int("push_max_age");

	if (key == NULL) {
		snprintf(err, errlen, "apns is not configured (push_apns_key)");
		return -1;
	}
	if (strspn(n->token, "0123456789abcdefABCDEF") != strlen(n->token) ||
	    strlen(n->token) > 200) {
		snprintf(err, errlen, "bad APNs device token");
		return -1;
	}
	topic = n->endpoint != NULL && n->endpoint[0] != '\0' &&
	    strchr(n->endpoint, '/') == NULL &&
	    strspn(n->endpoint, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS"
	    "TUVWXYZ0123456789.-_") == strlen(n->endpoint) ? n->endpoint :
	    conf_get("push_apns_topic");
	if (topic[0] == '\0') {
		snprintf(err, errlen, "no APNs topic (push_apns_topic)");
		return -1;
	}
	if ((bearer = provider_token(err, errlen)) == NULL)
		return PROV_LATER;
	aps = jv_object_set(jv_object(), jv_string("alert"),
	    jv_object_set(jv_object_set(jv_object(), jv_string("title"),
	    jv_string(n->title)), jv_string("body"), jv_string(n->text)));
	aps = jv_object_set(aps, jv_string("sound"), jv_string("default"));
	aps = jv_object_set(aps, jv_string("thread-id"), jv_string(n->conv));
	o = jv_object_set(jv_object(), jv_string("aps"), aps);
	o = jv_object_set(o, jv_string("conv"), jv_string(n->conv));
	o = jv_object_set(o, jv_string("from"), jv_string(n->from));
	o = jv_object_set(o, jv_string("msg_id"), jv_string(n->msg_id));
	o = jv_object_set(o, jv_string("count"), jv_number(n->count));
	r->body = json_dump(o, &r->bodylen);
	r->http2 = 1;
	if (asprintf(&r->url, "%s/3/device/%s", conf_get("push_apns_base"),
	    n->token) < 0)
		r->url = NULL;
	if (r->body == NULL || r->url == NULL ||
	    http_header(r, "authorization: bearer %s", bearer) < 0 ||
	    http_header(r, "apns-topic: %s", topic) < 0 ||
	    http_header(r, "apns-push-type: alert") < 0 ||
	    http_header(r, "apns-priority: 10") < 0 ||
	    http_header(r, "apns-expiration: %llu", (unsigned long long)
	    (now_ms() / 1000 + (uint64_t)(age > 0 ? age : 86400))) < 0 ||
	    http_header(r, "apns-collapse-id: %s", n->msg_id) < 0 ||
	    http_header(r, "content-type: application/json") < 0) {
		snprintf(err, errlen, "out of memory");
		return PROV_LATER;
	}
	return 0;
}

static enum push_verdict
verdict(const struct http_res *res, char *why, size_t whylen)
{
	enum push_verdict v = push_verdict_http(res, why, whylen);
	char perr[64];
	const char *reason = NULL;
	jv o = res->len > 0 ? json_parse_object(res->body, res->len, perr,
	    sizeof(perr)) : jv_invalid();

	if (jv_is_valid(o))
		reason = json_str(o, "reason", NULL);
	if (reason != NULL)
		snprintf(why, whylen, "HTTP %ld %s", res->status, reason);
	if (res->status == 400 && reason != NULL &&
	    strcmp(reason, "BadDeviceToken") == 0)
		v = PV_GONE;
	else if (res->status == 403 && reason != NULL &&
	    (strcmp(reason, "ExpiredProviderToken") == 0 ||
	    strcmp(reason, "InvalidProviderToken") == 0)) {
		free(jwt);
		jwt = NULL;
		v = PV_RETRY;
	}
	jv_free(o);
	return v;
}

const struct push_provider prov_apns = {
	"apns", build, verdict,
};
