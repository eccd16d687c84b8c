#include "ops/commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ops/files.h"
#include "ops/ops.h"
#include "proto.h"

#define BG_TIMEOUT_MS 30000

/* Runs one bg-* built-in; its stdout on success. */
static int bg_run(struct host *h, const char *id, const char *const *argv, const char *cwd,
		  const char *user, bool resume, struct agent_exec_result *res,
		  struct thaw_err **err)
{
	struct agent_exec_req req = { .argv = argv,
				      .cwd = cwd,
				      .user = user,
				      .timeout_ms = BG_TIMEOUT_MS,
				      .max_output = 4096 };
	if (sandbox_exec(h, id, &req, resume, res, err) < 0)
		return -1;
	if (builtin_verdict(res, argv[0], err) == 0)
		return 0;
	agent_exec_result_free(res);
	return -1;
}

int sandbox_command_start(struct host *h, const char *id, char *const *argv, char *const *env,
			  const char *cwd, const char *user, bool auto_resume, long *pid,
			  struct thaw_err **err)
{
	/* thaw:bg-start [/usr/bin/env K=V...] CMD... */
	size_t n = 0, nargs = 0, nenv = 0;
	while (argv[nargs])
		nargs++;
	while (env && env[nenv])
		nenv++;
	const char **args = xcalloc(nargs + nenv + 3, sizeof(*args));
	args[n++] = FILE_CMD_PREFIX "bg-start";
	if (nenv)
		args[n++] = "/usr/bin/env";
	for (size_t i = 0; i < nenv; i++)
		args[n++] = env[i];
	for (size_t i = 0; i < nargs; i++)
		args[n++] = argv[i];
	struct agent_exec_result res;
	int rc = bg_run(h, id, args, cwd, user, auto_resume, &res, err);
	free(args);
	if (rc < 0)
		return -1;
	long started = strtol(buf_cstr(&res.out), NULL, 10);
	agent_exec_result_free(&res);
	if (started <= 1)
		return err_set(err, ERR_GUEST, "the guest did not say which pid it started");
	*pid = started;
	return 0;
}

/* "running", "exited N" or "killed SIG", from the guest. */
static int parse_status(const char *text, long pid, struct command_status *out)
{
	int code = 0, sig = 0;
	*out = (struct command_status){ .pid = pid };
	if (strncmp(text, "running", 7) == 0)
		out->running = true;
	else if (sscanf(text, "exited %d", &code) == 1)
		out->exit_code = code;
	else if (sscanf(text, "killed %d", &sig) == 1 && sig > 0 && sig < 128)
		out->exit_code = 128 + sig, out->signal = sig;
	else
		return -1;
	return 0;
}

int sandbox_command_status(struct host *h, const char *id, long pid, struct command_status *out,
			   struct thaw_err **err)
{
	char p[24];
	snprintf(p, sizeof(p), "%ld", pid);
	const char *argv[] = { FILE_CMD_PREFIX "bg-status", p, NULL };
	struct agent_exec_result res;
	if (bg_run(h, id, argv, NULL, NULL, false, &res, err) < 0)
		return -1;
	int rc = parse_status(buf_cstr(&res.out), pid, out);
	agent_exec_result_free(&res);
	if (rc < 0)
		return err_set(err, ERR_GUEST, "the guest gave a malformed command status");
	return 0;
}

int sandbox_command_kill(struct host *h, const char *id, long pid, struct thaw_err **err)
{
	char p[24];
	snprintf(p, sizeof(p), "%ld", pid);
	const char *argv[] = { FILE_CMD_PREFIX "bg-kill", p, NULL };
	struct agent_exec_result res;
	if (bg_run(h, id, argv, NULL, NULL, false, &res, err) < 0)
		return -1;
	agent_exec_result_free(&res);
	return 0;
}
