/* run_code and the code interpreter's contexts: requests to the
 * template's interpreter (interp.py), which the guest agent relays
 * (thaw:run-code: our JSON on its stdin, the interpreter's answer on its
 * stdout). A cell's answer is NDJSON events, each checked
 * (guestconn/interp.c) before it reaches the caller; a context operation
 * answers one JSON object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "core/stats.h"
#include "guestconn/interp.h"
#include "ops/ops.h"
#include "proto.h"

#define RUN_CODE_GRACE_MS 5000 /* the interpreter times the cell out first */
#define INTERP_OP_TIMEOUT_MS 30000
#define STDERR_KEEP 4096 /* of the relay's own stderr: why it failed */

struct cell_job {
	const struct run_code_req *req;
	struct interp_lines lines;
	struct buf relay_err;
	bool ended;
	unsigned lines_seen;
	struct thaw_err *bad; /* the first malformed event, or the refusal */
};

static void on_line(const uint8_t *line, size_t len, void *ud)
{
	struct cell_job *j = ud;
	if (j->ended || j->bad)
		return;
	bool first = !j->lines_seen++;
	json_t *ev = interp_event_parse(line, len, &j->bad);
	if (!ev) {
		/* The interpreter refuses a cell (an unknown context) the way it
		 * refuses a context operation: one {"error"} line, first. */
		struct thaw_err *refusal = NULL;
		json_decref(interp_reply_parse(line, len, &refusal));
		if (first && refusal && refusal->code != ERR_GUEST) {
			err_free(j->bad);
			j->bad = refusal;
		} else {
			err_free(refusal);
		}
		return;
	}
	if (!strcmp(json_string_value(json_object_get(ev, "type")), "end"))
		j->ended = true;
	j->req->on_event(ev, j->req->ud);
	json_decref(ev);
}

static void on_output(int stream, const uint8_t *data, size_t len, void *ud)
{
	struct cell_job *j = ud;
	if (stream == 1) {
		interp_lines_feed(&j->lines, data, len, on_line, j);
	} else if (j->relay_err.len < STDERR_KEEP) {
		size_t room = STDERR_KEEP - j->relay_err.len;
		buf_append(&j->relay_err, data, len < room ? len : room);
	}
}

/* Why the relay failed, from its exit status and stderr. */
static int relay_failed(const struct agent_exec_result *res, struct buf *relay_err,
			struct thaw_err **err)
{
	if (res->exit_code == 127)
		return err_set(err, ERR_CONFLICT,
			       "this sandbox's guest agent cannot run code (older than %s): bake "
			       "its template again",
			       PROTO_VERSION);
	if (res->timed_out)
		return err_set(err, ERR_TIMEOUT, "the code interpreter did not answer in time");
	return err_set(err, ERR_CONFLICT, "%s",
		       relay_err->len ? buf_cstr(relay_err)
				      : "this sandbox's template has no code interpreter");
}

/* The request's JSON text, env included: the sandbox's own (given at
 * create, sandbox_env_get) under the call's, which wins. The interpreter
 * sets it for the cell only. */
static char *cell_request(const struct run_code_req *req, json_t *sandbox_env)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:i}", "op", "run", "code", req->code, "context",
			      req->context ? req->context : "default", "timeout_s", req->timeout_s);
	json_t *env = json_deep_copy(sandbox_env);
	if (req->env)
		json_object_update(env, req->env);
	if (json_object_size(env))
		json_object_set(o, "env", env);
	json_decref(env);
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

int sandbox_run_code(struct host *h, const char *id, const struct run_code_req *req,
		     struct thaw_err **err)
{
	STATS_TIME_OP("run_code", err);
	json_t *sandbox_env = NULL;
	if (sandbox_env_get(h, id, &sandbox_env, err) < 0)
		return -1;
	_cleanup_free_ char *text = cell_request(req, sandbox_env);
	json_decref(sandbox_env);
	const char *argv[] = { FILE_CMD_PREFIX "run-code", NULL };
	struct cell_job j = { .req = req };
	struct agent_exec_req ereq = {
		.argv = argv,
		.stdin_data = (const uint8_t *)text,
		.stdin_len = strlen(text),
		.has_stdin = true,
		.timeout_ms = (uint32_t)req->timeout_s * 1000u + RUN_CODE_GRACE_MS,
		.on_output = on_output,
		.ud = &j,
		.cancel = req->cancel,
	};
	struct agent_exec_result res;
	int rc = sandbox_exec(h, id, &ereq, req->auto_resume, &res, err);
	if (rc == 0) {
		if (res.exit_code != 0 || res.timed_out)
			rc = relay_failed(&res, &j.relay_err, err);
		else if (j.bad)
			rc = err_set(err, j.bad->code, "%s", err_msg(j.bad));
		else if (j.lines.too_long)
			rc = err_set(err, ERR_GUEST,
				     "the code interpreter sent an event over %u MiB",
				     INTERP_MAX_LINE >> 20);
		else if (!j.ended)
			rc = err_set(err, ERR_GUEST,
				     "the code interpreter stopped answering in the middle of the "
				     "cell (did the code end its process?); its context is "
				     "started again at the next call");
		agent_exec_result_free(&res);
	}
	err_free(j.bad);
	interp_lines_free(&j.lines);
	buf_free(&j.relay_err);
	return rc;
}

int sandbox_interp_op(struct host *h, const char *id, json_t *op, bool auto_resume,
		      json_t **reply, struct thaw_err **err)
{
	_cleanup_free_ char *text = json_dumps(op, JSON_COMPACT);
	const char *argv[] = { FILE_CMD_PREFIX "run-code", NULL };
	struct agent_exec_req ereq = {
		.argv = argv,
		.stdin_data = (const uint8_t *)text,
		.stdin_len = strlen(text),
		.has_stdin = true,
		.timeout_ms = INTERP_OP_TIMEOUT_MS,
		.max_output = 1u << 20,
	};
	struct agent_exec_result res;
	if (sandbox_exec(h, id, &ereq, auto_resume, &res, err) < 0)
		return -1;
	int rc = 0;
	if (res.exit_code != 0 || res.timed_out) {
		rc = relay_failed(&res, &res.err, err);
	} else {
		json_t *o = interp_reply_parse(res.out.data, res.out.len, err);
		if (o)
			*reply = o;
		else
			rc = -1;
	}
	agent_exec_result_free(&res);
	return rc;
}
