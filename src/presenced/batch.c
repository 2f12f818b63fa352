/*
 * batch: the fast path for presence.batch, the line that carries every
 * heartbeat.  Parsing it with libjq made an object, a string and a hash
 * insert per field of every event and was most of presenced's CPU; this
 * scanner reads the line once, in place, into a reused array of spans, and
 * checks every event before applying any.  It accepts the plain form chatd
 * writes (any key order, any whitespace, unknown fields skipped); anything
 * unusual (an escape in a name, a non-integer id, a bad event) returns 0 and
 * the line takes the general path in ops.c, which gives the exact error.
 * So the two paths never both apply a line.
 */
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "util.h"
#include "presenced.h"

#define MAX_DEPTH	16

struct scan {
	const char	*p, *end;
};

struct span_ev {
	const char	*user, *device;
	size_t		 ulen, dlen;
	enum pres_kind	 kind;
	int64_t		 ts;
};

static struct span_ev	*evs;
static size_t		 evcap;

static void
ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	    *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int
lit(struct scan *s, char c)
{
	ws(s);
	if (s->p < s->end && *s->p == c) {
		s->p++;
		return 1;
	}
	return 0;
}

/* A string without escapes or control bytes. */
static int
str(struct scan *s, const char **b, size_t *n)
{
	ws(s);
	if (s->p >= s->end || *s->p != '"')
		return -1;
	*b = ++s->p;
	while (s->p < s->end && *s->p != '"') {
		if (*s->p == '\\' || (unsigned char)*s->p < 0x20)
			return -1;
		s->p++;
	}
	if (s->p >= s->end)
		return -1;
	*n = (size_t)(s->p - *b);
	s->p++;
	return 0;
}

static int
integer(struct scan *s, int64_t *v)
{
	int neg = 0, digits = 0;
	int64_t x = 0;

	ws(s);
	if (s->p < s->end && *s->p == '-') {
		neg = 1;
		s->p++;
	}
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
		if (++digits > 18)
			return -1;
		x = x * 10 + (*s->p++ - '0');
	}
	if (digits == 0 || (s->p < s->end && (*s->p == '.' || *s->p == 'e' ||
	    *s->p == 'E')))
		return -1;
	*v = neg ? -x : x;
	return 0;
}

/* Skips any value; structure is checked loosely (the general path is the
 * judge of anything this accepts that jq would not: see the top). */
static int
skip(struct scan *s, int depth)
{
	const char *b;
	size_t n;

	ws(s);
	if (s->p >= s->end || depth > MAX_DEPTH)
		return -1;
	if (*s->p == '"')
		return str(s, &b, &n);
	if (*s->p == '{' || *s->p == '[') {
		char close = *s->p == '{' ? '}' : ']';
		int obj = *s->p == '{';
		s->p++;
		if (lit(s, close))
			return 0;
		do {
			if (obj && (str(s, &b, &n) == -1 || !lit(s, ':')))
				return -1;
			if (skip(s, depth + 1) == -1)
				return -1;
		} while (lit(s, ','));
		return lit(s, close) ? 0 : -1;
	}
	const char *start = s->p;
	while (s->p < s->end && *s->p != '\0' &&
	    strchr("-+.0123456789eEtruefalsn", *s->p) != NULL)
		s->p++;
	return s->p > start ? 0 : -1;
}

static int
is(const char *b, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(b, word, n) == 0;
}

static int
kind_of(const char *b, size_t n, enum pres_kind *k)
{
	if (is(b, n, "beat"))
		*k = PK_BEAT;
	else if (is(b, n, "connect"))
		*k = PK_CONNECT;
	else if (is(b, n, "bye"))
		*k = PK_BYE;
	else if (is(b, n, "close"))
		*k = PK_CLOSE;
	else if (is(b, n, "drop"))
		*k = PK_DROP;
	else
		return -1;
	return 0;
}

