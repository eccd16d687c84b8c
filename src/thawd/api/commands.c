/* Background commands: exec with "background": true starts a command
 * that outlives the request (and the client); then
 *   GET  /v1/sandboxes/{id}/commands/{pid}        running, or how it ended
 *   POST /v1/sandboxes/{id}/commands/{pid}/kill   SIGKILL to its group
 * Its output is in files in the guest (BG_DIR/<pid>/stdout and stderr),
 * read with the files API. The guest agent keeps them (proto.h, bg-*). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/validate.h"
#include "buf.h"
#include "cleanup.h"
#include "core/files.h"
#include "core/sandbox.h"
#include "proto.h"

#define BG_TIMEOUT_MS 30000

/* Runs one bg-* built-in; its stdout on success. */
static int bg_run(struct api_req *r, const char *const *argv, const char *cwd, bool resume,
		  struct agent_exec_result *res, struct thaw_err **err)
{
	struct agent_exec_req req = {
		.argv = argv, .cwd = cwd, .timeout_ms = BG_TIMEOUT_MS, .max_output = 4096
	};
	if (sandbox_exec(r->h, r->params[0], &req, resume, res, err) < 0)
		return -1;
	if (builtin_verdict(res, argv[0], err) == 0)
		return 0;
	agent_exec_result_free(res);
	return -1;
}

enum MHD_Result api_exec_background(struct api_req *r, struct exec_params *p)
{
	/* argv: thaw:bg-start [/usr/bin/env K=V...] CMD... */
	size_t n = 0, nargs = 0, nenv = 0;
	while (p->argv[nargs])
		nargs++;
	while (p->env && p->env[nenv])
		nenv++;
	const char **argv = xcalloc(nargs + nenv + 3, sizeof(*argv));
	argv[n++] = FILE_CMD_PREFIX "bg-start";
	if (nenv)
		argv[n++] = "/usr/bin/env";
	for (size_t i = 0; i < nenv; i++)
		argv[n++] = p->env[i];
	for (size_t i = 0; i < nargs; i++)
		argv[n++] = p->argv[i];
	struct agent_exec_result res;
	_cleanup_err_ struct thaw_err *err = NULL;
	int rc = bg_run(r, argv, p->cwd, p->auto_resume, &res, &err);
	free(argv);
	exec_params_free(p);
	if (rc < 0)
		return api_reply_error(r, err);
	long pid = strtol(buf_cstr(&res.out), NULL, 10);
	agent_exec_result_free(&res);
	if (pid <= 1)
		return api_reply_fail(r, ERR_GUEST, "the guest did not say which pid it started");
	char out[64], errp[64];
	snprintf(out, sizeof(out), "%s/%ld/stdout", BG_DIR, pid);
	snprintf(errp, sizeof(errp), "%s/%ld/stderr", BG_DIR, pid);
	return api_reply_json(r, MHD_HTTP_ACCEPTED,
			      json_pack("{s:I,s:b,s:s,s:s}", "pid", (json_int_t)pid, "running", 1,
					"stdout_path", out, "stderr_path", errp));
}

static bool check_pid(struct api_req *r, enum MHD_Result *res)
{
	const char *s = r->params[1];
	/* Digits only: strtol alone would take " 5" or "+5", and the text
	 * goes on to the guest as it is. */
	size_t n = strspn(s, "0123456789");
	long v = n && n <= 7 && !s[n] ? strtol(s, NULL, 10) : 0;
	if (v > 1 && v <= 4194304)
		return true;
	*res = api_reply_fail(r, ERR_INVALID, "\"%.32s\" is not a pid", s);
	return false;
}

enum MHD_Result api_command_get(struct api_req *r)
{
	enum MHD_Result mres;
	if (!api_check_sandbox_id(r, &mres) || !check_pid(r, &mres))
		return mres;
	const char *argv[] = { FILE_CMD_PREFIX "bg-status", r->params[1], NULL };
	struct agent_exec_result res;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (bg_run(r, argv, NULL, false, &res, &err) < 0)
		return api_reply_error(r, err);
	const char *text = buf_cstr(&res.out);
	long pid = strtol(r->params[1], NULL, 10);
	int code = 0, sig = 0;
	json_t *o;
	if (strncmp(text, "running", 7) == 0)
		o = json_pack("{s:I,s:b}", "pid", (json_int_t)pid, "running", 1);
	else if (sscanf(text, "exited %d", &code) == 1)
		o = json_pack("{s:I,s:b,s:i}", "pid", (json_int_t)pid, "running", 0, "exit_code",
			      code);
	else if (sscanf(text, "killed %d", &sig) == 1)
		o = json_pack("{s:I,s:b,s:i,s:i}", "pid", (json_int_t)pid, "running", 0,
			      "exit_code", 128 + sig, "signal", sig);
	else
		o = NULL;
	agent_exec_result_free(&res);
	if (!o)
		return api_reply_fail(r, ERR_GUEST, "the guest gave a malformed command status");
	return api_reply_json(r, MHD_HTTP_OK, o);
}

enum MHD_Result api_command_kill(struct api_req *r)
{
	enum MHD_Result mres;
	if (!api_check_sandbox_id(r, &mres) || !check_pid(r, &mres))
		return mres;
	const char *argv[] = { FILE_CMD_PREFIX "bg-kill", r->params[1], NULL };
	struct agent_exec_result res;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (bg_run(r, argv, NULL, false, &res, &err) < 0)
		return api_reply_error(r, err);
	agent_exec_result_free(&res);
	return api_reply_empty(r, MHD_HTTP_NO_CONTENT);
}
