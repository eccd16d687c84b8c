/* /v1/debug/failpoint: arming failpoints (failpoint.h) for fault tests.
 * Admin keys only, and only on a thawd started with --failpoints; on any
 * other thawd both answer 403. */
#include "api/api.h"
#include "api/validate.h"
#include "failpoint.h"

static json_t *status_json(void)
{
	char armed[32];
	uint64_t fired;
	failpoint_status(armed, sizeof(armed), &fired);
	json_t *names = json_array();
	for (const char *const *n = failpoint_names(); *n; n++)
		json_array_append_new(names, json_string(*n));
	return json_pack("{s:o,s:I,s:o}", "armed", armed[0] ? json_string(armed) : json_null(),
			 "fired", (json_int_t)fired, "names", names);
}

enum MHD_Result api_failpoint_get(struct api_req *r)
{
	if (!failpoints_enabled())
		return api_reply_fail(r, ERR_FORBIDDEN, "failpoints are off (thawd --failpoints)");
	return api_reply_json(r, MHD_HTTP_OK, status_json());
}

enum MHD_Result api_failpoint_arm(struct api_req *r)
{
	if (!failpoints_enabled())
		return api_reply_fail(r, ERR_FORBIDDEN, "failpoints are off (thawd --failpoints)");
	enum MHD_Result res;
	json_t *body = api_body_object(r, &res);
	if (!body)
		return res;
	struct failpoint_params p;
	_cleanup_err_ struct thaw_err *err = NULL;
	int rc = validate_failpoint(body, &p, &err);
	json_decref(body);
	if (rc < 0 || failpoint_arm(p.name, p.action, &err) < 0)
		return api_reply_error(r, err);
	return api_reply_json(r, MHD_HTTP_OK, status_json());
}
