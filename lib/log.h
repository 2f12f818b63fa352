/*
 * log: one line per event on stderr, as the supervisor expects to collect it:
 *
 *   2026-11-23T08:01:02.345Z chat-store info: listening on 'var/run/store.sock'
 *
 * The API is OpenBSD's: *_warn appends strerror(errno), *_warnx does not.
 * fatal()/fatalx() are for start-up in main.c only; library code never logs.
 * Exit statuses follow s6: 0 done, 100 permanent (usage, config: do not
 * restart), 111 temporary (restart after a pause).
 */
#ifndef CHAT_LOG_H
#define CHAT_LOG_H

#include <stdarg.h>

#define EXIT_USAGE	100	/* usage or config error: permanent */
#define EXIT_CORRUPT	102	/* data at rest is corrupt: permanent, needs repair */
#define EXIT_TEMP	111	/* temporary failure: restart me */

/* Names the program in every line; call once at start. */
void log_init(const char *prog);
/* Raises or lowers the threshold: 0 warnings only, 1 info (default), 2 debug.
 * CHAT_LOG_LEVEL in the environment sets it at log_init. */
void log_set_level(int level);
const char *log_prog(void);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log and exit with status (EXIT_USAGE, EXIT_TEMP, ...). */
void fatal(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
void fatalx(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

#endif
