/* POST /v1/sandboxes/{id}/exec with "stream": true: the command's output
 * as NDJSON events while it runs, the exit status last.
 *
 *   {"type":"start","pid":123}       the command runs (its pid in the guest)
 *   {"type":"stdout","data":"..."}   also "stderr"; text or base64 as
 *                                    asked ("encoding")
 *   {"type":"exit","exit_code":0,"timed_out":false,"duration_ms":1.2}
 *   {"type":"error","error":"...","code":"..."}   instead of exit
 *
 * The status line (200) goes out before the command starts, so what can
 * be refused is checked first (404, 409). A client that disconnects stops
 * the exec; the command goes on in the guest's process table (unless
 * "kill_on_disconnect"), where GET .../processes/{pid}/stream, which
 * streams the same events, finds it again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/stream.h"
#include "api/validate.h"
#include "buf.h"
#include "ops/ops.h"
#include "utf8.h"

struct exec_job {
	struct api_stream *stream;
	struct host *h;
	char id[32];
	struct exec_params p;
	struct buf carry[2]; /* stdout, stderr: a character split by a chunk */
	uint32_t attach_pid; /* not 0: follow this process instead of running p */
	bool from_start;
};

static void emit_data(struct exec_job *j, int stream, const uint8_t *data, size_t len)
{
	struct buf text = { 0 };
	if (j->p.base64_output) {
		base64_encode(data, len, &text);
	} else {
		utf8_sanitize(data, len, &text);
	}
	api_stream_emit(j->stream,
			json_pack("{s:s,s:s%}", "type", stream == 2 ? "stderr" : "stdout", "data",
				  text.len ? (const char *)text.data : "", text.len));
	buf_free(&text);
}

/* Text mode holds back a trailing partial character until the rest
 * arrives; base64 needs no care. */
static void on_output(int stream, const uint8_t *data, size_t len, void *ud)
{
	struct exec_job *j = ud;
	if (j->p.base64_output || (stream != 1 && stream != 2)) {
		emit_data(j, stream, data, len);
		return;
	}
	struct buf *carry = &j->carry[stream - 1];
	buf_append(carry, data, len);
	size_t whole = utf8_complete_prefix(carry->data, carry->len);
	if (whole == 0)
		return;
	emit_data(j, stream, carry->data, whole);
	buf_consume(carry, whole);
}

static void on_start(uint32_t pid, void *ud)
{
	struct exec_job *j = ud;
	api_stream_emit(j->stream, json_pack("{s:s,s:I}", "type", "start", "pid", (json_int_t)pid));
}

static void *exec_thread(void *arg)
{
	struct exec_job *j = arg;
	struct agent_exec_req req = exec_request(&j->p);
	req.on_output = on_output;
	req.on_start = on_start;
	req.ud = j;
	req.cancel = api_stream_cancel_flag(j->stream);
	req.attach_pid = j->attach_pid;
	req.attach_from_start = j->from_start;
	struct agent_exec_result res;
	_cleanup_err_ struct thaw_err *err = NULL;
	int rc = sandbox_exec(j->h, j->id, &req, j->p.auto_resume, &res, &err);
	for (int s = 0; s < 2; s++)
		if (j->carry[s].len)
			emit_data(j, s + 1, j->carry[s].data, j->carry[s].len);
	if (rc == 0) {
		json_t *o = json_pack("{s:s,s:i,s:b,s:f}", "type", "exit", "exit_code",
				      res.exit_code, "timed_out", res.timed_out, "duration_ms",
				      (double)res.duration_us / 1000.0);
		if (res.signal)
			json_object_set_new(o, "signal", json_integer(res.signal));
		api_stream_emit(j->stream, o);
		agent_exec_result_free(&res);
	} else {
		api_stream_emit(j->stream,
				json_pack("{s:s,s:s,s:s}", "type", "error", "error", err_msg(err),
					  "code", err_code_name(err ? err->code : ERR_INTERNAL)));
	}
	api_stream_end(j->stream);
	api_stream_unref(j->stream);
	exec_params_free(&j->p);
	buf_free(&j->carry[0]);
	buf_free(&j->carry[1]);
	free(j);
	return NULL;
}

static enum MHD_Result start_job(struct api_req *r, struct exec_job *j)
{
	j->stream = api_stream_new();
	j->h = api_host(r);
	snprintf(j->id, sizeof(j->id), "%s", r->params[0]);
	enum MHD_Result ret = api_stream_reply(r, j->stream);
	if (api_thread_detached(exec_thread, j) < 0) {
		api_stream_emit(j->stream, json_pack("{s:s,s:s,s:s}", "type", "error", "error",
						     "cannot start an exec thread", "code",
						     err_code_name(ERR_UNAVAILABLE)));
		api_stream_end(j->stream);
		api_stream_unref(j->stream);
		exec_params_free(&j->p);
		free(j);
	}
	return ret;
}

enum MHD_Result api_exec_stream(struct api_req *r, struct exec_params *p)
{
	_cleanup_err_ struct thaw_err *err = NULL;
	if (sandbox_exec_check(api_host(r), r->params[0], p->auto_resume, &err) < 0) {
		exec_params_free(p);
		return api_reply_error(r, err);
	}
	struct exec_job *j = xcalloc(1, sizeof(*j));
	j->p = *p; /* the job owns the parameters now */
	memset(p, 0, sizeof(*p));
	return start_job(r, j);
}

enum MHD_Result api_attach_stream(struct api_req *r, uint32_t pid, bool from_start, bool base64)
{
	struct exec_job *j = xcalloc(1, sizeof(*j));
	j->attach_pid = pid;
	j->from_start = from_start;
	j->p.base64_output = base64;
	return start_job(r, j);
}
