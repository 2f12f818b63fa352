/*
 * sched: when each job is sent, and what its outcome does.
 *
 * Jobs are grouped per device into one batch: the first job of a device
 * opens a collapse window of push_collapse_ms, and every job that arrives
 * for that device before the batch is sent joins it, so a burst of messages
 * becomes one notification that counts them, keyed by the newest msg_id.
 * Waiting batches sit in a min-heap by due time; one ev_timer wakes for the
 * earliest.  At most push_concurrency requests are in flight.
 *
 * Outcomes: a success deletes the jobs it covered (synced, via the queue's
 * group commit).  A retryable failure moves the batch's due time by
 * exponential backoff with jitter, or by Retry-After when the provider gave
 * one; jobs that arrive meanwhile join it, unless the failure was ambiguous
 * (a timeout after the request left), in which case the batch is sealed:
 * the retry repeats the same notification with the same key, so a provider
 * that did get it shows it once.  404/410 clears the device's registration
 * in chat-store (push.clear) and drops its jobs; other refusals drop the
 * jobs covered; a job older than push_max_age is given up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "conf.h"
#include "id.h"
#include "ipc.h"
#include "json.h"
#include "log.h"
#include "util.h"
#include "push.h"

struct push_stats push_stats;

static struct ev_loop	*loop;
static ev_timer		 tick;
static sched_report_fn	*report;
static struct ipc_client *store;

static unsigned long	 njobs_all;
static struct batch	*authwait;
static int		 inflight, max_inflight, preview;
static uint64_t		 collapse_ms, max_age_ms, backoff_ms, backoff_max_ms;

/* Recently delivered (user, device, msg_id), so a resent push.enqueue of a
 * job already sent is answered dup instead of notifying twice.  A
 * direct-mapped cache of hashes: O(1), and a collision only forgets. */
#define RECENT_N	8192	/* a power of two */
#define RECENT_MS	(10 * 60 * 1000)
static struct { uint64_t h, at; } recent[RECENT_N];

static void rearm(void);

/* Retry-After on a 429 or 503 holds the whole origin (scheme, host and
 * port), not only the batch that got it: the provider is rate-limiting
 * or down for everyone.  A small table; the entry ending first is reused. */
#define HOLDS		64
#define ORIGIN_MAX	160
static struct { char origin[ORIGIN_MAX]; uint64_t until; } holds[HOLDS];

/* "https://host:port" of url into out ("" if it has no "//"). */
static void
origin_of(const char *url, char *out)
{
	const char *p = strstr(url, "//");
	size_t n;

	if (p == NULL) {
		out[0] = '\0';
		return;
	}
	n = (size_t)(p + 2 - url) + strcspn(p + 2, "/?#");
	if (n >= ORIGIN_MAX)
		n = ORIGIN_MAX - 1;
	memcpy(out, url, n);
	out[n] = '\0';
}

static uint64_t
hold_until(const char *origin)
{
	int i;

	for (i = 0; i < HOLDS; i++)
		if (holds[i].until != 0 && strcmp(holds[i].origin, origin) == 0)
			return holds[i].until;
	return 0;
}

static void
hold_set(const char *origin, uint64_t until)
{
	int i, k = 0;

	for (i = 0; i < HOLDS; i++) {
		if (strcmp(holds[i].origin, origin) == 0) {
			k = i;
			break;
		}
		if (holds[i].until < holds[k].until)
			k = i;
	}
	if (holds[k].until > until && strcmp(holds[k].origin, origin) == 0)
		return;
	snprintf(holds[k].origin, ORIGIN_MAX, "%s", origin);
	holds[k].until = until;
}

/* Removes the first n jobs of b from the queue, reporting v for each. */
static void
drop_first(struct batch *b, int n, enum push_verdict v, long status,
    const char *why)
{
	while (n-- > 0 && b->head != NULL) {
		struct job *j = b->head;
		b->head = j->next;
		if (b->head == NULL)
			b->tail = NULL;
		b->njobs--;
		njobs_all--;
		if (b->sealed > 0)
			b->sealed--;
		queue_del(j->due_key, j->seq);
		if (report != NULL)
			report(j, v, status, why);
		sched_job_free(j);
	}
}

