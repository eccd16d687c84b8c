/* POST /v1/sandboxes/{id}/run_code {"code", "language", "timeout_s",
 * "auto_resume"}: code run by the template's code interpreter, a Python
 * process that was already running (and warm) in the snapshot, keeping
 * its state between calls. The guest agent relays the request to it
 * (thaw:run-code); the interpreter enforces the timeout itself, so a
 * runaway call does not block the next one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "buf.h"
#include "core/sandbox.h"
#include "ops/ops.h"
#include "proto.h"
#include "timeutil.h"

#define RUN_CODE_DEFAULT_TIMEOUT_S 60
#define RUN_CODE_MAX_TIMEOUT_S 3600
#define RUN_CODE_GRACE_MS 5000		/* the interpreter times out first */
#define RUN_CODE_MAX_ANSWER (48u << 20) /* its output is capped at 2 x 16 MiB */

struct run_code_params {
	const char *code;
	int timeout_s;
	int auto_resume;
};

static int parse(json_t *body, struct run_code_params *p, struct thaw_err **err)
{
	const char *language = "python";
	json_error_t je;
	p->timeout_s = RUN_CODE_DEFAULT_TIMEOUT_S;
	p->auto_resume = 0;
	if (json_unpack_ex(body, &je, JSON_STRICT, "{s:s,s?s,s?i,s?b}", "code", &p->code,
			   "language", &language, "timeout_s", &p->timeout_s, "auto_resume",
			   &p->auto_resume) < 0)
		return err_set(err, ERR_INVALID,
			       "run_code wants {\"code\": str, \"language\", \"timeout_s\", "
			       "\"auto_resume\"}: %s",
			       je.text);
	if (strcmp(language, "python") != 0)
		return err_set(err, ERR_INVALID,
			       "language must be \"python\" (the only one so far)");
	if (p->timeout_s < 1 || p->timeout_s > RUN_CODE_MAX_TIMEOUT_S)
		return err_set(err, ERR_INVALID, "timeout_s must be from 1 to %d",
			       RUN_CODE_MAX_TIMEOUT_S);
	return 0;
}

/* The interpreter's answer, checked: four known fields, nothing else. */
static json_t *answer(const struct buf *out, struct thaw_err **err)
{
	json_error_t je;
	json_t *a = json_loadb((const char *)out->data, out->len, JSON_REJECT_DUPLICATES, &je);
	json_t *so = json_object_get(a, "stdout"), *se = json_object_get(a, "stderr");
	json_t *res = json_object_get(a, "result"), *e = json_object_get(a, "error");
	if (!json_is_object(a) || !json_is_string(so) || !json_is_string(se) ||
	    !(json_is_string(res) || json_is_null(res)) ||
	    !(json_is_object(e) || json_is_null(e))) {
		json_decref(a);
		err_set(err, ERR_GUEST, "the code interpreter gave a malformed answer");
		return NULL;
	}
	json_t *o = json_pack("{s:O,s:O,s:O,s:O}", "stdout", so, "stderr", se, "result", res,
			      "error", e);
	json_decref(a);
	return o;
}

enum MHD_Result api_sandbox_run_code(struct api_req *r)
{
	enum MHD_Result res;
	json_t *body = api_sandbox_body(r, false, &res);
	if (!body)
		return res;
	struct run_code_params p;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (parse(body, &p, &err) < 0) {
		json_decref(body);
		return api_reply_error(r, err);
	}
	json_t *req_json = json_pack("{s:s,s:i}", "code", p.code, "timeout_s", p.timeout_s);
	char *req_text = json_dumps(req_json, JSON_COMPACT);
	json_decref(req_json);
	json_decref(body);
	const char *argv[] = { FILE_CMD_PREFIX "run-code", NULL };
	struct agent_exec_req req = { .argv = argv,
				      .stdin_data = (const uint8_t *)req_text,
				      .stdin_len = strlen(req_text),
				      .has_stdin = true,
				      .timeout_ms =
					      (uint32_t)p.timeout_s * 1000u + RUN_CODE_GRACE_MS,
				      .max_output = RUN_CODE_MAX_ANSWER };
	struct agent_exec_result out;
	uint64_t t0 = time_mono_ns();
	int rc = sandbox_exec(api_host(r), r->params[0], &req, p.auto_resume, &out, &err);
	free(req_text);
	if (rc < 0)
		return api_reply_error(r, err);
	json_t *o = NULL;
	if (out.exit_code == 127)
		err_set(&err, ERR_CONFLICT,
			"this sandbox's guest agent cannot run code (older than "
			"%s): bake its template again",
			PROTO_VERSION);
	else if (out.exit_code != 0 || out.timed_out)
		err_set(&err, ERR_CONFLICT, "%s",
			out.timed_out ? "the code interpreter did not answer in time"
			: out.err.len ? buf_cstr(&out.err)
				      : "this sandbox's template has no code interpreter");
	else
		o = answer(&out.out, &err);
	agent_exec_result_free(&out);
	if (!o)
		return api_reply_error(r, err);
	json_object_set_new(o, "duration_ms", json_real(ns_to_ms(time_mono_ns() - t0)));
	return api_reply_json(r, MHD_HTTP_OK, o);
}
