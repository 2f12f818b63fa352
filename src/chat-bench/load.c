/*
 * load: the offered rate and the accounting of every message.
 *
 * A 1 ms timer issues every message whose intended time has come
 * (t0 + k / rate), so the offered rate holds whatever the server does (an
 * open loop).  Latency counts from the moment the message is queued, not
 * from its intended time, so the timer's 1 ms grain is not charged to the
 * server; how late the timer ran is reported on its own (send_lag_ms), and
 * a client too busy to keep its schedule shows there.  Each message takes
 * the next ready sender round robin, is 1:1 or to the sender's group by a
 * running share of --group-ratio, is owed one delivery per recipient
 * device online now, and goes on the sender's queue.  Acks, deliveries and errors find the slot
 * from the cid: "<run tag>.<slot in hex>".
 *
 * Outstanding work, for the drain, is kept as two running sums so it costs
 * nothing to ask: messages neither acked nor failed, and deliveries owed to
 * messages that did not fail.  A delivery may come before its ack (the
 * server delivers and acks at once), so both are counted independently.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "hist.h"
#include "log.h"

#define TICK	0.001

static ev_timer tick;
static uint64_t owed_total;	/* expected deliveries of unfailed msgs */
static uint64_t owed_done;	/* of which delivered (capped at expected) */

int
load_format_cid(uint32_t slot, char *out, size_t cap)
{
	return snprintf(out, cap, "%s.%x", B.run_tag, slot);
}

/* The slot a cid names, or -1 if it is not one of this run's. */
static int64_t
slot_of(const char *cid, size_t len)
{
	uint64_t v = 0;
	size_t i;

	if (len < 10 || len > 17 || memcmp(cid, B.run_tag, 8) != 0 ||
	    cid[8] != '.')
		return -1;
	for (i = 9; i < len; i++) {
		char c = cid[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint64_t)(c - 'a' + 10);
		else
			return -1;
	}
	return v < B.nmsgs ? (int64_t)v : -1;
}

void
load_count_error(const char *code)
{
	int i;

	for (i = 0; i < B.nerr; i++)
		if (strcmp(B.err_code[i], code) == 0)
			break;
	if (i == B.nerr) {
		if (B.nerr == (int)(sizeof(B.err_n) / sizeof(B.err_n[0])))
			i = B.nerr - 1;		/* the last one collects */
		else
			snprintf(B.err_code[B.nerr++], sizeof(B.err_code[0]),
			    "%s", code);
	}
	B.err_n[i]++;
}

static int
dev_ready(const struct dev *d)
{
	return d->state == DEV_READY;
}

/* The next sender that is ready, round robin; NULL if none. */
static struct dev *
next_sender(void)
{
	int n;

	for (n = 0; n < B.ndevs; n++) {
		struct dev *d = &B.devs[B.rr++ % (uint32_t)B.ndevs];
		if (dev_ready(d))
			return d;
	}
	return NULL;
}

static void
fail_slot(struct msg *m)
{
	if (m->failed || m->acked)
		return;
	m->failed = 1;
	B.failed++;
	owed_total -= m->expected;
	owed_done -= m->delivered < m->expected ? m->delivered : m->expected;
}

/* Puts one message on a sender's queue now; t is when it was due. */
static void
issue(double t, double now)
{
	struct dev *d = next_sender(), *to;
	struct msg *m;
	uint32_t slot;
	int i, is_group = 0;

	if (d == NULL) {
		B.skipped++;
		return;
	}
	slot = B.nmsgs++;
	m = &B.msgs[slot];
	memset(m, 0, sizeof(*m));
	m->t = now;
	m->from = d->idx;
	if (now - t > B.lag_max)
		B.lag_max = now - t;
	B.lag_sum += now - t;
	m->measured = t >= B.t_measure && t < B.t_end;
	if (B.o.group_ratio > 0 && d->group >= 0) {
		B.sent_group_acc += B.o.group_ratio;
		if (B.sent_group_acc >= 1) {
			B.sent_group_acc -= 1;
			is_group = 1;
		}
	}
	m->is_group = (uint8_t)is_group;
	if (is_group) {
		struct group *g = &B.groups[d->group];
		for (i = g->first; i < g->first + g->size; i++)
			if (i != d->idx && dev_ready(&B.devs[i]))
				m->expected++;
	} else {
		to = &B.devs[(d->idx ^ 1) < B.ndevs ? d->idx ^ 1 : 0];
		m->expected = to != d && dev_ready(to);
	}
	owed_total += m->expected;
	if (d->qtail - d->qhead >= BENCH_SENDQ) {
		B.queue_full++;
		load_count_error("client_queue_full");
		fail_slot(m);
		return;
	}
	d->q[d->qtail++ % BENCH_SENDQ] = slot;
	conn_kick(d);
}

