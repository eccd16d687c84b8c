/* /v1/sandboxes/{id}/files...: read (streamed), write (the body arrives
 * in a temp file, then streams into the guest), stat, list, remove,
 * mkdir. The guest path is the query parameter "path". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/stream.h"
#include "buf.h"
#include "cleanup.h"
#include "ops/files.h"
#include "proto.h"
#include "timeutil.h"
#include "utf8.h"

#define LIST_MAX 100000

/* A number in base up to max, or -1 when absent. */
static int query_num(struct api_req *r, const char *name, int base, long max, long *out,
		     enum MHD_Result *res)
{
	char v[32];
	int q = api_query(r, name, v, sizeof(v), res);
	*out = -1;
	if (q <= 0)
		return q;
	char *end;
	long n = strtol(v, &end, base);
	if (!v[0] || *end || n < 0 || n > max) {
		*res = api_reply_fail(r, ERR_INVALID,
				      base == 8 ? "%s must be an octal number up to %lo"
						: "%s must be a decimal number up to %ld",
				      name, max);
		return -1;
	}
	*out = n;
	return 0;
}

bool api_file_common(struct api_req *r, char path[FILE_PATH_MAX + 1], bool *auto_resume,
		   enum MHD_Result *res)
{
	if (!api_check_sandbox_id(r, res))
		return false;
	int q = api_query(r, "path", path, FILE_PATH_MAX + 1, res);
	if (q < 0)
		return false;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (file_path_check(q ? path : NULL, &err) < 0) {
		*res = api_reply_error(r, err);
		return false;
	}
	return api_query_bool(r, "auto_resume", false, auto_resume, res) == 0;
}

/* Guest file names are bytes; JSON strings are UTF-8: invalid sequences
 * become U+FFFD (jansson would refuse the string). */
static json_t *name_json(const char *s)
{
	struct buf b = { 0 };
	utf8_sanitize(s, strlen(s), &b);
	json_t *v = json_stringn(b.len ? (const char *)b.data : "", b.len);
	buf_free(&b);
	return v;
}

json_t *api_file_info_json(const struct file_info *fi, const char *path)
{
	char mode[8];
	snprintf(mode, sizeof(mode), "%04o", fi->mode);
	/* Integers: JSON reals go out with few digits (respond.c). */
	json_t *o = json_pack("{s:o,s:s,s:I,s:s,s:I,s:I,s:I,s:I}", "name", name_json(fi->name),
			      "type", file_type_name(fi->type), "size", (json_int_t)fi->size,
			      "mode", mode, "uid", (json_int_t)fi->uid, "gid", (json_int_t)fi->gid,
			      "mtime", (json_int_t)(fi->mtime_ns / 1000000000ull), "mtime_ns",
			      (json_int_t)fi->mtime_ns);
	if (path)
		json_object_set_new(o, "path", name_json(path));
	if (fi->link)
		json_object_set_new(o, "link_target", name_json(fi->link));
	/* null where the guest has no name for the id */
	json_object_set_new(o, "owner", fi->owner ? name_json(fi->owner) : json_null());
	json_object_set_new(o, "group", fi->group ? name_json(fi->group) : json_null());
	return o;
}

enum MHD_Result api_file_stat(struct api_req *r)
{
	enum MHD_Result res;
	char path[FILE_PATH_MAX + 1];
	bool resume;
	if (!api_file_common(r, path, &resume, &res))
		return res;
	struct file_info fi;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (sandbox_file_stat(api_host(r), r->params[0], path, resume, &fi, &err) < 0)
		return api_reply_error(r, err);
	json_t *o = api_file_info_json(&fi, path);
	file_info_free(&fi);
	return api_reply_json(r, MHD_HTTP_OK, o);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct file_info *)a)->name, ((const struct file_info *)b)->name);
}

/* A listing's entry: its name, and its path (a deeper listing names
 * entries by their path below the listed directory). */
static json_t *entry_json(struct file_info *fi, const char *dir)
{
	json_t *o = api_file_info_json(fi, NULL);
	const char *slash = strrchr(fi->name, '/');
	if (slash)
		json_object_set_new(o, "name", name_json(slash + 1));
	_cleanup_free_ char *p = xasprintf("%s%s%s", dir, strcmp(dir, "/") ? "/" : "", fi->name);
	json_object_set_new(o, "path", name_json(p));
	return o;
}

enum MHD_Result api_file_list(struct api_req *r)
{
	enum MHD_Result res;
	char path[FILE_PATH_MAX + 1];
	bool resume, truncated;
	long depth;
	if (!api_file_common(r, path, &resume, &res) ||
	    query_num(r, "depth", 10, FILE_LIST_DEPTH_MAX, &depth, &res) < 0)
		return res;
	if (depth == 0)
		return api_reply_fail(r, ERR_INVALID, "depth must be 1 to %d", FILE_LIST_DEPTH_MAX);
	if (depth < 0)
		depth = 1;
	struct file_info *v = NULL;
	size_t n = 0;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (sandbox_file_list(api_host(r), r->params[0], path, (int)depth, resume, LIST_MAX, &v, &n,
			      &truncated, &err) < 0)
		return api_reply_error(r, err);
	qsort(v, n, sizeof(*v), by_name);
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, entry_json(&v[i], path));
	file_infos_free(v, n);
	return api_reply_json(r, MHD_HTTP_OK,
			      json_pack("{s:s,s:I,s:o,s:b}", "path", path, "depth",
					(json_int_t)depth, "entries", arr, "truncated", truncated));
}

