#include "agent.h"
#include "agent_io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guestnet.h"
#include "ids.h"
#include "net/slot.h"
#include "proto.h"
#include "timeutil.h"

#define STDIN_CHUNK (256u * 1024u)
#define HOST_GRACE_MS 10000 /* beyond the guest-enforced timeout */
#define ENTROPY_BYTES 64
#define CANCEL_CHECK_MS 200 /* how often a cancellable exec looks at its flag */

static int left_ms(uint64_t deadline)
{
	uint64_t now = time_mono_ns();
	return now >= deadline ? 0 : (int)((deadline - now) / 1000000ull) + 1;
}

/* One non-blocking connect attempt; 0 connected, -1 with errno. */
static int try_connect(int fd, const struct sockaddr_in *sa, uint64_t deadline)
{
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -1;
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int r = poll(&p, 1, left_ms(deadline));
	if (r <= 0) {
		errno = r == 0 ? ETIMEDOUT : errno;
		return -1;
	}
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
	errno = soerr;
	return soerr ? -1 : 0;
}

int agent_connect(const struct netslot *slot, int timeout_ms, int attempt_ms, agent_alive_fn alive,
		  void *ud, struct agent_conn **out, struct thaw_err **err)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(GUESTNET_AGENT_PORT) };
	inet_pton(AF_INET, GUESTNET_GUEST_IP, &sa.sin_addr);
	uint64_t deadline = time_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		int fd = -1;
		if (netslot_socket(slot, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, &fd, err) < 0)
			return -1;
		uint64_t attempt = time_mono_ns() + (uint64_t)attempt_ms * 1000000ull;
		if (try_connect(fd, &sa, attempt < deadline ? attempt : deadline) == 0) {
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			struct agent_conn *c = xcalloc(1, sizeof(*c));
			c->fd = fd;
			*out = c;
			return 0;
		}
		int e = errno;
		close(fd);
		if (alive && !alive(ud))
			return err_set(err, ERR_UNAVAILABLE,
				       "the VM stopped before its guest agent answered");
		if (left_ms(deadline) == 0) {
			errno = e;
			return err_sys(err, "connecting to the guest agent");
		}
		usleep(e == ECONNREFUSED ? 5000 : 1000);
	}
}

void agent_close(struct agent_conn *c)
{
	if (!c)
		return;
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

void agent_abort(struct agent_conn *c)
{
	if (!c)
		return;
	struct linger now = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &now, sizeof(now));
	agent_close(c);
}

int agent_conn_fd(const struct agent_conn *c)
{
	return c->fd;
}

