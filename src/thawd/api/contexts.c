/* The code interpreter's contexts: independent interpreter states in one
 * sandbox, each a worker process forked from the interpreter's clean,
 * warm zygote (templates/code-interpreter's interp.py).
 *
 *   POST   /v1/sandboxes/{id}/contexts {"cwd", "env", "language"}  201
 *   GET    /v1/sandboxes/{id}/contexts
 *   DELETE /v1/sandboxes/{id}/contexts/{ctx}                        204
 *   POST   /v1/sandboxes/{id}/contexts/{ctx}/restart  a fresh state
 *   POST   /v1/sandboxes/{id}/contexts/{ctx}/interrupt  KeyboardInterrupt
 *          in the running cell; the context's state stays
 *
 * "default" is the context run_code uses without one; it can be
 * restarted, not removed. Every route takes ?auto_resume=true. */
#include <string.h>

#include "api/api.h"
#include "api/validate.h"
#include "guestconn/interp.h"
#include "ops/ops.h"
#include "timeutil.h"

/* The sandbox id, the context id (when the route has one) and
 * auto_resume. */
static bool common(struct api_req *r, bool with_context, bool *auto_resume, enum MHD_Result *res)
{
	if (!api_check_sandbox_id(r, res))
		return false;
	if (with_context && !valid_context_id(r->params[1])) {
		*res = api_reply_fail(r, ERR_NOT_FOUND, "no context %.80s in this sandbox",
				      r->params[1]);
		return false;
	}
	return api_query_bool(r, "auto_resume", false, auto_resume, res) == 0;
}

/* Sends op (stolen) to the interpreter: its answer (a new reference), or
 * NULL once *res holds the error reply. */
static json_t *interp_call(struct api_req *r, json_t *op, bool auto_resume, enum MHD_Result *res)
{
	_cleanup_err_ struct thaw_err *err = NULL;
	json_t *reply = NULL;
	int rc = sandbox_interp_op(api_host(r), r->params[0], op, auto_resume, &reply, &err);
	json_decref(op);
	if (rc < 0) {
		*res = api_reply_error(r, err);
		return NULL;
	}
	return reply;
}

/* Sends op (stolen) and answers the interpreter's "context" checked. */
static enum MHD_Result context_reply(struct api_req *r, json_t *op, bool auto_resume,
				     unsigned status, uint64_t t0)
{
	enum MHD_Result res;
	json_t *reply = interp_call(r, op, auto_resume, &res);
	if (!reply)
		return res;
	_cleanup_err_ struct thaw_err *err = NULL;
	json_t *ctx = interp_context_check(json_object_get(reply, "context"), &err);
	json_decref(reply);
	if (!ctx)
		return api_reply_error(r, err);
	json_object_set_new(ctx, "duration_ms", json_real(ns_to_ms(time_mono_ns() - t0)));
	return api_reply_json(r, status, ctx);
}

enum MHD_Result api_context_create(struct api_req *r)
{
	enum MHD_Result res;
	bool auto_resume;
	if (!common(r, false, &auto_resume, &res))
		return res;
	json_t *body = api_sandbox_body(r, true, &res);
	if (!body)
		return res;
	struct context_params p;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (validate_context_create(body, &p, &err) < 0) {
		json_decref(body);
		return api_reply_error(r, err);
	}
	json_t *op = json_pack("{s:s}", "op", "create_context");
	if (p.cwd)
		json_object_set_new(op, "cwd", json_string(p.cwd));
	if (p.env)
		json_object_set(op, "env", p.env);
	json_decref(body);
	return context_reply(r, op, auto_resume, MHD_HTTP_CREATED, time_mono_ns());
}

enum MHD_Result api_context_list(struct api_req *r)
{
	enum MHD_Result res;
	bool auto_resume;
	if (!common(r, false, &auto_resume, &res))
		return res;
	json_t *reply =
		interp_call(r, json_pack("{s:s}", "op", "list_contexts"), auto_resume, &res);
	if (!reply)
		return res;
	_cleanup_err_ struct thaw_err *err = NULL;
	json_t *in = json_object_get(reply, "contexts"), *out = json_array();
	size_t i;
	json_t *c;
	if (!json_is_array(in))
		err_set(&err, ERR_GUEST, "the code interpreter listed its contexts wrongly");
	json_array_foreach(in, i, c)
	{
		json_t *checked = interp_context_check(c, &err);
		if (!checked)
			break;
		json_array_append_new(out, checked);
	}
	json_decref(reply);
	if (err) {
		json_decref(out);
		return api_reply_error(r, err);
	}
	return api_reply_json(r, MHD_HTTP_OK, json_pack("{s:o}", "contexts", out));
}

enum MHD_Result api_context_delete(struct api_req *r)
{
	enum MHD_Result res;
	bool auto_resume;
	if (!common(r, true, &auto_resume, &res))
		return res;
	json_t *reply = interp_call(
		r, json_pack("{s:s,s:s}", "op", "remove_context", "context", r->params[1]),
		auto_resume, &res);
	if (!reply)
		return res;
	json_decref(reply);
	return api_reply_empty(r, MHD_HTTP_NO_CONTENT);
}

enum MHD_Result api_context_restart(struct api_req *r)
{
	enum MHD_Result res;
	bool auto_resume;
	if (!common(r, true, &auto_resume, &res))
		return res;
	uint64_t t0 = time_mono_ns();
	return context_reply(
		r, json_pack("{s:s,s:s}", "op", "restart_context", "context", r->params[1]),
		auto_resume, MHD_HTTP_OK, t0);
}

enum MHD_Result api_context_interrupt(struct api_req *r)
{
	enum MHD_Result res;
	bool auto_resume;
	if (!common(r, true, &auto_resume, &res))
		return res;
	json_t *reply =
		interp_call(r, json_pack("{s:s,s:s}", "op", "interrupt", "context", r->params[1]),
			    auto_resume, &res);
	if (!reply)
		return res;
	bool done = json_is_true(json_object_get(reply, "interrupted"));
	json_decref(reply);
	return api_reply_json(r, MHD_HTTP_OK, json_pack("{s:b}", "interrupted", done));
}
