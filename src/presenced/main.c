/*
 * presenced: online status and last_active_at for every user, from the
 * device events chatd instances report.  See presenced(1).
 *
 * main: options, the config, the store client, the socket, the loop.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "conf.h"
#include "ipc.h"
#include "log.h"
#include "util.h"
#include "shard.h"
#include "presenced.h"

static const char usage[] =
	"usage: presenced [--name NAME] [--leased] [--help]\n"
	"  tracks who is online for the stack in CHAT_HOME (default ./var):\n"
	"  listens on $CHAT_RUN/presence.sock, persists through chat-store;\n"
	"  presence_timeout (CHAT_PRESENCE_TIMEOUT) seconds of silence make a\n"
	"  device offline.  With presence_shards N > 1 it owns the users of\n"
	"  shard presence_shard (CHAT_PRESENCE_SHARD) and listens on\n"
	"  $CHAT_RUN/presence-<shard>.sock; --name NAME: on NAME.sock instead;\n"
	"  --leased: changes stored and told only while chat-bus serve --tell\n"
	"  says this process owns the shard\n";

static void
on_open(struct ipc_conn *c)
{
	struct pres_conn *pc = calloc(1, sizeof(*pc));

	if (pc == NULL) {
		log_warnx("%s: out of memory", ipc_conn_name(c));
		ipc_close(c);
		return;
	}
	pc->ipc = c;
	pc->refs = 1;
	ipc_conn_set_data(c, pc);
}

static void
on_line(struct ipc_conn *c, const char *line, size_t len)
{
	struct pres_conn *pc = ipc_conn_data(c);

	if (pc != NULL)
		pres_dispatch(pc, line, len);
}

static void
on_close(struct ipc_conn *c)
{
	struct pres_conn *pc = ipc_conn_data(c);

	if (pc == NULL)
		return;
	pres_conn_closed(pc);
	pc->ipc = NULL;
	pres_conn_unref(pc);
}

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	log_info("signal %d: stopping", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

int
main(int argc, char **argv)
{
	static const struct ipc_handlers h = { on_line, on_open, on_close };
	char err[512], path[512], store_path[512];
	struct ev_loop *loop = EV_DEFAULT;
	ev_signal sigterm, sigint;

	const char *own = NULL;
	int leased = 0;

	log_init("presenced");
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
			return 0;
		}
		if (strcmp(argv[i], "--leased") == 0) {
			leased = 1;
			continue;
		}
		if (strcmp(argv[i], "--name") == 0 && i + 1 < argc &&
		    *argv[i + 1] != '\0' && strchr(argv[i + 1], '/') == NULL) {
			own = argv[++i];
			continue;
		}
		fprintf(stderr, "presenced: unknown argument '%s'\n%s", argv[i],
		    usage);
		return EXIT_USAGE;
	}
	if (conf_load(err, sizeof(err)) == -1)
		fatalx(EXIT_USAGE, "%s", err);
	long long timeout = conf_int("presence_timeout");
	long long maxline = conf_int("ipc_max_line");
	if (timeout < 1 || timeout > 86400)
		fatalx(EXIT_USAGE, "presence_timeout must be 1 to 86400 seconds");
	if (maxline < 4096)
		fatalx(EXIT_USAGE, "ipc_max_line must be at least 4096");
	long long nshards = conf_int("presence_shards");
	long long shard = conf_int("presence_shard");
	if (nshards < 1 || nshards > SHARD_MAX)
		fatalx(EXIT_USAGE, "presence_shards must be 1 to %d", SHARD_MAX);
	if (shard < 0 || shard >= nshards)
		fatalx(EXIT_USAGE, "presence_shard must be 0 to %lld",
		    nshards - 1);
	if (mkdir_p(conf_run(), 0700) == -1)
		fatal(EXIT_TEMP, "unable to make '%s'", conf_run());
	signal(SIGPIPE, SIG_IGN);

	conf_sock_path("store", store_path, sizeof(store_path));
	struct ipc_client *store = ipc_client_new(loop, store_path, NULL, NULL,
	    NULL);
	if (store == NULL)
		fatalx(EXIT_USAGE, "bad store socket path '%s'", store_path);
	pres_state_init(loop, (double)timeout);
	/* After a restart, chatds re-sync within a second or two; a user
	 * the store calls online that none announced by then is offline. */
	pres_store_init(loop, store, (double)timeout + 1.0, leased);

	pres_shard_init(loop, (unsigned)nshards, (unsigned)shard);

	char sock[64] = "presence";
	if (own != NULL)
		snprintf(sock, sizeof(sock), "%s", own);
	else if (nshards > 1)
		snprintf(sock, sizeof(sock), "presence-%lld", shard);
	conf_sock_path(sock, path, sizeof(path));
	struct ipc_server *srv = ipc_listen(loop, path, (size_t)maxline, &h,
	    NULL, err, sizeof(err));
	if (srv == NULL)
		fatalx(EXIT_TEMP, "%s", err);
	ev_signal_init(&sigterm, on_signal, SIGTERM);
	ev_signal_init(&sigint, on_signal, SIGINT);
	ev_signal_start(loop, &sigterm);
	ev_signal_start(loop, &sigint);
	log_info("listening on '%s', presence_timeout %lld s, shard %lld of "
	    "%lld", path, timeout, shard, nshards);
	notify_ready();
	ev_run(loop, 0);

	/* Calls still out to chat-store (a load, a change, a query) hold
	 * memory their callbacks free: answer them "unavailable" now, while
	 * the chatd connections they may write to are still open. */
	ipc_client_cancel_all(store);
	ipc_server_close(srv);
	pres_shard_stop();
	ipc_client_free(store);
	log_info("stopped: %lu devices, %lu users online", pres_ndevices(),
	    pres_nonline());
	return 0;
}
