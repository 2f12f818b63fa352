/*
 * fuzz_conf: libFuzzer target for the chat.conf parser (lib/conf.c).  The
 * input is written as $CHAT_HOME/etc/chat.conf of a private directory and
 * loaded; a good file is then read through every accessor.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *keys[] = {
#define X(k, d, m) #k,
#include "conf_keys.h"
#undef X
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[256];
	char err[512];
	FILE *f;
	size_t i;

	if (path[0] == '\0') {
		char dir[] = "/tmp/fuzz-conf-XXXXXX";
		if (mkdtemp(dir) == NULL)
			abort();
		snprintf(path, sizeof(path), "%s/etc", dir);
		mkdir(path, 0700);
		setenv("CHAT_HOME", dir, 1);
		strcat(path, "/chat.conf");
	}
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fwrite(data, 1, size, f);
	fclose(f);
	if (conf_load(err, sizeof(err)) == -1)
		return 0;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		(void)conf_get(keys[i]);
		(void)conf_int(keys[i]);
		(void)conf_bool(keys[i]);
	}
	return 0;
}
