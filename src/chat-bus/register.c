/*
 * register: this machine's chatds in the discovery bucket (kv.c).
 *
 * Every --every seconds chat-bus asks each local chatd for its status on
 * its control socket ($CHAT_RUN/chatd-PORT.sock: the names given, or every
 * such socket found there) and puts {"name","url","conns","node","at"}
 * under NODE.chatd-PORT.  A chatd that stops answering is not put again
 * and leaves the bucket when the TTL runs out; so does every chatd of a
 * machine that dies whole.  chatd itself is unchanged: what it already
 * reports on its control socket is what discovery needs.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "bus.h"
#include "conf.h"
#include "ipc.h"
#include "json.h"
#include "log.h"
#include "util.h"
#include "chat-bus.h"

struct reg {
	char		 name[64];
	struct ipc_client *cl;
	int		 asking;
	int		 told;		/* last put went out */
	struct reg	*next;
};

static struct reg *regs;
static struct bus *bus;
static char node[64];
static int scan_run;		/* no names given: find the sockets */
static unsigned long nputs;

static void
add(struct ev_loop *loop, const char *name)
{
	char path[512];
	struct reg *r;

	for (r = regs; r != NULL; r = r->next)
		if (strcmp(r->name, name) == 0)
			return;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return;
	snprintf(r->name, sizeof(r->name), "%s", name);
	if ((r->cl = ipc_client_new(loop, conf_sock_path(name, path,
	    sizeof(path)), NULL, NULL, NULL)) == NULL) {
		free(r);
		return;
	}
	r->next = regs;
	regs = r;
	log_info("registering '%s' as '%s.%s'", path, node, name);
}

/* Every chatd-PORT.sock in $CHAT_RUN. */
static void
scan(struct ev_loop *loop)
{
	DIR *d = opendir(conf_run());
	struct dirent *de;
	char name[64];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (strncmp(de->d_name, "chatd-", 6) == 0 && n > 5 + 6 &&
		    n < sizeof(name) && strcmp(de->d_name + n - 5,
		    ".sock") == 0) {
			snprintf(name, sizeof(name), "%.*s", (int)(n - 5),
			    de->d_name);
			add(loop, name);
		}
	}
	closedir(d);
}

static void
on_status(void *arg, jv r)
{
	struct reg *g = arg;
	const char *url = json_str(r, "url", NULL);
	int64_t conns = 0;
	char key[160];

	g->asking = 0;
	if (!json_bool(r, "ok", 0) || url == NULL) {
		if (g->told)
			log_info("'%s' does not answer: no longer put (it "
			    "leaves the bucket after the TTL)", g->name);
		g->told = 0;
		jv_free(r);
		return;
	}
	json_int(r, "conns", &conns);
	jv v = jv_object_set(jv_object(), jv_string("name"),
	    jv_string(g->name));
	v = jv_object_set(v, jv_string("url"), jv_string(url));
	v = jv_object_set(v, jv_string("conns"), jv_number((double)conns));
	v = jv_object_set(v, jv_string("node"), jv_string(node));
	v = jv_object_set(v, jv_string("at"), jv_number((double)kv_now_ms()));
	snprintf(key, sizeof(key), "%s.%s", node, g->name);
	if (kv_put(bus, key, v) == 0) {
		nputs++;
		if (!g->told)
			log_info("'%s' put in the bucket (%s, %lld conns)",
			    key, url, (long long)conns);
		g->told = 1;
	}
	jv_free(v);
	jv_free(r);
}

static void
on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	if (scan_run)
		scan(loop);
	for (struct reg *r = regs; r != NULL; r = r->next) {
		if (r->asking)
			continue;
		r->asking = 1;
		ipc_call(r->cl, jv_object_set(jv_object(), jv_string("op"),
		    jv_string("status")), bo.every * 1000, on_status, r);
	}
}

int
mode_register(int argc, char **argv)
{
	struct ev_loop *loop = ev_default_loop(0);
	ev_timer tick;

	node_name(node, sizeof(node));
	stop_on_signals(loop);
	bus = bus_connect(loop, "chat-bus register", NULL);
	kv_bucket_ensure(bus, bo.ttl, bo.replicas);
	for (int i = 1; i < argc; i++)
		add(loop, argv[i]);
	scan_run = argc < 2;
	ev_timer_init(&tick, on_tick, 0.0, bo.every);
	ev_timer_start(loop, &tick);
	log_info("putting %s's chatds in '%s' every %d s (TTL %d s)", node,
	    KV_BUCKET, bo.every, bo.ttl);
	notify_ready();
	ev_run(loop, 0);
	log_info("stopped after %lu puts", nputs);
	for (struct reg *r = regs, *n; r != NULL; r = n) {
		n = r->next;
		ipc_client_free(r->cl);
		free(r);
	}
	bus_close(bus);
	return 0;
}
