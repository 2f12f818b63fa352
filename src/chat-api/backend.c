/*
 * backend: chat-api's calls to chat-store, and how a store error becomes an
 * HTTP answer.  Every call has a deadline (API_STORE_TIMEOUT_MS): with the
 * store down, ipc_client keeps reconnecting in the background and the call
 * ends in "unavailable", which is a 503; once the store is back the next
 * request simply works.  A request whose client went away while its call
 * was in flight is freed when the reply (or the timeout) arrives.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "ipc.h"
#include "json.h"
#include "log.h"

/* Store error code -> HTTP status.  Anything unexpected is the store's
 * problem, never the client's: 503, and never a 500. */
static const struct { const char *code; int status; } statuses[] = {
	{ "bad_request",	400 },
	{ "line_too_long",	400 },
	{ "no_such_user",	404 },
	{ "no_such_group",	404 },
	{ "not_found",		404 },
	{ "user_exists",	409 },
	{ "group_full",		409 },
	{ "not_member",		403 },
	{ "not_owner",		403 },
	{ "unauthorized",	401 },
};

const char *
api_reply_code(jv reply)
{
	jv e;
	const char *code;

	if (json_bool(reply, "ok", 0))
		return NULL;
	e = jv_object_get(jv_copy(reply), jv_string("error"));
	code = json_str(e, "code", NULL);
	jv_free(e);		/* reply still holds the string */
	return code != NULL ? code : "unavailable";
}

void
api_store_error(struct api_req *r, jv reply)
{
	const char *code = api_reply_code(reply), *msg;
	jv e;
	size_t i;

	e = jv_object_get(jv_copy(reply), jv_string("error"));
	msg = json_str(e, "message", NULL);
	if (msg == NULL)
		msg = code;
	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (strcmp(statuses[i].code, code) == 0) {
			api_error(r, statuses[i].status, code, "%s", msg);
			jv_free(e);
			return;
		}
	if (strcmp(code, "unavailable") == 0)
		api.store_unavail++;
	api_error(r, 503, "unavailable", "chat-store: %s", msg);
	jv_free(e);
}

static void
on_reply(void *arg, jv reply)
{
	struct api_req *r = arg;

	r->pending--;
	if (r->wsi == NULL || r->responded) {
		jv_free(reply);
		api_req_release(r);
		return;
	}
	if (!r->step_raw && api_reply_code(reply) != NULL) {
		api_store_error(r, reply);
		jv_free(reply);
		return;
	}
	r->step(r, reply);
}

static void
call(struct api_req *r, jv op, api_step_fn *next, int raw)
{
	r->step = next;
	r->step_raw = raw;
	r->pending++;
	api.store_calls++;
	if (ipc_call(api.store, op, API_STORE_TIMEOUT_MS, on_reply, r) == -1) {
		r->pending--;
		api_error(r, 503, "unavailable", "chat-store call failed");
	}
}

void
api_store(struct api_req *r, jv op, api_step_fn *next)
{
	call(r, op, next, 0);
}

void
api_store_raw(struct api_req *r, jv op, api_step_fn *next)
{
	call(r, op, next, 1);
}

jv
api_op(const char *op)
{
	return jv_object_set(jv_object(), jv_string("op"), jv_string(op));
}

jv
api_set_str(jv obj, const char *field, const char *s)
{
	return jv_object_set(obj, jv_string(field), jv_string(s));
}

jv
api_pick(jv from, ...)
{
	va_list ap;
	const char *f;
	jv out = jv_object(), v;

	va_start(ap, from);
	while ((f = va_arg(ap, const char *)) != NULL) {
		if (jv_get_kind(from) != JV_KIND_OBJECT)
			continue;
		v = jv_object_get(jv_copy(from), jv_string(f));
		if (jv_is_valid(v))
			out = jv_object_set(out, jv_string(f), v);
		else
			jv_free(v);
	}
	va_end(ap);
	return out;
}
