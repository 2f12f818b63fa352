/*
 * fuzz_token: libFuzzer target for token_check() (lib/token.c), which
 * every WebSocket auth and HTTP request runs on attacker-chosen bytes.
 * Checked beyond memory safety: a token the fuzzer makes up never passes
 * (it cannot know the secret), and a token made with token_make() from
 * claims taken out of the input always passes with those claims.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char secret[TOKEN_SECRET_LEN] = "0123456789abcdef0123456789abcdef";
	struct token_claims c, back;
	char tok[TOKEN_MAX], err[128], *s;
	size_t ul, dl;

	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	if (token_check(secret, s, 1700000000, &c, err, sizeof(err)) == 0 &&
	    strlen(s) > 40)
		abort();	/* a forged token passed */
	free(s);
	/* Round trip: claims from the input, made and checked. */
	memset(&c, 0, sizeof(c));
	ul = size > 0 ? data[0] % 33 : 0;
	dl = size > 1 ? data[1] % 65 : 0;
	if (size < 2 + ul + dl)
		return 0;
	memcpy(c.user, data + 2, ul);
	memcpy(c.device, data + 2 + ul, dl);
	if (strlen(c.user) != ul || strlen(c.device) != dl)
		return 0;
	c.expires = 1700000100;
	c.gen = size;
	if (token_make(secret, &c, tok) == -1)
		return 0;
	if (token_check(secret, tok, 1700000000, &back, err, sizeof(err)) != 0 ||
	    strcmp(back.user, c.user) != 0 ||
	    strcmp(back.device, c.device) != 0 || back.gen != c.gen)
		abort();
	return 0;
}
