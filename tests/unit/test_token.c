/*
 * test_token: a token made is a token accepted with the same claims; any
 * change to its payload or MAC, another secret, expiry, and every malformed
 * form are refused with the documented reason and never crash; the secret
 * file is created once with mode 0600 and reloaded as the same bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "token.h"
#include "t.h"

static unsigned char key[TOKEN_SECRET_LEN];
static char err[256];

/* The test's own base64url and signer, to forge well-signed payloads that
 * token_make would never write. */
static void
b64url(const unsigned char *in, size_t n, char *out)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, o = 0;
	uint32_t v;

	for (i = 0; i < n; i += 3) {
		v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
		if (i + 1 < n)
			out[o++] = a[v >> 6 & 63];
		if (i + 2 < n)
			out[o++] = a[v & 63];
	}
	out[o] = '\0';
}

static void
sign_n(const char *payload, size_t len, char *out)
{
	unsigned char m[32];
	unsigned int ml;
	size_t n;

	b64url((const unsigned char *)payload, len, out);
	n = strlen(out);
	HMAC(EVP_sha256(), key, sizeof(key), (unsigned char *)out, n, m, &ml);
	out[n] = '.';
	b64url(m, ml, out + n + 1);
}

static void
sign(const char *payload, char *out)
{
	sign_n(payload, strlen(payload), out);
}

static int
check(const char *tok, int64_t now, struct token_claims *c)
{
	err[0] = '\0';
	return token_check(key, tok, now, c, err, sizeof(err));
}

static struct token_claims
claims(const char *user, const char *device, int64_t exp, uint64_t gen)
{
	struct token_claims c;

	memset(&c, 0, sizeof(c));
	snprintf(c.user, sizeof(c.user), "%s", user);
	snprintf(c.device, sizeof(c.device), "%s", device);
	c.expires = exp;
	c.gen = gen;
	return c;
}

static void
test_secret(void)
{
	char dir[] = "/tmp/test_token.XXXXXX", path[256], bad[256];
	unsigned char again[TOKEN_SECRET_LEN], other[TOKEN_SECRET_LEN];
	struct stat st;
	int fd;

	if (mkdtemp(dir) == NULL) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "%s/secret", dir);
	CHECK(token_load_secret(path, 0, key, err, sizeof(err)) == -1 &&
	    strstr(err, path) != NULL, "a missing secret without create: %s", err);
	umask(022);
	CHECK(token_load_secret(path, 1, key, err, sizeof(err)) == 0,
	    "a missing secret is created: %s", err);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600 &&
	    st.st_size == TOKEN_SECRET_LEN, "the secret file is 32 bytes, mode 0600 (%o)",
	    (unsigned)(st.st_mode & 07777));
	CHECK(token_load_secret(path, 0, again, err, sizeof(err)) == 0 &&
	    memcmp(key, again, sizeof(key)) == 0, "reloading gives the same secret");
	CHECK(token_load_secret(path, 1, again, err, sizeof(err)) == 0 &&
	    memcmp(key, again, sizeof(key)) == 0, "create does not replace an existing secret");

	snprintf(bad, sizeof(bad), "%s/other", dir);
	CHECK(token_load_secret(bad, 1, other, err, sizeof(err)) == 0 &&
	    memcmp(key, other, sizeof(key)) != 0, "a second secret is different random bytes");
	chmod(bad, 0644);
	CHECK(token_load_secret(bad, 0, other, err, sizeof(err)) == -1 &&
	    strstr(err, "0600") != NULL, "a secret readable by others is refused: %s", err);
	unlink(bad);

	fd = open(bad, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (write(fd, "short", 5) != 5)
		CHECK(0, "write short secret");
	close(fd);
	CHECK(token_load_secret(bad, 1, other, err, sizeof(err)) == -1,
	    "a secret of the wrong size is refused, not replaced: %s", err);
	unlink(bad);

	snprintf(bad, sizeof(bad), "%s/nodir/secret", dir);
	CHECK(token_load_secret(bad, 1, other, err, sizeof(err)) == -1 && err[0] != '\0',
	    "an uncreatable path is an error: %s", err);
	unlink(path);
	rmdir(dir);
}

