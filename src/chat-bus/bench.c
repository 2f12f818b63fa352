/*
 * bench: round trips and throughput of requests to one subject.
 *
 * Keeps -c requests in flight until -n have been answered (the request is
 * --req, default {"op":"ping"}), then prints one JSON line: the rate, the
 * round trip's percentiles in microseconds, and this process's own CPU
 * time, so a figure taken on a loaded machine can be read for what it is.
 * Against chat-bus echo it measures NATS alone; against chat-bus serve, the
 * bridge and the daemon behind it as well.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <ev.h>

#include "bus.h"
#include "json.h"
#include "log.h"
#include "chat-bus.h"

static struct ev_loop *loop;
static struct bus_client *cl;
static jv req;
static long sent, done, errors;
static int warming;		/* the one unmeasured request */
static double *lat;		/* microseconds, one per answer */

struct t0 { double at; };

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void send_one(void);

static void
on_reply(void *arg, jv r)
{
	struct t0 *t = arg;

	if (!json_bool(r, "ok", 0) && !json_has(r, "op"))
		errors++;	/* echo returns the request: it has "op" */
	jv_free(r);
	lat[done++] = now_us() - t->at;
	free(t);
	if (warming || done == bo.count)
		ev_break(loop, EVBREAK_ALL);
	else if (sent < bo.count)
		send_one();
}

static void
send_one(void)
{
	struct t0 *t = malloc(sizeof(*t));

	if (t == NULL)
		fatal(EXIT_TEMP, "out of memory");
	sent++;
	t->at = now_us();
	bus_call(cl, jv_copy(req), bo.timeout_ms, on_reply, t);
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(double p)
{
	long i = (long)(p / 100.0 * (double)(done - 1) + 0.5);

	return lat[i];
}

int
mode_bench(int argc, char **argv)
{
	char err[200];
	struct bus *bus;

	if (argc != 2) {
		fprintf(stderr, "usage: chat-bus bench [-n N] [-c K] [--req "
		    "JSON] SUBJECT\n");
		return EXIT_USAGE;
	}
	const char *r = bo.req ? bo.req : "{\"op\":\"ping\"}";
	req = json_parse_object(r, strlen(r), err, sizeof(err));
	if (!jv_is_valid(req))
		fatalx(EXIT_USAGE, "--req: %s", err);
	if ((lat = calloc((size_t)bo.count, sizeof(*lat))) == NULL)
		fatal(EXIT_TEMP, "out of memory");
	loop = ev_default_loop(0);
	bus = bus_connect(loop, "chat-bus bench", NULL);
	if ((cl = bus_client_new(bus, argv[1], bo.resend_ms)) == NULL)
		fatalx(EXIT_USAGE, "bad subject '%s'", argv[1]);
	/* One request first, unmeasured: the subscription is up and a
	 * responder answers before the clock starts. */
	warming = 1;
	send_one();
	ev_run(loop, 0);
	warming = 0;
	sent = done = errors = 0;

	double t0 = now_us(), c0 = cpu_s();
	for (long i = 0; i < bo.inflight && i < bo.count; i++)
		send_one();
	ev_run(loop, 0);
	double secs = (now_us() - t0) / 1e6, cpu = cpu_s() - c0;
	qsort(lat, (size_t)done, sizeof(*lat), cmp);
	printf("{\"subject\":\"%s\",\"requests\":%ld,\"inflight\":%ld,"
	    "\"errors\":%ld,\"seconds\":%.3f,\"rate\":%.0f,\"p50_us\":%.0f,"
	    "\"p90_us\":%.0f,\"p99_us\":%.0f,\"max_us\":%.0f,"
	    "\"client_cpu_s\":%.3f}\n", argv[1], done, bo.inflight, errors,
	    secs, done / secs, pct(50), pct(90), pct(99), lat[done - 1], cpu);
	fflush(stdout);
	jv_free(req);
	free(lat);
	bus_close(bus);
	return errors ? 1 : 0;
}
