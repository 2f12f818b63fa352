/*
 * ctl: chat-super's control socket, $CHAT_RUN/super.sock, on the same libev
 * loop as the programs it watches.  Ops (one table):
 *
 *   ping                  -> {}
 *   status                -> {pid,uptime_ms,source,stopping,programs:[{name,
 *                             pid,state,uptime_ms,restarts,last_exit,needs}]}
 *   restart {name}        -> {name,state}: clears failed/fatal and starts
 *                             the program again (stopping it first if it runs)
 */
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "ipc.h"
#include "json.h"
#include "log.h"
#include "super.h"

static struct ipc_server *server;

typedef jv op_fn(struct super *sp, jv req, jv reply);

static jv
op_ping(struct super *sp, jv req, jv reply)
{
	(void)sp;
	jv_free(req);
	return reply;
}

static jv
program(const struct super *sp, const struct svc *s, uint64_t now)
{
	jv o = jv_object(), needs = jv_array();
	int k;

	for (k = 0; k < s->nneeds; k++)
		needs = jv_array_append(needs,
		    jv_string(sp->svcs[s->needs[k]].name));
	o = jv_object_set(o, jv_string("name"), jv_string(s->name));
	o = jv_object_set(o, jv_string("pid"), s->pid > 0 ?
	    jv_number(s->pid) : jv_null());
	o = jv_object_set(o, jv_string("state"),
	    jv_string(svc_state_name(s->state)));
	o = jv_object_set(o, jv_string("uptime_ms"), jv_number(s->pid > 0 ?
	    (double)(now - s->started_ms) : 0));
	o = jv_object_set(o, jv_string("restarts"), jv_number(s->restarts));
	o = jv_object_set(o, jv_string("last_exit"), s->last_exit[0] ?
	    jv_string(s->last_exit) : jv_null());
	o = jv_object_set(o, jv_string("needs"), needs);
	return jv_object_set(o, jv_string("command"), jv_string(s->cmdline));
}

static jv
op_status(struct super *sp, jv req, jv reply)
{
	jv list = jv_array();
	uint64_t now = mono_ms();
	int i;

	jv_free(req);
	for (i = 0; i < sp->n; i++)
		list = jv_array_append(list, program(sp, &sp->svcs[i], now));
	reply = jv_object_set(reply, jv_string("pid"), jv_number(getpid()));
	reply = jv_object_set(reply, jv_string("uptime_ms"),
	    jv_number((double)(now - sp->started_ms)));
	reply = jv_object_set(reply, jv_string("source"),
	    jv_string(sp->source));
	reply = jv_object_set(reply, jv_string("stopping"),
	    jv_bool(sp->stopping));
	return jv_object_set(reply, jv_string("programs"), list);
}

static jv
op_restart(struct super *sp, jv req, jv reply)
{
	const char *name = json_str(req, "name", NULL);
	int i;

	for (i = 0; name != NULL && i < sp->n; i++)
		if (strcmp(sp->svcs[i].name, name) == 0)
			break;
	if (name == NULL || i == sp->n) {
		jv id = jv_object_get(jv_copy(reply), jv_string("id"));

		jv_free(reply);
		reply = json_error(id, name ? "not_found" : "bad_request",
		    name ? "no program of that name" : "missing field 'name'");
		jv_free(req);
		return reply;
	}
	super_restart(sp, &sp->svcs[i]);
	jv_free(req);
	reply = jv_object_set(reply, jv_string("name"),
	    jv_string(sp->svcs[i].name));
	return jv_object_set(reply, jv_string("state"),
	    jv_string(svc_state_name(sp->svcs[i].state)));
}

#define CTL_OPS(X) \
	X("ping", op_ping) \
	X("status", op_status) \
	X("restart", op_restart)

static const struct {
	const char	*name;
	op_fn		*fn;
} ops[] = {
#define X(n, f) { n, f },
	CTL_OPS(X)
#undef X
};

static void
on_line(struct ipc_conn *c, const char *line, size_t len)
{
	struct super *sp = ipc_server_arg(ipc_conn_server(c));
	char err[256];
	const char *op;
	jv req, id;
	size_t i;

	req = json_parse_object(line, len, err, sizeof(err));
	if (!jv_is_valid(req)) {
		jv_free(req);
		log_warnx("%s: bad request: %s", ipc_conn_name(c), err);
		ipc_send_jv(c, json_error(jv_null(), "bad_request", err));
		return;
	}
	id = json_has(req, "id") ? jv_object_get(jv_copy(req),
	    jv_string("id")) : jv_null();
	op = json_str(req, "op", NULL);
	for (i = 0; op != NULL && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(ops[i].name, op) == 0) {
			ipc_send_jv(c, ops[i].fn(sp, req, json_ok(id)));
			return;
		}
	ipc_send_jv(c, json_error(id, op ? "unknown_op" : "bad_request",
	    op ? "unknown op" : "missing field 'op'"));
	jv_free(req);
}

int
ctl_start(struct super *sp, char *err, size_t errlen)
{
	static const struct ipc_handlers h = { on_line, NULL, NULL };
	char path[4096];
	long long maxline = conf_int("ipc_max_line");

	conf_sock_path("super", path, sizeof(path));
	server = ipc_listen(sp->loop, path, maxline > 0 ? (size_t)maxline :
	    IPC_MAXLINE_DEFAULT, &h, sp, err, errlen);
	if (server == NULL)
		return -1;
	log_info("listening on '%s'", path);
	return 0;
}

void
ctl_stop(void)
{
	if (server != NULL)
		ipc_server_close(server);
	server = NULL;
}
