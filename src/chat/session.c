/*
 * session: what `chat login` keeps between runs, in $XDG_CONFIG_HOME/chat/
 * (~/.config/chat/ by default): the file `session` holds server, user,
 * device, token, chat_url, send_device and send_token as `key=value` lines, and `cursor` holds the id
 * of the last message `chat listen` wrote out.  The directory is 0700 and
 * each file 0600, since the token is a password.  Files are written to a
 * temporary name and renamed, so a crash never leaves half a file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chat.h"
#include "id.h"
#include "util.h"

const char *
session_dir(void)
{
	static char dir[PATH_MAX];
	const char *x, *home;

	if ((x = getenv("XDG_CONFIG_HOME")) != NULL && x[0] == '/')
		snprintf(dir, sizeof(dir), "%s/chat", x);
	else if ((home = getenv("HOME")) != NULL && home[0] != '\0')
		snprintf(dir, sizeof(dir), "%s/.config/chat", home);
	else
		return NULL;
	return dir;
}

static int
file_path(const char *name, char *buf, size_t len, char *err, size_t errlen)
{
	const char *dir;

	if ((dir = session_dir()) == NULL) {
		snprintf(err, errlen, "neither XDG_CONFIG_HOME nor HOME is set");
		return -1;
	}
	if ((size_t)snprintf(buf, len, "%s/%s", dir, name) >= len) {
		snprintf(err, errlen, "config path too long");
		return -1;
	}
	return 0;
}

/* Writes data to dir/name through dir/.name.tmp, mode 0600. */
static int
write_file(const char *name, const char *data, size_t n, char *err,
    size_t errlen)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	const char *dir;
	int fd;
	ssize_t w;

	if (file_path(name, path, sizeof(path), err, errlen) == -1)
		return -1;
	dir = session_dir();
	if (mkdir_p(dir, 0700) == -1) {
		snprintf(err, errlen, "unable to create '%s': %s", dir,
		    strerror(errno));
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1) {
		snprintf(err, errlen, "unable to write '%s': %s", tmp,
		    strerror(errno));
		return -1;
	}
	/* An existing file keeps its mode through O_TRUNC: force 0600. */
	if (fchmod(fd, 0600) == -1 ||
	    (w = write(fd, data, n)) != (ssize_t)n || fsync(fd) == -1) {
		snprintf(err, errlen, "unable to write '%s': %s", tmp,
		    strerror(errno ? errno : EIO));
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) == -1) {
		snprintf(err, errlen, "unable to rename '%s': %s", tmp,
		    strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Copies the value of "key=" lines into the matching field. */
static void
session_set(struct chat_session *s, const char *key, const char *val)
{
	static const struct {
		const char *key;
		size_t off, len;
	} fields[] = {
#define F(k) { #k, offsetof(struct chat_session, k), \
	sizeof(((struct chat_session *)0)->k) }
		F(server), F(user), F(device), F(token), F(chat_url),
		F(send_device), F(send_token),
#undef F
	};
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcmp(key, fields[i].key) == 0)
			snprintf((char *)s + fields[i].off, fields[i].len,
			    "%s", val);
}

int
session_load(struct chat_session *s, char *err, size_t errlen)
{
	char path[PATH_MAX], *line = NULL, *eq;
	size_t cap = 0;
	ssize_t n;
	FILE *f;

	memset(s, 0, sizeof(*s));
	if (file_path("session", path, sizeof(path), err, errlen) == -1)
		return -1;
	if ((f = fopen(path, "re")) == NULL) {
		if (errno == ENOENT)
			snprintf(err, errlen,
			    "not logged in (run 'chat login USER')");
		else
			snprintf(err, errlen, "unable to read '%s': %s", path,
			    strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, f)) != -1) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (line[0] == '#' || (eq = strchr(line, '=')) == NULL)
			continue;
		*eq = '\0';
		session_set(s, line, eq + 1);
	}
	free(line);
	fclose(f);
	if (s->server[0] == '\0' || s->token[0] == '\0' || s->user[0] == '\0') {
		snprintf(err, errlen, "'%s' lacks server, user or token: "
		    "run 'chat login USER' again", path);
		return -1;
	}
	return 0;
}

int
session_save(const struct chat_session *s, char *err, size_t errlen)
{
	char buf[4096];
	int n;

	n = snprintf(buf, sizeof(buf),
	    "# chat(1) login: the token is a password, keep this file 0600\n"
	    "server=%s\nuser=%s\ndevice=%s\ntoken=%s\nchat_url=%s\n"
	    "send_device=%s\nsend_token=%s\n",
	    s->server, s->user, s->device, s->token, s->chat_url,
	    s->send_device, s->send_token);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		snprintf(err, errlen, "session too long");
		return -1;
	}
	return write_file("session", buf, (size_t)n, err, errlen);
}

int
session_remove(char *err, size_t errlen)
{
	char path[PATH_MAX];

	session_cursor_remove();
	if (file_path("session", path, sizeof(path), err, errlen) == -1)
		return -1;
	if (unlink(path) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "unable to remove '%s': %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
session_cursor_load(char id[17])
{
	char path[PATH_MAX], err[64], buf[64];
	uint64_t v;
	FILE *f;
	size_t n;

	id[0] = '\0';
	if (file_path("cursor", path, sizeof(path), err, sizeof(err)) == -1)
		return 0;
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	if (id_parse(buf, n, &v) == 0)
		memcpy(id, buf, 17);
	return 0;
}

int
session_cursor_save(const char *id, char *err, size_t errlen)
{
	char buf[32];
	int n;

	n = snprintf(buf, sizeof(buf), "%s\n", id);
	return write_file("cursor", buf, (size_t)n, err, errlen);
}

void
session_cursor_remove(void)
{
	char path[PATH_MAX], err[64];

	if (file_path("cursor", path, sizeof(path), err, sizeof(err)) == 0)
		unlink(path);
}
