/*
 * validate: the field checks chat-api's handlers share, so that every bad
 * field gets the same 400 bad_request with a message naming it.  Names
 * follow PROTOCOL.md "Names and identifiers"; user names are lower-cased
 * first (signup lowercases input, and so does every other place a name
 * comes in, so "Alice" and "alice" are one user).
 */
#include <ctype.h>
#include <string.h>

#include "api.h"
#include "json.h"
#include "util.h"

#define PASSWORD_MIN	8
#define PASSWORD_MAX	256
#define USER_RE	"^[a-z0-9][a-z0-9_.-]{0,31}$"

int
api_need_user(struct api_req *r, jv obj, const char *field, char out[33])
{
	char err[128];
	const char *s;
	size_t i;

	if (json_need_str(obj, field, 32, &s, err, sizeof(err)) == -1) {
		api_error(r, 400, "bad_request", "%s", err);
		return -1;
	}
	for (i = 0; s[i] != '\0'; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[i] = '\0';
	if (!valid_user(out)) {
		api_error(r, 400, "bad_request", "field '%s' must match %s",
		    field, USER_RE);
		return -1;
	}
	return 0;
}

const char *
api_user_param(struct api_req *r, int n, const char *what)
{
	char *s = api_param(r, n), *p;

	if (s == NULL)
		return NULL;
	for (p = s; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!valid_user(s)) {
		api_error(r, 400, "bad_request", "%s must match %s", what,
		    USER_RE);
		return NULL;
	}
	return s;
}

int
api_check_text(struct api_req *r, jv obj, const char *field, int required,
    size_t maxlen, const char **out)
{
	char err[128];
	const char *s;
	int rc;

	rc = required ? json_need_str(obj, field, maxlen, &s, err, sizeof(err)) :
	    json_opt_str(obj, field, maxlen, &s, err, sizeof(err));
	if (rc == -1) {
		api_error(r, 400, "bad_request", "%s", err);
		return -1;
	}
	for (*out = s; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f) {
			api_error(r, 400, "bad_request",
			    "field '%s' must not contain control characters",
			    field);
			return -1;
		}
	return 0;
}

int
api_need_password(struct api_req *r, const char **pw)
{
	char err[128];
	size_t len;

	if (json_need_str(r->json, "password", PASSWORD_MAX, pw, err,
	    sizeof(err)) == -1) {
		api_error(r, 400, "bad_request", "%s", err);
		return -1;
	}
	len = strlen(*pw);
	if (len < PASSWORD_MIN) {
		api_error(r, 400, "bad_request",
		    "field 'password' must be %d to %d bytes", PASSWORD_MIN,
		    PASSWORD_MAX);
		return -1;
	}
	return 0;
}

