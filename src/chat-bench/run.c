/*
 * run: the timed part of a run, as phases driven by one 50 ms timer on the
 * loop: connect (paced, until every device is synced or a deadline), then
 * either hold the connections (--idle) or offer the load (warm-up, the
 * measured window), then drain until nothing more arrives.  CPU and memory
 * of the named processes are read at the window's edges.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "log.h"
#include "procs.h"
#include "util.h"

#define CONTROL_TICK	0.05
#define DRAIN_MAX	60	/* seconds of drain at most, progress or not */

static ev_timer control;
static double phase_end, drain_start, progress_at;
static uint64_t last_outstanding;

void
bench_dev_down(struct dev *d, const char *why)
{
	B.dropped++;
	B.ready--;
	load_count_error("dropped");
	log_warnx("%s: connection lost: %s", d->user, why);
}

int
bench_make_devices(void)
{
	unsigned char r[4];
	int i, k;

	B.ndevs = B.o.devices;
	if ((B.devs = calloc((size_t)B.ndevs, sizeof(*B.devs))) == NULL)
		return -1;
	for (i = 0; i < B.ndevs; i++) {
		B.devs[i].idx = i;
		B.devs[i].group = -1;
		snprintf(B.devs[i].user, sizeof(B.devs[i].user), "%s%d",
		    B.o.prefix, i);
	}
	if (B.o.group_size > 0) {
		B.ngroups = B.ndevs / B.o.group_size;
		if ((B.groups = calloc((size_t)B.ngroups + 1,
		    sizeof(*B.groups))) == NULL)
			return -1;
		for (k = 0; k < B.ngroups; k++) {
			B.groups[k].first = k * B.o.group_size;
			B.groups[k].size = B.o.group_size;
			for (i = 0; i < B.o.group_size; i++)
				B.devs[k * B.o.group_size + i].group = k;
			if (B.o.target != TARGET_CHAT)
				snprintf(B.groups[k].gid, sizeof(B.groups[k].gid),
				    "g_%s%d", B.o.prefix, k);
		}
	}
	if (random_bytes(r, sizeof(r)) == -1)
		return -1;
	snprintf(B.run_tag, sizeof(B.run_tag), "%02x%02x%02x%02x", r[0], r[1],
	    r[2], r[3]);
	return 0;
}

static void
snapshot(double *cpu, long *rss)
{
	int i;

	for (i = 0; i <= B.o.npids; i++) {
		if (cpu != NULL)
			cpu[i] = procs_cpu(i < B.o.npids ? i : -1);
		if (rss != NULL)
			rss[i] = procs_rss_kb(i < B.o.npids ? i : -1);
	}
}

static void
on_control(struct ev_loop *loop, ev_timer *w, int revents)
{
	double now = bench_now();

	(void)w;
	(void)revents;
	switch (B.phase) {
	case PHASE_CONNECT:
		if (B.ready + B.failed_connect < B.ndevs && now < phase_end)
			return;
		if (B.t_connected == 0)
			B.t_connected = now;
		log_info("%d of %d devices ready in %.1f s", B.ready, B.ndevs,
		    B.t_connected - B.t_connect0);
		if (B.ready == 0) {
			B.phase = PHASE_DONE;
			ev_break(loop, EVBREAK_ALL);
			return;
		}
		if (B.o.idle) {
			B.phase = PHASE_IDLE;
			phase_end = now + B.o.duration;
			B.t_cpu0 = now;
			snapshot(B.cpu0, NULL);
			return;
		}
		B.phase = PHASE_LOAD;
		load_start();
		return;
	case PHASE_LOAD:
		if (B.t_cpu0 == 0 && now >= B.t_measure) {
			B.t_cpu0 = now;
			snapshot(B.cpu0, NULL);
		}
		if (now < B.t_end)
			return;
		load_stop();
		B.t_cpu1 = now;
		snapshot(B.cpu1, B.rss1);
		B.phase = PHASE_DRAIN;
		drain_start = progress_at = now;
		last_outstanding = load_outstanding();
		return;
	case PHASE_DRAIN:
		/* late is not lost: wait while acks and deliveries still
		 * come, until --drain seconds pass without one */
		if (load_outstanding() != last_outstanding) {
			last_outstanding = load_outstanding();
			progress_at = now;
		}
		if (last_outstanding > 0 && now - progress_at < B.o.drain &&
		    now - drain_start < DRAIN_MAX)
			return;
		if (last_outstanding > 0)
			log_warnx("drain ended after %.1f s with %llu acks or "
			    "deliveries outstanding", now - drain_start,
			    (unsigned long long)last_outstanding);
		B.t_drained = now - drain_start;
		break;
	case PHASE_IDLE:
		if (now < phase_end)
			return;
		B.t_cpu1 = now;
		snapshot(B.cpu1, B.rss1);
		B.slab1 = procs_slab_kb();
		break;
	}
	B.phase = PHASE_DONE;
	ev_break(loop, EVBREAK_ALL);
}

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	log_warnx("signal %d: stopping early", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

int
bench_run(void)
{
	ev_signal sigint, sigterm;

	snapshot(NULL, B.rss0);
	B.slab0 = procs_slab_kb();
	ev_signal_init(&sigint, on_signal, SIGINT);
	ev_signal_init(&sigterm, on_signal, SIGTERM);
	ev_signal_start(B.loop, &sigint);
	ev_signal_start(B.loop, &sigterm);
	ev_timer_init(&control, on_control, CONTROL_TICK, CONTROL_TICK);
	ev_timer_start(B.loop, &control);
	B.phase = PHASE_CONNECT;
	phase_end = bench_now() + 60 + 4.0 * B.ndevs / B.o.connect_rate;
	log_info("%s: %d devices to %s, %s", B.o.target == TARGET_CHAT ?
	    "chat" : B.o.target == TARGET_RELAY ? "relay" : "mosquitto",
	    B.ndevs, B.o.ws, B.o.idle ? "idle" : "loading");
	conn_start();
	ev_run(B.loop, 0);
	if (B.t_cpu1 == 0) {	/* stopped early */
		B.t_cpu1 = bench_now();
		snapshot(B.cpu1, B.rss1);
	}
	return B.ready > 0 ? 0 : -1;
}
