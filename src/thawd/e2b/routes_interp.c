/* The E2B front's routes for the code interpreter (port 49999: /execute, /contexts). Columns as in
 * src/thawd/api/routes.c: method, pattern, handler, public, body_to_file,
 * max_body, admin only. Not public: the front finds the key from the
 * sandbox's access token (e2b/auth.c). */
#include "e2b/e2b.h"
#include "e2b/interp.h"

const struct api_route e2b_interp_routes[] = {
	{ "POST", "/execute", e2b_interp_execute, false, false, API_MAX_BODY, false },
	{ "POST", "/contexts", e2b_interp_context_create, false, false, API_CONTROL_BODY, false },
	{ "GET", "/contexts", e2b_interp_context_list, false, false, API_NO_BODY, false },
	{ "DELETE", "/contexts/{}", e2b_interp_context_delete, false, false, API_NO_BODY, false },
	{ "POST", "/contexts/{}/restart", e2b_interp_context_restart, false, false, API_NO_BODY,
	  false },
};
const size_t e2b_interp_route_count = sizeof(e2b_interp_routes) / sizeof(e2b_interp_routes[0]);
