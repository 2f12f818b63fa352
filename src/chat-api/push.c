/*
 * push: PUT and DELETE /v1/devices/{device}/push register and clear where
 * chat-push sends notifications for one device.  Only the caller's own
 * device (the token's) may be changed: another is 403 forbidden.
 */
#include <string.h>

#include "api.h"
#include "json.h"
#include "util.h"

#define ENDPOINT_MAX	2048
#define PUSHTOKEN_MAX	4096

static const char *const providers[] = {
	"webhook", "unifiedpush", "ntfy", "fcm", "apns", NULL
};

/* The device capture if it is the caller's own; NULL after answering. */
static const char *
own_device(struct api_req *r)
{
	const char *d = api_param(r, 0);

	if (d == NULL || !valid_device(d)) {
		api_error(r, 400, "bad_request",
		    "path segment 'device' must match ^[A-Za-z0-9_-]{1,64}$");
		return NULL;
	}
	if (strcmp(d, r->device) != 0) {
		api_error(r, 403, "forbidden",
		    "only the token's own device '%s' may be changed",
		    r->device);
		return NULL;
	}
	return d;
}

static void
done(struct api_req *r, jv reply)
{
	jv_free(reply);
	api_ok_empty(r);
}

void
api_push_put(struct api_req *r)
{
	const char *device, *provider, *endpoint, *token;
	int i;
	jv op;

	if ((device = own_device(r)) == NULL ||
	    api_check_text(r, r->json, "provider", 1, 16, &provider) == -1 ||
	    api_check_text(r, r->json, "endpoint", 1, ENDPOINT_MAX,
	    &endpoint) == -1 ||
	    api_check_text(r, r->json, "token", 0, PUSHTOKEN_MAX, &token) == -1)
		return;
	for (i = 0; providers[i] != NULL; i++)
		if (strcmp(providers[i], provider) == 0)
			break;
	if (providers[i] == NULL) {
		api_error(r, 400, "bad_request", "field 'provider' must be one "
		    "of webhook, unifiedpush, ntfy, fcm, apns");
		return;
	}
	if ((strcmp(provider, "webhook") == 0 ||
	    strcmp(provider, "unifiedpush") == 0 ||
	    strcmp(provider, "ntfy") == 0) &&
	    strncmp(endpoint, "http://", 7) != 0 &&
	    strncmp(endpoint, "https://", 8) != 0) {
		api_error(r, 400, "bad_request",
		    "field 'endpoint' must be an http:// or https:// URL for %s",
		    provider);
		return;
	}
	op = api_set_str(api_op("push.set"), "user", r->user);
	op = api_set_str(op, "device", device);
	op = api_set_str(op, "provider", provider);
	op = api_set_str(op, "endpoint", endpoint);
	if (token != NULL)
		op = api_set_str(op, "token", token);
	api_store(r, op, done);
}

void
api_push_delete(struct api_req *r)
{
	const char *device = own_device(r);
	jv op;

	if (device == NULL)
		return;
	op = api_set_str(api_op("push.clear"), "user", r->user);
	api_store(r, api_set_str(op, "device", device), done);
}
