/*
 * token: signed bearer tokens.  A token names a user, a device, an expiry
 * and the device's revocation generation, and carries an HMAC-SHA256 of all
 * four under the stack's secret ($CHAT_HOME/etc/secret).  Logout bumps the
 * device's generation in chat-store, so every token made before stops
 * working at once.  The MAC is compared in constant time (CRYPTO_memcmp).
 *
 * Form: base64url("v1:" user ":" device ":" expires ":" gen) "." base64url(mac)
 */
#ifndef CHAT_TOKEN_H
#define CHAT_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define TOKEN_SECRET_LEN	32
#define TOKEN_MAX		256	/* longest token, with its NUL */

struct token_claims {
	char	 user[33];
	char	 device[65];
	int64_t	 expires;	/* Unix seconds */
	uint64_t gen;		/* revocation generation */
};

/*
 * Reads the secret at path, or if create and it does not exist, makes 32
 * random bytes and writes them there with mode 0600.  0 on success, -1 with
 * err filled.
 */
int token_load_secret(const char *path, int create,
    unsigned char secret[TOKEN_SECRET_LEN], char *err, size_t errlen);

/* Makes a token into out (TOKEN_MAX bytes).  -1 if user or device is too
 * long or contains ':'. */
int token_make(const unsigned char secret[TOKEN_SECRET_LEN],
    const struct token_claims *c, char out[TOKEN_MAX]);

/*
 * Checks tok's form, MAC and expiry against now (Unix seconds).  0 and *c on
 * success; -1 and a reason in err ("malformed token", "bad signature",
 * "token expired") otherwise.  The caller still compares c->gen with the
 * device's current generation.
 */
int token_check(const unsigned char secret[TOKEN_SECRET_LEN], const char *tok,
    int64_t now, struct token_claims *c, char *err, size_t errlen);

#endif
