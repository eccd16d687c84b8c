#include <stdio.h>
#include <string.h>

#include "api/api.h"

/* Columns: method, pattern, handler, public (no key), body_to_file,
 * max_body, admin only. */
#define NONE API_NO_BODY
#define CTRL API_CONTROL_BODY
#define DATA API_MAX_BODY
#define STREAM API_STREAM_BODY
const struct api_route api_routes[] = {
	{ "GET", "/healthz", api_health, true, false, NONE, false },
	{ "GET", "/openapi.json", api_openapi, true, false, NONE, false },
	/* Static files only (httpapi/console.c); the page calls the API
	 * below with its user's key. */
	{ "GET", "/console/**", api_console, true, false, NONE, false },
	{ "GET", "/v1/info", api_info, false, false, NONE, false },
	/* Prometheus text (docs/metrics.md); also on --metrics-listen, keyless. */
	{ "GET", "/metrics", api_metrics_reply, false, false, NONE, true },
	{ "GET", "/v1/debug/failpoint", api_failpoint_get, false, false, NONE, true },
	{ "POST", "/v1/debug/failpoint", api_failpoint_arm, false, false, CTRL, true },
	{ "POST", "/v1/object-store/gc", api_store_gc, false, false, CTRL, true },
	{ "GET", "/v1/sandboxes", api_sandbox_list, false, false, NONE, false },
	{ "POST", "/v1/sandboxes", api_sandbox_create, false, false, CTRL, false },
	{ "GET", "/v1/sandboxes/{}", api_sandbox_get, false, false, NONE, false },
	{ "DELETE", "/v1/sandboxes/{}", api_sandbox_delete, false, false, NONE, false },
	{ "PATCH", "/v1/sandboxes/{}", api_sandbox_patch, false, false, CTRL, false },
	{ "POST", "/v1/sandboxes/{}/network", api_sandbox_network, false, false, CTRL, false },
	{ "POST", "/v1/sandboxes/{}/exec", api_sandbox_exec, false, false, DATA, false },
	{ "POST", "/v1/sandboxes/{}/run_code", api_sandbox_run_code, false, false, DATA, false },
	{ "POST", "/v1/sandboxes/{}/contexts", api_context_create, false, false, CTRL, false },
	{ "GET", "/v1/sandboxes/{}/contexts", api_context_list, false, false, NONE, false },
	{ "DELETE", "/v1/sandboxes/{}/contexts/{}", api_context_delete, false, false, NONE, false },
	{ "POST", "/v1/sandboxes/{}/contexts/{}/restart", api_context_restart, false, false, CTRL,
	  false },
	{ "POST", "/v1/sandboxes/{}/contexts/{}/interrupt", api_context_interrupt, false, false,
	  CTRL, false },
	{ "GET", "/v1/sandboxes/{}/metrics", api_sandbox_metrics, false, false, NONE, false },
	{ "GET", "/v1/sandboxes/{}/shell", api_sandbox_shell, false, false, NONE, false },
	{ "GET", "/v1/sandboxes/{}/commands/{}", api_command_get, false, false, NONE, false },
	{ "POST", "/v1/sandboxes/{}/commands/{}/kill", api_command_kill, false, false, CTRL, false },
	{ "GET", "/v1/sandboxes/{}/processes", api_process_list, false, false, NONE, false },
	{ "GET", "/v1/sandboxes/{}/processes/{}/stream", api_process_stream, false, false, NONE,
	  false },
	{ "POST", "/v1/sandboxes/{}/processes/{}/stdin", api_process_stdin, false, false, DATA,
	  false },
	{ "POST", "/v1/sandboxes/{}/processes/{}/signal", api_process_signal, false, false, CTRL,
	  false },
	{ "POST", "/v1/sandboxes/{}/processes/{}/resize", api_process_resize, false, false, CTRL,
	  false },
	{ "POST", "/v1/sandboxes/{}/processes/{}/wait", api_process_wait, false, false, CTRL,
	  false },
	{ "POST", "/v1/sandboxes/{}/fork", api_sandbox_fork, false, false, CTRL, false },
	{ "POST", "/v1/sandboxes/{}/pause", api_sandbox_pause, false, false, CTRL, false },
	{ "POST", "/v1/sandboxes/{}/resume", api_sandbox_resume, false, false, CTRL, false },
	/* Issue 17: a failed database sandbox, booted on its kept disk. */
	{ "POST", "/v1/sandboxes/{}/recover", api_sandbox_recover, false, false, CTRL, false },
	/* Another host's paused sandbox, from its image in the object store. */
	{ "POST", "/v1/sandboxes/{}/adopt", api_sandbox_adopt, false, false, CTRL, true },
	/* Its image into the object store, for fork children on other hosts. */
	{ "POST", "/v1/sandboxes/{}/export", api_sandbox_export, false, false, CTRL, true },
	{ "POST", "/v1/sandboxes/{}/snapshot", api_sandbox_snapshot, false, false, CTRL, false },
	{ "POST", "/v1/sandboxes/{}/keepalive", api_sandbox_keepalive, false, false, CTRL, false },
	{ "GET", "/v1/sandboxes/{}/files", api_file_read, false, false, NONE, false },
	{ "PUT", "/v1/sandboxes/{}/files", api_file_write, false, true, NONE, false },
	{ "DELETE", "/v1/sandboxes/{}/files", api_file_remove, false, false, NONE, false },
	{ "GET", "/v1/sandboxes/{}/files/stat", api_file_stat, false, false, NONE, false },
	{ "GET", "/v1/sandboxes/{}/files/list", api_file_list, false, false, NONE, false },
	{ "POST", "/v1/sandboxes/{}/files/mkdir", api_file_mkdir, false, false, CTRL, false },
	{ "POST", "/v1/sandboxes/{}/files/move", api_file_move, false, false, CTRL, false },
	{ "POST", "/v1/sandboxes/{}/files/batch", api_file_batch, false, false, DATA, false },
	{ "GET", "/v1/sandboxes/{}/files/watch", api_file_watch, false, false, NONE, false },
	{ "POST", "/v1/sandboxes/{}/files/sign", api_file_sign, false, false, CTRL, false },
	/* Public: a signed URL is its own authority (file_sign.c); these two
	 * are the only routes under a sandbox that take no key. */
	{ "GET", "/v1/sandboxes/{}/files/signed", api_file_signed_read, true, false, NONE, false },
	{ "PUT", "/v1/sandboxes/{}/files/signed", api_file_signed_write, true, true, NONE, false },
	{ "GET", "/v1/sandboxes/{}/ports/{}/**", api_sandbox_port, false, false, STREAM, false },
	{ "HEAD", "/v1/sandboxes/{}/ports/{}/**", api_sandbox_port, false, false, STREAM, false },
	{ "POST", "/v1/sandboxes/{}/ports/{}/**", api_sandbox_port, false, false, STREAM, false },
	{ "PUT", "/v1/sandboxes/{}/ports/{}/**", api_sandbox_port, false, false, STREAM, false },
	{ "PATCH", "/v1/sandboxes/{}/ports/{}/**", api_sandbox_port, false, false, STREAM, false },
	{ "DELETE", "/v1/sandboxes/{}/ports/{}/**", api_sandbox_port, false, false, STREAM, false },
	{ "OPTIONS", "/v1/sandboxes/{}/ports/{}/**", api_sandbox_port, false, false, STREAM,
	  false },
	/* Issue 17, tcp part: raw TCP to a sandbox's port (api/tunnel.c) and
	 * its published host ports (api/published.c). */
	{ "GET", "/v1/sandboxes/{}/tunnel/{}", api_sandbox_tunnel, false, false, NONE, false },
	{ "POST", "/v1/sandboxes/{}/published", api_published_add, false, false, CTRL, false },
	{ "GET", "/v1/sandboxes/{}/published", api_published_list, false, false, NONE, false },
	{ "DELETE", "/v1/sandboxes/{}/published/{}", api_published_delete, false, false, NONE,
	  false },
	{ "GET", "/v1/templates", api_template_list, false, false, NONE, false },
	{ "POST", "/v1/templates", api_template_bake, false, false, CTRL, true },
	{ "GET", "/v1/templates/{}", api_template_get, false, false, NONE, false },
	/* A user key may delete its own templates (templates.c). */
	{ "DELETE", "/v1/templates/{}", api_template_delete, false, false, NONE, false },
};
#undef NONE
#undef CTRL
#undef DATA
#undef STREAM

const size_t api_route_count = sizeof(api_routes) / sizeof(api_routes[0]);
