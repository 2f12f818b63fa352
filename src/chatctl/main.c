/*
 * chatctl: inspects and drives the stack through its sockets; see
 * chatctl(1).  main: global options, then the subcommand from one table.
 * Global options may come anywhere on the line; everything else is the
 * subcommand's.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "chatctl.h"

struct ctl_opts ctl_opts = { .timeout_ms = 10000 };

static const struct {
	const char	*name;
	ctl_cmd_fn	*fn;
	const char	*args;
	const char	*what;
} cmds[] = {
	{ "status", cmd_status, "", "chat-super's table of programs" },
	{ "call", cmd_call, "PROGRAM 'JSON'", "send one request, print the "
	    "reply" },
	{ "users", cmd_users, "", "every user" },
	{ "groups", cmd_groups, "[USER]", "every group, or USER's" },
	{ "history", cmd_history, "CONV [--limit N] [--before ID]",
	    "a conversation, oldest first" },
	{ "logs", cmd_logs, "PROGRAM [-f] [-n LINES]", "a program's log" },
};
#define NCMDS	(sizeof(cmds) / sizeof(cmds[0]))

static void
usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: chatctl [--json] [--filter EXPR] [--raw] "
	    "[--timeout MS] COMMAND [ARGS]\n");
	for (i = 0; i < NCMDS; i++)
		fprintf(out, "  %-8s %-32s %s\n", cmds[i].name, cmds[i].args,
		    cmds[i].what);
	fprintf(out, "PROGRAM is a socket name: store, route, presence, push, "
	    "api, super, chatd-PORT\n");
}

int
ctl_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("chatctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(chatctl --help lists the commands)\n", stderr);
	return EXIT_USAGE;
}

/* Everything but the allocation of args (argc + 1 slots). */
static int
run(int argc, char **argv, char **args)
{
	char err[1024], *end;
	int i, nargs = 0, status;
	size_t c;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--json") == 0)
			ctl_opts.json = 1;
		else if (strcmp(a, "--raw") == 0 || strcmp(a, "-r") == 0)
			ctl_opts.raw = 1;
		else if (strcmp(a, "--filter") == 0 && i + 1 < argc)
			ctl_opts.filter = argv[++i];
		else if (strncmp(a, "--filter=", 9) == 0)
			ctl_opts.filter = a + 9;
		else if (strcmp(a, "--timeout") == 0 && i + 1 < argc) {
			ctl_opts.timeout_ms = (int)strtol(argv[++i], &end, 10);
			if (*end != '\0' || ctl_opts.timeout_ms < 0)
				return ctl_usage("--timeout needs milliseconds");
		} else if (strcmp(a, "--filter") == 0 ||
		    strcmp(a, "--timeout") == 0)
			return ctl_usage("%s needs a value", a);
		else
			args[nargs++] = argv[i];
	}
	if (nargs == 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (c = 0; c < NCMDS; c++)
		if (strcmp(cmds[c].name, args[0]) == 0)
			break;
	if (c == NCMDS)
		return ctl_usage("unknown command '%s'", args[0]);
	if (conf_load(err, sizeof(err)) < 0) {
		fprintf(stderr, "chatctl: %s\n", err);
		return EXIT_USAGE;
	}
	if (out_init(ctl_opts.filter, ctl_opts.raw, err, sizeof(err)) < 0) {
		fprintf(stderr, "chatctl: %s\n", err);
		return EXIT_USAGE;
	}
	status = cmds[c].fn(nargs, args);
	fflush(stdout);
	out_free();
	return status;
}

int
main(int argc, char **argv)
{
	char **args = calloc((size_t)argc + 1, sizeof(*args));
	int status;

	if (args == NULL)
		return EXIT_TEMP;
	status = run(argc, argv, args);
	free(args);
	return status;
}
