/*
 * server: the daemon's side on the event loop.  Listens on
 * $CHAT_RUN/store.sock (lib/ipc.h), parses each line, and passes requests
 * to the threads of commit.c; sends their replies back in request order.
 */
#ifndef STORE_SERVER_H
#define STORE_SERVER_H

/* Runs the daemon until SIGTERM or SIGINT: opens the database, listens,
 * signals readiness.  Returns the exit status (0 after a clean stop);
 * exits itself only at start-up (fatal). */
int store_serve(void);

#endif
