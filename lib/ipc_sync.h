/*
 * ipc_sync: a blocking NDJSON client for command-line tools (chatctl,
 * chat-store's CLI checks, tests): connect, send one request, read lines
 * until the reply with the same id.  Not for daemons: it blocks.
 */
#ifndef CHAT_IPC_SYNC_H
#define CHAT_IPC_SYNC_H

#include <stddef.h>
#include "framer.h"

struct ipc_sync {
	int		fd;
	struct framer	fr;
	long		next_id;
};

/* Connects to the socket at path.  0, or -1 with err ("unable to connect
 * to 'PATH': No such file or directory"). */
int ipc_sync_open(struct ipc_sync *s, const char *path, char *err,
    size_t errlen);
void ipc_sync_close(struct ipc_sync *s);

/*
 * Sends the JSON object in req (an "id" is set, replacing any given) and
 * waits up to timeout_ms (0: forever) for its reply, skipping event lines.
 * Returns the reply line, malloc'd and NUL-terminated, or NULL with err.
 */
char *ipc_sync_call(struct ipc_sync *s, const char *req, int timeout_ms,
    char *err, size_t errlen);

/* The next line from the peer (events, for a live tail), malloc'd; NULL at
 * EOF, on timeout or error, with err filled. */
char *ipc_sync_read(struct ipc_sync *s, int timeout_ms, char *err,
    size_t errlen);

#endif
