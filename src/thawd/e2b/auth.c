/* Who an E2B request is. The control plane sends a thaw key's secret as
 * X-API-KEY. The data plane (envd, the code interpreter) sends no key:
 * E2b-Sandbox-Id and that sandbox's access token (X-Access-Token), an
 * HMAC of the id under this host's key, so tokens need no storage and
 * survive restarts. Such a request acts as the sandbox's owner, so the
 * tenancy checks of the key (api_key_sees) hold for it too, and its token
 * opens that one sandbox only: e2b_sandbox_of checks the token against
 * the id the handler acts on. */
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cleanup.h"
#include "core/registry.h"
#include "e2b/front.h"
#include "e2b/token.h"
#include "httpapi/keys.h"
#include "urlsign.h"

/* Loaded once at start (e2b_api_start), kept for the process's life. */
static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;
static char *host_key;

int e2b_auth_init(struct host *h, struct thaw_err **err)
{
	int rc = 0;
	pthread_mutex_lock(&key_lock);
	if (!host_key) {
		_cleanup_free_ char *path = xasprintf("%s/url-signing.key", h->cfg->data_dir);
		rc = urlsign_key_load(path, &host_key, err);
	}
	pthread_mutex_unlock(&key_lock);
	return rc < 0 ? err_wrap(err, "the E2B front's access token key") : 0;
}

static const char *key_now(void)
{
	pthread_mutex_lock(&key_lock);
	const char *k = host_key;
	pthread_mutex_unlock(&key_lock);
	return k;
}

void e2b_access_token(struct host *h, const char *id, char out[E2B_TOKEN_LEN + 1])
{
	(void)h;
	const char *k = key_now();
	/* e2b_api_start loads the key before the first request; without it
	 * no token is made (an empty one matches nothing). */
	if (!k) {
		out[0] = '\0';
		return;
	}
	e2b_token_derive(k, id, out);
}

/* The token a data-plane request carries: X-Access-Token (envd's), else
 * E2B-Traffic-Access-Token, the only one @e2b/code-interpreter sends on
 * its context calls (when create gave a trafficAccessToken: the same
 * token, see control_json.c). */
static const char *request_token(struct MHD_Connection *conn)
{
	const char *t = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Access-Token");
	return t ? t
		 : MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "E2B-Traffic-Access-Token");
}

static bool token_holds(const char *id, const char *token)
{
	const char *k = key_now();
	return k && token && id_valid_sandbox(id) && e2b_token_check(k, id, token);
}

bool e2b_is_connect(const char *url)
{
	/* "/process.Process/Start": a dot in the first segment, which no
	 * REST route of E2B's has. */
	const char *seg = url + (url[0] == '/');
	size_t n = strcspn(seg, "/");
	return memchr(seg, '.', n) != NULL && seg[n] == '/';
}

const struct api_key *e2b_find_key(void *app, struct MHD_Connection *conn,
				   const struct api_keys *keys, struct api_key *acting)
{
	const char *secret = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-API-KEY");
	if (secret)
		return keys_match(keys, secret);
	const char *id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "E2b-Sandbox-Id");
	const char *token = request_token(conn);
	if (!id || !token_holds(id, token))
		return NULL;
	memset(acting, 0, sizeof(*acting));
	acting->role = KEY_USER;
	acting->rate_limit = 0;
	/* A token outlives its sandbox: such a request is let through to
	 * learn that the sandbox is gone (envd's 502), as nobody's. */
	struct sandbox *sb = registry_get(app, id);
	if (!sb)
		return acting;
	snprintf(acting->name, sizeof(acting->name), "%s", sb->owner);
	sandbox_unref(app, sb);
	for (size_t i = 0; i < keys->n; i++)
		if (strcmp(keys->keys[i].name, acting->name) == 0)
			return &keys->keys[i];
	return acting;
}

static bool refuse(struct api_req *r, enum err_code code, unsigned status, enum MHD_Result *res,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static bool refuse(struct api_req *r, enum err_code code, unsigned status, enum MHD_Result *res,
		   const char *fmt, ...)
{
	struct thaw_err e = { .code = code };
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	if (e2b_is_connect(r->url)) {
		*res = connect_reply_error(r, &e);
	} else if (status) {
		/* envd's answer for a sandbox that is gone: the SDK's
		 * isRunning() reads 502 as "not running". */
		*res = api_reply_json(
			r, status, json_pack("{s:i,s:s}", "code", (int)status, "message", e.msg));
	} else {
		*res = e2b_reply_error(r, &e);
	}
	return false;
}

/* The owner a request on a public route acts as: one request at a time
 * per connection thread (libmicrohttpd, thread per connection), and the
 * request ends before its thread takes another. */
static __thread struct api_key public_owner;

bool e2b_sandbox_of(struct api_req *r, int port, char id[SANDBOX_ID_LEN + 1], enum MHD_Result *res)
{
	const char *sid = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "E2b-Sandbox-Id");
	const char *token = request_token(r->conn);
	const char *p = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "E2b-Sandbox-Port");
	if (!sid || !id_valid_sandbox(sid))
		return refuse(r, ERR_INVALID, 0, res,
			      "E2b-Sandbox-Id must name a sandbox (sb- and 12 characters)");
	if (!token_holds(sid, token))
		return refuse(r, ERR_UNAUTHORIZED, 0, res,
			      "X-Access-Token is not the access token of sandbox %s", sid);
	char want[16];
	snprintf(want, sizeof(want), "%d", port);
	if (!p || strcmp(p, want) != 0)
		return refuse(r, ERR_INVALID, 0, res, "E2b-Sandbox-Port must be %s for this route",
			      want);
	struct sandbox *sb = registry_get(api_host(r), sid);
	/* A public route (no key looked up) acts as the owner from here on,
	 * as e2b_find_key would have made it; the token proved the right. */
	if (sb && !r->key) {
		memset(&public_owner, 0, sizeof(public_owner));
		snprintf(public_owner.name, sizeof(public_owner.name), "%s", sb->owner);
		public_owner.role = KEY_USER;
		r->key = &public_owner;
	}
	bool sees = sb && api_key_sees(r, sb);
	sandbox_unref(api_host(r), sb);
	if (!sees)
		return refuse(r, ERR_UNAVAILABLE, MHD_HTTP_BAD_GATEWAY, res,
			      "sandbox %s is not running (it was killed or timed out)", sid);
	memcpy(id, sid, SANDBOX_ID_LEN + 1);
	return true;
}
