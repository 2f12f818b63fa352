/*
 * cmd_social: the request-and-answer subcommands over the HTTP API:
 * history, friends, group, who.  Each prints what the server answered:
 * one JSON object per line by default (a list becomes one line per item, so
 * `| jq` and `| wc -l` work), or lines for people with --format text.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "id.h"
#include "json.h"
#include "log.h"
#include "util.h"

struct social_args {
	enum chat_format fmt;
	const char	*before;
	const char	*group;
	long		 limit;
	int		 nargs;
	char		**args;
};

static const struct option social_opts[] = {
	{ "format", required_argument, NULL, 'f' },
	{ "before", required_argument, NULL, 'b' },
	{ "limit", required_argument, NULL, 'l' },
	{ "group", required_argument, NULL, 'g' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

/* Parses options; allowed lists the long options the command takes.
 * 0, or -1 with *status (0 after --help). */
static int
parse(int argc, char **argv, const char *allowed, struct social_args *a,
    int *status)
{
	char *end;
	int c, idx;

	memset(a, 0, sizeof(*a));
	while ((c = getopt_long(argc, argv, "h", social_opts, &idx)) != -1) {
		if (c == 'h') {
			chat_usage(stdout, argv[0]);
			*status = 0;
			return -1;
		}
		if (c == '?' || strstr(allowed, social_opts[idx].name) == NULL)
			goto bad;
		switch (c) {
		case 'f':
			if (print_parse_format(optarg, &a->fmt) == -1)
				goto bad;
			break;
		case 'b':
			a->before = optarg;
			break;
		case 'l':
			a->limit = strtol(optarg, &end, 10);
			if (*end != '\0' || a->limit < 1)
				goto bad;
			break;
		case 'g':
			a->group = optarg;
			break;
		}
	}
	a->nargs = argc - optind;
	a->args = argv + optind;
	return 0;
bad:
	*status = chat_bad_usage(argv[0]);
	return -1;
}

/* Writes each element of the array field of reply (consumed) with fn, or
 * as JSON lines.  reverse: last element first. */
static int
print_list(jv reply, const char *field, enum chat_format fmt,
    void (*text)(jv item), int reverse)
{
	jv list = jv_object_get(reply, jv_string(field));
	int i, n;

	if (jv_get_kind(list) != JV_KIND_ARRAY) {
		chat_err("the reply lacks '%s'", field);
		jv_free(list);
		return EXIT_TEMP;
	}
	n = jv_array_length(jv_copy(list));
	for (i = 0; i < n; i++) {
		jv item = jv_array_get(jv_copy(list), reverse ? n - 1 - i : i);

		if (fmt == FMT_TEXT && text != NULL)
			text(item);
		else
			print_json(stdout, jv_copy(item));
		jv_free(item);
	}
	jv_free(list);
	return print_flush(stdout) == 0 ? 0 : CHAT_EXIT_REFUSED;
}

/* Prints reply (consumed) as one JSON line, or with text. */
static int
print_one(jv reply, enum chat_format fmt, void (*text)(jv item))
{
	if (fmt == FMT_TEXT && text != NULL)
		text(reply);
	else if (fmt == FMT_JSON)
		print_json(stdout, jv_copy(reply));
	jv_free(reply);
	return print_flush(stdout) == 0 ? 0 : CHAT_EXIT_REFUSED;
}

/* Runs a request and prints its answer; the usual glue of this file. */
static int
request(const char *method, const char *path, jv body, jv *reply)
{
	struct chat_session s;
	int status;

	*reply = jv_invalid();
	if ((status = chat_need_session(&s)) != 0) {
		jv_free(body);
		return status;
	}
	return http_session(&s, method, path, body, reply);
}

static const char *
str_or(jv o, const char *field, const char *def)
{
	const char *s = json_str(o, field, NULL);

	return s != NULL ? s : def;
}

static void
text_msg(jv m)
{
	print_frame_text(stdout, m);
}

static void
text_presence(jv p)
{
	printf("%s %s\n", str_or(p, "user", "?"), str_or(p, "status", "?"));
}

static void
text_friend(jv f)
{
	const char *status = json_str(f, "status", NULL);

	printf("%s %s%s%s\n", str_or(f, "user", "?"), str_or(f, "state", "?"),
	    status ? " " : "", status ? status : "");
}

static void
text_group(jv g)
{
	jv members = jv_object_get(jv_copy(g), jv_string("members"));
	int i, n;

	printf("%s %s", str_or(g, "group", "?"), str_or(g, "name", ""));
	if (jv_get_kind(members) == JV_KIND_ARRAY) {
		printf(" (owner %s):", str_or(g, "owner", "?"));
		n = jv_array_length(jv_copy(members));
		for (i = 0; i < n; i++) {
			jv m = jv_array_get(jv_copy(members), i);

			if (jv_get_kind(m) == JV_KIND_STRING)
				printf(" %s", jv_string_value(m));
			jv_free(m);
		}
	}
	putchar('\n');
	jv_free(members);
}

