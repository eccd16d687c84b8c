/* The E2B front's routes for the control plane (/sandboxes, /v2/sandboxes, ...). Columns as in
 * src/thawd/api/routes.c: method, pattern, handler, public, body_to_file,
 * max_body, admin only. */
#include "e2b/control.h"

const struct api_route e2b_control_routes[] = {
	{ "POST", "/v2/sandboxes", e2b_create, false, false, API_CONTROL_BODY, false },
	{ "GET", "/v2/sandboxes", e2b_list, false, false, API_NO_BODY, false },
	{ "POST", "/sandboxes", e2b_create, false, false, API_CONTROL_BODY, false },
	{ "GET", "/sandboxes", e2b_list, false, false, API_NO_BODY, false },
	{ "GET", "/sandboxes/{}", e2b_get, false, false, API_NO_BODY, false },
	{ "DELETE", "/sandboxes/{}", e2b_kill, false, false, API_NO_BODY, false },
	{ "POST", "/sandboxes/{}/timeout", e2b_set_timeout, false, false, API_NO_BODY, false },
	{ "POST", "/sandboxes/{}/pause", e2b_pause, false, false, API_NO_BODY, false },
	{ "POST", "/v2/sandboxes/{}/connect", e2b_connect, false, false, API_NO_BODY, false },
	{ "POST", "/sandboxes/{}/fork", e2b_fork, false, false, API_NO_BODY, false },
	{ "GET", "/sandboxes/{}/metrics", e2b_metrics, false, false, API_NO_BODY, false },
	{ "POST", "/sandboxes/{}/snapshots", e2b_snapshot_create, false, false, API_NO_BODY,
	  false },
	{ "GET", "/snapshots", e2b_snapshot_list, false, false, API_NO_BODY, false },
	{ "DELETE", "/templates/{}", e2b_snapshot_delete, false, false, API_NO_BODY, false },
};
const size_t e2b_control_route_count = sizeof(e2b_control_routes) / sizeof(e2b_control_routes[0]);
