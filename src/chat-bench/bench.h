/*
 * chat-bench: the load generator (ARCHITECTURE.md, issue 8).  One process,
 * one libev loop, libwebsockets clients on it (LWS_SERVER_OPTION_LIBEV with
 * the loop given as a foreign loop), thousands of connections.
 *
 * Three targets speak the same shape of load so one run compares them:
 *   chat      the stack: chatd's protocol (chat-protocol(7)), users and
 *             devices made through chat-api (or minted, see mint.c)
 *   relay     bench/lws-relay: auth names a user, frames are relayed
 *   mosquitto MQTT 3.1.1 over WebSocket, QoS 1, one topic per user
 *
 * Every message is one slot of a table made before timing starts (no malloc
 * per message): when it was queued to send, how many deliveries it is owed
 * and has had.  Its cid (or MQTT payload) carries "<run tag>.<slot>" so an ack
 * or a delivery finds its slot in O(1).
 *
 * Files: main.c, run.c (the timed phases), opts.c (options), setup.c (HTTP users, devices,
 * groups), mint.c (--mint: devices and tokens without chat-api), state.c
 * (--state: reuse across runs), conn.c (connections, pacing, writes),
 * proto_chat.c (chat and relay frames), proto_mqtt.c, load.c (the rate,
 * the table, the accounting), hist.c, jscan.c, procs.c, report.c.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <ev.h>

#define BENCH_USER_MAX		33
#define BENCH_DEVICE_MAX	65
#define BENCH_TOKEN_MAX		256
#define BENCH_MAX_PIDS		32
#define BENCH_SENDQ		256	/* messages queued per device, power of 2 */
#define BENCH_MQTT_INFLIGHT	1024	/* MQTT packet ids in flight per device */

enum bench_target { TARGET_CHAT, TARGET_RELAY, TARGET_MQTT };

struct bench_opts {
	enum bench_target target;
	int		 devices;
	double		 rate;		/* messages per second offered */
	double		 duration;	/* measured seconds */
	double		 warmup;	/* seconds sent but not measured */
	double		 drain;		/* seconds without progress that end the
					   wait for the last acks and deliveries */
	int		 group_size;	/* 0: no groups */
	double		 group_ratio;	/* share of messages sent to groups */
	int		 body_bytes;
	int		 idle;		/* only hold the connections */
	double		 connect_rate;	/* new sockets per second */
	int		 connect_inflight; /* devices connecting at once */
	double		 recv_every;	/* chat: seconds between "recv" frames */
	double		 hb_every;	/* chat: heartbeat interval */
	const char	*api;		/* http://host:port */
	const char	*ws;		/* ws://host:port/path, NULL: login's */
	const char	*prefix;	/* user names: prefix + number */
	const char	*password;
	const char	*state;		/* state file, or NULL */
	int		 mint;		/* devices and tokens from CHAT_HOME */
	int		 setup_only;	/* make users, devices, groups; exit */
	int		 seed_users;	/* print import lines for the users */
	const char	*sources[16];	/* local addresses to connect from */
	int		 nsources;
	int		 pids_from_super;
	char		*pid_names[BENCH_MAX_PIDS];
	int		 pids[BENCH_MAX_PIDS];
	int		 npids;
	const char	*label;		/* copied into the JSON */
	int		 verbose;
};

/* One simulated device: a user's one connection. */
struct dev {
	struct lws	*wsi;
	int		 idx;
	int		 state;		/* DEV_* in conn.c */
	int		 tries;
	int		 step;		/* the target's handshake step */
	int		 recv_due;
	int		 group;		/* index in bench.groups, -1 none */
	char		 user[BENCH_USER_MAX];
	char		 device[BENCH_DEVICE_MAX];
	char		*token;		/* chat only */
	uint64_t	 last_id;	/* chat: newest message id received */
	uint64_t	 last_acked;	/* chat: newest id of its own, acked */
	uint64_t	 recv_sent;	/* chat: last id told with "recv" */
	int		 hb_due;
	int		 ping_due;	/* mqtt PINGREQ */
	/* messages to write: slots, a ring */
	uint32_t	 q[BENCH_SENDQ];
	unsigned	 qhead, qtail;
	/* mqtt: packet id -> slot, PUBACKs owed */
	uint32_t	*inflight;
	uint16_t	 next_pid;
	uint16_t	*puback;
	unsigned	 pahead, patail;
	/* a frame or MQTT stream being reassembled */
	unsigned char	*rx;
	size_t		 rx_len, rx_cap;
};

struct group {
	char		 gid[40];
	int		 first;		/* devices first .. first+size-1 */
	int		 size;
};

/* One message slot. */
struct msg {
	double		 t;		/* when queued to send, bench_now() */
	int32_t		 from;
	uint16_t	 expected;	/* recipient devices online at send */
	uint16_t	 delivered;
	uint8_t		 acked;
	uint8_t		 failed;
	uint8_t		 measured;	/* sent inside the measured window */
	uint8_t		 is_group;
};

