/* envd's process.Process service on the E2B front (routes_process.c):
 * commands and terminals in a sandbox, mapped onto the guest's process
 * table (ops/processes.h) and exec (ops/ops.h). A command outlives the
 * stream that started it; Connect follows it again by pid or tag. */
#ifndef THAW_E2B_PROCESS_H
#define THAW_E2B_PROCESS_H

#include <stdbool.h>
#include <stdint.h>

#include "e2b/e2b.h"
#include "e2b/process_msg.h"

/* process_stream.c: the server-streaming calls. */
enum MHD_Result e2b_process_start(struct api_req *r);
enum MHD_Result e2b_process_connect(struct api_req *r);

/* process.c: the unary calls. */
enum MHD_Result e2b_process_list(struct api_req *r);
enum MHD_Result e2b_process_send_input(struct api_req *r);
enum MHD_Result e2b_process_send_signal(struct api_req *r);
enum MHD_Result e2b_process_update(struct api_req *r);
enum MHD_Result e2b_process_close_stdin(struct api_req *r);

/* The table's entry that sel names (a tag: its newest running holder,
 * else its newest one). ERR_NOT_FOUND when none. */
struct e2b_proc_found {
	uint32_t pid;
	bool pty, running;
};
struct host;
int e2b_process_find(struct host *h, const char *id, const struct e2b_selector *sel,
		     struct e2b_proc_found *out, struct thaw_err **err);

#endif
