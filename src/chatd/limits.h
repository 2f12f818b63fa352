/*
 * limits: a cap on the connections one peer address may hold open on an
 * lws server (chatd, chat-api), against connection floods and slowloris
 * from one host (RELIABILITY.md row 28).  Debian's libwebsockets 4.1.6 is
 * built without LWS_WITH_PEER_LIMITS, so the count is ours: checked when
 * the kernel hands lws a new socket (FILTER_NETWORK_CONNECTION: refused
 * there, the socket is closed before any byte is read), counted when lws
 * makes its wsi, uncounted when lws destroys it.
 */
#ifndef LIMITS_H
#define LIMITS_H

#include <libwebsockets.h>

/* max: connections a peer address may hold at once (0: no cap). */
void limits_init(unsigned max);
void limits_free(void);
/* Call first in the callback of an lws server's protocols[0], with its
 * arguments; returns -1 if the callback must return -1 (refused), else 0. */
int limits_callback(struct lws *wsi, enum lws_callback_reasons reason,
    void *in);
/* Connections refused so far, and addresses counted now. */
unsigned long limits_refused(void);
unsigned long limits_peers(void);

#endif
