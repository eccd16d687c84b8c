/* POST /v1/sandboxes/{id}/files/move and /files/batch: a rename in the
 * guest, and several files written in one request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "api/api.h"
#include "buf.h"
#include "cleanup.h"
#include "fsutil.h"
#include "ops/files.h"
#include "utf8.h"

#define BATCH_FILES_MAX 1000

/* {"from": "/a", "to": "/b", "overwrite": false, "auto_resume": false} */
enum MHD_Result api_file_move(struct api_req *r)
{
	enum MHD_Result res;
	json_t *body = api_sandbox_body(r, false, &res);
	if (!body)
		return res;
	const char *from = NULL, *to = NULL;
	int overwrite = 0, resume = 0;
	json_error_t je;
	_cleanup_err_ struct thaw_err *err = NULL;
	int rc = 0;
	if (json_unpack_ex(body, &je, JSON_STRICT, "{s:s,s:s,s?b,s?b}", "from", &from, "to", &to,
			   "overwrite", &overwrite, "auto_resume", &resume) < 0)
		rc = err_set(&err, ERR_INVALID,
			     "move wants {\"from\", \"to\", \"overwrite\", \"auto_resume\"}: %s",
			     je.text);
	struct file_info fi;
	if (rc == 0)
		rc = sandbox_file_move(api_host(r), r->params[0], from, to, overwrite, resume, &fi,
				       &err);
	json_t *o = rc == 0 ? api_file_info_json(&fi, to) : NULL;
	json_decref(body);
	if (rc < 0)
		return api_reply_error(r, err);
	file_info_free(&fi);
	return api_reply_json(r, MHD_HTTP_OK, o);
}

/* One file of a batch, checked before anything is written. */
struct batch_file {
	const char *path; /* in the request body */
	struct buf data;
	long mode;
};

static int batch_file_parse(json_t *f, size_t i, struct batch_file *out, struct thaw_err **err)
{
	const char *path = NULL, *data = NULL, *mode = NULL;
	json_error_t je;
	if (json_unpack_ex(f, &je, JSON_STRICT, "{s:s,s:s,s?s}", "path", &path, "data", &data,
			   "mode", &mode) < 0)
		return err_set(err, ERR_INVALID,
			       "files[%zu] must be {\"path\", \"data\" (base64), \"mode\"}: %s", i,
			       je.text);
	if (file_path_check(path, err) < 0)
		return err_wrap(err, "files[%zu]", i);
	out->path = path;
	out->mode = -1;
	if (mode) {
		char *end;
		out->mode = strtol(mode, &end, 8);
		if (!*mode || *end || out->mode < 0 || out->mode > 07777)
			return err_set(err, ERR_INVALID,
				       "files[%zu].mode must be octal, like \"0644\"", i);
	}
	if (base64_decode(data, strlen(data), &out->data) < 0)
		return err_set(err, ERR_INVALID, "files[%zu].data is not base64", i);
	return 0;
}

static void batch_free(struct batch_file *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		buf_free(&v[i].data);
	free(v);
}

/* Every entry of "files", or nothing (an error names the first bad one). */
static int batch_parse(json_t *body, struct batch_file **out, size_t *n, bool *parents,
		       bool *resume, struct thaw_err **err)
{
	json_t *files = NULL;
	int p = 0, ar = 0;
	json_error_t je;
	if (json_unpack_ex(body, &je, JSON_STRICT, "{s:o,s?b,s?b}", "files", &files, "parents", &p,
			   "auto_resume", &ar) < 0)
		return err_set(err, ERR_INVALID,
			       "batch wants {\"files\": [...], \"parents\", \"auto_resume\"}: %s",
			       je.text);
	if (!json_is_array(files))
		return err_set(err, ERR_INVALID, "files must be an array");
	size_t count = json_array_size(files);
	if (count == 0 || count > BATCH_FILES_MAX)
		return err_set(err, ERR_INVALID, "files must hold 1 to %d entries",
			       BATCH_FILES_MAX);
	struct batch_file *v = xcalloc(count, sizeof(*v));
	for (size_t i = 0; i < count; i++) {
		if (batch_file_parse(json_array_get(files, i), i, &v[i], err) < 0) {
			batch_free(v, count);
			return -1;
		}
	}
	*out = v;
	*n = count;
	*parents = p;
	*resume = ar;
	return 0;
}

/* The bytes in an anonymous memory file: sandbox_file_write streams from
 * a descriptor. */
static int data_fd(const struct buf *data, struct thaw_err **err)
{
	_cleanup_close_ int fd = memfd_create("thaw-batch", MFD_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "memfd_create");
	if (data->len && fs_pwrite_all(fd, data->data, data->len, 0, err) < 0)
		return err_wrap(err, "writing a batch file's bytes");
	if (lseek(fd, 0, SEEK_SET) < 0)
		return err_sys(err, "lseek");
	return steal_fd(&fd);
}

static json_t *batch_one(struct api_req *r, const struct batch_file *f, bool parents, bool resume)
{
	_cleanup_err_ struct thaw_err *err = NULL;
	_cleanup_close_ int fd = data_fd(&f->data, &err);
	struct file_write_req w = {
		.path = f->path, .mode = f->mode, .uid = -1, .gid = -1, .parents = parents, .fd = fd
	};
	struct file_info fi;
	if (fd < 0 || sandbox_file_write(api_host(r), r->params[0], &w, resume, &fi, &err) < 0)
		return json_pack("{s:s,s:b,s:s,s:s}", "path", f->path, "ok", false, "error",
				 err_msg(err), "code",
				 err_code_name(err ? err->code : ERR_INTERNAL));
	json_t *o = api_file_info_json(&fi, f->path);
	json_object_set_new(o, "ok", json_true());
	file_info_free(&fi);
	return o;
}

/* {"files": [{"path", "data" (base64), "mode"}], "parents", "auto_resume"}:
 * each file written as PUT .../files writes one (atomically, in order);
 * one failing does not stop the others, and the answer says per file. */
enum MHD_Result api_file_batch(struct api_req *r)
{
	enum MHD_Result res;
	json_t *body = api_sandbox_body(r, false, &res);
	if (!body)
		return res;
	struct batch_file *v = NULL;
	size_t n = 0;
	bool parents = false, resume = false;
	_cleanup_err_ struct thaw_err *err = NULL;
	int rc = batch_parse(body, &v, &n, &parents, &resume, &err);
	if (rc < 0) {
		json_decref(body);
		return api_reply_error(r, err);
	}
	json_t *arr = json_array();
	size_t failed = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *o = batch_one(r, &v[i], parents, resume);
		failed += !json_is_true(json_object_get(o, "ok"));
		json_array_append_new(arr, o);
	}
	batch_free(v, n);
	json_decref(body); /* the paths pointed into it */
	return api_reply_json(r, MHD_HTTP_OK,
			      json_pack("{s:o,s:I,s:I}", "files", arr, "written",
					(json_int_t)(n - failed), "failed", (json_int_t)failed));
}
