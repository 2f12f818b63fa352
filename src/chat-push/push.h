/*
 * chat-push: a durable queue of push notifications and the senders for each
 * provider.  The parts, one file each:
 *
 *   queue.c    the job queue in chat-push's own LevelDB ($CHAT_HOME/push),
 *              keys ordered by due time, written with group commit
 *   job.c      a job's fields checked, and what one notification says
 *   batch.c    the per-device batches (collapse) and the heap of due times
 *   sched.c    when a batch is sent, dispatch, retries with backoff, what
 *              each outcome does to the queue
 *   http.c     libcurl's multi interface driven by the libev loop
 *   jwt.c      base64url and JWTs signed RS256 (FCM) and ES256 (APNs)
 *   prov_*.c   the request shape of each provider
 *   ops.c      the socket's ops; filter.c the --stdin mode
 *
 * Every function runs on the one loop thread; nothing here blocks except
 * the synced LevelDB write of a group commit.
 */
#ifndef CHAT_PUSH_H
#define CHAT_PUSH_H

#include <stddef.h>
#include <stdint.h>
#include <jv.h>

struct ev_loop;
struct curl_slist;

/* --- http.c --------------------------------------------------------------- */

struct http_res {
	const char	*url;		/* the request's URL */
	long		 status;	/* HTTP status, 0 if none came */
	int		 curl_code;	/* CURLE_OK or the transport error */
	const char	*error;		/* curl's message when curl_code != 0 */
	const char	*body;		/* response body (NUL-terminated, capped) */
	size_t		 len;
	long long	 retry_after_ms; /* Retry-After, -1 if absent */
	int		 ambiguous;	/* a transport error after the request
					 * left: it may have been delivered */
	double		 secs;		/* total time */
};

typedef void http_done_fn(void *arg, const struct http_res *res);

/* A request to make: the caller fills it, http_start takes it over and
 * frees it (url, body, headers) after done has run. */
struct http_req {
	char			*url;
	char			*body;	/* POST body, may be NULL (empty) */
	size_t			 bodylen;
	struct curl_slist	*headers;
	int			 http2;	/* offer HTTP/2 (ALPN) on https */
};

/* Starts the client on loop with the conf's timeouts and concurrency.
 * 0, or -1 with err. */
