/*
 * chat-bench: the load generator (chat-bench(1)).  Makes the devices
 * (names, groups), sets them up (chat-api, or --mint), then runs the timed
 * phases (run.c) and prints the report.
 */
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include "bench.h"
#include "conf.h"
#include "log.h"
#include "procs.h"

struct bench B;

double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	char err[512];
	uint64_t lost;
	int ok;

	log_init("chat-bench");
	bench_options(argc, argv);
	if (B.o.verbose)
		log_set_level(2);
	signal(SIGPIPE, SIG_IGN);
	if (bench_make_devices() == -1)
		fatalx(EXIT_TEMP, "out of memory for %d devices", B.o.devices);
	if (B.o.seed_users)
		return seed_users() == 0 ? 0 : EXIT_TEMP;
	if (B.o.state != NULL && state_load(B.o.state) == -1)
		return EXIT_TEMP;
	if (B.o.target == TARGET_CHAT) {
		if ((B.o.mint ? setup_mint() : setup_http()) == -1)
			fatalx(EXIT_TEMP, "set-up failed");
		if (B.o.state != NULL)
			state_save(B.o.state);
		if (B.o.ws == NULL) {
			if (conf_load(err, sizeof(err)) == -1)
				fatalx(EXIT_USAGE, "%s", err);
			B.o.ws = conf_get("chatd_url");
		}
	}
	if (B.o.setup_only)
		return 0;
	if (B.o.pids_from_super && procs_from_super() == -1)
		return EXIT_TEMP;
	B.loop = ev_default_loop(EVFLAG_AUTO);
	if (load_init() == -1)
		return EXIT_TEMP;
	if (conn_init(err, sizeof(err)) == -1)
		fatalx(EXIT_USAGE, "%s", err);
	ok = bench_run() == 0;
	lost = report_print();
	if (B.o.state != NULL && B.o.target == TARGET_CHAT)
		state_save(B.o.state);
	return lost == 0 && ok ? 0 : 1;
}
