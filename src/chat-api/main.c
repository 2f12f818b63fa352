/*
 * chat-api: the stack's HTTP JSON API (PROTOCOL.md "HTTP API").  Parses
 * options, loads the config and the token secret, connects to chat-store and
 * chat-route, gives the one libev loop to libwebsockets as a foreign loop,
 * listens, says ready, and runs.  The work lives in the sibling files.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <libwebsockets.h>

#include "../chatd/limits.h"
#include "../chatd/lwstimer.h"
#include "api.h"
#include "conf.h"
#include "ipc.h"
#include "log.h"
#include "static.h"
#include "token.h"
#include "util.h"

struct api_state api;

static void
usage(FILE *f)
{
	fprintf(f, "usage: chat-api [--listen HOST:PORT]\n"
	    "Serves the chat HTTP API (see chat-api(1)).\n");
}

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	log_info("signal %d: stopping", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

static void
lws_log(int level, const char *line)
{
	int n = (int)strlen(line);

	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (level & LLL_ERR)
		log_warnx("lws: %.*s", n, line);
	else
		log_debug("lws: %.*s", n, line);
}

static long long
conf_positive(const char *key)
{
	long long v = conf_int(key);

	if (v <= 0)
		fatalx(EXIT_USAGE, "config '%s' must be a positive integer",
		    key);
	return v;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct lws_context_creation_info info;
	const char *listen = NULL;
	char err[512], host[256], path[4096];
	struct ipc_server *ctl;
	ev_signal sigterm, sigint;
	void *loops[1];
	int c, port;

	log_init("chat-api");
	while ((c = getopt_long(argc, argv, "l:h", opts, NULL)) != -1)
		switch (c) {
		case 'l':
			listen = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (conf_load(err, sizeof(err)) == -1)
		fatalx(EXIT_USAGE, "%s", err);
	if (listen == NULL)
		listen = conf_get("api_listen");
	if (parse_hostport(listen, host, sizeof(host), &port) == -1)
		fatalx(EXIT_USAGE, "bad listen address '%s'", listen);
	api.token_ttl = conf_positive("token_ttl");
	api.max_body = (size_t)conf_positive("max_body");
	api.group_max = conf_positive("group_max_members");
	if (api_static_init(err, sizeof(err)) == -1)
		fatalx(EXIT_USAGE, "%s", err);

	snprintf(path, sizeof(path), "%s/etc", conf_home());
	if (mkdir_p(path, 0700) == -1)
		fatal(EXIT_TEMP, "unable to create '%s'", path);
	snprintf(path, sizeof(path), "%s/etc/secret", conf_home());
	if (token_load_secret(path, 1, api.secret, err, sizeof(err)) == -1)
		fatalx(EXIT_TEMP, "%s", err);
	if (mkdir_p(conf_run(), 0700) == -1)
		fatal(EXIT_TEMP, "unable to create '%s'", conf_run());

	signal(SIGPIPE, SIG_IGN);
	api.loop = ev_default_loop(0);
	api.store = ipc_client_new(api.loop, conf_sock_path("store", path,
	    sizeof(path)), NULL, NULL, NULL);
	api.route = ipc_client_new(api.loop, conf_sock_path("route", path,
	    sizeof(path)), NULL, NULL, NULL);
	if (api.store == NULL || api.route == NULL)
		fatalx(EXIT_TEMP, "unable to make the backend clients");

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
	memset(&info, 0, sizeof(info));
	info.port = port;
	info.iface = host;
	info.protocols = api_protocols;
	info.options = LWS_SERVER_OPTION_LIBEV |
	    LWS_SERVER_OPTION_VALIDATE_UTF8 |
	    LWS_SERVER_OPTION_DISABLE_IPV6;
	loops[0] = api.loop;
	info.foreign_loops = loops;
	info.timeout_secs = 10;		/* slow headers or body: closed */
	info.keepalive_timeout = 30;
	info.max_http_header_pool = 1024;
	/* The whole request head, however slowly it trickles (slowloris). */
	info.timeout_secs_ah_idle = (unsigned)conf_int("handshake_timeout");
	limits_init((unsigned)conf_int("max_conns_per_ip"));
	info.server_string = "chat-api";
	if ((api.lws = lws_create_context(&info)) == NULL) {
		/* lws 4.1.6 leaks 96 bytes of the vhost it failed to make.
		 * We are leaving anyway: skip the exit handlers, or
		 * LeakSanitizer's would turn this 111 into a 1 over it. */
		log_warnx("unable to listen on '%s'", listen);
		_exit(EXIT_TEMP);
	}
	/* lws's timeouts on time on our loop: see lwstimer.h */
	lwstimer_start(api.loop, &api.lws, 0.1);

	if ((ctl = api_control_listen(err, sizeof(err))) == NULL)
		fatalx(EXIT_TEMP, "%s", err);
	ev_signal_init(&sigterm, on_signal, SIGTERM);
	ev_signal_start(api.loop, &sigterm);
	ev_signal_init(&sigint, on_signal, SIGINT);
	ev_signal_start(api.loop, &sigint);

	log_info("listening on http://%s:%d", host, port);
	notify_ready();
	ev_run(api.loop, 0);

	lws_context_destroy(api.lws);
	api.lws = NULL;
	limits_free();
	ipc_server_close(ctl);
	ipc_client_free(api.store);
	ipc_client_free(api.route);
	api_req_free_all();
	api_static_free();
	ev_signal_stop(api.loop, &sigterm);
	ev_signal_stop(api.loop, &sigint);
	log_info("stopped");
	return 0;
}
