/*
 * rpc: one blocking request to a program's socket, as chatctl needs it.
 * Program names are socket names (conf_sock_path): store, route, presence,
 * push, api, super, chatd-PORT; a name with a '/' is a socket path.  A
 * program that cannot be reached is a temporary failure (exit 111), the
 * same status the daemons use for one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "ipc_sync.h"
#include "json.h"
#include "log.h"
#include "chatctl.h"

static struct ipc_sync conn;
static char conn_prog[256];
static int conn_open;

/* One connection per program, kept for the next call (users pages). */
static void
connect_to(const char *prog)
{
	char path[4096], err[512];

	if (conn_open && strcmp(conn_prog, prog) == 0)
		return;
	if (conn_open)
		ipc_sync_close(&conn);
	conn_open = 0;
	if (strchr(prog, '/') != NULL)
		snprintf(path, sizeof(path), "%s", prog);
	else
		conf_sock_path(prog, path, sizeof(path));
	if (ipc_sync_open(&conn, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "chatctl: %s: %s\n", prog, err);
		exit(EXIT_TEMP);
	}
	snprintf(conn_prog, sizeof(conn_prog), "%s", prog);
	conn_open = 1;
}

jv
rpc_call(const char *prog, jv req)
{
	char err[512], *text, *line;
	jv rep;

	connect_to(prog);
	text = json_dump(req, NULL);
	if (text == NULL) {
		fprintf(stderr, "chatctl: request is not JSON\n");
		exit(EXIT_USAGE);
	}
	line = ipc_sync_call(&conn, text, ctl_opts.timeout_ms, err,
	    sizeof(err));
	free(text);
	if (line == NULL) {
		fprintf(stderr, "chatctl: %s: %s\n", prog, err);
		exit(EXIT_TEMP);
	}
	rep = json_parse_object(line, strlen(line), err, sizeof(err));
	if (!jv_is_valid(rep)) {
		fprintf(stderr, "chatctl: %s: bad reply: %s\n", prog, err);
		free(line);
		exit(EXIT_TEMP);
	}
	free(line);
	return rep;
}

int
rpc_ok(const char *prog, jv reply)
{
	jv e;
	const char *code, *msg;

	if (json_bool(reply, "ok", 0))
		return 1;
	e = jv_object_get(jv_copy(reply), jv_string("error"));
	code = jv_get_kind(e) == JV_KIND_OBJECT ? json_str(e, "code", NULL) :
	    NULL;
	msg = jv_get_kind(e) == JV_KIND_OBJECT ? json_str(e, "message", NULL) :
	    NULL;
	fprintf(stderr, "chatctl: %s: %s%s%s\n", prog, code ? code : "error",
	    msg ? ": " : "", msg ? msg : "");
	jv_free(e);
	return 0;
}
