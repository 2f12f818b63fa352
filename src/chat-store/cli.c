/*
 * cli: dump, export, import and get (see cli.h).
 *
 * export writes one JSON object per key, in key order:
 *   {"key":"u/alice","value":{...}}
 * "key" is the printable form (keys.h) and "value" the stored JSON.  A key
 * whose printable form would not parse back to the same bytes is written
 * as "key_b64", and a value that is not JSON byte for byte as "value_b64",
 * so import restores every byte.  import writes batches of IMPORT_BATCH
 * records, each synced.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "conf.h"
#include "json.h"
#include "log.h"
#include "db.h"
#include "keys.h"
#include "cli.h"

#define IMPORT_BATCH	10000

static leveldb_t *
open_db(int create, int *status)
{
	char err[1024];
	enum db_status st;
	leveldb_t *db;

	db = db_open(db_path(), create, conf_bool("store_paranoid"), &st, err,
	    sizeof(err));
	if (db == NULL) {
		fprintf(stderr, "chat-store: %s\n", err);
		*status = db_exit_status(st);
	}
	return db;
}

/* Mode options: --help, and --prefix for dump.  Returns optind, or -1
 * with *status set (0 after --help). */
static int
options(int argc, char **argv, const char *usage, const char **prefix,
    int *status)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "prefix", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "hp:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			printf("usage: %s\n", usage);
			*status = 0;
			return -1;
		case 'p':
			if (prefix != NULL) {
				*prefix = optarg;
				break;
			}
			/* FALLTHROUGH */
		default:
			fprintf(stderr, "usage: %s\n", usage);
			*status = EXIT_USAGE;
			return -1;
		}
	}
	return optind;
}

/* Writes s[0..n) with control bytes as \xNN. */
static void
put_escaped(FILE *f, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			putc(c, f);
	}
}

int
cli_dump(int argc, char **argv)
{
	const char *usage = "chat-store dump [--prefix KEY]";
	const char *prefix = NULL;
	struct skey pk;
	leveldb_readoptions_t *ro;
	leveldb_iterator_t *it;
	leveldb_t *db;
	const char *k, *v;
	size_t klen, vlen;
	char pbuf[KEY_PRINT_MAX], *err = NULL;
	int status = 0;

	if (options(argc, argv, usage, &prefix, &status) == -1)
		return status;
	if (optind != argc) {
		fprintf(stderr, "usage: %s\n", usage);
		return EXIT_USAGE;
	}
	pk.len = 0;
	if (prefix != NULL && key_parse(prefix, strlen(prefix), &pk) == -1) {
		fprintf(stderr, "chat-store: '%s' is not a printable key\n",
		    prefix);
		return EXIT_USAGE;
	}
	if ((db = open_db(0, &status)) == NULL)
		return status;
	ro = leveldb_readoptions_create();
	leveldb_readoptions_set_verify_checksums(ro, 1);
	it = leveldb_create_iterator(db, ro);
	for (leveldb_iter_seek(it, pk.b, pk.len); leveldb_iter_valid(it);
	    leveldb_iter_next(it)) {
		k = leveldb_iter_key(it, &klen);
		if (klen < pk.len || memcmp(k, pk.b, pk.len) != 0)
			break;
		v = leveldb_iter_value(it, &vlen);
		fputs(key_print(k, klen, pbuf), stdout);
		putchar('\t');
		put_escaped(stdout, v, vlen);
		putchar('\n');
	}
	leveldb_iter_get_error(it, &err);
	leveldb_iter_destroy(it);
	leveldb_readoptions_destroy(ro);
	leveldb_close(db);
	if (err != NULL) {
		fprintf(stderr, "chat-store: reading the database: %s\n", err);
		leveldb_free(err);
		return EXIT_CORRUPT;
	}
	return fflush(stdout) == 0 ? 0 : EXIT_TEMP;
}

static jv
b64(const char *s, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	jv j;

	if (out == NULL)
		abort();
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s,
	    (int)n);
	j = jv_string(out);
	free(out);
	return j;
}

