#include "ops/processes.h"

#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

#define PROC_TIMEOUT_MS 10000

struct proc_call {
	uint32_t pid;
	int signo;
	const uint8_t *data;
	size_t len;
	bool eof;
	uint32_t rows, cols;
	struct agent_proc *list;
	size_t count;
};

static int list_on(struct agent_conn *c, void *ud, struct thaw_err **err)
{
	struct proc_call *x = ud;
	return agent_proc_list(c, PROC_TIMEOUT_MS, &x->list, &x->count, err);
}

int sandbox_process_list(struct host *h, const char *id, struct agent_proc **out, size_t *n,
			 struct thaw_err **err)
{
	struct proc_call x = { 0 };
	if (sandbox_agent_call(h, id, false, PROTO_PROCESS_TABLE, list_on, &x, err) < 0)
		return -1;
	*out = x.list;
	*n = x.count;
	return 0;
}

static int signal_on(struct agent_conn *c, void *ud, struct thaw_err **err)
{
	struct proc_call *x = ud;
	return agent_proc_signal(c, x->pid, x->signo, PROC_TIMEOUT_MS, err);
}

int sandbox_process_signal(struct host *h, const char *id, uint32_t pid, int signo,
			   struct thaw_err **err)
{
	struct proc_call x = { .pid = pid, .signo = signo };
	return sandbox_agent_call(h, id, false, PROTO_PROCESS_TABLE, signal_on, &x, err);
}

static int stdin_on(struct agent_conn *c, void *ud, struct thaw_err **err)
{
	struct proc_call *x = ud;
	return agent_proc_stdin(c, x->pid, x->data, x->len, x->eof, PROC_TIMEOUT_MS, err);
}

int sandbox_process_stdin(struct host *h, const char *id, uint32_t pid, const uint8_t *data,
			  size_t len, bool eof, struct thaw_err **err)
{
	struct proc_call x = { .pid = pid, .data = data, .len = len, .eof = eof };
	return sandbox_agent_call(h, id, false, PROTO_PROCESS_TABLE, stdin_on, &x, err);
}

static int resize_on(struct agent_conn *c, void *ud, struct thaw_err **err)
{
	struct proc_call *x = ud;
	return agent_proc_resize(c, x->pid, x->rows, x->cols, PROC_TIMEOUT_MS, err);
}

int sandbox_process_resize(struct host *h, const char *id, uint32_t pid, uint32_t rows,
			   uint32_t cols, struct thaw_err **err)
{
	struct proc_call x = { .pid = pid, .rows = rows, .cols = cols };
	return sandbox_agent_call(h, id, false, PROTO_PROCESS_TABLE, resize_on, &x, err);
}

static void discard(int stream, const uint8_t *data, size_t len, void *ud)
{
	(void)stream;
	(void)data;
	(void)len;
	(void)ud;
}

int sandbox_process_wait(struct host *h, const char *id, uint32_t pid, uint32_t wait_ms,
			 bool *exited, struct agent_exec_result *res, struct thaw_err **err)
{
	struct agent_exec_req req = { .attach_pid = pid,
				      .attach_wait_ms = wait_ms ? wait_ms : 1,
				      .on_output = discard };
	struct thaw_err *e = NULL;
	if (sandbox_exec(h, id, &req, false, res, &e) == 0) {
		*exited = true;
		return 0;
	}
	if (e && e->code == ERR_TIMEOUT) {
		err_free(e);
		*exited = false;
		return 0;
	}
	if (err)
		*err = e;
	else
		err_free(e);
	return -1;
}
