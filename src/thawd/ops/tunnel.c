#include "ops/tunnel.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "core/sandbox.h"
#include "guestnet.h"
#include "log.h"
#include "net/slot.h"
#include "ops/ops.h"
#include "relay.h"

/* A guest that neither accepts nor refuses in this time is not serving. */
#define CONNECT_TIMEOUT_MS 5000

struct tunnel {
	struct host *h;
	struct sandbox *sb; /* a reference, for the tunnel's life */
	int guest_fd;
	int inflight; /* slot in sb's in-flight list */
	int port;
	int client_fd;
	tunnel_closed_fn closed;
	void *ud;
};

/* A non-blocking connect bounded by CONNECT_TIMEOUT_MS; fd is left
 * non-blocking (the relay wants it so). */
static int connect_guest(int fd, int port, const char *id, struct thaw_err **err)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, GUESTNET_GUEST_IP, &sa.sin_addr);
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (rc < 0 && errno == EINPROGRESS) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int n;
		do
			n = poll(&p, 1, CONNECT_TIMEOUT_MS);
		while (n < 0 && errno == EINTR);
		if (n == 0)
			return err_set(err, ERR_GUEST, "port %d in sandbox %s does not answer",
				       port, id);
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		errno = soerr;
		rc = soerr ? -1 : 0;
	}
	if (rc == 0)
		return 0;
	if (errno == ECONNREFUSED)
		return err_set(err, ERR_GUEST, "nothing listens on port %d in sandbox %s", port,
			       id);
	return err_sys(err, "connecting to port %d in sandbox %s", port, id);
}

static void tunnel_free(struct tunnel *t)
{
	pthread_mutex_lock(&t->sb->lock);
	t->sb->open_tunnels--;
	pthread_mutex_unlock(&t->sb->lock);
	/* Leave the list before the fd number can be reused. */
	sandbox_inflight_del(t->sb, t->inflight);
	close(t->guest_fd);
	sandbox_unref(t->h, t->sb);
	free(t);
}

static int open_on(struct host *h, struct sandbox *sb, int port, struct tunnel **out,
		   struct thaw_err **err)
{
	_cleanup_close_ int fd = -1;
	if (netslot_socket(sb->slot, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, &fd, err) < 0 ||
	    connect_guest(fd, port, sb->id, err) < 0)
		return -1;
	int slot = sandbox_inflight_add(sb, fd, err);
	if (slot < 0)
		return -1;
	/* Shutdown may have swept the in-flight list just before we joined. */
	if (__atomic_load_n(&h->stopping, __ATOMIC_ACQUIRE)) {
		sandbox_inflight_del(sb, slot);
		return err_set(err, ERR_UNAVAILABLE, "thawd is stopping");
	}
	struct tunnel *t = xcalloc(1, sizeof(*t));
	t->h = h;
	t->sb = sb;
	t->guest_fd = steal_fd(&fd);
	t->inflight = slot;
	t->port = port;
	t->client_fd = -1;
	pthread_mutex_lock(&sb->lock);
	sb->open_tunnels++;
	pthread_mutex_unlock(&sb->lock);
	*out = t;
	return 0;
}

int tunnel_open(struct host *h, const char *id, int port, bool auto_resume, struct tunnel **out,
		struct thaw_err **err)
{
	if (port < 1 || port > 65535)
		return err_set(err, ERR_INVALID, "port must be from 1 to 65535, not %d", port);
	struct sandbox *sb = NULL;
	if (sandbox_running_for_request(h, id, auto_resume, &sb, err) < 0)
		return -1;
	if (open_on(h, sb, port, out, err) < 0) {
		sandbox_unref(h, sb);
		return -1;
	}
	return 0;
}

static void on_relay_done(void *ud, const struct relay_totals *totals)
{
	struct tunnel *t = ud;
	log_info("sandbox.tunnel_closed", "id=%s port=%d to_guest=%llu from_guest=%llu", t->sb->id,
		 t->port, (unsigned long long)totals->a_to_b, (unsigned long long)totals->b_to_a);
	tunnel_closed_fn closed = t->closed;
	void *cud = t->ud;
	int client_fd = t->client_fd;
	tunnel_free(t);
	closed(cud, client_fd);
}

int tunnel_start(struct tunnel *t, int client_fd, const void *pre, size_t pre_len,
		 tunnel_closed_fn closed, void *ud, struct thaw_err **err)
{
	t->client_fd = client_fd;
	t->closed = closed;
	t->ud = ud;
	struct relay_spec spec = { .a = client_fd,
				   .b = t->guest_fd,
				   .pre = pre,
				   .pre_len = pre_len,
				   .done = on_relay_done,
				   .ud = t };
	if (relay_start(&spec, err) < 0) {
		int port = t->port;
		tunnel_free(t);
		return err_wrap(err, "relaying port %d", port);
	}
	return 0;
}

void tunnel_abort(struct tunnel *t)
{
	if (t)
		tunnel_free(t);
}
