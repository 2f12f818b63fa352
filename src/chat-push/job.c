/*
 * job: what a push job must carry, and what the notification made from it
 * says.  A job is the object of push.enqueue (or a line of --stdin):
 *
 *   {user, device, provider, endpoint, token?, from, conv, group?, msg_id,
 *    body?, ts}
 *
 * The registration may instead be given as chat-store's device record has
 * it, "push": {provider, endpoint, token?}; job_normalize lifts it up.
 *
 * Privacy: the notification names the sender and the conversation and
 * counts the messages; the text itself goes out only with push_preview.
 */
#include <stdio.h>
#include <string.h>

#include "id.h"
#include "json.h"
#include "util.h"
#include "push.h"

jv
job_normalize(jv v)
{
	jv reg = jv_object_get(jv_copy(v), jv_string("push"));
	const char *keys[] = { "provider", "endpoint", "token" };
	size_t i;

	if (jv_get_kind(reg) != JV_KIND_OBJECT) {
		jv_free(reg);
		return v;
	}
	for (i = 0; i < 3; i++) {
		jv f = jv_object_get(jv_copy(reg), jv_string(keys[i]));
		if (jv_is_valid(f) && !json_has(v, keys[i]))
			v = jv_object_set(v, jv_string(keys[i]), f);
		else
			jv_free(f);
	}
	jv_free(reg);
	return jv_object_delete(v, jv_string("push"));
}

int
job_check(jv v, char *err, size_t errlen)
{
	const char *s, *prov;
	int64_t ts;
	uint64_t id;
	size_t len;

	if (json_need_str(v, "user", 32, &s, err, errlen) < 0)
		return -1;
	if (!valid_user(s))
		return snprintf(err, errlen, "bad user name '%s'", s), -1;
	if (json_need_str(v, "device", 64, &s, err, errlen) < 0)
		return -1;
	if (!valid_device(s))
		return snprintf(err, errlen, "bad device id '%s'", s), -1;
	if (json_need_str(v, "provider", 32, &prov, err, errlen) < 0)
		return -1;
	if (push_provider(prov) == NULL)
		return snprintf(err, errlen, "unknown provider '%s'", prov), -1;
	if (json_opt_str(v, "token", 4096, &s, err, errlen) < 0)
		return -1;
	for (len = 0; s != NULL && s[len] != '\0'; len++)
		if (s[len] <= 0x20 || s[len] >= 0x7f)
			return snprintf(err, errlen, "field 'token' must be "
			    "printable ASCII without spaces"), -1;
	if (s == NULL && (strcmp(prov, "fcm") == 0 ||
	    strcmp(prov, "apns") == 0))
		return snprintf(err, errlen, "provider '%s' needs a 'token'",
		    prov), -1;
	if (strcmp(prov, "fcm") == 0 || strcmp(prov, "apns") == 0) {
		/* informational, or APNs' topic: may be empty */
		if (json_has(v, "endpoint") && (json_str(v, "endpoint", &len) ==
		    NULL || len > 2048))
			return snprintf(err, errlen, "field 'endpoint' must be "
			    "a string of at most 2048 bytes"), -1;
	} else {
		if (json_need_str(v, "endpoint", 2048, &s, err, errlen) < 0)
			return -1;
		if (strncmp(s, "http://", 7) != 0 &&
		    strncmp(s, "https://", 8) != 0 &&
		    strcmp(prov, "ntfy") != 0)
			return snprintf(err, errlen, "field 'endpoint' must "
			    "be an http or https URL"), -1;
	}
	if (json_need_str(v, "from", 32, &s, err, errlen) < 0)
		return -1;
	if (json_need_str(v, "conv", 100, &s, err, errlen) < 0)
		return -1;
	if (json_opt_str(v, "group", 128, &s, err, errlen) < 0)
		return -1;
	if (json_need_str(v, "msg_id", 16, &s, err, errlen) < 0)
		return -1;
	if (id_parse(s, strlen(s), &id) < 0)
		return snprintf(err, errlen, "field 'msg_id' must be 16 "
		    "lower-case hex digits"), -1;
	if (json_opt_str(v, "body", 1 << 20, &s, err, errlen) < 0)
		return -1;
	if (json_need_int(v, "ts", &ts, err, errlen) < 0)
		return -1;
	return 0;
}

/* Copies at most max-1 bytes of s into out, never splitting a UTF-8
 * sequence; marks a cut with an ellipsis. */
static void
utf8_cut(char *out, size_t max, const char *s)
{
	size_t n = strlen(s);

	if (n < max) {
		memcpy(out, s, n + 1);
		return;
	}
	n = max - 4;	/* room for "…" (3 bytes) and the NUL */
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	memcpy(out, s, n);
	memcpy(out + n, "\xe2\x80\xa6", 4);
}

void
job_note(jv newest, int count, int preview, struct push_note *n)
{
	const char *where;

	memset(n, 0, sizeof(*n));
	n->user = json_str(newest, "user", NULL);
	n->device = json_str(newest, "device", NULL);
	n->provider = json_str(newest, "provider", NULL);
	n->endpoint = json_str(newest, "endpoint", NULL);
	n->token = json_str(newest, "token", NULL);
	n->from = json_str(newest, "from", NULL);
	n->conv = json_str(newest, "conv", NULL);
	n->group = json_str(newest, "group", NULL);
	n->msg_id = json_str(newest, "msg_id", NULL);
	json_int(newest, "ts", &n->ts);
	n->count = count;
	if (preview)
		n->body = json_str(newest, "body", NULL);
	if (strncmp(n->conv, "d/", 2) == 0)
		snprintf(n->title, sizeof(n->title), "%s", n->from);
	else {
		where = n->group != NULL ? n->group : n->conv;
		snprintf(n->title, sizeof(n->title), "%s in %s", n->from,
		    where);
	}
	if (n->body != NULL && count == 1)
		utf8_cut(n->text, sizeof(n->text), n->body);
	else if (n->body != NULL) {
		char cut[PUSH_TEXT_MAX - 32];
		utf8_cut(cut, sizeof(cut), n->body);
		snprintf(n->text, sizeof(n->text), "(%d) %s", count, cut);
	} else if (count == 1)
		snprintf(n->text, sizeof(n->text), "New message");
	else
		snprintf(n->text, sizeof(n->text), "%d new messages", count);
}
