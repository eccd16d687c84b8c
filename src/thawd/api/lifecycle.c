/* Lifecycle handlers: fork, pause, resume, snapshot, keepalive. Each
 * takes a small JSON body (possibly empty) and answers with the
 * sandbox(es) or template it produced. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cleanup.h"
#include "httpapi/keys.h"
#include "api/validate.h"
#include "core/registry.h"
#include "core/sandbox.h"
#include "ids.h"
#include "net/netpolicy.h"
#include "ops/ops.h"
#include "timeutil.h"

enum MHD_Result api_sandbox_fork(struct api_req *r)
{
	enum MHD_Result res;
	json_t *body = api_sandbox_body(r, true, &res);
	if (!body)
		return res;
	struct fork_params p;
	_cleanup_err_ struct thaw_err *err = NULL;
	int rc = validate_fork(body, &p, &err);
	json_decref(body);
	if (rc < 0)
		return api_reply_error(r, err);
	uint64_t t0 = time_mono_ns();
	struct fork_result fr;
	struct sb_owner owner = api_owner(r); /* children belong to the forking key */
	if (sandbox_fork(api_host(r), r->params[0], p.count, &owner, &fr, &err) < 0)
		return api_reply_error(r, err);
	json_t *arr = json_array();
	for (size_t i = 0; i < fr.count; i++) {
		json_t *child = api_sandbox_json(api_host(r), fr.children[i], false);
		api_sandbox_secrets(child, fr.children[i]);
		json_array_append_new(arr, child);
	}
	json_t *o = json_pack("{s:s,s:o,s:{s:f,s:f,s:f}}", "parent", r->params[0], "sandboxes", arr,
			      "timings_ms", "parent_stopped", fr.stopped_ms, "capture",
			      fr.capture_ms, "total", ns_to_ms(time_mono_ns() - t0));
	fork_result_free(api_host(r), &fr);
	return api_reply_json(r, MHD_HTTP_CREATED, o);
}

typedef int (*state_op)(struct host *h, const char *id, struct sandbox **out,
			struct thaw_err **err);

/* The body of a route that takes none ({} or nothing); false when the
 * request has been answered (*res). */
static bool empty_body(struct api_req *r, enum MHD_Result *res)
{
	json_t *body = api_sandbox_body(r, true, res);
	if (!body)
		return false;
	_cleanup_err_ struct thaw_err *err = NULL;
	int rc = validate_empty(body, &err);
	json_decref(body);
	if (rc < 0)
		*res = api_reply_error(r, err);
	return rc == 0;
}

static enum MHD_Result change_state(struct api_req *r, state_op op)
{
	enum MHD_Result res;
	if (!empty_body(r, &res))
		return res;
	_cleanup_err_ struct thaw_err *err = NULL;
	uint64_t t0 = time_mono_ns();
	struct sandbox *sb = NULL;
	if (op(api_host(r), r->params[0], &sb, &err) < 0)
		return api_reply_error(r, err);
	json_t *o = api_sandbox_json(api_host(r), sb, false);
	json_object_set_new(o, "duration_ms", json_real(ns_to_ms(time_mono_ns() - t0)));
	sandbox_unref(api_host(r), sb);
	return api_reply_json(r, MHD_HTTP_OK, o);
}

enum MHD_Result api_sandbox_pause(struct api_req *r)
{
	return change_state(r, sandbox_pause);
}

enum MHD_Result api_sandbox_resume(struct api_req *r)
{
	return change_state(r, sandbox_resume);
}

/* Issue 17: a failed sandbox whose disk was kept, cold-booted on it
 * (ops/recover.c). */
enum MHD_Result api_sandbox_recover(struct api_req *r)
{
	return change_state(r, sandbox_recover);
}

/* {"image": ID, "owner": KEY?, "resume": true?}: records the sandbox
 * another host paused as paused here (its image streamed from the object
 * store), then resumes it unless "resume" is false.
 * {"image": ID, "parent": SANDBOX, "owner": KEY?, "timeout_s": N?,
 *  "metadata": {...}?}: starts the sandbox as a fork child of parent (on
 * another host, which exported the image) instead. */
