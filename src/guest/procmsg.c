/* The process table's messages (thaw-agent/3): the host lists commands,
 * follows one again, writes to its stdin, signals it and resizes its
 * terminal, by pid, from any connection. Each answers OK or ERROR with
 * an errno the host turns into a status (ENOENT: no such process). */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "server.h"

#define STDIN_PENDING_MAX (1u << 20)

struct proc_req {
	uint32_t pid;
	uint8_t from_start, eof;
	int32_t signo;
	const uint8_t *data;
	size_t len;
	uint32_t rows, cols;
};

/* -1 when a field is malformed. */
static int proc_req_parse(const struct proto_frame *f, struct proc_req *r)
{
	struct proto_tlv_iter it;
	struct proto_tlv t;
	int rc, bad = 0;
	memset(r, 0, sizeof(*r));
	proto_tlv_init(&it, f);
	while ((rc = proto_tlv_next(&it, &t)) > 0 && !bad) {
		switch (t.tag) {
		case T_PID:
			bad = proto_tlv_u32(&t, &r->pid);
			break;
		case T_FROM_START:
			bad = proto_tlv_u8(&t, &r->from_start);
			break;
		case T_EOF:
			bad = proto_tlv_u8(&t, &r->eof);
			break;
		case T_SIGNO:
			bad = proto_tlv_i32(&t, &r->signo);
			break;
		case T_DATA:
			r->data = t.val;
			r->len = t.len;
			break;
		case T_ROWS:
			bad = proto_tlv_u32(&t, &r->rows);
			break;
		case T_COLS:
			bad = proto_tlv_u32(&t, &r->cols);
			break;
		default:
			break;
		}
	}
	return rc < 0 || bad ? -1 : 0;
}

static void reply_ok(struct conn *c)
{
	size_t start = proto_begin(&c->out, MSG_OK, 0);
	proto_end(&c->out, start);
}

/* The entry a request names, or NULL after an ERROR reply. */
static struct session *target(struct server *srv, struct conn *c, const struct proto_frame *f,
			      struct proc_req *r)
{
	if (proc_req_parse(f, r) < 0 || r->pid == 0) {
		server_reply_error(c, EINVAL, "malformed %s", proto_type_name(f->type));
		return NULL;
	}
	struct session *s = proctab_find(&srv->procs, (pid_t)r->pid);
	if (!s)
		server_reply_error(c, ENOENT, "no process %u in the table", r->pid);
	return s;
}

void procmsg_list(struct server *srv, struct conn *c)
{
	for (size_t i = 0; i < srv->procs.n; i++)
		if (!srv->procs.v[i]->builtin)
			session_proc_frame(srv->procs.v[i], &c->out);
	reply_ok(c);
}

/* Follows a command as its EXEC did: STARTED, what is buffered (when
 * asked), then its output as it comes and its EXIT; one that finished
 * already gets its EXIT at once. */
void procmsg_attach(struct server *srv, struct conn *c, const struct proto_frame *f)
{
	struct proc_req r;
	struct session *s = target(srv, c, f, &r);
	if (!s)
		return;
	if (c->sess) {
		server_reply_error(c, EBUSY, "this connection follows a command already");
		return;
	}
	size_t start = proto_begin(&c->out, MSG_STARTED, 0);
	proto_put_u32(&c->out, T_PID, (uint32_t)s->pid);
	proto_end(&c->out, start);
	size_t off = 0, n;
	uint8_t stream;
	const uint8_t *data;
	while (r.from_start && outring_next(&s->out, &off, &stream, &data, &n))
		proto_put_raw_frame(&c->out, MSG_OUTPUT, stream, data, n);
	if (s->finished) {
		session_exit_frame(s, &c->out);
		return;
	}
	c->sess = s;
	c->owner = false;
}

void procmsg_signal(struct server *srv, struct conn *c, const struct proto_frame *f)
{
	struct proc_req r;
	struct session *s = target(srv, c, f, &r);
	if (!s)
		return;
	if (r.signo < 1 || r.signo >= NSIG) {
		server_reply_error(c, EINVAL, "signal %d is not valid", r.signo);
		return;
	}
	if (s->exited) {
		server_reply_error(c, ESRCH, "process %u has exited", r.pid);
		return;
	}
	if (kill(-s->pid, r.signo) < 0 && kill(s->pid, r.signo) < 0) {
		server_reply_error(c, errno, "kill %u: %s", r.pid, strerror(errno));
		return;
	}
	reply_ok(c);
}

void procmsg_stdin(struct server *srv, struct conn *c, const struct proto_frame *f)
{
	struct proc_req r;
	struct session *s = target(srv, c, f, &r);
	if (!s)
		return;
	if (s->in_fd < 0 || s->stdin_eof) {
		server_reply_error(c, EPIPE, "the stdin of process %u is closed", r.pid);
		return;
	}
	if (s->stdin_pending.len + r.len > STDIN_PENDING_MAX) {
		server_reply_error(c, EAGAIN, "process %u has %zu bytes of stdin unread: try later",
				   r.pid, s->stdin_pending.len);
		return;
	}
	buf_append(&s->stdin_pending, r.data, r.len);
	if (r.eof)
		s->stdin_eof = true;
	reply_ok(c);
}

void procmsg_resize(struct server *srv, struct conn *c, const struct proto_frame *f)
{
	struct proc_req r;
	struct session *s = target(srv, c, f, &r);
	if (!s)
		return;
	if (!s->pty || s->pty_fd < 0) {
		server_reply_error(c, ENOTTY, "process %u has no terminal", r.pid);
		return;
	}
	if (!r.rows || !r.cols || r.rows >= 10000 || r.cols >= 10000) {
		server_reply_error(c, EINVAL, "rows and cols must be 1 to 9999");
		return;
	}
	session_resize(s, r.rows, r.cols);
	reply_ok(c);
}
