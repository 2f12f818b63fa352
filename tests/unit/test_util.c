/*
 * test_util: mkdir_p, set_nonblock, readiness notification over a pipe,
 * host:port splitting, kernel randomness, and the name checks exactly as
 * PROTOCOL.md writes them (each boundary length on both sides).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "t.h"

static void
test_mkdir(void)
{
	char dir[] = "/tmp/test_util.XXXXXX", p[256], q[256];
	struct stat st;
	int fd;

	if (mkdtemp(dir) == NULL) {
		CHECK(0, "mkdtemp");
		return;
	}
	umask(0);
	snprintf(p, sizeof(p), "%s/a/b//c/", dir);
	CHECK(mkdir_p(p, 0750) == 0, "mkdir_p makes a/b//c/");
	snprintf(p, sizeof(p), "%s/a/b/c", dir);
	CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0750,
	    "each new directory has the mode (%o)", (unsigned)(st.st_mode & 0777));
	CHECK(mkdir_p(p, 0700) == 0, "mkdir_p of an existing path is fine");
	snprintf(q, sizeof(q), "%s/a/file", dir);
	fd = open(q, O_CREAT | O_WRONLY, 0600);
	close(fd);
	snprintf(p, sizeof(p), "%s/a/file/x", dir);
	errno = 0;
	CHECK(mkdir_p(p, 0700) == -1 && errno == ENOTDIR, "a file in the way: ENOTDIR");
	errno = 0;
	CHECK(mkdir_p(q, 0700) == -1 && errno == ENOTDIR, "the path itself a file: ENOTDIR");
	errno = 0;
	CHECK(mkdir_p("", 0700) == -1 && errno == ENOENT, "an empty path: ENOENT");
	CHECK(mkdir_p("/", 0700) == 0, "/ exists");
	unlink(q);
	snprintf(p, sizeof(p), "rm -rf '%s'", dir);
	if (system(p) != 0)
		CHECK(0, "cleanup");
	umask(022);
}

static void
test_nonblock_ready(void)
{
	int p[2], fl, fdf;
	char buf[8];
	ssize_t n;

	if (pipe(p) < 0)
		return;
	CHECK(set_nonblock(p[0]) == 0, "set_nonblock");
	fl = fcntl(p[0], F_GETFL);
	fdf = fcntl(p[0], F_GETFD);
	CHECK((fl & O_NONBLOCK) && (fdf & FD_CLOEXEC), "O_NONBLOCK and FD_CLOEXEC set");
	errno = 0;
	CHECK(set_nonblock(-1) == -1 && errno == EBADF, "a bad fd: -1, EBADF");

	snprintf(buf, sizeof(buf), "%d", p[1]);
	setenv("CHAT_READY_FD", buf, 1);
	notify_ready();
	n = read(p[0], buf, sizeof(buf));
	CHECK(n == 1 && buf[0] == '\n', "notify_ready writes one newline");
	n = read(p[0], buf, sizeof(buf));
	CHECK(n == 0, "and closes the descriptor (EOF for the reader)");
	CHECK(getenv("CHAT_READY_FD") == NULL, "and unsets CHAT_READY_FD for children");
	close(p[0]);

	unsetenv("CHAT_READY_FD");
	notify_ready();
	CHECK(1, "notify_ready without CHAT_READY_FD is harmless");
	setenv("CHAT_READY_FD", "banana", 1);
	notify_ready();
	CHECK(1, "notify_ready with a bad CHAT_READY_FD is harmless");
	setenv("CHAT_READY_FD", "987", 1);
	errno = 42;
	notify_ready();
	CHECK(errno == 42, "notify_ready with a closed fd is harmless, errno kept");
}

static void
test_hostport(void)
{
	static const char *bad[] = { "", "host", ":80", "host:", "host:0",
	    "host:65536", "host:80a", "host:+80", "host: 80", "host:-1",
	    "::1:80", "[::1]80", "[::1]:", "[]:80", "host:000080", "[::1" };
	char host[64];
	int port;
	size_t i;

	CHECK(parse_hostport("127.0.0.1:8080", host, sizeof(host), &port) == 0 &&
	    strcmp(host, "127.0.0.1") == 0 && port == 8080, "127.0.0.1:8080");
	CHECK(parse_hostport("localhost:1", host, sizeof(host), &port) == 0 &&
	    strcmp(host, "localhost") == 0 && port == 1, "localhost:1");
	CHECK(parse_hostport("[::1]:65535", host, sizeof(host), &port) == 0 &&
	    strcmp(host, "::1") == 0 && port == 65535, "[::1]:65535");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(parse_hostport(bad[i], host, sizeof(host), &port) == -1,
		    "refused '%s'", bad[i]);
	CHECK(parse_hostport("127.0.0.1:80", host, 9, &port) == -1,
	    "a host too long for the buffer is refused");
	CHECK(parse_hostport("127.0.0.1:80", host, 10, &port) == 0, "a host that just fits");
	CHECK(parse_hostport(NULL, host, sizeof(host), &port) == -1, "NULL is refused");
}

static void
test_random(void)
{
	unsigned char a[32], b[32], *big;
	size_t i, zero = 0;

	CHECK(random_bytes(a, sizeof(a)) == 0 && random_bytes(b, sizeof(b)) == 0 &&
	    memcmp(a, b, sizeof(a)) != 0, "two draws differ");
	CHECK(random_bytes(a, 0) == 0, "zero bytes is fine");
	big = calloc(1, 1 << 20);
	CHECK(random_bytes(big, 1 << 20) == 0, "1 MiB in one call");
	for (i = 0; i < 1 << 20; i++)
		zero += big[i] == 0;
	CHECK(zero < 8192, "and it is filled (%zu zero bytes of 1 MiB)", zero);
	free(big);
}

static char *
rep(char c, size_t n, const char *prefix)
{
	static char buf[256];
	size_t p = strlen(prefix);

	memcpy(buf, prefix, p);
	memset(buf + p, c, n);
	buf[p + n] = '\0';
	return buf;
}

/* s with bytes outside printable ASCII as \xNN, for one-line TAP output. */
static const char *
show(const char *s)
{
	static char buf[512];
	size_t o = 0;

	for (; *s != '\0' && o < sizeof(buf) - 5; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\x%02x",
			    (unsigned char)*s);
		else
			buf[o++] = *s;
	}
	buf[o] = '\0';
	return buf;
}

