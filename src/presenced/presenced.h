/*
 * presenced: who is online.  chatd instances report device connects,
 * activity, byes, clean closes and silent drops in batches; presenced keeps
 * every device's deadline (last heard + presence_timeout) in one list that
 * is always in deadline order, because every deadline is "now + the same
 * timeout": a beat moves its device to the tail, one ev_timer watches the
 * head.  A user is online while it has a device.  Each online<->offline
 * change is persisted through chat-store (presence.set) and pushed to the
 * chatd instances holding devices of the user's mutual friends.
 *
 * Files: state.c (users, devices, chatds, deadlines), store.c (chat-store:
 * loading a user's persisted status, persisting and fanning out changes,
 * the sweep after a restart), query.c (presence.query and presence.friends,
 * with their friend and group checks), ops.c (the op table), batch.c
 * (the heartbeat line's fast parser), shard.c (presence_shards: which users
 * are ours, and presence.notify between shards), standby.c (a shard held
 * by lease), table.c.
 */
#ifndef PRESENCED_H
#define PRESENCED_H

#include <stddef.h>
#include <stdint.h>
#include <jv.h>

struct ev_loop;
struct ipc_conn;
struct ipc_client;

#define PRES_CHATD_MAX	64	/* longest chatd name */
#define PRES_DEVKEY_MAX	(32 + 1 + 64)	/* "user/device" */

enum pres_kind { PK_CONNECT, PK_BEAT, PK_BYE, PK_CLOSE, PK_DROP };

/* A connection to presenced: a chatd, chatctl, a test.  Refcounted so an
 * answer that arrives from chat-store after the peer left finds it closed. */
struct pres_conn {
	struct ipc_conn		*ipc;	/* NULL once closed */
	struct pres_chatd	*chatd;	/* the chatd it speaks for, if any */
	int			 refs;
};

/* A chatd by name.  Outlives its connections: after its connection drops,
 * its devices stay listed here until their deadlines pass or it re-syncs. */
struct pres_chatd {
	char			 name[PRES_CHATD_MAX + 1];
	struct pres_conn	*conn;	/* NULL while disconnected */
	struct pres_dev		*devs;
	unsigned long		 ndevs;
	unsigned		 sync_gen;
	int			 syncing;
	int			 warned_foreign;
	/* fan-out scratch: the recipients gathered for one event */
	jv			 to;
	struct pres_user	*last_to;
};

struct pres_user {
	char			 name[33];
	struct pres_dev		*devs;
	unsigned long		 ndev;
	int64_t			 last_active;	/* ms since the epoch */
	unsigned		 loaded:1;	/* shown holds the stored status */
	unsigned		 loading:1;	/* presence.get in flight */
	unsigned		 shown:1;	/* 1 online: what friends were told */
	struct pres_user	*lnext;		/* load queue */
};

struct pres_dev {
	struct pres_user	*user;
	struct pres_chatd	*chatd;		/* NULL after a silent drop */
	struct pres_dev		*unext, *uprev;	/* the user's devices */
	struct pres_dev		*cnext, *cprev;	/* the chatd's devices */
	struct pres_dev		*tnext, *tprev;	/* the deadline list */
	double			 deadline;	/* ev_now() time */
	double			 since;		/* ev_now() when first heard
						 * here by a connect; 0 if a
						 * sync announced it */
	unsigned		 sync_gen;
	unsigned char		 klen;
	char			 key[];		/* "user/device" */
};

struct pres_stats {
	unsigned long	batches, events, bad_events, connects, beats, byes,
			closes, drops, stale, syncs, gone, expired, online,
			offline, fanout_lines, fanout_users, queries,
			store_errors, loads, swept, foreign, notify_sent,
			notify_received, notify_held, notify_dropped,
			notify_errors;
};
extern struct pres_stats pres_stats;

/* state.c */
void pres_state_init(struct ev_loop *loop, double timeout);
/* conn speaks for the chatd called name from now on.  NULL on ENOMEM. */
struct pres_chatd *pres_chatd_claim(struct pres_conn *pc, const char *name);
/* The connection closed: its chatd's devices become silent drops. */
void pres_conn_closed(struct pres_conn *pc);
/* One event from cd about user/device (both already validated) at ts (ms,
 * 0: now).  Returns 0, or -1 on ENOMEM. */
