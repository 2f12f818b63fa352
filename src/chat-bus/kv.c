/*
 * kv: the discovery bucket chat_chatd, a JetStream key-value bucket
 * (chat-scaling(7), Discovery), spoken as JetStream's own subjects.
 *
 * libnats' kvStore calls block until the server answers, and here libnats
 * reads its socket on our own loop (lib/bus_ev.c): a blocking call would
 * wait for a reply only the loop it blocks could read.  So the bucket is
 * made, written and read with plain messages: a bucket is the stream
 * KV_chat_chatd over $KV.chat_chatd.>, one message a key, the last one
 * kept; a put is a publish to $KV.chat_chatd.<key>; the stream's max_age
 * is the TTL that removes a chatd nobody refreshes.
 *
 * The mirror (kv_mirror_start) keeps the live entries in memory, from the
 * bucket at start and then from every put as it is published, and answers
 * chatd.list from them as chat-route would, so chat-api's discovery reads
 * the bucket without a change: an entry whose "at" is older than the TTL
 * is not listed (so the registering machines' clocks must agree to well
 * under the TTL).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <ev.h>

#include "bus.h"
#include "json.h"
#include "log.h"
#include "chat-bus.h"

#define STREAM		"KV_" KV_BUCKET
#define PREFIX		"$KV." KV_BUCKET "."

struct entry {
	char		 key[128];
	jv		 val;		/* {"name","url","conns","node","at"} */
	struct entry	*next;
};

static struct {
	struct bus	*bus;
	int		 ttl;
	struct entry	*all;
	struct bus_client *info, *get;
	unsigned long	 puts_seen;
} M;

long long
kv_now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* The description of a JetStream API error in r, or NULL (borrows r). */
static const char *
js_error(jv r, jv *tmp)
{
	*tmp = jv_object_get(jv_copy(r), jv_string("error"));
	return jv_get_kind(*tmp) == JV_KIND_OBJECT ?
	    json_str(*tmp, "description", NULL) ?: "an error" : NULL;
}

static void
on_created(void *arg, jv r)
{
	jv tmp;
	const char *msg = js_error(r, &tmp);

	(void)arg;
	if (msg == NULL)
		log_info("bucket '%s' ready", KV_BUCKET);
	else	/* "already in use": made by another node, maybe with another
		 * TTL; the puts go to it all the same. */
		log_info("bucket '%s': %s", KV_BUCKET, msg);
	jv_free(tmp);
	jv_free(r);
}

void
kv_bucket_ensure(struct bus *b, int ttl, int replicas)
{
	struct bus_client *cl = bus_client_new(b, "$JS.API.STREAM.CREATE."
	    STREAM, 2000);
	double ns = ttl * 1e9;
	jv cfg = jv_object();

	if (cl == NULL)
		return;
#define S(k, v) cfg = jv_object_set(cfg, jv_string(k), v)
	S("name", jv_string(STREAM));
	S("subjects", jv_array_append(jv_array(), jv_string(PREFIX ">")));
	S("max_msgs_per_subject", jv_number(1));
	S("max_age", jv_number(ns));
	S("duplicate_window", jv_number(ns));
	S("storage", jv_string("file"));
	S("discard", jv_string("new"));
	S("num_replicas", jv_number(replicas));
	S("allow_rollup_hdrs", jv_true());
	S("deny_delete", jv_true());
	S("allow_direct", jv_true());
#undef S
	bus_call(cl, cfg, 0, on_created, NULL);	/* until a server answers */
}

int
kv_put(struct bus *b, const char *key, jv val)
{
	char subj[256];
	size_t len;
	char *line = json_dump(val, &len);
	int rc;

	if (line == NULL)
		return -1;
	snprintf(subj, sizeof(subj), PREFIX "%s", key);
	rc = bus_publish(b, subj, NULL, line, len);
	free(line);
	return rc;
}

/* ---- the mirror ---- */

static void
upsert(const char *key, jv val)
{
	struct entry *e;

	for (e = M.all; e != NULL && strcmp(e->key, key) != 0; e = e->next)
		;
	if (e == NULL) {
		if ((e = calloc(1, sizeof(*e))) == NULL) {
			jv_free(val);
			return;
		}
		snprintf(e->key, sizeof(e->key), "%s", key);
		e->next = M.all;
		M.all = e;
	} else {
		int64_t old = 0, at = 0;
		json_int(e->val, "at", &old);
		json_int(val, "at", &at);
		if (at < old) {			/* the fill after a put */
			jv_free(val);
			return;
		}
		jv_free(e->val);
	}
	e->val = val;
}

