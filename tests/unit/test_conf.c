/*
 * test_conf: chat.conf parsing (comments, blanks, whitespace, last line
 * wins), the environment overriding the file, errors that name the file and
 * line, a failed reload keeping the last good values, the defaults of
 * CHAT_HOME and CHAT_RUN, and conf_dump naming each value's source.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "t.h"

static char home[64], path[160], err[512];

static void
write_conf(const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		CHECK(0, "unable to write '%s': %s", path, strerror(errno));
		return;
	}
	fputs(text, f);
	fclose(f);
}

static int
load(void)
{
	err[0] = '\0';
	return conf_load(err, sizeof(err));
}

static void
test_defaults(void)
{
	char buf[256];

	CHECK(load() == 0, "no chat.conf is fine: %s", err);
	CHECK(strcmp(conf_get("node_id"), "0") == 0, "default node_id 0");
	CHECK(conf_int("group_max_members") == 100, "default group_max_members 100");
	CHECK(conf_int("token_ttl") == 2592000, "default token_ttl");
	CHECK(strcmp(conf_get("api_listen"), "127.0.0.1:8080") == 0, "default api_listen");
	CHECK(conf_bool("store_sync") == 1, "default store_sync true");
	CHECK(conf_bool("push_preview") == 0, "default push_preview false");
	CHECK(conf_get("no_such_key") == NULL, "an unknown key gives NULL");
	errno = 0;
	CHECK(conf_int("no_such_key") == -1 && errno == EINVAL, "conf_int of an unknown key");
	CHECK(conf_bool("no_such_key") == 0, "conf_bool of an unknown key");

	CHECK(strcmp(conf_home(), home) == 0, "conf_home is CHAT_HOME");
	snprintf(buf, sizeof(buf), "%s/run", home);
	CHECK(strcmp(conf_run(), buf) == 0, "conf_run defaults to $CHAT_HOME/run");
	snprintf(buf, sizeof(buf), "%s/run/store.sock", home);
	{
		char sock[256];

		CHECK(strcmp(conf_sock_path("store", sock, sizeof(sock)), buf) == 0 &&
		    strcmp(sock, buf) == 0, "conf_sock_path: %s", sock);
		CHECK(conf_sock_path("chatd-8081", sock, 10) == sock && strlen(sock) == 9,
		    "conf_sock_path truncates safely into a small buffer");
	}
	setenv("CHAT_RUN", "/elsewhere/run", 1);
	CHECK(strcmp(conf_run(), "/elsewhere/run") == 0, "CHAT_RUN overrides");
	unsetenv("CHAT_RUN");
	unsetenv("CHAT_HOME");
	CHECK(strcmp(conf_home(), "./var") == 0, "CHAT_HOME defaults to ./var");
	CHECK(strcmp(conf_run(), "./var/run") == 0, "CHAT_RUN defaults to ./var/run");
	setenv("CHAT_HOME", "", 1);
	CHECK(strcmp(conf_home(), "./var") == 0, "an empty CHAT_HOME counts as unset");
	setenv("CHAT_HOME", home, 1);
}

static void
test_file(void)
{
	write_conf("# the stack's config\n"
	    "\n"
	    "node_id = 7\n"
	    "   group_max_members\t=\t250   \n"
	    "api_listen=127.0.0.1:9090   # inline comment\n"
	    "store_sync = no\r\n"
	    "   # indented comment\n"
	    "\t\n"
	    "rate_limit = 5\n"
	    "rate_limit = 6\n"
	    "chatd_url =\n"
	    "push_preview = YES");
	CHECK(load() == 0, "a file with comments, blanks and odd spacing loads: %s", err);
	CHECK(conf_int("node_id") == 7, "node_id from the file");
	CHECK(conf_int("group_max_members") == 250, "tabs around '=' are trimmed");
	CHECK(strcmp(conf_get("api_listen"), "127.0.0.1:9090") == 0,
	    "an inline comment is dropped: '%s'", conf_get("api_listen"));
	CHECK(conf_bool("store_sync") == 0 && strcmp(conf_get("store_sync"), "no") == 0,
	    "a CRLF line end is trimmed");
	CHECK(conf_int("rate_limit") == 6, "the last line for a key wins");
	CHECK(strcmp(conf_get("chatd_url"), "") == 0, "an empty value is allowed");
	CHECK(conf_bool("push_preview") == 1, "the last line needs no newline; YES is true");
	CHECK(conf_int("max_body") == 65536, "unset keys keep their defaults");
}

static void
test_env(void)
{
	FILE *f;
	char *dump = NULL;
	size_t dlen = 0;

	setenv("CHAT_NODE_ID", "9", 1);
	CHECK(conf_int("node_id") == 9, "CHAT_NODE_ID overrides the file's 7");
	setenv("CHAT_MAX_BODY", "1024", 1);
	CHECK(conf_int("max_body") == 1024, "CHAT_MAX_BODY overrides the default");
	setenv("CHAT_GROUP_MAX_MEMBERS", "", 1);
	CHECK(conf_int("group_max_members") == 250, "an empty variable does not override");
	CHECK(load() == 0, "reload with the environment set");
	CHECK(conf_int("node_id") == 9, "the environment still wins after a reload");

	f = open_memstream(&dump, &dlen);
	conf_dump(f);
	fclose(f);
	CHECK(strstr(dump, "node_id = 9\t# env CHAT_NODE_ID\n") != NULL,
	    "conf_dump names the environment");
	CHECK(strstr(dump, "rate_limit = 6\t# file ") != NULL &&
	    strstr(dump, "chat.conf:10\n") != NULL, "conf_dump names file and line");
	CHECK(strstr(dump, "heartbeat_interval = 5\t# default\n") != NULL,
	    "conf_dump names defaults");
	CHECK(strstr(dump, "log_level = ") != NULL && strstr(dump, "presence_timeout = ") != NULL,
	    "conf_dump lists every key");
	free(dump);
	unsetenv("CHAT_NODE_ID");
	unsetenv("CHAT_MAX_BODY");
	unsetenv("CHAT_GROUP_MAX_MEMBERS");
}

static void
test_errors(void)
{
	char want[256];

	write_conf("node_id = 3\n# fine\nbogus = 1\n");
	CHECK(load() == -1, "an unknown key fails the load");
	snprintf(want, sizeof(want), "%s:3: unknown key 'bogus'", path);
	CHECK(strcmp(err, want) == 0, "the error names file, line and key: %s", err);
	CHECK(conf_int("node_id") == 7, "a failed reload keeps the last good values");

	write_conf("node_id = 3\njust some words\n");
	CHECK(load() == -1 && strstr(err, "chat.conf:2:") != NULL,
	    "a line without '=' is malformed: %s", err);
	write_conf("= 5\n");
	CHECK(load() == -1 && strstr(err, "chat.conf:1:") != NULL,
	    "a line without a key is malformed: %s", err);
	write_conf("Node_ID = 5\n");
	CHECK(load() == -1 && strstr(err, "chat.conf:1:") != NULL,
	    "keys are lower case: %s", err);
	write_conf("node id = 5\n");
	CHECK(load() == -1 && strstr(err, "chat.conf:1:") != NULL,
	    "a key with a space is malformed: %s", err);
	{
		FILE *f = fopen(path, "w");

		fwrite("node_id = 1\0\n", 1, 13, f);
		fclose(f);
	}
	CHECK(load() == -1 && strstr(err, "chat.conf:1:") != NULL,
	    "a NUL byte in a line is malformed: %s", err);

	write_conf("node_id = twelve\ntoken_ttl = 12abc\nrate_limit = -3\n"
	    "max_body = 99999999999999999999999\n");
	CHECK(load() == 0, "values are not checked at load");
	errno = 0;
	CHECK(conf_int("node_id") == -1 && errno == EINVAL, "conf_int of 'twelve' fails");
	CHECK(conf_int("token_ttl") == -1 && errno == EINVAL, "conf_int of '12abc' fails");
	CHECK(conf_int("max_body") == -1 && errno == EINVAL, "conf_int out of range fails");
	CHECK(conf_int("rate_limit") == -3, "conf_int reads negatives");

	unlink(path);
	mkdir(path, 0700);
	CHECK(load() == -1 && strstr(err, path) != NULL,
	    "an unreadable chat.conf is an error: %s", err);
	rmdir(path);
	CHECK(load() == 0 && conf_int("node_id") == 0, "removing the file brings back defaults");
}

static void
test_bool(void)
{
	static const char *yes[] = { "true", "yes", "on", "1", "TRUE", "On" };
	static const char *no[] = { "false", "no", "off", "0", "2", "maybe", "" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		setenv("CHAT_PUSH_PREVIEW", yes[i], 1);
		CHECK(conf_bool("push_preview") == 1, "'%s' is true", yes[i]);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		setenv("CHAT_STORE_SYNC", no[i], 1);
		CHECK(conf_bool("store_sync") == (no[i][0] == '\0'),
		    "'%s' is %s", no[i], no[i][0] == '\0' ? "unset (default true)" : "false");
	}
	unsetenv("CHAT_PUSH_PREVIEW");
	unsetenv("CHAT_STORE_SYNC");
}

/* Finds man/man5/chat.conf.5 in the working directory or above the test
 * binary (build/<dir>/unit/test_conf); NULL if neither has it. */