/* "network" and "env" of an adopt (its old host's or its parent's),
 * checked as a create's would be. */
static int adopt_settings(json_t *body, struct netpolicy **net, char **env, struct thaw_err **err)
{
	json_t *n = json_object_get(body, "network");
	*net = NULL;
	if ((n && validate_network(n, net, err) < 0))
		return -1;
	if (validate_sandbox_env(json_object_get(body, "env"), env, err) < 0) {
		netpolicy_free(*net);
		*net = NULL;
		return -1;
	}
	return 0;
}

/* The fork child form of adopt: the parent's settings as its host
 * reported them. */
static int adopt_child(struct api_req *r, json_t *body, struct sandbox **out, struct thaw_err **err)
{
	const struct thawd_config *cfg = api_host(r)->cfg;
	json_t *timeout = json_object_get(body, "timeout_s"),
	       *md = json_object_get(body, "metadata");
	struct netpolicy *net = NULL;
	_cleanup_free_ char *env = NULL;
	if (adopt_settings(body, &net, &env, err) < 0)
		return err_wrap(err, "adopting fork child %s", r->params[0]);
	_cleanup_free_ char *meta = md ? json_dumps(md, JSON_COMPACT) : NULL;
	struct child_spec spec = {
		.image = json_string_value(json_object_get(body, "image")),
		.parent = json_string_value(json_object_get(body, "parent")),
		.owner = json_string_value(json_object_get(body, "owner")),
		.timeout_s = timeout ? json_integer_value(timeout) : cfg->default_timeout_s,
		.metadata = meta,
		.network = net,
		.env = env,
	};
	int rc = sandbox_adopt_child(api_host(r), r->params[0], &spec, out, err);
	netpolicy_free(net);
	return rc;
}

enum MHD_Result api_sandbox_adopt(struct api_req *r)
{
	enum MHD_Result res;
	if (!api_check_sandbox_id(r, &res))
		return res;
	json_t *body = api_body_object(r, &res);
	if (!body)
		return res;
	const char *image = NULL, *owner = NULL, *parent = NULL;
	int resume = 1;
	json_t *timeout = NULL, *metadata = NULL, *network = NULL, *env = NULL;
	json_error_t jerr;
	_cleanup_err_ struct thaw_err *err = NULL;
	const struct thawd_config *cfg = api_host(r)->cfg;
	if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s,s?s,s?b,s?s,s?o,s?o,s?o,s?o}", "image",
			   &image, "owner", &owner, "resume", &resume, "parent", &parent,
			   "timeout_s", &timeout, "metadata", &metadata, "network", &network, "env",
			   &env) < 0 ||
	    (owner && !id_valid_key_name(owner)) || (parent && !id_valid_sandbox(parent)) ||
	    (timeout && (!json_is_integer(timeout) || json_integer_value(timeout) < 0 ||
			 json_integer_value(timeout) > cfg->max_timeout_s)) ||
	    (metadata && !json_is_object(metadata)) || (!parent && (timeout || metadata))) {
		json_decref(body);
		return api_reply_fail(
			r, ERR_INVALID,
			"body: {\"image\": image id, \"owner\": key name (optional), "
			"\"resume\": bool (optional), \"network\": {}?, \"env\": {}?} or "
			"{\"image\", \"parent\": sandbox id, \"owner\"?, \"timeout_s\": "
			"0-%lld?, \"metadata\": {}?, \"network\": {}?, \"env\": {}?} "
			"expected (%s)",
			(long long)cfg->max_timeout_s, jerr.text);
	}
	uint64_t t0 = time_mono_ns();
	struct sandbox *sb = NULL;
	if (parent) {
		int rc = adopt_child(r, body, &sb, &err);
		json_decref(body);
		if (rc < 0)
			return api_reply_error(r, err);
		json_t *o = api_sandbox_json(api_host(r), sb, false);
		api_sandbox_secrets(o, sb);
		json_object_set_new(o, "duration_ms", json_real(ns_to_ms(time_mono_ns() - t0)));
		sandbox_unref(api_host(r), sb);
		return api_reply_json(r, MHD_HTTP_CREATED, o);
	}
	struct netpolicy *net = NULL;
	_cleanup_free_ char *env_text = NULL;
	int rc = adopt_settings(body, &net, &env_text, &err);
	if (rc == 0)
		rc = sandbox_adopt(api_host(r), r->params[0], image, owner, net, env_text, &err);
	netpolicy_free(net);
	json_decref(body);
	if (rc < 0)
		return api_reply_error(r, err);
	rc = resume ? sandbox_resume(api_host(r), r->params[0], &sb, &err)
		    : ((sb = registry_get(api_host(r), r->params[0])) ? 0 : -1);
	if (rc < 0)
		return err ? api_reply_error(r, err)
			   : api_reply_fail(r, ERR_NOT_FOUND, "sandbox %s is gone", r->params[0]);
	json_t *o = api_sandbox_json(api_host(r), sb, false);
	json_object_set_new(o, "duration_ms", json_real(ns_to_ms(time_mono_ns() - t0)));
	sandbox_unref(api_host(r), sb);
	return api_reply_json(r, MHD_HTTP_CREATED, o);
}

