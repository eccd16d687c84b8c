/* The guest's process table (thaw-agent/3): list it, signal a process,
 * write to its stdin, resize its terminal. One request and its answer
 * per call; attaching is agent_exec's attach mode. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "agent_io.h"
#include "timeutil.h"

int agent_old_check(struct agent_conn *c, struct thaw_err **err)
{
	if (c->answered || !err || !*err || (*err)->code != ERR_GUEST)
		return -1;
	err_free(*err);
	*err = NULL;
	return err_set(err, ERR_CONFLICT,
		       "the sandbox's guest agent is older than the process table (%s): bake its "
		       "template again",
		       PROTO_VERSION);
}

static uint64_t deadline_of(int timeout_ms)
{
	return time_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
}

/* Sends what is queued and waits for OK. */
static int expect_ok(struct agent_conn *c, int timeout_ms, struct thaw_err **err)
{
	uint64_t deadline = deadline_of(timeout_ms);
	struct proto_frame f;
	long used = 0;
	if (agent_flush_out(c, deadline, err) < 0 ||
	    agent_read_frame(c, deadline, &f, &used, err) < 0)
		return agent_old_check(c, err);
	int rc = 0;
	if (f.type == MSG_ERROR)
		rc = agent_guest_refusal(&f, err);
	else if (f.type != MSG_OK)
		rc = err_set(err, ERR_GUEST, "guest agent answered %s, expected OK",
			     proto_type_name(f.type));
	buf_consume(&c->in, (size_t)used);
	return rc;
}

static int proc_field(const struct proto_tlv *t, struct agent_proc *p)
{
	uint8_t flag = 0;
	int32_t v = 0;
	switch (t->tag) {
	case T_PID:
		return proto_tlv_u32(t, &p->pid);
	case T_TAG:
		if (t->len > PROC_TAG_MAX || memchr(t->val, 0, t->len))
			return -1;
		memcpy(p->tag, t->val, t->len);
		p->tag[t->len] = '\0';
		return 0;
	case T_CMD:
		free(p->cmd);
		p->cmd = NULL;
		return t->len > PROC_CMD_MAX ? -1 : proto_tlv_str(t, &p->cmd);
	case T_PTY:
	case T_RUNNING:
	case T_STDIN_OPEN:
	case T_TIMED_OUT:
		if (proto_tlv_u8(t, &flag) < 0)
			return -1;
		*(t->tag == T_PTY	   ? &p->pty
		  : t->tag == T_RUNNING	   ? &p->running
		  : t->tag == T_STDIN_OPEN ? &p->stdin_open
					   : &p->timed_out) = flag != 0;
		return 0;
	case T_EXIT_CODE:
	case T_SIGNAL:
		if (proto_tlv_i32(t, &v) < 0 || v < 0 || v > 255)
			return -1;
		*(t->tag == T_EXIT_CODE ? &p->exit_code : &p->signal) = v;
		return 0;
	case T_START_NS:
		return proto_tlv_u64(t, &p->start_ns);
	case T_DURATION_US:
		return proto_tlv_u64(t, &p->duration_us);
	case T_BUFFERED:
		return proto_tlv_u64(t, &p->buffered);
	case T_DROPPED:
		return proto_tlv_u64(t, &p->dropped);
	default:
		return 0;
	}
}

static int parse_proc(const struct proto_frame *f, struct agent_proc *p, struct thaw_err **err)
{
	struct proto_tlv_iter it;
	struct proto_tlv t;
	int r;
	memset(p, 0, sizeof(*p));
	proto_tlv_init(&it, f);
	while ((r = proto_tlv_next(&it, &t)) > 0)
		if (proc_field(&t, p) < 0)
			break;
	if (r != 0 || p->pid == 0) {
		free(p->cmd);
		p->cmd = NULL;
		return err_set(err, ERR_GUEST, "malformed PROC from the guest agent");
	}
	return 0;
}

/* Room for the table's bound and a little more: a guest that sends more
 * is broken. */
#define LIST_MAX (PROC_MAX_LIVE + PROC_MAX_EXITED + 64)

int agent_proc_list(struct agent_conn *c, int timeout_ms, struct agent_proc **out, size_t *n,
		    struct thaw_err **err)
{
	uint64_t deadline = deadline_of(timeout_ms);
	size_t start = proto_begin(&c->out, MSG_LIST, 0);
	proto_end(&c->out, start);
	if (agent_flush_out(c, deadline, err) < 0)
		return agent_old_check(c, err);
	struct agent_proc *v = NULL;
	size_t count = 0;
	for (;;) {
		struct proto_frame f;
		long used = 0;
		int rc = 0;
		if (agent_read_frame(c, deadline, &f, &used, err) < 0)
			rc = agent_old_check(c, err);
		else if (f.type == MSG_OK) {
			buf_consume(&c->in, (size_t)used);
			break;
		} else if (f.type == MSG_ERROR)
			rc = agent_guest_refusal(&f, err);
		else if (f.type != MSG_PROC || count == LIST_MAX)
			rc = err_set(err, ERR_GUEST, "unexpected %s in a process listing",
				     proto_type_name(f.type));
		else {
			v = xrealloc(v, (count + 1) * sizeof(*v));
			rc = parse_proc(&f, &v[count], err);
			count += rc == 0;
		}
		if (rc < 0) {
			agent_procs_free(v, count);
			return -1;
		}
		buf_consume(&c->in, (size_t)used);
	}
	*out = v;
	*n = count;
	return 0;
}

void agent_procs_free(struct agent_proc *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i].cmd);
	free(v);
}

int agent_proc_signal(struct agent_conn *c, uint32_t pid, int signo, int timeout_ms,
		      struct thaw_err **err)
{
	size_t start = proto_begin(&c->out, MSG_SIGNAL, 0);
	proto_put_u32(&c->out, T_PID, pid);
	proto_put_i32(&c->out, T_SIGNO, signo);
	proto_end(&c->out, start);
	return expect_ok(c, timeout_ms, err);
}

int agent_proc_stdin(struct agent_conn *c, uint32_t pid, const uint8_t *data, size_t len, bool eof,
		     int timeout_ms, struct thaw_err **err)
{
	if (len > PROTO_MAX_PAYLOAD - 64)
		return err_set(err, ERR_TOO_LARGE, "at most %u bytes of stdin at a time",
			       PROTO_MAX_PAYLOAD - 64);
	size_t start = proto_begin(&c->out, MSG_PROC_STDIN, 0);
	proto_put_u32(&c->out, T_PID, pid);
	if (len)
		proto_put_bytes(&c->out, T_DATA, data, len);
	if (eof)
		proto_put_u8(&c->out, T_EOF, 1);
	proto_end(&c->out, start);
	return expect_ok(c, timeout_ms, err);
}

int agent_proc_resize(struct agent_conn *c, uint32_t pid, uint32_t rows, uint32_t cols,
		      int timeout_ms, struct thaw_err **err)
{
	size_t start = proto_begin(&c->out, MSG_PROC_RESIZE, 0);
	proto_put_u32(&c->out, T_PID, pid);
	proto_put_u32(&c->out, T_ROWS, rows);
	proto_put_u32(&c->out, T_COLS, cols);
	proto_end(&c->out, start);
	return expect_ok(c, timeout_ms, err);
}
