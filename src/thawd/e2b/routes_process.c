/* The E2B front's routes for envd's process.Process service. Columns as in
 * src/thawd/api/routes.c: method, pattern, handler, public, body_to_file,
 * max_body, admin only. Not public: the data plane's X-Access-Token acts
 * as the sandbox owner's key (e2b_find_key), and e2b_sandbox_of checks
 * it against the sandbox each call names. */
#include "e2b/e2b.h"
#include "e2b/process.h"

/* Start carries a command (cmd, args, envs: one agent frame, 1 MiB at
 * most); SendInput up to PROC_STDIN_MAX bytes, in base64. */
#define START_BODY (2u << 20)
#define INPUT_BODY (1u << 20)

const struct api_route e2b_process_routes[] = {
	{ "POST", "/process.Process/Start", e2b_process_start, false, false, START_BODY, false },
	{ "POST", "/process.Process/Connect", e2b_process_connect, false, false, API_CONTROL_BODY,
	  false },
	{ "POST", "/process.Process/List", e2b_process_list, false, false, API_CONTROL_BODY,
	  false },
	{ "POST", "/process.Process/SendInput", e2b_process_send_input, false, false, INPUT_BODY,
	  false },
	{ "POST", "/process.Process/SendSignal", e2b_process_send_signal, false, false,
	  API_CONTROL_BODY, false },
	{ "POST", "/process.Process/Update", e2b_process_update, false, false, API_CONTROL_BODY,
	  false },
	{ "POST", "/process.Process/CloseStdin", e2b_process_close_stdin, false, false,
	  API_CONTROL_BODY, false },
};
const size_t e2b_process_route_count = sizeof(e2b_process_routes) / sizeof(e2b_process_routes[0]);
