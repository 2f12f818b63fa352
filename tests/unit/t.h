/*
 * t.h: the tiny test macro.  Each check prints one TAP line; main() returns
 * t_done(), non-zero if any check failed.
 */
#ifndef CHAT_T_H
#define CHAT_T_H

#include <stdio.h>

static int t_n, t_failed;

#define CHECK(cond, ...) do {						\
	t_n++;								\
	if (cond) { printf("ok %d - ", t_n); }				\
	else { t_failed++; printf("not ok %d - %s:%d: ", t_n, __FILE__, __LINE__); } \
	printf(__VA_ARGS__); printf("\n");				\
} while (0)

static inline int t_done(void) { printf("1..%d\n", t_n); return t_failed != 0; }

#endif
