/* envd's REST side on the E2B front:
 *
 *   GET  /files?path=P&username=U   the file's bytes, streamed (404 {code,message})
 *   POST /files?path=P&username=U   multipart/form-data ("file" parts, a
 *        batch when several) or application/octet-stream (one file at P)
 *        -> [{name, type: "file", path}]
 *   GET  /health                    204 while the sandbox runs, 502 when not
 *
 * A request is the sandbox's by its headers (e2b_sandbox_of) or, with a
 * signature, by the signature alone (files_signed.c). Relative paths are
 * under the user's home; written files belong to the user (default
 * "user", as the SDK's envd). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "cleanup.h"
#include "core/registry.h"
#include "core/sandbox.h"
#include "e2b/files.h"
#include "httpapi/keys.h"
#include "proto.h"

struct rest_call {
	char id[SANDBOX_ID_LEN + 1];
	struct e2b_user user;
	char qpath[FILE_PATH_MAX + 1]; /* ?path as sent (decoded), "" when absent */
	bool has_path;
};

static bool rest_user(struct api_req *r, const char *name, struct rest_call *c,
		      enum MHD_Result *res)
{
	_cleanup_err_ struct thaw_err *err = NULL;
	snprintf(c->user.name, sizeof(c->user.name), "%s", name[0] ? name : E2B_DEFAULT_USER);
	if (e2b_user_check(c->user.name, &err) < 0) {
		*res = e2b_reply_error(r, err);
		return false;
	}
	e2b_user_home(c->user.name, c->user.home);
	c->user.uid = c->user.gid = -1;
	return true;
}

/* A query parameter, decoded as api_query does, refused in E2B's shape:
 * 1 present, 0 absent, -1 replied. */
static int query(struct api_req *r, const char *name, char *out, size_t size, enum MHD_Result *res)
{
	const char *raw = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
	out[0] = '\0';
	if (!raw)
		return 0;
	int rc = api_query_decode(raw, out, size);
	if (rc == 0)
		return 1;
	*res = e2b_reply_fail(r, ERR_INVALID, rc == -1 ? "%s has a bad %% escape (or a NUL)"
						       : "%s is too long",
			      name);
	return -1;
}

/* /files is a public route (a signed URL carries no header), so no key
 * stands behind an unsigned request: it acts for the owner of the
 * sandbox its headers name, which is what e2b_find_key gives the other
 * data-plane routes, and e2b_sandbox_of checks the token as for them. */
static bool headers_sandbox(struct api_req *r, char id[SANDBOX_ID_LEN + 1], enum MHD_Result *res)
{
	struct api_key acting = { .role = KEY_USER };
	const char *sid = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "E2b-Sandbox-Id");
	struct sandbox *sb = sid && id_valid_sandbox(sid) ? registry_get(r->app, sid) : NULL;
	if (sb)
		snprintf(acting.name, sizeof(acting.name), "%s", sb->owner);
	sandbox_unref(r->app, sb);
	const struct api_key *none = r->key;
	r->key = &acting;
	bool ok = e2b_sandbox_of(r, E2B_ENVD_PORT, id, res);
	r->key = none;
	return ok;
}

/* The sandbox (by headers, or by signature for op), user and ?path. */
static bool rest_begin(struct api_req *r, const char *op, struct rest_call *c,
		       enum MHD_Result *res)
{
	char sig[E2B_SIGNATURE_LEN + 2] = "", exp[24] = "", user[E2B_USER_MAX + 1] = "";
	int q = query(r, "signature", sig, sizeof(sig), res);
	if (q < 0)
		return false;
	if (q == 0 && !headers_sandbox(r, c->id, res))
		return false;
	int qp;
	if (query(r, "username", user, sizeof(user), res) < 0 ||
	    (qp = query(r, "path", c->qpath, sizeof(c->qpath), res)) < 0 ||
	    query(r, "signature_expiration", exp, sizeof(exp), res) < 0)
		return false;
	c->has_path = qp == 1;
	if (!c->has_path)
		c->qpath[0] = '\0';
	if (q == 1) {
		_cleanup_err_ struct thaw_err *err = NULL;
		if (e2b_signed_sandbox(r->app, sig, c->qpath, op, user, exp, c->id, &err) < 0) {
			*res = e2b_reply_error(r, err);
			return false;
		}
	}
	return rest_user(r, user, c, res);
}

