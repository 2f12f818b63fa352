/*
 * out: how chatctl prints JSON.  Each object a subcommand prints is one
 * compact line (what `jq -c .` prints), so the output is NDJSON for
 * pipelines.  With --filter the object goes through a jq program compiled
 * once with libjq, and every result is printed as `jq -c EXPR` prints it;
 * --raw prints string results bare, as `jq -r` does.  A bad expression is
 * caught before any request is made, with jq's own message.
 */
#include <stdio.h>
#include <string.h>
#include <jq.h>

#include "chatctl.h"

static jq_state *jq;
static int raw_strings;
static int failed;
static int structured;
static char jq_msg[512];	/* the first message jq reported */

/* jq's error callback: keep the first message of a compile. */
static void
on_jq_error(void *data, jv msg)
{
	(void)data;
	if (jq_msg[0] == '\0' && jv_get_kind(msg) == JV_KIND_STRING) {
		/* Its first line; the rest repeats the expression. */
		snprintf(jq_msg, sizeof(jq_msg), "%s", jv_string_value(msg));
		jq_msg[strcspn(jq_msg, "\n")] = '\0';
	}
	jv_free(msg);
}

int
out_init(const char *filter, int raw, char *err, size_t errlen)
{
	raw_strings = raw;
	structured = ctl_opts.json || filter != NULL;
	if (filter == NULL)
		return 0;
	if ((jq = jq_init()) == NULL) {
		snprintf(err, errlen, "unable to start jq");
		return -1;
	}
	jq_set_error_cb(jq, on_jq_error, NULL);
	if (!jq_compile(jq, filter)) {
		snprintf(err, errlen, "bad jq expression '%s': %s", filter,
		    jq_msg[0] ? jq_msg : "does not compile");
		jq_teardown(&jq);
		return -1;
	}
	return 0;
}

void
out_free(void)
{
	if (jq != NULL)
		jq_teardown(&jq);
}

int
out_structured(void)
{
	return structured;
}

int
out_failed(void)
{
	return failed;
}

/* Consumes v.  One line: bare if a string under --raw, else compact. */
static void
print_one(jv v)
{
	if (raw_strings && jv_get_kind(v) == JV_KIND_STRING) {
		fwrite(jv_string_value(v), 1, (size_t)jv_string_length_bytes(
		    jv_copy(v)), stdout);
		jv_free(v);
	} else {
		jv s = jv_dump_string(v, 0);

		fputs(jv_string_value(s), stdout);
		jv_free(s);
	}
	putchar('\n');
}

int
out_json(jv v)
{
	jv r, msg;

	if (jq == NULL) {
		print_one(v);
		return 0;
	}
	jq_start(jq, v, 0);
	while (jv_is_valid(r = jq_next(jq)))
		print_one(r);
	if (jv_invalid_has_msg(jv_copy(r))) {
		msg = jv_invalid_get_msg(r);
		if (jv_get_kind(msg) != JV_KIND_STRING)
			msg = jv_dump_string(msg, 0);
		fflush(stdout);
		fprintf(stderr, "chatctl: filter error: %s\n",
		    jv_string_value(msg));
		jv_free(msg);
		failed = 1;
		return -1;
	}
	jv_free(r);
	return 0;
}
