/*
 * node: the built-in stack of a node on the bus (chat-super(1), "A node on
 * the bus"; chat-scaling(7)).
 *
 * With the config key bus set and no stack.conf, a machine is one command:
 * chat-super runs the services named in node_services and reaches the rest
 * over NATS.  Each service keeps its name in the stack whether it runs here
 * or not: "route" is chat-route on a node that runs it and the chat-bus
 * socket that carries its lines elsewhere on one that does not, so what
 * needs it ("chatd route") is written once.  A local service is also
 * served on the bus ("bus-route": chat-bus serve route) for the other
 * nodes; a local chatd is put in the discovery bucket ("bus-register").
 * Links on which the daemon writes unasked (chat-route and presenced to
 * chatd) are carried as sessions; chat-store and chat-push answer
 * requests only.  With msg_log = jetstream a node that runs the store
 * also runs chat-log, its shard's applier of the message log.
 */
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "super.h"

static const struct {
	const char	*name, *needs, *daemon, *attach;
} services[] = {
	{ "store", "-", "chat-store", "chat-bus attach store" },
	{ "route", "store", "chat-route",
	    "chat-bus --session --discover attach route" },
	{ "presence", "store", "presenced",
	    "chat-bus --session attach presence" },
	{ "push", "store", "chat-push", "chat-bus attach push" },
};

/* 1 if name is in the comma list l (blanks around names allowed). */
static int
listed(const char *l, const char *name)
{
	size_t n = strlen(name);

	while (l != NULL && *l != '\0') {
		while (*l == ' ' || *l == '\t' || *l == ',')
			l++;
		if (strncmp(l, name, n) == 0 && strchr(", \t", l[n]) != NULL)
			return 1;
		l += strcspn(l, ",");
	}
	return 0;
}

/* Checks node_services names only known services; -1 with err. */
static int
check(const char *l, char *err, size_t errlen)
{
	char w[64];

	while (l != NULL && *l != '\0') {
		size_t n;

		while (*l == ' ' || *l == '\t' || *l == ',')
			l++;
		n = strcspn(l, ", \t");
		if (n == 0)
			break;
		snprintf(w, sizeof(w), "%.*s", (int)n, l);
		if (strcmp(w, "chatd") != 0 && strcmp(w, "api") != 0 &&
		    strcmp(w, "store") != 0 && strcmp(w, "route") != 0 &&
		    strcmp(w, "presence") != 0 && strcmp(w, "push") != 0) {
			snprintf(err, errlen, "node_services: unknown service "
			    "'%s' (store, route, presence, push, chatd, api)",
			    w);
			return -1;
		}
		l += n;
	}
	return 0;
}

int
node_stack(char *buf, size_t len, char *err, size_t errlen)
{
	const char *l = conf_get("node_services");
	size_t n = 0, i;

#define ADD(...) do {							\
	n += (size_t)snprintf(buf + n, n < len ? len - n : 0, __VA_ARGS__); \
} while (0)
	if (check(l, err, errlen) == -1)
		return -1;
	buf[0] = '\0';
	for (i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
		if (listed(l, services[i].name)) {
			ADD("%-12s %-9s %s\n", services[i].name,
			    services[i].needs, services[i].daemon);
			ADD("bus-%-8s %-9s chat-bus serve %s\n",
			    services[i].name, services[i].name,
			    services[i].name);
		} else
			ADD("%-12s %-9s %s\n", services[i].name, "-",
			    services[i].attach);
	}
	if (listed(l, "store") && strcmp(conf_get("msg_log"), "jetstream") == 0)
		ADD("%-12s %-9s %s\n", "log", "store", "chat-log");
	if (listed(l, "chatd")) {
		ADD("%-12s %-9s %s\n", "chatd", "route", "chatd");
		ADD("%-12s %-9s %s\n", "bus-register", "chatd",
		    "chat-bus register");
	}
	if (listed(l, "api"))
		ADD("%-12s %-9s %s\n", "api", "store", "chat-api");
#undef ADD
	if (n >= len) {
		snprintf(err, errlen, "node stack longer than %zu bytes", len);
		return -1;
	}
	return 0;
}
