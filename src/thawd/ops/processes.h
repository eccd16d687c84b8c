/* The guest's process table (thaw-agent/3): every command a sandbox ran
 * lately, by pid, whatever connection started it. Attaching to one's
 * output is sandbox_exec in attach mode (agent.h). A paused sandbox is
 * resumed first only when its own auto_resume says so. */
#ifndef THAW_PROCESSES_H
#define THAW_PROCESSES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/host.h"
#include "err.h"
#include "guestconn/agent.h"

/* *out: n entries, free with agent_procs_free. */
int sandbox_process_list(struct host *h, const char *id, struct agent_proc **out, size_t *n,
			 struct thaw_err **err);
/* signo to pid's process group. */
int sandbox_process_signal(struct host *h, const char *id, uint32_t pid, int signo,
			   struct thaw_err **err);
/* data for pid's stdin, then EOF when eof. */
int sandbox_process_stdin(struct host *h, const char *id, uint32_t pid, const uint8_t *data,
			  size_t len, bool eof, struct thaw_err **err);
int sandbox_process_resize(struct host *h, const char *id, uint32_t pid, uint32_t rows,
			   uint32_t cols, struct thaw_err **err);
/* Waits up to wait_ms for pid to exit: *exited and res (its status; free
 * with agent_exec_result_free) when it did, *exited false when it still
 * runs at the deadline. */
int sandbox_process_wait(struct host *h, const char *id, uint32_t pid, uint32_t wait_ms,
			 bool *exited, struct agent_exec_result *res, struct thaw_err **err);

#endif
