#include "control/api/api.h"

/* Columns: method, pattern, handler, public (no key), body_to_file,
 * max_body, admin only. The fleet routes are public to the key check:
 * hosts present the fleet secret instead (fleet.c checks it). */
#define NONE (4u << 10)
#define CTRL (64u << 10)
const struct api_route control_routes[] = {
	{ "GET", "/healthz", control_health, true, false, NONE, false },
	{ "GET", "/v1/info", control_info, false, false, NONE, false },
	{ "GET", "/v1/hosts", control_hosts_list, false, false, NONE, true },
	{ "POST", "/v1/hosts/{}/drain", control_host_drain, false, false, CTRL, true },
	{ "POST", "/v1/fleet/hosts", control_fleet_register, true, false, CTRL, false },
	{ "POST", "/v1/fleet/hosts/{}/heartbeat", control_fleet_heartbeat, true, false, CTRL,
	  false },
};
#undef NONE
#undef CTRL

const size_t control_route_count = sizeof(control_routes) / sizeof(control_routes[0]);
