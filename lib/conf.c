/*
 * conf: the stack's configuration.  Every key, its default and its meaning
 * live in one X-macro table (conf_keys.h) so the parser, conf_dump and the
 * man page cannot disagree about which keys exist.  A value comes from the
 * environment (CHAT_<KEY>, when set and not empty), else the last line of
 * $CHAT_HOME/etc/chat.conf that sets it, else the table's default.
 *
 * A reload parses into a fresh array and swaps it in only if the whole file
 * is good, so a bad edit never leaves a process half-configured.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

struct conf_key {
	const char *key;
	const char *def;
	const char *meaning;
};

static const struct conf_key keys[] = {
#define X(k, d, m) { #k, d, m },
#include "conf_keys.h"
#undef X
};

#define NKEYS	(sizeof(keys) / sizeof(keys[0]))

/* Values set by the file (NULL: not set), and the line that set each. */
static char *file_val[NKEYS];
static int file_line[NKEYS];
static char file_path[4096];

static int
key_index(const char *key)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].key, key) == 0)
			return (int)i;
	return -1;
}

/* CHAT_<KEY> for key into buf. */
static const char *
env_name(const char *key, char *buf, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < 5 && n + 1 < len; i++)
		buf[n++] = "CHAT_"[i];
	for (i = 0; key[i] != '\0' && n + 1 < len; i++)
		buf[n++] = (char)toupper((unsigned char)key[i]);
	buf[n] = '\0';
	return buf;
}

static const char *
env_value(const char *key)
{
	char name[80];
	const char *v;

	v = getenv(env_name(key, name, sizeof(name)));
	return v != NULL && *v != '\0' ? v : NULL;
}

const char *
conf_home(void)
{
	static char buf[4096];
	const char *h = getenv("CHAT_HOME");

	snprintf(buf, sizeof(buf), "%s", h != NULL && *h != '\0' ? h : "./var");
	return buf;
}

const char *
conf_run(void)
{
	static char buf[4096 + sizeof("/run")];
	const char *r = getenv("CHAT_RUN");

	if (r != NULL && *r != '\0')
		snprintf(buf, sizeof(buf), "%s", r);
	else
		snprintf(buf, sizeof(buf), "%s/run", conf_home());
	return buf;
}

char *
conf_sock_path(const char *name, char *buf, size_t len)
{
	if (len > 0)
		snprintf(buf, len, "%s/%s.sock", conf_run(), name);
	return buf;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
	    e[-1] == '\n'))
		e--;
	*e = '\0';
	return s;
}

static void
free_vals(char **vals)
{
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		free(vals[i]);
		vals[i] = NULL;
	}
}

/* Parses one line into vals; -1 and err on a bad line. */
static int
parse_line(char *line, const char *path, int lineno, char **vals,
    int *lines, char *err, size_t errlen)
{
	char *hash, *eq, *key, *val, *p;
	int k;

	if ((hash = strchr(line, '#')) != NULL)
		*hash = '\0';
	line = trim(line);
	if (*line == '\0')
		return 0;
	if ((eq = strchr(line, '=')) == NULL) {
		snprintf(err, errlen, "%s:%d: expected 'key = value'", path,
		    lineno);
		return -1;
	}
	*eq = '\0';
	key = trim(line);
	val = trim(eq + 1);
	if (*key == '\0') {
		snprintf(err, errlen, "%s:%d: missing key before '='", path,
		    lineno);
		return -1;
	}
	for (p = key; *p != '\0'; p++)
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) ||
		    *p == '_')) {
			snprintf(err, errlen, "%s:%d: bad key '%.64s'", path,
			    lineno, key);
			return -1;
		}
	if ((k = key_index(key)) < 0) {
		snprintf(err, errlen, "%s:%d: unknown key '%.64s'", path,
		    lineno, key);
		return -1;
	}
	free(vals[k]);
	if ((vals[k] = strdup(val)) == NULL) {
		snprintf(err, errlen, "%s:%d: out of memory", path, lineno);
		return -1;
	}
	lines[k] = lineno;
	return 0;
}

int
conf_load(char *err, size_t errlen)
{
	char path[sizeof(file_path)];
	char *vals[NKEYS] = { 0 }, *line = NULL;
	int lines[NKEYS] = { 0 }, lineno = 0, rc = 0;
	size_t cap = 0, i;
	ssize_t n;
	FILE *f;

	if ((size_t)snprintf(path, sizeof(path), "%s/etc/chat.conf",
	    conf_home()) >= sizeof(path)) {
		snprintf(err, errlen, "CHAT_HOME is too long");
		return -1;
	}
	if ((f = fopen(path, "re")) == NULL) {
		if (errno != ENOENT) {
			snprintf(err, errlen, "unable to open '%s': %s", path,
			    strerror(errno));
			return -1;
		}
	} else {
		while ((n = getline(&line, &cap, f)) >= 0) {
			lineno++;
			if (strlen(line) != (size_t)n) {
				snprintf(err, errlen, "%s:%d: NUL byte in line",
				    path, lineno);
				rc = -1;
				break;
			}
			if (parse_line(line, path, lineno, vals, lines, err,
			    errlen) < 0) {
				rc = -1;
				break;
			}
		}
		if (rc == 0 && ferror(f)) {
			snprintf(err, errlen, "unable to read '%s': %s", path,
			    strerror(errno));
			rc = -1;
		}
		free(line);
		fclose(f);
	}
	if (rc < 0) {
		free_vals(vals);
		return -1;
	}
	free_vals(file_val);
	for (i = 0; i < NKEYS; i++) {
		file_val[i] = vals[i];
		file_line[i] = lines[i];
	}
	memcpy(file_path, path, sizeof(file_path));
	return 0;
}

const char *
conf_get(const char *key)
{
	const char *v;
	int k;

	if ((k = key_index(key)) < 0)
		return NULL;
	if ((v = env_value(key)) != NULL)
		return v;
	if (file_val[k] != NULL)
		return file_val[k];
	return keys[k].def;
}

long long
conf_int(const char *key)
{
	const char *v = conf_get(key);
	char *end;
	long long n;

	if (v == NULL) {
		errno = EINVAL;
		return -1;
	}
	while (*v == ' ' || *v == '\t')
		v++;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (end == v || errno != 0) {
		errno = EINVAL;
		return -1;
	}
	while (*end == ' ' || *end == '\t')
		end++;
	if (*end != '\0') {
		errno = EINVAL;
		return -1;
	}
	return n;
}

int
conf_bool(const char *key)
{
	const char *v = conf_get(key);

	if (v == NULL)
		return 0;
	return strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
	    strcasecmp(v, "on") == 0 || strcmp(v, "1") == 0;
}

void
conf_dump(FILE *out)
{
	char name[80];
	const char *v;
	size_t i;

	fprintf(out, "# CHAT_HOME = %s\n# CHAT_RUN = %s\n", conf_home(),
	    conf_run());
	for (i = 0; i < NKEYS; i++) {
		if ((v = env_value(keys[i].key)) != NULL)
			fprintf(out, "%s = %s\t# env %s\n", keys[i].key, v,
			    env_name(keys[i].key, name, sizeof(name)));
		else if (file_val[i] != NULL)
			fprintf(out, "%s = %s\t# file %s:%d\n", keys[i].key,
			    file_val[i], file_path, file_line[i]);
		else
			fprintf(out, "%s = %s\t# default\n", keys[i].key,
			    keys[i].def);
	}
}
