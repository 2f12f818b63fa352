/*
 * chat: the end-user command-line client.  It speaks only the public client
 * protocol (PROTOCOL.md, chat-protocol(7)): the HTTP API through libcurl and
 * the WebSocket through a libwebsockets client, like any third-party client.
 *
 * The pieces: session.c keeps the login in $XDG_CONFIG_HOME/chat/, http.c
 * makes one API request, ws.c keeps one WebSocket open (reconnect, auth,
 * heartbeats), print.c writes frames as NDJSON or text, and one cmd_*.c per
 * family of subcommands.  main.c holds the table of subcommands.
 */
#ifndef CHAT_CHAT_H
#define CHAT_CHAT_H

#include <stddef.h>
#include <stdio.h>
#include <jv.h>

/* Exit statuses: 0 done, 1 the server refused, 100 usage or not logged in,
 * 111 the server could not be reached (or answered "try later"). */
#define CHAT_EXIT_REFUSED	1

#define CHAT_DEFAULT_SERVER	"http://127.0.0.1:8080"

/* ---- session.c: the saved login ---- */

struct chat_session {
	char	server[512];	/* API base URL, no trailing '/' */
	char	user[64];
	char	device[72];
	char	token[512];
	char	chat_url[512];	/* WebSocket URL login gave, for discovery's
				 * fallback */
	/* The second device `chat send` connects as, so that it never
	 * replaces the connection of a `chat listen` beside it (the server
	 * keeps one connection per device). */
	char	send_device[72];
	char	send_token[512];
};

/* $XDG_CONFIG_HOME/chat (or ~/.config/chat) in static storage; NULL if
 * neither XDG_CONFIG_HOME nor HOME is set. */
const char *session_dir(void);
/* Reads the session file into s.  0, or -1 with err ("not logged in"). */
int session_load(struct chat_session *s, char *err, size_t errlen);
/* Writes s (mode 0600, in a 0700 directory, replaced atomically).  0 or -1
 * with err. */
int session_save(const struct chat_session *s, char *err, size_t errlen);
/* Removes the session and cursor files.  0 or -1 with err. */
int session_remove(char *err, size_t errlen);
/* The last message id listen wrote out (16 hex digits) into id, or "" if
 * none.  Returns 0. */
int session_cursor_load(char id[17]);
/* Saves id as the cursor.  0 or -1 with err. */
int session_cursor_save(const char *id, char *err, size_t errlen);
/* Forgets the cursor (a new device starts from the server's cursor). */
void session_cursor_remove(void);

/* ---- http.c: one request to the API ---- */

#define HTTP_QUIET	0x01	/* print nothing on failure */

/*
 * Sends method server+path with body (consumed; jv_invalid() for none) and,
 * if token is not NULL, "Authorization: Bearer token".  Returns 0 and
 * *reply (an object; {} for an empty body) on a 2xx answer.  Otherwise,
 * unless HTTP_QUIET, prints "chat: CODE: MESSAGE" on stderr and returns the
 * exit status: CHAT_EXIT_REFUSED for a 4xx, EXIT_TEMP for a 5xx or when the
 * server cannot be reached.  *reply is jv_invalid() then.
 */
int http_call(const char *server, const char *token, const char *method,
    const char *path, jv body, jv *reply, int flags);
/* http_call with the session's server and token. */
int http_session(const struct chat_session *s, const char *method,
    const char *path, jv body, jv *reply);

/* ---- ws.c: the WebSocket to chatd ---- */

struct ev_loop;
struct chat_ws;

struct ws_handlers {
	/* The id to put in auth's "since", or NULL for the stored cursor. */
	const char *(*since)(void *arg);
	/* "ready" arrived: the device is authenticated (frame consumed). */
	void	(*on_ready)(void *arg, jv frame);
	/* Any other frame (consumed). */
	void	(*on_frame)(void *arg, jv frame);
	/* The connection went down; a reconnect is scheduled. */
	void	(*on_down)(void *arg, const char *why);
	/* No connection for longer than the give-up time; called after each
	 * failed attempt past it.  Retries go on unless it calls ws_close. */
	void	(*on_give_up)(void *arg);
	/* Our own close finished (ws_close). */
	void	(*on_closed)(void *arg);
};

/*
 * Connects to the chat server for session s on loop and keeps connecting:
 * after a failure it waits a backoff (250 ms doubling to 8 s) with jitter.
 * Discovery (GET /v1/discover) picks the URL before each attempt, the one
 * login gave if the API does not answer.  A heartbeat goes out every 5 s.
 * give_up (seconds, 0 never): call on_give_up when the server has been
 * unreachable that long.  NULL with err if lws cannot start.
 */
struct chat_ws *ws_open(struct ev_loop *loop, const struct chat_session *s,
    const struct ws_handlers *h, void *arg, double give_up, char *err,
    size_t errlen);
/* Queues frame (consumed) if the device is ready.  0, or -1 when not
 * connected and ready: the caller sends again from on_ready. */
int ws_send(struct chat_ws *ws, jv frame);
/* Asks for a "recv" with id (16 hex digits) to go out soon; several calls
 * before it is written send only the newest. */
void ws_recv(struct chat_ws *ws, const char *id);
/* 1 while connected and ready. */
int ws_ready(struct chat_ws *ws);
/* Sends what is queued, closes normally, then calls on_closed (at once if
 * not connected).  No reconnect follows. */
void ws_close(struct chat_ws *ws);
/* Frees everything; call after the loop stopped. */
void ws_free(struct chat_ws *ws);

/* ---- print.c: output ---- */

enum chat_format { FMT_JSON, FMT_TEXT };

/* Parses "json" or "text"; -1 otherwise. */
int print_parse_format(const char *s, enum chat_format *f);
/* Writes obj (consumed) as one compact JSON line. */
int print_json(FILE *out, jv obj);
/* Writes a server frame (borrowed: msg, presence, typing, error; anything
 * else as JSON) as one line for people: time, who, what. */
int print_frame_text(FILE *out, jv frame);
/* Flushes out; -1 if a write failed (the reader went away). */
int print_flush(FILE *out);

/* ---- cmd_*.c: the subcommands, each (argc, argv) with argv[0] its name,
 * returning the exit status ---- */

int cmd_signup(int argc, char **argv);
int cmd_login(int argc, char **argv);
int cmd_logout(int argc, char **argv);
int cmd_whoami(int argc, char **argv);
int cmd_send(int argc, char **argv);
int cmd_listen(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_friends(int argc, char **argv);
int cmd_group(int argc, char **argv);
int cmd_who(int argc, char **argv);

/* ---- main.c: shared helpers for the subcommands ---- */

/* Prints "chat: " fmt on stderr (lower case, no full stop). */
void chat_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints usage text for the subcommand name on out. */
void chat_usage(FILE *out, const char *name);
/* Prints the usage on stderr and returns EXIT_USAGE. */
int chat_bad_usage(const char *name);
/* Loads the session or prints why not; 0 or EXIT_USAGE. */
int chat_need_session(struct chat_session *s);
/* Lower-cases name in place and checks it is a user name; prints the
 * error and returns EXIT_USAGE if not, else 0. */
int chat_check_user(char *name);
/* Checks a group id; 0 or EXIT_USAGE with the error printed. */
int chat_check_group(const char *gid);

#endif
