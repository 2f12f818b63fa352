/*
 * conf: the stack's configuration, `key = value` lines in
 * $CHAT_HOME/etc/chat.conf ('#' starts a comment).  Every key has a built-in
 * default in one table (lib/conf_keys.h, documented in chat.conf(5)); the
 * environment overrides the file: key `presence_timeout` is read from
 * CHAT_PRESENCE_TIMEOUT first.  CHAT_HOME itself comes only from the
 * environment (default ./var); CHAT_RUN defaults to $CHAT_HOME/run.
 */
#ifndef CHAT_CONF_H
#define CHAT_CONF_H

#include <stddef.h>
#include <stdio.h>

/*
 * Loads $CHAT_HOME/etc/chat.conf (a missing file is fine: defaults apply).
 * An unknown key or a malformed line is an error: returns -1 and fills err
 * with the file, line and reason.  Safe to call again (reloads).
 */
int conf_load(char *err, size_t errlen);

/* The value of key: environment, then file, then default.  Never NULL for a
 * key in the table; NULL for a key that is not (a programming error). */
const char *conf_get(const char *key);
/* The value as an integer.  If it is not one: -1 with errno EINVAL (errno
 * is 0 on success, so set it to 0 first to tell a real -1 apart). */
long long conf_int(const char *key);
/* true/yes/on/1 are 1, anything else 0. */
int conf_bool(const char *key);

/* $CHAT_HOME, $CHAT_RUN, and a path under them, in static storage that the
 * next call of the same function may overwrite. */
const char *conf_home(void);
const char *conf_run(void);
/* $CHAT_RUN/<name>.sock into buf; returns buf. */
char *conf_sock_path(const char *name, char *buf, size_t len);
/* Prints every key with its value and source, for chatctl and tests. */
void conf_dump(FILE *out);

#endif