static void
on_put(void *arg, struct bus_msg *m)
{
	const char *subj = bus_msg_subject(m), *data, *op;
	char err[200];
	size_t len;
	jv v;

	(void)arg;
	if (strncmp(subj, PREFIX, strlen(PREFIX)) != 0)
		return;
	subj += strlen(PREFIX);
	if ((op = bus_msg_header(m, "KV-Operation")) != NULL) {
		for (struct entry **pp = &M.all; *pp != NULL;
		    pp = &(*pp)->next)
			if (strcmp((*pp)->key, subj) == 0) {
				struct entry *e = *pp;
				*pp = e->next;
				jv_free(e->val);
				free(e);
				break;
			}
		return;
	}
	data = bus_msg_data(m, &len);
	v = json_parse_object(data, len, err, sizeof(err));
	if (!jv_is_valid(v)) {
		jv_free(v);
		return;
	}
	M.puts_seen++;
	upsert(subj, v);
}

struct getreq { char key[128]; };

static void
on_got(void *arg, jv r)
{
	struct getreq *g = arg;

	if (json_str(r, "url", NULL) != NULL)
		upsert(g->key, jv_object_delete(r, jv_string("id")));
	else
		jv_free(r);
	free(g);
}

/* The bucket's keys, then each one's value: what was put before we
 * started listening. */
static void
on_info(void *arg, jv r)
{
	jv state = jv_object_get(jv_copy(r), jv_string("state"));
	jv subs = jv_get_kind(state) == JV_KIND_OBJECT ? jv_object_get(state,
	    jv_string("subjects")) : (jv_free(state), jv_null());

	(void)arg;
	if (jv_get_kind(subs) == JV_KIND_OBJECT) {
		jv_object_foreach(subs, k, n) {
			const char *s = jv_string_value(k);
			struct getreq *g;
			if (strncmp(s, PREFIX, strlen(PREFIX)) == 0 &&
			    (g = malloc(sizeof(*g))) != NULL) {
				snprintf(g->key, sizeof(g->key), "%s",
				    s + strlen(PREFIX));
				bus_call(M.get, jv_object_set(jv_object(),
				    jv_string("last_by_subj"), jv_copy(k)),
				    5000, on_got, g);
			}
			jv_free(k);
			jv_free(n);
		}
	} else {
		jv tmp;
		const char *msg = js_error(r, &tmp);
		if (msg != NULL)	/* else the bucket is empty */
			log_info("bucket '%s' not read (%s): learning it "
			    "from puts", KV_BUCKET, msg);
		jv_free(tmp);
	}
	jv_free(subs);
	jv_free(r);
}

int
kv_mirror_start(struct bus *b, int ttl, char *err, size_t errlen)
{
	M.bus = b;
	M.ttl = ttl;
	if (bus_subscribe(b, PREFIX ">", NULL, on_put, NULL, err, errlen) ==
	    NULL)
		return -1;
	M.info = bus_client_new(b, "$JS.API.STREAM.INFO." STREAM, 2000);
	M.get = bus_client_new(b, "$JS.API.DIRECT.GET." STREAM, 2000);
	if (M.info == NULL || M.get == NULL) {
		snprintf(err, errlen, "no requester for the bucket");
		return -1;
	}
	bus_call(M.info, jv_object_set(jv_object(),
	    jv_string("subjects_filter"), jv_string(PREFIX ">")), 10000,
	    on_info, NULL);
	return 0;
}

static int
live(struct entry *e, long long now)
{
	int64_t at = 0;

	json_int(e->val, "at", &at);
	return json_str(e->val, "url", NULL) != NULL &&
	    now - at < (long long)M.ttl * 1000;
}

int
kv_mirror_live(void)
{
	long long now = kv_now_ms();

	for (struct entry *e = M.all; e != NULL; e = e->next)
		if (live(e, now))
			return 1;
	return 0;
}

jv
kv_mirror_list(jv id)
{
	long long now = kv_now_ms();
	jv list = jv_array();

	for (struct entry *e = M.all; e != NULL; e = e->next) {
		int64_t conns = 0;
		const char *name = json_str(e->val, "name", NULL);
		const char *url = json_str(e->val, "url", NULL);
		json_int(e->val, "conns", &conns);
		if (!live(e, now))
			continue;		/* expired: its chatd stopped */
		jv c = jv_object_set(jv_object(), jv_string("name"),
		    jv_string(name ? name : e->key));
		c = jv_object_set(c, jv_string("url"), jv_string(url));
		c = jv_object_set(c, jv_string("conns"),
		    jv_number((double)conns));
		list = jv_array_append(list, c);
	}
	jv r = json_ok(id);
	return jv_object_set(r, jv_string("chatds"), list);
}
