/* The control plane's handlers: create and kill (the SDK's
 * Sandbox.create() and kill()). Each calls the operation /v1 calls, with
 * /v1's validation of what the E2B request was translated into. */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/validate.h"
#include "core/registry.h"
#include "e2b/control.h"

json_t *e2b_body_object(struct api_req *r, bool empty_ok, enum MHD_Result *res)
{
	if (r->body_len == 0 && empty_ok)
		return json_object();
	json_error_t je;
	json_t *o =
		r->body_len ? json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je) : NULL;
	if (o && json_is_object(o))
		return o;
	*res = o || !r->body_len
		       ? e2b_reply_fail(r, ERR_INVALID, "the request body must be a JSON object")
		       : e2b_reply_fail(r, ERR_INVALID, "malformed JSON at line %d column %d: %s",
					je.line, je.column, je.text);
	json_decref(o);
	return NULL;
}

struct sandbox *e2b_control_sandbox(struct api_req *r, enum MHD_Result *res)
{
	struct sandbox *sb =
		id_valid_sandbox(r->params[0]) ? registry_get(api_host(r), r->params[0]) : NULL;
	if (sb && api_key_sees(r, sb))
		return sb;
	sandbox_unref(api_host(r), sb);
	*res = e2b_reply_fail(r, ERR_NOT_FOUND, "sandbox %.64s does not exist", r->params[0]);
	return NULL;
}

/* The create that /v1 would make of body (already thaw's shape). */
static int create(struct api_req *r, json_t *body, struct sandbox **out, struct thaw_err **err)
{
	const struct thawd_config *cfg = api_host(r)->cfg;
	struct create_req req;
	if (validate_create(body, cfg->default_timeout_s, cfg->max_timeout_s, &req, err) < 0)
		return -1;
	req.owner = api_owner(r);
	int rc = sandbox_create(api_host(r), &req, out, err);
	create_req_free(&req);
	/* The only thing a create does not find is its template: E2B's
	 * answer for a bad templateID is a 400. */
	if (rc < 0 && *err && (*err)->code == ERR_NOT_FOUND) {
		(*err)->code = ERR_INVALID;
		return err_wrap(err, "templateID");
	}
	return rc;
}

enum MHD_Result e2b_create(struct api_req *r)
{
	enum MHD_Result res;
	json_t *e2b = e2b_body_object(r, true, &res);
	if (!e2b)
		return res;
	_cleanup_err_ struct thaw_err *err = NULL;
	json_t *body = NULL;
	int rc = e2b_create_body(e2b, api_host(r)->cfg->max_timeout_s, &body, &err);
	json_decref(e2b);
	struct sandbox *sb = NULL;
	if (rc == 0)
		rc = create(r, body, &sb, &err);
	json_decref(body);
	if (rc < 0)
		return e2b_reply_error(r, err);
	json_t *o = e2b_sandbox_created_json(api_host(r), sb);
	sandbox_unref(api_host(r), sb);
	return api_reply_json(r, MHD_HTTP_CREATED, o);
}

enum MHD_Result e2b_kill(struct api_req *r)
{
	enum MHD_Result res;
	struct sandbox *sb = e2b_control_sandbox(r, &res);
	if (!sb)
		return res;
	sandbox_unref(api_host(r), sb);
	_cleanup_err_ struct thaw_err *err = NULL;
	if (sandbox_delete(api_host(r), r->params[0], &err) < 0)
		return e2b_reply_error(r, err);
	return api_reply_empty(r, MHD_HTTP_NO_CONTENT);
}
