/*
 * token: signed bearer tokens, base64url(payload) "." base64url(mac), where
 * payload is "v1:user:device:expires:gen" and mac is HMAC-SHA256 over the
 * encoded payload exactly as it travels, under the stack's 32-byte secret.
 *
 * Checking is strict because tokens come from anyone: the length is bounded
 * before any work, base64url must be canonical (no padding, no stray bits),
 * the MAC is compared in constant time before the payload is parsed, and the
 * payload must be exactly what token_make would have written.  A token that
 * is not byte for byte a token we could have made is "malformed".
 *
 * The secret file appears whole or not at all: it is written to a private
 * temporary file (O_CREAT|O_EXCL, 0600), synced, then link(2)ed into place,
 * so two processes starting at once agree on one secret.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "token.h"
#include "util.h"

#define MAC_LEN		32
#define MAC_B64_LEN	43	/* base64url of 32 bytes, unpadded */
#define PAYLOAD_MAX	160

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Unpadded base64url of in[0..n) into out (NUL-terminated); its length. */
static size_t
b64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t i, o = 0;
	uint32_t v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = b64[v >> 6 & 63];
		out[o++] = b64[v & 63];
	}
	if (n - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
	} else if (n - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = b64[v >> 6 & 63];
	}
	out[o] = '\0';
	return o;
}

static int
b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Decodes canonical unpadded base64url in[0..n) into out (room for cap
 * bytes); its length, or -1 on a bad character, a bad length, bits set
 * past the end, or too little room.
 */
static ssize_t
b64_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
	size_t i, o = 0, full = n / 4 * 4, rest = n % 4;
	uint32_t v = 0;
	int d, j;

	if (rest == 1 || full / 4 * 3 + (rest ? rest - 1 : 0) > cap)
		return -1;
	for (i = 0; i < n; i += 4) {
		v = 0;
		for (j = 0; j < 4; j++) {
			if (i + (size_t)j < n) {
				if ((d = b64_val((unsigned char)in[i + j])) < 0)
					return -1;
			} else {
				d = 0;
			}
			v = v << 6 | (uint32_t)d;
		}
		if (i < full) {
			out[o++] = (unsigned char)(v >> 16);
			out[o++] = (unsigned char)(v >> 8);
			out[o++] = (unsigned char)v;
		} else if (rest == 2) {
			if (v & 0xffff)
				return -1;
			out[o++] = (unsigned char)(v >> 16);
		} else {
			if (v & 0xff)
				return -1;
			out[o++] = (unsigned char)(v >> 16);
			out[o++] = (unsigned char)(v >> 8);
		}
	}
	return (ssize_t)o;
}

static int
mac(const unsigned char secret[TOKEN_SECRET_LEN], const char *data,
    size_t n, unsigned char out[MAC_LEN])
{
	unsigned int len = 0;

	if (HMAC(EVP_sha256(), secret, TOKEN_SECRET_LEN,
	    (const unsigned char *)data, n, out, &len) == NULL ||
	    len != MAC_LEN)
		return -1;
	return 0;
}

/* A user or device as a token may carry it: 1..max printable bytes, no ':'. */
static int
good_name(const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= max || s[i] == ':' || (unsigned char)s[i] <= 0x20 ||
		    (unsigned char)s[i] >= 0x7f)
			return 0;
	return i > 0;
}

int
token_make(const unsigned char secret[TOKEN_SECRET_LEN],
    const struct token_claims *c, char out[TOKEN_MAX])
{
	char payload[PAYLOAD_MAX];
	unsigned char m[MAC_LEN];
	size_t n;
	int r;

	if (!good_name(c->user, sizeof(c->user) - 1) ||
	    !good_name(c->device, sizeof(c->device) - 1))
		return -1;
	r = snprintf(payload, sizeof(payload), "v1:%s:%s:%" PRId64 ":%" PRIu64,
	    c->user, c->device, c->expires, c->gen);
	if (r < 0 || (size_t)r >= sizeof(payload))
		return -1;
	/* 160 bytes encode to 214 characters, + '.' + 43 < TOKEN_MAX. */
	n = b64_encode((const unsigned char *)payload, (size_t)r, out);
	if (mac(secret, out, n, m) < 0)
		return -1;
	out[n++] = '.';
	b64_encode(m, MAC_LEN, out + n);
	return 0;
}