static uint64_t
backoff(int attempts)
{
	uint64_t d = backoff_ms;
	int i;

	for (i = 1; i < attempts && d < backoff_max_ms; i++)
		d *= 2;
	if (d > backoff_max_ms)
		d = backoff_max_ms;
	/* equal jitter: somewhere in [d/2, d] */
	return d / 2 + (uint64_t)random() % (d / 2 + 1);
}

/* Moves every job of b to the key of its new due time. */
static void
rekey(struct batch *b)
{
	struct job *j;

	if (!queue_is_open())
		return;
	for (j = b->head; j != NULL; j = j->next) {
		if (j->due_key == b->due)
			continue;
		queue_del(j->due_key, j->seq);
		queue_put(b->due, j->seq, j->json, j->len);
		j->due_key = b->due;
	}
}

/* Back to waiting: due now, or when the collapse window of its oldest
 * job closes. */
static void
settle(struct batch *b)
{
	uint64_t now = now_ms();

	b->nsent = 0;
	b->cancelled = 0;
	if (b->njobs == 0) {
		batch_free(b);
		return;
	}
	b->due = b->head->queued_at + collapse_ms;
	if (b->due < now)
		b->due = now;
	heap_push(b);
}

static void
retry_later(struct batch *b, long long after_ms, const char *why)
{
	uint64_t delay;

	b->attempts++;
	delay = backoff(b->attempts);
	/* Retry-After is the earliest time, never a reason to spin */
	if (after_ms >= 0 && (uint64_t)after_ms > delay)
		delay = after_ms > 3600000 ? 3600000 : (uint64_t)after_ms;
	b->due = now_ms() + delay;
	b->nsent = 0;
	rekey(b);
	push_stats.retried++;
	log_info("retry %s/%s in %llu ms (attempt %d): %s%s", b->user,
	    b->device, (unsigned long long)delay, b->attempts, why,
	    after_ms >= 0 ? " (Retry-After)" : "");
	heap_push(b);
}

/* --- outcomes -------------------------------------------------------------- */

static void
gone(struct batch *b, const char *why)
{
	int n = b->njobs;

	push_stats.gone++;
	log_info("gone %s/%s: %s: registration cleared, %d job(s) dropped",
	    b->user, b->device, why, n);
	b->sealed = 0;
	drop_first(b, n, PV_GONE, 0, why);
	b->attempts = 0;
	settle(b);
}

static void
on_clear(void *arg, jv reply)
{
	struct batch *b = arg;
	jv err = jv_object_get(jv_copy(reply), jv_string("error"));
	const char *code = jv_get_kind(err) == JV_KIND_OBJECT ?
	    json_str(err, "code", NULL) : NULL;

	if (json_bool(reply, "ok", 0) || (code != NULL &&
	    (strcmp(code, "not_found") == 0 ||
	    strcmp(code, "no_such_user") == 0)))
		gone(b, "push.clear done");
	else if (b->cancelled) {
		push_stats.cancelled += (unsigned long)b->nsent;
		drop_first(b, b->nsent, PV_FAIL, 0, "cancelled");
		settle(b);
	} else
		retry_later(b, -1, code != NULL ? code : "push.clear failed");
	jv_free(err);
	jv_free(reply);
	rearm();
}

static void
clear_registration(struct batch *b, const char *why)
{
	jv req;

	if (store == NULL) {
		gone(b, why);
		return;
	}
	b->state = B_CLEAR;
	req = jv_object_set(jv_object(), jv_string("op"),
	    jv_string("push.clear"));
	req = jv_object_set(req, jv_string("user"), jv_string(b->user));
	req = jv_object_set(req, jv_string("device"), jv_string(b->device));
	log_info("%s/%s: %s: clearing the registration", b->user, b->device,
	    why);
	if (ipc_call(store, req, 5000, on_clear, b) < 0)
		retry_later(b, -1, "push.clear not sent");
}