/* A request on its way: no longer idle until its last answer. */
int agent_flush_out(struct agent_conn *c, uint64_t deadline, struct thaw_err **err)
{
	if (c->out.len)
		c->idle = false;
	while (c->out.len) {
		ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
		if (n > 0) {
			buf_consume(&c->out, (size_t)n);
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return err_sys(err, "writing to the guest agent");
		struct pollfd p = { .fd = c->fd, .events = POLLOUT };
		if (poll(&p, 1, left_ms(deadline)) == 0)
			return err_set(err, ERR_TIMEOUT, "the guest agent stopped reading");
	}
	return 0;
}

/* One read into the input buffer; EOF is an error (the agent never
 * closes first), EAGAIN is not. */
static int conn_recv(struct agent_conn *c, struct thaw_err **err)
{
	buf_reserve(&c->in, 65536);
	ssize_t got = recv(c->fd, c->in.data + c->in.len, 65536, 0);
	if (got == 0)
		return err_set(err, ERR_GUEST, "the guest agent closed the connection");
	if (got < 0 && errno != EAGAIN && errno != EINTR)
		return err_sys(err, "reading from the guest agent");
	if (got > 0)
		c->in.len += (size_t)got;
	return 0;
}

/* A whole frame came from the guest. What it says about the connection's
 * reuse: a command's end, or the answer to a request that started none,
 * leaves it idle. */
static void note_frame(struct agent_conn *c, uint8_t type)
{
	c->answered = true;
	switch (type) {
	case MSG_STARTED:
		c->attached = true;
		break;
	case MSG_EXIT:
		c->attached = false;
		c->idle = true;
		break;
	case MSG_HELLO_OK:
	case MSG_PREPARE_OK:
	case MSG_OK:
		c->idle = !c->attached;
		break;
	default:
		break;
	}
}

bool agent_conn_idle(const struct agent_conn *c)
{
	if (!c->idle || c->attached || c->in.len || c->out.len)
		return false;
	/* Anything to read now (data, EOF, a reset: poll reports the last
	 * two even unasked) would belong to nobody. */
	struct pollfd p = { .fd = c->fd, .events = POLLIN | POLLRDHUP };
	return poll(&p, 1, 0) == 0;
}

void agent_conn_reuse(struct agent_conn *c)
{
	c->idle = false;
	c->answered = false;
}

/* Reads until one whole frame is buffered; *used receives its size. */
int agent_read_frame(struct agent_conn *c, uint64_t deadline, struct proto_frame *f, long *used,
		     struct thaw_err **err)
{
	for (;;) {
		long n = proto_frame_parse(c->in.data, c->in.len, f);
		if (n < 0)
			return err_set(err, ERR_GUEST, "the guest agent sent a malformed frame");
		if (n > 0) {
			*used = n;
			note_frame(c, f->type);
			return 0;
		}
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int r = poll(&p, 1, left_ms(deadline));
		if (r == 0)
			return err_set(err, ERR_TIMEOUT, "the guest agent did not answer in time");
		if (r < 0 && errno != EINTR)
			return err_sys(err, "waiting for the guest agent");
		if (conn_recv(c, err) < 0)
			return -1;
	}
}

/* The guest's errno (thaw-agent/3) says what kind of refusal it is. */
static enum err_code refusal_code(uint32_t e)
{
	switch (e) {
	case ENOENT:
		return ERR_NOT_FOUND;
	case EAGAIN:
		return ERR_LIMIT;
	case ESRCH:
	case EPIPE:
	case ENOTTY:
	case EBUSY:
		return ERR_CONFLICT;
	case EPERM:
		return ERR_FORBIDDEN;
	default:
		return ERR_INVALID;
	}
}

int agent_guest_refusal(const struct proto_frame *f, struct thaw_err **err)
{
	struct proto_tlv_iter it;
	struct proto_tlv t;
	char *msg = NULL;
	uint32_t e = 0;
	proto_tlv_init(&it, f);
	while (proto_tlv_next(&it, &t) > 0) {
		if (t.tag == T_MESSAGE && !msg && proto_tlv_str(&t, &msg) < 0)
			msg = NULL;
		else if (t.tag == T_ERRNO && proto_tlv_u32(&t, &e) < 0)
			e = 0;
	}
	if (!msg)
		return err_set(err, ERR_GUEST, "guest agent refused the request");
	err_set(err, refusal_code(e), "guest agent: %s", msg);
	free(msg);
	return -1;
}

/* Sends what is queued and waits for a single frame of type `want`. */
static int simple_exchange(struct agent_conn *c, uint8_t want, int timeout_ms,
			   int (*on_frame)(const struct proto_frame *, void *), void *ud,
			   struct thaw_err **err)
{
	uint64_t deadline = time_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	if (agent_flush_out(c, deadline, err) < 0)
		return -1;
	struct proto_frame f;
	long used = 0;
	if (agent_read_frame(c, deadline, &f, &used, err) < 0)
		return -1;
	int rc = 0;
	if (f.type == MSG_ERROR)
		rc = agent_guest_refusal(&f, err);
	else if (f.type != want)
		rc = err_set(err, ERR_GUEST, "guest agent answered %s, expected %s",
			     proto_type_name(f.type), proto_type_name(want));
	else if (on_frame)
		rc = on_frame(&f, ud);
	buf_consume(&c->in, (size_t)used);
	return rc;
}

static int parse_hello_ok(const struct proto_frame *f, void *ud)
{
	struct agent_hello_reply *r = ud;
	struct proto_tlv_iter it;
	struct proto_tlv t;
	proto_tlv_init(&it, f);
	while (proto_tlv_next(&it, &t) > 0) {
		if (t.tag == T_VERSION && t.len < sizeof(r->version) && !memchr(t.val, 0, t.len)) {
			memcpy(r->version, t.val, t.len);
			r->version[t.len] = '\0';
		} else if (t.tag == T_CLOCK_NS) {
			proto_tlv_u64(&t, &r->guest_clock_ns);
		}
	}
	return 0;
}

int agent_hello(struct agent_conn *c, const char *hostname, bool fresh, int timeout_ms,
		struct agent_hello_reply *reply, struct thaw_err **err)
{
	uint8_t entropy[ENTROPY_BYTES];
	random_bytes(entropy, sizeof(entropy));
	size_t start = proto_begin(&c->out, MSG_HELLO, 0);
	proto_put_u64(&c->out, T_TIME_NS, time_real_ns());
	proto_put_bytes(&c->out, T_ENTROPY, entropy, sizeof(entropy));
	if (hostname)
		proto_put_str(&c->out, T_HOSTNAME, hostname);
	if (fresh)
		proto_put_u8(&c->out, T_FRESH, 1);
	proto_end(&c->out, start);
	struct agent_hello_reply dummy;
	memset(reply ? reply : &dummy, 0, sizeof(dummy));
	return simple_exchange(c, MSG_HELLO_OK, timeout_ms, parse_hello_ok, reply ? reply : &dummy,
			       err);
}

int agent_prepare(struct agent_conn *c, int timeout_ms, struct thaw_err **err)
{
	size_t start = proto_begin(&c->out, MSG_PREPARE, 0);
	proto_end(&c->out, start);
	return simple_exchange(c, MSG_PREPARE_OK, timeout_ms, NULL, NULL, err);
}

static void queue_exec(struct agent_conn *c, const struct agent_exec_req *req)
{
	size_t start = proto_begin(&c->out, MSG_EXEC, 0);
	for (size_t i = 0; req->argv[i]; i++)
		proto_put_str(&c->out, T_ARG, req->argv[i]);
	for (size_t i = 0; req->env && req->env[i]; i++)
		proto_put_str(&c->out, T_ENV, req->env[i]);
	if (req->cwd)
		proto_put_str(&c->out, T_CWD, req->cwd);
	proto_put_u32(&c->out, T_TIMEOUT_MS, req->timeout_ms);
	proto_put_u8(&c->out, T_HAS_STDIN, req->has_stdin);
	if (req->pty) {
		proto_put_u8(&c->out, T_PTY, 1);
		proto_put_u32(&c->out, T_ROWS, req->rows);
		proto_put_u32(&c->out, T_COLS, req->cols);
	}
	if (req->tag)
		proto_put_str(&c->out, T_TAG, req->tag);
	if (req->user)
		proto_put_str(&c->out, T_USER, req->user);
	if (req->kill_on_disconnect)
		proto_put_u8(&c->out, T_KILL_ON_DISCONNECT, 1);
	proto_end(&c->out, start);
}

static void queue_attach(struct agent_conn *c, const struct agent_exec_req *req)
{
	size_t start = proto_begin(&c->out, MSG_ATTACH, 0);
	proto_put_u32(&c->out, T_PID, req->attach_pid);
	proto_put_u8(&c->out, T_FROM_START, req->attach_from_start);
	proto_end(&c->out, start);
}

/* Stdin from a file: a chunk at a time while little is queued. *sent is
 * SIZE_MAX once EOF is queued. */
static int queue_stdin_fd(struct agent_conn *c, const struct agent_exec_req *req, size_t *sent,
			  struct thaw_err **err)
{
	static __thread uint8_t chunk[STDIN_CHUNK];
	while (*sent != SIZE_MAX && c->out.len < 2 * STDIN_CHUNK) {
		ssize_t n = read(req->stdin_fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_sys(err, "reading the command's stdin");
		if (n > 0 || !req->stdin_keep_open)
			proto_put_raw_frame(&c->out, MSG_STDIN, 0, chunk, (size_t)n);
		*sent = n == 0 ? SIZE_MAX : *sent + (size_t)n;
	}
	return 0;
}

static void queue_stdin(struct agent_conn *c, const struct agent_exec_req *req, size_t *sent)
{
	/* Keep at most a couple of chunks queued so a large stdin does not
	 * have to be copied whole. */
	while (*sent < req->stdin_len && c->out.len < 2 * STDIN_CHUNK) {
		size_t n = req->stdin_len - *sent;
		if (n > STDIN_CHUNK)
			n = STDIN_CHUNK;
		proto_put_raw_frame(&c->out, MSG_STDIN, 0, req->stdin_data + *sent, n);
		*sent += n;
	}
	if (*sent == req->stdin_len && req->has_stdin && !req->stdin_keep_open) {
		proto_put_raw_frame(&c->out, MSG_STDIN, 0, NULL, 0);
		*sent = req->stdin_len + 1; /* EOF queued */
	}
}

static void take_output(const struct agent_exec_req *req, struct agent_exec_result *res,
			const struct proto_frame *f)
{
	if (req->on_output) {
		req->on_output(f->stream, f->payload, f->len, req->ud);
		return;
	}
	struct buf *b = f->stream == STREAM_STDERR ? &res->err : &res->out;
	bool *trunc = f->stream == STREAM_STDERR ? &res->err_truncated : &res->out_truncated;
	size_t room = req->max_output > b->len ? req->max_output - b->len : 0;
	size_t n = f->len < room ? f->len : room;
	buf_append(b, f->payload, n);
	if (n < f->len)
		*trunc = true;
}

static void take_started(const struct agent_exec_req *req, const struct proto_frame *f)
{
	struct proto_tlv_iter it;
	struct proto_tlv t;
	uint32_t pid = 0;
	proto_tlv_init(&it, f);
	while (proto_tlv_next(&it, &t) > 0)
		if (t.tag == T_PID && proto_tlv_u32(&t, &pid) < 0)
			pid = 0;
	if (req->on_start && pid > 0)
		req->on_start(pid, req->ud);
}

static int parse_exit(const struct proto_frame *f, struct agent_exec_result *res,
		      struct thaw_err **err)
{
	struct proto_tlv_iter it;
	struct proto_tlv t;
	int32_t code = -1, sig = 0;
	uint8_t timed_out = 0;
	int r;
	proto_tlv_init(&it, f);
	while ((r = proto_tlv_next(&it, &t)) > 0) {
		int bad = 0;
		if (t.tag == T_EXIT_CODE)
			bad = proto_tlv_i32(&t, &code);
		else if (t.tag == T_SIGNAL)
			bad = proto_tlv_i32(&t, &sig);
		else if (t.tag == T_TIMED_OUT)
			bad = proto_tlv_u8(&t, &timed_out);
		else if (t.tag == T_DURATION_US)
			bad = proto_tlv_u64(&t, &res->duration_us);
		if (bad)
			return err_set(err, ERR_GUEST, "malformed EXIT field %u", t.tag);
	}
	if (r < 0 || code < 0 || code > 255 || sig < 0 || sig > 64)
		return err_set(err, ERR_GUEST, "malformed EXIT from the guest agent");
	res->exit_code = code;
	res->signal = sig;
	res->timed_out = timed_out != 0;
	return 0;
}

static int send_all(int fd, const uint8_t *data, size_t len)
{
	while (len) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			poll(&p, 1, 1000);
			continue;
		}
		if (n < 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Client frames: only keystrokes and resizes pass; anything else ends the
 * relay (the client is not the guest's peer, thawd is). Returns -1 when
 * the client broke the protocol. */
static int relay_from_client(struct agent_conn *c, struct buf *cin, struct thaw_err **err)
{
	size_t off = 0;
	for (;;) {
		struct proto_frame f;
		long n = proto_frame_parse(cin->data + off, cin->len - off, &f);
		if (n < 0 || (n > 0 && f.type != MSG_STDIN && f.type != MSG_RESIZE))
			return err_set(err, ERR_INVALID,
				       "the client sent a frame a shell does not take");
		if (n == 0)
			break;
		buf_append(&c->out, cin->data + off, (size_t)n);
		off += (size_t)n;
	}
	buf_consume(cin, off);
	return 0;
}

/* Guest frames go to the client unchanged; EXIT or ERROR ends it. */
static int relay_from_guest(struct agent_conn *c, int client, struct agent_exec_result *res,
			    bool *done, struct thaw_err **err)
{
	size_t off = 0;
	int rc = 0;
	for (;;) {
		struct proto_frame f;
		long n = proto_frame_parse(c->in.data + off, c->in.len - off, &f);
		if (n < 0)
			return err_set(err, ERR_GUEST, "the guest agent sent a malformed frame");
		if (n == 0)
			break;
		if (send_all(client, c->in.data + off, (size_t)n) < 0)
			return err_set(err, ERR_UNAVAILABLE, "the client went away");
		off += (size_t)n;
		note_frame(c, f.type);
		if (f.type == MSG_EXIT) {
			rc = parse_exit(&f, res, err);
			*done = true;
			break;
		}
		if (f.type == MSG_ERROR) {
			rc = agent_guest_refusal(&f, err);
			*done = true;
			break;
		}
	}
	buf_consume(&c->in, off);
	return rc;
}

static int agent_relay(struct agent_conn *c, const struct agent_exec_req *req,
		       struct agent_exec_result *res, struct thaw_err **err)
{
	struct buf cin = { 0 };
	buf_append(&cin, req->relay_pre, req->relay_pre_len);
	bool done = false;
	int rc = relay_from_client(c, &cin, err);
	while (rc == 0 && !done) {
		struct pollfd p[2] = {
			{ .fd = c->fd, .events = (short)(POLLIN | (c->out.len ? POLLOUT : 0)) },
			{ .fd = req->relay_fd,
			  .events = c->out.len < PROTO_MAX_PAYLOAD ? POLLIN : 0 },
		};
		if (poll(p, 2, -1) < 0 && errno != EINTR) {
			rc = err_sys(err, "relaying a shell");
			break;
		}
		if ((p[0].revents & POLLOUT) && c->out.len) {
			ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
			if (n > 0)
				buf_consume(&c->out, (size_t)n);
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				rc = err_sys(err, "writing to the guest agent");
		}
		if (rc == 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			uint8_t chunk[16384];
			ssize_t n = recv(req->relay_fd, chunk, sizeof(chunk), 0);
			if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR)))
				rc = err_set(err, ERR_UNAVAILABLE, "the client went away");
			else if (n > 0) {
				buf_append(&cin, chunk, (size_t)n);
				rc = relay_from_client(c, &cin, err);
			}
		}
		if (rc == 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			rc = conn_recv(c, err);
			if (rc == 0)
				rc = relay_from_guest(c, req->relay_fd, res, &done, err);
		}
	}
	buf_free(&cin);
	return rc;
}

static int exec_collect(struct agent_conn *c, const struct agent_exec_req *req,
			struct agent_exec_result *res, struct thaw_err **err)
{
	uint64_t budget_ms =
		req->timeout_ms ? (uint64_t)req->timeout_ms + HOST_GRACE_MS : 24ull * 3600 * 1000;
	if (req->attach_pid)
		budget_ms = req->attach_wait_ms ? req->attach_wait_ms : 24ull * 3600 * 1000;
	uint64_t deadline = time_mono_ns() + budget_ms * 1000000ull;
	size_t sent = 0;
	if (req->attach_pid)
		queue_attach(c, req);
	else
		queue_exec(c, req);
	bool from_fd = req->has_stdin && req->stdin_from_fd;
	for (;;) {
		if (!from_fd)
			queue_stdin(c, req, &sent);
		else if (queue_stdin_fd(c, req, &sent, err) < 0)
			return -1;
		struct pollfd p = { .fd = c->fd,
				    .events = (short)(POLLIN | (c->out.len ? POLLOUT : 0)) };
		int wait = left_ms(deadline);
		if (req->cancel && (wait < 0 || wait > CANCEL_CHECK_MS))
			wait = CANCEL_CHECK_MS;
		int r = poll(&p, 1, wait);
		if (req->cancel && __atomic_load_n(req->cancel, __ATOMIC_ACQUIRE))
			return err_set(err, ERR_UNAVAILABLE, "the client went away");
		if (r == 0 && left_ms(deadline) == 0 && req->attach_pid)
			return err_set(err, ERR_TIMEOUT, "process %u did not exit in time",
				       req->attach_pid);
		if (r == 0 && left_ms(deadline) == 0)
			return err_set(err, ERR_TIMEOUT,
				       "the guest agent did not finish the command");
		if (r == 0)
			continue;
		if (r < 0 && errno != EINTR)
			return err_sys(err, "waiting for the guest agent");
		if ((p.revents & POLLOUT) && c->out.len) {
			ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return err_sys(err, "writing to the guest agent");
			if (n > 0)
				buf_consume(&c->out, (size_t)n);
		}
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (conn_recv(c, err) < 0)
			return req->attach_pid ? agent_old_check(c, err) : -1;
		size_t off = 0;
		for (;;) {
			struct proto_frame f;
			long n = proto_frame_parse(c->in.data + off, c->in.len - off, &f);
			if (n < 0)
				return err_set(err, ERR_GUEST,
					       "the guest agent sent a malformed frame");
			if (n == 0)
				break;
			off += (size_t)n;
			note_frame(c, f.type);
			if (f.type == MSG_OUTPUT)
				take_output(req, res, &f);
			else if (f.type == MSG_STARTED)
				take_started(req, &f);
			else if (f.type == MSG_EXIT) {
				int rc = parse_exit(&f, res, err);
				/* Consumed: the connection may carry the next request. */
				buf_consume(&c->in, off);
				return rc;
			} else if (f.type == MSG_ERROR)
				return agent_guest_refusal(&f, err);
			else
				return err_set(err, ERR_GUEST, "unexpected %s during exec",
					       proto_type_name(f.type));
		}
		buf_consume(&c->in, off);
	}
}

int agent_exec(struct agent_conn *c, const struct agent_exec_req *req,
	       struct agent_exec_result *res, struct thaw_err **err)
{
	memset(res, 0, sizeof(*res));
	int rc;
	if (req->relay) {
		queue_exec(c, req);
		rc = agent_relay(c, req, res, err);
	} else {
		rc = exec_collect(c, req, res, err);
	}
	/* Output gathered before a failure (the VMM died, the deadline
	 * passed) is nobody's: the caller reads res only on success. */
	if (rc < 0) {
		agent_exec_result_free(res);
		memset(res, 0, sizeof(*res));
	}
	return rc;
}

void agent_exec_result_free(struct agent_exec_result *res)
{
	buf_free(&res->out);
	buf_free(&res->err);
}
