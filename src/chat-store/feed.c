/*
 * feed: committed messages to the route shards that follow them (feed.h).
 *
 * With route shards, messages to one user are appended by many shards, and
 * a shard that delivered each message it appended, plus forwards from the
 * others, could deliver a newer id before an older one.  The store is the
 * one place where ids are given in commit order, so it tells each route
 * shard, in that order, which committed messages have recipients on that
 * shard: the loop gets a batch's requests back from the worker in the
 * order they ran (commit.h), after the batch's sync, and feed_done writes
 * one event line per message and following shard:
 *
 *   {"ev":"feed","mid":..,"ts":..,"dup":..,"from":..,"device":..,
 *    "users":[recipients on the shard],"frame":{the client's msg frame}}
 *
 * "frame" is last, so the route cuts it from the line as bytes.  A dup (a
 * resend) is fed again: the first feed may have been lost with a route
 * that crashed, and chatd drops an id a device has already.  What commits
 * while a shard follows nothing (its connection down, or before its
 * feed.follow) is in the inboxes; the route has its devices re-read them
 * once it follows again (chat-route(1), "Shards").
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ipc.h"
#include "json.h"
#include "log.h"
#include "shard.h"
#include "append.h"
#include "commit.h"
#include "feed.h"

#define FEED_MAX	64		/* followers */

static struct {
	struct ipc_conn	*c;
	unsigned	 shard, shards;
} fol[FEED_MAX];
static size_t nfol;
static int op_append = -1;

void
feed_follow(struct ipc_conn *c, jv req, jv id)
{
	int64_t k = -1, n = 0;
	size_t i;

	json_int(req, "shard", &k);
	json_int(req, "shards", &n);
	jv_free(req);
	if (n < 2 || n > SHARD_MAX || k < 0 || k >= n) {
		ipc_send_jv(c, json_error(id, "bad_request", "feed.follow needs "
		    "'shards' (2 to 1024) and 'shard' below it"));
		return;
	}
	for (i = 0; i < nfol && fol[i].c != c; i++)
		;
	if (i == nfol) {
		if (nfol == FEED_MAX) {
			ipc_send_jv(c, json_error(id, "store_unavailable",
			    "too many feeds"));
			return;
		}
		nfol++;
	}
	fol[i].c = c;
	fol[i].shard = (unsigned)k;
	fol[i].shards = (unsigned)n;
	log_info("feed: %s follows route shard %u of %u", ipc_conn_name(c),
	    fol[i].shard, fol[i].shards);
	ipc_send_jv(c, json_ok(id));
}

void
feed_conn_closed(struct ipc_conn *c)
{
	for (size_t i = 0; i < nfol; i++)
		if (fol[i].c == c) {
			fol[i] = fol[--nfol];
			return;
		}
}

static struct buf line;		/* the event being built, reused */

#define A(s) buf_adds(&line, (s))
#define J(s, n) buf_add_json_str(&line, (s), (n))

/* The message's fields, from the fast path's args or the jv request. */
struct fmsg {
	const char	*from, *device, *cid, *target, *body;
	size_t		 blen;
	int		 group;
};

static int
fields(const struct store_req *r, struct fmsg *m)
{
	if (r->fast != NULL) {
		m->from = r->fast->from;
		m->device = r->fast->device;
		m->cid = r->fast->cid;
		m->target = r->fast->target;
		m->group = r->fast->group;
		m->body = r->fast->body;
		m->blen = r->fast->blen;
		return 0;
	}
	m->from = json_str(r->req, "from", NULL);
	m->device = json_str(r->req, "device", NULL);
	m->cid = json_str(r->req, "cid", NULL);
	m->group = (m->target = json_str(r->req, "to", NULL)) == NULL;
	if (m->group)
		m->target = json_str(r->req, "group", NULL);
	m->body = json_str(r->req, "body", &m->blen);
	return m->from && m->device && m->cid && m->target && m->body ? 0 : -1;
}

/* The event of message m (reply borrowed) for shard of shards, in buf:
 * 0, 1 if it has no recipients there, -1 out of memory. */
static int
build(const struct fmsg *m, jv reply, unsigned shard, unsigned shards)
{
	const char *mid = json_str(reply, "mid", NULL);
	int64_t ts = 0;
	char num[32];
	int users = 0;

	json_int(reply, "ts", &ts);
	line.len = 0;
	if (A("{\"ev\":\"feed\",\"mid\":\"") || A(mid) || A("\",\"ts\":"))
		return -1;
	snprintf(num, sizeof(num), "%" PRId64, ts);
	if (A(num) || A(json_bool(reply, "dup", 0) ? ",\"dup\":true" :
	    ",\"dup\":false") || A(",\"from\":") ||
	    J(m->from, strlen(m->from)) || A(",\"device\":") ||
	    J(m->device, strlen(m->device)) || A(",\"users\":["))
		return -1;
	jv rcpt = jv_object_get(jv_copy(reply), jv_string("recipients"));
	if (jv_get_kind(rcpt) == JV_KIND_ARRAY)
		jv_array_foreach(rcpt, i, u) {
			if (jv_get_kind(u) == JV_KIND_STRING &&
			    shard_of(jv_string_value(u), (size_t)
			    jv_string_length_bytes(jv_copy(u)), shards) ==
			    shard) {
				if ((users++ > 0 && A(",")) ||
				    J(jv_string_value(u), (size_t)
				    jv_string_length_bytes(jv_copy(u)))) {
					jv_free(u);
					jv_free(rcpt);
					return -1;
				}
			}
			jv_free(u);
		}
	jv_free(rcpt);
	if (users == 0)
		return 1;
	/* the frame, as chat-route writes it with one shard (send.c) */
	if (A("],\"frame\":{\"type\":\"msg\",\"id\":\"") || A(mid) ||
	    A("\",\"from\":") || J(m->from, strlen(m->from)) ||
	    A(m->group ? ",\"group\":" : ",\"to\":") ||
	    J(m->target, strlen(m->target)) || A(",\"body\":") ||
	    J(m->body, m->blen) || A(",\"ts\":") || A(num) ||
	    A(",\"cid\":") || J(m->cid, strlen(m->cid)) || A("}}"))
		return -1;
	return 0;
}

void
feed_done(struct store_req *r)
{
	struct fmsg m;

	if (nfol == 0 || r->reply == NULL)
		return;
	if (op_append < 0)
		op_append = ops_find("msg.append", 10);
	if (r->op != op_append || memmem(r->reply, r->replylen,
	    "\"ok\":true", 9) == NULL)
		return;
	jv reply = jv_parse_sized(r->reply, (int)r->replylen);
	if (jv_get_kind(reply) != JV_KIND_OBJECT ||
	    json_str(reply, "mid", NULL) == NULL || fields(r, &m) == -1) {
		log_warnx("feed: a msg.append reply without its message");
		jv_free(reply);
		return;
	}
	for (size_t i = 0; i < nfol; i++) {
		int b = build(&m, reply, fol[i].shard, fol[i].shards);
		if (b == -1)
			log_warnx("feed: out of memory: route shard %u "
			    "resyncs after it follows again", fol[i].shard);
		if (b == -1) {
			/* its devices would miss it: make it follow again */
			ipc_close(fol[i].c);
			continue;
		}
		if (b == 0)
			ipc_send(fol[i].c, line.p, line.len);
	}
	jv_free(reply);
	if (line.cap > 1024 * 1024)
		buf_free(&line);
}
