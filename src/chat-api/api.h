/*
 * chat-api: the HTTP JSON API of PROTOCOL.md, served by libwebsockets on the
 * process's one libev loop and backed by chat-store over its socket.
 *
 * One struct api_req lives per HTTP request.  http.c makes it when lws
 * reports the request line, collects the body, hands it to routes.c, and
 * writes the response once a handler calls api_reply.  Handlers never
 * block: each store call (api_store) names the step that continues with the
 * reply.  A request outlives its connection while a store call is in
 * flight: the connection going away only detaches it (r->wsi = NULL), and
 * the last reply frees it.
 *
 * This header is shared by the program's files only; symbols carry api_.
 */
#ifndef CHAT_API_H
#define CHAT_API_H

#include <stddef.h>
#include <stdint.h>
#include <jv.h>

struct lws;
struct ev_loop;

#define API_STORE_TIMEOUT_MS	2000	/* then 503: chat-store is down */
#define API_ROUTE_TIMEOUT_MS	300	/* discovery falls back after this */
#define API_KICK_TIMEOUT_MS	2000	/* a logout's kick waits this for route */
#define API_MAX_SEGS		8	/* path segments */
#define API_MAX_PARAMS		4	/* :captures in one route */
#define API_NAME_MAX		64	/* display_name, group name, bytes */

enum api_method {
	API_GET, API_POST, API_PUT, API_PATCH, API_DELETE, API_OTHER
};

struct api_route;
struct api_req;

/* A step of a handler: gets a backend reply (consumed). */
typedef void api_step_fn(struct api_req *r, jv reply);

struct api_req {
	struct api_req	*prev, *next;	/* every live request (http.c) */
	struct lws	*wsi;		/* NULL once the connection is gone */
	int		 pending;	/* backend calls in flight */
	int		 responded;	/* api_reply was called */
	int		 dispatched;	/* handed to its route */
	enum api_method	 method;
	const char	*method_name;
	char		*path;		/* as lws decoded it, NUL-terminated */
	char		*segbuf;	/* path split at '/' for params */
	char		*params[API_MAX_PARAMS];
	jv		 query;		/* object: first value of each ?name= */
	char		 bearer[300];	/* Authorization: Bearer <this> */
	int		 bearer_bad;	/* header present but unusable */
	const struct api_route *route;
	char		*body;		/* collected body, body_len bytes */
	size_t		 body_len;
	long long	 declared;	/* Content-Length, -1 if none */
	int		 too_large;
	int		 close_after;	/* answer with Connection: close */
	jv		 json;		/* parsed body object, or null */
	char		 user[33];	/* from the token, once authenticated */
	char		 device[65];
	uint64_t	 token_gen;	/* the token's revocation generation */
	void		(*auth_next)(struct api_req *);
	api_step_fn	*step;		/* continues the store call in flight */
	int		 step_raw;	/* step sees error replies too */
	void		(*disc_done)(struct api_req *, const char *);
	jv		 ctx;		/* a handler's state between steps */
	/* the response */
	int		 status;
	char		 allow[48];	/* Allow header for 405, or "" */
	char		*resp;
	size_t		 resp_len;
	size_t		 resp_off;
	int		 headers_sent;
	int64_t		 started_us;
	const char	*ctype;		/* static.c: Content-Type; NULL: JSON */
	char		 etag[64];	/* static.c: the file's ETag */
};

/* The process's shared state (main.c fills it). */
struct api_state {
	struct ev_loop		*loop;
	struct lws_context	*lws;
	struct ipc_client	*store;
	struct ipc_client	*route;
	unsigned char		 secret[32];
	long long		 token_ttl;
	size_t			 max_body;
	long long		 group_max;
	/* counters for the status op */
	unsigned long		 requests, replied[6];
	unsigned long		 store_calls, store_unavail, live;
};
extern struct api_state api;

/* http.c: the lws protocol list for the vhost (main.c), NULL-terminated. */
struct lws_protocols;
extern const struct lws_protocols *const api_protocols;

/*
 * Answers r: status and body (consumed; an object).  Safe to call once per
 * request; later calls are ignored.  If the connection is gone, only frees.
 */
void api_reply(struct api_req *r, int status, jv body);
/* api_reply with a body of raw bytes (buf, malloc'd, consumed; NULL if
 * len is 0) whose Content-Type is r->ctype (static.c). */
