/* The agent's single-threaded event loop: one listening socket, a
 * signalfd for SIGCHLD, host connections and the pipes of the commands
 * in the process table. HELLO and PREPARE are answered inline (no fork
 * on the readiness path, which matters under TCG where every new code
 * path is translated); EXEC spawns the command, adds it to the table and
 * streams its output back with backpressure: a command's pipes are read
 * only while every connection following it is below a high-water mark.
 * Output read is also kept in the command's ring (session.h) for later
 * ATTACHes; a command nobody follows is read freely, its oldest output
 * dropped. A connection that ends leaves its command running unless the
 * EXEC asked for T_KILL_ON_DISCONNECT. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guestnet.h"
#include "server.h"
#include "timeutil.h"

#define READ_CHUNK 65536
#define IN_MAX (PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD)
/* Three pipes per live command, the connections, and room to spare. */
#define FD_LIMIT 8192
#define MAX_POLL (2 + MAX_CONNS + 3 * (PROC_MAX_LIVE + PROC_MAX_EXITED))

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
	/* The command stays in the table, running, unless it asked to end
	 * with the connection that started it. */
	if (c->sess && c->owner && c->sess->kill_on_disconnect)
		session_kill(c->sess);
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

void server_reply_error(struct conn *c, int e, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	size_t start = proto_begin(&c->out, MSG_ERROR, 0);
	proto_put_str(&c->out, T_MESSAGE, msg);
	if (e)
		proto_put_u32(&c->out, T_ERRNO, (uint32_t)e);
	proto_end(&c->out, start);
}

