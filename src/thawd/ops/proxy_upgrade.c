/* A proxied request that asks for a protocol upgrade (WebSocket and any
 * other Upgrade): curl cannot hand over its socket, so the request's head
 * goes over a raw socket opened in the sandbox's namespace, and the
 * guest's answer head is read back byte by byte (nothing past it is
 * consumed: after a 101 every later byte belongs to the new protocol). */
#include "ops/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cleanup.h"
#include "guestnet.h"
#include "net/slot.h"
#include "ops/ops.h"
#include "relay.h"

#define UPGRADE_HEAD_MAX (16 * 1024)
#define UPGRADE_BODY_MAX (1u << 20) /* a refusal's body */
#define UPGRADE_WAIT_S 30

static int connect_guest(struct proxy_upgrade *u, int port, struct thaw_err **err)
{
	if (netslot_socket(u->sb->slot, AF_INET, SOCK_STREAM, &u->fd, err) < 0)
		return -1;
	u->inflight = sandbox_inflight_add(u->sb, u->fd, err);
	if (u->inflight < 0)
		return -1;
	struct timeval tv = { .tv_sec = UPGRADE_WAIT_S };
	setsockopt(u->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(u->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, GUESTNET_GUEST_IP, &sa.sin_addr);
	if (connect(u->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return 0;
	if (errno == ECONNREFUSED)
		return err_set(err, ERR_GUEST, "nothing listens on port %d in sandbox %s", port,
			       u->sb->id);
	return err_sys(err, "connecting to port %d in sandbox %s", port, u->sb->id);
}

static int send_head(struct proxy_upgrade *u, const struct proxy_req *req, struct thaw_err **err)
{
	_cleanup_buf_ struct buf head = { 0 };
	buf_printf(&head, "%s %s%s%s HTTP/1.1\r\nHost: " GUESTNET_GUEST_IP ":%d\r\n", req->method,
		   req->path, req->query ? "?" : "", req->query ? req->query : "", req->port);
	for (size_t i = 0; req->headers && req->headers[i]; i++)
		buf_printf(&head, "%s\r\n", req->headers[i]);
	buf_printf(&head, "Connection: Upgrade\r\nUpgrade: %s\r\n\r\n", req->upgrade);
	const char *p = (const char *)head.data;
	size_t left = head.len;
	while (left) {
		ssize_t n = send(u->fd, p, left, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_sys(err, "sending to port %d in sandbox %s", req->port, u->sb->id);
		p += n;
		left -= (size_t)n;
	}
	return 0;
}

/* The answer's head, up to its empty line and not a byte further. */
static int read_head(struct proxy_upgrade *u, struct buf *head, struct thaw_err **err)
{
	while (head->len < UPGRADE_HEAD_MAX) {
		char c;
		ssize_t n = recv(u->fd, &c, 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return err_set(err, ERR_GUEST, "sandbox %s: no answer to the upgrade",
				       u->sb->id);
		buf_append(head, &c, 1);
		if (head->len >= 4 && memcmp(head->data + head->len - 4, "\r\n\r\n", 4) == 0)
			return 0;
	}
	return err_set(err, ERR_GUEST, "sandbox %s: the answer's head is over %d bytes", u->sb->id,
		       UPGRADE_HEAD_MAX);
}

static bool header_is(const char *line, size_t name_len, const char *name)
{
	return strlen(name) == name_len && strncasecmp(line, name, name_len) == 0;
}

/* Status and header lines; Content-Length (-1: none) and whether the
 * body is chunked, for a refusal. */
static int parse_head(struct proxy_upgrade *u, const struct buf *head, long *clen, bool *chunked,
		      struct thaw_err **err)
{
	const char *p = (const char *)head->data;
	const char *end = p + head->len;
	if (sscanf(p, "HTTP/1.%*1[01] %3ld", &u->status) != 1 || u->status < 100 || u->status > 599)
		return err_set(err, ERR_GUEST, "sandbox %s: a broken answer to the upgrade",
			       u->sb->id);
	*clen = -1;
	*chunked = false;
	p = memchr(p, '\n', (size_t)(end - p)) + 1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)(nl - p) + 1;
		const char *colon = memchr(p, ':', len);
		if (colon) {
			size_t nlen = (size_t)(colon - p);
			if (header_is(p, nlen, "content-length"))
				*clen = strtol(colon + 1, NULL, 10);
			else if (header_is(p, nlen, "transfer-encoding"))
				*chunked = true;
			else if (!header_is(p, nlen, "connection") && !header_is(p, nlen, "keep-alive"))
				buf_append(&u->headers, p, len);
		}
		p += len;
	}
	return 0;
}

/* A refusal (not 101) is passed on with its body: up to its length, or
 * to the end of the connection. */
static int read_refusal(struct proxy_upgrade *u, long clen, bool chunked, struct thaw_err **err)
{
	if (chunked)
		return err_set(err, ERR_GUEST, "sandbox %s refused the upgrade with a chunked answer",
			       u->sb->id);
	if (clen > (long)UPGRADE_BODY_MAX)
		return err_set(err, ERR_GUEST, "sandbox %s refused the upgrade with a body over %u bytes",
			       u->sb->id, UPGRADE_BODY_MAX);
	size_t want = clen >= 0 ? (size_t)clen : UPGRADE_BODY_MAX;
	char chunk[16384];
	while (u->body.len < want) {
		size_t ask = want - u->body.len < sizeof(chunk) ? want - u->body.len : sizeof(chunk);
		ssize_t n = recv(u->fd, chunk, ask, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf_append(&u->body, chunk, (size_t)n);
	}
	return 0;
}

int sandbox_proxy_upgrade(struct host *h, const char *id, const struct proxy_req *req,
			  struct proxy_upgrade **out, struct thaw_err **err)
{
	struct sandbox *sb = NULL;
	if (sandbox_running_for_request(h, id, req->auto_resume, &sb, err) < 0)
		return -1;
	struct proxy_upgrade *u = xcalloc(1, sizeof(*u));
	u->h = h;
	u->sb = sb;
	u->fd = -1;
	u->inflight = -1;
	_cleanup_buf_ struct buf head = { 0 };
	long clen = -1;
	bool chunked = false;
	if (connect_guest(u, req->port, err) < 0 || send_head(u, req, err) < 0 ||
	    read_head(u, &head, err) < 0 || parse_head(u, &head, &clen, &chunked, err) < 0 ||
	    (u->status != 101 && read_refusal(u, clen, chunked, err) < 0)) {
		proxy_upgrade_free(u);
		return -1;
	}
	/* The relay has its own timeouts: none on the socket from here on. */
	struct timeval none = { 0 };
	setsockopt(u->fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	setsockopt(u->fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
	*out = u;
	return 0;
}

void proxy_upgrade_free(struct proxy_upgrade *u)
{
	if (!u)
		return;
	if (u->inflight >= 0)
		sandbox_inflight_del(u->sb, u->inflight);
	if (u->fd >= 0)
		close(u->fd);
	sandbox_unref(u->h, u->sb);
	buf_free(&u->headers);
	buf_free(&u->body);
	free(u);
}

struct upgrade_relay {
	struct proxy_upgrade *u;
	void (*done)(void *ud);
	void *ud;
};

static void relay_over(void *ud, const struct relay_totals *totals)
{
	(void)totals;
	struct upgrade_relay *r = ud;
	proxy_upgrade_free(r->u);
	r->done(r->ud);
	free(r);
}

int proxy_upgrade_relay(struct proxy_upgrade *u, int client, const void *pre, size_t pre_len,
			void (*done)(void *ud), void *ud, struct thaw_err **err)
{
	struct upgrade_relay *r = xmalloc(sizeof(*r));
	*r = (struct upgrade_relay){ .u = u, .done = done, .ud = ud };
	struct relay_spec spec = { .a = client, .b = u->fd, .pre = pre, .pre_len = pre_len,
				   .done = relay_over, .ud = r };
	if (relay_start(&spec, err) < 0) {
		free(r);
		return -1;
	}
	return 0;
}
