/* POST /v1/sandboxes/{id}/run_code {"code", "language", "timeout_s",
 * "context", "env", "stream", "auto_resume"}: a cell run by the
 * template's code interpreter (ops/run_code.c), which was already running
 * and warm in the snapshot and keeps each context's state between calls.
 *
 * The answer is the whole cell: {"results": [{"text", "html", "png", ...,
 * "is_main_result"}], "stdout", "stderr", "error", "result" (the main
 * result's text, as before results existed), "duration_ms"}. With
 * "stream": true it is NDJSON events as the cell runs (stdout, stderr,
 * result, error), then {"type": "end", "duration_ms"}; a failure of the
 * sandbox rather than of the code is an error event with a "code". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/stream.h"
#include "api/validate.h"
#include "guestconn/interp.h"
#include "ops/ops.h"
#include "timeutil.h"

static void collect(json_t *event, void *ud)
{
	interp_answer_add(ud, event);
}

static enum MHD_Result run_whole(struct api_req *r, struct run_code_req *req)
{
	struct interp_answer a;
	interp_answer_init(&a);
	req->on_event = collect;
	req->ud = &a;
	_cleanup_err_ struct thaw_err *err = NULL;
	uint64_t t0 = time_mono_ns();
	int rc = sandbox_run_code(api_host(r), r->params[0], req, &err);
	json_t *o = rc == 0 ? interp_answer_json(&a) : NULL;
	interp_answer_free(&a);
	if (!o)
		return api_reply_error(r, err);
	json_object_set_new(o, "duration_ms", json_real(ns_to_ms(time_mono_ns() - t0)));
	return api_reply_json(r, MHD_HTTP_OK, o);
}

struct cell_stream {
	struct api_stream *stream;
	struct host *h;
	char id[32];
	json_t *body; /* owns what req points into */
	struct run_code_req req;
};

static void emit(json_t *event, void *ud)
{
	struct cell_stream *c = ud;
	/* The interpreter's end is replaced by ours, which counts the whole
	 * request and also ends a failed one. */
	if (strcmp(json_string_value(json_object_get(event, "type")), "end") != 0)
		api_stream_emit(c->stream, json_incref(event));
}

static void *cell_thread(void *arg)
{
	struct cell_stream *c = arg;
	_cleanup_err_ struct thaw_err *err = NULL;
	uint64_t t0 = time_mono_ns();
	if (sandbox_run_code(c->h, c->id, &c->req, &err) < 0)
		api_stream_emit(c->stream,
				json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", "error", "name",
					  "SandboxError", "value", err_msg(err), "traceback", "",
					  "code", err_code_name(err ? err->code : ERR_INTERNAL)));
	api_stream_emit(c->stream, json_pack("{s:s,s:f}", "type", "end", "duration_ms",
					     ns_to_ms(time_mono_ns() - t0)));
	api_stream_end(c->stream);
	api_stream_unref(c->stream);
	json_decref(c->body);
	free(c);
	return NULL;
}

static enum MHD_Result run_streamed(struct api_req *r, json_t *body, struct run_code_req *req)
{
	_cleanup_err_ struct thaw_err *err = NULL;
	if (sandbox_exec_check(api_host(r), r->params[0], req->auto_resume, &err) < 0) {
		json_decref(body);
		return api_reply_error(r, err);
	}
	struct cell_stream *c = xcalloc(1, sizeof(*c));
	c->stream = api_stream_new();
	c->h = api_host(r);
	snprintf(c->id, sizeof(c->id), "%s", r->params[0]);
	c->body = body;
	c->req = *req;
	c->req.on_event = emit;
	c->req.ud = c;
	c->req.cancel = api_stream_cancel_flag(c->stream);
	enum MHD_Result ret = api_stream_reply(r, c->stream);
	if (api_thread_detached(cell_thread, c) < 0) {
		api_stream_emit(c->stream, json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", "error",
						     "name", "SandboxError", "value",
						     "cannot start a thread", "traceback", "",
						     "code", err_code_name(ERR_UNAVAILABLE)));
		api_stream_end(c->stream);
		api_stream_unref(c->stream);
		json_decref(body);
		free(c);
	}
	return ret;
}

enum MHD_Result api_sandbox_run_code(struct api_req *r)
{
	enum MHD_Result res;
	json_t *body = api_sandbox_body(r, false, &res);
	if (!body)
		return res;
	struct run_code_params p;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (validate_run_code(body, &p, &err) < 0) {
		json_decref(body);
		return api_reply_error(r, err);
	}
	struct run_code_req req = { .code = p.code,
				    .context = p.context,
				    .timeout_s = p.timeout_s,
				    .env = p.env,
				    .auto_resume = p.auto_resume };
	if (p.stream)
		return run_streamed(r, body, &req); /* owns body */
	enum MHD_Result ret = run_whole(r, &req);
	json_decref(body);
	return ret;
}
