#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"

/* 64 KiB per direction: enough to keep a loopback or virtio link busy,
 * small enough that thousands of idle tunnels cost little. */
#define RELAY_BUF (64 * 1024)
/* The thread needs little stack of its own, but glibc carves the
 * program's static thread-local storage out of every thread's stack
 * (thawd has 256 KiB of it): a size below that is refused with EINVAL, so
 * a refused small stack falls back to the default. */
#define RELAY_STACK (512 * 1024)

/* One direction: bytes read from `from`, waiting in buf[off, len) to be
 * written to `to`. */
struct half {
	int from, to;
	uint8_t *buf;
	size_t off, len;
	bool eof;	/* `from` said end of stream (or the direction failed) */
	bool shut;	/* ... and that end was passed on to `to` */
	uint64_t total;
};

struct relay {
	struct half ab, ba;
	relay_done_fn done;
	void *ud;
	char req_id[LOG_REQID_SIZE]; /* of the request that started it, "" if none */
};

static void set_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Moves what it can without blocking; false when the relay must end
 * (a hard error on either socket). */
static bool pump(struct half *h)
{
	if (!h->eof && h->len == 0) {
		ssize_t n = recv(h->from, h->buf, RELAY_BUF, 0);
		if (n > 0) {
			h->off = 0;
			h->len = (size_t)n;
		} else if (n == 0) {
			h->eof = true;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			return false;
		}
	}
	while (h->len) {
		ssize_t n = send(h->to, h->buf + h->off, h->len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				break;
			return false;
		}
		h->off += (size_t)n;
		h->len -= (size_t)n;
		h->total += (uint64_t)n;
	}
	if (h->eof && h->len == 0 && !h->shut) {
		shutdown(h->to, SHUT_WR);
		h->shut = true;
	}
	return true;
}

/* What to wait for on one socket: readable if its outgoing half has room,
 * writable if the other half has bytes for it. */
static short wanted(const struct half *out, const struct half *in)
{
	short ev = 0;
	if (!out->eof && out->len == 0)
		ev |= POLLIN;
	if (in->len)
		ev |= POLLOUT;
	return ev;
}

static void *relay_thread(void *arg)
{
	struct relay *r = arg;
	log_set_request_id(r->req_id);
	for (;;) {
		if (!pump(&r->ab) || !pump(&r->ba))
			break;
		if (r->ab.shut && r->ba.shut)
			break;
		struct pollfd p[2] = { { .fd = r->ab.from, .events = wanted(&r->ab, &r->ba) },
				       { .fd = r->ba.from, .events = wanted(&r->ba, &r->ab) } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		/* A socket both ends of which were shut down (a sandbox that
		 * stopped running cuts its sockets) reads as end of stream and
		 * writes as EPIPE: pump() sees both, so no special case here,
		 * except a hang-up with nothing left to read or write. */
		if (((p[0].revents | p[1].revents) & POLLNVAL))
			break;
		if ((p[0].revents & (POLLERR | POLLHUP)) && !(p[0].revents & POLLIN) &&
		    r->ba.len == 0 && r->ab.eof)
			break;
		if ((p[1].revents & (POLLERR | POLLHUP)) && !(p[1].revents & POLLIN) &&
		    r->ab.len == 0 && r->ba.eof)
			break;
	}
	struct relay_totals t = { .a_to_b = r->ab.total, .b_to_a = r->ba.total };
	r->done(r->ud, &t);
	free(r->ab.buf);
	free(r->ba.buf);
	free(r);
	return NULL;
}

int relay_start(const struct relay_spec *spec, struct thaw_err **err)
{
	if (spec->pre_len > RELAY_BUF)
		return err_set(err, ERR_INVALID, "%zu bytes arrived before the relay started: "
				 "more than %d", spec->pre_len, RELAY_BUF);
	struct relay *r = xcalloc(1, sizeof(*r));
	r->ab = (struct half){ .from = spec->a, .to = spec->b, .buf = xmalloc(RELAY_BUF) };
	r->ba = (struct half){ .from = spec->b, .to = spec->a, .buf = xmalloc(RELAY_BUF) };
	r->done = spec->done;
	r->ud = spec->ud;
	log_request_id_copy(r->req_id);
	if (spec->pre_len) {
		memcpy(r->ab.buf, spec->pre, spec->pre_len);
		r->ab.len = spec->pre_len;
	}
	set_nonblocking(spec->a);
	set_nonblocking(spec->b);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, RELAY_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t t;
	int rc = pthread_create(&t, &attr, relay_thread, r);
	if (rc == EINVAL) {
		pthread_attr_setstacksize(&attr, 8u << 20);
		rc = pthread_create(&t, &attr, relay_thread, r);
	}
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		free(r->ab.buf);
		free(r->ba.buf);
		free(r);
		errno = rc;
		return err_sys(err, "cannot start a relay thread");
	}
	return 0;
}