int
cmd_history(int argc, char **argv)
{
	struct social_args a;
	char path[256], *conv;
	uint64_t v;
	int status;
	jv reply;

	if (parse(argc, argv, "format before limit", &a, &status) == -1)
		return status;
	if (a.nargs != 1)
		return chat_bad_usage(argv[0]);
	/* A user name or a group id ("g_" names can be either: the server
	 * decides). */
	conv = a.args[0];
	if (!valid_group(conv) && (status = chat_check_user(conv)) != 0)
		return status;
	if (a.before != NULL && id_parse(a.before, strlen(a.before), &v)) {
		chat_err("invalid message id '%s'", a.before);
		return EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "/v1/conversations/%s/messages?limit=%ld%s%s",
	    conv, a.limit ? a.limit : 50, a.before ? "&before=" : "",
	    a.before ? a.before : "");
	if ((status = request("GET", path, jv_invalid(), &reply)) != 0)
		return status;
	/* JSON keeps the API's order, newest first (the last line's id is the
	 * next --before); text reads like a conversation, oldest first. */
	return print_list(reply, "messages", a.fmt, text_msg,
	    a.fmt == FMT_TEXT);
}

int
cmd_friends(int argc, char **argv)
{
	struct social_args a;
	char path[128];
	int status;
	jv reply;

	if (parse(argc, argv, "format", &a, &status) == -1)
		return status;
	if (a.nargs == 0) {
		if ((status = request("GET", "/v1/friends", jv_invalid(),
		    &reply)) != 0)
			return status;
		return print_list(reply, "friends", a.fmt, text_friend, 0);
	}
	if (a.nargs != 2 || (strcmp(a.args[0], "add") != 0 &&
	    strcmp(a.args[0], "remove") != 0))
		return chat_bad_usage(argv[0]);
	if ((status = chat_check_user(a.args[1])) != 0)
		return status;
	snprintf(path, sizeof(path), "/v1/friends/%s", a.args[1]);
	if (strcmp(a.args[0], "add") == 0) {
		if ((status = request("PUT", path, jv_invalid(), &reply)) != 0)
			return status;
		return print_one(reply, a.fmt, text_friend);
	}
	if ((status = request("DELETE", path, jv_invalid(), &reply)) != 0)
		return status;
	jv_free(reply);
	return 0;
}

static int
group_member(const char *method, struct social_args *a)
{
	char path[160];
	int status;
	jv reply;

	if (a->nargs != 3)
		return -1;
	if ((status = chat_check_group(a->args[1])) != 0 ||
	    (status = chat_check_user(a->args[2])) != 0)
		return status;
	snprintf(path, sizeof(path), "/v1/groups/%s/members/%s", a->args[1],
	    a->args[2]);
	if ((status = request(method, path, jv_invalid(), &reply)) != 0)
		return status;
	jv_free(reply);
	return 0;
}

int
cmd_group(int argc, char **argv)
{
	struct social_args a;
	const char *sub;
	char path[128];
	int i, status;
	jv reply, members;

	if (parse(argc, argv, "format", &a, &status) == -1)
		return status;
	if (a.nargs < 1)
		return chat_bad_usage(argv[0]);
	sub = a.args[0];
	if (strcmp(sub, "create") == 0 && a.nargs >= 2) {
		members = jv_array();
		for (i = 2; i < a.nargs; i++) {
			if ((status = chat_check_user(a.args[i])) != 0) {
				jv_free(members);
				return status;
			}
			members = jv_array_append(members,
			    jv_string(a.args[i]));
		}
		if ((status = request("POST", "/v1/groups", JV_OBJECT(
		    jv_string("name"), jv_string(a.args[1]),
		    jv_string("members"), members), &reply)) != 0)
			return status;
		return print_one(reply, a.fmt, text_group);
	}
	if (strcmp(sub, "add") == 0 || strcmp(sub, "remove") == 0) {
		status = group_member(strcmp(sub, "add") == 0 ? "PUT" :
		    "DELETE", &a);
		return status == -1 ? chat_bad_usage(argv[0]) : status;
	}
	if (strcmp(sub, "show") == 0 && a.nargs == 2) {
		if ((status = chat_check_group(a.args[1])) != 0)
			return status;
		snprintf(path, sizeof(path), "/v1/groups/%s", a.args[1]);
		if ((status = request("GET", path, jv_invalid(), &reply)) != 0)
			return status;
		return print_one(reply, a.fmt, text_group);
	}
	if (strcmp(sub, "list") == 0 && a.nargs == 1) {
		if ((status = request("GET", "/v1/groups", jv_invalid(),
		    &reply)) != 0)
			return status;
		return print_list(reply, "groups", a.fmt, text_group, 0);
	}
	return chat_bad_usage(argv[0]);
}

int
cmd_who(int argc, char **argv)
{
	struct social_args a;
	char path[4096];
	size_t n;
	int i, status;
	jv reply;

	if (parse(argc, argv, "format group", &a, &status) == -1)
		return status;
	if ((a.group != NULL) == (a.nargs > 0))
		return chat_bad_usage(argv[0]);
	if (a.group != NULL) {
		if ((status = chat_check_group(a.group)) != 0)
			return status;
		snprintf(path, sizeof(path), "/v1/presence?group=%s", a.group);
	} else {
		n = (size_t)snprintf(path, sizeof(path), "/v1/presence?users=");
		for (i = 0; i < a.nargs; i++) {
			if ((status = chat_check_user(a.args[i])) != 0)
				return status;
			if (n + strlen(a.args[i]) + 2 >= sizeof(path)) {
				chat_err("too many users at once");
				return EXIT_USAGE;
			}
			n += (size_t)snprintf(path + n, sizeof(path) - n, "%s%s",
			    i ? "," : "", a.args[i]);
		}
	}
	if ((status = request("GET", path, jv_invalid(), &reply)) != 0)
		return status;
	return print_list(reply, "presence", a.fmt, text_presence, 0);
}
