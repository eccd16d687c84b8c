/* The guest's process table: every command a sandbox ran lately (an
 * exec, streaming or not, a PTY command), by its pid in the guest.
 *   GET  /v1/sandboxes/{id}/processes                    the table
 *   GET  /v1/sandboxes/{id}/processes/{pid}/stream       its output as
 *        NDJSON (exec's events), ?from=start|now&encoding=text|base64
 *   POST /v1/sandboxes/{id}/processes/{pid}/stdin        {"data"|"data_b64", "eof"}
 *   POST /v1/sandboxes/{id}/processes/{pid}/signal       {"signal": "TERM"|15}
 *   POST /v1/sandboxes/{id}/processes/{pid}/resize       {"rows", "cols"}
 *   POST /v1/sandboxes/{id}/processes/{pid}/wait         {"timeout_s"}
 * A pid not in the table is a 404. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/validate.h"
#include "ops/processes.h"
#include "timeutil.h"

static bool check_pid(struct api_req *r, uint32_t *pid, enum MHD_Result *res)
{
	const char *s = r->params[1];
	/* Digits only: strtol alone would take " 5" or "+5". */
	size_t n = strspn(s, "0123456789");
	long v = n && n <= 7 && !s[n] ? strtol(s, NULL, 10) : 0;
	if (v > 1 && v <= 4194304) {
		*pid = (uint32_t)v;
		return true;
	}
	*res = api_reply_fail(r, ERR_INVALID, "\"%.32s\" is not a pid", s);
	return false;
}

static json_t *proc_json(const struct agent_proc *p)
{
	char started[40], whole[32];
	time_format_rfc3339((int64_t)(p->start_ns / 1000000000ull), whole);
	/* With milliseconds: commands started in the same second keep their order. */
	snprintf(started, sizeof(started), "%.19s.%03uZ", whole,
		 (unsigned)(p->start_ns / 1000000ull % 1000));
	json_t *o = json_pack("{s:I,s:s?,s:s,s:b,s:b,s:s,s:I,s:I,s:b}", "pid", (json_int_t)p->pid,
			      "tag", p->tag[0] ? p->tag : NULL, "cmd", p->cmd ? p->cmd : "", "pty",
			      p->pty, "running", p->running, "started_at", started,
			      "buffered_bytes", (json_int_t)p->buffered, "dropped_bytes",
			      (json_int_t)p->dropped, "stdin_open", p->stdin_open);
	if (!o)
		return json_object();
	if (!p->running) {
		json_object_set_new(o, "exit_code", json_integer(p->exit_code));
		json_object_set_new(o, "timed_out", json_boolean(p->timed_out));
		json_object_set_new(o, "duration_ms", json_real((double)p->duration_us / 1000.0));
		if (p->signal)
			json_object_set_new(o, "signal", json_integer(p->signal));
	}
	return o;
}

enum MHD_Result api_process_list(struct api_req *r)
{
	struct agent_proc *v = NULL;
	size_t n = 0;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (sandbox_process_list(api_host(r), r->params[0], &v, &n, &err) < 0)
		return api_reply_error(r, err);
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, proc_json(&v[i]));
	agent_procs_free(v, n);
	return api_reply_json(r, MHD_HTTP_OK, json_pack("{s:o}", "processes", arr));
}

/* The stream's status line goes out before the guest is asked: a pid
 * that is not there must be found out first, for its 404. */
static int process_exists(struct api_req *r, uint32_t pid, struct thaw_err **err)
{
	struct agent_proc *v = NULL;
	size_t n = 0;
	if (sandbox_process_list(api_host(r), r->params[0], &v, &n, err) < 0)
		return -1;
	bool found = false;
	for (size_t i = 0; i < n && !found; i++)
		found = v[i].pid == pid;
	agent_procs_free(v, n);
	if (!found)
		return err_set(err, ERR_NOT_FOUND, "no process %u in sandbox %s", pid,
			       r->params[0]);
	return 0;
}

enum MHD_Result api_process_stream(struct api_req *r)
{
	enum MHD_Result res;
	uint32_t pid;
	char from[8] = "start", enc[8] = "text";
	if (!check_pid(r, &pid, &res) || api_query(r, "from", from, sizeof(from), &res) < 0 ||
	    api_query(r, "encoding", enc, sizeof(enc), &res) < 0)
		return res;
	if (strcmp(from, "start") != 0 && strcmp(from, "now") != 0)
		return api_reply_fail(r, ERR_INVALID, "from must be \"start\" or \"now\"");
	if (strcmp(enc, "text") != 0 && strcmp(enc, "base64") != 0)
		return api_reply_fail(r, ERR_INVALID, "encoding must be \"text\" or \"base64\"");
	_cleanup_err_ struct thaw_err *err = NULL;
	if (process_exists(r, pid, &err) < 0)
		return api_reply_error(r, err);
	return api_attach_stream(r, pid, strcmp(from, "start") == 0, strcmp(enc, "base64") == 0);
}