static void
test_round_trip(void)
{
	struct token_claims c = claims("alice", "dev-1_X", 2000000000, 3), d;
	char tok[TOKEN_MAX], tok2[TOKEN_MAX];

	CHECK(token_make(key, &c, tok) == 0, "make: %s", tok);
	memset(&d, 0, sizeof(d));
	CHECK(check(tok, 1999999999, &d) == 0, "check accepts it: %s", err);
	CHECK(strcmp(d.user, "alice") == 0 && strcmp(d.device, "dev-1_X") == 0 &&
	    d.expires == 2000000000 && d.gen == 3, "the claims come back");
	CHECK(strchr(tok, '=') == NULL && strchr(tok, '+') == NULL &&
	    strchr(tok, '/') == NULL, "base64url without padding");
	CHECK(token_make(key, &c, tok2) == 0 && strcmp(tok, tok2) == 0,
	    "making is deterministic");

	CHECK(check(tok, 2000000000, &d) == -1 && strcmp(err, "token expired") == 0,
	    "at its expiry second it is expired: %s", err);
	CHECK(check(tok, INT64_MAX, &d) == -1 && strcmp(err, "token expired") == 0,
	    "long after, expired");

	c = claims("abcdefghijklmnopqrstuvwxyz012345",
	    "0123456789012345678901234567890123456789012345678901234567890123",
	    INT64_MAX, UINT64_MAX);
	CHECK(token_make(key, &c, tok) == 0 && strlen(tok) < TOKEN_MAX,
	    "the longest claims fit in TOKEN_MAX (%zu)", strlen(tok));
	CHECK(check(tok, 0, &d) == 0 && d.expires == INT64_MAX && d.gen == UINT64_MAX &&
	    strlen(d.user) == 32 && strlen(d.device) == 64, "and check back");
	c = claims("bob", "d", INT64_MIN, 0);
	CHECK(token_make(key, &c, tok) == 0 && check(tok, INT64_MIN, &d) == -1 &&
	    strcmp(err, "token expired") == 0, "INT64_MIN expiry is always expired");
	c = claims("bob", "d", -5, 0);
	CHECK(token_make(key, &c, tok) == 0 && check(tok, -6, &d) == 0 &&
	    d.expires == -5, "a negative expiry round-trips");

	c = claims("a:b", "d", 1, 1);
	CHECK(token_make(key, &c, tok) == -1, "make refuses ':' in user");
	c = claims("a", "d:e", 1, 1);
	CHECK(token_make(key, &c, tok) == -1, "make refuses ':' in device");
	c = claims("", "d", 1, 1);
	CHECK(token_make(key, &c, tok) == -1, "make refuses an empty user");
	c = claims("a", "", 1, 1);
	CHECK(token_make(key, &c, tok) == -1, "make refuses an empty device");
	c = claims("a", "d", 1, 1);
	memset(c.user, 'x', sizeof(c.user));	/* no NUL: too long */
	CHECK(token_make(key, &c, tok) == -1, "make refuses a user of 33 bytes");
}

static void
test_tamper(void)
{
	struct token_claims c = claims("alice", "phone", 2000000000, 7), d;
	unsigned char other[TOKEN_SECRET_LEN];
	char tok[TOKEN_MAX], t2[TOKEN_MAX], forged[TOKEN_MAX];
	char *dot;
	size_t i, n;
	int refused = 1, accepted_changed = 0;

	token_make(key, &c, tok);
	dot = strchr(tok, '.');

	strcpy(t2, tok);
	t2[2] = t2[2] == 'A' ? 'B' : 'A';
	CHECK(check(t2, 0, &d) == -1 && strcmp(err, "bad signature") == 0,
	    "a changed payload character: %s", err);
	strcpy(t2, tok);
	t2[strlen(t2) - 3] = t2[strlen(t2) - 3] == 'A' ? 'B' : 'A';
	CHECK(check(t2, 0, &d) == -1 && strcmp(err, "bad signature") == 0,
	    "a changed MAC character: %s", err);

	/* Same MAC, another payload: gen 7 -> 8, expiry pushed out. */
	c.gen = 8;
	token_make(key, &c, t2);
	snprintf(forged, sizeof(forged), "%.*s%s", (int)(strchr(t2, '.') - t2), t2, dot);
	CHECK(check(forged, 0, &d) == -1 && strcmp(err, "bad signature") == 0,
	    "another payload under the old MAC: %s", err);

	memcpy(other, key, sizeof(other));
	other[0] ^= 1;
	CHECK(token_check(other, tok, 0, &d, err, sizeof(err)) == -1 &&
	    strcmp(err, "bad signature") == 0, "another secret: %s", err);

	/* Every single-byte change anywhere is refused, never crashes. */
	n = strlen(tok);
	for (i = 0; i < n * 256; i++) {
		strcpy(t2, tok);
		t2[i / 256] = (char)(i % 256);
		if (strcmp(t2, tok) == 0)
			continue;
		if (check(t2, 0, &d) == 0) {
			refused = 0;
			accepted_changed++;
		}
	}
	CHECK(refused, "all %zu one-byte changes are refused (%d accepted)",
	    n * 255, accepted_changed);
}

