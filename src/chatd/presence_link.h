/*
 * presence_link: chatd's side of presenced (presenced(1)).  It keeps the
 * devices this chatd holds, turns their connects, activity, byes, closes
 * and drops into presence.batch lines (many devices a line; activity
 * coalesced to at most one beat per device a second), re-announces every
 * device with presence.sync each time the connection to presenced is made
 * (so a presenced restart rebuilds who is online and nobody flips offline),
 * and hands presence events from presenced to chatd as ready WebSocket
 * frames.  It runs on chatd's libev loop over lib/ipc.h; nothing blocks.
 *
 * What chatd calls, and where:
 *
 *   main.c, after the loop exists:
 *       pl = presence_link_new(loop, chatd.name, "presence",
 *           on_presence_push, NULL);
 *     on_presence_push(arg, to, nto, frame, len) writes frame (a complete
 *     {"type":"presence","user","status","last_active_at"} text) to every
 *     online device of each user in to[0..nto).  At exit:
 *     presence_link_free(pl).
 *
 *   auth accepted (the connection is registered as user/device, before
 *   "ready" is sent):
 *       presence_link_connect(pl, user, device);
 *       presence_link_friends(pl, user, timeout, cb, arg);
 *     cb gets {"ok":true,"presence":[{user,status,last_active_at}...]}:
 *     one presence frame per entry to that device (add "type":"presence").
 *
 *   every frame received from an authenticated device, hb or any other:
 *       presence_link_activity(pl, user, device);
 *     Cheap: a hash lookup; at most one beat a second leaves per device.
 *
 *   {"type":"bye"}:  presence_link_bye(pl, user, device);  then close the
 *     connection; do not also call close or drop for it.
 *
 *   LWS_CALLBACK_CLOSED (or LWS_CALLBACK_WSI_DESTROY) of an authenticated
 *   connection that did not say bye: exactly one of
 *       presence_link_close(pl, user, device);   clean: offline at once
 *       presence_link_drop(pl, user, device);    silent: offline after
 *                                                presence_timeout
 *     Clean is a close chatd or the client began with a close frame: the
 *     client sent a close frame (LWS_CALLBACK_WS_PEER_INITIATED_CLOSE was
 *     seen for this wsi), or chatd closed it on purpose (4002 replaced,
 *     1008 slow, 1009 too big, logout).  Everything else is a silent drop:
 *     chatd hung up after its ping timeout (alive.c: nothing heard, not
 *     even a PONG), a read or write error such as ECONNRESET, EOF without
 *     a close frame.  Record "peer sent close" in the connection when the
 *     PEER_INITIATED_CLOSE callback comes, and decide in CLOSED.
 *
 *   a presence query frame ({"type":"presence","users"|"group"}): not
 *       here; chatd asks chat-route (frames.c), which answers from
 *       chat-store's records and its own table of announced devices.
 *       presence_link_query() asks presenced itself (presence-load uses it).
 *     cb gets presenced's reply: {"ok":true,"presence":[...]} (strangers
 *     left out) or {"ok":false,"error":{"code","message"}} (not_member,
 *     bad_request, unavailable).
 *
 * The link counts connections per device: a device that reconnects to this
 * chatd before its old connection is closed (4002) stays online, because
 * the old connection's close only lowers the count.  So call connect once
 * per authenticated connection and exactly one of bye/close/drop when that
 * connection ends.  Callbacks given to query and friends must not hold a
 * pointer that may be freed before they run (take a reference, as
 * frames.c does with conn_ref).
 */
#ifndef CHATD_PRESENCE_LINK_H
#define CHATD_PRESENCE_LINK_H

#include <stddef.h>
#include <jv.h>

#include "ipc.h"

struct ev_loop;
struct presence_link;

/*
 * A presence event for users to[0..nto) (on this chatd, as presenced knows
 * it): frame[0..len) is the WebSocket text to write to each of their online
 * devices.  Everything is valid only during the call.
 */
typedef void presence_push_fn(void *arg, const char *const *to, size_t nto,
    const char *frame, size_t len);

/*
 * Connects to $CHAT_RUN/<sock>.sock: "presence", or "presence-<k>" for
 * shard k when presence_shards > 1 (and keeps reconnecting with backoff;
 * until then events are dropped, as the sync on connect restores them).
 * The link then carries only the devices its caller gives it: with
 * shards, presence.c keeps one link per shard and gives each the devices
 * of its users.  name is this chatd's name ("chatd-8081"), at most 64
 * bytes of [A-Za-z0-9_.:-]; sock at most 31 bytes.  Returns NULL on a bad
 * name or no memory.
 */
struct presence_link *presence_link_new(struct ev_loop *loop,
    const char *name, const char *sock, presence_push_fn *push, void *arg);
/* Sends what is batched, closes the connection, frees everything. */
void presence_link_free(struct presence_link *pl);

/* Device events; user and device as validated at auth (others are
 * ignored).  None blocks, none fails visibly. */
void presence_link_connect(struct presence_link *pl, const char *user,
    const char *device);
void presence_link_activity(struct presence_link *pl, const char *user,
    const char *device);
void presence_link_bye(struct presence_link *pl, const char *user,
    const char *device);
void presence_link_close(struct presence_link *pl, const char *user,
    const char *device);
void presence_link_drop(struct presence_link *pl, const char *user,
    const char *device);

/*
 * Asks presenced for the presence of users (an array of names, consumed;
 * pass jv_invalid() with a group) or of group's members, as user sees it.
 * cb runs exactly once, with the reply or an "unavailable" error after
 * timeout_ms.  Returns 0, or -1 (cb is not called) if the request could
 * not be made.
 */
int presence_link_query(struct presence_link *pl, const char *user, jv users,
    const char *group, int timeout_ms, ipc_reply_fn *cb, void *cbarg);
/* The presence of each of user's mutual friends: what a device gets on
 * auth.  As presence_link_query. */
int presence_link_friends(struct presence_link *pl, const char *user,
    int timeout_ms, ipc_reply_fn *cb, void *cbarg);

/* Counters for chatd's status op, as a JSON object (devices, connected,
 * beats, coalesced, events, batches, syncs, pushes, dropped, errors). */
jv presence_link_status(const struct presence_link *pl);

#endif