struct hist;

struct bench {
	struct bench_opts o;
	struct ev_loop	*loop;
	struct lws_context *ctx;
	struct dev	*devs;
	int		 ndevs;
	struct group	*groups;
	int		 ngroups;
	char		 run_tag[9];	/* 8 hex digits, in every cid */
	char		 ws_host[256], ws_path[256];
	int		 ws_port;
	/* connection phase */
	int		 next_connect;
	int		 connecting, ready, failed_connect, dropped;
	double		 t_connect0, t_connected;
	/* the message table */
	struct msg	*msgs;
	uint32_t	 nmsgs, cap;
	double		 t0, t_measure, t_end;	/* load start, window, end */
	double		 t_last_send;
	double		 lag_max, lag_sum;	/* issue time - intended time */
	double		 sent_group_acc;
	uint32_t	 rr;		/* round robin over senders */
	int		 sending;
	/* counts */
	uint64_t	 acked, failed, delivered, duplicates, stale, self;
	uint64_t	 win_delivered;	/* deliveries inside the window */
	uint64_t	 skipped, queue_full, bad_frames;
	struct hist	*h_ack, *h_deliver;
	/* errors by code: a small table */
	char		 err_code[16][32];
	uint64_t	 err_n[16];
	int		 nerr;
	int		 phase;		/* PHASE_* */
	/* what the processes cost: [0..npids) servers, [npids] chat-bench */
	double		 cpu0[BENCH_MAX_PIDS + 1], cpu1[BENCH_MAX_PIDS + 1];
	long		 rss0[BENCH_MAX_PIDS + 1], rss1[BENCH_MAX_PIDS + 1];
	long		 slab0, slab1;
	double		 t_cpu0, t_cpu1;
	double		 t_drained;	/* seconds the drain took */
};

/* run.c: the devices and groups the options ask for, and a run tag;
 * -1 if out of memory. */
int bench_make_devices(void);
/* run.c: connects, loads or holds, drains (ev_run on B.loop).  0, or -1 if
 * no device connected. */
int bench_run(void);

/* report.c: prints the run's one JSON object on stdout; returns the
 * number of lost messages. */
uint64_t report_print(void);

extern struct bench B;

/* opts.c: parses argv into B.o; exits 100 on a usage error, 0 on --help. */
void bench_options(int argc, char **argv);

/* setup.c: users, devices and groups through chat-api (signup, login,
 * POST /v1/groups), for every device without a token.  Blocking (before
 * timing).  0, or -1 with a logged reason. */
int setup_http(void);

/* mint.c: the same through chat-store's socket and the stack's secret
 * under CHAT_HOME, for runs too large for one yescrypt hash per login. */
int setup_mint(void);
/* mint.c: prints chat-store import lines making the users (--seed-users). */
int seed_users(void);

/* state.c: tokens, device ids, last ids and group ids kept between runs. */
int state_load(const char *path);
int state_save(const char *path);

/* conn.c */
int conn_init(char *err, size_t errlen);
void conn_start(void);			/* paced connects begin */
void conn_kick(struct dev *d);		/* ask for writable */
void conn_fini(void);

/* proto_chat.c: chat and relay frames; proto_mqtt.c: MQTT packets.
 * *_write fills buf (after LWS_PRE) with the next thing d must send:
 * returns its length, 0 if nothing is due.  *_rx takes one whole frame
 * (chat) or a chunk of the byte stream (mqtt). */
size_t chat_write(struct dev *d, unsigned char *buf, size_t cap);
void chat_rx(struct dev *d, const char *buf, size_t len);
int chat_pending(const struct dev *d);
size_t mqtt_write(struct dev *d, unsigned char *buf, size_t cap);
int mqtt_rx(struct dev *d, const unsigned char *buf, size_t len);
int mqtt_pending(const struct dev *d);

/* load.c */
int load_init(void);			/* the table, sized from the options */
void load_start(void);
void load_stop(void);
void load_ack(const char *cid, size_t len, double now);
void load_ack_slot(uint32_t slot, double now);
void load_delivered(struct dev *to, const char *cid, size_t len,
    double now);
void load_error(const char *cid, size_t cidlen, const char *code,
    size_t codelen);
void load_count_error(const char *code);
uint64_t load_outstanding(void);	/* acked deliveries still owed */
int load_format_cid(uint32_t slot, char *out, size_t cap);

/* Phases of a run (main.c). */
enum { PHASE_SETUP, PHASE_CONNECT, PHASE_LOAD, PHASE_DRAIN, PHASE_IDLE,
    PHASE_DONE };

/* Device states (conn.c). */
enum { DEV_IDLE, DEV_CONNECTING, DEV_AUTH, DEV_READY, DEV_DOWN };

/* Called by the protocols when a device is usable (synced), and by conn.c
 * when one is gone. */
void bench_dev_ready(struct dev *d);
void bench_dev_down(struct dev *d, const char *why);

/* The ev clock: monotonic seconds. */
double bench_now(void);

#endif