static void
test_malformed(void)
{
	static const char *bad[] = { "", ".", "nodot", "abc.", ".abc", "a.b.c",
	    "djE6YWxpY2U6ZGV2MToyMDAwMDAwMDAwOjM",
	    "djE6YWxpY2U6ZGV2MToyMDAwMDAwMDAwOjM.",
	    "djE6YWxpY2U6ZGV2MToyMDAwMDAwMDAwOjM.short",
	    "!!!!.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    "djE6.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "djE6.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+",
	    "djE6.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/",
	    "djE6.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB",	/* stray bits */
	    "djE6=.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    "d.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",	/* 1 mod 4 */
	    "dj E6.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    "Bearer djE6.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" };
	static const char *payloads[] = { "", "v1", "v1:", "v2:alice:d:9999999999:1",
	    "v1:alice:d:9999999999", "v1:alice:d:9999999999:1:2", "v1::d:9999999999:1",
	    "v1:alice::9999999999:1", "v1:alice:d::1", "v1:alice:d:9999999999:",
	    "v1:alice:d:09999999999:1", "v1:alice:d:9999999999:01", "v1:alice:d:-0:1",
	    "v1:alice:d:+9999999999:1", "v1:alice:d:9999999999:-1",
	    "v1:alice:d:9223372036854775808:1", "v1:alice:d:9999999999:18446744073709551616",
	    "v1:alice:d:1e10:1", "v1:alice:d: 9999999999:1", "v1:al ice:d:9999999999:1",
	    "v1:abcdefghijklmnopqrstuvwxyz0123456:d:9999999999:1",
	    "V1:alice:d:9999999999:1" };
	struct token_claims d;
	char tok[TOKEN_MAX * 2], *huge;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(check(bad[i], 0, &d) == -1 && strcmp(err, "malformed token") == 0,
		    "malformed '%s': %s", bad[i], err);
	CHECK(check(NULL, 0, &d) == -1 && strcmp(err, "malformed token") == 0,
	    "NULL is malformed");

	huge = malloc(1 << 20);
	memset(huge, 'A', (1 << 20) - 1);
	huge[(1 << 20) - 1] = '\0';
	huge[1000] = '.';
	CHECK(check(huge, 0, &d) == -1 && strcmp(err, "malformed token") == 0,
	    "a 1 MiB token is malformed");
	huge[TOKEN_MAX - 1] = '\0';
	CHECK(check(huge, 0, &d) == -1 && strcmp(err, "malformed token") == 0,
	    "a token of TOKEN_MAX bytes is malformed");
	free(huge);

	/* Well signed, but not a payload token_make writes. */
	for (i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		sign(payloads[i], tok);
		CHECK(check(tok, 0, &d) == -1 && strcmp(err, "malformed token") == 0,
		    "signed but malformed payload '%s': %s", payloads[i], err);
	}
	sign("v1:alice:d:9999999999:1", tok);
	CHECK(check(tok, 0, &d) == 0 && d.gen == 1, "the test's own signer agrees with token_make");
	sign_n("v1:alice:d\0x:9999999999:1", 25, tok);
	CHECK(check(tok, 0, &d) == -1 && strcmp(err, "malformed token") == 0,
	    "a signed payload with a NUL inside is malformed");
}

int
main(void)
{
	test_secret();
	test_round_trip();
	test_tamper();
	test_malformed();
	return t_done();
}
