/*
 * fuzz_json: libFuzzer target for json_parse_object() and the field
 * helpers of lib/json.c, the decoder of every internal line and every
 * client frame.  A parsed object is read through each helper, dumped and
 * parsed again: the dump must parse back to an object.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *fields[] = { "type", "cid", "to", "group", "body",
	    "token", "since", "id", "op", "user" };
	char err[200];
	const char *s;
	size_t len, i;
	int64_t n;
	char *dump;
	jv o, again;

	o = json_parse_object((const char *)data, size, err, sizeof(err));
	if (!jv_is_valid(o)) {
		if (err[0] == '\0')
			abort();	/* a refusal must say why */
		return 0;
	}
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		(void)json_str(o, fields[i], &len);
		(void)json_int(o, fields[i], &n);
		(void)json_bool(o, fields[i], 0);
		(void)json_has(o, fields[i]);
		(void)json_need_str(o, fields[i], 64, &s, err, sizeof(err));
		(void)json_opt_str(o, fields[i], 16384, &s, err, sizeof(err));
		(void)json_need_int(o, fields[i], &n, err, sizeof(err));
	}
	dump = json_dump(jv_copy(o), &len);
	if (dump != NULL) {
		again = json_parse_object(dump, len, err, sizeof(err));
		if (!jv_is_valid(again))
			abort();
		jv_free(again);
		free(dump);
	}
	jv_free(o);
	return 0;
}