enum MHD_Result api_file_remove(struct api_req *r)
{
	enum MHD_Result res;
	char path[FILE_PATH_MAX + 1];
	bool resume, recursive;
	if (!api_file_common(r, path, &resume, &res) ||
	    api_query_bool(r, "recursive", false, &recursive, &res) < 0)
		return res;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (sandbox_file_remove(api_host(r), r->params[0], path, recursive, resume, &err) < 0)
		return api_reply_error(r, err);
	return api_reply_empty(r, MHD_HTTP_NO_CONTENT);
}

/* {"path": "/x", "mode": "0755", "parents": false} */
enum MHD_Result api_file_mkdir(struct api_req *r)
{
	enum MHD_Result res;
	json_t *body = api_sandbox_body(r, false, &res);
	if (!body)
		return res;
	const char *path = NULL, *mode_text = NULL;
	int parents = 0, resume = 0;
	json_error_t je;
	long mode = -1;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (json_unpack_ex(body, &je, JSON_STRICT, "{s:s,s?s,s?b,s?b}", "path", &path, "mode",
			   &mode_text, "parents", &parents, "auto_resume", &resume) < 0) {
		err_set(&err, ERR_INVALID, "mkdir wants {\"path\", \"mode\", \"parents\"}: %s",
			je.text);
	} else if (mode_text) {
		char *end;
		mode = strtol(mode_text, &end, 8);
		if (!*mode_text || *end || mode < 0 || mode > 07777)
			err_set(&err, ERR_INVALID, "mode must be octal, like \"0755\"");
	}
	struct file_info fi;
	int rc = err ? -1 : 0;
	if (rc == 0)
		rc = sandbox_file_mkdir(api_host(r), r->params[0], path, mode, parents, resume, &fi, &err);
	json_t *o = rc == 0 ? api_file_info_json(&fi, path) : NULL;
	json_decref(body);
	if (rc < 0)
		return api_reply_error(r, err);
	file_info_free(&fi);
	return api_reply_json(r, MHD_HTTP_CREATED, o);
}

enum MHD_Result api_file_write(struct api_req *r)
{
	enum MHD_Result res;
	char path[FILE_PATH_MAX + 1];
	bool resume, parents;
	struct file_write_req w = { .path = path, .fd = r->body_fd };
	if (!api_file_common(r, path, &resume, &res) || query_num(r, "mode", 8, 07777, &w.mode, &res) < 0 ||
	    query_num(r, "uid", 10, 0x7fffffff, &w.uid, &res) < 0 ||
	    query_num(r, "gid", 10, 0x7fffffff, &w.gid, &res) < 0 ||
	    api_query_bool(r, "parents", false, &parents, &res) < 0)
		return res;
	w.parents = parents;
	if (w.fd < 0)
		return api_reply_fail(r, ERR_INTERNAL, "the request body was not stored");
	struct file_info fi;
	_cleanup_err_ struct thaw_err *err = NULL;
	uint64_t t0 = time_mono_ns();
	if (sandbox_file_write(api_host(r), r->params[0], &w, resume, &fi, &err) < 0)
		return api_reply_error(r, err);
	json_t *o = api_file_info_json(&fi, path);
	json_object_set_new(o, "duration_ms", json_real(ns_to_ms(time_mono_ns() - t0)));
	file_info_free(&fi);
	return api_reply_json(r, MHD_HTTP_OK, o);
}

/* ---- read: stat first (a clean 404), then stream the bytes ------------ */

struct read_job {
	struct api_stream *stream;
	struct host *h;
	char id[32];
	char path[FILE_PATH_MAX + 1];
	bool resume;
};

static void read_data(int stream, const uint8_t *data, size_t len, void *ud)
{
	(void)stream;
	api_stream_write(ud, data, len);
}

static void *read_thread(void *arg)
{
	struct read_job *j = arg;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (sandbox_file_read(j->h, j->id, j->path, j->resume, read_data, j->stream,
			      api_stream_cancel_flag(j->stream), &err) < 0)
		api_stream_fail(j->stream); /* the client sees a cut body, not a whole one */
	else
		api_stream_end(j->stream);
	api_stream_unref(j->stream);
	free(j);
	return NULL;
}

enum MHD_Result api_file_stream_reply(struct api_req *r, const char *id, const char *path,
				      bool resume, const char *const *headers)
{
	struct read_job *j = xcalloc(1, sizeof(*j));
	j->stream = api_stream_new();
	j->h = api_host(r);
	j->resume = resume;
	snprintf(j->id, sizeof(j->id), "%s", id);
	snprintf(j->path, sizeof(j->path), "%s", path);
	enum MHD_Result ret =
		api_stream_reply_as(r, j->stream, "application/octet-stream", headers);
	if (api_thread_detached(read_thread, j) < 0) {
		api_stream_fail(j->stream);
		api_stream_unref(j->stream);
		free(j);
	}
	return ret;
}

enum MHD_Result api_file_read(struct api_req *r)
{
	enum MHD_Result res;
	char path[FILE_PATH_MAX + 1];
	bool resume;
	if (!api_file_common(r, path, &resume, &res))
		return res;
	struct file_info fi;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (sandbox_file_stat(api_host(r), r->params[0], path, resume, &fi, &err) < 0)
		return api_reply_error(r, err);
	bool dir = fi.type == FTYPE_DIR;
	char size[24], mode[8];
	snprintf(size, sizeof(size), "%llu", (unsigned long long)fi.size);
	snprintf(mode, sizeof(mode), "%04o", fi.mode);
	file_info_free(&fi);
	if (dir)
		return api_reply_fail(r, ERR_INVALID,
				      "%.200s is a directory: list it with /files/list", path);
	const char *headers[] = { "X-Thaw-File-Size", size, "X-Thaw-File-Mode", mode, NULL };
	return api_file_stream_reply(r, r->params[0], path, resume, headers);
}
