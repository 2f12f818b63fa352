/*
 * logw: the entries of an op's writes for the log (see logw.h).  Not on
 * the message path: an op that writes a few keys, a group.create at most
 * 3 a member, so plain jv and a quadratic pass over the keys are enough.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "json.h"
#include "shard.h"
#include "util.h"
#include "id.h"
#include "keys.h"
#include "logw.h"

struct logw_conf logw_conf;
static uint64_t next_seq = 1;	/* the worker's, after logw_load */

static void
fresh_origin(void)
{
	unsigned char b[8];
	int i;

	if (random_bytes(b, sizeof(b)) == -1)
		memset(b, 0, sizeof(b));
	for (i = 0; i < 8; i++)
		snprintf(logw_conf.origin + 2 * i, 3, "%02x", b[i]);
}

/* Reads dbdir/chat-origin, or makes it: 0, -1 if it could not be kept. */
static int
load_origin(const char *dbdir)
{
	char path[4096], tmp[4200], buf[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/chat-origin", dbdir);
	if ((fd = open(path, O_RDONLY)) != -1) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n == 16) {
			memcpy(logw_conf.origin, buf, 16);
			logw_conf.origin[16] = '\0';
			return 0;
		}
	}
	fresh_origin();
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		return -1;
	n = write(fd, logw_conf.origin, 16);
	if (n != 16 || fsync(fd) == -1) {
		close(fd);
		return -1;
	}
	close(fd);
	return rename(tmp, path);
}

int
logw_init(const char *dbdir, char *err, size_t errlen)
{
	const char *mode = conf_get("msg_log");
	long long n = conf_int("log_shards");

	memset(&logw_conf, 0, sizeof(logw_conf));
	if (mode == NULL || *mode == '\0')
		return 0;
	if (strcmp(mode, "jetstream") != 0) {
		snprintf(err, errlen, "config key 'msg_log' is '%s': empty or "
		    "'jetstream'", mode);
		return -1;
	}
	if (n < 1 || n > SHARD_MAX) {
		snprintf(err, errlen, "config key 'log_shards' is %lld: 1 to "
		    "%d", n, SHARD_MAX);
		return -1;
	}
	logw_conf.on = 1;
	logw_conf.nshards = (unsigned)n;
	if (dbdir == NULL || load_origin(dbdir) == -1)
		fresh_origin();
	return 0;
}

/* The shard of the component of k from off up to the next '/' (or the
 * end), hashed after prefix ("g/" for a group's gm/ keys, so that they go
 * where its g/ key and its messages go; "" for a user's keys). */
static unsigned
part_shard(const char *k, size_t klen, size_t off, const char *prefix,
    unsigned nshards)
{
	const char *end = memchr(k + off, '/', klen - off);
	size_t len = end != NULL ? (size_t)(end - k) - off : klen - off;
	size_t plen = strlen(prefix);
	char buf[KEY_MAX + 4];

	if (plen == 0)
		return shard_of(k + off, len, nshards);
	memcpy(buf, prefix, plen);
	memcpy(buf + plen, k + off, len);
	return shard_of(buf, plen + len, nshards);
}

static int
has_prefix(const char *k, size_t klen, const char *p)
{
	size_t n = strlen(p);

	return klen > n && memcmp(k, p, n) == 0;
}

unsigned
logw_key_shard(const char *k, size_t klen, unsigned nshards)
{
	static const char *const user_keys[] = { "u/", "f/", "c/", "ug/",
	    "x/", "i/", "p/", NULL };
	int i;

	if (has_prefix(k, klen, "g/"))		/* g/{gid}: its conversation */
		return shard_of(k, klen, nshards);
	if (has_prefix(k, klen, "gm/"))		/* gm/{gid}/{user} */
		return part_shard(k, klen, 3, "g/", nshards);
	for (i = 0; user_keys[i] != NULL; i++)
		if (has_prefix(k, klen, user_keys[i]))
			return part_shard(k, klen, strlen(user_keys[i]), "",
			    nshards);
	return 0;
}

/* A shard's entry being built. */
struct part {
	unsigned	shard;
	jv		puts, dels;
};

static int
later_write(const struct tx_write *w, size_t n, size_t i)
{
	size_t j;

	for (j = i + 1; j < n; j++)
		if (w[j].klen == w[i].klen && memcmp(w[j].k, w[i].k,
		    w[i].klen) == 0)
			return 1;
	return 0;
}

