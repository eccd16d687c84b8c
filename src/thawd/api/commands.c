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
#include "ops/commands.h"
#include "proto.h"

enum MHD_Result api_exec_background(struct api_req *r, struct exec_params *p)
{
	long pid = 0;
	_cleanup_err_ struct thaw_err *err = NULL;
	int rc = sandbox_command_start(api_host(r), r->params[0], p->argv, p->env, p->cwd, p->user,
				       p->auto_resume, &pid, &err);
	exec_params_free(p);
	if (rc < 0)
		return api_reply_error(r, err);
	char out[64], errp[64];
	snprintf(out, sizeof(out), "%s/%ld/stdout", BG_DIR, pid);
	snprintf(errp, sizeof(errp), "%s/%ld/stderr", BG_DIR, pid);
	return api_reply_json(r, MHD_HTTP_ACCEPTED,
			      json_pack("{s:I,s:b,s:s,s:s}", "pid", (json_int_t)pid, "running", 1,
					"stdout_path", out, "stderr_path", errp));
}

static bool check_pid(struct api_req *r, long *pid, enum MHD_Result *res)
{
	const char *s = r->params[1];
	/* Digits only: strtol alone would take " 5" or "+5". */
	size_t n = strspn(s, "0123456789");
	long v = n && n <= 7 && !s[n] ? strtol(s, NULL, 10) : 0;
	if (v > 1 && v <= 4194304) {
		*pid = v;
		return true;
	}
	*res = api_reply_fail(r, ERR_INVALID, "\"%.32s\" is not a pid", s);
	return false;
}

enum MHD_Result api_command_get(struct api_req *r)
{
	enum MHD_Result mres;
	long pid;
	if (!api_check_sandbox_id(r, &mres) || !check_pid(r, &pid, &mres))
		return mres;
	struct command_status st;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (sandbox_command_status(api_host(r), r->params[0], pid, &st, &err) < 0)
		return api_reply_error(r, err);
	json_t *o = json_pack("{s:I,s:b}", "pid", (json_int_t)st.pid, "running", st.running);
	if (!st.running)
		json_object_set_new(o, "exit_code", json_integer(st.exit_code));
	if (st.signal)
		json_object_set_new(o, "signal", json_integer(st.signal));
	return api_reply_json(r, MHD_HTTP_OK, o);
}

enum MHD_Result api_command_kill(struct api_req *r)
{
	enum MHD_Result mres;
	long pid;
	if (!api_check_sandbox_id(r, &mres) || !check_pid(r, &pid, &mres))
		return mres;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (sandbox_command_kill(api_host(r), r->params[0], pid, &err) < 0)
		return api_reply_error(r, err);
	return api_reply_empty(r, MHD_HTTP_NO_CONTENT);
}
