/*
 * prov_fcm: Firebase Cloud Messaging, HTTP v1 API.
 *
 * Credentials: the service-account JSON named by push_fcm_credentials
 * (client_email, private_key, private_key_id, token_uri, project_id).  An
 * OAuth2 access token is obtained by the JWT bearer grant (RFC 7523): a JWT
 * signed RS256, {"iss":client_email, "scope":".../firebase.messaging",
 * "aud":token_uri, "iat", "exp":iat+3600}, POSTed form-encoded to the token
 * URI (push_fcm_token_uri overrides the file's).  The token is cached
 * until a minute before it expires; one exchange at a time, batches wait
 * for it (PROV_WAIT) and are woken when it lands.  After a failed exchange
 * none is tried for push_backoff_ms: the batches back off meanwhile.
 *
 *   POST {push_fcm_base}/v1/projects/{project_id}/messages:send
 *   Authorization: Bearer {access_token}
 *   Content-Type: application/json
 *
 *   {"message":{"token":{device token},
 *     "notification":{"title","body"},
 *     "data":{"conv","from","msg_id","count"},
 *     "android":{"collapse_key":{msg_id},"priority":"high"},
 *     "apns":{"headers":{"apns-collapse-id":{msg_id}}}}}
 *
 * 404 (UNREGISTERED) or 410: the token is dead.  401: the access token is
 * refused: forget it, retry.  400 with UNREGISTERED also counts as dead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "conf.h"
#include "id.h"
#include "json.h"
#include "log.h"
#include "push.h"

#define SCOPE	"https://www.googleapis.com/auth/firebase.messaging"

static EVP_PKEY	*key;
static char	*email, *key_id, *token_uri, *project;
static char	*access;		/* the cached access token */
static uint64_t	 access_until;		/* ms */
static int	 fetching;
static uint64_t	 fail_until;		/* no new exchange before this */

static char *
dup_field(jv o, const char *k)
{
	const char *s = json_str(o, k, NULL);

	return s != NULL ? strdup(s) : NULL;
}

int
prov_fcm_init(char *err, size_t errlen)
{
	const char *path = conf_get("push_fcm_credentials");
	const char *uri = conf_get("push_fcm_token_uri");
	char perr[256], *buf = NULL;
	size_t len = 0;
	FILE *f;
	jv o;

	if (path == NULL || path[0] == '\0')
		return 0;
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "unable to open '%s': %m", path);
		return -1;
	}
	buf = malloc(1 << 16);
	len = buf != NULL ? fread(buf, 1, (1 << 16) - 1, f) : 0;
	fclose(f);
	o = json_parse_object(buf != NULL ? buf : "", len, perr, sizeof(perr));
	free(buf);
	if (!jv_is_valid(o)) {
		snprintf(err, errlen, "'%s': %s", path, perr);
		return -1;
	}
	email = dup_field(o, "client_email");
	key_id = dup_field(o, "private_key_id");
	project = dup_field(o, "project_id");
	token_uri = uri != NULL && uri[0] ? strdup(uri) :
	    dup_field(o, "token_uri");
	if (email == NULL || project == NULL || token_uri == NULL ||
	    json_str(o, "private_key", NULL) == NULL) {
		snprintf(err, errlen, "'%s' lacks client_email, private_key, "
		    "project_id or token_uri", path);
		jv_free(o);
		return -1;
	}
	key = jwt_key_pem(json_str(o, "private_key", NULL), perr,
	    sizeof(perr));
	jv_free(o);
	if (key == NULL || EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
		snprintf(err, errlen, "'%s': %s", path, key == NULL ? perr :
		    "private_key is not an RSA key");
		return -1;
	}
	return 0;
}

static void
on_token(void *arg, const struct http_res *res)
{
	char perr[256];
	const char *tok;
	int64_t ttl = 3600;
	jv o;

	(void)arg;
	fetching = 0;
	o = res->status == 200 ? json_parse_object(res->body, res->len, perr,
	    sizeof(perr)) : jv_invalid();
	tok = jv_is_valid(o) ? json_str(o, "access_token", NULL) : NULL;
	if (tok == NULL) {
		log_warnx("fcm: token exchange at '%s' failed: %s", token_uri,
		    res->curl_code ? res->error : res->status != 200 ?
		    "no 200" : "no access_token");
		fail_until = now_ms() + (uint64_t)conf_int("push_backoff_ms");
	} else {
		json_int(o, "expires_in", &ttl);
		free(access);
		access = strdup(tok);
		if (ttl < 120)
			ttl = 120;
		access_until = now_ms() + (uint64_t)(ttl - 60) * 1000;
		log_info("fcm: access token for %s, %lld s", email,
		    (long long)ttl);
	}
	jv_free(o);
	push_sched_wake();
}

