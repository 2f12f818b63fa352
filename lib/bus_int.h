/*
 * bus_int: what the files of the bus share and programs do not see
 * (bus.c the connection, bus_ev.c the libev adapter, bus_call.c requests).
 */
#ifndef CHAT_BUS_INT_H
#define CHAT_BUS_INT_H

#include <nats/nats.h>

#include "bus.h"

/* bus_ev.c: makes the adapter's state and sets it on opts for loop.
 * Returns it (free with bus_ev_free after natsConnection_Destroy), or
 * NULL. */
void *bus_ev_attach(natsOptions *opts, struct ev_loop *loop);
void bus_ev_free(void *ev);

/* bus.c, for bus_call.c */
/* A handler given the whole message (headers, status) on the loop. */
typedef void bus_raw_fn(void *arg, natsMsg *m);
/* Subscribes with fn (lines) or raw (messages); NULL with err filled. */
struct bus_sub *bus_sub_new(struct bus *b, const char *subject,
    const char *queue, bus_line_fn *fn, bus_raw_fn *raw, void *arg,
    char *err, size_t errlen);
/* Unsubscribes; messages already queued for s are skipped. */
void bus_sub_cancel(struct bus_sub *s);
natsConnection *bus_nc(struct bus *b);
struct ev_loop *bus_loop(struct bus *b);
struct bus_stats *bus_stats_of(struct bus *b);
/* Registers cl to hear of reconnects (bus_client_reconnected) and to be
 * freed by bus_close. */
void bus_add_client(struct bus *b, struct bus_client *cl);
void bus_del_client(struct bus *b, struct bus_client *cl);

/* bus_call.c, called by bus.c on the loop thread */
void bus_client_reconnected(struct bus_client *cl);
/* The next client in b's list (for bus.c's walks). */
struct bus_client *bus_client_next(struct bus_client *cl);
struct bus_client **bus_client_next_ptr(struct bus_client *cl);
void bus_client_set_next(struct bus_client *cl, struct bus_client *next);

#endif
