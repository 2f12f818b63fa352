/*
 * ctl: chatd's own socket, $CHAT_RUN/chatd-<port>.sock, for operators and
 * tests: ping, status (counters), devices (who is connected here).
 */
#include <stdio.h>
#include <string.h>

#include "chatd.h"
#include "conf.h"
#include "ipc.h"
#include "json.h"
#include "limits.h"
#include "log.h"

typedef jv op_fn(jv req, jv reply);

#define CTL_OPS(X) X("ping", op_ping) X("status", op_status) \
	X("devices", op_devices)

static jv
op_ping(jv req, jv reply)
{
	jv_free(req);
	return reply;
}

#define SET(r, k, v) r = jv_object_set(r, jv_string(k), (v))
#define NUM(r, k) SET(r, #k, jv_number((double)chatd.n.k))

static jv
op_status(jv req, jv reply)
{
	jv_free(req);
	SET(reply, "name", jv_string(chatd.name));
	SET(reply, "url", jv_string(chatd.url));
	SET(reply, "conns", jv_number((double)chatd.conns));
	SET(reply, "devices", jv_number((double)chatd.devices.n));
	SET(reply, "route_connected",
	    jv_bool(upstream_route_connected()));
	SET(reply, "store_connected",
	    jv_bool(ipc_client_connected(chatd.store)));
	SET(reply, "route_pending",
	    jv_number((double)upstream_route_pending()));
	SET(reply, "route_shards", jv_number(chatd.nroutes));
	SET(reply, "store_pending",
	    jv_number((double)ipc_client_pending(chatd.store)));
	NUM(reply, frames_in); NUM(reply, frames_out); NUM(reply, bad_frames);
	NUM(reply, sends); NUM(reply, acks); NUM(reply, send_errors);
	NUM(reply, delivered); NUM(reply, dropped_old);
	NUM(reply, rate_limited);
	NUM(reply, slow_closed); NUM(reply, too_big); NUM(reply, auth_ok);
	NUM(reply, auth_failed); NUM(reply, auth_timeout); NUM(reply, syncs);
	NUM(reply, synced_msgs); NUM(reply, resyncs);
	SET(reply, "pings", jv_number((double)alive_pings()));
	SET(reply, "hangups", jv_number((double)alive_hangups()));
	SET(reply, "presence", presence_status());
	SET(reply, "refused_per_ip", jv_number((double)limits_refused()));
	SET(reply, "peers", jv_number((double)limits_peers()));
	SET(reply, "refused_per_user",
	    jv_number((double)limits_user_refused()));
	SET(reply, "users_counted", jv_number((double)limits_users()));
	return reply;
}

static jv
op_devices(jv req, jv reply)
{
	jv list = jv_array();
	size_t i = 0;
	struct conn *c;

	jv_free(req);
	while ((c = strmap_next(&chatd.devices, &i)) != NULL) {
		static const char *states[] = { "new", "authing", "syncing",
		    "live", "dead" };
		jv d = jv_object_set(jv_object_set(jv_object(),
		    jv_string("user"), jv_string(c->user)), jv_string("device"),
		    jv_string(c->device));
		SET(d, "state", jv_string(states[c->state]));
		SET(d, "peer", jv_string(c->peer));
		SET(d, "queued", jv_number((double)c->out.bytes));
		list = jv_array_append(list, d);
	}
	SET(reply, "devices", list);
	return reply;
}

static const struct {
	const char	*op;
	op_fn		*fn;
} ops[] = {
#define X(name, fn) { name, fn },
	CTL_OPS(X)
#undef X
};

static void
on_line(struct ipc_conn *ic, const char *line, size_t len)
{
	char err[200];
	jv req = json_parse_object(line, len, err, sizeof(err));
	const char *op;

	if (!jv_is_valid(req)) {
		ipc_send_jv(ic, json_error(jv_null(), "bad_request", err));
		return;
	}
	jv id = jv_object_get(jv_copy(req), jv_string("id"));
	if ((op = json_str(req, "op", NULL)) == NULL) {
		ipc_send_jv(ic, json_error(id, "bad_request",
		    "field 'op' must be a string"));
		jv_free(req);
		return;
	}
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(op, ops[i].op) == 0) {
			ipc_send_jv(ic, ops[i].fn(req, json_ok(id)));
			return;
		}
	char msg[128];
	snprintf(msg, sizeof(msg), "unknown op '%.40s'", op);
	ipc_send_jv(ic, json_error(id, "unknown_op", msg));
	jv_free(req);
}

static const struct ipc_handlers handlers = { on_line, NULL, NULL };

int
ctl_start(char *err, size_t errlen)
{
	char path[512];

	chatd.ctl = ipc_listen(chatd.loop, conf_sock_path(chatd.name, path,
	    sizeof(path)), (size_t)conf_int("ipc_max_line"), &handlers, NULL,
	    err, errlen);
	return chatd.ctl != NULL ? 0 : -1;
}

void
ctl_stop(void)
{
	ipc_server_close(chatd.ctl);
	chatd.ctl = NULL;
}
