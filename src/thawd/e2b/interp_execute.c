/* POST /execute {code, context_id, language, env_vars} on port 49999: a
 * cell run by the template's code interpreter (ops/run_code.c), answered
 * as E2B's NDJSON lines while it runs: stdout, stderr, result, error,
 * then end_of_execution.
 *
 * What can be refused is refused before the 200 (the body, the language,
 * an unknown context, a sandbox that is not running), so the SDK throws;
 * a failure once the answer has started (the sandbox killed, the
 * interpreter broken) becomes an error line, the only way left to say it.
 *
 * The SDK sends no time limit: its timeoutMs only aborts its own read.
 * The cell gets thaw's longest (RUN_CODE_MAX_TIMEOUT_S), and a client
 * that goes away cancels the stream, which stops the relay. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/stream.h"
#include "api/validate.h"
#include "e2b/interp.h"
#include "ops/ops.h"
#include "timeutil.h"

struct cell {
	struct api_stream *stream;
	struct host *h;
	char id[SANDBOX_ID_LEN + 1];
	json_t *body; /* owns what req points into */
	struct run_code_req req;
};

static void emit(json_t *event, void *ud)
{
	struct cell *c = ud;
	json_t *line = e2b_interp_line(event, (int64_t)time_real_ns());
	if (line)
		api_stream_emit(c->stream, line);
}

static void cell_free(struct cell *c)
{
	api_stream_end(c->stream);
	api_stream_unref(c->stream);
	json_decref(c->body);
	free(c);
}

static void *cell_thread(void *arg)
{
	struct cell *c = arg;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (sandbox_run_code(c->h, c->id, &c->req, &err) < 0)
		api_stream_emit(c->stream, e2b_interp_failure_line(err));
	api_stream_emit(c->stream, json_pack("{s:s}", "type", "end_of_execution"));
	cell_free(c);
	return NULL;
}

/* What can still be refused with a status: the sandbox's state and, for
 * a named context, that it exists. */
static int execute_check(struct host *h, const char *id, const struct e2b_execute *x,
			 struct thaw_err **err)
{
	if (sandbox_exec_check(h, id, false, err) < 0)
		return -1;
	if (x->context && strcmp(x->context, "default") != 0)
		return e2b_interp_context_exists(h, id, x->context, err);
	return 0;
}

static enum MHD_Result execute_stream(struct api_req *r, const char *id, json_t *body,
				      const struct e2b_execute *x)
{
	struct cell *c = xcalloc(1, sizeof(*c));
	c->stream = api_stream_new();
	c->h = api_host(r);
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->body = body;
	c->req = (struct run_code_req){
		.code = x->code,
		.context = x->context,
		.timeout_s = RUN_CODE_MAX_TIMEOUT_S,
		.env = x->env,
		.on_event = emit,
		.ud = c,
		.cancel = api_stream_cancel_flag(c->stream),
	};
	enum MHD_Result ret = api_stream_reply(r, c->stream);
	if (api_thread_detached(cell_thread, c) < 0) {
		struct thaw_err e = { .code = ERR_UNAVAILABLE };
		snprintf(e.msg, sizeof(e.msg), "thawd cannot start a thread for this cell");
		api_stream_emit(c->stream, e2b_interp_failure_line(&e));
		cell_free(c);
	}
	return ret;
}

enum MHD_Result e2b_interp_execute(struct api_req *r)
{
	char id[SANDBOX_ID_LEN + 1];
	enum MHD_Result res;
	if (!e2b_sandbox_of(r, E2B_INTERP_PORT, id, &res))
		return res;
	json_t *body = e2b_interp_body(r, false, &res);
	if (!body)
		return res;
	struct e2b_execute x;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (e2b_execute_parse(body, &x, &err) < 0 || execute_check(api_host(r), id, &x, &err) < 0) {
		json_decref(body);
		return e2b_reply_error(r, err);
	}
	return execute_stream(r, id, body, &x); /* owns body */
}
