/* The E2B code interpreter's contexts (port 49999), on thaw's (each an
 * interpreter state forked from the warm zygote, api/contexts.c has the
 * same calls for /v1); ids are thaw's as they are.
 *
 *   POST   /contexts {language, cwd}  -> {id, language, cwd}
 *   GET    /contexts                  -> [{id, language, cwd}]
 *   DELETE /contexts/{id}             204
 *   POST   /contexts/{id}/restart     204, a fresh state
 *
 * "default" is the context /execute uses without one; it is listed and
 * can be restarted, not removed. */
#include <string.h>

#include "api/api.h"
#include "api/validate.h"
#include "e2b/interp.h"
#include "guestconn/interp.h"
#include "ops/ops.h"

json_t *e2b_interp_body(struct api_req *r, bool empty_ok, enum MHD_Result *res)
{
	if (r->body_len == 0 && empty_ok)
		return json_object();
	json_error_t je;
	json_t *o = json_loadb(r->body ? r->body : "", r->body_len, JSON_REJECT_DUPLICATES, &je);
	if (json_is_object(o))
		return o;
	json_decref(o);
	*res = e2b_reply_fail(r, ERR_INVALID, "the body must be a JSON object: %s",
			      o ? "it is another JSON value" : je.text);
	return NULL;
}

/* Sends op (stolen) to id's interpreter: its answer (a new reference). */
static json_t *interp_call(struct host *h, const char *id, json_t *op, struct thaw_err **err)
{
	json_t *reply = NULL;
	int rc = sandbox_interp_op(h, id, op, false, &reply, err);
	json_decref(op);
	return rc < 0 ? NULL : reply;
}

/* The interpreter's contexts, each checked: a new array. */
static json_t *contexts_of(struct host *h, const char *id, struct thaw_err **err)
{
	json_t *reply = interp_call(h, id, json_pack("{s:s}", "op", "list_contexts"), err);
	if (!reply)
		return NULL;
	json_t *in = json_object_get(reply, "contexts"), *out = json_array(), *c;
	size_t i;
	if (!json_is_array(in))
		err_set(err, ERR_GUEST, "the code interpreter listed its contexts wrongly");
	json_array_foreach(in, i, c)
	{
		json_t *checked = interp_context_check(c, err);
		if (!checked)
			break;
		json_array_append_new(out, checked);
	}
	bool bad = !json_is_array(in) || i < json_array_size(in);
	json_decref(reply);
	if (bad) {
		json_decref(out);
		return NULL;
	}
	return out;
}

int e2b_interp_context_exists(struct host *h, const char *id, const char *ctx,
			      struct thaw_err **err)
{
	json_t *all = contexts_of(h, id, err), *c;
	if (!all)
		return -1;
	size_t i;
	bool found = false;
	json_array_foreach(all, i, c)
	{
		found = found || !strcmp(json_string_value(json_object_get(c, "id")), ctx);
	}
	json_decref(all);
	return found ? 0 : err_set(err, ERR_NOT_FOUND, "no context \"%s\" in this sandbox", ctx);
}

/* The sandbox and, for routes with one, a context id that can exist. */
static bool common(struct api_req *r, char id[SANDBOX_ID_LEN + 1], bool with_context,
		   enum MHD_Result *res)
{
	if (!e2b_sandbox_of(r, E2B_INTERP_PORT, id, res))
		return false;
	if (with_context && !valid_context_id(r->params[0])) {
		*res = e2b_reply_fail(r, ERR_NOT_FOUND, "no context \"%.64s\" in this sandbox",
				      r->params[0]);
		return false;
	}
	return true;
}

enum MHD_Result e2b_interp_context_create(struct api_req *r)
{
	char id[SANDBOX_ID_LEN + 1];
	enum MHD_Result res;
	if (!common(r, id, false, &res))
		return res;
	json_t *body = e2b_interp_body(r, true, &res);
	if (!body)
		return res;
	const char *cwd;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (e2b_context_parse(body, &cwd, &err) < 0) {
		json_decref(body);
		return e2b_reply_error(r, err);
	}
	json_t *op = json_pack("{s:s}", "op", "create_context");
	if (cwd)
		json_object_set_new(op, "cwd", json_string(cwd));
	json_decref(body);
	json_t *reply = interp_call(api_host(r), id, op, &err);
	if (!reply)
		return e2b_reply_error(r, err);
	json_t *ctx = interp_context_check(json_object_get(reply, "context"), &err);
	json_decref(reply);
	if (!ctx)
		return e2b_reply_error(r, err);
	json_t *out = e2b_interp_context(ctx);
	json_decref(ctx);
	return api_reply_json(r, MHD_HTTP_OK, out);
}

enum MHD_Result e2b_interp_context_list(struct api_req *r)
{
	char id[SANDBOX_ID_LEN + 1];
	enum MHD_Result res;
	if (!common(r, id, false, &res))
		return res;
	_cleanup_err_ struct thaw_err *err = NULL;
	json_t *all = contexts_of(api_host(r), id, &err), *c;
	if (!all)
		return e2b_reply_error(r, err);
	json_t *out = json_array();
	size_t i;
	json_array_foreach(all, i, c)
	{
		json_array_append_new(out, e2b_interp_context(c));
	}
	json_decref(all);
	return api_reply_json(r, MHD_HTTP_OK, out);
}

/* A context operation whose answer E2B does not read: 204. */
static enum MHD_Result context_op(struct api_req *r, const char *op)
{
	char id[SANDBOX_ID_LEN + 1];
	enum MHD_Result res;
	if (!common(r, id, true, &res))
		return res;
	_cleanup_err_ struct thaw_err *err = NULL;
	json_t *reply = interp_call(
		api_host(r), id, json_pack("{s:s,s:s}", "op", op, "context", r->params[0]), &err);
	if (!reply)
		return e2b_reply_error(r, err);
	json_decref(reply);
	return api_reply_empty(r, MHD_HTTP_NO_CONTENT);
}

enum MHD_Result e2b_interp_context_delete(struct api_req *r)
{
	return context_op(r, "remove_context");
}

enum MHD_Result e2b_interp_context_restart(struct api_req *r)
{
	return context_op(r, "restart_context");
}
