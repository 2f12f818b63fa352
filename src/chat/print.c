/*
 * print: how chat writes what the server says.  The default is NDJSON, one
 * compact object per line, stable for scripts (jq, grep); `--format text` is
 * for people: local time, who, what.  Text output never passes a control
 * character from a message to the terminal, so a body cannot move the
 * cursor or change colours.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat.h"
#include "json.h"

int
print_parse_format(const char *s, enum chat_format *f)
{
	if (strcmp(s, "json") == 0)
		*f = FMT_JSON;
	else if (strcmp(s, "text") == 0)
		*f = FMT_TEXT;
	else
		return -1;
	return 0;
}

int
print_json(FILE *out, jv obj)
{
	size_t len;
	char *s;

	if ((s = json_dump(obj, &len)) == NULL)
		return -1;
	fwrite(s, 1, len, out);
	putc('\n', out);
	free(s);
	return ferror(out) ? -1 : 0;
}

/* Writes s with control characters made harmless; a newline continues the
 * text on an indented line. */
static void
put_safe(FILE *out, const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '\n')
			fputs("\n    ", out);
		else if (*p == '\t')
			putc(' ', out);
		else if (*p < 0x20 || *p == 0x7f)
			putc('?', out);
		else
			putc(*p, out);
	}
}

/* "2026-11-23 09:01:02" in local time for ts (ms), or "" for none. */
static void
put_time(FILE *out, jv frame, const char *field)
{
	int64_t ms;
	time_t t;
	struct tm tm;
	char buf[32];

	if (!json_int(frame, field, &ms) || ms <= 0)
		return;
	t = (time_t)(ms / 1000);
	localtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S ", &tm);
	fputs(buf, out);
}

static const char *
str_or(jv o, const char *field, const char *def)
{
	const char *s = json_str(o, field, NULL);

	return s != NULL ? s : def;
}

int
print_frame_text(FILE *out, jv f)
{
	const char *type = str_or(f, "type", "");
	const char *group = json_str(f, "group", NULL);

	if (strcmp(type, "msg") == 0 || (type[0] == '\0' &&
	    json_has(f, "body"))) {
		put_time(out, f, "ts");
		put_safe(out, str_or(f, "from", "?"));
		if (group != NULL) {
			fputs(" @ ", out);
			put_safe(out, group);
		} else {
			fputs(" -> ", out);
			put_safe(out, str_or(f, "to", "?"));
		}
		fputs(": ", out);
		put_safe(out, str_or(f, "body", ""));
	} else if (strcmp(type, "presence") == 0) {
		put_time(out, f, "last_active_at");
		put_safe(out, str_or(f, "user", "?"));
		fputs(" is ", out);
		put_safe(out, str_or(f, "status", "?"));
	} else if (strcmp(type, "typing") == 0) {
		put_safe(out, str_or(f, "from", "?"));
		fputs(" is typing", out);
		if (group != NULL) {
			fputs(" in ", out);
			put_safe(out, group);
		}
	} else if (strcmp(type, "error") == 0) {
		fputs("error: ", out);
		put_safe(out, str_or(f, "code", "?"));
		fputs(": ", out);
		put_safe(out, str_or(f, "message", ""));
		if (json_has(f, "cid")) {
			fputs(" (cid ", out);
			put_safe(out, str_or(f, "cid", "?"));
			fputs(")", out);
		}
	} else
		return print_json(out, jv_copy(f));
	putc('\n', out);
	return ferror(out) ? -1 : 0;
}

int
print_flush(FILE *out)
{
	if (fflush(out) == EOF || ferror(out))
		return -1;
	return 0;
}
