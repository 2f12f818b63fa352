/*
 * control: chat-api's own socket, $CHAT_RUN/api.sock, for the supervisor
 * and chatctl: `ping` and `status` (request counters, responses by status
 * class, live requests, whether chat-store and chat-route are connected,
 * connections refused for max_conns_per_ip and addresses counted now).
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "conf.h"
#include "ipc.h"
#include "json.h"
#include "log.h"
#include "../chatd/limits.h"

static jv
num(jv o, const char *k, double v)
{
	return jv_object_set(o, jv_string(k), jv_number(v));
}

static jv
status(jv rep)
{
	rep = num(rep, "requests", (double)api.requests);
	rep = num(rep, "live", (double)api.live);
	rep = num(rep, "r2xx", (double)api.replied[2]);
	rep = num(rep, "r4xx", (double)api.replied[4]);
	rep = num(rep, "r5xx", (double)api.replied[5]);
	rep = num(rep, "store_calls", (double)api.store_calls);
	rep = num(rep, "store_unavailable", (double)api.store_unavail);
	rep = num(rep, "store_pending", (double)ipc_client_pending(api.store));
	rep = jv_object_set(rep, jv_string("store_connected"),
	    jv_bool(ipc_client_connected(api.store)));
	rep = jv_object_set(rep, jv_string("route_connected"),
	    jv_bool(api.route != NULL && ipc_client_connected(api.route)));
	rep = num(rep, "refused_per_ip", (double)limits_refused());
	rep = num(rep, "peers", (double)limits_peers());
	return rep;
}

static void
on_line(struct ipc_conn *c, const char *line, size_t len)
{
	char err[256];
	jv req = json_parse_object(line, len, err, sizeof(err));
	jv id;
	const char *op;

	if (!jv_is_valid(req)) {
		jv_free(req);
		log_warnx("%s: %s", ipc_conn_name(c), err);
		ipc_send_jv(c, json_error(jv_null(), "bad_request", err));
		return;
	}
	id = jv_object_get(jv_copy(req), jv_string("id"));
	op = json_str(req, "op", NULL);
	if (op != NULL && strcmp(op, "ping") == 0)
		ipc_send_jv(c, json_ok(id));
	else if (op != NULL && strcmp(op, "status") == 0)
		ipc_send_jv(c, status(json_ok(id)));
	else {
		snprintf(err, sizeof(err), "unknown op '%s'",
		    op != NULL ? op : "(none)");
		ipc_send_jv(c, json_error(id, "unknown_op", err));
	}
	jv_free(req);
}

struct ipc_server *
api_control_listen(char *err, size_t errlen)
{
	static const struct ipc_handlers h = { on_line, NULL, NULL };
	char path[4096];
	long long maxline = conf_int("ipc_max_line");

	if (maxline <= 0)
		maxline = IPC_MAXLINE_DEFAULT;
	return ipc_listen(api.loop, conf_sock_path("api", path, sizeof(path)),
	    (size_t)maxline, &h, NULL, err, errlen);
}
