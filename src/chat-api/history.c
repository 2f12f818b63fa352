/*
 * history: GET /v1/conversations/{conv}/messages?before={id}&limit={n}.
 * conv is a group id (g_...) or, for a 1:1 conversation, the other user's
 * name.  chat-store answers newest first and checks group membership
 * itself (403 not_member); messages go out in PROTOCOL.md's form, without
 * the store's internal fields.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "id.h"
#include "json.h"
#include "util.h"

#define LIMIT_DEFAULT	50
#define LIMIT_MAX	200

static void
got(struct api_req *r, jv reply)
{
	jv msgs = jv_object_get(jv_copy(reply), jv_string("messages"));
	jv out = jv_array();
	int i, n;

	if (jv_get_kind(msgs) == JV_KIND_ARRAY) {
		n = jv_array_length(jv_copy(msgs));
		for (i = 0; i < n; i++) {
			jv m = jv_array_get(jv_copy(msgs), i);

			out = jv_array_append(out, api_pick(m, "id", "from",
			    "to", "group", "body", "ts", "cid", NULL));
			jv_free(m);
		}
	}
	jv_free(msgs);
	jv_free(reply);
	api_reply(r, 200, jv_object_set(jv_object(), jv_string("messages"),
	    out));
}

void
api_history_get(struct api_req *r)
{
	char *conv = api_param(r, 0);
	const char *before = api_query(r, "before");
	const char *limit = api_query(r, "limit");
	long n = LIMIT_DEFAULT;
	uint64_t id;
	jv op = api_set_str(api_op("msg.history"), "user", r->user);

	if (before != NULL && id_parse(before, strlen(before), &id) == -1) {
		jv_free(op);
		api_error(r, 400, "bad_request",
		    "query 'before' must be a message id (16 hex digits)");
		return;
	}
	if (limit != NULL) {
		if (limit[0] == '\0' || strlen(limit) > 3 ||
		    strspn(limit, "0123456789") != strlen(limit) ||
		    (n = atol(limit)) < 1 || n > LIMIT_MAX) {
			jv_free(op);
			api_error(r, 400, "bad_request",
			    "query 'limit' must be an integer from 1 to %d",
			    LIMIT_MAX);
			return;
		}
	}
	if (strncmp(conv, "g_", 2) == 0 && valid_group(conv))
		op = api_set_str(op, "group", conv);
	else if ((conv = (char *)api_user_param(r, 0,
	    "path segment 'conv' (a user name or a group id)")) != NULL)
		op = api_set_str(op, "with", conv);
	else {
		jv_free(op);
		return;
	}
	if (before != NULL)
		op = api_set_str(op, "before", before);
	op = jv_object_set(op, jv_string("limit"), jv_number((double)n));
	api_store(r, op, got);
}
