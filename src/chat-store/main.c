/*
 * chat-store: the only owner of the stack's LevelDB database.  Run with no
 * mode (or "serve") it is the daemon on $CHAT_RUN/store.sock; the other
 * modes work on the database directly from a shell.  The modes are one
 * table; the work lives in server.c and cli.c.
 */
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "cli.h"
#include "server.h"

static int
serve(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		printf("usage: chat-store [serve]\n");
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "usage: chat-store [serve]\n");
		return EXIT_USAGE;
	}
	return store_serve();
}

static const struct mode {
	const char	*name;
	int		(*fn)(int, char **);
	const char	*what;
} modes[] = {
	{ "serve",  serve,      "run the daemon (the default)" },
	{ "dump",   cli_dump,   "print every key (or those under --prefix) "
	    "and its value" },
	{ "export", cli_export, "write the database as NDJSON to stdout" },
	{ "import", cli_import, "read NDJSON from stdin into the database" },
	{ "get",    cli_get,    "print the value of one key" },
	{ "repair", cli_repair, "repair a corrupt database (RepairDB) and "
	    "report the messages gone" },
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: chat-store [serve | dump [--prefix KEY] | export | "
	    "import | get KEY | repair [--expect FILE]]\n");
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		fprintf(f, "  %-7s %s\n", modes[i].name, modes[i].what);
	fprintf(f, "The modes other than serve refuse while a chat-store "
	    "daemon holds the database.\nSee chat-store(1).\n");
}

int
main(int argc, char **argv)
{
	char err[1024];
	size_t i;

	log_init("chat-store");
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (conf_load(err, sizeof(err)) == -1) {
		fprintf(stderr, "chat-store: %s\n", err);
		return EXIT_USAGE;
	}
	log_set_level((int)conf_int("log_level"));
	long long cost = conf_int("password_cost");
	if (cost < 1 || cost > 11) {
		fprintf(stderr, "chat-store: password_cost '%s' is not 1..11\n",
		    conf_get("password_cost"));
		return EXIT_USAGE;
	}
	if (argc < 2)
		return serve(1, argv);
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(argv[1], modes[i].name) == 0)
			return modes[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "chat-store: unknown mode '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
