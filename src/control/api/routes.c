#include "control/api/api.h"

/* Columns: method, pattern, handler, public (no key), body_to_file,
 * max_body, admin only. The fleet routes are public to the key check:
 * hosts present the fleet secret instead (fleet.c checks it). */
#define NONE (4u << 10)
#define CTRL (64u << 10)
#define DATA (16u << 20)
/* The port proxy's bodies stream through (relay_request_streamed). */
#define STREAM API_STREAM_BODY
/* The sandbox routes are thawd's (src/thawd/api/routes.c), same limits
 * and same admin flags: the control plane calls hosts with its own admin
 * key, so what a route needs is checked here, before the relay. */
#define CALL control_sandbox_call
#define RELAY control_sandbox_relay
const struct api_route control_routes[] = {
	{ "GET", "/healthz", control_health, true, false, NONE, false },
	{ "GET", "/console/**", api_console, true, false, NONE, false },
	{ "GET", "/v1/info", control_info, false, false, NONE, false },
	/* Prometheus text of this instance's API requests (docs/metrics.md). */
	{ "GET", "/metrics", api_metrics_reply, false, false, NONE, true },
	{ "GET", "/v1/sandboxes", control_sandbox_list, false, false, NONE, false },
	{ "POST", "/v1/sandboxes", control_sandbox_create, false, false, CTRL, false },
	{ "GET", "/v1/sandboxes/{}", CALL, false, false, NONE, false },
	{ "DELETE", "/v1/sandboxes/{}", CALL, false, false, NONE, false },
	/* CALL: the control plane keeps the policy (record_settings). */
	{ "PATCH", "/v1/sandboxes/{}", CALL, false, false, CTRL, false },
	{ "POST", "/v1/sandboxes/{}/network", CALL, false, false, CTRL, false },
	{ "POST", "/v1/sandboxes/{}/pause", CALL, false, false, CTRL, false },
	{ "POST", "/v1/sandboxes/{}/resume", CALL, false, false, CTRL, false },
	/* Issue 17: the host answers running; CALL records it (the record
	 * never held the host's failed). */
	{ "POST", "/v1/sandboxes/{}/recover", CALL, false, false, CTRL, false },
	{ "POST", "/v1/sandboxes/{}/exec", RELAY, false, false, DATA, false },
	{ "POST", "/v1/sandboxes/{}/run_code", RELAY, false, false, DATA, false },
	{ "POST", "/v1/sandboxes/{}/contexts", RELAY, false, false, CTRL, false },
	{ "GET", "/v1/sandboxes/{}/contexts", RELAY, false, false, NONE, false },
	{ "DELETE", "/v1/sandboxes/{}/contexts/{}", RELAY, false, false, NONE, false },
	{ "POST", "/v1/sandboxes/{}/contexts/{}/restart", RELAY, false, false, CTRL, false },
	{ "POST", "/v1/sandboxes/{}/contexts/{}/interrupt", RELAY, false, false, CTRL, false },
	{ "GET", "/v1/sandboxes/{}/metrics", RELAY, false, false, NONE, false },
	{ "GET", "/v1/sandboxes/{}/shell", control_sandbox_shell, false, false, NONE, false },
	{ "GET", "/v1/sandboxes/{}/tunnel/{}", control_sandbox_tunnel, false, false, NONE, false },
	/* A published port is the host's own (its address and range). */
	{ "POST", "/v1/sandboxes/{}/published", RELAY, false, false, CTRL, false },
	{ "GET", "/v1/sandboxes/{}/published", RELAY, false, false, NONE, false },
	{ "DELETE", "/v1/sandboxes/{}/published/{}", RELAY, false, false, NONE, false },
	{ "GET", "/v1/sandboxes/{}/commands/{}", RELAY, false, false, NONE, false },
	{ "POST", "/v1/sandboxes/{}/commands/{}/kill", RELAY, false, false, CTRL, false },
	{ "GET", "/v1/sandboxes/{}/processes", RELAY, false, false, NONE, false },
	{ "GET", "/v1/sandboxes/{}/processes/{}/stream", RELAY, false, false, NONE, false },
	{ "POST", "/v1/sandboxes/{}/processes/{}/stdin", RELAY, false, false, DATA, false },
	{ "POST", "/v1/sandboxes/{}/processes/{}/signal", RELAY, false, false, CTRL, false },
	{ "POST", "/v1/sandboxes/{}/processes/{}/resize", RELAY, false, false, CTRL, false },
	{ "POST", "/v1/sandboxes/{}/processes/{}/wait", RELAY, false, false, CTRL, false },
	{ "POST", "/v1/sandboxes/{}/fork", control_sandbox_fork, false, false, CTRL, false },
	{ "POST", "/v1/sandboxes/{}/snapshot", RELAY, false, false, CTRL, false },
	{ "POST", "/v1/sandboxes/{}/keepalive", RELAY, false, false, CTRL, false },
	{ "GET", "/v1/sandboxes/{}/files", RELAY, false, false, NONE, false },
	{ "PUT", "/v1/sandboxes/{}/files", RELAY, false, true, NONE, false },
	{ "DELETE", "/v1/sandboxes/{}/files", RELAY, false, false, NONE, false },
	{ "GET", "/v1/sandboxes/{}/files/stat", RELAY, false, false, NONE, false },
	{ "GET", "/v1/sandboxes/{}/files/list", RELAY, false, false, NONE, false },
	{ "POST", "/v1/sandboxes/{}/files/mkdir", RELAY, false, false, CTRL, false },
	{ "POST", "/v1/sandboxes/{}/files/move", RELAY, false, false, CTRL, false },
	{ "POST", "/v1/sandboxes/{}/files/batch", RELAY, false, false, DATA, false },
	{ "GET", "/v1/sandboxes/{}/files/watch", RELAY, false, false, NONE, false },
	{ "POST", "/v1/sandboxes/{}/files/sign", RELAY, false, false, CTRL, false },
	/* Public (the host checks the signature; its key is not here): an
	 * upload no key vouches for is taken in memory, at most 16 MiB, never
	 * spooled to disk. */
	{ "GET", "/v1/sandboxes/{}/files/signed", control_sandbox_signed, true, false, NONE, false },
	{ "PUT", "/v1/sandboxes/{}/files/signed", control_sandbox_signed, true, false, DATA, false },
	{ "GET", "/v1/sandboxes/{}/ports/{}/**", control_sandbox_port, false, false, STREAM, false },
	{ "HEAD", "/v1/sandboxes/{}/ports/{}/**", control_sandbox_port, false, false, STREAM, false },
	{ "POST", "/v1/sandboxes/{}/ports/{}/**", control_sandbox_port, false, false, STREAM, false },
	{ "PUT", "/v1/sandboxes/{}/ports/{}/**", control_sandbox_port, false, false, STREAM, false },
	{ "PATCH", "/v1/sandboxes/{}/ports/{}/**", control_sandbox_port, false, false, STREAM, false },
	{ "DELETE", "/v1/sandboxes/{}/ports/{}/**", control_sandbox_port, false, false, STREAM, false },
	{ "OPTIONS", "/v1/sandboxes/{}/ports/{}/**", control_sandbox_port, false, false, STREAM, false },
	{ "GET", "/v1/templates", control_templates, false, false, NONE, false },
	{ "GET", "/v1/templates/{}", control_templates, false, false, NONE, false },
	{ "POST", "/v1/templates", control_template_bake, false, false, CTRL, true },
	{ "GET", "/v1/hosts", control_hosts_list, false, false, NONE, true },
	{ "POST", "/v1/hosts/{}/drain", control_host_drain, false, false, CTRL, true },
	{ "DELETE", "/v1/hosts/{}", control_host_remove, false, false, NONE, true },
	{ "POST", "/v1/fleet/hosts", control_fleet_register, true, false, CTRL, false },
	{ "POST", "/v1/fleet/hosts/{}/heartbeat", control_fleet_heartbeat, true, false, CTRL,
	  false },
};
#undef NONE
#undef CTRL
#undef DATA
#undef CALL
#undef RELAY

const size_t control_route_count = sizeof(control_routes) / sizeof(control_routes[0]);
