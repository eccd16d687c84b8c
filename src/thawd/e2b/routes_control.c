/* The E2B front's routes for the control plane (/sandboxes, /v2/sandboxes, ...). Columns as in
 * src/thawd/api/routes.c: method, pattern, handler, public, body_to_file,
 * max_body, admin only. */
#include "e2b/control.h"

const struct api_route e2b_control_routes[] = {
	{ "POST", "/v2/sandboxes", e2b_create, false, false, API_CONTROL_BODY, false },
	{ "POST", "/sandboxes", e2b_create, false, false, API_CONTROL_BODY, false },
	{ "DELETE", "/sandboxes/{}", e2b_kill, false, false, API_NO_BODY, false },
};
const size_t e2b_control_route_count = sizeof(e2b_control_routes) / sizeof(e2b_control_routes[0]);
