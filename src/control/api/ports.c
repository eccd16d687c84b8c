/* ANY /v1/sandboxes/{id}/ports/{port}/...: the port proxy through the
 * control plane, as on the host (docs/ports.md): the request's body
 * streams to the host as it arrives and the answer streams back (no
 * whole body held here), the client's own headers go on to the service,
 * and an upgrade (a WebSocket) is joined like a tunnel (upgrade.c). */
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "cleanup.h"
#include "control/api/api.h"
#include "control/relay.h"
#include "control/sandboxes.h"

enum MHD_Result control_sandbox_port(struct api_req *r)
{
	const char *up = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Upgrade");
	const char *conn = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Connection");
	if (!strcmp(r->method, "GET") && up && conn && strcasestr(conn, "upgrade"))
		return control_sandbox_port_upgrade(r);
	struct sandbox_route rt;
	enum MHD_Result res;
	if (!control_sandbox_live(r, &rt, &res))
		return res;
	_cleanup_buf_ struct buf pq = { 0 };
	control_path_query(r, &pq);
	struct relay_target t = control_target(r, rt.host, rt.address, buf_cstr(&pq));
	return relay_request_streamed(r, &t);
}