static FILE *
open_man(void)
{
	char dir[4096], p[4200], *slash;
	ssize_t n;
	FILE *f;
	int up;

	if ((f = fopen("man/man5/chat.conf.5", "r")) != NULL)
		return f;
	if ((n = readlink("/proc/self/exe", dir, sizeof(dir) - 1)) < 0)
		return NULL;
	dir[n] = '\0';
	for (up = 0; up < 8 && (slash = strrchr(dir, '/')) != NULL; up++) {
		*slash = '\0';
		snprintf(p, sizeof(p), "%s/man/man5/chat.conf.5", dir);
		if ((f = fopen(p, "r")) != NULL)
			return f;
	}
	return NULL;
}

/* Every key conf_dump lists has its ".It Cm key Pq default ..." entry in
 * chat.conf(5), with the table's default. */
static void
test_man_page(void)
{
	char *dump = NULL, *man = NULL, *line, *save = NULL, want[512];
	size_t dlen = 0, mlen = 0, missing = 0, keys = 0;
	FILE *f, *m;

	if ((m = open_man()) == NULL) {
		t_n++;
		printf("ok %d # SKIP man/man5/chat.conf.5 not found\n", t_n);
		return;
	}
	f = open_memstream(&man, &mlen);
	{
		char buf[4096];
		size_t n;

		while ((n = fread(buf, 1, sizeof(buf), m)) > 0)
			fwrite(buf, 1, n, f);
	}
	fclose(f);
	fclose(m);
	f = open_memstream(&dump, &dlen);
	conf_dump(f);
	fclose(f);
	for (line = strtok_r(dump, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		keys++;
		/* "key = value\t# default": the entry names the same default. */
		{
			size_t k = strcspn(line, " ");
			char *v = line + k + 3, *tab = strchr(v, '\t');

			if (tab == NULL || strcmp(tab, "\t# default") != 0) {
				missing++;
				printf("# not a default: '%s'\n", line);
				continue;
			}
			*tab = '\0';
			if (*v == '\0')
				snprintf(want, sizeof(want), "\n.It Cm %.*s Pq default empty\n",
				    (int)k, line);
			else
				snprintf(want, sizeof(want), "\n.It Cm %.*s Pq default Li %s\n",
				    (int)k, line, v);
		}
		if (strstr(man, want) == NULL) {
			missing++;
			printf("# chat.conf(5) lacks '%.*s'\n", (int)strlen(want) - 2, want + 1);
		}
	}
	CHECK(keys > 20 && missing == 0, "chat.conf(5) documents all %zu keys with their defaults (%zu missing)",
	    keys, missing);
	free(dump);
	free(man);
}

int
main(void)
{
	char tmpl[] = "/tmp/test_conf.XXXXXX", etc[100];

	if (mkdtemp(tmpl) == NULL)
		return 1;
	snprintf(home, sizeof(home), "%s", tmpl);
	snprintf(etc, sizeof(etc), "%s/etc", home);
	snprintf(path, sizeof(path), "%s/chat.conf", etc);
	mkdir(etc, 0700);
	/* Start from a clean slate: no CHAT_<KEY> from the caller's shell. */
	for (;;) {
		extern char **environ;
		char **e, name[4096];

		for (e = environ; *e != NULL; e++)
			if (strncmp(*e, "CHAT_", 5) == 0)
				break;
		if (*e == NULL)
			break;
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(*e, "="), *e);
		unsetenv(name);
	}
	setenv("CHAT_HOME", home, 1);

	test_defaults();
	test_file();
	test_env();
	test_errors();
	test_bool();
	test_man_page();

	unlink(path);
	rmdir(etc);
	rmdir(home);
	return t_done();
}