static void
test_names(void)
{
	static const char *users_ok[] = { "a", "alice", "0abc", "a.b-c_d", "9", "a..", "a-" };
	static const char *users_bad[] = { "", "Alice", "_a", ".a", "-a", "a b", "a/b",
	    "a:b", "\xc3\xa9", "a\n", "a@b", "aB" };
	static const char *dev_ok[] = { "a", "A-z_9", "-", "_", "ABC" };
	static const char *dev_bad[] = { "", "a.b", "a b", "a:b", "a/b", "\xc3\xa9" };
	static const char *grp_ok[] = { "g_a", "g_0", "g_abc123" };
	static const char *grp_bad[] = { "", "g", "g_", "g_A", "g-a", "G_a", "g_a_b",
	    "g_a.b", "h_a", "g__" };
	static const char *cid_ok[] = { " ", "~", "a", "hello world!", "{\"x\":1}" };
	static const char *cid_bad[] = { "", "\t", "a\n", "\x7f", "\xc3\xa9", "\x1f" };
	size_t i;

	for (i = 0; i < sizeof(users_ok) / sizeof(users_ok[0]); i++)
		CHECK(valid_user(users_ok[i]), "user '%s' is valid", users_ok[i]);
	for (i = 0; i < sizeof(users_bad) / sizeof(users_bad[0]); i++)
		CHECK(!valid_user(users_bad[i]), "user '%s' is refused", show(users_bad[i]));
	CHECK(valid_user(rep('a', 32, "")), "a user of 32 is valid");
	CHECK(!valid_user(rep('a', 33, "")), "a user of 33 is refused");
	CHECK(!valid_user(NULL), "user NULL is refused");

	for (i = 0; i < sizeof(dev_ok) / sizeof(dev_ok[0]); i++)
		CHECK(valid_device(dev_ok[i]), "device '%s' is valid", dev_ok[i]);
	for (i = 0; i < sizeof(dev_bad) / sizeof(dev_bad[0]); i++)
		CHECK(!valid_device(dev_bad[i]), "device '%s' is refused", show(dev_bad[i]));
	CHECK(valid_device(rep('Z', 64, "")), "a device of 64 is valid");
	CHECK(!valid_device(rep('Z', 65, "")), "a device of 65 is refused");
	CHECK(!valid_device(NULL), "device NULL is refused");

	for (i = 0; i < sizeof(grp_ok) / sizeof(grp_ok[0]); i++)
		CHECK(valid_group(grp_ok[i]), "group '%s' is valid", grp_ok[i]);
	for (i = 0; i < sizeof(grp_bad) / sizeof(grp_bad[0]); i++)
		CHECK(!valid_group(grp_bad[i]), "group '%s' is refused", grp_bad[i]);
	CHECK(valid_group(rep('z', 32, "g_")), "g_ + 32 is valid");
	CHECK(!valid_group(rep('z', 33, "g_")), "g_ + 33 is refused");
	CHECK(!valid_group(NULL), "group NULL is refused");

	for (i = 0; i < sizeof(cid_ok) / sizeof(cid_ok[0]); i++)
		CHECK(valid_cid(cid_ok[i]), "cid '%s' is valid", cid_ok[i]);
	for (i = 0; i < sizeof(cid_bad) / sizeof(cid_bad[0]); i++)
		CHECK(!valid_cid(cid_bad[i]), "cid '%s' is refused", show(cid_bad[i]));
	CHECK(valid_cid(rep('x', 64, "")), "a cid of 64 is valid");
	CHECK(!valid_cid(rep('x', 65, "")), "a cid of 65 is refused");
	CHECK(!valid_cid(NULL), "cid NULL is refused");
}

int
main(void)
{
	test_mkdir();
	test_nonblock_ready();
	test_hostport();
	test_random();
	test_names();
	return t_done();
}
