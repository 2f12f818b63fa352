/*
 * discover: which chatd a client should connect to now.  chat-route knows
 * every chatd and its connection count (op chatd.list); the least-loaded
 * one wins.  Discovery must never hang a login: if chat-route is not
 * connected the configured chatd_url is used at once, and if it does not
 * answer within API_ROUTE_TIMEOUT_MS, or knows no chatd, likewise.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "conf.h"
#include "ipc.h"
#include "json.h"

/* The url of the chatd with the fewest conns in reply (borrowed), or
 * NULL. */
static const char *
least_loaded(jv reply)
{
	jv list = jv_object_get(jv_copy(reply), jv_string("chatds"));
	const char *best = NULL, *url;
	int64_t conns, best_conns = 0;
	int i, n;

	if (jv_get_kind(list) != JV_KIND_ARRAY) {
		jv_free(list);
		return NULL;
	}
	n = jv_array_length(jv_copy(list));
	for (i = 0; i < n; i++) {
		jv c = jv_array_get(jv_copy(list), i);

		url = json_str(c, "url", NULL);
		if (!json_int(c, "conns", &conns))
			conns = 0;
		if (url != NULL && url[0] != '\0' &&
		    (best == NULL || conns < best_conns)) {
			best = url;	/* reply keeps the string alive */
			best_conns = conns;
		}
		jv_free(c);
	}
	jv_free(list);
	return best;
}

static void
on_list(void *arg, jv reply)
{
	struct api_req *r = arg;
	const char *url;

	r->pending--;
	if (r->wsi == NULL || r->responded) {
		jv_free(reply);
		api_req_release(r);
		return;
	}
	url = json_bool(reply, "ok", 0) ? least_loaded(reply) : NULL;
	r->disc_done(r, url != NULL ? url : conf_get("chatd_url"));
	jv_free(reply);
}

void
api_discover(struct api_req *r, void (*done)(struct api_req *, const char *))
{
	if (api.route == NULL || !ipc_client_connected(api.route)) {
		done(r, conf_get("chatd_url"));
		return;
	}
	r->disc_done = done;
	r->pending++;
	if (ipc_call(api.route, api_op("chatd.list"), API_ROUTE_TIMEOUT_MS,
	    on_list, r) == -1) {
		r->pending--;
		done(r, conf_get("chatd_url"));
	}
}

static void
discovered(struct api_req *r, const char *url)
{
	api_reply(r, 200, api_set_str(jv_object(), "chat_url", url));
}

void
api_discover_get(struct api_req *r)
{
	api_discover(r, discovered);
}
