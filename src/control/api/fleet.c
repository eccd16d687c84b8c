/* What hosts call: join (register) and heartbeat. Each host presents its
 * own key (Authorization: Bearer KEY, hostkey.h: derived from the fleet
 * secret and its name), never an API key: a tenant's key cannot pose as
 * a host, and one host's key can pose as no other. */
#include <string.h>

#include "cleanup.h"
#include "control/api/api.h"
#include "control/hosts.h"
#include "hostkey.h"
#include "ids.h"

static bool is_host(struct api_req *r, const char *name, enum MHD_Result *res)
{
	const char *auth = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
	bool ok = auth && strncmp(auth, "Bearer ", 7) == 0 && name && id_valid_template(name) &&
		  host_key_check(api_control(r)->fleet_secret, name, auth + 7);
	if (!ok)
		*res = api_reply_fail(r, ERR_UNAUTHORIZED,
				      "a host presents its own key (Authorization: Bearer KEY: "
				      "thawd --fleet-secret-file with the fleet secret or "
				      "thaw-control --print-host-key NAME)");
	return ok;
}

enum MHD_Result control_fleet_register(struct api_req *r)
{
	enum MHD_Result res;
	json_t *body = api_body_object(r, &res);
	if (!body)
		return res;
	const char *name = json_string_value(json_object_get(body, "name"));
	if (!name || !id_valid_template(name)) {
		json_decref(body);
		return api_reply_fail(r, ERR_INVALID, "name: 1-63 characters of [a-z0-9-]");
	}
	if (!is_host(r, name, &res)) {
		json_decref(body);
		return res;
	}
	_cleanup_err_ struct thaw_err *err = NULL;
	int rc = hosts_register(api_control(r)->pg, body, &err);
	json_decref(body);
	if (rc < 0)
		return api_reply_error(r, err);
	return api_reply_json(r, MHD_HTTP_OK, json_pack("{s:i}", "heartbeat_s", 2));
}

enum MHD_Result control_fleet_heartbeat(struct api_req *r)
{
	enum MHD_Result res;
	if (!id_valid_template(r->params[0]))
		return api_reply_fail(r, ERR_INVALID, "a host name is 1-63 characters of [a-z0-9-]");
	if (!is_host(r, r->params[0], &res))
		return res;
	json_t *body = api_body_object(r, &res);
	if (!body)
		return res;
	_cleanup_err_ struct thaw_err *err = NULL;
	json_t *moved = NULL;
	int rc = hosts_heartbeat(api_control(r)->pg, r->params[0], body, &moved, &err);
	json_decref(body);
	if (rc < 0)
		return api_reply_error(r, err);
	return api_reply_json(r, MHD_HTTP_OK, json_pack("{s:o}", "moved", moved));
}
