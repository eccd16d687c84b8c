/* Signed URLs for one file of one sandbox:
 *
 *   POST /v1/sandboxes/{id}/files/sign {"path", "operation", "expires_in_s"}
 *     -> {"url": "/v1/sandboxes/{id}/files/signed?path=..&op=read&expires=T&signature=..",
 *         "method": "GET", "expires_at": "..."}
 *   GET  /v1/sandboxes/{id}/files/signed?...   the file's bytes (op=read)
 *   PUT  /v1/sandboxes/{id}/files/signed?...   the body becomes the file (op=write)
 *
 * The two signed routes are public (no API key): the signature is their
 * whole authority, so they take exactly the four signed parameters and
 * nothing else (no auto_resume, no mode, uid or gid: an unsigned
 * parameter would let the URL's holder do more than was signed), check
 * them before anything else, and answer 403 to any change of the
 * sandbox, path, operation or expiry, and once it has passed. The key is
 * this host's own (DATA/url-signing.key, made on first use): a URL works
 * on the host that signed it. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "buf.h"
#include "cleanup.h"
#include "core/registry.h"
#include "log.h"
#include "ops/files.h"
#include "timeutil.h"
#include "urlsign.h"

#define EXPIRES_MAX_S (7 * 24 * 3600)
#define EXPIRES_DEFAULT_S 3600

static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;
static char *key; /* loaded once, kept for the process's life */

static const char *signing_key(struct host *h, struct thaw_err **err)
{
	pthread_mutex_lock(&key_lock);
	if (!key) {
		_cleanup_free_ char *path = xasprintf("%s/url-signing.key", h->cfg->data_dir);
		if (urlsign_key_load(path, &key, err) < 0)
			log_warn("files.sign_key", "error=\"%s\"", err_msg(err ? *err : NULL));
	}
	const char *k = key;
	pthread_mutex_unlock(&key_lock);
	return k;
}

static int64_t now_s(void)
{
	return (int64_t)(time_real_ns() / 1000000000ull);
}

/* Percent-encodes all but unreserved characters (RFC 3986). */
static void url_escape(struct buf *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~/", *p))
			buf_append(out, p, 1);
		else
			buf_printf(out, "%%%02X", *p);
	}
}

static int sign_parse(json_t *body, const char **path, const char **op, int64_t *expires_in,
		      struct thaw_err **err)
{
	json_int_t in = EXPIRES_DEFAULT_S;
	json_error_t je;
	*op = NULL;
	if (json_unpack_ex(body, &je, JSON_STRICT, "{s:s,s:s,s?I}", "path", path, "operation", op,
			   "expires_in_s", &in) < 0)
		return err_set(err, ERR_INVALID,
			       "sign wants {\"path\", \"operation\": \"read\"|\"write\", "
			       "\"expires_in_s\"}: %s",
			       je.text);
	if (strcmp(*op, "read") != 0 && strcmp(*op, "write") != 0)
		return err_set(err, ERR_INVALID, "operation must be \"read\" or \"write\"");
	if (in < 1 || in > EXPIRES_MAX_S)
		return err_set(err, ERR_INVALID, "expires_in_s must be 1 to %d", EXPIRES_MAX_S);
	*expires_in = in;
	return file_path_check(*path, err);
}

enum MHD_Result api_file_sign(struct api_req *r)
{
	enum MHD_Result res;
	json_t *body = api_sandbox_body(r, false, &res);
	if (!body)
		return res;
	const char *path = NULL, *op = NULL;
	int64_t in = 0;
	_cleanup_err_ struct thaw_err *err = NULL;
	const char *k = NULL;
	if (sign_parse(body, &path, &op, &in, &err) < 0 || !(k = signing_key(api_host(r), &err))) {
		json_decref(body);
		return api_reply_error(r, err);
	}
	int64_t expires = now_s() + in;
	char mac[URLSIGN_MAC_LEN + 1], at[32];
	urlsign_mac(k, r->params[0], op, expires, path, mac);
	time_format_rfc3339(expires, at);
	struct buf url = { 0 };
	buf_printf(&url, "/v1/sandboxes/%s/files/signed?path=", r->params[0]);
	url_escape(&url, path);
	buf_printf(&url, "&op=%s&expires=%lld&signature=%s", op, (long long)expires, mac);
	json_t *o = json_pack("{s:s%,s:s,s:s,s:I}", "url", (const char *)url.data, url.len,
			      "method", strcmp(op, "read") == 0 ? "GET" : "PUT", "expires_at", at,
			      "expires", (json_int_t)expires);
	buf_free(&url);
	json_decref(body);
	return api_reply_json(r, MHD_HTTP_OK, o);
}