static void
on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	double now = bench_now(), t;
	uint64_t due;

	(void)loop;
	(void)w;
	(void)revents;
	if (now >= B.t_end) {
		load_stop();
		return;
	}
	due = (uint64_t)((now - B.t0) * B.o.rate) + 1;
	while (B.nmsgs + B.skipped < due && B.nmsgs < B.cap) {
		t = B.t0 + (double)(B.nmsgs + B.skipped) / B.o.rate;
		issue(t, now);
		B.t_last_send = t;
	}
}

int
load_init(void)
{
	double secs = B.o.warmup + B.o.duration + 1;

	B.cap = B.o.idle ? 1 : (uint32_t)(B.o.rate * secs) + 1024;
	B.msgs = calloc(B.cap, sizeof(*B.msgs));
	B.h_ack = hist_new();
	B.h_deliver = hist_new();
	if (B.msgs == NULL || B.h_ack == NULL || B.h_deliver == NULL) {
		log_warnx("out of memory for %u message slots", B.cap);
		return -1;
	}
	return 0;
}

void
load_start(void)
{
	B.t0 = bench_now();
	B.t_measure = B.t0 + B.o.warmup;
	B.t_end = B.t_measure + B.o.duration;
	B.sending = 1;
	ev_timer_init(&tick, on_tick, TICK, TICK);
	ev_timer_start(B.loop, &tick);
}

void
load_stop(void)
{
	if (!B.sending)
		return;
	B.sending = 0;
	ev_timer_stop(B.loop, &tick);
}

void
load_ack(const char *cid, size_t len, double now)
{
	int64_t s = slot_of(cid, len);

	if (s < 0)
		B.stale++;
	else
		load_ack_slot((uint32_t)s, now);
}

void
load_ack_slot(uint32_t slot, double now)
{
	struct msg *m;

	if (slot >= B.nmsgs)
		return;
	m = &B.msgs[slot];
	if (m->acked || m->failed)
		return;
	m->acked = 1;
	B.acked++;
	if (m->measured)
		hist_add(B.h_ack, now - m->t);
}

void
load_delivered(struct dev *to, const char *cid, size_t len, double now)
{
	int64_t s = slot_of(cid, len);
	struct msg *m;

	if (s < 0) {
		B.stale++;
		return;
	}
	m = &B.msgs[s];
	if (m->from == to->idx) {
		B.self++;	/* MQTT has no "not to myself" */
		return;
	}
	if (m->delivered >= m->expected) {
		B.duplicates++;
		return;
	}
	m->delivered++;
	B.delivered++;
	if (now >= B.t_measure && now < B.t_end)
		B.win_delivered++;	/* throughput: arrived in the window */
	if (!m->failed)
		owed_done++;
	if (m->measured)
		hist_add(B.h_deliver, now - m->t);
}

void
load_error(const char *cid, size_t cidlen, const char *code, size_t codelen)
{
	char c[32];
	int64_t s = cid ? slot_of(cid, cidlen) : -1;

	if (code == NULL || codelen == 0)
		snprintf(c, sizeof(c), "error");
	else
		snprintf(c, sizeof(c), "%.*s", (int)codelen, code);
	load_count_error(c);
	if (s >= 0)
		fail_slot(&B.msgs[s]);
}

uint64_t
load_outstanding(void)
{
	return (B.nmsgs - B.acked - B.failed) + (owed_total - owed_done);
}
