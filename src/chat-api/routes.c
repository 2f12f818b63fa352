/*
 * routes: the one table of chat-api's endpoints (PROTOCOL.md "HTTP API"),
 * method + path pattern -> handler, and the dispatcher that runs a request
 * through it.  A pattern segment ":x" captures one path segment (lws has
 * already URL-decoded the path); captures reach the handler through
 * api_param() in pattern order.  A path that matches no pattern is 404; one
 * that matches only with other methods is 405 with an Allow header.
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "json.h"

#define AUTH	1	/* needs Authorization: Bearer */
#define BODY	2	/* needs a JSON object body */

struct api_route {
	enum api_method	 method;
	const char	*pattern;
	int		 flags;
	void		(*fn)(struct api_req *);
};

static const struct api_route routes[] = {
	{ API_GET,    "/v1/health",		0,		api_health },
	{ API_POST,   "/v1/signup",		BODY,		api_signup },
	{ API_POST,   "/v1/login",		BODY,		api_login },
	{ API_POST,   "/v1/logout",		AUTH,		api_logout },
	{ API_GET,    "/v1/discover",		AUTH,		api_discover_get },
	{ API_GET,    "/v1/users/:user",	AUTH,		api_user_get },
	{ API_GET,    "/v1/me",			AUTH,		api_me_get },
	{ API_PATCH,  "/v1/me",			AUTH | BODY,	api_me_patch },
	{ API_GET,    "/v1/friends",		AUTH,		api_friends_get },
	{ API_PUT,    "/v1/friends/:user",	AUTH,		api_friend_put },
	{ API_DELETE, "/v1/friends/:user",	AUTH,		api_friend_delete },
	{ API_GET,    "/v1/groups",		AUTH,		api_groups_get },
	{ API_POST,   "/v1/groups",		AUTH | BODY,	api_groups_post },
	{ API_GET,    "/v1/groups/:gid",	AUTH,		api_group_get },
	{ API_PUT,    "/v1/groups/:gid/members/:user", AUTH,	api_member_put },
	{ API_DELETE, "/v1/groups/:gid/members/:user", AUTH,	api_member_delete },
	{ API_GET,    "/v1/presence",		AUTH,		api_presence_get },
	{ API_GET,    "/v1/conversations/:conv/messages", AUTH, api_history_get },
	{ API_PUT,    "/v1/devices/:device/push", AUTH | BODY,	api_push_put },
	{ API_DELETE, "/v1/devices/:device/push", AUTH,		api_push_delete },
};

static const char *const method_names[] = {
	"GET", "POST", "PUT", "PATCH", "DELETE", "OTHER"
};

/* Splits path at '/' into segs (pointing into buf, which it modifies);
 * the number of segments, or -1 if there are too many. */
static int
split(char *buf, char **segs)
{
	int n = 0;
	char *p = buf;

	if (*p != '/')
		return -1;
	while (*p == '/') {
		if (n == API_MAX_SEGS)
			return -1;
		*p++ = '\0';
		segs[n++] = p;
		p += strcspn(p, "/");
	}
	return n;
}

/* 1 if segs match pattern, with the captures in params. */
static int
match(const char *pattern, char **segs, int nsegs, char **params)
{
	char pat[64], *psegs[API_MAX_SEGS];
	int i, np, k = 0;

	strncpy(pat, pattern, sizeof(pat) - 1);
	pat[sizeof(pat) - 1] = '\0';
	if ((np = split(pat, psegs)) != nsegs)
		return 0;
	for (i = 0; i < np; i++) {
		if (psegs[i][0] == ':') {
			if (segs[i][0] == '\0' || k == API_MAX_PARAMS)
				return 0;
			params[k++] = segs[i];
		} else if (strcmp(psegs[i], segs[i]) != 0)
			return 0;
	}
	return 1;
}

int
api_route_match(struct api_req *r)
{
	char *segs[API_MAX_SEGS];
	char *params[API_MAX_PARAMS];
	size_t i;
	int n;

	if ((r->segbuf = strdup(r->path)) == NULL ||
	    (n = split(r->segbuf, segs)) == -1) {
		api_error(r, 404, "not_found", "no such path '%s'", r->path);
		return -1;
	}
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!match(routes[i].pattern, segs, n, params))
			continue;
		if (routes[i].method == r->method) {
			r->route = &routes[i];
			memcpy(r->params, params, sizeof(params));
			return 0;
		}
		if (strstr(r->allow, method_names[routes[i].method]) == NULL) {
			if (r->allow[0] != '\0')
				strcat(r->allow, ", ");
			strcat(r->allow, method_names[routes[i].method]);
		}
	}
	if (r->allow[0] != '\0')
		api_error(r, 405, "method_not_allowed",
		    "%s is not allowed on '%s' (allowed: %s)", r->method_name,
		    r->path, r->allow);
	else
		api_error(r, 404, "not_found", "no such path '%s'", r->path);
	return -1;
}

/* After auth: the body, then the handler. */
static void
run(struct api_req *r)
{
	char err[256];

	if (r->route->flags & BODY) {
		if (r->body_len == 0) {
			api_error(r, 400, "bad_request",
			    "missing JSON object body");
			return;
		}
		r->json = json_parse_object(r->body, r->body_len, err,
		    sizeof(err));
		if (!jv_is_valid(r->json)) {
			jv_free(r->json);
			r->json = jv_null();
			api_error(r, 400, "bad_request", "body: %s", err);
			return;
		}
	}
	r->route->fn(r);
}

void
api_route_dispatch(struct api_req *r)
{
	r->dispatched = 1;
	if (r->route->flags & AUTH)
		api_auth(r, run);
	else
		run(r);
}

char *
api_param(struct api_req *r, int n)
{
	return n >= 0 && n < API_MAX_PARAMS ? r->params[n] : NULL;
}

const char *
api_query(struct api_req *r, const char *name)
{
	return json_str(r->query, name, NULL);
}
