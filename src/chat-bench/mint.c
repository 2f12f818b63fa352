/*
 * mint: users, devices and tokens for runs too large for chat-api's login,
 * which hashes a password (yescrypt, about 0.1 s of CPU) for every device.
 * This talks to chat-store's socket under CHAT_HOME as chat-api would
 * (user.get, user.create for a missing user, device.login, group.create)
 * and signs each device's token with the stack's secret
 * ($CHAT_HOME/etc/secret) exactly as chat-api does at login, so chatd sees
 * ordinary tokens.  It is a bench shortcut for set-up only: nothing it does
 * is timed.  Requests are pipelined MINT_WINDOW at a time.
 *
 * --seed-users prints `chat-store import` lines for the users instead (the
 * record ARCHITECTURE.md gives u/{user}: profile and password hash), all
 * with one yescrypt hash of --password made here once, so a stopped
 * store can be given thousands of users in a second.
 */
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include "bench.h"
#include "conf.h"
#include "ipc_sync.h"
#include "json.h"
#include "log.h"
#include "token.h"

#define MINT_WINDOW	256
#define MINT_TIMEOUT_MS	120000
#define MINT_TTL	(30 * 86400)

enum { M_GET, M_CREATE, M_DEVICE, M_GROUP };

static struct ipc_sync st;
static unsigned char secret[TOKEN_SECRET_LEN];
static int *missing, nmissing;

static jv
make_req(int op, int i)
{
	const char *u = op == M_GROUP ? NULL : B.devs[i].user;
	struct group *g;
	jv m;
	int k;

	switch (op) {
	case M_GET:
		return JV_OBJECT(jv_string("op"), jv_string("user.get"),
		    jv_string("user"), jv_string(u));
	case M_CREATE:
		return JV_OBJECT(jv_string("op"), jv_string("user.create"),
		    jv_string("user"), jv_string(u), jv_string("password"),
		    jv_string(B.o.password));
	case M_DEVICE:
		return JV_OBJECT(jv_string("op"), jv_string("device.login"),
		    jv_string("user"), jv_string(u), jv_string("device"),
		    jv_string(B.devs[i].device));
	default:
		g = &B.groups[i];
		m = jv_array();
		for (k = g->first; k < g->first + g->size; k++)
			m = jv_array_append(m, jv_string(B.devs[k].user));
		return JV_OBJECT(jv_string("op"), jv_string("group.create"),
		    jv_string("owner"), jv_string(B.devs[g->first].user),
		    jv_string("name"), jv_string("bench"),
		    jv_string("members"), m);
	}
}

/* One reply (consumed) to op on item i; -1 ends the set-up. */
static int
reply(int op, int i, jv r)
{
	struct token_claims c;
	char tok[TOKEN_MAX];
	const char *s, *code;
	int64_t gen;
	int ok = json_bool(r, "ok", 0), rc = 0;
	jv e = jv_object_get(jv_copy(r), jv_string("error"));

	code = jv_is_valid(e) ? json_str(e, "code", NULL) : NULL;
	switch (op) {
	case M_GET:
		if (!ok && code != NULL && strcmp(code, "no_such_user") == 0)
			missing[nmissing++] = i;
		else if (!ok)
			rc = -1;
		break;
	case M_CREATE:
		if (!ok && (code == NULL || strcmp(code, "user_exists") != 0))
			rc = -1;
		break;
	case M_DEVICE:
		if (!ok || !json_int(r, "gen", &gen) ||
		    (s = json_str(r, "device", NULL)) == NULL) {
			rc = -1;
			break;
		}
		memset(&c, 0, sizeof(c));
		snprintf(c.user, sizeof(c.user), "%s", B.devs[i].user);
		snprintf(c.device, sizeof(c.device), "%s", s);
		c.expires = (int64_t)time(NULL) + MINT_TTL;
		c.gen = (uint64_t)gen;
		if (token_make(secret, &c, tok) == -1) {
			rc = -1;
			break;
		}
		snprintf(B.devs[i].device, sizeof(B.devs[i].device), "%s", s);
		free(B.devs[i].token);
		B.devs[i].token = strdup(tok);
		break;
	case M_GROUP:
		if (!ok || (s = json_str(r, "group", NULL)) == NULL)
			rc = -1;
		else
			snprintf(B.groups[i].gid, sizeof(B.groups[i].gid),
			    "%s", s);
		break;
	}
	if (rc == -1) {
		char *line = json_dump(jv_copy(r), NULL);
		log_warnx("chat-store refused set-up: %s", line ? line : "?");
		free(line);
	}
	jv_free(e);
	jv_free(r);
	return rc;
}