/* {} -> {"image": ID, "timings_ms": {...}}: the running sandbox captured
 * into an image that is in the object store when this answers (a fork
 * whose children start on other hosts). */
enum MHD_Result api_sandbox_export(struct api_req *r)
{
	enum MHD_Result res;
	if (!empty_body(r, &res))
		return res;
	_cleanup_err_ struct thaw_err *err = NULL;
	struct export_result ex;
	if (sandbox_export(api_host(r), r->params[0], &ex, &err) < 0)
		return api_reply_error(r, err);
	return api_reply_json(r, MHD_HTTP_CREATED,
			      json_pack("{s:s,s:s,s:{s:f,s:f,s:f}}", "sandbox", r->params[0],
					"image", ex.image, "timings_ms", "parent_stopped",
					ex.stopped_ms, "capture", ex.capture_ms, "upload",
					ex.upload_ms));
}

enum MHD_Result api_sandbox_snapshot(struct api_req *r)
{
	enum MHD_Result res;
	json_t *body = api_sandbox_body(r, false, &res);
	if (!body)
		return res;
	struct snapshot_params p;
	_cleanup_err_ struct thaw_err *err = NULL;
	int rc = validate_snapshot(body, &p, &err);
	json_decref(body);
	if (rc < 0)
		return api_reply_error(r, err);
	struct snapshot_result sr;
	/* An admin publishes a shared template; a user's is its own. */
	const char *owner = r->key->role == KEY_ADMIN ? NULL : r->key->name;
	if (sandbox_snapshot(api_host(r), r->params[0], p.name, owner, &sr, &err) < 0)
		return api_reply_error(r, err);
	json_t *o = json_pack("{s:s,s:s,s:s,s:{s:f,s:f}}", "name", sr.meta.name, "build_id",
			      sr.meta.build_id, "source_sandbox", r->params[0], "timings_ms",
			      "sandbox_stopped", sr.stopped_ms, "total", sr.total_ms);
	return api_reply_json(r, MHD_HTTP_CREATED, o);
}

enum MHD_Result api_sandbox_keepalive(struct api_req *r)
{
	enum MHD_Result res;
	json_t *body = api_sandbox_body(r, false, &res);
	if (!body)
		return res;
	int64_t timeout_s;
	_cleanup_err_ struct thaw_err *err = NULL;
	int rc = validate_keepalive(body, api_host(r)->cfg->max_timeout_s, &timeout_s, &err);
	json_decref(body);
	if (rc < 0)
		return api_reply_error(r, err);
	struct sandbox *sb = NULL;
	if (sandbox_keepalive(api_host(r), r->params[0], timeout_s, &sb, &err) < 0)
		return api_reply_error(r, err);
	json_t *o = api_sandbox_json(api_host(r), sb, false);
	sandbox_unref(api_host(r), sb);
	return api_reply_json(r, MHD_HTTP_OK, o);
}
