/* The agent's single-threaded event loop: one listening socket, a
 * signalfd for SIGCHLD, host connections and the pipes of running
 * commands. HELLO and PREPARE are answered inline (no fork on the
 * readiness path, which matters under TCG where every new code path is
 * translated); EXEC spawns the command and streams its output back with
 * backpressure: a command's pipes are read only while its connection's
 * output buffer is below a high-water mark. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "guestnet.h"
#include "session.h"
#include "timeutil.h"

#define MAX_CONNS 64
#define OUT_HIGH_WATER (1u << 20)
#define READ_CHUNK 65536
#define IN_MAX (PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD)

struct conn {
	int fd;
	struct buf in, out;
	struct session *sess;
	bool closing;	/* flush out, then close */
	bool from_host; /* the peer is the host end of the guest network */
	uint64_t seq;	/* accept order: older ones give way first */
};

struct server {
	const struct agent_opts *opts;
	int listen_fd, sig_fd;
	struct conn *conns[MAX_CONNS];
	/* Sessions whose connection went away: killed, kept until reaped. */
	struct session *orphans[MAX_CONNS];
	uint64_t accepted;
};

static int listen_on(const struct agent_opts *o)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o->port) };
	if (inet_pton(AF_INET, o->listen_addr, &a.sin_addr) != 1 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int sigchld_fd(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static void conn_free(struct server *srv, int i)
{
	struct conn *c = srv->conns[i];
	if (c->sess) {
		/* The host is gone: nobody will read this command's output. */
		session_kill(c->sess);
		for (int k = 0; k < MAX_CONNS; k++) {
			if (!srv->orphans[k]) {
				srv->orphans[k] = c->sess;
				c->sess = NULL;
				break;
			}
		}
		if (c->sess) { /* no room: forget it, PID 1 still reaps it */
			session_close_fds(c->sess);
			buf_free(&c->sess->stdin_pending);
			free(c->sess);
		}
	}
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
	srv->conns[i] = NULL;
}

/* Which connection gives way first when the table is full: one from
 * inside the guest before one from the host, an idle one before one
 * running a command, the older before the newer. */
static bool evict_before(const struct conn *a, const struct conn *b)
{
	if (a->from_host != b->from_host)
		return !a->from_host;
	if ((a->sess == NULL) != (b->sess == NULL))
		return a->sess == NULL;
	return a->seq < b->seq;
}

/* A slot for a new connection. Guest processes can reach the agent's
 * port too (it listens on every address): a table full of their idle or
 * busy connections must not lock the host out, so when no slot is free
 * one of them is dropped (its command killed); a host connection running
 * a command never is. -1 when every slot is that. */
static int free_slot(struct server *srv)
{
	int victim = -1;
	for (int i = 0; i < MAX_CONNS; i++) {
		struct conn *c = srv->conns[i];
		if (!c)
			return i;
		if (c->from_host && c->sess)
			continue;
		if (victim < 0 || evict_before(c, srv->conns[victim]))
			victim = i;
	}
	if (victim >= 0)
		conn_free(srv, victim);
	return victim;
}

static void accept_conns(struct server *srv)
{
	for (;;) {
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer);
		int fd = accept4(srv->listen_fd, (struct sockaddr *)&peer, &plen,
				 SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		int slot = free_slot(srv);
		if (slot < 0) {
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct conn *c = xcalloc(1, sizeof(*c));
		struct in_addr host;
		inet_pton(AF_INET, GUESTNET_HOST_IP, &host);
		c->fd = fd;
		c->from_host = peer.sin_family == AF_INET && peer.sin_addr.s_addr == host.s_addr;
		c->seq = ++srv->accepted;
		srv->conns[slot] = c;
	}
}

static void reply_error(struct conn *c, const char *msg)
{
	size_t start = proto_begin(&c->out, MSG_ERROR, 0);
	proto_put_str(&c->out, T_MESSAGE, msg);
	proto_end(&c->out, start);
}

static void handle_exec(struct conn *c, const struct proto_frame *f)
{
	if (c->sess) {
		reply_error(c, "a command is already running on this connection");
		return;
	}
	struct session *s = xcalloc(1, sizeof(*s));
	if (session_start(s, f, &c->out) != 0) {
		free(s);
		return;
	}
	c->sess = s;
	size_t start = proto_begin(&c->out, MSG_STARTED, 0);
	proto_put_u32(&c->out, T_PID, (uint32_t)s->pid);
	proto_end(&c->out, start);
}

static void handle_stdin(struct conn *c, const struct proto_frame *f)
{
	struct session *s = c->sess;
	if (!s || s->stdin_eof) {
		return; /* late stdin for a finished command is dropped */
	}
	if (f->len == 0)
		s->stdin_eof = true;
	else
		buf_append(&s->stdin_pending, f->payload, f->len);
}

static void handle_resize(struct conn *c, const struct proto_frame *f)
{
	struct proto_tlv_iter it;
	struct proto_tlv t;
	uint32_t rows = 0, cols = 0;
	proto_tlv_init(&it, f);
	while (proto_tlv_next(&it, &t) > 0) {
		if (t.tag == T_ROWS && proto_tlv_u32(&t, &rows) < 0)
			rows = 0;
		else if (t.tag == T_COLS && proto_tlv_u32(&t, &cols) < 0)
			cols = 0;
	}
	if (c->sess)
		session_resize(c->sess, rows, cols);
}

static void handle_frame(struct server *srv, struct conn *c, const struct proto_frame *f)
{
	size_t start;
	switch (f->type) {
	case MSG_HELLO:
		reseed_apply(f, srv->opts->system, &c->out);
		break;
	case MSG_PREPARE:
		sync();
		start = proto_begin(&c->out, MSG_PREPARE_OK, 0);
		proto_end(&c->out, start);
		break;
	case MSG_EXEC:
		handle_exec(c, f);
		break;
	case MSG_STDIN:
		handle_stdin(c, f);
		break;
	case MSG_RESIZE:
		handle_resize(c, f);
		break;
	default:
		reply_error(c, "unexpected message type");
		c->closing = true;
	}
}

/* Returns -1 when the connection must be dropped. */
static int conn_read(struct server *srv, struct conn *c)
{
	/* Read into the stack and keep only what arrived: a connection that
	 * carries one small HELLO then never grows its buffer past malloc's
	 * mmap threshold, and mmap/munmap are long, cold paths under TCG. */
	uint8_t chunk[16384];
	ssize_t n = read(c->fd, chunk, sizeof(chunk));
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		return -1;
	if (n < 0)
		return 0;
	buf_append(&c->in, chunk, (size_t)n);
	size_t off = 0;
	for (;;) {
		struct proto_frame f;
		long used = proto_frame_parse(c->in.data + off, c->in.len - off, &f);
		if (used < 0)
			return -1; /* garbage: there is no way to resynchronise */
		if (used == 0)
			break;
		handle_frame(srv, c, &f);
		off += (size_t)used;
	}
	buf_consume(&c->in, off);
	return c->in.len > IN_MAX ? -1 : 0;
}

static int conn_write(struct conn *c)
{
	ssize_t n = write(c->fd, c->out.data, c->out.len);
	if (n < 0)
		return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
	buf_consume(&c->out, (size_t)n);
	return 0;
}

static void pump_output(struct conn *c, int *fd, uint8_t stream)
{
	uint8_t chunk[READ_CHUNK];
	ssize_t n = read(*fd, chunk, sizeof(chunk));
	if (n > 0) {
		proto_put_raw_frame(&c->out, MSG_OUTPUT, stream, chunk, (size_t)n);
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		close(*fd);
		*fd = -1;
	}
}

static void pump_stdin(struct session *s)
{
	if (s->stdin_pending.len > 0) {
		ssize_t n = write(s->in_fd, s->stdin_pending.data, s->stdin_pending.len);
		if (n > 0)
			buf_consume(&s->stdin_pending, (size_t)n);
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			s->stdin_pending.len = 0, s->stdin_eof = true; /* reader is gone */
	}
	if (s->stdin_pending.len == 0 && s->stdin_eof) {
		close(s->in_fd);
		s->in_fd = -1;
	}
}

static struct session *find_session(struct server *srv, pid_t pid, bool *orphan, int *idx)
{
	for (int i = 0; i < MAX_CONNS; i++) {
		if (srv->conns[i] && srv->conns[i]->sess && srv->conns[i]->sess->pid == pid) {
			*orphan = false;
			*idx = i;
			return srv->conns[i]->sess;
		}
		if (srv->orphans[i] && srv->orphans[i]->pid == pid) {
			*orphan = true;
			*idx = i;
			return srv->orphans[i];
		}
	}
	return NULL;
}

static void reap(struct server *srv)
{
	struct signalfd_siginfo si;
	while (read(srv->sig_fd, &si, sizeof(si)) == sizeof(si))
		;
	int status;
	pid_t pid;
	uint64_t now = time_mono_ns();
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		bool orphan;
		int idx;
		struct session *s = find_session(srv, pid, &orphan, &idx);
		if (!s)
			continue; /* a reparented grandchild: reaping it is all PID 1 owes */
		session_exited(s, status, now);
		if (orphan) {
			session_close_fds(s);
			buf_free(&s->stdin_pending);
			free(s);
			srv->orphans[idx] = NULL;
		}
	}
}

static void check_sessions(struct server *srv, uint64_t now)
{
	for (int i = 0; i < MAX_CONNS; i++) {
		struct conn *c = srv->conns[i];
		if (!c || !c->sess)
			continue;
		struct session *s = c->sess;
		if (!s->exited && s->deadline_ns && now >= s->deadline_ns && !s->timed_out) {
			s->timed_out = true;
			session_kill(s);
		}
		if (session_done(s, now)) {
			session_finish(s, &c->out);
			free(s);
			c->sess = NULL;
		}
	}
}

static int next_timeout_ms(struct server *srv, uint64_t now)
{
	uint64_t next = 0;
	for (int i = 0; i < MAX_CONNS; i++) {
		struct conn *c = srv->conns[i];
		if (!c || !c->sess)
			continue;
		uint64_t d = c->sess->exited ? c->sess->drain_deadline_ns
					     : (c->sess->timed_out ? 0 : c->sess->deadline_ns);
		if (d && (!next || d < next))
			next = d;
	}
	if (!next)
		return -1;
	return next <= now ? 0 : (int)((next - now) / 1000000ull) + 1;
}

enum poll_role { R_LISTEN, R_SIG, R_CONN, R_OUT, R_ERR, R_IN };

struct poll_slot {
	enum poll_role role;
	int conn;
};

static nfds_t build_pollset(struct server *srv, struct pollfd *p, struct poll_slot *who)
{
	nfds_t n = 0;
	p[n] = (struct pollfd){ .fd = srv->listen_fd, .events = POLLIN };
	who[n++] = (struct poll_slot){ R_LISTEN, -1 };
	p[n] = (struct pollfd){ .fd = srv->sig_fd, .events = POLLIN };
	who[n++] = (struct poll_slot){ R_SIG, -1 };
	for (int i = 0; i < MAX_CONNS; i++) {
		struct conn *c = srv->conns[i];
		if (!c)
			continue;
		short ev = (short)((c->closing ? 0 : POLLIN) | (c->out.len ? POLLOUT : 0));
		p[n] = (struct pollfd){ .fd = c->fd, .events = ev };
		who[n++] = (struct poll_slot){ R_CONN, i };
		struct session *s = c->sess;
		if (!s)
			continue;
		bool room = c->out.len < OUT_HIGH_WATER;
		if (s->out_fd >= 0 && room) {
			p[n] = (struct pollfd){ .fd = s->out_fd, .events = POLLIN };
			who[n++] = (struct poll_slot){ R_OUT, i };
		}
		if (s->err_fd >= 0 && room) {
			p[n] = (struct pollfd){ .fd = s->err_fd, .events = POLLIN };
			who[n++] = (struct poll_slot){ R_ERR, i };
		}
		if (s->in_fd >= 0 && (s->stdin_pending.len || s->stdin_eof)) {
			p[n] = (struct pollfd){ .fd = s->in_fd, .events = POLLOUT };
			who[n++] = (struct poll_slot){ R_IN, i };
		}
	}
	return n;
}

static void dispatch(struct server *srv, const struct pollfd *p, const struct poll_slot *who)
{
	if (!p->revents)
		return;
	if (who->role == R_LISTEN) {
		accept_conns(srv);
		return;
	}
	if (who->role == R_SIG) {
		reap(srv);
		return;
	}
	struct conn *c = srv->conns[who->conn];
	if (!c)
		return;
	switch (who->role) {
	case R_CONN:
		if (((p->revents & (POLLIN | POLLHUP | POLLERR)) && conn_read(srv, c) < 0) ||
		    ((p->revents & POLLOUT) && conn_write(c) < 0) ||
		    (c->closing && c->out.len == 0))
			conn_free(srv, who->conn);
		break;
	case R_OUT:
		if (c->sess)
			pump_output(c, &c->sess->out_fd, STREAM_STDOUT);
		break;
	case R_ERR:
		if (c->sess)
			pump_output(c, &c->sess->err_fd, STREAM_STDERR);
		break;
	case R_IN:
		if (c->sess)
			pump_stdin(c->sess);
		break;
	default:
		break;
	}
}

int server_run(const struct agent_opts *opts)
{
	struct server srv = { .opts = opts };
	srv.sig_fd = sigchld_fd();
	srv.listen_fd = listen_on(opts);
	if (srv.listen_fd < 0 || srv.sig_fd < 0) {
		agent_log("cannot listen on %s:%d: %s", opts->listen_addr, opts->port,
			  strerror(errno));
		return -1;
	}
	/* Entries: listen, signal, and per connection itself + 3 pipes. */
	static struct pollfd pfds[2 + MAX_CONNS * 4];
	static struct poll_slot who[2 + MAX_CONNS * 4];
	for (;;) {
		nfds_t n = build_pollset(&srv, pfds, who);
		int timeout = next_timeout_ms(&srv, time_mono_ns());
		int r = poll(pfds, n, timeout);
		if (r < 0 && errno != EINTR) {
			agent_log("poll: %s", strerror(errno));
			usleep(10000);
			continue;
		}
		for (nfds_t i = 0; r > 0 && i < n; i++)
			dispatch(&srv, &pfds[i], &who[i]);
		check_sessions(&srv, time_mono_ns());
	}
}
