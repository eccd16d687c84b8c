/* envd's filesystem.Filesystem, its unary calls (Connect, JSON):
 *
 *   Stat {path}                    -> {entry: EntryInfo}
 *   MakeDir {path}                 -> {entry}; already_exists when it is there
 *   Move {source, destination}     -> {entry} (rename; replaces a file there)
 *   ListDir {path, depth}          -> {entries: [EntryInfo]} (depth 1..FILE_LIST_DEPTH_MAX)
 *   Remove {path}                  -> {} (recursive, as envd's RemoveAll)
 *
 * The user (Authorization: Basic base64("user:"), else "user") decides
 * where a relative path or "~" points: its home. thaw's file operations
 * run as root in the guest, so the user does not limit what a call may
 * touch (docs/e2b.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "e2b/files.h"
#include "proto.h"

#define LIST_MAX 100000

enum MHD_Result e2b_connect_fail(struct api_req *r, unsigned status, const char *code,
				 const char *msg)
{
	return api_reply_json(r, status, json_pack("{s:s,s:s}", "code", code, "message", msg));
}

int e2b_user_lookup(struct host *h, const char *id, struct e2b_user *u, struct thaw_err **err)
{
	if (strcmp(u->name, "root") == 0) {
		u->uid = u->gid = 0;
		return 0;
	}
	/* The template's users have their home under /home (build-rootfs.sh);
	 * its owner, when the guest names it after the user, is the user. */
	struct file_info fi;
	_cleanup_err_ struct thaw_err *e = NULL;
	if (sandbox_file_stat(h, id, u->home, false, &fi, &e) < 0) {
		if (e->code != ERR_NOT_FOUND)
			return err_set(err, e->code, "%s", err_msg(e));
		return err_set(err, ERR_INVALID, "user %s does not exist in this sandbox", u->name);
	}
	bool ok = fi.type == FTYPE_DIR && fi.owner && strcmp(fi.owner, u->name) == 0;
	u->uid = fi.uid;
	u->gid = fi.gid;
	file_info_free(&fi);
	if (!ok)
		return err_set(err, ERR_INVALID, "user %s does not exist in this sandbox", u->name);
	return 0;
}

/* ---- one call's common start ------------------------------------------- */

bool e2b_fs_begin(struct api_req *r, struct e2b_fs_call *c, enum MHD_Result *res)
{
	c->msg = NULL;
	if (!e2b_sandbox_of(r, E2B_ENVD_PORT, c->id, res))
		return false;
	_cleanup_err_ struct thaw_err *err = NULL;
	const char *auth =
		MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (e2b_user_from_auth(auth, c->user.name, &err) < 0) {
		*res = connect_reply_error(r, err);
		return false;
	}
	e2b_user_home(c->user.name, c->user.home);
	c->user.uid = c->user.gid = -1;
	c->msg = connect_unary_request(r, res);
	return c->msg != NULL;
}

/* A path field of the request, resolved for the call's user. */
static int fs_path(const struct e2b_fs_call *c, const char *field, char out[FILE_PATH_MAX + 1],
		   struct thaw_err **err)
{
	json_t *v = json_object_get(c->msg, field);
	if (!json_is_string(v))
		return err_set(err, ERR_INVALID, "%s must be a string naming a path", field);
	if (e2b_path_resolve(json_string_value(v), json_string_length(v), c->user.home, out, err) < 0)
		return err_wrap(err, "%s", field);
	return 0;
}

/* Fields other than those known are refused, not ignored. */
static int fs_fields(const struct e2b_fs_call *c, const char *const *known, struct thaw_err **err)
{
	const char *k;
	json_t *v;
	json_object_foreach(c->msg, k, v) {
		bool ok = false;
		for (size_t i = 0; known[i] && !ok; i++)
			ok = strcmp(k, known[i]) == 0;
		if (!ok)
			return err_set(err, ERR_INVALID, "unknown field %.64s", k);
	}
	return 0;
}

static enum MHD_Result fs_error(struct api_req *r, struct e2b_fs_call *c, const struct thaw_err *e)
{
	json_decref(c->msg);
	return connect_reply_error(r, e);
}

static enum MHD_Result fs_entry_reply(struct api_req *r, struct e2b_fs_call *c, struct file_info *fi,
				      const char *path)
{
	json_t *o = json_pack("{s:o}", "entry", e2b_entry_json(fi, path));
	file_info_free(fi);
	json_decref(c->msg);
	return connect_reply(r, o);
}

/* ---- the calls --------------------------------------------------------- */

static const char *const path_only[] = { "path", NULL };

enum MHD_Result e2b_fs_stat(struct api_req *r)
{
	enum MHD_Result res;
	struct e2b_fs_call c;
	if (!e2b_fs_begin(r, &c, &res))
		return res;
	char path[FILE_PATH_MAX + 1];
	struct file_info fi;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (fs_fields(&c, path_only, &err) < 0 || fs_path(&c, "path", path, &err) < 0 ||
	    sandbox_file_stat(r->app, c.id, path, false, &fi, &err) < 0)
		return fs_error(r, &c, err);
	return fs_entry_reply(r, &c, &fi, path);
}

