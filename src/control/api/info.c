#include "cleanup.h"
#include "control/api/api.h"
#include "control/schema.h"

enum MHD_Result control_health(struct api_req *r)
{
	/* Healthy means it can reach its database: without it, it can do
	 * nothing, and a load balancer should send users elsewhere. */
	_cleanup_err_ struct thaw_err *err = NULL;
	if (pg_exec(api_control(r)->pg, "SELECT 1", 0, NULL, NULL, &err) < 0)
		return api_reply_error(r, err);
	return api_reply_json(r, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
}

enum MHD_Result control_info(struct api_req *r)
{
	const struct control_config *cfg = api_control(r)->cfg;
	return api_reply_json(
		r, MHD_HTTP_OK,
		json_pack("{s:s,s:s,s:i,s:{s:s?,s:s?}}", "version", THAW_VERSION, "role", "control",
			  "schema_version", CONTROL_SCHEMA_VERSION, "object_store", "endpoint",
			  cfg->s3_endpoint, "bucket", cfg->s3_bucket));
}