/* A signed request's four parameters, decoded. */
struct signed_req {
	char path[FILE_PATH_MAX + 1], op[8], expires[24], sig[URLSIGN_MAC_LEN + 2];
	int extra; /* parameters besides the four */
};

static const char *const signed_names[] = { "path", "op", "expires", "signature" };

static enum MHD_Result count_unsigned(void *cls, enum MHD_ValueKind kind, const char *k,
				      const char *v)
{
	(void)kind;
	(void)v;
	size_t i = 0;
	while (i < 4 && strcmp(k, signed_names[i]) != 0)
		i++;
	((struct signed_req *)cls)->extra += i == 4;
	return MHD_YES;
}

/* Whether the request carries a valid, unexpired signature of id, op
 * and its path (in q->path); nothing is replied. */
static bool signed_valid(struct host *h, struct MHD_Connection *conn, const char *id,
			 const char *want_op, struct signed_req *q)
{
	memset(q, 0, sizeof(*q));
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, count_unsigned, q);
	char *out[] = { q->path, q->op, q->expires, q->sig };
	size_t size[] = { sizeof(q->path), sizeof(q->op), sizeof(q->expires), sizeof(q->sig) };
	for (int i = 0; i < 4; i++) {
		const char *raw =
			MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, signed_names[i]);
		if (!raw || api_query_decode(raw, out[i], size[i]) < 0)
			return false;
	}
	char *end;
	long long expires = strtoll(q->expires, &end, 10);
	_cleanup_err_ struct thaw_err *err = NULL;
	const char *k = signing_key(h, &err);
	return k && !q->extra && q->expires[0] && !*end && id_valid_sandbox(id) &&
	       strcmp(q->op, want_op) == 0 &&
	       urlsign_check(k, id, q->op, expires, q->path, q->sig) && expires >= now_s();
}

bool api_file_signed_body(void *app, struct MHD_Connection *conn, const struct api_route *route,
			  const char *const *params)
{
	(void)route;
	struct signed_req q;
	return signed_valid(app, conn, params[0], "write", &q);
}

/* The signature, the expiry, and then the sandbox: a refused URL says
 * only 403, whatever was wrong with it. */
static bool signed_ok(struct api_req *r, const char *want_op, enum MHD_Result *res)
{
	struct signed_req q;
	if (!api_check_sandbox_id(r, res))
		return false;
	if (!signed_valid(api_host(r), r->conn, r->params[0], want_op, &q)) {
		*res = api_reply_fail(r, ERR_FORBIDDEN,
				      "the signed URL is invalid, altered or expired");
		return false;
	}
	struct sandbox *sb = registry_get(api_host(r), r->params[0]);
	sandbox_unref(api_host(r), sb);
	if (!sb)
		*res = api_reply_fail(r, ERR_NOT_FOUND, "sandbox %s does not exist", r->params[0]);
	return sb != NULL;
}

/* Past the check the request is the plain read or write, with nothing
 * but its path (no auto_resume; a write keeps the file's mode and owner,
 * or 0644 root). */
enum MHD_Result api_file_signed_read(struct api_req *r)
{
	enum MHD_Result res;
	return signed_ok(r, "read", &res) ? api_file_read(r) : res;
}

enum MHD_Result api_file_signed_write(struct api_req *r)
{
	enum MHD_Result res;
	return signed_ok(r, "write", &res) ? api_file_write(r) : res;
}
