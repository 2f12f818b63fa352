/*
 * util: small glue every program needs: directories, readiness, sockets.
 */
#ifndef CHAT_UTIL_H
#define CHAT_UTIL_H

#include <stddef.h>

/* mkdir -p with mode for each created directory; 0 or -1 with errno. */
int mkdir_p(const char *path, int mode);
/* O_NONBLOCK and FD_CLOEXEC on fd; 0 or -1 with errno. */
int set_nonblock(int fd);
/* Milliseconds on CLOCK_MONOTONIC: for deadlines and timeouts on this
 * machine, never compared with another machine's. */
long long mono_ms(void);

/*
 * Tells the supervisor we are ready: if CHAT_READY_FD names an open
 * descriptor, writes "\n" to it and closes it (s6's notification-fd).
 * Harmless when run by hand.
 */
void notify_ready(void);

/* Splits "host:port" into host (hostlen bytes) and port; -1 if malformed. */
int parse_hostport(const char *s, char *host, size_t hostlen, int *port);

/* Fills buf with n random bytes from getrandom(2); -1 on failure. */
int random_bytes(void *buf, size_t n);

/* user name as PROTOCOL.md: ^[a-z0-9][a-z0-9_.-]{0,31}$ */
int valid_user(const char *s);
/* device id: ^[A-Za-z0-9_-]{1,64}$ */
int valid_device(const char *s);
/* group id: g_ then 1..32 of [a-z0-9] */
int valid_group(const char *s);
/* cid: 1..64 printable ASCII (0x20..0x7e) */
int valid_cid(const char *s);

#endif
