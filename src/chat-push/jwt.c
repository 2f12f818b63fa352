/*
 * jwt: the signed tokens two providers want, made with libcrypto.  FCM's
 * OAuth2 exchange takes a JWT signed RS256 with the service account's RSA
 * key; APNs' token auth takes one signed ES256 with the .p8 P-256 key.  ES256
 * is the raw 64-byte r||s pair (RFC 7518 3.4), not the DER that ECDSA
 * produces, so the signature is converted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "json.h"
#include "push.h"

char *
b64url(const void *in, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *p = in;
	char *out = malloc(len / 3 * 4 + 5), *o = out;
	size_t i;

	if (out == NULL)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		*o++ = tab[p[i] >> 2];
		*o++ = tab[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*o++ = tab[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		*o++ = tab[p[i + 2] & 63];
	}
	if (len - i == 1) {
		*o++ = tab[p[i] >> 2];
		*o++ = tab[(p[i] & 3) << 4];
	} else if (len - i == 2) {
		*o++ = tab[p[i] >> 2];
		*o++ = tab[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*o++ = tab[(p[i + 1] & 15) << 2];
	}
	*o = '\0';
	return out;
}

static void
ssl_err(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();

	snprintf(err, errlen, "%s: %s", what,
	    e ? ERR_reason_error_string(e) : "unknown error");
	ERR_clear_error();
}

EVP_PKEY *
jwt_key_pem(const char *pem, char *err, size_t errlen)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k;

	if (b == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	if (k == NULL)
		ssl_err(err, errlen, "unable to read the private key");
	return k;
}

EVP_PKEY *
jwt_key_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;
	char why[256];

	if (f == NULL) {
		snprintf(err, errlen, "unable to open '%s': %m", path);
		return NULL;
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (k == NULL) {
		ssl_err(why, sizeof(why), "not a PEM private key");
		snprintf(err, errlen, "'%s': %s", path, why);
	}
	return k;
}

/* DER ECDSA-Sig-Value to the fixed r||s of ES256 */
static int
der_to_raw(const unsigned char *der, size_t len, unsigned char raw[64])
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
	const BIGNUM *r, *s;
	int ok;

	if (sig == NULL)
		return -1;
	ECDSA_SIG_get0(sig, &r, &s);
	ok = BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32;
	ECDSA_SIG_free(sig);
	return ok ? 0 : -1;
}

char *
jwt_sign(jv header, jv claims, EVP_PKEY *key, char *err, size_t errlen)
{
	char *h = NULL, *c = NULL, *hb = NULL, *cb = NULL, *input = NULL;
	char *sb = NULL, *out = NULL;
	unsigned char *sig = NULL, raw[64];
	size_t hlen, clen, slen = 0;
	EVP_MD_CTX *md = NULL;
	int ec = EVP_PKEY_base_id(key) == EVP_PKEY_EC;

	h = json_dump(jv_copy(header), &hlen);
	c = json_dump(jv_copy(claims), &clen);
	if (h == NULL || c == NULL)
		goto oom;
	hb = b64url(h, hlen);
	cb = b64url(c, clen);
	if (hb == NULL || cb == NULL || asprintf(&input, "%s.%s", hb, cb) < 0) {
		input = NULL;
		goto oom;
	}
	if ((md = EVP_MD_CTX_new()) == NULL)
		goto oom;
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &slen, (unsigned char *)input,
	    strlen(input)) != 1 || (sig = malloc(slen)) == NULL ||
	    EVP_DigestSign(md, sig, &slen, (unsigned char *)input,
	    strlen(input)) != 1) {
		ssl_err(err, errlen, "unable to sign the JWT");
		goto done;
	}
	if (ec) {
		if (der_to_raw(sig, slen, raw) < 0) {
			snprintf(err, errlen, "unable to read the ES256 "
			    "signature");
			goto done;
		}
		sb = b64url(raw, 64);
	} else
		sb = b64url(sig, slen);
	if (sb == NULL || asprintf(&out, "%s.%s", input, sb) < 0) {
		out = NULL;
		goto oom;
	}
	goto done;
oom:
	snprintf(err, errlen, "out of memory");
done:
	EVP_MD_CTX_free(md);
	free(h); free(c); free(hb); free(cb); free(input); free(sig); free(sb);
	return out;
}
