/* The E2B front's routes for envd's process.Process service. Columns as in
 * src/thawd/api/routes.c: method, pattern, handler, public, body_to_file,
 * max_body, admin only. Public: the data plane's X-Access-Token, checked
 * by e2b_sandbox_of, stands for the API key. */
#include "e2b/e2b.h"
#include "e2b/process.h"

/* Start carries a command (cmd, args, envs: one agent frame, 1 MiB at
 * most); SendInput up to PROC_STDIN_MAX bytes, in base64. */
#define START_BODY (2u << 20)
#define INPUT_BODY (1u << 20)

const struct api_route e2b_process_routes[] = {
	{ "POST", "/process.Process/Start", e2b_process_start, true, false, START_BODY, false },
	{ "POST", "/process.Process/Connect", e2b_process_connect, true, false, API_CONTROL_BODY,
	  false },
	{ "POST", "/process.Process/List", e2b_process_list, true, false, API_CONTROL_BODY, false },
	{ "POST", "/process.Process/SendInput", e2b_process_send_input, true, false, INPUT_BODY,
	  false },
	{ "POST", "/process.Process/SendSignal", e2b_process_send_signal, true, false,
	  API_CONTROL_BODY, false },
	{ "POST", "/process.Process/Update", e2b_process_update, true, false, API_CONTROL_BODY,
	  false },
	{ "POST", "/process.Process/CloseStdin", e2b_process_close_stdin, true, false,
	  API_CONTROL_BODY, false },
};
const size_t e2b_process_route_count = sizeof(e2b_process_routes) / sizeof(e2b_process_routes[0]);
