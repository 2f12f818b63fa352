/*
 * repair: `chat-store repair [--expect FILE]`, for a database that the
 * daemon refuses as corrupt (exit 102, paranoid_checks).
 *
 * It runs LevelDB's RepairDB, which keeps every record it can still read
 * and drops the rest, then opens the result and says what is gone, as a
 * gap report: a message, its inbox entries and its dedupe record are one
 * WriteBatch, so a message that vanished whole leaves no trace inside the
 * database; what can be seen is the records that still point at it (an
 * inbox entry or a dedupe record whose message is missing) and messages
 * whose sender's or 1:1 peer's inbox entry is missing.  With --expect, a
 * file of message ids the clients hold acknowledgments for (one a line:
 * the 16 hex digits, optionally followed by the conversation), each one
 * absent is reported too.  So an operator learns which messages were lost,
 * per conversation, instead of the stack serving silently without them.
 *
 * Output, one line each:  "gap CONV ID SOURCE" (SOURCE: inbox/USER,
 * dedupe/USER, expected, or inbox-missing/USER for a message that lost an
 * inbox entry), then "repair: ..." with the counts.  Exit 0 with no gap,
 * 1 with gaps, 102 if RepairDB itself failed, 111 while a daemon holds the
 * database.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jv.h>

#include "conf.h"
#include "id.h"
#include "log.h"
#include "db.h"
#include "keys.h"
#include "cli.h"

struct gap {
	char	*conv;
	uint64_t id;
	char	*source;
};

struct gaps {
	struct gap *v;
	size_t	n, cap;
};

static void
gap_add(struct gaps *g, const char *conv, size_t clen, uint64_t id,
    const char *source)
{
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 64;
		if ((g->v = realloc(g->v, g->cap * sizeof(*g->v))) == NULL) {
			perror("chat-store: repair");
			exit(EXIT_TEMP);
		}
	}
	g->v[g->n].conv = strndup(conv, clen);
	g->v[g->n].id = id;
	g->v[g->n].source = strdup(source);
	g->n++;
}

static int
gap_cmp(const void *a, const void *b)
{
	const struct gap *x = a, *y = b;
	int c = strcmp(x->conv, y->conv);

	if (c != 0)
		return c;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* 1 if key k exists, 0 if not, -1 on a read error. */
static int
exists(leveldb_t *db, leveldb_readoptions_t *ro, const char *k, size_t klen)
{
	char *v, *err = NULL;
	size_t vlen;

	v = leveldb_get(db, ro, k, klen, &vlen, &err);
	if (err != NULL) {
		fprintf(stderr, "chat-store: repair: %s\n", err);
		leveldb_free(err);
		return -1;
	}
	if (v == NULL)
		return 0;
	leveldb_free(v);
	return 1;
}

/* A string field of a JSON value, copied into out; -1 if absent. */
static int
str_field(const char *v, size_t vlen, const char *name, char *out,
    size_t outlen)
{
	jv o = jv_parse_sized(v, (int)vlen), f;
	int r = -1;

	if (jv_get_kind(o) != JV_KIND_OBJECT) {
		jv_free(o);
		return -1;
	}
	f = jv_object_get(o, jv_string(name));
	if (jv_get_kind(f) == JV_KIND_STRING &&
	    strlen(jv_string_value(f)) < outlen) {
		strcpy(out, jv_string_value(f));
		r = 0;
	}
	jv_free(f);
	return r;
}

