/*
 * limits: connections per peer address (see limits.h).
 *
 * Two tables, both strmap: address -> struct peer {count}, and the wsi
 * pointer's bytes -> struct tracked {wsi, peer}.  lws calls
 * FILTER_NETWORK_CONNECTION with the new socket, then, in the same call
 * chain, WSI_CREATE for the wsi it makes of it: the address checked in the
 * first is kept for the second.  Other wsis (listeners, lws's own pipe)
 * are created with nothing pending and are not tracked.
 *
 * Users are counted in two more tables of the same kinds (user name ->
 * struct peer, wsi -> struct tracked), filled at auth and emptied at
 * WSI_DESTROY like the others.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "limits.h"
#include "strmap.h"

struct peer {
	unsigned	 n;
	char		 addr[INET6_ADDRSTRLEN];
};

struct tracked {
	struct lws	*wsi;		/* also the key's bytes */
	struct peer	*peer;
};

static struct strmap peers, wsis;
static struct strmap users, uwsis;	/* max_conns_per_user */
static unsigned cap, ucap;
static unsigned long urefused;
static char pending[INET6_ADDRSTRLEN];	/* checked, its wsi not yet made */
static unsigned long refused;

void
limits_init(unsigned max)
{
	cap = max;
	strmap_init(&peers);
	strmap_init(&wsis);
	strmap_init(&users);
	strmap_init(&uwsis);
}

static void
free_all(struct strmap *m)
{
	size_t i = 0;
	void *v;

	while ((v = strmap_next(m, &i)) != NULL)
		free(v);
	strmap_free(m);
}

void
limits_free(void)
{
	free_all(&wsis);
	free_all(&peers);
	free_all(&uwsis);
	free_all(&users);
}

static int
peer_addr(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == -1)
		return -1;
	if (ss.ss_family == AF_INET)
		return inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
		    out, (socklen_t)len) ? 0 : -1;
	if (ss.ss_family == AF_INET6)
		return inet_ntop(AF_INET6,
		    &((struct sockaddr_in6 *)&ss)->sin6_addr, out,
		    (socklen_t)len) ? 0 : -1;
	return -1;
}

static int
on_filter(int fd)
{
	char addr[INET6_ADDRSTRLEN];
	struct peer *p;

	pending[0] = '\0';
	if (cap == 0 || peer_addr(fd, addr, sizeof(addr)) == -1)
		return 0;
	p = strmap_get(&peers, addr, strlen(addr));
	if (p != NULL && p->n >= cap) {
		if (refused++ % 1000 == 0)	/* a flood: not a line each */
			log_warnx("%s holds %u connections (max_conns_per_ip): "
			    "refusing more (%lu refused so far)", addr, p->n,
			    refused);
		return -1;
	}
	memcpy(pending, addr, sizeof(pending));
	return 0;
}

static void
on_create(struct lws *wsi)
{
	struct peer *p;
	struct tracked *t;

	if (pending[0] == '\0')
		return;
	p = strmap_get(&peers, pending, strlen(pending));
	if (p == NULL) {
		if ((p = calloc(1, sizeof(*p))) == NULL)
			goto out;
		memcpy(p->addr, pending, sizeof(p->addr));
		if (strmap_put(&peers, p->addr, strlen(p->addr), p) ==
		    STRMAP_NOMEM) {
			free(p);
			p = NULL;
			goto out;
		}
	}
	if ((t = malloc(sizeof(*t))) == NULL)
		goto out;
	t->wsi = wsi;
	t->peer = p;
	if (strmap_put(&wsis, (const char *)&t->wsi, sizeof(t->wsi), t) ==
	    STRMAP_NOMEM) {
		free(t);
		goto out;
	}
	p->n++;
out:
	if (p != NULL && p->n == 0) {
		strmap_del(&peers, p->addr, strlen(p->addr));
		free(p);
	}
	pending[0] = '\0';
}

static void
untrack(struct strmap *byname, struct strmap *bywsi, struct lws *wsi)
{
	struct tracked *t = strmap_del(bywsi, (const char *)&wsi, sizeof(wsi));

	if (t == NULL)
		return;
	if (--t->peer->n == 0) {
		strmap_del(byname, t->peer->addr, strlen(t->peer->addr));
		free(t->peer);
	}
	free(t);
}

static void
on_destroy(struct lws *wsi)
{
	untrack(&peers, &wsis, wsi);
	untrack(&users, &uwsis, wsi);
}

int
limits_callback(struct lws *wsi, enum lws_callback_reasons reason, void *in)
{
	switch (reason) {
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		return on_filter((int)(lws_intptr_t)in);
	case LWS_CALLBACK_WSI_CREATE:
		on_create(wsi);
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		on_destroy(wsi);
		return 0;
	default:
		return 0;
	}
}

unsigned long
limits_refused(void)
{
	return refused;
}

unsigned long
limits_peers(void)
{
	return peers.n;
}

void
limits_user_init(unsigned max)
{
	ucap = max;
}

int
limits_user_take(struct lws *wsi, const char *user, int force)
{
	size_t len = strlen(user);
	struct peer *u;
	struct tracked *t;

	if (ucap == 0 || len >= sizeof(u->addr) ||
	    strmap_get(&uwsis, (const char *)&wsi, sizeof(wsi)) != NULL)
		return 0;
	u = strmap_get(&users, user, len);
	if (u != NULL && u->n >= ucap && !force) {
		if (urefused++ % 1000 == 0)	/* a flood: not a line each */
			log_warnx("'%s' holds %u connections "
			    "(max_conns_per_user): refusing more (%lu refused "
			    "so far)", user, u->n, urefused);
		return -1;
	}
	if (u == NULL) {
		if ((u = calloc(1, sizeof(*u))) == NULL)
			return 0;	/* uncounted rather than refused */
		memcpy(u->addr, user, len + 1);
		if (strmap_put(&users, u->addr, len, u) == STRMAP_NOMEM) {
			free(u);
			return 0;
		}
	}
	if ((t = malloc(sizeof(*t))) == NULL)
		goto out;
	t->wsi = wsi;
	t->peer = u;
	if (strmap_put(&uwsis, (const char *)&t->wsi, sizeof(t->wsi), t) ==
	    STRMAP_NOMEM) {
		free(t);
		goto out;
	}
	u->n++;
out:
	if (u->n == 0) {
		strmap_del(&users, u->addr, len);
		free(u);
	}
	return 0;
}

unsigned long
limits_user_refused(void)
{
	return urefused;
}

unsigned long
limits_users(void)
{
	return users.n;
}
