#include "cleanup.h"
#include "control/api/api.h"
#include "control/hosts.h"
#include "ids.h"

enum MHD_Result control_hosts_list(struct api_req *r)
{
	json_t *hosts = NULL;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (hosts_list(api_control(r)->pg, &hosts, &err) < 0)
		return api_reply_error(r, err);
	return api_reply_json(r, MHD_HTTP_OK, json_pack("{s:o}", "hosts", hosts));
}

enum MHD_Result control_host_remove(struct api_req *r)
{
	if (!id_valid_template(r->params[0]))
		return api_reply_fail(r, ERR_INVALID, "a host name is 1-63 characters of [a-z0-9-]");
	_cleanup_err_ struct thaw_err *err = NULL;
	if (hosts_remove(api_control(r)->pg, r->params[0], &err) < 0)
		return api_reply_error(r, err);
	return api_reply_empty(r, MHD_HTTP_NO_CONTENT);
}

enum MHD_Result control_host_drain(struct api_req *r)
{
	if (!id_valid_template(r->params[0]))
		return api_reply_fail(r, ERR_INVALID, "a host name is 1-63 characters of [a-z0-9-]");
	_cleanup_err_ struct thaw_err *err = NULL;
	if (hosts_drain(api_control(r)->pg, r->params[0], &err) < 0)
		return api_reply_error(r, err);
	return api_reply_json(r, MHD_HTTP_OK,
			      json_pack("{s:s,s:s}", "name", r->params[0], "state", "draining"));
}