int e2b_write_one(struct host *h, const char *id, const struct e2b_user *u, const char *path,
		  size_t path_len, int fd, json_t *out, struct thaw_err **err)
{
	char full[FILE_PATH_MAX + 1];
	if (e2b_path_resolve(path, path_len, u->home, full, err) < 0)
		return -1;
	struct file_write_req w = {
		.path = full, .mode = -1, .uid = u->uid, .gid = u->gid, .parents = true, .fd = fd
	};
	/* the parents it makes are the user's too (files_owner.c) */
	char dir[FILE_PATH_MAX + 1];
	snprintf(dir, sizeof(dir), "%s", full);
	char *slash = strrchr(dir, '/');
	slash[slash == dir ? 1 : 0] = '\0';
	size_t top = 0;
	struct file_info fi;
	if ((u->uid > 0 && e2b_dirs_missing(h, id, dir, &top, err) < 0) ||
	    sandbox_file_write(h, id, &w, false, &fi, err) < 0)
		return err_wrap(err, "writing %.200s", full);
	file_info_free(&fi);
	if (e2b_dirs_chown(h, id, u, dir, top, err) < 0)
		return -1;
	slash = strrchr(full, '/');
	json_t *o = json_pack("{s:s,s:s,s:s}", "name", slash ? slash + 1 : full, "type", "file",
			      "path", full);
	if (!o) /* a name that is not UTF-8 */
		o = json_pack("{s:s,s:s}", "type", "file", "name", "");
	json_array_append_new(out, o);
	return 0;
}

/* ---- GET /files: stat first (a clean 404), then stream the bytes ------ */

enum MHD_Result e2b_files_get(struct api_req *r)
{
	enum MHD_Result res;
	struct rest_call c;
	if (!rest_begin(r, "read", &c, &res))
		return res;
	_cleanup_err_ struct thaw_err *err = NULL;
	char path[FILE_PATH_MAX + 1];
	struct file_info fi;
	if (!c.has_path)
		err_set(&err, ERR_INVALID, "path is required");
	if (err || e2b_path_resolve(c.qpath, strlen(c.qpath), c.user.home, path, &err) < 0 ||
	    sandbox_file_stat(r->app, c.id, path, false, &fi, &err) < 0)
		return e2b_reply_error(r, err);
	bool dir = fi.type == FTYPE_DIR;
	file_info_free(&fi);
	if (dir)
		return e2b_reply_fail(r, ERR_INVALID, "%.200s is a directory", path);
	return api_file_stream_reply(r, c.id, path, false, NULL);
}

/* ---- POST /files ------------------------------------------------------ */

static bool content_type_is(const char *ct, const char *want)
{
	size_t n = strlen(want);
	return ct && strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

enum MHD_Result e2b_files_post(struct api_req *r)
{
	enum MHD_Result res;
	struct rest_call c;
	if (!rest_begin(r, "write", &c, &res))
		return res;
	const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_TYPE);
	const char *ce = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_ENCODING);
	if (ce && strcasecmp(ce, "identity") != 0)
		return e2b_reply_fail(r, ERR_INVALID,
				      "Content-Encoding %.32s is not taken: send the bytes as they are",
				      ce);
	bool multipart = content_type_is(ct, "multipart/form-data");
	if (!multipart && !content_type_is(ct, "application/octet-stream"))
		return e2b_reply_fail(r, ERR_INVALID,
				      "Content-Type must be multipart/form-data or "
				      "application/octet-stream");
	if (r->body_fd < 0)
		return e2b_reply_fail(r, ERR_INTERNAL, "the request body was not stored");
	_cleanup_err_ struct thaw_err *err = NULL;
	if (!multipart && !c.has_path)
		return e2b_reply_fail(r, ERR_INVALID, "an octet-stream upload needs ?path");
	if (e2b_user_lookup(r->app, c.id, &c.user, &err) < 0)
		return e2b_reply_error(r, err);
	json_t *out = json_array();
	int rc = multipart ? e2b_multipart_write(r, r->app, c.id, &c.user,
						 c.has_path ? c.qpath : NULL, r->body_fd, out, &err)
			   : e2b_write_one(r->app, c.id, &c.user, c.qpath, strlen(c.qpath),
					   r->body_fd, out, &err);
	if (rc < 0) {
		json_decref(out);
		return e2b_reply_error(r, err);
	}
	return api_reply_json(r, MHD_HTTP_OK, out);
}

/* ---- GET /health ------------------------------------------------------ */

enum MHD_Result e2b_health(struct api_req *r)
{
	enum MHD_Result res;
	char id[SANDBOX_ID_LEN + 1];
	/* a sandbox that is gone: e2b_sandbox_of's 502 */
	if (!e2b_sandbox_of(r, E2B_ENVD_PORT, id, &res))
		return res;
	struct sandbox *sb = registry_get(r->app, id);
	bool running = sb && sandbox_state(sb) == SB_RUNNING;
	sandbox_unref(r->app, sb);
	if (running)
		return api_reply_empty(r, MHD_HTTP_NO_CONTENT);
	_cleanup_free_ char *msg = xasprintf("sandbox %s is not running", id);
	return api_reply_json(r, MHD_HTTP_BAD_GATEWAY,
			      json_pack("{s:i,s:s}", "code", MHD_HTTP_BAD_GATEWAY, "message", msg));
}