/* Checks one record's references; adds what is missing to g. */
static int
check_record(leveldb_t *db, leveldb_readoptions_t *ro, const char *k,
    size_t klen, const char *v, size_t vlen, struct gaps *g)
{
	char conv[KEY_MAX], user[KEY_MAX], src[KEY_MAX + 32], hex[17];
	struct skey mk;
	uint64_t id;
	int r;

	if (klen > 2 && k[0] == 'i' && k[1] == '/' &&
	    key_tail_id(k, klen, &id) == 0) {
		/* An inbox entry: its message must exist. */
		if (str_field(v, vlen, "conv", conv, sizeof(conv)) == -1)
			return 0;
		key_msg(&mk, conv, id);
		if ((r = exists(db, ro, mk.b, mk.len)) != 0)
			return r == 1 ? 0 : -1;
		snprintf(src, sizeof(src), "inbox/%.*s", (int)(klen - 11),
		    k + 2);
		gap_add(g, conv, strlen(conv), id, src);
	} else if (klen > 2 && k[0] == 'x' && k[1] == '/') {
		/* A dedupe record: so must its message. */
		if (str_field(v, vlen, "conv", conv, sizeof(conv)) == -1 ||
		    str_field(v, vlen, "id", hex, sizeof(hex)) == -1 ||
		    id_parse(hex, strlen(hex), &id) == -1)
			return 0;
		key_msg(&mk, conv, id);
		if ((r = exists(db, ro, mk.b, mk.len)) != 0)
			return r == 1 ? 0 : -1;
		snprintf(src, sizeof(src), "dedupe/%.*s", (int)strcspn(k + 2,
		    "/"), k + 2);
		gap_add(g, conv, strlen(conv), id, src);
	} else if (klen > 2 && k[0] == 'm' && k[1] == '/' &&
	    key_tail_id(k, klen, &id) == 0) {
		/* A message: its sender's inbox entry, and a 1:1 peer's. */
		const char *cv = k + 2;
		size_t cl = klen - 11;
		char peer[KEY_MAX];
		struct skey ik;

		if (str_field(v, vlen, "from", user, sizeof(user)) == -1)
			return 0;
		peer[0] = '\0';
		if (str_field(v, vlen, "to", peer, sizeof(peer)) == -1)
			peer[0] = '\0';
		key_inbox(&ik, user, id);
		if ((r = exists(db, ro, ik.b, ik.len)) == -1)
			return -1;
		if (r == 0) {
			snprintf(src, sizeof(src), "inbox-missing/%s", user);
			gap_add(g, cv, cl, id, src);
		}
		if (peer[0] != '\0') {
			key_inbox(&ik, peer, id);
			if ((r = exists(db, ro, ik.b, ik.len)) == -1)
				return -1;
			if (r == 0) {
				snprintf(src, sizeof(src), "inbox-missing/%s",
				    peer);
				gap_add(g, cv, cl, id, src);
			}
		}
	}
	return 0;
}

static int
id_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The --expect file against the sorted ids of every message. */
static int
check_expected(const char *path, const uint64_t *ids, size_t n,
    struct gaps *g, size_t *expected)
{
	FILE *f = fopen(path, "r");
	char line[1024], conv[KEY_MAX];
	uint64_t id;

	if (f == NULL) {
		fprintf(stderr, "chat-store: repair: %s: %m\n", path);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t l = strspn(line, "0123456789abcdef");
		if (l != 16 || id_parse(line, 16, &id) == -1)
			continue;
		(*expected)++;
		/* n == 0 (every message gone, ids NULL): bsearch's base must
		 * never be NULL, even with nothing to search */
		if (n > 0 && bsearch(&id, ids, n, sizeof(*ids), id_cmp) != NULL)
			continue;
		conv[0] = '\0';
		if (sscanf(line + 16, " %255s", conv) != 1)
			strcpy(conv, "?");
		gap_add(g, conv, strlen(conv), id, "expected");
	}
	fclose(f);
	return 0;
}