static void handle_exec(struct server *srv, struct conn *c, const struct proto_frame *f)
{
	if (c->sess) {
		server_reply_error(c, EBUSY, "a command is already running on this connection");
		return;
	}
	if (proctab_live(&srv->procs) >= PROC_MAX_LIVE) {
		server_reply_error(c, EAGAIN,
				   "the process table is full: %d commands run already; wait for "
				   "some to end or signal them",
				   PROC_MAX_LIVE);
		return;
	}
	struct session *s = xcalloc(1, sizeof(*s));
	if (session_start(s, f, &c->out) != 0) {
		free(s);
		return;
	}
	proctab_add(&srv->procs, s);
	c->sess = s;
	c->owner = true;
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

/* Guest processes reach the agent's port too (it listens on every
 * address), and the agent runs commands as root: a user of the guest
 * must not get root through it. Only the host's end of the guest network
 * may run, follow or steer commands (the test mode, --no-system, has no
 * host end and takes anyone). */
static bool host_only(const struct server *srv, const struct conn *c, uint8_t type)
{
	switch (type) {
	case MSG_HELLO: /* sets the clock, the hostname and the RNG */
	case MSG_EXEC:
	case MSG_STDIN:
	case MSG_RESIZE:
	case MSG_LIST:
	case MSG_ATTACH:
	case MSG_SIGNAL:
	case MSG_PROC_STDIN:
	case MSG_PROC_RESIZE:
		return srv->opts->system && !c->from_host;
	default:
		return false;
	}
}

static bool hello_fresh(const struct proto_frame *f)
{
	struct proto_tlv_iter it;
	struct proto_tlv t;
	proto_tlv_init(&it, f);
	while (proto_tlv_next(&it, &t) > 0)
		if (t.tag == T_FRESH && t.len == 1 && t.val[0])
			return true;
	return false;
}

/* A restored VM's connections from the host before this one are ghosts:
 * their host ends went with the VMM that was snapshotted (or were never
 * this clone's). Closing them is what the host did; a command they
 * followed keeps running unless it asked to die with its connection. */
static void drop_other_host_conns(struct server *srv, const struct conn *keep)
{
	for (int i = 0; i < MAX_CONNS; i++) {
		struct conn *o = srv->conns[i];
		if (o && o != keep && o->from_host)
			conn_free(srv, i);
	}
}

static void handle_frame(struct server *srv, struct conn *c, const struct proto_frame *f)
{
	size_t start;
	if (host_only(srv, c, f->type)) {
		server_reply_error(c, EPERM, "only the host may send %s to the agent",
				   proto_type_name(f->type));
		c->closing = true;
		return;
	}
	switch (f->type) {
	case MSG_HELLO:
		if (reseed_apply(f, srv->opts->system, &c->out) == 0 && hello_fresh(f))
			drop_other_host_conns(srv, c);
		break;
	case MSG_PREPARE:
		sync();
		start = proto_begin(&c->out, MSG_PREPARE_OK, 0);
		proto_end(&c->out, start);
		break;
	case MSG_EXEC:
		handle_exec(srv, c, f);
		break;
	case MSG_STDIN:
		handle_stdin(c, f);
		break;
	case MSG_RESIZE:
		handle_resize(c, f);
		break;
	case MSG_LIST:
		procmsg_list(srv, c);
		break;
	case MSG_ATTACH:
		procmsg_attach(srv, c, f);
		break;
	case MSG_SIGNAL:
		procmsg_signal(srv, c, f);
		break;
	case MSG_PROC_STDIN:
		procmsg_stdin(srv, c, f);
		break;
	case MSG_PROC_RESIZE:
		procmsg_resize(srv, c, f);
		break;
	default:
		server_reply_error(c, EINVAL, "unexpected message type");
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

/* All rings together stay under PROC_OUTPUT_TOTAL (1024 commands with a
 * full ring each would not fit a small guest): the largest gives way,
 * to the average share. */
static void bound_rings(struct server *srv)
{
	size_t total = 0, n = 0;
	struct session *largest = NULL;
	for (size_t i = 0; i < srv->procs.n; i++) {
		struct session *s = srv->procs.v[i];
		total += s->out.kept;
		n += s->out.kept > 0;
		if (!largest || s->out.kept > largest->out.kept)
			largest = s;
	}
	while (total > PROC_OUTPUT_TOTAL && largest && largest->out.kept) {
		size_t before = largest->out.kept;
		outring_trim(&largest->out, PROC_OUTPUT_TOTAL / (n ? n : 1));
		total -= before - largest->out.kept;
		if (largest->out.kept == before)
			break;
		largest = NULL;
		for (size_t i = 0; i < srv->procs.n; i++)
			if (!largest || srv->procs.v[i]->out.kept > largest->out.kept)
				largest = srv->procs.v[i];
	}
}

/* Output goes into the command's ring and to every connection that
 * follows it. */
static void pump_output(struct server *srv, struct session *s, int *fd, uint8_t stream)
{
	static uint8_t chunk[READ_CHUNK];
	ssize_t n = read(*fd, chunk, sizeof(chunk));
	if (n > 0) {
		outring_put(&s->out, stream, chunk, (size_t)n);
		bound_rings(srv);
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = srv->conns[i];
			if (c && c->sess == s)
				proto_put_raw_frame(&c->out, MSG_OUTPUT, stream, chunk, (size_t)n);
		}
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		if (*fd == s->pty_fd) /* the terminal is gone: no more resizes */
			s->pty_fd = -1;
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

static void reap(struct server *srv)
{
	struct signalfd_siginfo si;
	while (read(srv->sig_fd, &si, sizeof(si)) == sizeof(si))
		;
	int status;
	pid_t pid;
	uint64_t now = time_mono_ns();
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct session *s = proctab_find(&srv->procs, pid);
		/* A reparented grandchild, or a finished entry's reused pid:
		 * reaping it is all PID 1 owes. */
		if (s && !s->exited)
			session_exited(s, status, now);
	}
}

/* A finished command's followers get its EXIT and follow nothing. */
static void finish(struct server *srv, struct session *s)
{
	for (int i = 0; i < MAX_CONNS; i++) {
		struct conn *c = srv->conns[i];
		if (c && c->sess == s) {
			session_exit_frame(s, &c->out);
			c->sess = NULL;
			c->owner = false;
		}
	}
	session_finish(s);
}

static void check_sessions(struct server *srv, uint64_t now)
{
	bool ended = false;
	for (size_t i = 0; i < srv->procs.n; i++) {
		struct session *s = srv->procs.v[i];
		if (s->finished)
			continue;
		if (!s->exited && s->deadline_ns && now >= s->deadline_ns && !s->timed_out) {
			s->timed_out = true;
			session_kill(s);
		}
		if (session_done(s, now)) {
			finish(srv, s);
			ended = true;
		}
	}
	if (ended)
		proctab_prune(&srv->procs);
}

static int next_timeout_ms(struct server *srv, uint64_t now)
{
	uint64_t next = 0;
	for (size_t i = 0; i < srv->procs.n; i++) {
		struct session *s = srv->procs.v[i];
		if (s->finished)
			continue;
		uint64_t d = s->exited ? s->drain_deadline_ns : (s->timed_out ? 0 : s->deadline_ns);
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
	int conn;	   /* R_CONN */
	struct session *s; /* R_OUT, R_ERR, R_IN */
};

/* A command whose followers are behind waits for them. */
static void mark_blocked(struct server *srv)
{
	for (size_t i = 0; i < srv->procs.n; i++)
		srv->procs.v[i]->blocked = false;
	for (int i = 0; i < MAX_CONNS; i++) {
		struct conn *c = srv->conns[i];
		if (c && c->sess && c->out.len >= OUT_HIGH_WATER)
			c->sess->blocked = true;
	}
}

static nfds_t add_pipes(struct server *srv, struct pollfd *p, struct poll_slot *who, nfds_t n)
{
	for (size_t i = 0; i < srv->procs.n; i++) {
		struct session *s = srv->procs.v[i];
		if (s->finished)
			continue;
		if (s->out_fd >= 0 && !s->blocked) {
			p[n] = (struct pollfd){ .fd = s->out_fd, .events = POLLIN };
			who[n++] = (struct poll_slot){ R_OUT, -1, s };
		}
		if (s->err_fd >= 0 && !s->blocked) {
			p[n] = (struct pollfd){ .fd = s->err_fd, .events = POLLIN };
			who[n++] = (struct poll_slot){ R_ERR, -1, s };
		}
		if (s->in_fd >= 0 && (s->stdin_pending.len || s->stdin_eof)) {
			p[n] = (struct pollfd){ .fd = s->in_fd, .events = POLLOUT };
			who[n++] = (struct poll_slot){ R_IN, -1, s };
		}
	}
	return n;
}

static nfds_t build_pollset(struct server *srv, struct pollfd *p, struct poll_slot *who)
{
	nfds_t n = 0;
	p[n] = (struct pollfd){ .fd = srv->listen_fd, .events = POLLIN };
	who[n++] = (struct poll_slot){ R_LISTEN, -1, NULL };
	p[n] = (struct pollfd){ .fd = srv->sig_fd, .events = POLLIN };
	who[n++] = (struct poll_slot){ R_SIG, -1, NULL };
	for (int i = 0; i < MAX_CONNS; i++) {
		struct conn *c = srv->conns[i];
		if (!c)
			continue;
		short ev = (short)((c->closing ? 0 : POLLIN) | (c->out.len ? POLLOUT : 0));
		p[n] = (struct pollfd){ .fd = c->fd, .events = ev };
		who[n++] = (struct poll_slot){ R_CONN, i, NULL };
	}
	mark_blocked(srv);
	return add_pipes(srv, p, who, n);
}

static void dispatch(struct server *srv, const struct pollfd *p, const struct poll_slot *who)
{
	if (!p->revents)
		return;
	struct conn *c;
	switch (who->role) {
	case R_LISTEN:
		accept_conns(srv);
		break;
	case R_SIG:
		reap(srv);
		break;
	case R_CONN:
		c = srv->conns[who->conn];
		if (c && (((p->revents & (POLLIN | POLLHUP | POLLERR)) && conn_read(srv, c) < 0) ||
			  ((p->revents & POLLOUT) && conn_write(c) < 0) ||
			  (c->closing && c->out.len == 0)))
			conn_free(srv, who->conn);
		break;
	case R_OUT:
		if (who->s->out_fd >= 0)
			pump_output(srv, who->s, &who->s->out_fd, STREAM_STDOUT);
		break;
	case R_ERR:
		if (who->s->err_fd >= 0)
			pump_output(srv, who->s, &who->s->err_fd, STREAM_STDERR);
		break;
	case R_IN:
		if (who->s->in_fd >= 0)
			pump_stdin(who->s);
		break;
	}
}

/* PID 1's default of 1024 descriptors would cap the table well below
 * PROC_MAX_LIVE. */
static void raise_fd_limit(void)
{
	struct rlimit rl = { FD_LIMIT, FD_LIMIT };
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		agent_log("cannot raise the descriptor limit: %s", strerror(errno));
}

int server_run(const struct agent_opts *opts)
{
	struct server srv = { .opts = opts };
	raise_fd_limit();
	srv.sig_fd = sigchld_fd();
	srv.listen_fd = listen_on(opts);
	if (srv.listen_fd < 0 || srv.sig_fd < 0) {
		agent_log("cannot listen on %s:%d: %s", opts->listen_addr, opts->port,
			  strerror(errno));
		return -1;
	}
	/* Entries: listen, signal, the connections, 3 pipes per command. */
	static struct pollfd pfds[MAX_POLL];
	static struct poll_slot who[MAX_POLL];
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