static void
on_done(void *arg, const struct http_res *res)
{
	struct batch *b = arg;
	const struct push_provider *p;
	char why[256];
	enum push_verdict v;
	struct job *last;
	int n = b->nsent, i;

	inflight--;
	for (last = b->head, i = 1; i < n && last->next != NULL; i++)
		last = last->next;
	p = push_provider(last->provider);
	v = p != NULL ? p->verdict(res, why, sizeof(why)) :
	    push_verdict_http(res, why, sizeof(why));
	if (b->cancelled && (v == PV_RETRY || v == PV_FAIL)) {
		push_stats.cancelled += (unsigned long)n;
		drop_first(b, n, PV_FAIL, res->status, "cancelled");
		settle(b);
	} else if (v == PV_OK) {
		struct job *j = b->head;
		for (i = 0; i < n && j != NULL; i++, j = j->next) {
			uint64_t h = batch_hash(b->user, b->device, j->msg_id);
			recent[h & (RECENT_N - 1)].h = h;
			recent[h & (RECENT_N - 1)].at = now_ms();
		}
		push_stats.sent += (unsigned long)n;
		log_info("sent %s/%s via %s: %d message(s), %s, %.0f ms",
		    b->user, b->device, last->provider, n, why,
		    res->secs * 1000);
		b->sealed = 0;
		b->attempts = 0;
		drop_first(b, n, PV_OK, res->status, why);
		settle(b);
	} else if (v == PV_RETRY) {
		size_t l = strlen(why);
		if (res->retry_after_ms > 0 &&
		    (res->status == 429 || res->status == 503)) {
			char origin[ORIGIN_MAX];
			origin_of(res->url, origin);
			hold_set(origin, now_ms() + (uint64_t)
			    (res->retry_after_ms > 3600000 ? 3600000 :
			    res->retry_after_ms));
		}
		snprintf(why + l, sizeof(why) - l, " after %.0f ms%s",
		    res->secs * 1000, res->ambiguous ? ", sealed" : "");
		b->sealed = res->ambiguous ? n : 0;
		retry_later(b, res->retry_after_ms, why);
	} else if (v == PV_GONE) {
		clear_registration(b, why);
	} else {
		push_stats.failed += (unsigned long)n;
		log_warnx("failed %s/%s via %s: %s: %d job(s) dropped",
		    b->user, b->device, last->provider, why, n);
		b->sealed = 0;
		b->attempts = 0;
		drop_first(b, n, PV_FAIL, res->status, why);
		settle(b);
	}
	rearm();
}

/* Gives up the jobs of b older than push_max_age. */
static void
expire(struct batch *b, uint64_t now)
{
	struct job **pp = &b->head, *j;
	int i = 0;

	b->tail = NULL;
	while ((j = *pp) != NULL) {
		/* a clock that stepped back makes a job young, not ancient */
		if (j->queued_at >= now || now - j->queued_at <= max_age_ms) {
			b->tail = j;
			pp = &j->next;
			i++;
			continue;
		}
		*pp = j->next;
		b->njobs--;
		njobs_all--;
		if (i < b->sealed)
			b->sealed--;
		push_stats.expired++;
		log_warnx("gave up %s/%s msg %s: older than push_max_age "
		    "(%d attempts)", b->user, b->device, j->msg_id,
		    b->attempts);
		queue_del(j->due_key, j->seq);
		if (report != NULL)
			report(j, PV_FAIL, 0, "expired");
		sched_job_free(j);
	}
}

