/* The E2B front's routes for the control plane (/sandboxes, /v2/sandboxes, ...). Columns as in
 * src/thawd/api/routes.c: method, pattern, handler, public, body_to_file,
 * max_body, admin only. */
#include "e2b/e2b.h"

const struct api_route e2b_control_routes[] = {
	{ NULL, NULL, NULL, false, false, 0, false }, /* (empty table) */
};
const size_t e2b_control_route_count = 0;
