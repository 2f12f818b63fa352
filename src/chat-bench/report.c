/*
 * report: the run's one JSON object.  Counts over the measured window
 * (messages whose intended send time fell inside it): sent, acked,
 * delivered, expected; "lost" over every message of the run, warm-up
 * included: acked, and not delivered to every recipient device that was
 * online when it was sent, by the end of the drain.  CPU seconds are over
 * the measured window; "server_cpu_us_per_msg" divides the named
 * processes' sum by the messages sent in it.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "hist.h"
#include "procs.h"

static void
lat(const char *name, const struct hist *h)
{
	printf("\"%s\":{\"n\":%llu,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
	    "\"p99_9\":%.3f,\"max\":%.3f,\"mean\":%.3f}", name,
	    (unsigned long long)hist_count(h), hist_ms(h, 0.5),
	    hist_ms(h, 0.9), hist_ms(h, 0.99), hist_ms(h, 0.999),
	    hist_max_ms(h), hist_mean_ms(h));
}

static void
jstr(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		if ((unsigned char)*s >= 0x20)
			putchar(*s);
	}
	putchar('"');
}

static const char *
target_name(void)
{
	return B.o.target == TARGET_CHAT ? "chat" : B.o.target ==
	    TARGET_RELAY ? "relay" : "mosquitto";
}

uint64_t
report_print(void)
{
	uint64_t sent = 0, acked = 0, delivered = 0, expected = 0, full = 0;
	uint64_t lost = 0, unacked = 0, failed = 0;
	double window = B.t_cpu1 - B.t_cpu0, servers = 0, c;
	uint32_t i;
	int k;

	for (i = 0; i < B.nmsgs; i++) {
		const struct msg *m = &B.msgs[i];
		if (m->acked && m->delivered < m->expected)
			lost++;
		if (!m->acked && !m->failed)
			unacked++;
		if (!m->measured)
			continue;
		sent++;
		acked += m->acked;
		failed += m->failed;
		delivered += m->delivered;
		expected += m->expected;
		full += m->acked && m->delivered >= m->expected;
	}
	if (window <= 0)
		window = 1e-9;
	printf("{\"target\":\"%s\",", target_name());
	if (B.o.label != NULL) {
		printf("\"label\":");
		jstr(B.o.label);
		putchar(',');
	}
	printf("\"ws\":");
	jstr(B.o.ws ? B.o.ws : "");
	printf(",\"devices\":%d,\"connected\":%d,\"connect_failed\":%d,"
	    "\"dropped\":%d,\"connect_s\":%.2f,", B.ndevs, B.ready,
	    B.failed_connect, B.dropped, B.t_connected > 0 ? B.t_connected -
	    B.t_connect0 : 0.0);
	printf("\"idle\":%s,\"group_size\":%d,\"group_ratio\":%g,"
	    "\"body_bytes\":%d,\"duration_s\":%.2f,\"warmup_s\":%g,",
	    B.o.idle ? "true" : "false", B.o.group_size, B.o.group_ratio,
	    B.o.body_bytes, window, B.o.warmup);
	printf("\"drain_s\":%.2f,", B.t_drained);
	/* throughput is what arrived inside the window: a server that
	 * falls behind and catches up in the drain did not sustain it */
	printf("\"offered_rate\":%g,\"achieved_rate\":%.1f,"
	    "\"delivery_rate\":%.1f,\"complete\":%llu,", B.o.idle ? 0 :
	    B.o.rate, expected ? (double)B.win_delivered * (double)sent /
	    (double)expected / B.o.duration : 0.0, (double)B.win_delivered /
	    B.o.duration, (unsigned long long)full);
	printf("\"sent\":%llu,\"acked\":%llu,\"failed\":%llu,"
	    "\"unacked\":%llu,\"delivered\":%llu,\"expected\":%llu,"
	    "\"lost\":%llu,\"duplicates\":%llu,\"stale\":%llu,"
	    "\"skipped\":%llu,\"bad_frames\":%llu,",
	    (unsigned long long)sent, (unsigned long long)acked,
	    (unsigned long long)failed, (unsigned long long)unacked,
	    (unsigned long long)delivered, (unsigned long long)expected,
	    (unsigned long long)lost, (unsigned long long)B.duplicates,
	    (unsigned long long)B.stale, (unsigned long long)B.skipped,
	    (unsigned long long)B.bad_frames);
	printf("\"errors\":{");
	for (k = 0; k < B.nerr; k++)
		printf("%s\"%s\":%llu", k ? "," : "", B.err_code[k],
		    (unsigned long long)B.err_n[k]);
	printf("},");
	lat("ack_ms", B.h_ack);
	putchar(',');
	lat("delivery_ms", B.h_deliver);
	printf(",\"cpu_s\":{");
	for (k = 0; k < B.o.npids; k++) {
		c = B.cpu1[k] >= 0 && B.cpu0[k] >= 0 ? B.cpu1[k] - B.cpu0[k] :
		    -1;
		if (c > 0)
			servers += c;
		printf("\"%s\":%.2f,", B.o.pid_names[k], c);
	}
	printf("\"servers\":%.2f,\"chat-bench\":%.2f},", servers,
	    B.cpu1[B.o.npids] - B.cpu0[B.o.npids]);
	printf("\"send_lag_ms\":{\"mean\":%.3f,\"max\":%.3f},",
	    B.nmsgs ? B.lag_sum / B.nmsgs * 1e3 : 0.0, B.lag_max * 1e3);
	printf("\"server_cores\":%.3f,\"bench_cores\":%.3f,", servers / window,
	    (B.cpu1[B.o.npids] - B.cpu0[B.o.npids]) / window);
	printf("\"server_cpu_us_per_msg\":%.1f,"
	    "\"server_cpu_us_per_delivery\":%.1f,",
	    sent ? servers / (double)sent * 1e6 : 0.0,
	    delivered ? servers / (double)delivered * 1e6 : 0.0);
	printf("\"rss_kb\":{");
	for (k = 0; k < B.o.npids; k++)
		printf("\"%s\":%ld,", B.o.pid_names[k], B.rss1[k]);
	printf("\"chat-bench\":%ld}", B.rss1[B.o.npids]);
	if (B.o.idle && B.ready > 0) {
		long tot = 0;
		printf(",\"rss_before_kb\":{");
		for (k = 0; k < B.o.npids; k++)
			printf("%s\"%s\":%ld", k ? "," : "", B.o.pid_names[k],
			    B.rss0[k]);
		printf("},\"bytes_per_conn\":{");
		for (k = 0; k < B.o.npids; k++) {
			long d = B.rss1[k] - B.rss0[k];
			tot += d;
			printf("\"%s\":%.0f,", B.o.pid_names[k],
			    (double)d * 1024 / B.ready);
		}
		printf("\"servers\":%.0f,\"kernel_slab\":%.0f}",
		    (double)tot * 1024 / B.ready, (double)(B.slab1 - B.slab0) *
		    1024 / B.ready);
	}
	printf("}\n");
	fflush(stdout);
	return lost;
}
