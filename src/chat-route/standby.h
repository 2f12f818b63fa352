/*
 * standby: a route shard held by lease (chat-route --leased; chat-route(1),
 * "Standby").  Without --leased every call here lets everything through.
 */
#ifndef CHAT_ROUTE_STANDBY_H
#define CHAT_ROUTE_STANDBY_H

#include <jv.h>

struct ev_loop;
struct peer;

void standby_init(struct ev_loop *loop, int leased);
/* 1 while this process owns its shard (always without --leased). */
int standby_owning(void);
/* {"ev":"lease","until_ms":T} from chat-bus serve --tell (ev consumed). */
void standby_lease_event(struct peer *p, jv ev);
/* The store client's callbacks: the feed is followed and acted on only
 * while owning (feed.c does the work). */
void standby_feed_connect(void *arg);
void standby_feed_event(void *arg, jv ev, const char *line, size_t len);
/* Adds {"lease":{owner,ms_left,gained,lost,feed_ignored}} to r with
 * --leased (consumes and returns r). */
jv standby_status(jv r);

#endif