int pres_event(struct pres_chatd *cd, const char *user, const char *device,
    enum pres_kind kind, int64_t ts);
/* A sync page from cd.  first starts a new sync; last ends it, and then
 * every device of cd not named since the first page is gone. */
void pres_sync_begin(struct pres_chatd *cd);
int pres_sync_device(struct pres_chatd *cd, const char *user,
    const char *device, int64_t ts);
void pres_sync_end(struct pres_chatd *cd);
struct pres_user *pres_user_find(const char *name);
/* Finds or makes a user record (not loaded); NULL on ENOMEM. */
struct pres_user *pres_user_get(const char *name);
/* Decides whether u's shown status must change, and frees u if nothing
 * holds it any more: u may be gone after this call. */
void pres_settle(struct pres_user *u);
/* u's stored status arrived (or, after a restart, the sweep found it
 * online): records it and settles u, which may free it. */
void pres_loaded(struct pres_user *u, int online, int64_t last_active);
struct pres_chatd *pres_chatd_find(const char *name);
void pres_chatd_each(void (*fn)(struct pres_chatd *, void *), void *arg);
/* Up to limit online users, in no order, and their number in *total. */
jv pres_online_list(int limit, unsigned long *total);
unsigned long pres_ndevices(void);
unsigned long pres_nusers(void);
unsigned long pres_nonline(void);
/* One presence entry {user,status,last_active_at} for u. */
jv pres_entry(const struct pres_user *u);

/* store.c */
/* leased: the sweep and publishing wait for the lease (standby.c). */
void pres_store_init(struct ev_loop *loop, struct ipc_client *store,
    double sweep_after, int leased);
/* Queues u for loading its stored status (batched per loop turn). */
void pres_load(struct pres_user *u);
/* Persists u's new shown status and, with tell, pushes it to its mutual
 * friends. */
void pres_publish(struct pres_user *u, int tell);
/* Writes "user is online/offline since at" to every chatd holding a device
 * of one of names (an array of user names of this shard, consumed): one
 * event line per chatd.  Only devices first heard (since) at or before
 * heard_by, an ev_now() time: a later one got the news on its auth. */
void pres_fanout(const char *user, int online, int64_t at, jv names,
    double heard_by);
/* Changes waiting for room in chat-store's pipeline. */
unsigned long pres_publish_queued(void);
/* The store client, for query.c. */
struct ipc_client *pres_store(void);

/* query.c */
/* Answers presence.query (req borrowed, id consumed) on pc. */
void pres_query(struct pres_conn *pc, jv req, jv id);
/* Answers presence.friends. */
void pres_friends(struct pres_conn *pc, jv req, jv id);

/* batch.c */
/* Applies a well-formed presence.batch line without libjq and answers it:
 * 1.  0 if the line is anything else or not plain: nothing was applied,
 * and the caller takes the general path. */
int pres_batch_fast(struct pres_conn *pc, const char *line, size_t len);

/* shard.c */
/* This process owns shard k of n (n 1: every user). */
void pres_shard_init(struct ev_loop *loop, unsigned n, unsigned k);
/* Frees the other shards' clients and what waits for the settle. */
void pres_shard_stop(void);
unsigned pres_nshards(void);
unsigned pres_shard_me(void);
/* The shard of user, and whether it is ours. */
unsigned pres_shard_of(const char *user);
int pres_shard_mine(const char *user);
/* Tells shard j (not ours) that user went online/offline at at, for its
 * users to (an array of names, consumed): presence.notify, resent after a
 * reconnect until shard j answers. */
void pres_shard_notify(unsigned j, const char *user, int online, int64_t at,
    jv to);
/* Answers presence.notify from another shard (req borrowed, id consumed):
 * the event goes to the chatds of the users named in "to". */
void pres_notify(struct pres_conn *pc, jv req, jv id);
/* Adds shard, shards and peers to the status object r (consumed). */
jv pres_shard_status(jv r);

/* ops.c */
/* A chatd name: 1 to 64 of [A-Za-z0-9_.:-]. */
int pres_valid_chatd(const char *s);
void pres_dispatch(struct pres_conn *pc, const char *line, size_t len);
void pres_conn_ref(struct pres_conn *pc);
void pres_conn_unref(struct pres_conn *pc);
/* Sends v (consumed) on pc if it is still open. */
void pres_reply(struct pres_conn *pc, jv v);

#endif