/* The body of a POST on a process, and its pid. */
static json_t *proc_body(struct api_req *r, uint32_t *pid, enum MHD_Result *res)
{
	if (!check_pid(r, pid, res))
		return NULL;
	return api_sandbox_body(r, true, res);
}

enum MHD_Result api_process_stdin(struct api_req *r)
{
	enum MHD_Result res;
	uint32_t pid;
	json_t *body = proc_body(r, &pid, &res);
	if (!body)
		return res;
	struct proc_stdin_params p;
	_cleanup_err_ struct thaw_err *err = NULL;
	int rc = validate_proc_stdin(body, &p, &err);
	json_decref(body);
	if (rc == 0)
		rc = sandbox_process_stdin(api_host(r), r->params[0], pid, p.data.data, p.data.len,
					   p.eof, &err);
	size_t len = p.data.len;
	buf_free(&p.data);
	if (rc < 0)
		return api_reply_error(r, err);
	return api_reply_json(r, MHD_HTTP_OK,
			      json_pack("{s:I,s:I,s:b}", "pid", (json_int_t)pid, "bytes",
					(json_int_t)len, "eof", p.eof));
}

enum MHD_Result api_process_signal(struct api_req *r)
{
	enum MHD_Result res;
	uint32_t pid;
	json_t *body = proc_body(r, &pid, &res);
	if (!body)
		return res;
	int signo = 0;
	_cleanup_err_ struct thaw_err *err = NULL;
	int rc = validate_signal(body, &signo, &err);
	json_decref(body);
	if (rc == 0)
		rc = sandbox_process_signal(api_host(r), r->params[0], pid, signo, &err);
	if (rc < 0)
		return api_reply_error(r, err);
	return api_reply_json(r, MHD_HTTP_OK,
			      json_pack("{s:I,s:i}", "pid", (json_int_t)pid, "signal", signo));
}

enum MHD_Result api_process_resize(struct api_req *r)
{
	enum MHD_Result res;
	uint32_t pid, rows, cols;
	json_t *body = proc_body(r, &pid, &res);
	if (!body)
		return res;
	_cleanup_err_ struct thaw_err *err = NULL;
	int rc = validate_resize(body, &rows, &cols, &err);
	json_decref(body);
	if (rc == 0)
		rc = sandbox_process_resize(api_host(r), r->params[0], pid, rows, cols, &err);
	if (rc < 0)
		return api_reply_error(r, err);
	return api_reply_json(
		r, MHD_HTTP_OK,
		json_pack("{s:I,s:i,s:i}", "pid", (json_int_t)pid, "rows", rows, "cols", cols));
}

enum MHD_Result api_process_wait(struct api_req *r)
{
	enum MHD_Result res;
	uint32_t pid, wait_ms;
	json_t *body = proc_body(r, &pid, &res);
	if (!body)
		return res;
	_cleanup_err_ struct thaw_err *err = NULL;
	int rc = validate_wait(body, &wait_ms, &err);
	json_decref(body);
	bool exited = false;
	struct agent_exec_result out;
	if (rc == 0)
		rc = sandbox_process_wait(api_host(r), r->params[0], pid, wait_ms, &exited, &out,
					  &err);
	if (rc < 0)
		return api_reply_error(r, err);
	if (!exited)
		return api_reply_json(r, MHD_HTTP_OK,
				      json_pack("{s:I,s:b,s:b}", "pid", (json_int_t)pid, "running",
						1, "wait_timed_out", 1));
	json_t *o = json_pack("{s:I,s:b,s:b,s:i,s:b,s:f}", "pid", (json_int_t)pid, "running", 0,
			      "wait_timed_out", 0, "exit_code", out.exit_code, "timed_out",
			      out.timed_out, "duration_ms", (double)out.duration_us / 1000.0);
	if (out.signal)
		json_object_set_new(o, "signal", json_integer(out.signal));
	agent_exec_result_free(&out);
	return api_reply_json(r, MHD_HTTP_OK, o);
}