static void
dispatch(struct batch *b)
{
	const struct push_provider *p;
	struct push_note note;
	struct http_req *r;
	struct job *newest;
	char err[256], origin[ORIGIN_MAX];
	uint64_t held;
	int n, i, rc;
	jv v;

	expire(b, now_ms());
	if (b->njobs == 0) {
		batch_free(b);
		return;
	}
	n = b->sealed > 0 && b->sealed < b->njobs ? b->sealed : b->njobs;
	for (newest = b->head, i = 1; i < n; i++)
		newest = newest->next;
	v = json_parse_object(newest->json, newest->len, err, sizeof(err));
	p = push_provider(newest->provider);
	r = http_req_new();
	if (r == NULL || !jv_is_valid(v)) {
		jv_free(v);
		http_req_free(r);
		retry_later(b, -1, "out of memory");
		return;
	}
	job_note(v, n, preview, &note);
	rc = p->build(&note, r, err, sizeof(err));
	jv_free(v);
	if (rc != 0) {
		http_req_free(r);
		if (rc == PROV_WAIT) {
			b->state = B_AUTH;
			b->wnext = authwait;
			authwait = b;
		} else if (rc == PROV_LATER)
			retry_later(b, -1, err);
		else {
			push_stats.failed += (unsigned long)n;
			log_warnx("failed %s/%s via %s: %s: %d job(s) dropped",
			    b->user, b->device, newest->provider, err, n);
			drop_first(b, n, PV_FAIL, 0, err);
			settle(b);
		}
		return;
	}
	origin_of(r->url, origin);
	if ((held = hold_until(origin)) > now_ms()) {
		/* the provider asked everyone to wait: no attempt counted */
		http_req_free(r);
		b->due = held;
		rekey(b);
		heap_push(b);
		log_debug("%s/%s held until '%s' may be asked again", b->user,
		    b->device, origin);
		return;
	}
	b->nsent = n;
	b->state = B_FLIGHT;
	push_stats.requests++;
	if (http_start(r, on_done, b) < 0) {
		retry_later(b, -1, "unable to start the request");
		return;
	}
	inflight++;
}

static void
on_tick(struct ev_loop *l, ev_timer *w, int revents)
{
	uint64_t now = now_ms();

	(void)l; (void)w; (void)revents;
	struct batch *b;

	while ((b = heap_top()) != NULL && b->due <= now &&
	    inflight < max_inflight) {
		heap_remove(b);
		dispatch(b);
	}
	rearm();
}

static void
rearm(void)
{
	uint64_t now = now_ms();
	double at;

	ev_timer_stop(loop, &tick);
	struct batch *b = heap_top();

	if (b == NULL || inflight >= max_inflight)
		return;
	at = b->due > now ? (double)(b->due - now) / 1000 : 0.;
	ev_timer_set(&tick, at, 0.);
	ev_timer_start(loop, &tick);
}

/* --- the interface --------------------------------------------------------- */

static uint64_t
conf_ms(const char *key, long long mul)
{
	long long v = conf_int(key);

	if (v < 0)
		fatalx(EXIT_USAGE, "'%s' must be a whole number", key);
	return (uint64_t)v * (uint64_t)mul;
}

void
sched_init(struct ev_loop *l, sched_report_fn *fn, const char *store_sock)
{
	unsigned seed;

	loop = l;
	report = fn;
	collapse_ms = conf_ms("push_collapse_ms", 1);
	max_age_ms = conf_ms("push_max_age", 1000);
	backoff_ms = conf_ms("push_backoff_ms", 1);
	backoff_max_ms = conf_ms("push_backoff_max_ms", 1);
	if (backoff_ms == 0)
		backoff_ms = 1;
	if (backoff_max_ms < backoff_ms)
		backoff_max_ms = backoff_ms;
	max_inflight = (int)conf_ms("push_concurrency", 1);
	if (max_inflight < 1)
		fatalx(EXIT_USAGE, "'push_concurrency' must be 1 or more");
	preview = conf_bool("push_preview");
	if (random_bytes(&seed, sizeof(seed)) < 0)
		seed = (unsigned)now_ms();
	srandom(seed);
	ev_timer_init(&tick, on_tick, 0., 0.);
	if (store_sock != NULL)
		store = ipc_client_new(loop, store_sock, NULL, NULL, NULL);
}

int
sched_has(const char *user, const char *device, const char *msg_id)
{
	struct batch *b = batch_get(user, device, 0);
	uint64_t h = batch_hash(user, device, msg_id), now = now_ms();
	struct job *j;

	for (j = b != NULL ? b->head : NULL; j != NULL; j = j->next)
		if (strcmp(j->msg_id, msg_id) == 0)
			return 1;
	return recent[h & (RECENT_N - 1)].h == h &&
	    recent[h & (RECENT_N - 1)].at + RECENT_MS > now;
}

uint64_t
sched_due_for(const char *user, const char *device)
{
	struct batch *b = batch_get(user, device, 0);

	if (b != NULL && b->state == B_WAIT)
		return b->due;
	return now_ms() + collapse_ms;
}

