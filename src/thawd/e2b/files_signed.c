/* Signed /files URLs (the SDK's uploadUrl and downloadUrl):
 *
 *   /files?path=P&username=U&signature=v1_<b64 sha256("P:read|write:U:TOKEN[:EXP]")>
 *         &signature_expiration=EXP
 *
 * The URL is relative to the SDK's sandbox URL, which in thaw's
 * E2B_SANDBOX_URL mode is the same origin for every sandbox: it names no
 * sandbox and carries no header. The sandbox is the one whose access
 * token (e2b_access_token) makes the signature hold: one SHA-256 per
 * sandbox on this host (a few microseconds each), compared in constant
 * time. No sandbox: 401. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "core/registry.h"
#include "core/sandbox.h"
#include "e2b/files.h"
#include "ids.h"
#include "timeutil.h"

int e2b_signed_sandbox(struct host *h, const char *sig, const char *path, const char *op,
		       const char *user, const char *exp, char id[SANDBOX_ID_LEN + 1],
		       struct thaw_err **err)
{
	if (e2b_expiration_check(exp, (int64_t)(time_real_ns() / 1000000000ull), err) < 0)
		return -1;
	size_t n = 0;
	struct sandbox **list = registry_list(h, &n);
	bool found = false;
	/* every sandbox is tried, a match or not: the time taken says nothing
	 * of which one matched */
	for (size_t i = 0; i < n; i++) {
		char token[E2B_TOKEN_LEN + 1];
		e2b_access_token(h, list[i]->id, token);
		bool ok = e2b_signature_matches(sig, path, op, user, token, exp);
		OPENSSL_cleanse(token, sizeof(token));
		if (ok && !found) {
			snprintf(id, SANDBOX_ID_LEN + 1, "%s", list[i]->id);
			found = true;
		}
	}
	registry_list_free(h, list, n);
	if (!found)
		return err_set(err, ERR_UNAUTHORIZED,
			       "the signature does not hold for this path, operation and user "
			       "(altered, or its sandbox is gone)");
	return 0;
}

/* One raw query value, decoded; "" when absent; false when malformed. */
static bool query_value(struct MHD_Connection *conn, const char *name, char *out, size_t size)
{
	const char *raw = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
	out[0] = '\0';
	return !raw || api_query_decode(raw, out, size) == 0;
}

/* api_service.public_body for POST /files: the body is stored only for
 * a request that its sandbox's access token or a valid signature
 * vouches for (the handler checks again, in full). */
bool e2b_files_public_body(void *app, struct MHD_Connection *conn, const struct api_route *route,
			   const char *const *params)
{
	(void)route;
	(void)params;
	struct host *h = app;
	char sig[E2B_SIGNATURE_LEN + 2], path[FILE_PATH_MAX + 1], user[E2B_USER_MAX + 1],
		exp[24], id[SANDBOX_ID_LEN + 1];
	if (!query_value(conn, "signature", sig, sizeof(sig)))
		return false;
	if (sig[0]) {
		_cleanup_err_ struct thaw_err *err = NULL;
		return query_value(conn, "path", path, sizeof(path)) &&
		       query_value(conn, "username", user, sizeof(user)) &&
		       query_value(conn, "signature_expiration", exp, sizeof(exp)) &&
		       e2b_signed_sandbox(h, sig, path, "write", user, exp, id, &err) == 0;
	}
	const char *sid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "E2b-Sandbox-Id");
	const char *tok = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Access-Token");
	if (!sid || !tok || !id_valid_sandbox(sid) || strlen(tok) != E2B_TOKEN_LEN)
		return false;
	char want[E2B_TOKEN_LEN + 1];
	e2b_access_token(h, sid, want);
	bool ok = CRYPTO_memcmp(tok, want, E2B_TOKEN_LEN) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	struct sandbox *sb = ok ? registry_get(h, sid) : NULL;
	sandbox_unref(h, sb);
	return sb != NULL;
}
