/*
 * cmd_data: the subcommands that read the stack's data from chat-store:
 * users (user.list, page by page), groups (every group, from a scan of the
 * g/ keys and a group.get each; or one user's, from group.list) and history
 * (msg.history of a conversation).  Tables for people; with --json or
 * --filter one JSON object per line for scripts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "log.h"
#include "chatctl.h"

#define PAGE	1000

/* Unix ms as 2026-11-23T08:01:02Z. */
static const char *
iso_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || gmtime_r(&t, &tm) == NULL)
		snprintf(buf, len, "-");
	else
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

/* Consumes req.  The reply if ok, else prints the error and exits 1. */
static jv
store_call(jv req)
{
	jv rep = rpc_call("store", req);

	if (!rpc_ok("store", rep)) {
		jv_free(rep);
		exit(CTL_EXIT_NO);
	}
	return rep;
}

/* Consumes rep.  The array in rep's field, or an empty one. */
static jv
array_field(jv rep, const char *field)
{
	jv a = jv_object_get(rep, jv_string(field));

	if (jv_get_kind(a) != JV_KIND_ARRAY) {
		jv_free(a);
		return jv_array();
	}
	return a;
}

static jv
str_req(const char *op, const char *k1, const char *v1)
{
	jv r = jv_object_set(jv_object(), jv_string("op"), jv_string(op));

	if (k1 != NULL)
		r = jv_object_set(r, jv_string(k1), jv_string(v1));
	return r;
}

int
cmd_users(int argc, char **argv)
{
	char after[64] = "", when[32];
	jv users, u;
	int i, n;

	(void)argv;
	if (argc != 1)
		return ctl_usage("users takes no arguments");
	if (!out_structured())
		printf("%-32s %-24s %s\n", "USER", "DISPLAY NAME", "CREATED");
	do {
		jv req = str_req("user.list", after[0] ? "after" : NULL, after);

		req = jv_object_set(req, jv_string("limit"), jv_number(PAGE));
		users = array_field(store_call(req), "users");
		n = jv_array_length(jv_copy(users));
		for (i = 0; i < n; i++) {
			int64_t created = 0;
			const char *name, *display;

			u = jv_array_get(jv_copy(users), i);
			name = json_str(u, "user", NULL);
			if (name != NULL)
				snprintf(after, sizeof(after), "%s", name);
			if (out_structured()) {
				out_json(u);
				continue;
			}
			display = json_str(u, "display_name", NULL);
			json_int(u, "created_at", &created);
			printf("%-32s %-24s %s\n", name ? name : "?",
			    display ? display : "", iso_time(created, when,
			    sizeof(when)));
			jv_free(u);
		}
		jv_free(users);
	} while (n == PAGE);
	return out_failed() ? CTL_EXIT_NO : 0;
}

/* The group ids of every g/{gid} key, through store scans, page by page.
 * A scan reply's entries may be keys or objects with a "key". */
static jv
all_gids(void)
{
	char after[256] = "";
	jv gids = jv_array(), items, it, rep;
	const char *key;
	int i, n, f;
	static const char *const fields[] = { "items", "entries", "keys",
	    "results" };

	do {
		jv req = str_req("scan", "prefix", "g/");

		if (after[0])
			req = jv_object_set(req, jv_string("after"),
			    jv_string(after));
		req = jv_object_set(req, jv_string("limit"), jv_number(PAGE));
		rep = store_call(req);
		items = jv_invalid();
		for (f = 0; f < 4; f++) {
			jv_free(items);
			items = jv_object_get(jv_copy(rep),
			    jv_string(fields[f]));
			if (jv_get_kind(items) == JV_KIND_ARRAY)
				break;
		}
		jv_free(rep);
		if (jv_get_kind(items) != JV_KIND_ARRAY) {
			jv_free(items);
			break;
		}
		n = jv_array_length(jv_copy(items));
		for (i = 0; i < n; i++) {
			it = jv_array_get(jv_copy(items), i);
			key = jv_get_kind(it) == JV_KIND_STRING ?
			    jv_string_value(it) : jv_get_kind(it) ==
			    JV_KIND_OBJECT ? json_str(it, "key", NULL) : NULL;
			if (key != NULL && strncmp(key, "g/", 2) == 0) {
				snprintf(after, sizeof(after), "%s", key);
				gids = jv_array_append(gids,
				    jv_string(key + 2));
			}
			jv_free(it);
		}
		jv_free(items);
	} while (n == PAGE);
	return gids;
}

static void
print_group(jv g)
{
	jv members = jv_object_get(jv_copy(g), jv_string("members"));
	const char *gid = json_str(g, "group", NULL);
	const char *name = json_str(g, "name", NULL);
	const char *owner = json_str(g, "owner", NULL);

	printf("%-34s %-24s %-24s %d\n", gid ? gid : "?", name ? name : "",
	    owner ? owner : "-", jv_get_kind(members) == JV_KIND_ARRAY ?
	    jv_array_length(jv_copy(members)) : 0);
	jv_free(members);
	jv_free(g);
}

