/*
 * cmd_account: signup, login, logout, whoami.  Passwords come from the
 * terminal with echo off, or from the first line of stdin with
 * --password-stdin; with neither (stdin is not a terminal) nothing is
 * prompted and the command stops with a usage error, so a script never
 * hangs on a prompt nobody sees.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "chat.h"
#include "json.h"
#include "log.h"
#include "util.h"

#define PASSWORD_MAX	1024

enum { OPT_SERVER = 256, OPT_PWSTDIN, OPT_DEVICE, OPT_FORMAT };

static const struct option account_opts[] = {
	{ "server", required_argument, NULL, OPT_SERVER },
	{ "password-stdin", no_argument, NULL, OPT_PWSTDIN },
	{ "device", required_argument, NULL, OPT_DEVICE },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

struct account_args {
	const char	*server;
	const char	*device;
	int		 pw_stdin;
	enum chat_format fmt;
	char		*user;
};

/* Parses the options every account command shares; -1 after printing
 * usage (*status set). */
static int
parse(int argc, char **argv, struct account_args *a, int nargs, int *status)
{
	const char *env;
	int c;

	memset(a, 0, sizeof(*a));
	a->server = (env = getenv("CHAT_SERVER")) != NULL && env[0] ?
	    env : CHAT_DEFAULT_SERVER;
	while ((c = getopt_long(argc, argv, "h", account_opts, NULL)) != -1) {
		switch (c) {
		case OPT_SERVER:
			a->server = optarg;
			break;
		case OPT_PWSTDIN:
			a->pw_stdin = 1;
			break;
		case OPT_DEVICE:
			a->device = optarg;
			break;
		case OPT_FORMAT:
			if (print_parse_format(optarg, &a->fmt) == -1)
				goto bad;
			break;
		case 'h':
			chat_usage(stdout, argv[0]);
			*status = 0;
			return -1;
		default:
			goto bad;
		}
	}
	if (argc - optind != nargs)
		goto bad;
	if (nargs == 1) {
		a->user = argv[optind];
		if ((*status = chat_check_user(a->user)) != 0)
			return -1;
	}
	return 0;
bad:
	*status = chat_bad_usage(argv[0]);
	return -1;
}

/* The server URL without trailing slashes, into buf. */
static void
base_url(const char *server, char *buf, size_t len)
{
	size_t n;

	snprintf(buf, len, "%s", server);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '/')
		buf[--n] = '\0';
}

/* One line from f without its newline. */
static int
read_line(FILE *f, char *buf, size_t len)
{
	size_t n;

	if (fgets(buf, (int)len, f) == NULL)
		return -1;
	n = strlen(buf);
	if (n > 0 && buf[n - 1] != '\n' && !feof(f))
		return -1;	/* longer than any password may be */
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return 0;
}

/* Prompts on stderr and reads from the terminal with echo off. */
static int
read_tty(const char *prompt, char *buf, size_t len)
{
	struct termios old, quiet;
	int r;

	fputs(prompt, stderr);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &old) == -1)
		return -1;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	r = read_line(stdin, buf, len);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	return r;
}

/* Fills pw; 0 or the exit status after printing why. */
static int
get_password(const struct account_args *a, int confirm, char *pw,
    size_t len)
{
	char again[PASSWORD_MAX], prompt[128];

	if (a->pw_stdin) {
		if (read_line(stdin, pw, len) == -1 || pw[0] == '\0') {
			chat_err("no password on stdin");
			return EXIT_USAGE;
		}
		return 0;
	}
	if (!isatty(STDIN_FILENO)) {
		chat_err("stdin is not a terminal: give the password with "
		    "--password-stdin");
		return EXIT_USAGE;
	}
	snprintf(prompt, sizeof(prompt), "password for %s: ", a->user);
	if (read_tty(prompt, pw, len) == -1 || pw[0] == '\0') {
		chat_err("no password given");
		return EXIT_USAGE;
	}
	if (confirm) {
		if (read_tty("again: ", again, sizeof(again)) == -1 ||
		    strcmp(again, pw) != 0) {
			explicit_bzero(again, sizeof(again));
			chat_err("the passwords differ");
			return EXIT_USAGE;
		}
		explicit_bzero(again, sizeof(again));
	}
	return 0;
}

int
cmd_signup(int argc, char **argv)
{
	char pw[PASSWORD_MAX], server[512];
	struct account_args a;
	int status;
	jv reply;

	if (parse(argc, argv, &a, 1, &status) == -1)
		return status;
	if ((status = get_password(&a, 1, pw, sizeof(pw))) != 0)
		return status;
	base_url(a.server, server, sizeof(server));
	status = http_call(server, NULL, "POST", "/v1/signup",
	    JV_OBJECT(jv_string("user"), jv_string(a.user),
	    jv_string("password"), jv_string(pw)), &reply, 0);
	explicit_bzero(pw, sizeof(pw));
	if (status != 0)
		return status;
	if (a.fmt == FMT_TEXT)
		printf("signed up as %s\n", json_str(reply, "user", NULL) ?
		    json_str(reply, "user", NULL) : a.user);
	else
		print_json(stdout, jv_copy(reply));
	jv_free(reply);
	return print_flush(stdout) == 0 ? 0 : CHAT_EXIT_REFUSED;
}

