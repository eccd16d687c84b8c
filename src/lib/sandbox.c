/* /v1/sandboxes: create, get, list, delete, and the sandbox object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int tl_sandbox_parse(const json_t *o, thaw_sandbox **out, thaw_error **err)
{
	if (!json_is_object(o))
		return tl_error_set(err, 0, TL_PROTOCOL, "a sandbox is not a JSON object");
	thaw_sandbox *sb = tl_xcalloc(1, sizeof(*sb));
	if (tl_json_need_str(o, "id", "a sandbox", &sb->id, err) < 0 ||
	    tl_json_need_str(o, "template", "a sandbox", &sb->template_name, err) < 0 ||
	    tl_json_need_str(o, "state", "a sandbox", &sb->state, err) < 0) {
		thaw_sandbox_free(sb);
		return -1;
	}
	sb->build_id = tl_json_strdup(o, "build_id");
	sb->created_at = tl_json_strdup(o, "created_at");
	sb->timeout_at = tl_json_strdup(o, "timeout_at");
	sb->reason = tl_json_strdup(o, "reason");
	sb->parent = tl_json_strdup(o, "parent");
	sb->owner = tl_json_strdup(o, "owner");
	sb->paused_at = tl_json_strdup(o, "paused_at");
	const char *ot = json_string_value(json_object_get(o, "on_timeout"));
	sb->pause_on_timeout = ot && strcmp(ot, "pause") == 0;
	sb->auto_resume = json_is_true(json_object_get(o, "auto_resume"));
	sb->metadata_json = tl_json_dump_member(o, "metadata");
	if (!sb->metadata_json)
		sb->metadata_json = tl_xstrdup("{}");
	sb->timings_json = tl_json_dump_member(o, "timings_ms");
	sb->json = tl_json_dump(o);
	*out = sb;
	return 0;
}

THAW_API void thaw_sandbox_free(thaw_sandbox *sb)
{
	if (!sb)
		return;
	free(sb->id);
	free(sb->template_name);
	free(sb->build_id);
	free(sb->state);
	free(sb->created_at);
	free(sb->timeout_at);
	free(sb->metadata_json);
	free(sb->timings_json);
	free(sb->reason);
	free(sb->parent);
	free(sb->owner);
	free(sb->paused_at);
	free(sb->json);
	free(sb);
}

THAW_API void thaw_sandbox_list_free(thaw_sandbox **list, size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		thaw_sandbox_free(list[i]);
	free(list);
}

/* The create body: only the fields the caller set, so the server's
 * defaults apply to the rest. */
static int create_body(const thaw_create_options *o, json_t *body, thaw_error **err)
{
	json_t *v = NULL;
	if (o->template_name) {
		if (tl_json_from_str(o->template_name, "the template name", &v, err) < 0)
			return -1;
		json_object_set_new(body, "template", v);
	}
	if (o->timeout_s < THAW_TIMEOUT_NONE)
		return tl_error_set(err, 0, TL_INVALID, "timeout_s must not be below -1");
	if (o->timeout_s != THAW_TIMEOUT_DEFAULT)
		json_object_set_new(
			body, "timeout_s",
			json_integer(o->timeout_s == THAW_TIMEOUT_NONE ? 0 : o->timeout_s));
	if (o->cold_boot)
		json_object_set_new(body, "cold_boot", json_true());
	if (o->no_pools)
		json_object_set_new(body, "pools", json_false());
	if (o->pause_on_timeout)
		json_object_set_new(body, "on_timeout", json_string("pause"));
	if (o->auto_resume)
		json_object_set_new(body, "auto_resume", json_true());
	if (o->cpus < 0)
		return tl_error_set(err, 0, TL_INVALID, "cpus must not be negative");
	if (o->cpus > 0)
		json_object_set_new(body, "limits", json_pack("{s:f}", "cpus", o->cpus));
	if (o->metadata_json) {
		json_error_t je;
		v = json_loads(o->metadata_json, JSON_REJECT_DUPLICATES, &je);
		if (!json_is_object(v)) {
			json_decref(v);
			return tl_error_set(err, 0, TL_INVALID,
					    "metadata must be a JSON object%s%s", v ? "" : ": ",
					    v ? "" : je.text);
		}
		json_object_set_new(body, "metadata", v);
	}
	if (o->network) {
		if (tl_network_json(o->network, &v, err) < 0)
			return -1;
		json_object_set_new(body, "network", v);
	}
	if (o->env) {
		if (tl_env_json(o->env, &v, err) < 0)
			return -1;
		json_object_set_new(body, "env", v);
	}
	return 0;
}

/* Runs a request whose answer is one sandbox object. */
int tl_sandbox_call(thaw_client *c, const struct tl_request *req, thaw_sandbox **out,
		    thaw_error **err)
{
	json_t *resp = NULL;
	if (tl_http_call(c, req, &resp, err) < 0)
		return -1;
	int rc = out ? tl_sandbox_parse(resp, out, err) : 0;
	json_decref(resp);
	return rc;
}

THAW_API int thaw_sandbox_create(thaw_client *client, const thaw_create_options *opts,
				 thaw_sandbox **out, thaw_error **err)
{
	static const thaw_create_options defaults = { 0 };
	json_t *body = json_object();
	if (create_body(opts ? opts : &defaults, body, err) < 0) {
		json_decref(body);
		return -1;
	}
	struct tl_request req = {
		.method = "POST", .path = "/v1/sandboxes", .body = body, .expect = 201
	};
	int rc = tl_sandbox_call(client, &req, out, err);
	json_decref(body);
	return rc;
}

THAW_API int thaw_sandbox_get(thaw_client *client, const char *id, thaw_sandbox **out,
			      thaw_error **err)
{
	if (tl_check_id(id, "sandbox id", err) < 0)
		return -1;
	char path[192];
	snprintf(path, sizeof(path), "/v1/sandboxes/%s", id);
	struct tl_request req = { .method = "GET", .path = path, .expect = 200 };
	return tl_sandbox_call(client, &req, out, err);
}

/* Every page (list.c), so that a list longer than one page stays whole. */
THAW_API int thaw_sandbox_list(thaw_client *client, thaw_sandbox ***out, size_t *n,
			       thaw_error **err)
{
	return thaw_sandbox_list_where(client, NULL, out, n, err);
}

THAW_API int thaw_sandbox_delete(thaw_client *client, const char *id, thaw_error **err)
{
	if (tl_check_id(id, "sandbox id", err) < 0)
		return -1;
	char path[192];
	snprintf(path, sizeof(path), "/v1/sandboxes/%s", id);
	struct tl_request req = { .method = "DELETE", .path = path, .expect = 204 };
	return tl_http_call(client, &req, NULL, err);
}
