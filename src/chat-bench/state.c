/*
 * state: what a run keeps for the next one with --state FILE, so users are
 * signed up and devices logged in once, and a device resumes after the
 * newest message it holds (received, or its own and acked) instead of
 * syncing old runs again.  A line a
 * device, a line a group:
 *
 *   d USER DEVICE TOKEN LAST_ID
 *   g FIRST_USER SIZE GID
 *
 * Lines for users this run does not have are kept as they were.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "log.h"

/* The device index of user name u, or -1. */
static int
dev_of(const char *u)
{
	size_t pl = strlen(B.o.prefix);
	char *end;
	long i;

	if (strncmp(u, B.o.prefix, pl) != 0 || u[pl] < '0' || u[pl] > '9')
		return -1;
	i = strtol(u + pl, &end, 10);
	if (*end != '\0' || i < 0 || i >= B.ndevs ||
	    strcmp(B.devs[i].user, u) != 0)
		return -1;
	return (int)i;
}

int
state_load(const char *path)
{
	char line[1024], a[80], b[65], c[300], e[40];
	unsigned long long last;
	FILE *f;
	int i, k, size;

	if ((f = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			return 0;
		log_warn("unable to read '%s'", path);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "d %79s %64s %299s %llx", a, b, c, &last) == 4 &&
		    (i = dev_of(a)) >= 0) {
			snprintf(B.devs[i].device, sizeof(B.devs[i].device),
			    "%s", b);
			free(B.devs[i].token);
			B.devs[i].token = strdup(c);
			B.devs[i].last_id = last;
		} else if (sscanf(line, "g %79s %d %39s", a, &size, e) == 3 &&
		    (i = dev_of(a)) >= 0) {
			for (k = 0; k < B.ngroups; k++)
				if (B.groups[k].first == i &&
				    B.groups[k].size == size)
					snprintf(B.groups[k].gid,
					    sizeof(B.groups[k].gid), "%s", e);
		}
	}
	fclose(f);
	return 0;
}

int
state_save(const char *path)
{
	char tmp[1100], line[1024], a[80];
	FILE *in, *out;
	int i, k, n = 0, size, keep;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((out = fopen(tmp, "w")) == NULL) {
		log_warn("unable to write '%s'", tmp);
		return -1;
	}
	if ((in = fopen(path, "r")) != NULL) {
		while (fgets(line, sizeof(line), in) != NULL) {
			i = sscanf(line, "%*c %79s", a) == 1 ? dev_of(a) : -1;
			keep = i < 0;
			if (!keep && line[0] == 'g' && sscanf(line,
			    "g %*s %d", &size) == 1) {
				keep = 1;	/* unless it is one of ours */
				for (k = 0; k < B.ngroups; k++)
					if (B.groups[k].first == i &&
					    B.groups[k].size == size)
						keep = 0;
			}
			if (keep)
				fputs(line, out);
		}
		fclose(in);
	}
	for (i = 0; i < B.ndevs; i++)
		if (B.devs[i].token != NULL) {
			fprintf(out, "d %s %s %s %016llx\n", B.devs[i].user,
			    B.devs[i].device, B.devs[i].token,
			    (unsigned long long)(B.devs[i].last_acked >
			    B.devs[i].last_id ? B.devs[i].last_acked :
			    B.devs[i].last_id));
			n++;
		}
	for (i = 0; i < B.ngroups; i++)
		if (B.groups[i].gid[0] != '\0')
			fprintf(out, "g %s %d %s\n",
			    B.devs[B.groups[i].first].user, B.groups[i].size,
			    B.groups[i].gid);
	if (fclose(out) != 0 || rename(tmp, path) == -1) {
		log_warn("unable to write '%s'", path);
		return -1;
	}
	log_debug("kept %d devices in '%s'", n, path);
	return 0;
}
