/* Background commands: started by an exec with "background": true, they
 * outlive the request and the client. The guest agent runs them through
 * its built-ins (proto.h, thaw:bg-*) and keeps their output in files
 * (BG_DIR/<pid>/stdout and stderr), which the files API reads. */
#ifndef THAW_COMMANDS_H
#define THAW_COMMANDS_H

#include <stdbool.h>

#include "core/host.h"
#include "err.h"

struct command_status {
	long pid;
	bool running;
	int exit_code; /* once it ended: its status, or 128 + signal */
	int signal;    /* 0 unless a signal ended it */
};

/* Starts argv with env ("K=V", NULL-terminated, may be NULL) in cwd (NULL:
 * the agent's, or user's home), as user (NULL: root); *pid is its process
 * id in the guest. */
int sandbox_command_start(struct host *h, const char *id, char *const *argv, char *const *env,
			  const char *cwd, const char *user, bool auto_resume, long *pid,
			  struct thaw_err **err);
int sandbox_command_status(struct host *h, const char *id, long pid, struct command_status *out,
			   struct thaw_err **err);
/* SIGKILL to its process group. */
int sandbox_command_kill(struct host *h, const char *id, long pid, struct thaw_err **err);

#endif
