/*
 * standby: a presence shard held by lease (presenced --leased; presenced(1),
 * "Standby").  Without --leased every call here lets everything through.
 */
#ifndef PRESENCED_STANDBY_H
#define PRESENCED_STANDBY_H

#include <jv.h>

struct ev_loop;

/* sweep starts the sweep of p/ records (store.c); it runs once the shard
 * is ours, at once without --leased. */
void pres_standby_init(struct ev_loop *loop, int leased, void (*sweep)(void),
    void (*unsweep)(void));
/* 1 while this process owns its shard (always without --leased). */
int pres_standby_owning(void);
/* {"ev":"lease","until_ms":T} from chat-bus serve --tell (borrowed). */
void pres_standby_lease(jv ev);
/* A change not persisted nor told because the shard is not ours. */
void pres_standby_skipped(void);
/* Adds {"lease":{owner,ms_left,gained,lost,skipped}} with --leased
 * (consumes and returns r). */
jv pres_standby_status(jv r);

#endif
