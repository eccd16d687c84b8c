/* GET /v1/sandboxes/{id}/files/watch?path=DIR&recursive=false: changes
 * under a guest directory as NDJSON, one event a line, while the client
 * stays connected (inotify in the guest, src/guest/filewatch.c):
 *
 *   {"type":"ready","path":"/dir"}          watching; later changes show
 *   {"type":"create","path":"/dir/a"}       also "write", "remove"
 *   {"type":"rename","path":"/dir/b","from":"/dir/a"}
 *   {"type":"overflow"}                     the guest's kernel dropped events
 *   {"type":"gone","path":"/dir"}           the directory went away: the end
 *   {"type":"error","error":"...","code":"..."}   the watch failed
 *
 * Paths are absolute guest paths. The path is checked before the 200
 * (404 missing, 400 not a directory); disconnecting ends the watch, and
 * the guest's command with it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/stream.h"
#include "buf.h"
#include "ops/files.h"
#include "proto.h"
#include "utf8.h"

struct watch_job {
	struct api_stream *stream;
	struct host *h;
	char id[32];
	char path[FILE_PATH_MAX + 1];
	bool recursive, resume;
};

static json_t *text_json(const char *s)
{
	struct buf b = { 0 };
	utf8_sanitize(s, strlen(s), &b);
	json_t *v = json_stringn(b.len ? (const char *)b.data : "", b.len);
	buf_free(&b);
	return v;
}

static void on_event(const char *type, const char *path, const char *from, void *ud)
{
	struct watch_job *j = ud;
	json_t *o = json_pack("{s:s}", "type", type);
	if (path[0])
		json_object_set_new(o, "path", text_json(path));
	if (from)
		json_object_set_new(o, "from", text_json(from));
	api_stream_emit(j->stream, o);
}

static void *watch_thread(void *arg)
{
	struct watch_job *j = arg;
	_cleanup_err_ struct thaw_err *err = NULL;
	const bool *cancel = api_stream_cancel_flag(j->stream);
	if (sandbox_file_watch(j->h, j->id, j->path, j->recursive, j->resume, on_event, j, cancel,
			       &err) < 0 &&
	    !*cancel)
		api_stream_emit(j->stream,
				json_pack("{s:s,s:s,s:s}", "type", "error", "error", err_msg(err),
					  "code", err_code_name(err ? err->code : ERR_INTERNAL)));
	api_stream_end(j->stream);
	api_stream_unref(j->stream);
	free(j);
	return NULL;
}

enum MHD_Result api_file_watch(struct api_req *r)
{
	enum MHD_Result res;
	struct watch_job *j = xcalloc(1, sizeof(*j));
	if (!api_file_common(r, j->path, &j->resume, &res) ||
	    api_query_bool(r, "recursive", false, &j->recursive, &res) < 0) {
		free(j);
		return res;
	}
	struct file_info fi;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (sandbox_file_stat(api_host(r), r->params[0], j->path, j->resume, &fi, &err) < 0) {
		free(j);
		return api_reply_error(r, err);
	}
	bool dir = fi.type == FTYPE_DIR;
	file_info_free(&fi);
	if (!dir) {
		free(j);
		return api_reply_fail(r, ERR_INVALID, "only a directory can be watched");
	}
	j->stream = api_stream_new();
	j->h = api_host(r);
	snprintf(j->id, sizeof(j->id), "%s", r->params[0]);
	enum MHD_Result ret = api_stream_reply(r, j->stream);
	if (api_thread_detached(watch_thread, j) < 0) {
		api_stream_fail(j->stream);
		api_stream_unref(j->stream);
		free(j);
	}
	return ret;
}
