/*
 * feed: committed messages, in commit (= id) order, to the route shards
 * that follow them (chat-store(1), "Feeds").  Used only with route_shards
 * above 1: a route shard delivers to its users only what its feed brings,
 * so every device gets its messages in increasing id order.
 */
#ifndef STORE_FEED_H
#define STORE_FEED_H

#include <jv.h>

struct ipc_conn;
struct store_req;

/* feed.follow {shard,shards} from c (loop): c gets, from now on, one
 * "feed" event per committed message with recipients on that shard.
 * Answers c; consumes req and id. */
void feed_follow(struct ipc_conn *c, jv req, jv id);
/* c closed: it follows nothing any more. */
void feed_conn_closed(struct ipc_conn *c);
/* r came back from the worker (loop, in commit order): if it is a
 * msg.append that succeeded, its message goes to the feeds it concerns. */
void feed_done(struct store_req *r);

#endif