int
cmd_groups(int argc, char **argv)
{
	jv gids;
	int i, n;

	if (argc > 2)
		return ctl_usage("usage: chatctl groups [USER]");
	if (argc == 2)
		gids = array_field(store_call(str_req("group.list", "user",
		    argv[1])), "groups");
	else
		gids = all_gids();
	if (!out_structured())
		printf("%-34s %-24s %-24s %s\n", "GROUP", "NAME", "OWNER",
		    "MEMBERS");
	n = jv_array_length(jv_copy(gids));
	for (i = 0; i < n; i++) {
		jv g = jv_array_get(jv_copy(gids), i), rep;
		const char *gid = jv_get_kind(g) == JV_KIND_STRING ?
		    jv_string_value(g) : json_str(g, "group", NULL);

		if (gid == NULL) {
			jv_free(g);
			continue;
		}
		rep = store_call(str_req("group.get", "group", gid));
		jv_free(g);
		rep = jv_object_delete(jv_object_delete(rep,
		    jv_string("id")), jv_string("ok"));
		if (out_structured())
			out_json(rep);
		else
			print_group(rep);
	}
	jv_free(gids);
	return out_failed() ? CTL_EXIT_NO : 0;
}

/*
 * CONV as chatctl(1) describes it: "d/A/B" or "A B" for the 1:1
 * conversation of A and B; "g_X" or "g/g_X" for a group, read as its owner
 * (msg.history answers members only).  Fills req's user and with|group.
 */
static int
conv_request(char **args, int nargs, jv *req)
{
	char a[64], b[64];
	const char *gid = NULL, *owner;
	jv g;

	if (nargs == 2) {
		snprintf(a, sizeof(a), "%s", args[0]);
		snprintf(b, sizeof(b), "%s", args[1]);
	} else if (nargs == 1 && strncmp(args[0], "d/", 2) == 0 &&
	    sscanf(args[0] + 2, "%63[^/]/%63s", a, b) == 2)
		;
	else if (nargs == 1 && strncmp(args[0], "g/", 2) == 0)
		gid = args[0] + 2;
	else if (nargs == 1 && strncmp(args[0], "g_", 2) == 0)
		gid = args[0];
	else
		return -1;
	if (gid == NULL) {
		*req = jv_object_set(*req, jv_string("user"), jv_string(a));
		*req = jv_object_set(*req, jv_string("with"), jv_string(b));
		return 0;
	}
	g = store_call(str_req("group.get", "group", gid));
	owner = json_str(g, "owner", NULL);
	*req = jv_object_set(*req, jv_string("user"), jv_string(owner ? owner :
	    ""));
	*req = jv_object_set(*req, jv_string("group"), jv_string(gid));
	jv_free(g);
	return 0;
}

int
cmd_history(int argc, char **argv)
{
	char *conv[2], when[32], *end;
	const char *before = NULL;
	long limit = 50;
	int i, n, nconv = 0;
	jv req, msgs;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
			limit = strtol(argv[++i], &end, 10);
			if (*end != '\0' || limit < 1 || limit > 200)
				return ctl_usage("--limit must be 1 to 200");
		} else if (strcmp(argv[i], "--before") == 0 && i + 1 < argc)
			before = argv[++i];
		else if (nconv < 2 && argv[i][0] != '-')
			conv[nconv++] = argv[i];
		else
			return ctl_usage("usage: chatctl history CONV "
			    "[--limit N] [--before ID]");
	}
	req = str_req("msg.history", before ? "before" : NULL, before);
	if (nconv == 0 || conv_request(conv, nconv, &req) < 0) {
		jv_free(req);
		return ctl_usage("CONV is 'USER1 USER2', 'd/USER1/USER2', "
		    "'g_GROUP' or 'g/g_GROUP'");
	}
	req = jv_object_set(req, jv_string("limit"), jv_number(limit));
	msgs = array_field(store_call(req), "messages");
	n = jv_array_length(jv_copy(msgs));
	/* The store answers newest first; people and pipes read oldest first. */
	for (i = n - 1; i >= 0; i--) {
		jv m = jv_array_get(jv_copy(msgs), i);
		int64_t ts = 0;
		const char *id, *from, *to, *body;

		if (out_structured()) {
			out_json(m);
			continue;
		}
		json_int(m, "ts", &ts);
		id = json_str(m, "id", NULL);
		from = json_str(m, "from", NULL);
		to = json_str(m, "to", NULL);
		if (to == NULL)
			to = json_str(m, "group", NULL);
		body = json_str(m, "body", NULL);
		printf("%s %s %s -> %s: %s\n", iso_time(ts, when, sizeof(when)),
		    id ? id : "-", from ? from : "?", to ? to : "?",
		    body ? body : "");
		jv_free(m);
	}
	jv_free(msgs);
	return out_failed() ? CTL_EXIT_NO : 0;
}
