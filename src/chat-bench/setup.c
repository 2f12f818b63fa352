/*
 * setup: users, devices and groups through chat-api, as any client makes
 * them: POST /v1/signup (an existing user is fine), POST /v1/login (naming
 * the device kept from an earlier run, so devices do not pile up), then
 * POST /v1/groups by each group's first member.  This runs before timing,
 * with libcurl's multi interface keeping SETUP_PARALLEL requests in
 * flight: the server hashes each password (yescrypt, 0.1 to 0.2 s of
 * CPU), so more in flight only time out in chat-api (a 503, tried again),
 * and this is slow for thousands of users; --state keeps the tokens for
 * the next run and --mint skips chat-api altogether.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "bench.h"
#include "json.h"
#include "log.h"

#define SETUP_PARALLEL	2	/* the store hashes about two at a time */
#define SETUP_RETRIES	10	/* answers 503 (the store is busy hashing) */
#define SETUP_TIMEOUT_MS 120000L

struct req {
	CURL		*h;
	struct curl_slist *hdr;
	char		*body;
	char		*out;
	size_t		 outlen;
	int		 dev;		/* device or group index */
	int		 kind;		/* K_* */
	int		 tries;
};

enum { K_SIGNUP, K_LOGIN, K_GROUP };

static char chat_url[512];

static size_t
on_data(char *data, size_t size, size_t n, void *arg)
{
	struct req *r = arg;
	size_t add = size * n;
	char *p;

	if ((p = realloc(r->out, r->outlen + add + 1)) == NULL)
		return 0;
	memcpy(p + r->outlen, data, add);
	r->out = p;
	r->outlen += add;
	p[r->outlen] = '\0';
	return add;
}

static struct req *
req_new(int kind, int dev, const char *path, char *body, const char *token)
{
	struct req *r = calloc(1, sizeof(*r));
	char url[600], auth[300];

	if (r == NULL || (r->h = curl_easy_init()) == NULL)
		return NULL;
	r->kind = kind;
	r->dev = dev;
	r->body = body;
	snprintf(url, sizeof(url), "%s%s", B.o.api, path);
	r->hdr = curl_slist_append(NULL, "Content-Type: application/json");
	if (token != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		r->hdr = curl_slist_append(r->hdr, auth);
	}
	curl_easy_setopt(r->h, CURLOPT_URL, url);
	curl_easy_setopt(r->h, CURLOPT_HTTPHEADER, r->hdr);
	curl_easy_setopt(r->h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(r->h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->h, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->h, CURLOPT_TIMEOUT_MS, SETUP_TIMEOUT_MS);
	curl_easy_setopt(r->h, CURLOPT_NOSIGNAL, 1L);
	return r;
}

static void
req_free(struct req *r)
{
	curl_easy_cleanup(r->h);
	curl_slist_free_all(r->hdr);
	free(r->body);
	free(r->out);
	free(r);
}

static char *
jdump(jv v)
{
	return json_dump(v, NULL);
}

static struct req *
signup(int i)
{
	return req_new(K_SIGNUP, i, "/v1/signup", jdump(JV_OBJECT(
	    jv_string("user"), jv_string(B.devs[i].user),
	    jv_string("password"), jv_string(B.o.password))), NULL);
}

static struct req *
login(int i)
{
	jv o = JV_OBJECT(jv_string("user"), jv_string(B.devs[i].user),
	    jv_string("password"), jv_string(B.o.password));

	if (B.devs[i].device[0] != '\0')
		o = jv_object_set(o, jv_string("device"),
		    jv_string(B.devs[i].device));
	return req_new(K_LOGIN, i, "/v1/login", jdump(o), NULL);
}

static struct req *
group_create(int g)
{
	struct group *gr = &B.groups[g];
	jv m = jv_array();
	int i;

	for (i = gr->first + 1; i < gr->first + gr->size; i++)
		m = jv_array_append(m, jv_string(B.devs[i].user));
	return req_new(K_GROUP, g, "/v1/groups", jdump(JV_OBJECT(
	    jv_string("name"), jv_string("bench"), jv_string("members"), m)),
	    B.devs[gr->first].token);
}

/* Handles one finished request; returns the follow-up or NULL; *bad set
 * on a failure that ends setup. */
static struct req *
done(struct req *r, long status, int *bad)
{
	jv v = jv_invalid();
	const char *s;
	char err[128];
	struct dev *d = r->kind == K_GROUP ? NULL : &B.devs[r->dev];

	if (status == 503 && r->tries < SETUP_RETRIES) {
		struct req *again = r->kind == K_SIGNUP ? signup(r->dev) :
		    r->kind == K_LOGIN ? login(r->dev) : group_create(r->dev);
		if (again != NULL)
			again->tries = r->tries + 1;
		return again;
	}
	if (r->out != NULL)
		v = json_parse_object(r->out, r->outlen, err, sizeof(err));
	switch (r->kind) {
	case K_SIGNUP:
		if (status != 201 && status != 409)
			goto fail;
		jv_free(v);
		return login(r->dev);
	case K_LOGIN:
		if (status != 200 || (s = json_str(v, "token", NULL)) == NULL)
			goto fail;
		free(d->token);
		d->token = strdup(s);
		snprintf(d->device, sizeof(d->device), "%s",
		    json_str(v, "device", NULL) ? json_str(v, "device",
		    NULL) : "");
		if ((s = json_str(v, "chat_url", NULL)) != NULL)
			snprintf(chat_url, sizeof(chat_url), "%s", s);
		d->last_id = 0;
		break;
	case K_GROUP:
		if (status != 201 || (s = json_str(v, "group", NULL)) == NULL)
			goto fail;
		snprintf(B.groups[r->dev].gid, sizeof(B.groups[0].gid), "%s",
		    s);
		break;
	}
	jv_free(v);
	return NULL;
fail:
	log_warnx("%s for %s: HTTP %ld: %s", r->kind == K_SIGNUP ? "signup" :
	    r->kind == K_LOGIN ? "login" : "group", d ? d->user : "a group",
	    status, r->out ? r->out : "no answer");
	jv_free(v);
	*bad = 1;
	return NULL;
}

/* Runs reqs (made by make(i) for every i in undone) SETUP_PARALLEL at a
 * time, with their follow-ups. */
static int
run(struct req *(*make)(int), const int *undone, int n)
{
	CURLM *m = curl_multi_init();
	int next = 0, running = 0, bad = 0, left;
	CURLMsg *msg;

	while (!bad && (next < n || running > 0)) {
		while (next < n && running < SETUP_PARALLEL) {
			struct req *r = make(undone[next++]);
			if (r == NULL)
				return -1;
			curl_multi_add_handle(m, r->h);
			running++;
		}
		curl_multi_perform(m, &left);
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			struct req *r, *f;
			long status = 0;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
			    (char **)&r);
			if (msg->data.result != CURLE_OK) {
				log_warnx("%s: %s", B.o.api,
				    curl_easy_strerror(msg->data.result));
				bad = 1;
			} else {
				curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE,
				    &status);
				if ((f = done(r, status, &bad)) != NULL) {
					curl_multi_add_handle(m, f->h);
					running++;
				}
			}
			curl_multi_remove_handle(m, r->h);
			req_free(r);
			running--;
		}
		if (running > 0)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	curl_multi_cleanup(m);
	return bad ? -1 : 0;
}