int
cli_repair(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "expect", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 }
	};
	const char *usage = "chat-store repair [--expect FILE]";
	const char *expect = NULL;
	leveldb_options_t *o;
	leveldb_readoptions_t *ro;
	leveldb_iterator_t *it;
	leveldb_t *db;
	enum db_status st;
	struct gaps g = { NULL, 0, 0 };
	uint64_t *ids = NULL, id;
	size_t nids = 0, cap = 0, records = 0, expected = 0, i, convs = 0;
	char err[1024], *lerr = NULL, hex[17];
	int ch, failed = 0;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "he:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			printf("usage: %s\n", usage);
			return 0;
		case 'e':
			expect = optarg;
			break;
		default:
			fprintf(stderr, "usage: %s\n", usage);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: %s\n", usage);
		return EXIT_USAGE;
	}
	/* The LOCK first: never repair under a running daemon. */
	db = db_open(db_path(), 0, 0, &st, err, sizeof(err));
	if (db == NULL && (st == DB_LOCKED || st == DB_MISSING)) {
		fprintf(stderr, "chat-store: %s\n", err);
		return db_exit_status(st);
	}
	if (db != NULL)
		leveldb_close(db);
	o = leveldb_options_create();
	/* RepairDB reads each table with checksums verified only under
	 * paranoid_checks.  Without them a flipped byte that still
	 * decompresses passes as data: the table is kept whole, bad block
	 * and all, and every later (verified) read of it fails.  With them
	 * the bad block is seen, the table is rewritten without it, and the
	 * gap report below names what went with it. */
	leveldb_options_set_paranoid_checks(o, 1);
	leveldb_repair_db(o, db_path(), &lerr);
	leveldb_options_destroy(o);
	if (lerr != NULL) {
		fprintf(stderr, "chat-store: repair of '%s' failed: %s\n",
		    db_path(), lerr);
		leveldb_free(lerr);
		return EXIT_CORRUPT;
	}
	log_info("RepairDB done on '%s'", db_path());
	if ((db = db_open(db_path(), 0, 1, &st, err, sizeof(err))) == NULL) {
		fprintf(stderr, "chat-store: after repair: %s\n", err);
		return db_exit_status(st);
	}
	ro = leveldb_readoptions_create();
	leveldb_readoptions_set_verify_checksums(ro, 1);
	it = leveldb_create_iterator(db, ro);
	for (leveldb_iter_seek_to_first(it); leveldb_iter_valid(it) &&
	    !failed; leveldb_iter_next(it)) {
		const char *k, *v;
		size_t klen, vlen;

		k = leveldb_iter_key(it, &klen);
		v = leveldb_iter_value(it, &vlen);
		records++;
		if (k[0] == 'm' && key_tail_id(k, klen, &id) == 0) {
			if (nids == cap) {
				cap = cap ? cap * 2 : 1024;
				if ((ids = realloc(ids, cap * sizeof(*ids))) ==
				    NULL) {
					perror("chat-store: repair");
					return EXIT_TEMP;
				}
			}
			ids[nids++] = id;
		}
		if (check_record(db, ro, k, klen, v, vlen, &g) == -1)
			failed = 1;
	}
	leveldb_iter_get_error(it, &lerr);
	leveldb_iter_destroy(it);
	leveldb_readoptions_destroy(ro);
	leveldb_close(db);
	if (lerr != NULL || failed) {
		fprintf(stderr, "chat-store: repair: reading the repaired "
		    "database: %s\n", lerr ? lerr : "read error");
		leveldb_free(lerr);
		return EXIT_CORRUPT;
	}
	if (nids > 0)	/* an empty database: ids is NULL */
		qsort(ids, nids, sizeof(*ids), id_cmp);
	if (expect != NULL && check_expected(expect, ids, nids, &g,
	    &expected) == -1) {
		free(ids);
		return EXIT_USAGE;
	}
	if (g.n > 0)
		qsort(g.v, g.n, sizeof(*g.v), gap_cmp);
	for (i = 0; i < g.n; i++) {
		if (i == 0 || strcmp(g.v[i].conv, g.v[i - 1].conv) != 0)
			convs++;
		id_format(g.v[i].id, hex);
		printf("gap %s %s %s\n", g.v[i].conv, hex, g.v[i].source);
	}
	printf("repair: %zu records, %zu messages, %zu expected ids checked, "
	    "%zu gaps in %zu conversations\n", records, nids, expected, g.n,
	    convs);
	for (i = 0; i < g.n; i++) {
		free(g.v[i].conv);
		free(g.v[i].source);
	}
	free(g.v);
	free(ids);
	if (fflush(stdout) != 0)
		return EXIT_TEMP;
	return g.n ? 1 : 0;
}
