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
 *
 * A service sharded by user (its table line names the key of its number
 * of shards, e.g. route_shards) with more than one shard is one line per
 * shard: "route-k" is chat-route with CHAT_ROUTE_SHARD=k on the node whose
 * route_shard is k (served on chat.route.k by "bus-route-k"), and a
 * session on chat.route.k elsewhere; what needs the service needs every
 * shard.  The unsharded name stays for chat-api (chatd.list, device.kick):
 * shard 0's process listens on it too, and the other nodes attach it to
 * chat.route.0.
 *
 * When bus_leases names the service, a shard may also run on the nodes
 * whose node_standby names it ("route-1"), and the lease decides which one
 * serves: the shard's process listens on a socket of its own ("route-k-own",
 * with --leased it acts unasked only while it owns the lease), served by
 * "bus-route-k" (chat-bus serve --lease --tell, --standby on a standby
 * node so the node named by route_shard takes it first), and every local
 * user, chatd and chat-api's "route" too, goes through the session
 * "route-k" like any other node: whoever holds the lease is the only
 * process anyone reaches, and when it dies the sessions end and open again
 * at the standby that took the lease.
 */
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "super.h"

static const struct {
	const char	*name, *needs, *daemon, *attach;
	const char	*shards;	/* key: how many shards, or NULL */
	const char	*env;		/* the shard's variable: ENV=k */
	int		 standby;	/* its daemon takes --name, --leased */
} services[] = {
	{ "store", "-", "chat-store", "chat-bus attach store", NULL, NULL, 0 },
	{ "route", "store", "chat-route",
	    "chat-bus --session --discover attach route", "route_shards",
	    "CHAT_ROUTE_SHARD", 1 },
	{ "presence", "store", "presenced",
	    "chat-bus --session attach presence", "presence_shards",
	    "CHAT_PRESENCE_SHARD", 1 },
	{ "push", "store", "chat-push", "chat-bus attach push", NULL, NULL, 0 },
};

/* How this node reaches service i elsewhere.  Route shards follow the
 * store's feed (events on the store link, unasked), which only a session
 * carries; with one route shard the store answers requests only. */
static const char *
attach_line(size_t i)
{
	if (strcmp(services[i].name, "store") == 0 &&
	    conf_int("route_shards") > 1)
		return "chat-bus --session attach store";
	return services[i].attach;
}

/* The number of shards of service i (1 if not sharded). */
static unsigned
nshards(size_t i)
{
	long long n = services[i].shards ? conf_int(services[i].shards) : 1;

	return n > 1 && n <= SUPER_MAX_NEEDS - 1 ? (unsigned)n : 1;
}

/* The shard this node runs of service i: the key without its "s". */
static unsigned
own_shard(size_t i)
{
	char key[64];

	snprintf(key, sizeof(key), "%.*s", (int)strlen(services[i].shards) - 1,
	    services[i].shards);
	return (unsigned)conf_int(key);
}

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

/* 1 if the shards of service i are served by lease: bus_leases names it
 * and its daemon can stand by (--name, --leased). */
static int
by_lease(size_t i)
{
	return services[i].standby && listed(conf_get("bus_leases"),
	    services[i].name);
}

/* 1 if node_standby names shard k of service i ("route-1"). */
static int
stands_by(size_t i, unsigned k)
{
	char w[SUPER_NAME_MAX];

	snprintf(w, sizeof(w), "%s-%u", services[i].name, k);
	return listed(conf_get("node_standby"), w);
}

/* Checks node_standby names shards of services this node runs and
 * serves by lease; -1 with err. */