struct logw_entry *
logw_build(const struct tx_write *w, size_t n)
{
	struct part *parts;
	struct logw_entry *head = NULL, **tail = &head, *e;
	char kp[KEY_PRINT_MAX];
	size_t i, np = 0, p;

	if (n == 0 || (parts = calloc(n, sizeof(*parts))) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (later_write(w, n, i))
			continue;
		unsigned s = logw_key_shard(w[i].k, w[i].klen,
		    logw_conf.nshards);
		for (p = 0; p < np && parts[p].shard != s; p++)
			;
		if (p == np) {
			parts[np].shard = s;
			parts[np].puts = jv_array();
			parts[np].dels = jv_array();
			np++;
		}
		key_print(w[i].k, w[i].klen, kp);
		if (w[i].v != NULL)
			parts[p].puts = jv_array_append(parts[p].puts,
			    jv_object_set(jv_object_set(jv_object(),
			    jv_string("key"), jv_string(kp)),
			    jv_string("value"), jv_string_sized(w[i].v,
			    (int)w[i].vlen)));
		else
			parts[p].dels = jv_array_append(parts[p].dels,
			    jv_string(kp));
	}
	for (p = 0; p < np; p++) {
		jv o = jv_object_set(jv_object(), jv_string("op"),
		    jv_string("log.apply"));
		o = jv_object_set(o, jv_string("origin"),
		    jv_string(logw_conf.origin));
		o = jv_object_set(o, jv_string("puts"), parts[p].puts);
		o = jv_object_set(o, jv_string("dels"), parts[p].dels);
		if ((e = calloc(1, sizeof(*e))) == NULL) {
			jv_free(o);
			continue;
		}
		e->shard = parts[p].shard;
		e->line = json_dump(o, &e->len);
		if (e->line == NULL) {
			free(e);
			continue;
		}
		*tail = e;
		tail = &e->next;
	}
	free(parts);
	return head;
}

void
logw_free(struct logw_entry *e)
{
	struct logw_entry *next;

	for (; e != NULL; e = next) {
		next = e->next;
		free(e->line);
		free(e);
	}
}

size_t
logw_key(char *k, uint64_t seq, unsigned shard)
{
	int i;

	memcpy(k, LOGW_PREFIX, 2);
	for (i = 0; i < 8; i++)
		k[2 + i] = (char)(seq >> (56 - 8 * i));
	return 10 + (size_t)snprintf(k + 10, 16, "/%u", shard);
}

void
logw_keep(struct tx *t, struct logw_entry *list)
{
	char k[32];

	for (; list != NULL; list = list->next) {
		list->seq = next_seq++;
		tx_put(t, k, logw_key(k, list->seq, list->shard), list->line,
		    list->len);
	}
}

void
logw_load(leveldb_t *db, logw_load_fn *fn)
{
	leveldb_readoptions_t *ro;
	leveldb_iterator_t *it;
	const char *k, *v;
	size_t klen, vlen;
	uint64_t seq = 0;
	int i;

	/* never a number of an earlier run, whose entries' Nats-Msg-Id the
	 * stream may still hold (a reused one would be dropped as a resend):
	 * a run numbers from its start time in us, and after what waits */
	next_seq = now_ms() * 1000;
	if (db == NULL)
		return;
	ro = leveldb_readoptions_create();
	it = leveldb_create_iterator(db, ro);
	for (leveldb_iter_seek(it, LOGW_PREFIX, 2); leveldb_iter_valid(it);
	    leveldb_iter_next(it)) {
		k = leveldb_iter_key(it, &klen);
		if (klen < 12 || memcmp(k, LOGW_PREFIX, 2) != 0)
			break;
		for (seq = 0, i = 0; i < 8; i++)
			seq = seq << 8 | (unsigned char)k[2 + i];
		v = leveldb_iter_value(it, &vlen);
		char sh[16];
		size_t n = klen - 11 < sizeof(sh) - 1 ? klen - 11 :
		    sizeof(sh) - 1;
		memcpy(sh, k + 11, n);
		sh[n] = '\0';
		fn(seq, (unsigned)strtoul(sh, NULL, 10), v, vlen);
	}
	leveldb_iter_destroy(it);
	leveldb_readoptions_destroy(ro);
	if (seq >= next_seq)
		next_seq = seq + 1;
}