static int
exchange(char *err, size_t errlen)
{
	struct http_req *r;
	jv h, c;
	char *jwt, *enc;
	int64_t now = (int64_t)(now_ms() / 1000);

	h = jv_object_set(jv_object(), jv_string("alg"), jv_string("RS256"));
	h = jv_object_set(h, jv_string("typ"), jv_string("JWT"));
	if (key_id != NULL)
		h = jv_object_set(h, jv_string("kid"), jv_string(key_id));
	c = jv_object_set(jv_object(), jv_string("iss"), jv_string(email));
	c = jv_object_set(c, jv_string("scope"), jv_string(SCOPE));
	c = jv_object_set(c, jv_string("aud"), jv_string(token_uri));
	c = jv_object_set(c, jv_string("iat"), jv_number((double)now));
	c = jv_object_set(c, jv_string("exp"), jv_number((double)now + 3600));
	jwt = jwt_sign(h, c, key, err, errlen);
	jv_free(h);
	jv_free(c);
	if (jwt == NULL)
		return -1;
	r = http_req_new();
	enc = curl_easy_escape(NULL, "urn:ietf:params:oauth:grant-type:"
	    "jwt-bearer", 0);
	if (r != NULL && enc != NULL && asprintf(&r->body,
	    "grant_type=%s&assertion=%s", enc, jwt) < 0)
		r->body = NULL;
	if (r == NULL || enc == NULL || r->body == NULL ||
	    (r->url = strdup(token_uri)) == NULL ||
	    http_header(r, "Content-Type: application/x-www-form-urlencoded")
	    < 0) {
		snprintf(err, errlen, "out of memory");
		curl_free(enc);
		free(jwt);
		http_req_free(r);
		return -1;
	}
	curl_free(enc);
	free(jwt);
	r->bodylen = strlen(r->body);
	r->http2 = 1;
	if (http_start(r, on_token, NULL) < 0) {
		snprintf(err, errlen, "unable to start the token request");
		return -1;
	}
	fetching = 1;
	return 0;
}

static int
build(const struct push_note *n, struct http_req *r, char *err, size_t errlen)
{
	jv m, d;
	char count[16];

	if (key == NULL) {
		snprintf(err, errlen, "fcm is not configured "
		    "(push_fcm_credentials)");
		return -1;
	}
	if (access == NULL || now_ms() >= access_until) {
		if (fetching)
			return PROV_WAIT;
		if (now_ms() < fail_until) {
			snprintf(err, errlen, "no FCM access token");
			return PROV_LATER;
		}
		return exchange(err, errlen) < 0 ? PROV_LATER : PROV_WAIT;
	}
	snprintf(count, sizeof(count), "%d", n->count);
	d = jv_object_set(jv_object(), jv_string("conv"), jv_string(n->conv));
	d = jv_object_set(d, jv_string("from"), jv_string(n->from));
	d = jv_object_set(d, jv_string("msg_id"), jv_string(n->msg_id));
	d = jv_object_set(d, jv_string("count"), jv_string(count));
	m = jv_object_set(jv_object(), jv_string("token"),
	    jv_string(n->token));
	m = jv_object_set(m, jv_string("notification"),
	    jv_object_set(jv_object_set(jv_object(), jv_string("title"),
	    jv_string(n->title)), jv_string("body"), jv_string(n->text)));
	m = jv_object_set(m, jv_string("data"), d);
	m = jv_object_set(m, jv_string("android"),
	    jv_object_set(jv_object_set(jv_object(), jv_string("collapse_key"),
	    jv_string(n->msg_id)), jv_string("priority"), jv_string("high")));
	m = jv_object_set(m, jv_string("apns"),
	    jv_object_set(jv_object(), jv_string("headers"),
	    jv_object_set(jv_object(), jv_string("apns-collapse-id"),
	    jv_string(n->msg_id))));
	r->body = json_dump(jv_object_set(jv_object(), jv_string("message"), m),
	    &r->bodylen);
	r->http2 = 1;
	if (asprintf(&r->url, "%s/v1/projects/%s/messages:send",
	    conf_get("push_fcm_base"), project) < 0)
		r->url = NULL;
	if (r->body == NULL || r->url == NULL ||
	    http_header(r, "Authorization: Bearer %s", access) < 0 ||
	    http_header(r, "Content-Type: application/json") < 0) {
		snprintf(err, errlen, "out of memory");
		return PROV_LATER;
	}
	return 0;
}

static enum push_verdict
verdict(const struct http_res *res, char *why, size_t whylen)
{
	enum push_verdict v = push_verdict_http(res, why, whylen);

	if (res->status == 401) {
		free(access);
		access = NULL;
		snprintf(why, whylen, "HTTP 401: access token refused");
		return PV_RETRY;
	}
	if (strstr(res->body, "UNREGISTERED") != NULL &&
	    (res->status == 400 || res->status == 404)) {
		snprintf(why, whylen, "HTTP %ld UNREGISTERED", res->status);
		return PV_GONE;
	}
	return v;
}

const struct push_provider prov_fcm = {
	"fcm", build, verdict,
};