static int
check_standby(const char *here, char *err, size_t errlen)
{
	const char *l = conf_get("node_standby");
	char w[SUPER_NAME_MAX], x[SUPER_NAME_MAX];

	while (l != NULL && *l != '\0') {
		size_t n, i;
		int ok = 0;

		while (*l == ' ' || *l == '\t' || *l == ',')
			l++;
		if ((n = strcspn(l, ", \t")) == 0)
			break;
		snprintf(w, sizeof(w), "%.*s", (int)n, l);
		for (i = 0; i < sizeof(services) / sizeof(services[0]); i++)
			for (unsigned k = 0; nshards(i) > 1 && k < nshards(i);
			    k++) {
				snprintf(x, sizeof(x), "%s-%u",
				    services[i].name, k);
				ok |= strcmp(w, x) == 0 && by_lease(i) &&
				    listed(here, services[i].name);
			}
		if (!ok) {
			snprintf(err, errlen, "node_standby: '%s' is not a "
			    "shard (route-K, K below route_shards) of a "
			    "service in node_services and bus_leases", w);
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
	if (check(l, err, errlen) == -1 || check_standby(l, err, errlen) == -1)
		return -1;
	buf[0] = '\0';
	for (i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
		unsigned ns = nshards(i), own = ns > 1 ? own_shard(i) : 0;
		const char *nm = services[i].name;
		int here = listed(l, nm);
		if (ns > 1 && here && own >= ns) {
			snprintf(err, errlen, "%.*s %u is not below %s %u",
			    (int)strlen(services[i].shards) - 1,
			    services[i].shards, own, services[i].shards, ns);
			return -1;
		}
		for (unsigned k = 0; ns > 1 && k < ns; k++) {
			if (here && by_lease(i) && (k == own ||
			    stands_by(i, k))) {
				ADD("%s-%u-own %-9s %s=%u %s --name %s-%u-own "
				    "--leased\n", nm, k, services[i].needs,
				    services[i].env, k, services[i].daemon, nm,
				    k);
				ADD("bus-%s-%u %s-%u-own chat-bus --lease --tell"
				    "%s --subject chat.%s.%u serve %s-%u-own\n",
				    nm, k, nm, k, k == own ? "" : " --standby",
				    nm, k, nm, k);
				ADD("%s-%-8u %-9s chat-bus --session --subject "
				    "chat.%s.%u attach %s-%u\n", nm, k, "-", nm,
				    k, nm, k);
			} else if (here && k == own) {
				ADD("%s-%-8u %-9s %s=%u %s\n", nm, k,
				    services[i].needs, services[i].env, k,
				    services[i].daemon);
				ADD("bus-%s-%-4u %s-%-6u chat-bus%s --subject "
				    "chat.%s.%u serve %s-%u\n", nm, k, nm, k,
				    listed(conf_get("bus_leases"), nm) ?
				    " --lease" : "", nm, k, nm, k);
			} else
				ADD("%s-%-8u %-9s chat-bus --session --subject "
				    "chat.%s.%u attach %s-%u\n", nm, k, "-", nm,
				    k, nm, k);
		}
		if (ns > 1) {
			/* the old name: shard 0's process, or chat.route.0 */
			if (!here || own != 0 || by_lease(i))
				ADD("%-12s %-9s %s\n", nm, "-",
				    services[i].attach);
			continue;
		}
		if (here) {
			ADD("%-12s %-9s %s\n", services[i].name,
			    services[i].needs, services[i].daemon);
			ADD("bus-%-8s %-9s chat-bus serve %s\n",
			    services[i].name, services[i].name,
			    services[i].name);
		} else
			ADD("%-12s %-9s %s\n", services[i].name, "-",
			    attach_line(i));
	}
	if (listed(l, "store") && strcmp(conf_get("msg_log"), "jetstream") == 0)
		ADD("%-12s %-9s %s\n", "log", "store", "chat-log");
	if (listed(l, "chatd")) {
		char needs[SUPER_MAX_NEEDS * SUPER_NAME_MAX] = "route";
		size_t rs = 0, nn = 0;
		while (strcmp(services[rs].name, "route") != 0)
			rs++;
		for (unsigned k = 0; nshards(rs) > 1 && k < nshards(rs); k++)
			nn += (size_t)snprintf(needs + nn, sizeof(needs) - nn,
			    "%sroute-%u", k ? "," : "", k);
		ADD("%-12s %-9s %s\n", "chatd", needs, "chatd");
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