static int
one_event(struct scan *s, struct span_ev *e)
{
	const char *k, *v;
	size_t kn, vn;

	memset(e, 0, sizeof(*e));
	e->kind = (enum pres_kind)-1;
	if (!lit(s, '{'))
		return -1;
	if (lit(s, '}'))
		return -1;
	do {
		if (str(s, &k, &kn) == -1 || !lit(s, ':'))
			return -1;
		if (is(k, kn, "ts")) {
			if (integer(s, &e->ts) == -1)
				return -1;
		} else if (is(k, kn, "user") || is(k, kn, "device") ||
		    is(k, kn, "kind")) {
			if (str(s, &v, &vn) == -1)
				return -1;
			if (k[0] == 'u') {
				e->user = v;
				e->ulen = vn;
			} else if (k[0] == 'd') {
				e->device = v;
				e->dlen = vn;
			} else if (kind_of(v, vn, &e->kind) == -1)
				return -1;
		} else if (skip(s, 1) == -1)
			return -1;
	} while (lit(s, ','));
	if (!lit(s, '}') || e->user == NULL || e->device == NULL ||
	    (int)e->kind == -1 || e->ulen > 32 || e->dlen > 64)
		return -1;
	return 0;
}

static int
add_event(size_t i)
{
	if (i < evcap)
		return 0;
	size_t cap = evcap ? evcap * 2 : 1024;
	struct span_ev *n = realloc(evs, cap * sizeof(*n));
	if (n == NULL)
		return -1;
	evs = n;
	evcap = cap;
	return 0;
}

int
pres_batch_fast(struct pres_conn *pc, const char *line, size_t len)
{
	struct scan s = { line, line + len };
	const char *k, *op = NULL, *chatd = NULL;
	size_t kn, opn = 0, chatdn = 0, nev = 0;
	int64_t id = 0;
	int has_id = 0, has_events = 0;
	char name[PRES_CHATD_MAX + 1], user[33], device[65];

	if (!lit(&s, '{'))
		return 0;
	do {
		if (str(&s, &k, &kn) == -1 || !lit(&s, ':'))
			return 0;
		if (is(k, kn, "op")) {
			if (str(&s, &op, &opn) == -1)
				return 0;
		} else if (is(k, kn, "chatd")) {
			if (str(&s, &chatd, &chatdn) == -1)
				return 0;
		} else if (is(k, kn, "id")) {
			if (integer(&s, &id) == -1)
				return 0;
			has_id = 1;
		} else if (is(k, kn, "events")) {
			if (has_events || !lit(&s, '['))
				return 0;
			has_events = 1;
			if (!lit(&s, ']')) {
				do {
					if (add_event(nev) == -1 ||
					    one_event(&s, &evs[nev]) == -1)
						return 0;
					nev++;
				} while (lit(&s, ','));
				if (!lit(&s, ']'))
					return 0;
			}
		} else if (skip(&s, 1) == -1)
			return 0;
	} while (lit(&s, ','));
	if (!lit(&s, '}'))
		return 0;
	ws(&s);
	if (s.p != s.end || op == NULL || !is(op, opn, "presence.batch") ||
	    !has_events || chatd == NULL || chatdn > PRES_CHATD_MAX)
		return 0;
	memcpy(name, chatd, chatdn);
	name[chatdn] = '\0';
	if (!pres_valid_chatd(name))
		return 0;
	/* Check every event before applying any. */
	for (size_t i = 0; i < nev; i++) {
		memcpy(user, evs[i].user, evs[i].ulen);
		user[evs[i].ulen] = '\0';
		memcpy(device, evs[i].device, evs[i].dlen);
		device[evs[i].dlen] = '\0';
		if (!valid_user(user) || !valid_device(device))
			return 0;
	}
	struct pres_chatd *cd = pres_chatd_claim(pc, name);
	if (cd == NULL)
		return 0;
	unsigned long applied = 0;
	for (size_t i = 0; i < nev; i++) {
		memcpy(user, evs[i].user, evs[i].ulen);
		user[evs[i].ulen] = '\0';
		memcpy(device, evs[i].device, evs[i].dlen);
		device[evs[i].dlen] = '\0';
		if (pres_event(cd, user, device, evs[i].kind, evs[i].ts) == 0)
			applied++;
	}
	pres_stats.batches++;
	pres_stats.events += applied;
	pres_stats.bad_events += nev - applied;
	if (has_id && pc->ipc != NULL) {
		char reply[128];
		int n;
		if (applied == nev)
			n = snprintf(reply, sizeof(reply), "{\"id\":%lld,\"ok\":"
			    "true,\"applied\":%lu}", (long long)id, applied);
		else
			n = snprintf(reply, sizeof(reply), "{\"id\":%lld,\"ok\":"
			    "false,\"error\":{\"code\":\"internal\",\"message\":"
			    "\"out of memory: %lu of %zu events applied\"}}",
			    (long long)id, applied, nev);
		ipc_send(pc->ipc, reply, (size_t)n);
	}
	return 1;
}
