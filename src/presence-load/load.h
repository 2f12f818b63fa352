/*
 * presence-load's parts: main.c (the heartbeat load), link.c (a driver for
 * chatd's presence_link module).
 */
#ifndef PRESENCE_LOAD_H
#define PRESENCE_LOAD_H

/* Runs presence_link as the chatd called name, commands from stdin (see
 * link.c); returns the exit status. */
int load_link(const char *name);

#endif