/* POST /v1/login; fills token, device and (if not NULL) chat_url of s.
 * 0 or the exit status. */
static int
login_once(const char *server, const char *user, const char *pw,
    const char *device, char *token, size_t toklen, char *dev, size_t devlen,
    char *url, size_t urllen)
{
	const char *t, *d, *u;
	int status;
	jv body, reply;

	body = JV_OBJECT(jv_string("user"), jv_string(user),
	    jv_string("password"), jv_string(pw));
	if (device != NULL)
		body = jv_object_set(body, jv_string("device"),
		    jv_string(device));
	if ((status = http_call(server, NULL, "POST", "/v1/login", body,
	    &reply, 0)) != 0)
		return status;
	t = json_str(reply, "token", NULL);
	d = json_str(reply, "device", NULL);
	u = json_str(reply, "chat_url", NULL);
	if (t == NULL || d == NULL || !valid_device(d)) {
		chat_err("login reply lacks token or device");
		jv_free(reply);
		return EXIT_TEMP;
	}
	snprintf(token, toklen, "%s", t);
	snprintf(dev, devlen, "%s", d);
	if (url != NULL)
		snprintf(url, urllen, "%s", u ? u : "");
	jv_free(reply);
	return 0;
}

int
cmd_login(int argc, char **argv)
{
	char pw[PASSWORD_MAX], err[512], sdev[72];
	struct chat_session s, old;
	struct account_args a;
	int status, had;
	jv out;

	if (parse(argc, argv, &a, 1, &status) == -1)
		return status;
	if (a.device != NULL && !valid_device(a.device)) {
		chat_err("invalid device '%s'", a.device);
		return EXIT_USAGE;
	}
	if ((status = get_password(&a, 0, pw, sizeof(pw))) != 0)
		return status;
	memset(&s, 0, sizeof(s));
	base_url(a.server, s.server, sizeof(s.server));
	snprintf(s.user, sizeof(s.user), "%s", a.user);
	status = login_once(s.server, a.user, pw, a.device, s.token,
	    sizeof(s.token), s.device, sizeof(s.device), s.chat_url,
	    sizeof(s.chat_url));
	/* The device `chat send` uses: this one's name plus "-send". */
	if (status == 0) {
		snprintf(sdev, sizeof(sdev), "%.59s-send", s.device);
		status = login_once(s.server, a.user, pw, sdev, s.send_token,
		    sizeof(s.send_token), s.send_device,
		    sizeof(s.send_device), NULL, 0);
	}
	explicit_bzero(pw, sizeof(pw));
	if (status != 0)
		return status;
	/* The cursor belongs to one device of one user on one server. */
	had = session_load(&old, err, sizeof(err)) == 0;
	if (!had || strcmp(old.user, s.user) != 0 ||
	    strcmp(old.device, s.device) != 0 ||
	    strcmp(old.server, s.server) != 0)
		session_cursor_remove();
	if (session_save(&s, err, sizeof(err)) == -1) {
		chat_err("%s", err);
		return EXIT_USAGE;
	}
	if (a.fmt == FMT_TEXT)
		printf("logged in as %s (device %s)\n", s.user, s.device);
	else {
		out = JV_OBJECT(jv_string("user"), jv_string(s.user),
		    jv_string("device"), jv_string(s.device),
		    jv_string("server"), jv_string(s.server));
		print_json(stdout, out);
	}
	return print_flush(stdout) == 0 ? 0 : CHAT_EXIT_REFUSED;
}

int
cmd_logout(int argc, char **argv)
{
	struct chat_session s;
	struct account_args a;
	char err[512];
	int status;
	jv reply;

	if (parse(argc, argv, &a, 0, &status) == -1)
		return status;
	if ((status = chat_need_session(&s)) != 0)
		return status;
	status = http_session(&s, "POST", "/v1/logout", jv_invalid(), &reply);
	jv_free(reply);
	if (status != EXIT_TEMP && s.send_token[0] != '\0') {
		/* The send device goes too; it may be dead already. */
		http_call(s.server, s.send_token, "POST", "/v1/logout",
		    jv_invalid(), &reply, HTTP_QUIET);
		jv_free(reply);
	}
	if (status == EXIT_TEMP) {
		chat_err("session kept: run 'chat logout' again");
		return status;
	}
	/* Refused means the token is dead already: forget it all the same. */
	if (session_remove(err, sizeof(err)) == -1) {
		chat_err("%s", err);
		return EXIT_USAGE;
	}
	return 0;
}

int
cmd_whoami(int argc, char **argv)
{
	struct chat_session s;
	struct account_args a;
	int status;

	if (parse(argc, argv, &a, 0, &status) == -1)
		return status;
	if ((status = chat_need_session(&s)) != 0)
		return status;
	if (a.fmt == FMT_TEXT)
		printf("%s\n", s.user);
	else
		print_json(stdout, JV_OBJECT(jv_string("user"),
		    jv_string(s.user), jv_string("device"),
		    jv_string(s.device), jv_string("server"),
		    jv_string(s.server)));
	return print_flush(stdout) == 0 ? 0 : CHAT_EXIT_REFUSED;
}