enum MHD_Result e2b_fs_make_dir(struct api_req *r)
{
	enum MHD_Result res;
	struct e2b_fs_call c;
	if (!e2b_fs_begin(r, &c, &res))
		return res;
	char path[FILE_PATH_MAX + 1];
	struct file_info fi;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (fs_fields(&c, path_only, &err) < 0 || fs_path(&c, "path", path, &err) < 0)
		return fs_error(r, &c, err);
	/* thaw's mkdir with parents takes an existing directory as done;
	 * envd answers already_exists, which the SDK turns into false. */
	if (sandbox_file_stat(r->app, c.id, path, false, &fi, &err) == 0) {
		bool dir = fi.type == FTYPE_DIR;
		file_info_free(&fi);
		json_decref(c.msg);
		if (!dir)
			return connect_reply_error(
				r, &(struct thaw_err){ .code = ERR_INVALID,
						       .msg = "the path exists and is not a directory" });
		return e2b_connect_fail(r, MHD_HTTP_CONFLICT, "already_exists",
					"the directory already exists");
	}
	if (err->code != ERR_NOT_FOUND)
		return fs_error(r, &c, err);
	err_free(err);
	err = NULL;
	/* the directories it makes are the user's, as envd's (files_owner.c) */
	size_t top = 0;
	bool mine = strcmp(c.user.name, "root") != 0;
	if ((mine && (e2b_user_lookup(r->app, c.id, &c.user, &err) < 0 ||
		      e2b_dirs_missing(r->app, c.id, path, &top, &err) < 0)) ||
	    sandbox_file_mkdir(r->app, c.id, path, -1, true, false, &fi, &err) < 0)
		return fs_error(r, &c, err);
	if (mine && top) {
		file_info_free(&fi);
		if (e2b_dirs_chown(r->app, c.id, &c.user, path, top, &err) < 0 ||
		    sandbox_file_stat(r->app, c.id, path, false, &fi, &err) < 0)
			return fs_error(r, &c, err);
	}
	return fs_entry_reply(r, &c, &fi, path);
}

enum MHD_Result e2b_fs_move(struct api_req *r)
{
	enum MHD_Result res;
	struct e2b_fs_call c;
	if (!e2b_fs_begin(r, &c, &res))
		return res;
	static const char *const known[] = { "source", "destination", NULL };
	char from[FILE_PATH_MAX + 1], to[FILE_PATH_MAX + 1];
	struct file_info fi;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (fs_fields(&c, known, &err) < 0 || fs_path(&c, "source", from, &err) < 0 ||
	    fs_path(&c, "destination", to, &err) < 0 ||
	    sandbox_file_move(r->app, c.id, from, to, true, false, &fi, &err) < 0)
		return fs_error(r, &c, err);
	return fs_entry_reply(r, &c, &fi, to);
}

enum MHD_Result e2b_fs_remove(struct api_req *r)
{
	enum MHD_Result res;
	struct e2b_fs_call c;
	if (!e2b_fs_begin(r, &c, &res))
		return res;
	char path[FILE_PATH_MAX + 1];
	_cleanup_err_ struct thaw_err *err = NULL;
	if (fs_fields(&c, path_only, &err) < 0 || fs_path(&c, "path", path, &err) < 0 ||
	    sandbox_file_remove(r->app, c.id, path, true, false, &err) < 0)
		return fs_error(r, &c, err);
	json_decref(c.msg);
	return connect_reply(r, json_object());
}

/* depth: a uint32 in protobuf JSON, a number or a decimal string; absent
 * (proto3 leaves 0 out) is 1. */
static int fs_depth(const struct e2b_fs_call *c, int *out, struct thaw_err **err)
{
	json_t *v = json_object_get(c->msg, "depth");
	long long d = 1;
	if (json_is_integer(v)) {
		d = json_integer_value(v);
	} else if (json_is_string(v)) {
		char *end;
		const char *s = json_string_value(v);
		d = strtoll(s, &end, 10);
		if (!s[0] || *end)
			d = -1;
	} else if (v) {
		d = -1;
	}
	if (d == 0)
		d = 1;
	if (d < 1 || d > FILE_LIST_DEPTH_MAX)
		return err_set(err, ERR_INVALID, "depth must be 1 to %d", FILE_LIST_DEPTH_MAX);
	*out = (int)d;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct file_info *)a)->name, ((const struct file_info *)b)->name);
}

enum MHD_Result e2b_fs_list_dir(struct api_req *r)
{
	enum MHD_Result res;
	struct e2b_fs_call c;
	if (!e2b_fs_begin(r, &c, &res))
		return res;
	static const char *const known[] = { "path", "depth", NULL };
	char path[FILE_PATH_MAX + 1];
	int depth = 1;
	bool truncated;
	struct file_info *v = NULL;
	size_t n = 0;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (fs_fields(&c, known, &err) < 0 || fs_path(&c, "path", path, &err) < 0 ||
	    fs_depth(&c, &depth, &err) < 0 ||
	    sandbox_file_list(r->app, c.id, path, depth, false, LIST_MAX, &v, &n, &truncated,
			      &err) < 0)
		return fs_error(r, &c, err);
	json_decref(c.msg);
	if (truncated) {
		file_infos_free(v, n);
		return connect_reply_error(
			r, &(struct thaw_err){ .code = ERR_TOO_LARGE,
					       .msg = "the listing has over 100000 entries: list "
						      "less deep" });
	}
	qsort(v, n, sizeof(*v), by_name);
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		/* a deeper listing names entries by their path below path */
		_cleanup_free_ char *p =
			xasprintf("%s%s%s", path, strcmp(path, "/") ? "/" : "", v[i].name);
		json_array_append_new(arr, e2b_entry_json(&v[i], p));
	}
	file_infos_free(v, n);
	return connect_reply(r, json_pack("{s:o}", "entries", arr));
}
