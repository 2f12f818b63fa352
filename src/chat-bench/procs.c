/*
 * procs: see procs.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "conf.h"
#include "ipc_sync.h"
#include "json.h"
#include "log.h"
#include "procs.h"

int
procs_from_super(void)
{
	struct ipc_sync s;
	char path[1024], err[512], *line;
	jv r, progs;
	int rc = -1;

	if (conf_load(err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		return -1;
	}
	conf_sock_path("super", path, sizeof(path));
	if (ipc_sync_open(&s, path, err, sizeof(err)) == -1) {
		log_warnx("--pids-from-super: %s", err);
		return -1;
	}
	line = ipc_sync_call(&s, "{\"op\":\"status\"}", 5000, err,
	    sizeof(err));
	ipc_sync_close(&s);
	if (line == NULL) {
		log_warnx("--pids-from-super: %s", err);
		return -1;
	}
	r = json_parse_object(line, strlen(line), err, sizeof(err));
	free(line);
	progs = jv_is_valid(r) ? jv_object_get(jv_copy(r),
	    jv_string("programs")) : jv_invalid();
	if (jv_get_kind(progs) == JV_KIND_ARRAY) {
		jv_array_foreach(progs, i, p) {
			const char *name = json_str(p, "name", NULL);
			int64_t pid;
			if (name != NULL && json_int(p, "pid", &pid) &&
			    B.o.npids < BENCH_MAX_PIDS) {
				B.o.pid_names[B.o.npids] = strdup(name);
				B.o.pids[B.o.npids++] = (int)pid;
			}
			jv_free(p);
		}
		rc = 0;
	} else
		log_warnx("--pids-from-super: no program list in the reply");
	jv_free(progs);
	jv_free(r);
	return rc;
}

static int
pid_of(int i)
{
	return i < 0 ? (int)getpid() : B.o.pids[i];
}

double
procs_cpu(int i)
{
	char path[64], buf[2048], *p;
	unsigned long ut, stime;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid_of(i));
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* the name in parentheses may hold blanks: start after its ')' */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 2,
	    "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
	    &stime) != 2)
		return -1;
	return (double)(ut + stime) / (double)sysconf(_SC_CLK_TCK);
}

static long
field_kb(const char *path, const char *key)
{
	char line[256];
	size_t kl = strlen(key);
	long v = -1;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, kl) == 0) {
			v = strtol(line + kl, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

long
procs_rss_kb(int i)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/status", pid_of(i));
	return field_kb(path, "VmRSS:");
}

long
procs_slab_kb(void)
{
	return field_kb("/proc/meminfo", "Slab:");
}