void api_reply_bytes(struct api_req *r, int status, char *buf, size_t len);
/* api_reply with {"error":{"code","message"}}. */
void api_error(struct api_req *r, int status, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* 200 {} */
void api_ok_empty(struct api_req *r);
/* Drops a reference the backend held; frees r if nothing else does. */
void api_req_release(struct api_req *r);
/* At exit: frees every request still waiting for a backend reply. */
void api_req_free_all(void);

/* routes.c: finds r's route (r->route); -1 after answering 404 or 405. */
int api_route_match(struct api_req *r);
/* Runs r's matched route once its body is in: the body's JSON (400),
 * auth (401), then the handler. */
void api_route_dispatch(struct api_req *r);
/* The n-th :capture of the matched route. */
char *api_param(struct api_req *r, int n);
/* The query value of name, or NULL (borrowed from r->query). */
const char *api_query(struct api_req *r, const char *name);

/* backend.c: calls to chat-store, one in flight per request at most. */
/*
 * Consumes op (a request object).  Sends it to chat-store; on success calls
 * next with the reply.  An error reply is answered for the handler with the
 * mapped status (api_store_error) unless raw, in which case next sees every
 * reply, errors included.  A reply for a request whose connection is gone
 * is dropped.
 */
void api_store(struct api_req *r, jv op, api_step_fn *next);
void api_store_raw(struct api_req *r, jv op, api_step_fn *next);
/* Answers r from a store error reply (borrowed): status by code. */
void api_store_error(struct api_req *r, jv reply);
/* The error code of a reply (borrowed), or NULL if it is ok. */
const char *api_reply_code(jv reply);
/* A new op object {"op":op}. */
jv api_op(const char *op);
/* A new object with those of the NULL-terminated fields that from
 * (borrowed) has. */
jv api_pick(jv from, ...) __attribute__((sentinel));
/* obj with field set to the string s (consumes obj). */
jv api_set_str(jv obj, const char *field, const char *s);

/* auth.c: checks r->bearer: token form, MAC, expiry, then device.get's
 * gen; fills r->user and r->device and calls next, or answers 401. */
void api_auth(struct api_req *r, void (*next)(struct api_req *));

/* discover.c: the chatd URL for a client now (route's least-loaded chatd,
 * else conf chatd_url); calls done with it.  Never fails. */
void api_discover(struct api_req *r, void (*done)(struct api_req *,
    const char *url));

/*
 * validate.c: field checks shared by handlers; each returns 0, or -1 after
 * answering 400 bad_request with a message naming the field.
 */
/* A user name field of obj (borrowed), lower-cased into out. */
int api_need_user(struct api_req *r, jv obj, const char *field,
    char out[33]);
/* The n-th path capture as a user name (lower-cased in place); NULL after
 * answering 400. */
const char *api_user_param(struct api_req *r, int n, const char *what);
/* The "password" field of the body: 8..256 bytes. */
int api_need_password(struct api_req *r, const char **pw);
/* A text field: a string of 1..maxlen bytes without control characters;
 * a missing one is an error only if required (then *out is NULL). */
int api_check_text(struct api_req *r, jv obj, const char *field, int required,
    size_t maxlen, const char **out);

/* Handlers, one file per resource. */
void api_health(struct api_req *r);
void api_signup(struct api_req *r);
void api_login(struct api_req *r);
void api_logout(struct api_req *r);
void api_user_get(struct api_req *r);
void api_me_patch(struct api_req *r);
void api_me_get(struct api_req *r);
void api_friend_put(struct api_req *r);
void api_friend_delete(struct api_req *r);
void api_friends_get(struct api_req *r);
void api_groups_post(struct api_req *r);
void api_groups_get(struct api_req *r);
void api_group_get(struct api_req *r);
void api_member_put(struct api_req *r);
void api_member_delete(struct api_req *r);
void api_presence_get(struct api_req *r);
void api_history_get(struct api_req *r);
void api_push_put(struct api_req *r);
void api_push_delete(struct api_req *r);
void api_discover_get(struct api_req *r);

/* control.c: ping and status on $CHAT_RUN/api.sock. */
struct ipc_server *api_control_listen(char *err, size_t errlen);

#endif
