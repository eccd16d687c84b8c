/* envd's user of a data-plane call: what the SDK's authenticationHeader
 * sends (Authorization: Basic base64("<user>:")), or envd's default user
 * when it sends none (from envd 0.4.0 on it sends one only for an
 * explicit user). Shared by the process and file areas. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "cleanup.h"
#include "e2b/e2b.h"
#include "utf8.h"

int e2b_user_check(const char *name, struct thaw_err **err)
{
	size_t n = strlen(name);
	bool ok = n >= 1 && n <= E2B_USER_MAX && name[0] != '-';
	for (size_t i = 0; ok && i < n; i++)
		ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
		     (name[i] >= '0' && name[i] <= '9') || strchr("_.-", name[i]);
	if (!ok || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return err_set(err, ERR_INVALID,
			       "user must be 1 to %d letters, digits, '_', '.' or '-', not "
			       "starting with '-'",
			       E2B_USER_MAX);
	return 0;
}

int e2b_user_from_auth(const char *authorization, char out[E2B_USER_MAX + 1],
		       struct thaw_err **err)
{
	if (!authorization) {
		snprintf(out, E2B_USER_MAX + 1, "%s", E2B_DEFAULT_USER);
		return 0;
	}
	/* The scheme's case does not matter (RFC 7617, and Go's envd). */
	if (strncasecmp(authorization, "Basic ", 6) != 0)
		return err_set(err, ERR_INVALID,
			       "Authorization must be \"Basic base64(<user>:)\" naming envd's user");
	const char *b64 = authorization + 6;
	size_t len = strlen(b64);
	_cleanup_buf_ struct buf plain = { 0 };
	if (len == 0 || len > 4 * (E2B_USER_MAX + 2) || base64_decode(b64, len, &plain) < 0)
		return err_set(err, ERR_INVALID, "Authorization's credentials are not base64");
	const char *s = (const char *)plain.data;
	const char *colon = memchr(s, ':', plain.len);
	if (!colon || memchr(s, '\0', plain.len))
		return err_set(err, ERR_INVALID, "Authorization must name \"<user>:\"");
	size_t n = (size_t)(colon - s);
	if (n > E2B_USER_MAX)
		return err_set(err, ERR_INVALID, "the user name is over %d bytes", E2B_USER_MAX);
	char name[E2B_USER_MAX + 1];
	memcpy(name, s, n);
	name[n] = '\0';
	/* ":" names no user: envd's default, as when the header is absent.
	 * The password is ignored, as envd does. */
	if (n == 0)
		snprintf(name, sizeof(name), "%s", E2B_DEFAULT_USER);
	if (e2b_user_check(name, err) < 0)
		return -1;
	memcpy(out, name, strlen(name) + 1);
	return 0;
}