void
sched_add(struct job *j)
{
	struct batch *b = batch_get(j->user, j->device, 1);

	j->next = NULL;
	if (b->tail != NULL)
		b->tail->next = j;
	else
		b->head = j;
	b->tail = j;
	njobs_all++;
	if (b->njobs++ == 0 && b->state == B_WAIT) {
		b->due = j->due_key;
		heap_push(b);
	} else if (b->state == B_WAIT && j->due_key < b->due &&
	    b->attempts == 0) {
		/* loaded after a restart: the earliest key wins */
		b->due = j->due_key;
		heap_up(b->hi);
	}
	rearm();
}

struct cancel {
	const char	*user, *device;
	int		 n;
};

static void
cancel_one(struct batch *b, void *arg)
{
	struct cancel *c = arg;
	struct batch **wp;
	struct job *j, *d;
	int s;

	if (strcmp(b->user, c->user) != 0 || (c->device != NULL &&
	    strcmp(b->device, c->device) != 0))
		return;
	if (b->state == B_WAIT || b->state == B_AUTH) {
		if (b->state == B_AUTH) {
			for (wp = &authwait; *wp != b; wp = &(*wp)->wnext)
				;
			*wp = b->wnext;
		}
		heap_remove(b);
		c->n += b->njobs;
		b->sealed = 0;
		drop_first(b, b->njobs, PV_FAIL, 0, "cancelled");
		batch_free(b);
		return;
	}
	/* in flight: drop what the request does not cover; what it covers
	 * goes when it ends, whatever happens */
	if (b->njobs > b->nsent) {
		c->n += b->njobs - b->nsent;
		for (j = b->head, s = 1; s < b->nsent; s++)
			j = j->next;
		while ((d = j->next) != NULL) {
			j->next = d->next;
			b->njobs--;
			njobs_all--;
			queue_del(d->due_key, d->seq);
			if (report != NULL)
				report(d, PV_FAIL, 0, "cancelled");
			sched_job_free(d);
		}
		b->tail = j;
	}
	b->cancelled = 1;
}

int
sched_cancel(const char *user, const char *device)
{
	struct cancel c = { user, device, 0 };

	batch_each(cancel_one, &c);
	push_stats.cancelled += (unsigned long)c.n;
	if (c.n > 0)
		log_info("cancelled %d job(s) of %s%s%s", c.n, user,
		    device ? "/" : "", device ? device : "");
	rearm();
	return c.n;
}

void
push_sched_wake(void)
{
	uint64_t now = now_ms();

	while (authwait != NULL) {
		struct batch *b = authwait;
		authwait = b->wnext;
		b->wnext = NULL;
		b->due = now;
		heap_push(b);
	}
	rearm();
}

void
sched_counts(unsigned long *jobs, unsigned long *batches,
    unsigned long *fl)
{
	*jobs = njobs_all;
	*batches = batch_count();
	*fl = (unsigned long)inflight;
}

struct list {
	const char	*user;
	jv		 a;
};

static void
list_one(struct batch *b, void *arg)
{
	static const char *states[] = { "waiting", "sending", "clearing",
	    "credentials" };
	struct list *l = arg;
	struct job *j;

	if (l->user != NULL && strcmp(b->user, l->user) != 0)
		return;
	for (j = b->head; j != NULL; j = j->next) {
		jv o = jv_object();
		o = jv_object_set(o, jv_string("user"), jv_string(b->user));
		o = jv_object_set(o, jv_string("device"),
		    jv_string(b->device));
		o = jv_object_set(o, jv_string("msg_id"),
		    jv_string(j->msg_id));
		o = jv_object_set(o, jv_string("due"),
		    jv_number((double)b->due));
		o = jv_object_set(o, jv_string("attempts"),
		    jv_number(b->attempts));
		o = jv_object_set(o, jv_string("state"),
		    jv_string(states[b->state]));
		l->a = jv_array_append(l->a, o);
	}
}

jv
sched_list(const char *user)
{
	struct list l = { user, jv_array() };

	batch_each(list_one, &l);
	return l.a;
}

int
sched_idle(void)
{
	return batch_count() == 0;
}