/* Parses a canonical decimal number (what %PRId64/%PRIu64 print) from
 * s[0..n); -1 on anything else. */
static int
parse_num(const char *s, size_t n, int neg_ok, int64_t *sv, uint64_t *uv)
{
	uint64_t v = 0, lim;
	int neg = 0;
	size_t i = 0;

	if (neg_ok && n > 0 && s[0] == '-') {
		neg = 1;
		i = 1;
	}
	if (i == n || (s[i] == '0' && n - i > 1) || (neg && s[i] == '0'))
		return -1;
	lim = neg_ok ? (neg ? (uint64_t)INT64_MAX + 1 : INT64_MAX) : UINT64_MAX;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (lim - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (neg_ok)
		*sv = neg ? (int64_t)(0 - v) : (int64_t)v;
	else
		*uv = v;
	return 0;
}

/* Splits payload "v1:user:device:expires:gen" into c; -1 if malformed. */
static int
parse_payload(const char *p, size_t n, struct token_claims *c)
{
	const char *f[4], *end = p + n;
	size_t flen[4];
	int i;

	if (n < 3 || memcmp(p, "v1:", 3) != 0 || memchr(p, '\0', n) != NULL)
		return -1;
	p += 3;
	for (i = 0; i < 4; i++) {
		const char *colon = memchr(p, ':', (size_t)(end - p));

		if (i < 3 && colon == NULL)
			return -1;
		if (i == 3 && colon != NULL)
			return -1;
		f[i] = p;
		flen[i] = (size_t)((i < 3 ? colon : end) - p);
		p = i < 3 ? colon + 1 : end;
	}
	if (flen[0] == 0 || flen[0] >= sizeof(c->user) || flen[1] == 0 ||
	    flen[1] >= sizeof(c->device))
		return -1;
	memcpy(c->user, f[0], flen[0]);
	c->user[flen[0]] = '\0';
	memcpy(c->device, f[1], flen[1]);
	c->device[flen[1]] = '\0';
	if (!good_name(c->user, sizeof(c->user) - 1) ||
	    !good_name(c->device, sizeof(c->device) - 1))
		return -1;
	if (parse_num(f[2], flen[2], 1, &c->expires, NULL) < 0 ||
	    parse_num(f[3], flen[3], 0, NULL, &c->gen) < 0)
		return -1;
	return 0;
}

int
token_check(const unsigned char secret[TOKEN_SECRET_LEN], const char *tok,
    int64_t now, struct token_claims *c, char *err, size_t errlen)
{
	unsigned char want[MAC_LEN], got[MAC_LEN];
	char payload[PAYLOAD_MAX];
	struct token_claims tc;
	const char *dot;
	size_t len, plen;
	ssize_t n;

	if (tok == NULL || (len = strnlen(tok, TOKEN_MAX)) >= TOKEN_MAX ||
	    (dot = memchr(tok, '.', len)) == NULL)
		goto malformed;
	plen = (size_t)(dot - tok);
	if (plen == 0 || len - plen - 1 != MAC_B64_LEN ||
	    b64_decode(dot + 1, MAC_B64_LEN, got, sizeof(got)) != MAC_LEN)
		goto malformed;
	if ((n = b64_decode(tok, plen, (unsigned char *)payload,
	    sizeof(payload))) < 0)
		goto malformed;
	if (mac(secret, tok, plen, want) < 0 ||
	    CRYPTO_memcmp(want, got, MAC_LEN) != 0) {
		snprintf(err, errlen, "bad signature");
		return -1;
	}
	memset(&tc, 0, sizeof(tc));
	if (parse_payload(payload, (size_t)n, &tc) < 0)
		goto malformed;
	if (tc.expires <= now) {
		snprintf(err, errlen, "token expired");
		return -1;
	}
	*c = tc;
	return 0;
malformed:
	snprintf(err, errlen, "malformed token");
	return -1;
}

/* Reads exactly TOKEN_SECRET_LEN bytes from path. 0, -1 (errno), or -2 with
 * err filled for a file that exists but is not a good secret. */
static int
read_secret(const char *path, unsigned char *secret, char *err,
    size_t errlen)
{
	unsigned char buf[TOKEN_SECRET_LEN + 1];
	struct stat st;
	size_t got = 0;
	ssize_t r;
	int fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return -1;
	if (fstat(fd, &st) < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
		close(fd);
		snprintf(err, errlen, "secret '%s' must be a regular file of "
		    "mode 0600", path);
		return -2;
	}
	while (got < sizeof(buf)) {
		r = read(fd, buf + got, sizeof(buf) - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			saved = errno;
			close(fd);
			snprintf(err, errlen, "unable to read '%s': %s", path,
			    strerror(saved));
			return -2;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (got != TOKEN_SECRET_LEN) {
		snprintf(err, errlen, "secret '%s' is not %d bytes", path,
		    TOKEN_SECRET_LEN);
		return -2;
	}
	memcpy(secret, buf, TOKEN_SECRET_LEN);
	return 0;
}

/* Writes a new random secret to path: 0, 1 if another process made one
 * first, or -1 with err filled. */
static int
create_secret(const char *path, char *err, size_t errlen)
{
	unsigned char key[TOKEN_SECRET_LEN];
	char tmp[4096], dir[4096];
	size_t off = 0;
	ssize_t w;
	int fd, dfd, saved;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
	    (long)getpid()) >= sizeof(tmp)) {
		snprintf(err, errlen, "secret path too long");
		return -1;
	}
	if (random_bytes(key, sizeof(key)) < 0) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		return -1;
	}
	unlink(tmp);	/* a leftover of a crashed run with our pid */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd < 0) {
		snprintf(err, errlen, "unable to create '%s': %s", tmp,
		    strerror(errno));
		return -1;
	}
	while (off < sizeof(key)) {
		w = write(fd, key + off, sizeof(key) - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			break;
		off += (size_t)w;
	}
	if (off != sizeof(key) || fchmod(fd, 0600) < 0 || fsync(fd) < 0) {
		saved = errno;
		close(fd);
		unlink(tmp);
		snprintf(err, errlen, "unable to write '%s': %s", tmp,
		    strerror(saved));
		return -1;
	}
	close(fd);
	OPENSSL_cleanse(key, sizeof(key));
	if (link(tmp, path) < 0) {
		saved = errno;
		unlink(tmp);
		if (saved == EEXIST)
			return 1;
		snprintf(err, errlen, "unable to create '%s': %s", path,
		    strerror(saved));
		return -1;
	}
	unlink(tmp);
	/* Make the new name durable too: a lost secret logs everyone out. */
	snprintf(dir, sizeof(dir), "%s", path);
	if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >=
	    0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int
token_load_secret(const char *path, int create,
    unsigned char secret[TOKEN_SECRET_LEN], char *err, size_t errlen)
{
	int r, tries;

	for (tries = 0; tries < 2; tries++) {
		r = read_secret(path, secret, err, errlen);
		if (r == 0)
			return 0;
		if (r == -2)
			return -1;
		if (errno != ENOENT || !create) {
			snprintf(err, errlen, "unable to open '%s': %s", path,
			    strerror(errno));
			return -1;
		}
		if (create_secret(path, err, errlen) < 0)
			return -1;
		/* Made it, or lost the race to another process: read it. */
	}
	snprintf(err, errlen, "unable to load '%s'", path);
	return -1;
}