/* GET /v1/discover: the chat URL when every login was kept from before. */
static void
discover(const char *token)
{
	struct req *r = req_new(K_LOGIN, 0, "/v1/discover", NULL, token);
	jv v;
	long status = 0;
	char err[128];
	const char *s;

	if (r == NULL)
		return;
	curl_easy_setopt(r->h, CURLOPT_HTTPGET, 1L);
	if (curl_easy_perform(r->h) == CURLE_OK && curl_easy_getinfo(r->h,
	    CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200 &&
	    r->out != NULL) {
		v = json_parse_object(r->out, r->outlen, err, sizeof(err));
		if ((s = json_str(v, "chat_url", NULL)) != NULL)
			snprintf(chat_url, sizeof(chat_url), "%s", s);
		jv_free(v);
	}
	req_free(r);
}

int
setup_http(void)
{
	int *undone, n = 0, i;

	if (B.o.api == NULL) {
		log_warnx("the chat target needs --api URL (or --mint)");
		return -1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if ((undone = calloc((size_t)B.ndevs + 1, sizeof(*undone))) == NULL)
		return -1;
	for (i = 0; i < B.ndevs; i++)
		if (B.devs[i].token == NULL)
			undone[n++] = i;
	if (n > 0)
		log_info("signing up and logging in %d users (%d kept from "
		    "before)", n, B.ndevs - n);
	if (run(signup, undone, n) == -1)
		goto fail;
	for (n = 0, i = 0; i < B.ngroups; i++)
		if (B.groups[i].gid[0] == '\0')
			undone[n++] = i;
	if (n > 0)
		log_info("making %d groups", n);
	if (run(group_create, undone, n) == -1)
		goto fail;
	if (B.o.ws == NULL && chat_url[0] == '\0' && B.ndevs > 0)
		discover(B.devs[0].token);
	if (B.o.ws == NULL && chat_url[0] != '\0')
		B.o.ws = strdup(chat_url);
	free(undone);
	return 0;
fail:
	free(undone);
	return -1;
}
