/* The E2B front's routes for the code interpreter (port 49999: /execute, /contexts). Columns as in
 * src/thawd/api/routes.c: method, pattern, handler, public, body_to_file,
 * max_body, admin only. */
#include "e2b/e2b.h"

const struct api_route e2b_interp_routes[] = {
	{ NULL, NULL, NULL, false, false, 0, false }, /* (empty table) */
};
const size_t e2b_interp_route_count = 0;