/* Decodes base64 s into a malloc'd buffer; -1 if s is not base64. */
static int
unb64(const char *s, char **out, size_t *outlen)
{
	size_t n = strlen(s);
	int len, pad = 0;

	if (n % 4 != 0)
		return -1;
	*out = malloc(n / 4 * 3 + 1);
	if (*out == NULL)
		abort();
	len = EVP_DecodeBlock((unsigned char *)*out, (const unsigned char *)s,
	    (int)n);
	if (len < 0) {
		free(*out);
		return -1;
	}
	if (n > 0 && s[n - 1] == '=')
		pad++;
	if (n > 1 && s[n - 2] == '=')
		pad++;
	*outlen = (size_t)len - (size_t)pad;
	return 0;
}

/* One exported record. */
static jv
export_record(const char *k, size_t klen, const char *v, size_t vlen)
{
	char pbuf[KEY_PRINT_MAX];
	struct skey back;
	jv o = jv_object(), val, again;
	int exact = 0;

	key_print(k, klen, pbuf);
	if (key_parse(pbuf, strlen(pbuf), &back) == 0 && back.len == klen &&
	    memcmp(back.b, k, klen) == 0)
		o = jv_object_set(o, jv_string("key"), jv_string(pbuf));
	else
		o = jv_object_set(o, jv_string("key_b64"), b64(k, klen));
	val = jv_parse_sized(v, (int)vlen);
	if (jv_is_valid(val)) {
		again = jv_dump_string(jv_copy(val), 0);
		exact = (size_t)jv_string_length_bytes(jv_copy(again)) ==
		    vlen && memcmp(jv_string_value(again), v, vlen) == 0;
		jv_free(again);
	}
	if (exact)
		return jv_object_set(o, jv_string("value"), val);
	jv_free(val);
	return jv_object_set(o, jv_string("value_b64"), b64(v, vlen));
}

int
cli_export(int argc, char **argv)
{
	const char *usage = "chat-store export > FILE";
	leveldb_readoptions_t *ro;
	leveldb_iterator_t *it;
	leveldb_t *db;
	const char *k, *v;
	size_t klen, vlen, n = 0;
	char *err = NULL, *line;
	int status = 0;

	if (options(argc, argv, usage, NULL, &status) == -1)
		return status;
	if (optind != argc) {
		fprintf(stderr, "usage: %s\n", usage);
		return EXIT_USAGE;
	}
	if ((db = open_db(0, &status)) == NULL)
		return status;
	ro = leveldb_readoptions_create();
	leveldb_readoptions_set_verify_checksums(ro, 1);
	it = leveldb_create_iterator(db, ro);
	for (leveldb_iter_seek_to_first(it); leveldb_iter_valid(it);
	    leveldb_iter_next(it)) {
		k = leveldb_iter_key(it, &klen);
		v = leveldb_iter_value(it, &vlen);
		line = json_dump(export_record(k, klen, v, vlen), NULL);
		puts(line);
		free(line);
		n++;
	}
	leveldb_iter_get_error(it, &err);
	leveldb_iter_destroy(it);
	leveldb_readoptions_destroy(ro);
	leveldb_close(db);
	if (err != NULL) {
		fprintf(stderr, "chat-store: reading the database: %s\n", err);
		leveldb_free(err);
		return EXIT_CORRUPT;
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, "chat-store: writing the export failed\n");
		return EXIT_TEMP;
	}
	log_info("exported %zu keys", n);
	return 0;
}

/* Parses one import line into a batch.  0, or -1 with err. */
static int
import_line(leveldb_writebatch_t *wb, const char *line, size_t len,
    char *err, size_t errlen)
{
	struct skey k;
	const char *s;
	char *kb = NULL, *vb = NULL;
	size_t kl, vl;
	jv o, val;
	int r = -1;

	o = json_parse_object(line, len, err, errlen);
	if (!jv_is_valid(o)) {
		jv_free(o);
		return -1;
	}
	if ((s = json_str(o, "key", NULL)) != NULL) {
		if (key_parse(s, strlen(s), &k) == -1) {
			snprintf(err, errlen, "'key' is not a printable key");
			goto out;
		}
		kb = malloc(k.len + 1);
		if (kb == NULL)
			abort();
		memcpy(kb, k.b, k.len);
		kl = k.len;
	} else if ((s = json_str(o, "key_b64", NULL)) == NULL ||
	    unb64(s, &kb, &kl) == -1) {
		kb = NULL;
		snprintf(err, errlen, "missing field 'key' (or 'key_b64')");
		goto out;
	}
	if (json_has(o, "value")) {
		val = jv_dump_string(jv_object_get(jv_copy(o),
		    jv_string("value")), 0);
		vl = (size_t)jv_string_length_bytes(jv_copy(val));
		vb = malloc(vl + 1);
		if (vb == NULL)
			abort();
		memcpy(vb, jv_string_value(val), vl);
		jv_free(val);
	} else if ((s = json_str(o, "value_b64", NULL)) == NULL ||
	    unb64(s, &vb, &vl) == -1) {
		vb = NULL;
		snprintf(err, errlen, "missing field 'value' (or "
		    "'value_b64')");
		goto out;
	}
	leveldb_writebatch_put(wb, kb, kl, vb, vl);
	r = 0;
out:
	free(kb);
	free(vb);
	jv_free(o);
	return r;
}

