/* A sandbox's egress policy changed while it runs or is paused:
 *   PATCH /v1/sandboxes/{id}          {"network": {...}}   answers the sandbox
 *   POST  /v1/sandboxes/{id}/network  {...}                answers the policy
 * Both replace the whole policy (net/netpolicy.h); fields left out take
 * their defaults, as at create. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/validate.h"
#include "cleanup.h"
#include "core/sandbox.h"
#include "net/netpolicy.h"
#include "ops/ops.h"

/* Sets policy v (validated here) on the sandbox; *out the sandbox. */
static int set_network(struct api_req *r, json_t *v, struct sandbox **out, struct thaw_err **err)
{
	struct netpolicy *p = NULL;
	if (validate_network(v, &p, err) < 0)
		return -1;
	int rc = sandbox_set_network(api_host(r), r->params[0], p, out, err);
	netpolicy_free(p);
	return rc;
}

enum MHD_Result api_sandbox_patch(struct api_req *r)
{
	enum MHD_Result res;
	json_t *body = api_sandbox_body(r, false, &res);
	if (!body)
		return res;
	_cleanup_err_ struct thaw_err *err = NULL;
	json_t *net = json_object_get(body, "network");
	const char *key;
	json_t *v;
	int rc = 0;
	json_object_foreach(body, key, v)
	{
		if (strcmp(key, "network") != 0 && rc == 0)
			rc = err_set(&err, ERR_INVALID,
				     "unknown field \"%.64s\" (a sandbox's network is what "
				     "PATCH changes)",
				     key);
	}
	if (rc == 0 && !net)
		rc = err_set(&err, ERR_INVALID, "network is required");
	struct sandbox *sb = NULL;
	if (rc == 0)
		rc = set_network(r, net, &sb, &err);
	json_decref(body);
	if (rc < 0)
		return api_reply_error(r, err);
	json_t *o = api_sandbox_json(api_host(r), sb, false);
	sandbox_unref(api_host(r), sb);
	return api_reply_json(r, MHD_HTTP_OK, o);
}

enum MHD_Result api_sandbox_network(struct api_req *r)
{
	enum MHD_Result res;
	json_t *body = api_sandbox_body(r, false, &res);
	if (!body)
		return res;
	_cleanup_err_ struct thaw_err *err = NULL;
	struct sandbox *sb = NULL;
	int rc = set_network(r, body, &sb, &err);
	json_decref(body);
	if (rc < 0)
		return api_reply_error(r, err);
	struct netpolicy *p = sandbox_netpolicy(sb);
	sandbox_unref(api_host(r), sb);
	json_t *o = netpolicy_to_json(p);
	netpolicy_free(p);
	return api_reply_json(r, MHD_HTTP_OK, o);
}
