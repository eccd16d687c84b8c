/* Fork, pause, resume, snapshot, keepalive and template delete: the
 * calls that change what a sandbox is rather than run things in it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* POST /v1/sandboxes/{id}/{op} with body; the answer is the sandbox. */
static int sandbox_op(thaw_client *c, const char *id, const char *op, json_t *body,
		      thaw_sandbox **out, thaw_error **err)
{
	if (tl_check_id(id, "sandbox id", err) < 0) {
		json_decref(body);
		return -1;
	}
	char path[192];
	snprintf(path, sizeof(path), "/v1/sandboxes/%s/%s", id, op);
	struct tl_request req = { .method = "POST", .path = path, .body = body, .expect = 200 };
	int rc = tl_sandbox_call(c, &req, out, err);
	json_decref(body);
	return rc;
}

THAW_API int thaw_sandbox_pause(thaw_client *client, const char *id, thaw_sandbox **out,
				thaw_error **err)
{
	return sandbox_op(client, id, "pause", json_object(), out, err);
}

THAW_API int thaw_sandbox_resume(thaw_client *client, const char *id, thaw_sandbox **out,
				 thaw_error **err)
{
	return sandbox_op(client, id, "resume", json_object(), out, err);
}

THAW_API int thaw_sandbox_recover(thaw_client *client, const char *id, thaw_sandbox **out,
				  thaw_error **err)
{
	return sandbox_op(client, id, "recover", json_object(), out, err);
}

THAW_API int thaw_sandbox_keepalive(thaw_client *client, const char *id, int timeout_s,
				    thaw_sandbox **out, thaw_error **err)
{
	if (timeout_s < 0)
		return tl_error_set(err, 0, TL_INVALID, "timeout_s must not be negative");
	return sandbox_op(client, id, "keepalive", json_pack("{s:i}", "timeout_s", timeout_s), out,
			  err);
}

THAW_API int thaw_sandbox_fork(thaw_client *client, const char *id, int count, thaw_sandbox ***out,
			       size_t *n, thaw_error **err)
{
	*out = NULL;
	*n = 0;
	if (count < 1 || count > THAW_FORK_MAX)
		return tl_error_set(err, 0, TL_INVALID, "count must be from 1 to %d",
				    THAW_FORK_MAX);
	if (tl_check_id(id, "sandbox id", err) < 0)
		return -1;
	char path[192];
	snprintf(path, sizeof(path), "/v1/sandboxes/%s/fork", id);
	json_t *body = json_pack("{s:i}", "count", count);
	struct tl_request req = { .method = "POST", .path = path, .body = body, .expect = 201 };
	json_t *resp = NULL;
	int rc = tl_http_call(client, &req, &resp, err);
	json_decref(body);
	if (rc < 0)
		return -1;
	json_t *arr = json_object_get(resp, "sandboxes");
	if (!json_is_array(arr)) {
		json_decref(resp);
		return tl_error_set(err, 0, TL_PROTOCOL, "the fork answer has no sandboxes array");
	}
	size_t len = json_array_size(arr);
	thaw_sandbox **list = tl_xcalloc(len ? len : 1, sizeof(*list));
	for (size_t i = 0; i < len; i++) {
		if (tl_sandbox_parse(json_array_get(arr, i), &list[i], err) < 0) {
			thaw_sandbox_list_free(list, i);
			json_decref(resp);
			return -1;
		}
	}
	json_decref(resp);
	*out = list;
	*n = len;
	return 0;
}

THAW_API int thaw_sandbox_snapshot(thaw_client *client, const char *id, const char *template_name,
				   char **build_id, thaw_error **err)
{
	json_t *name = NULL;
	if (tl_check_id(id, "sandbox id", err) < 0 ||
	    tl_json_from_str(template_name ? template_name : "", "the template name", &name, err) <
		    0)
		return -1;
	char path[192];
	snprintf(path, sizeof(path), "/v1/sandboxes/%s/snapshot", id);
	json_t *body = json_pack("{s:o}", "template", name);
	struct tl_request req = { .method = "POST", .path = path, .body = body, .expect = 201 };
	json_t *resp = NULL;
	int rc = tl_http_call(client, &req, &resp, err);
	json_decref(body);
	if (rc < 0)
		return -1;
	if (build_id &&
	    tl_json_need_str(resp, "build_id", "the snapshot answer", build_id, err) < 0)
		rc = -1;
	json_decref(resp);
	return rc;
}

THAW_API int thaw_template_delete(thaw_client *client, const char *name, thaw_error **err)
{
	if (tl_check_id(name, "template name", err) < 0)
		return -1;
	char path[192];
	snprintf(path, sizeof(path), "/v1/templates/%s", name);
	struct tl_request req = { .method = "DELETE", .path = path, .expect = 204 };
	return tl_http_call(client, &req, NULL, err);
}
