/*
 * prov: the table of providers and the common reading of an HTTP outcome.
 * Each provider's request shape lives in its own prov_<name>.c.
 */
#include <stdio.h>
#include <string.h>

#include "push.h"

static const struct push_provider *const providers[] = {
	&prov_webhook, &prov_unifiedpush, &prov_ntfy, &prov_fcm, &prov_apns,
};

const struct push_provider *
push_provider(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(providers) / sizeof(providers[0]); i++)
		if (strcmp(providers[i]->name, name) == 0)
			return providers[i];
	return NULL;
}

enum push_verdict
push_verdict_http(const struct http_res *res, char *why, size_t whylen)
{
	long s = res->status;

	if (res->curl_code != 0) {
		snprintf(why, whylen, "%s", res->error);
		return PV_RETRY;
	}
	snprintf(why, whylen, "HTTP %ld", s);
	if (s >= 200 && s < 300)
		return PV_OK;
	if (s == 404 || s == 410)
		return PV_GONE;
	if (s == 408 || s == 425 || s == 429 || s >= 500)
		return PV_RETRY;
	return PV_FAIL;
}