static int
write_batch(leveldb_t *db, leveldb_writebatch_t *wb)
{
	leveldb_writeoptions_t *wo = leveldb_writeoptions_create();
	char *err = NULL;

	leveldb_writeoptions_set_sync(wo, 1);
	leveldb_write(db, wo, wb, &err);
	leveldb_writeoptions_destroy(wo);
	leveldb_writebatch_clear(wb);
	if (err != NULL) {
		fprintf(stderr, "chat-store: writing the database: %s\n", err);
		leveldb_free(err);
		return -1;
	}
	return 0;
}

int
cli_import(int argc, char **argv)
{
	const char *usage = "chat-store import < FILE";
	leveldb_writebatch_t *wb;
	leveldb_t *db;
	char *line = NULL, err[256];
	size_t cap = 0, n = 0, lineno = 0, inbatch = 0;
	ssize_t len;
	int status = 0;

	if (options(argc, argv, usage, NULL, &status) == -1)
		return status;
	if (optind != argc) {
		fprintf(stderr, "usage: %s\n", usage);
		return EXIT_USAGE;
	}
	if ((db = open_db(1, &status)) == NULL)
		return status;
	wb = leveldb_writebatch_create();
	while ((len = getline(&line, &cap, stdin)) != -1) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (len == 0)
			continue;
		if (import_line(wb, line, (size_t)len, err, sizeof(err)) == -1) {
			fprintf(stderr, "chat-store: stdin line %zu: %s; %zu "
			    "keys imported before it\n", lineno, err, n);
			status = EXIT_USAGE;
			break;
		}
		if (++inbatch == IMPORT_BATCH) {
			if (write_batch(db, wb) == -1) {
				status = EXIT_TEMP;
				break;
			}
			n += inbatch;
			inbatch = 0;
		}
	}
	if (status == 0 && inbatch > 0) {
		if (write_batch(db, wb) == -1)
			status = EXIT_TEMP;
		else
			n += inbatch;
	}
	free(line);
	leveldb_writebatch_destroy(wb);
	leveldb_close(db);
	if (status == 0)
		log_info("imported %zu keys into '%s'", n, db_path());
	return status;
}

int
cli_get(int argc, char **argv)
{
	const char *usage = "chat-store get KEY";
	leveldb_readoptions_t *ro;
	leveldb_t *db;
	struct skey k;
	char *v, *err = NULL;
	size_t vlen;
	int status = 0, i;

	if ((i = options(argc, argv, usage, NULL, &status)) == -1)
		return status;
	if (argc - i != 1) {
		fprintf(stderr, "usage: %s\n", usage);
		return EXIT_USAGE;
	}
	if (key_parse(argv[i], strlen(argv[i]), &k) == -1) {
		fprintf(stderr, "chat-store: '%s' is not a printable key\n",
		    argv[i]);
		return EXIT_USAGE;
	}
	if ((db = open_db(0, &status)) == NULL)
		return status;
	ro = leveldb_readoptions_create();
	leveldb_readoptions_set_verify_checksums(ro, 1);
	v = leveldb_get(db, ro, k.b, k.len, &vlen, &err);
	leveldb_readoptions_destroy(ro);
	leveldb_close(db);
	if (err != NULL) {
		fprintf(stderr, "chat-store: reading the database: %s\n", err);
		leveldb_free(err);
		return EXIT_CORRUPT;
	}
	if (v == NULL) {
		fprintf(stderr, "chat-store: no key '%s'\n", argv[i]);
		return 1;
	}
	put_escaped(stdout, v, vlen);
	putchar('\n');
	leveldb_free(v);
	return 0;
}
