/*
 * witness: the newest entry of this shard's subject that the consumer has
 * acked, which the store must hold unless its database is new (apply.c).
 *
 * A filtered consumer's ack floor is a stream sequence, and JetStream
 * moves it past the other shards' entries: the entry at the floor may be
 * another shard's, which this store never held.  So the witness is the
 * last entry of our subject at or below the floor: $JS.API.STREAM.MSG.GET
 * with next_by_subj gives the first of ours at or after a sequence, and a
 * binary search over that (monotone) answer finds the last one at or
 * below the floor in about log2(floor) requests; the entry at the floor
 * itself, the usual case with one shard, is asked first.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "json.h"
#include "chat-log.h"

struct witness {
	struct bus_client *get;
	char		 filter[32];
	uint64_t	 floor, lo, hi, best;
	witness_fn	*cb;
	void		*arg;
};

static void ask(struct witness *w, uint64_t seq, int next, bus_reply_fn *cb);

static void
done(struct witness *w, uint64_t seq, const char *err)
{
	w->cb(w->arg, seq, err);
	free(w);
}

/* The sequence and subject of a MSG.GET reply; 0 when no message (or an
 * error: then *err is set). */
static uint64_t
reply_seq(jv r, const char **subject, const char **err)
{
	jv m = jv_object_get(jv_copy(r), jv_string("message"));
	int64_t seq = 0;

	*subject = NULL;
	*err = NULL;
	if (jv_get_kind(m) == JV_KIND_OBJECT) {
		json_int(m, "seq", &seq);
		*subject = json_str(m, "subject", NULL);
	} else {
		jv e = jv_object_get(jv_copy(r), jv_string("error"));
		int64_t code = 0;
		if (jv_get_kind(e) == JV_KIND_OBJECT)
			json_int(e, "code", &code);
		if (code != 404)	/* 404: no such message */
			*err = "the stream did not answer";
		jv_free(e);
	}
	jv_free(m);
	return seq > 0 ? (uint64_t)seq : 0;
}

static void on_next(void *arg, jv r);

/* One step of the search over [lo, hi] for the last of ours <= floor. */
static void
step(struct witness *w)
{
	if (w->lo > w->hi) {
		done(w, w->best, NULL);
		return;
	}
	ask(w, w->lo + (w->hi - w->lo) / 2, 1, on_next);
}

static void
on_next(void *arg, jv r)
{
	struct witness *w = arg;
	const char *subj, *err;
	uint64_t seq = reply_seq(r, &subj, &err);

	if (err != NULL) {
		jv_free(r);
		done(w, 0, err);
		return;
	}
	jv_free(r);
	uint64_t mid = w->lo + (w->hi - w->lo) / 2;
	if (seq != 0 && seq <= w->floor) {	/* ours in [mid, floor] */
		w->best = seq;
		w->lo = seq + 1;
	} else
		w->hi = mid - 1;		/* none of ours in [mid, floor] */
	step(w);
}

static void
on_floor(void *arg, jv r)
{
	struct witness *w = arg;
	const char *subj, *err;
	uint64_t seq = reply_seq(r, &subj, &err);

	if (seq != 0 && subj != NULL && strcmp(subj, w->filter) == 0) {
		jv_free(r);
		done(w, seq, NULL);
		return;
	}
	jv_free(r);
	/* another shard's entry (or gone with the stream's limits) */
	w->lo = 1;
	w->hi = w->floor - 1;
	step(w);
}

static void
ask(struct witness *w, uint64_t seq, int next, bus_reply_fn *cb)
{
	jv q = jv_object_set(jv_object(), jv_string("seq"),
	    jv_number((double)seq));

	if (next)
		q = jv_object_set(q, jv_string("next_by_subj"),
		    jv_string(w->filter));
	bus_call(w->get, q, 5000, cb, w);
}

void
witness_find(struct bus_client *msgget, const char *filter, uint64_t floor,
    witness_fn *cb, void *arg)
{
	struct witness *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		cb(arg, 0, "out of memory");
		return;
	}
	w->get = msgget;
	snprintf(w->filter, sizeof(w->filter), "%s", filter);
	w->floor = floor;
	w->cb = cb;
	w->arg = arg;
	ask(w, floor, 0, on_floor);
}
