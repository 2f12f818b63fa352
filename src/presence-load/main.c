/*
 * presence-load: how many heartbeats one presenced absorbs.  It connects to
 * $CHAT_RUN/presence.sock as a few fake chatds, announces N devices
 * (presence.batch "connect"), waits until presenced has loaded and
 * published them all, then sends "beat" batches round-robin over the
 * devices for some seconds, either as fast as presenced answers (a window
 * of batches in flight per connection: the capacity) or at a fixed rate
 * (the cost at a realistic load).  It reads presenced's CPU time from
 * /proc before and after, and prints one JSON object.
 *
 * --shard K drives only shard K of presence_shards (presence-K.sock) with
 * the devices whose user is on that shard, so one presence-load per shard
 * measures a sharded presenced.
 *
 * --gen-users N prints chat-store import lines (users with an unusable
 * password hash, and a ring of mutual friendships) so the devices belong
 * to real users without N yescrypt hashes.  --link NAME runs chatd's
 * presence_link module from commands on stdin (link.c).  See presenced(1)
 * and chat-scaling(7).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "framer.h"
#include "json.h"
#include "log.h"
#include "shard.h"
#include "load.h"

#define MAX_CHATDS	64
#define LINE_MAX_OUT	(512 * 1024)

static const char usage[] =
	"usage: presence-load [--devices N] [--chatds K] [--batch B] [--window W]\n"
	"                     [--seconds S] [--rate BEATS_PER_S] [--prefix P]\n"
	"                     [--shard K]\n"
	"       presence-load --gen-users N [--friends F] [--prefix P]\n"
	"       presence-load --link NAME\n"
	"  drives $CHAT_RUN/presence.sock with N devices (default 100000) from K\n"
	"  fake chatds (4), batches of B events (500), W batches in flight per\n"
	"  chatd (4), for S seconds (10), as fast as answered or at a rate;\n"
	"  with --shard, only shard K of presence_shards, on presence-K.sock;\n"
	"  prints a JSON report.  --gen-users prints chat-store import lines\n"
	"  for users P000000.. with F mutual friends each (4); --link runs\n"
	"  chatd's presence_link as chatd NAME, driven by commands on stdin\n";

struct peer {
	int		 fd;
	struct framer	 fr;
	long		 inflight;
	long		 next_id;
	unsigned long	 next_dev;	/* round-robin position */
};

