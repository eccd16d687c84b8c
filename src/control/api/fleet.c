/* What hosts call: join (register) and heartbeat. They present the fleet
 * secret (Authorization: Bearer SECRET), never an API key: a tenant's key
 * cannot pose as a host, and a host's secret opens nothing else. */
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>

#include "cleanup.h"
#include "control/api/api.h"
#include "control/hosts.h"
#include "ids.h"

static bool is_host(struct api_req *r, enum MHD_Result *res)
{
	const char *auth = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
	unsigned char d[32];
	bool ok = false;
	if (auth && strncmp(auth, "Bearer ", 7) == 0) {
		SHA256((const unsigned char *)auth + 7, strlen(auth + 7), d);
		ok = CRYPTO_memcmp(d, api_control(r)->fleet_digest, sizeof(d)) == 0;
	}
	if (!ok)
		*res = api_reply_fail(r, ERR_UNAUTHORIZED,
				      "hosts present the fleet secret (Authorization: Bearer "
				      "SECRET, thawd --fleet-secret-file)");
	return ok;
}

enum MHD_Result control_fleet_register(struct api_req *r)
{
	enum MHD_Result res;
	if (!is_host(r, &res))
		return res;
	json_t *body = api_body_object(r, &res);
	if (!body)
		return res;
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
	if (!is_host(r, &res))
		return res;
	if (!id_valid_template(r->params[0]))
		return api_reply_fail(r, ERR_INVALID, "a host name is 1-63 characters of [a-z0-9-]");
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