int http_init(struct ev_loop *loop, char *err, size_t errlen);
void http_shutdown(void);
/* A new empty request (calloc'd); NULL on memory failure. */
struct http_req *http_req_new(void);
/* Adds "Name: value" to r; -1 on memory failure. */
int http_header(struct http_req *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void http_req_free(struct http_req *r);
/* Sends r (taken over) and calls done exactly once, later, from the loop.
 * Never blocks.  Returns 0, or -1 (r freed, done not called). */
int http_start(struct http_req *r, http_done_fn *done, void *arg);
/* Requests in flight. */
int http_inflight(void);

/* --- jwt.c ---------------------------------------------------------------- */

/* base64url without padding of in[0..len) into a malloc'd string. */
char *b64url(const void *in, size_t len);
/* Borrows header and claims.  A compact JWT signed with key (RS256 for an
 * RSA key, ES256 for a P-256 key), malloc'd; NULL with err. */
struct evp_pkey_st;
char *jwt_sign(jv header, jv claims, struct evp_pkey_st *key, char *err,
    size_t errlen);
/* Reads a PEM private key from a string or a file; NULL with err. */
struct evp_pkey_st *jwt_key_pem(const char *pem, char *err, size_t errlen);
struct evp_pkey_st *jwt_key_file(const char *path, char *err, size_t errlen);

/* --- job.c ---------------------------------------------------------------- */

#define PUSH_TITLE_MAX	160
#define PUSH_TEXT_MAX	400

/* One notification: what the newest of n collapsed jobs says. */
struct push_note {
	const char	*user, *device, *provider, *endpoint, *token;
	const char	*from, *conv, *group;
	const char	*msg_id;	/* the newest: collapse/idempotency key */
	const char	*body;		/* the newest text, NULL unless preview */
	int64_t		 ts;
	int		 count;		/* messages this notification stands for */
	char		 title[PUSH_TITLE_MAX];
	char		 text[PUSH_TEXT_MAX];
};

/* Consumes v.  A registration given as "push":{provider,endpoint,token?}
 * (chat-store's device record) becomes the top-level fields. */
jv job_normalize(jv v);
/* Borrows v.  Checks a job object (the fields of push.enqueue); 0, or -1
 * with err naming the field. */
int job_check(jv v, char *err, size_t errlen);
/* Borrows newest (a checked job, which outlives n).  Fills n for count
 * messages; the text is the body only if preview. */
void job_note(jv newest, int count, int preview, struct push_note *n);

/* --- providers ------------------------------------------------------------ */

enum push_verdict {
	PV_OK,		/* delivered: delete the jobs */
	PV_RETRY,	/* try again later (backoff or Retry-After) */
	PV_GONE,	/* the registration is dead: clear it, drop the jobs */
	PV_FAIL		/* permanent refusal: drop the jobs, log */
};

/* build's results besides 0 (ready) and -1 (permanent error) */
#define PROV_WAIT	1	/* credentials on their way: push_sched_wake()
				 * will be called when worth trying again */
#define PROV_LATER	2	/* temporary error: retry with backoff */

struct push_provider {
	const char *name;
	/* Makes the request for n into r; 0, PROV_WAIT, PROV_LATER or -1. */
	int (*build)(const struct push_note *n, struct http_req *r,
	    char *err, size_t errlen);
	/* What a finished response means; why gets a short reason. */
	enum push_verdict (*verdict)(const struct http_res *res, char *why,
	    size_t whylen);
};

extern const struct push_provider prov_webhook, prov_unifiedpush, prov_ntfy,
    prov_fcm, prov_apns;
/* The provider called name, or NULL. */
const struct push_provider *push_provider(const char *name);
/* The common reading of a status: 2xx ok, 404/410 gone, 408/425/429/5xx
 * and transport errors retry, other 4xx fail. */
enum push_verdict push_verdict_http(const struct http_res *res, char *why,
    size_t whylen);
/* Loads credentials named in the conf (FCM, APNs) if set; -1 with err if a
 * configured file is unusable. */
int prov_fcm_init(char *err, size_t errlen);
int prov_apns_init(char *err, size_t errlen);

/* --- queue.c -------------------------------------------------------------- */

/* Opens (creates) the queue database in dir.  -1 with err; *corrupt set
 * when the data is damaged rather than busy or missing. */
int queue_open(const char *dir, int *corrupt, char *err, size_t errlen);
void queue_close(void);
int queue_is_open(void);
/* Calls fn for every stored job, in due order; -1 with err on a read
 * error.  v (the parsed, checked value) is fn's own; raw[0..len) is the
 * stored text, valid during the call. */
typedef void queue_load_fn(void *arg, uint64_t due, uint64_t seq, jv v,
    const char *raw, size_t len);
int queue_load(queue_load_fn *fn, void *arg, char *err, size_t errlen);
/* The next unused sequence number (after queue_load). */
uint64_t queue_next_seq(void);
/* Adds to the pending group commit; no-ops when no queue is open. */
void queue_put(uint64_t due, uint64_t seq, const char *val, size_t len);
void queue_del(uint64_t due, uint64_t seq);
/* 1 if puts or deletes wait for a commit. */
int queue_dirty(void);
/* Writes what is pending as one synced batch.  0, or -1 with err. */
int queue_commit(char *err, size_t errlen);
/* Counters for status. */
unsigned long queue_commits(void);

/* --- batch.c ------------------------------------------------------------- */

/* A device's jobs, oldest first, sent as one notification. */
enum batch_state {
	B_WAIT,		/* in the heap until due */
	B_FLIGHT,	/* a request is in flight */
	B_CLEAR,	/* push.clear asked of chat-store */
	B_AUTH		/* waiting for the provider's credentials */
};

struct batch {
	char		*user, *device;
	struct job	*head, *tail;
	int		 njobs;
	int		 nsent;		/* jobs covered by the request in flight */
	int		 sealed;	/* > 0: the next try covers exactly these */
	int		 attempts;
	int		 state;
	int		 cancelled;	/* push.cancel came while in flight */
	uint64_t	 due;
	size_t		 hi;		/* heap index while B_WAIT */
	struct batch	*hnext;		/* hash chain */
	struct batch	*wnext;		/* waiting for credentials */
};


/* FNV-1a of three strings, for the table and the recent-delivery ring. */
uint64_t batch_hash(const char *a, const char *b, const char *c);
/* The batch of (user, device); with create, a new empty one (state
 * B_WAIT, not in the heap) if there is none; else NULL. */
struct batch *batch_get(const char *user, const char *device, int create);
/* Forgets b (its jobs must be gone) and frees it. */
void batch_free(struct batch *b);
size_t batch_count(void);
/* Calls fn for every batch; fn may free the batch it is given. */
void batch_each(void (*fn)(struct batch *, void *), void *arg);
/* The heap of waiting batches: push sets state B_WAIT; remove is a no-op
 * for a batch not in it; up restores order after b's due time fell. */
void heap_push(struct batch *b);
void heap_remove(struct batch *b);
void heap_up(size_t i);
/* The earliest waiting batch, or NULL. */
struct batch *heap_top(void);

/* --- sched.c -------------------------------------------------------------- */

/* A queued job, compact: the JSON line as stored, and the fields the
 * scheduler reads often.  The line is parsed again only when the job is
 * the newest of a notification being built. */
struct job {
	uint64_t	 seq;		/* identity in the queue database */
	uint64_t	 due_key;	/* due time in its current key */
	uint64_t	 queued_at;	/* ms, when chat-push took it */
	struct job	*next;
	char		*json;		/* the job object, compact */
	size_t		 len;
	const char	*user, *device;	/* inside ud */
	char		 msg_id[17];
	char		 provider[16];
	char		 ud[];		/* "user\0device\0" */
};

struct push_stats {
	unsigned long	enqueued, dup, sent, retried, gone, failed, expired,
			cancelled, requests;
};
extern struct push_stats push_stats;

/* A finished job, for --stdin's report: verdict, status, reason. */
typedef void sched_report_fn(const struct job *j, enum push_verdict v,
    long status, const char *why);

/* Starts the scheduler on loop; report may be NULL; store_sock names
 * chat-store's socket for push.clear (NULL: dead registrations are only
 * dropped, as in --stdin). */
void sched_init(struct ev_loop *loop, sched_report_fn *report,
    const char *store_sock);
/* Makes a job from a checked object (consumed); json[0..len) is its
 * compact text if the caller has it (else NULL: it is made).  The caller
 * sets due_key and stores it.  NULL if memory runs out. */
struct job *sched_job_new(jv v, const char *json, size_t len, uint64_t seq,
    uint64_t queued_at);
void sched_job_free(struct job *j);
/* 1 if a job for (user, device, msg_id) is queued already. */
int sched_has(const char *user, const char *device, const char *msg_id);
/* The due time a new job for (user, device) gets. */
uint64_t sched_due_for(const char *user, const char *device);
/* Takes j into its device's batch (collapse) and schedules it. */
void sched_add(struct job *j);
/* Drops the queued jobs of user (every device, or only device if not
 * NULL); returns how many. */
int sched_cancel(const char *user, const char *device);
/* Credentials arrived: try the batches that waited for them. */
void push_sched_wake(void);
/* Jobs held, batches, requests in flight. */
void sched_counts(unsigned long *jobs, unsigned long *batches,
    unsigned long *inflight);
/* Borrows nothing.  The queued jobs of user as an array for push.status. */
jv sched_list(const char *user);
/* 1 when no job is held (for --stdin's exit). */
int sched_idle(void);

/* --- ops.c, filter.c ------------------------------------------------------ */

int ops_start(struct ev_loop *loop, const char *sockpath, char *err,
    size_t errlen);
void ops_stop(void);
/* The --stdin filter: returns the exit status. */
int filter_run(struct ev_loop *loop);

uint64_t mono_ms_now(void);

#endif
