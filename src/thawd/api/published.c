/* Published host ports of a sandbox (issue 17, ops/publish.c):
 *   POST   /v1/sandboxes/{id}/published         {"port": 5432}
 *   GET    /v1/sandboxes/{id}/published
 *   DELETE /v1/sandboxes/{id}/published/{port} */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/validate.h"
#include "ops/publish.h"

/* {"port": N} and nothing else. */
static int body_port(json_t *body, int *port, struct thaw_err **err)
{
	const char *key;
	json_t *v;
	json_object_foreach(body, key, v)
	{
		if (strcmp(key, "port") != 0)
			return err_set(err, ERR_INVALID, "unknown field \"%.64s\" (only \"port\")",
				       key);
	}
	v = json_object_get(body, "port");
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535)
		return err_set(err, ERR_INVALID, "\"port\" must be an integer from 1 to 65535");
	*port = (int)json_integer_value(v);
	return 0;
}

static json_t *port_json(struct api_req *r, const struct published_port *p)
{
	return json_pack("{s:i,s:s,s:i}", "port", p->port, "host_address",
			 api_host(r)->cfg->publish_addr, "host_port", p->host_port);
}

enum MHD_Result api_published_add(struct api_req *r)
{
	enum MHD_Result res;
	json_t *body = api_body_object(r, &res);
	if (!body)
		return res;
	_cleanup_err_ struct thaw_err *err = NULL;
	int port = 0;
	struct published_port p;
	bool existed = false;
	int rc = body_port(body, &port, &err);
	json_decref(body);
	if (rc < 0 || sandbox_publish(api_host(r), r->params[0], port, &p, &existed, &err) < 0)
		return api_reply_error(r, err);
	return api_reply_json(r, existed ? MHD_HTTP_OK : MHD_HTTP_CREATED, port_json(r, &p));
}

enum MHD_Result api_published_list(struct api_req *r)
{
	return api_reply_json(
		r, MHD_HTTP_OK,
		json_pack("{s:o}", "published", sandbox_published_json(api_host(r), r->params[0])));
}

enum MHD_Result api_published_delete(struct api_req *r)
{
	int port = port_from_text(r->params[1]);
	if (port < 0)
		return api_reply_fail(r, ERR_INVALID, "\"%.16s\" is not a port (1 to 65535)",
				      r->params[1]);
	_cleanup_err_ struct thaw_err *err = NULL;
	if (sandbox_unpublish(api_host(r), r->params[0], port, &err) < 0)
		return api_reply_error(r, err);
	return api_reply_empty(r, MHD_HTTP_NO_CONTENT);
}