/* Sends op for every item of undone, MINT_WINDOW in flight. */
static int
pipeline(int op, const int *undone, int n)
{
	int sent = 0, got = 0;
	char err[256];

	while (got < n) {
		while (sent < n && sent - got < MINT_WINDOW) {
			jv q = jv_object_set(make_req(op, undone[sent]),
			    jv_string("id"), jv_number(sent));
			size_t len;
			char *line = json_dump(q, &len);
			if (line == NULL)
				return -1;
			line[len] = '\n';	/* json_dump's NUL */
			if (send(st.fd, line, len + 1, MSG_NOSIGNAL) !=
			    (ssize_t)len + 1) {
				free(line);
				log_warn("writing to chat-store");
				return -1;
			}
			free(line);
			sent++;
		}
		char *l = ipc_sync_read(&st, MINT_TIMEOUT_MS, err, sizeof(err));
		if (l == NULL) {
			log_warnx("chat-store: %s", err);
			return -1;
		}
		jv r = json_parse_object(l, strlen(l), err, sizeof(err));
		int64_t id;
		free(l);
		if (!jv_is_valid(r) || !json_int(r, "id", &id) || id < 0 ||
		    id >= n) {
			jv_free(r);	/* an event line */
			continue;
		}
		got++;
		if (reply(op, undone[id], r) == -1)
			return -1;
	}
	return 0;
}

int
setup_mint(void)
{
	char path[1024], err[512];
	int *undone = NULL, n = 0, i, rc = -1;

	if (conf_load(err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/etc/secret", conf_home());
	if (token_load_secret(path, 0, secret, err, sizeof(err)) == -1) {
		log_warnx("--mint: %s", err);
		return -1;
	}
	conf_sock_path("store", path, sizeof(path));
	if (ipc_sync_open(&st, path, err, sizeof(err)) == -1) {
		log_warnx("--mint: %s", err);
		return -1;
	}
	undone = calloc((size_t)B.ndevs + 1, sizeof(*undone));
	missing = calloc((size_t)B.ndevs + 1, sizeof(*missing));
	if (undone == NULL || missing == NULL)
		goto out;
	for (i = 0; i < B.ndevs; i++)
		if (B.devs[i].token == NULL) {
			undone[n++] = i;
			if (B.devs[i].device[0] == '\0')
				snprintf(B.devs[i].device,
				    sizeof(B.devs[i].device), "bench");
		}
	if (n > 0)
		log_info("minting %d devices through chat-store", n);
	if (pipeline(M_GET, undone, n) == -1)
		goto out;
	if (nmissing > 0)
		log_info("creating %d users (one password hash each)",
		    nmissing);
	if (pipeline(M_CREATE, missing, nmissing) == -1 ||
	    pipeline(M_DEVICE, undone, n) == -1)
		goto out;
	for (n = 0, i = 0; i < B.ngroups; i++)
		if (B.groups[i].gid[0] == '\0')
			undone[n++] = i;
	if (pipeline(M_GROUP, undone, n) == -1)
		goto out;
	if (B.o.ws == NULL)
		B.o.ws = strdup(conf_get("chatd_url"));
	rc = 0;
out:
	free(undone);
	free(missing);
	ipc_sync_close(&st);
	return rc;
}

int
seed_users(void)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	const char *h;
	struct timeval tv;
	long long now;
	int i;

	if (cd == NULL || crypt_gensalt_rn("$y$", 0, NULL, 0, salt,
	    sizeof(salt)) == NULL || (h = crypt_rn(B.o.password, salt, cd,
	    sizeof(*cd))) == NULL || h[0] != '$') {
		log_warnx("unable to hash the password");
		free(cd);
		return -1;
	}
	gettimeofday(&tv, NULL);
	now = (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
	for (i = 0; i < B.ndevs; i++)
		printf("{\"key\":\"u/%s\",\"value\":{\"user\":\"%s\","
		    "\"display_name\":\"%s\",\"created_at\":%lld,"
		    "\"hash\":\"%s\"}}\n", B.devs[i].user, B.devs[i].user,
		    B.devs[i].user, now, h);
	free(cd);
	return fflush(stdout) == 0 ? 0 : -1;
}
