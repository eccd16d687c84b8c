/* process.Process's unary calls: List, SendInput, SendSignal, Update
 * (a terminal's size), CloseStdin. Each names a process by pid or tag
 * (a ProcessSelector) and acts on the guest's process table. */
#include "e2b/process.h"

#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "ops/processes.h"

int e2b_process_find(struct host *h, const char *id, const struct e2b_selector *sel,
		     struct e2b_proc_found *out, struct thaw_err **err)
{
	struct agent_proc *v = NULL;
	size_t n = 0;
	if (sandbox_process_list(h, id, &v, &n, err) < 0)
		return -1;
	const struct agent_proc *best = NULL;
	for (size_t i = 0; i < n; i++) {
		const struct agent_proc *p = &v[i];
		if (sel->pid ? p->pid != sel->pid : strcmp(p->tag, sel->tag) != 0)
			continue;
		/* Tags may repeat: a running one first, then the newest. */
		if (!best || (p->running && !best->running) ||
		    (p->running == best->running && p->start_ns > best->start_ns))
			best = p;
	}
	if (best)
		*out = (struct e2b_proc_found){ best->pid, best->pty, best->running };
	agent_procs_free(v, n);
	if (!best && sel->pid)
		return err_set(err, ERR_NOT_FOUND, "process with pid %u not found", sel->pid);
	if (!best)
		return err_set(err, ERR_NOT_FOUND, "process with tag \"%s\" not found", sel->tag);
	return 0;
}

/* The common start of a call on one process: the sandbox, the request
 * (fields beside "process": extra), and the pid it names. NULL after
 * replying. */
static json_t *proc_call(struct api_req *r, char id[SANDBOX_ID_LEN + 1], const char *const *extra,
			 uint32_t *pid, enum MHD_Result *res)
{
	if (!e2b_sandbox_of(r, E2B_ENVD_PORT, id, res))
		return NULL;
	json_t *msg = connect_unary_request(r, res);
	if (!msg)
		return NULL;
	struct e2b_selector sel;
	struct e2b_proc_found found;
	_cleanup_err_ struct thaw_err *err = NULL;
	int rc = e2b_proc_request(msg, extra, &sel, &err);
	/* A pid goes to the guest as it is (it answers for unknown ones); a
	 * tag is looked up. */
	if (rc == 0 && !sel.pid && e2b_process_find(api_host(r), id, &sel, &found, &err) == 0)
		sel.pid = found.pid;
	if (rc < 0 || !sel.pid) {
		json_decref(msg);
		*res = connect_reply_error(r, err);
		return NULL;
	}
	*pid = sel.pid;
	return msg;
}

static enum MHD_Result reply(struct api_req *r, int rc, const struct thaw_err *err)
{
	return rc < 0 ? connect_reply_error(r, err) : connect_reply(r, json_object());
}

enum MHD_Result e2b_process_list(struct api_req *r)
{
	char id[SANDBOX_ID_LEN + 1];
	enum MHD_Result res;
	if (!e2b_sandbox_of(r, E2B_ENVD_PORT, id, &res))
		return res;
	json_t *msg = connect_unary_request(r, &res);
	if (!msg)
		return res;
	size_t fields = json_object_size(msg);
	json_decref(msg);
	_cleanup_err_ struct thaw_err *err = NULL;
	if (fields) {
		err_set(&err, ERR_INVALID, "ListRequest has no fields");
		return connect_reply_error(r, err);
	}
	struct agent_proc *v = NULL;
	size_t n = 0;
	if (sandbox_process_list(api_host(r), id, &v, &n, &err) < 0)
		return connect_reply_error(r, err);
	/* envd lists what runs; thaw's table also keeps what ended lately. */
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		if (v[i].running)
			json_array_append_new(arr, e2b_process_info(&v[i]));
	agent_procs_free(v, n);
	return connect_reply(r, json_pack("{s:o}", "processes", arr));
}

enum MHD_Result e2b_process_send_input(struct api_req *r)
{
	static const char *const extra[] = { "input", NULL };
	char id[SANDBOX_ID_LEN + 1];
	uint32_t pid;
	enum MHD_Result res;
	json_t *msg = proc_call(r, id, extra, &pid, &res);
	if (!msg)
		return res;
	_cleanup_buf_ struct buf data = { 0 };
	_cleanup_err_ struct thaw_err *err = NULL;
	int rc = e2b_input_parse(json_object_get(msg, "input"), &data, &err);
	json_decref(msg);
	/* A terminal's input is its stdin in the guest: both go the same way. */
	if (rc == 0 && data.len)
		rc = sandbox_process_stdin(api_host(r), id, pid, data.data, data.len, false, &err);
	return reply(r, rc, err);
}

/* A signal to a process that has ended: envd no longer knows it, and the
 * SDK's kill() says false for not_found. */
static void exited_is_not_found(struct api_req *r, const char *id, uint32_t pid,
				struct thaw_err **err)
{
	struct e2b_selector sel = { .pid = pid };
	struct e2b_proc_found found;
	if (!*err || (*err)->code != ERR_CONFLICT ||
	    e2b_process_find(api_host(r), id, &sel, &found, NULL) < 0 || found.running)
		return;
	err_free(*err);
	*err = NULL;
	err_set(err, ERR_NOT_FOUND, "process with pid %u has exited", pid);
}

enum MHD_Result e2b_process_send_signal(struct api_req *r)
{
	static const char *const extra[] = { "signal", NULL };
	char id[SANDBOX_ID_LEN + 1];
	uint32_t pid;
	enum MHD_Result res;
	json_t *msg = proc_call(r, id, extra, &pid, &res);
	if (!msg)
		return res;
	int signo = 0;
	_cleanup_err_ struct thaw_err *err = NULL;
	int rc = e2b_signal_parse(json_object_get(msg, "signal"), &signo, &err);
	json_decref(msg);
	if (rc == 0)
		rc = sandbox_process_signal(api_host(r), id, pid, signo, &err);
	if (rc < 0)
		exited_is_not_found(r, id, pid, &err);
	return reply(r, rc, err);
}

enum MHD_Result e2b_process_update(struct api_req *r)
{
	static const char *const extra[] = { "pty", NULL };
	char id[SANDBOX_ID_LEN + 1];
	uint32_t pid, rows, cols;
	enum MHD_Result res;
	json_t *msg = proc_call(r, id, extra, &pid, &res);
	if (!msg)
		return res;
	json_t *pty = json_object_get(msg, "pty");
	_cleanup_err_ struct thaw_err *err = NULL;
	/* Without pty there is nothing to change (envd does nothing either). */
	int rc = pty ? e2b_pty_size_parse(pty, &rows, &cols, &err) : 0;
	if (rc == 0 && pty)
		rc = sandbox_process_resize(api_host(r), id, pid, rows, cols, &err);
	json_decref(msg);
	return reply(r, rc, err);
}

enum MHD_Result e2b_process_close_stdin(struct api_req *r)
{
	char id[SANDBOX_ID_LEN + 1];
	uint32_t pid;
	enum MHD_Result res;
	json_t *msg = proc_call(r, id, NULL, &pid, &res);
	if (!msg)
		return res;
	json_decref(msg);
	_cleanup_err_ struct thaw_err *err = NULL;
	int rc = sandbox_process_stdin(api_host(r), id, pid, NULL, 0, true, &err);
	return reply(r, rc, err);
}
