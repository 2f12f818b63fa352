/*
 * chat: the end-user client.  main() looks the subcommand up in one table
 * and hands it the rest of the command line; each subcommand parses its own
 * options (and --help) and returns the exit status.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chat.h"
#include "log.h"
#include "util.h"

static const struct chat_cmd {
	const char	*name;
	int		(*fn)(int, char **);
	const char	*usage;
} cmds[] = {
	{ "signup", cmd_signup,
	  "chat signup [--server URL] [--password-stdin] [--format F] USER\n"
	  "  create an account; the password is read from the terminal\n" },
	{ "login", cmd_login,
	  "chat login [--server URL] [--device D] [--password-stdin]\n"
	  "           [--format F] USER\n"
	  "  log in and keep the session in $XDG_CONFIG_HOME/chat/\n"
	  "  (and a second device, D-send, for chat send)\n" },
	{ "logout", cmd_logout,
	  "chat logout\n"
	  "  end the session: the token stops working, the files go\n" },
	{ "whoami", cmd_whoami,
	  "chat whoami [--format json|text]\n"
	  "  print the logged-in user, device and server\n" },
	{ "send", cmd_send,
	  "chat send [--timeout SEC] USER|--group GID [TEXT...]\n"
	  "chat send [--timeout SEC] --json\n"
	  "  send TEXT, or each line of stdin as one message, waiting for\n"
	  "  each ack; --json reads {\"to\"|\"group\",\"body\",\"cid\"?} lines\n" },
	{ "listen", cmd_listen,
	  "chat listen [--format json|text] [--count N] [--timeout SEC]\n"
	  "  print incoming messages, presence and typing as NDJSON;\n"
	  "  reconnects and resumes from the last id it printed\n" },
	{ "history", cmd_history,
	  "chat history [--before ID] [--limit N] [--format json|text] CONV\n"
	  "  print a conversation (a user or a group id), newest first\n" },
	{ "friends", cmd_friends,
	  "chat friends [--format json|text]\n"
	  "chat friends add|remove USER\n"
	  "  list friends, ask for or end a friendship\n" },
	{ "group", cmd_group,
	  "chat group create NAME [MEMBER...]\n"
	  "chat group add|remove GID USER\n"
	  "chat group show GID\n"
	  "chat group list\n"
	  "  (each takes --format json|text)\n" },
	{ "who", cmd_who,
	  "chat who [--format json|text] USER...|--group GID\n"
	  "  presence of friends or of a group's members\n" },
};
#define NCMDS	(sizeof(cmds) / sizeof(cmds[0]))

void
chat_err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("chat: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
chat_usage(FILE *out, const char *name)
{
	size_t i;

	for (i = 0; i < NCMDS; i++)
		if (name == NULL || strcmp(name, cmds[i].name) == 0)
			fprintf(out, "%s%s", name ? "usage: " : "  ",
			    cmds[i].usage);
}

int
chat_bad_usage(const char *name)
{
	chat_usage(stderr, name);
	return EXIT_USAGE;
}

int
chat_need_session(struct chat_session *s)
{
	char err[512];

	if (session_load(s, err, sizeof(err)) == -1) {
		chat_err("%s", err);
		return EXIT_USAGE;
	}
	return 0;
}

int
chat_check_user(char *name)
{
	char *p;

	for (p = name; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if (!valid_user(name)) {
		chat_err("invalid user name '%s'", name);
		return EXIT_USAGE;
	}
	return 0;
}

int
chat_check_group(const char *gid)
{
	if (!valid_group(gid)) {
		chat_err("invalid group id '%s'", gid);
		return EXIT_USAGE;
	}
	return 0;
}

static void
usage_all(FILE *out)
{
	fprintf(out, "usage: chat COMMAND [OPTIONS] [ARGS]\n"
	    "       chat COMMAND --help\n\ncommands:\n");
	chat_usage(out, NULL);
}

int
main(int argc, char **argv)
{
	size_t i;

	log_init("chat");
	/* A CLI says only what matters unless asked (CHAT_LOG_LEVEL). */
	if (getenv("CHAT_LOG_LEVEL") == NULL)
		log_set_level(0);
	/* A reader that went away shows as a write error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		return usage_all(stderr), EXIT_USAGE;
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		if (argc > 2 && strcmp(argv[1], "help") == 0) {
			for (i = 0; i < NCMDS; i++)
				if (strcmp(argv[2], cmds[i].name) == 0)
					return chat_usage(stdout, argv[2]), 0;
		}
		usage_all(stdout);
		return 0;
	}
	for (i = 0; i < NCMDS; i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	chat_err("unknown command '%s'", argv[1]);
	usage_all(stderr);
	return EXIT_USAGE;
}
