/*
 * limits: a cap on the connections one peer address may hold open on an
 * lws server (chatd, chat-api), against connection floods and slowloris
 * from one host (RELIABILITY.md row 28).  Debian's libwebsockets 4.1.6 is
 * built without LWS_WITH_PEER_LIMITS, so the count is ours: checked when
 * the kernel hands lws a new socket (FILTER_NETWORK_CONNECTION: refused
 * there, the socket is closed before any byte is read), counted when lws
 * makes its wsi, uncounted when lws destroys it.
 *
 * The same tables count a user's connections on one chatd
 * (max_conns_per_user): a connection is counted once its token names the
 * user, before chat-store is asked anything, and uncounted when lws
 * destroys it, so one user's thousands of idle sockets cost other users
 * nothing.  The cap is per chatd: a user spread over N chatds may hold N
 * times it (discovery hands each client the least-loaded one).
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

/* Sets max_conns_per_user (0: no cap); after limits_init. */
void limits_user_init(unsigned max);
/*
 * Counts wsi, once, against user until lws destroys it.  Returns -1, and
 * counts nothing, if user already holds the cap here, unless force (a
 * device connecting again: its older connection is about to be closed).
 */
int limits_user_take(struct lws *wsi, const char *user, int force);
/* Authentications refused for the cap so far, and users counted now. */
unsigned long limits_user_refused(void);
unsigned long limits_users(void);

#endif