static struct peer peers[MAX_CHATDS];
static long ndevices = 100000, nchatds = 4, batch = 500, window = 4;
static double seconds = 10, rate;
static const char *prefix = "pl";
static unsigned long *devlist;	/* the device numbers driven */
static long ndev;		/* how many: all, or one shard's */
static unsigned long acked, failed;
static char *out;

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* utime + stime of pid in seconds, from /proc; -1 if unreadable. */
static double
proc_cpu(long pid)
{
	char path[64], buf[1024];
	unsigned long ut, st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
	    "%*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long
proc_rss_kb(long pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static double
self_cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void
send_all(int fd, const char *b, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, b, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			fatal(EXIT_TEMP, "write to presenced");
		b += n;
		len -= (size_t)n;
	}
}

/* One batch of kind events from chatd k for its next devices. */
static void
send_batch(int k, const char *kind)
{
	struct peer *p = &peers[k];
	size_t len = (size_t)snprintf(out, LINE_MAX_OUT, "{\"op\":"
	    "\"presence.batch\",\"id\":%ld,\"chatd\":\"load-%d\",\"events\":[",
	    p->next_id++, k);
	long mine = (ndev - k + nchatds - 1) / nchatds;

	for (long i = 0; i < batch && mine > 0; i++) {
		/* chatd k holds devices k, k+K, k+2K, ... */
		unsigned long dev = devlist[(unsigned long)k + (p->next_dev++ %
		    (unsigned long)mine) * (unsigned long)nchatds];
		len += (size_t)snprintf(out + len, LINE_MAX_OUT - len,
		    "%s{\"user\":\"%s%06lu\",\"device\":\"d1\",\"kind\":\"%s\"}",
		    i ? "," : "", prefix, dev, kind);
	}
	len += (size_t)snprintf(out + len, LINE_MAX_OUT - len, "]}\n");
	send_all(p->fd, out, len);
	p->inflight++;
}

/* memmem for a NUL-terminated needle; out of line because GCC's -Wnonnull
 * under ASan at -O1 misreads the framer's line pointer at the call site. */
static __attribute__((noinline)) int
contains(const char *hay, size_t len, const char *needle)
{
	return hay != NULL && memmem(hay, len, needle, strlen(needle)) != NULL;
}

/* Reads what is there; counts replies.  Returns the last status reply
 * (malloc'd) if one came and want_status. */
static char *
read_replies(int wait_ms, int want_status)
{
	struct pollfd pfd[MAX_CHATDS];
	char *status = NULL;

	for (int k = 0; k < nchatds; k++) {
		pfd[k].fd = peers[k].fd;
		pfd[k].events = POLLIN;
	}
	if (poll(pfd, (nfds_t)nchatds, wait_ms) <= 0)
		return NULL;
	for (int k = 0; k < nchatds; k++) {
		if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t n = framer_read(&peers[k].fr, peers[k].fd);
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
			fatalx(EXIT_TEMP, "presenced closed the connection");
		const char *line = "";
		size_t len;
		int r;
		while ((r = framer_next(&peers[k].fr, &line, &len)) != 0) {
			if (r == -1 || len < 8)
				continue;
			if (contains(line, len, "\"ev\":"))
				continue;	/* a presence event */
			if (contains(line, len, "\"devices\":") &&
			    want_status) {
				free(status);
				status = strndup(line, len);
				continue;
			}
			peers[k].inflight--;
			if (memmem(line, len, "\"ok\":true", 9) != NULL)
				acked++;
			else if (failed++ == 0)
				log_warnx("first error: %.*s", (int)len, line);
		}
	}
	return status;
}

static void
drain(void)
{
	for (;;) {
		long left = 0;
		for (int k = 0; k < nchatds; k++)
			left += peers[k].inflight;
		if (left == 0)
			return;
		read_replies(1000, 0);
	}
}

/* presenced's status (malloc'd line). */
static char *
status(void)
{
	static const char req[] = "{\"op\":\"status\",\"id\":0}\n";
	char *s = NULL;

	send_all(peers[0].fd, req, sizeof(req) - 1);
	while (s == NULL)
		s = read_replies(1000, 1);
	return s;
}

static long
status_num(const char *line, const char *field)
{
	char err[128];
	int64_t v = -1;
	jv o = json_parse_object(line, strlen(line), err, sizeof(err));

	if (jv_is_valid(o))
		json_int(o, field, &v);
	jv_free(o);
	return (long)v;
}

static void
gen_users(long n, long friends)
{
	for (long i = 0; i < n; i++)
		printf("{\"key\":\"u/%s%06ld\",\"value\":{\"user\":\"%s%06ld\","
		    "\"display_name\":\"%s%06ld\",\"created_at\":0,\"hash\":"
		    "\"*\"}}\n", prefix, i, prefix, i, prefix, i);
	/* a ring: i and i+1..i+friends/2 are mutual friends */
	for (long i = 0; i < n; i++)
		for (long d = 1; d <= friends / 2 && d < n; d++) {
			long j = (i + d) % n;
			printf("{\"key\":\"f/%s%06ld/%s%06ld\",\"value\":"
			    "{\"state\":\"friends\",\"since\":0}}\n",
			    prefix, i, prefix, j);
			printf("{\"key\":\"f/%s%06ld/%s%06ld\",\"value\":"
			    "{\"state\":\"friends\",\"since\":0}}\n",
			    prefix, j, prefix, i);
		}
}

static long
num_arg(int argc, char **argv, int *i)
{
	char *end;

	if (*i + 1 >= argc)
		fatalx(EXIT_USAGE, "%s needs a number", argv[*i]);
	long v = strtol(argv[++*i], &end, 10);
	if (*end != '\0' || v < 0)
		fatalx(EXIT_USAGE, "bad number '%s'", argv[*i]);
	return v;
}

int
main(int argc, char **argv)
{
	char err[512], path[512];
	long gen = -1, friends = 4, shard = -1;

	log_init("presence-load");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage, stdout);
			return 0;
		} else if (!strcmp(a, "--devices"))
			ndevices = num_arg(argc, argv, &i);
		else if (!strcmp(a, "--chatds"))
			nchatds = num_arg(argc, argv, &i);
		else if (!strcmp(a, "--batch"))
			batch = num_arg(argc, argv, &i);
		else if (!strcmp(a, "--window"))
			window = num_arg(argc, argv, &i);
		else if (!strcmp(a, "--seconds"))
			seconds = (double)num_arg(argc, argv, &i);
		else if (!strcmp(a, "--rate"))
			rate = (double)num_arg(argc, argv, &i);
		else if (!strcmp(a, "--gen-users"))
			gen = num_arg(argc, argv, &i);
		else if (!strcmp(a, "--shard"))
			shard = num_arg(argc, argv, &i);
		else if (!strcmp(a, "--friends"))
			friends = num_arg(argc, argv, &i);
		else if (!strcmp(a, "--link") && i + 1 < argc) {
			if (conf_load(err, sizeof(err)) == -1)
				fatalx(EXIT_USAGE, "%s", err);
			return load_link(argv[i + 1]);
		} else if (!strcmp(a, "--prefix") && i + 1 < argc)
			prefix = argv[++i];
		else {
			fprintf(stderr, "presence-load: unknown argument '%s'\n%s",
			    a, usage);
			return EXIT_USAGE;
		}
	}
	if (gen >= 0) {
		gen_users(gen, friends);
		return 0;
	}
	if (nchatds < 1 || nchatds > MAX_CHATDS || batch < 1 || batch > 4000 ||
	    window < 1 || ndevices < 1 || ndevices > 999999 || seconds < 1)
		fatalx(EXIT_USAGE, "out of range: 1..%d chatds, batch 1..4000, "
		    "1..999999 devices", MAX_CHATDS);
	if (conf_load(err, sizeof(err)) == -1)
		fatalx(EXIT_USAGE, "%s", err);
	if ((out = malloc(LINE_MAX_OUT)) == NULL)
		fatalx(EXIT_TEMP, "out of memory");
	if ((devlist = malloc((size_t)ndevices * sizeof(*devlist))) == NULL)
		fatalx(EXIT_TEMP, "out of memory");
	long nshards = conf_int("presence_shards");
	if (shard >= 0 && (nshards < 2 || shard >= nshards))
		fatalx(EXIT_USAGE, "--shard needs 0 <= K < presence_shards, "
		    "presence_shards over 1");
	for (long i = 0; i < ndevices; i++) {
		char name[64];
		int n = snprintf(name, sizeof(name), "%s%06ld", prefix, i);
		if (shard < 0 || shard_of(name, (size_t)n,
		    (unsigned)nshards) == (unsigned)shard)
			devlist[ndev++] = (unsigned long)i;
	}
	if (ndev < nchatds)
		fatalx(EXIT_USAGE, "%ld devices of shard %ld for %ld chatds",
		    ndev, shard, nchatds);
	char sock[32] = "presence";
	if (shard >= 0)
		snprintf(sock, sizeof(sock), "presence-%ld", shard);
	conf_sock_path(sock, path, sizeof(path));
	for (int k = 0; k < nchatds; k++) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		if (strlen(path) >= sizeof(sa.sun_path))
			fatalx(EXIT_USAGE, "socket path '%s' is too long", path);
		memcpy(sa.sun_path, path, strlen(path) + 1);
		peers[k].fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (peers[k].fd == -1 || connect(peers[k].fd,
		    (struct sockaddr *)&sa, sizeof(sa)) == -1)
			fatal(EXIT_TEMP, "unable to connect to '%s'", path);
		framer_init(&peers[k].fr, 64 * 1024 * 1024);
		peers[k].next_id = 1;
	}
	char *st = status();
	long pid = status_num(st, "pid");
	free(st);

	/* Connect every device, then wait until presenced is done with the
	 * store (loads, presence.set, friend lists). */
	double t0 = now_s(), c0 = proc_cpu(pid);
	long per = (ndev + nchatds - 1) / nchatds;
	for (long sent = 0; sent < per; sent += batch) {
		for (int k = 0; k < nchatds; k++) {
			while (peers[k].inflight >= window)
				read_replies(1000, 0);
			send_batch(k, "connect");
		}
	}
	drain();
	double t_conn = now_s() - t0;
	long online = 0, pending = 1;
	for (int tries = 0; tries < 600 && (online < ndev || pending > 0);
	    tries++) {
		st = status();
		online = status_num(st, "online");
		pending = status_num(st, "store_pending");
		free(st);
		if (online < ndev || pending > 0)
			usleep(100000);
	}
	double t_settled = now_s() - t0, c_conn = proc_cpu(pid) - c0;

	/* Beats. */
	unsigned long base = acked;
	double b0 = now_s(), bc0 = proc_cpu(pid), s0 = self_cpu(), t;
	unsigned long batches = 0;
	while ((t = now_s() - b0) < seconds) {
		for (int k = 0; k < nchatds; k++) {
			if (peers[k].inflight >= window)
				continue;
			if (rate > 0 && (double)batches * (double)batch >
			    t * rate)
				continue;
			send_batch(k, "beat");
			batches++;
		}
		read_replies(rate > 0 ? 1 : 0, 0);
	}
	drain();
	double bt = now_s() - b0, bcpu = proc_cpu(pid) - bc0;
	double lcpu = self_cpu() - s0;
	unsigned long beats = (acked - base) * (unsigned long)batch;
	st = status();
	long expired = status_num(st, "expired");
	long devs = status_num(st, "devices");
	free(st);

	printf("{\"devices\":%ld,\"chatds\":%ld,\"batch\":%ld,\"window\":%ld,"
	    "\"rate_asked\":%.0f,\"connect_s\":%.3f,\"settled_s\":%.3f,"
	    "\"connect_cpu_s\":%.3f,\"online\":%ld,\"seconds\":%.3f,"
	    "\"beats\":%lu,\"beats_per_s\":%.0f,\"presenced_cpu_s\":%.3f,"
	    "\"presenced_cores\":%.3f,\"cpu_us_per_beat\":%.3f,"
	    "\"load_cpu_s\":%.3f,\"presenced_rss_kb\":%ld,\"devices_after\":%ld,"
	    "\"expired\":%ld,\"errors\":%lu}\n",
	    ndev, nchatds, batch, window, rate, t_conn, t_settled, c_conn,
	    online, bt, beats, (double)beats / bt, bcpu, bcpu / bt,
	    beats ? bcpu * 1e6 / (double)beats : 0.0, lcpu, proc_rss_kb(pid),
	    devs, expired, failed);
	return failed ? EXIT_TEMP : 0;
}
