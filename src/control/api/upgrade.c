/* The routes that switch protocols, through the control plane:
 * GET /v1/sandboxes/{id}/shell (thaw-shell, or a WebSocket),
 * GET /v1/sandboxes/{id}/tunnel/{port} (thaw-tunnel) and an upgrade through
 * the port proxy, GET /v1/sandboxes/{id}/ports/{port}/... (a WebSocket:
 * the client's headers go on, the service's 101 headers come back). The
 * client's upgrade is made on the sandbox's host first (the control
 * plane's key, acting for the caller), and once the host has switched
 * protocols both connections are joined by a relay (common/relay.h):
 * bytes both ways, unread and unchanged (the guest agent's frames, which
 * thawd checks; a tunnel's raw TCP), half-closes passed on, until both
 * sides are done. A host that refuses (no such sandbox, paused, nothing
 * listening, bad size) has its answer passed on as it is. */
#include <openssl/crypto.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "control/api/api.h"
#include "control/relay.h"
#include "control/sandboxes.h"
#include "http_hop.h"
#include "httpapi/keys.h"
#include "log.h"
#include "relay.h"
#include "reqid.h"

#define HEAD_MAX (16u << 10)
#define HOST_TIMEOUT_MS 30000

/* What joins the two connections once the client's side has switched
 * protocols too. */
struct joint {
	int host; /* the socket to the host, past its 101 */
	int client;
	struct MHD_UpgradeResponseHandle *urh;
	char *early; /* what the host sent after its headers */
	size_t early_len;
};

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void joint_free(struct joint *j)
{
	close(j->host);
	MHD_upgrade_action(j->urh, MHD_UPGRADE_ACTION_CLOSE);
	free(j->early);
	free(j);
}

static void joint_done(void *ud, const struct relay_totals *t)
{
	(void)t;
	joint_free(ud);
}

static void on_upgrade(void *cls, struct MHD_Connection *conn, void *req_cls, const char *extra,
		       size_t extra_len, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	(void)conn;
	(void)req_cls;
	struct joint *j = cls;
	j->client = sock;
	j->urh = urh;
	/* What the client sent after its request (a shell's first
	 * keystrokes, a tunnel's first bytes) goes to the host first; what
	 * the host sent after its 101 rides the relay's early bytes. */
	struct relay_spec spec = { .a = j->host, .b = j->client, .pre = j->early,
				   .pre_len = j->early_len, .done = joint_done, .ud = j };
	_cleanup_err_ struct thaw_err *err = NULL;
	if (write_all(j->host, extra, extra_len) < 0 || relay_start(&spec, &err) < 0) {
		log_warn("control.upgrade_failed", "error=\"%s\"",
			 err ? err_msg(err) : "the host went away");
		joint_free(j);
	}
}

static int dial(const char *address, struct thaw_err **err)
{
	const char *colon = strrchr(address, ':');
	if (!colon)
		return err_set(err, ERR_INTERNAL, "host address %s has no port", address);
	_cleanup_free_ char *name = xstrndup(address, (size_t)(colon - address));
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	if (getaddrinfo(name, colon + 1, &hints, &ai) != 0 || !ai)
		return err_set(err, ERR_GUEST, "host %s: cannot resolve", address);
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { HOST_TIMEOUT_MS / 1000, 0 };
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		int e = errno;
		freeaddrinfo(ai);
		if (fd >= 0)
			close(fd);
		return err_set(err, ERR_GUEST, "host %s: %s", address, strerror(e));
	}
	freeaddrinfo(ai);
	return fd;
}

/* Reads the host's answer up to the end of its headers: the status, and
 * in *head all that was read (headers and whatever followed). */
static int read_head(int fd, struct buf *head, size_t *body_at, struct thaw_err **err)
{
	char chunk[4096];
	for (;;) {
		const char *end = head->len ? memmem(head->data, head->len, "\r\n\r\n", 4) : NULL;
		if (end) {
			*body_at = (size_t)(end + 4 - (const char *)head->data);
			int status = 0;
			if (sscanf((const char *)head->data, "HTTP/1.%*d %d", &status) != 1)
				return err_set(err, ERR_GUEST, "the host's answer is not HTTP");
			return status;
		}
		if (head->len >= HEAD_MAX)
			return err_set(err, ERR_GUEST, "the host's headers are too long");
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
		if (n <= 0)
			return err_set(err, ERR_GUEST, "the host closed the connection before answering");
		buf_append(head, chunk, (size_t)n);
	}
}

/* The host's refusal, passed on (its JSON error body). */
static enum MHD_Result refused(struct api_req *r, int fd, int status, struct buf *head,
			       size_t body_at)
{
	const char *cl = strcasestr((const char *)head->data, "\r\nContent-Length:");
	size_t want = cl ? strtoul(cl + 17, NULL, 10) : 0;
	if (want > HEAD_MAX)
		want = HEAD_MAX;
	char chunk[4096];
	while (head->len - body_at < want) {
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
		if (n <= 0)
			break;
		buf_append(head, chunk, (size_t)n);
	}
	json_t *o = json_loadb((const char *)head->data + body_at, head->len - body_at, 0, NULL);
	if (!o)
		return api_reply_fail(r, ERR_GUEST, "the host refused the upgrade with %d", status);
	return api_reply_json(r, (unsigned)status, o);
}

/* The client's own headers, for a service in the guest that reads them (a
 * WebSocket's Sec-WebSocket-Key, Origin, ...): all but hop-by-hop ones,
 * the caller's key and who it acts for, which the control plane sets. */
static enum MHD_Result pass_header(void *cls, enum MHD_ValueKind kind, const char *name,
				   const char *value)
{
	(void)kind;
	struct buf *req = cls;
	if (!value || http_hop_header(name, strlen(name)) ||
	    !strcasecmp(name, "Thaw-On-Behalf-Of") || !strcasecmp(name, REQID_HEADER) ||
	    strpbrk(name, "\r\n:") ||
	    strpbrk(value, "\r\n"))
		return MHD_YES;
	if (!strcasecmp(name, "Sec-WebSocket-Protocol")) {
		/* A key offered as a subprotocol (the console's terminal) was
		 * the caller's; the host gets the control plane's. */
		_cleanup_free_ char *rest = http_protocols_strip_keys(value);
		if (rest)
			buf_printf(req, "%s: %s\r\n", name, rest);
		return MHD_YES;
	}
	buf_printf(req, "%s: %s\r\n", name, value);
	return MHD_YES;
}

/* An Upgrade value we send on: a token (RFC 9110), short. */
static bool protocol_token(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n <= 64 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			 "!#$%&'*+-.^_`|~/") == n;
}

/* protocol NULL: whatever the client asks for (the port proxy's
 * upgrades, relayed to the guest's service with the client's headers and
 * answered with the service's). */
static enum MHD_Result upgrade(struct api_req *r, const char *protocol)
{
	bool pass = protocol == NULL;
	struct control *ctl = api_control(r);
	struct sandbox_route rt;
	_cleanup_err_ struct thaw_err *err = NULL;
	enum MHD_Result res;
	if (!control_sandbox_live(r, &rt, &res))
		return res;
	const char *up = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Upgrade");
	const char *conn = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Connection");
	if (pass && up && !protocol_token(up))
		return api_reply_fail(r, ERR_INVALID, "Upgrade must be a protocol token");
	if (pass)
		protocol = up;
	if (!up || strcasecmp(up, protocol) || !conn || !strcasestr(conn, "upgrade")) {
		/* As the host answers it (api/tunnel.c): 426 for a tunnel,
		 * 400 for a shell. */
		if (!strcmp(protocol, "thaw-tunnel"))
			return api_reply_json(r, 426,
					      json_pack("{s:s,s:s}", "error",
							"a tunnel needs Connection: Upgrade and "
							"Upgrade: thaw-tunnel",
							"code", err_code_name(ERR_INVALID)));
		return api_reply_fail(r, ERR_INVALID, "this route needs Connection: Upgrade and "
				      "Upgrade: %s", protocol);
	}
	int fd = dial(rt.address, &err);
	if (fd < 0)
		return api_reply_error(r, err);
	_cleanup_buf_ struct buf req = { 0 };
	buf_append_str(&req, "GET ");
	control_path_query(r, &req);
	char key[HOST_KEY_LEN + 1];
	host_key_derive(ctl->fleet_secret, rt.host, key);
	buf_printf(&req,
		   " HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nConnection: Upgrade\r\n"
		   "Upgrade: %s\r\n",
		   rt.address, key, protocol);
	OPENSSL_cleanse(key, sizeof(key));
	if (r->key->role != KEY_ADMIN)
		buf_printf(&req, "Thaw-On-Behalf-Of: %s\r\n", r->key->name);
	buf_printf(&req, REQID_HEADER ": %s\r\n", r->request_id);
	if (pass)
		MHD_get_connection_values(r->conn, MHD_HEADER_KIND, pass_header, &req);
	buf_append_str(&req, "\r\n");
	_cleanup_buf_ struct buf head = { 0 };
	size_t body_at = 0;
	int status = write_all(fd, (const char *)req.data, req.len) < 0
			     ? err_set(&err, ERR_GUEST, "host %s: cannot send", rt.address)
			     : read_head(fd, &head, &body_at, &err);
	if (status != 101) {
		enum MHD_Result ret = status < 0 ? api_reply_error(r, err)
						 : refused(r, fd, status, &head, body_at);
		close(fd);
		return ret;
	}
	struct timeval none = { 0, 0 }; /* a shell or a tunnel may sit idle for hours */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
	struct joint *j = xcalloc(1, sizeof(*j));
	j->host = fd;
	j->early_len = head.len - body_at;
	j->early = xmalloc(j->early_len + 1);
	memcpy(j->early, (const char *)head.data + body_at, j->early_len);
	struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgrade, j);
	if (!resp) {
		close(fd);
		free(j->early);
		free(j);
		return api_reply_fail(r, ERR_INTERNAL, "cannot upgrade this connection");
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, protocol);
	/* The host's 101 headers (a WebSocket's Sec-WebSocket-Accept), after
	 * its status line. */
	const char *first = memchr(head.data, '\n', body_at);
	if (pass && first)
		relay_add_header_lines(resp, first + 1,
				       body_at - (size_t)(first + 1 - (const char *)head.data));
	enum MHD_Result ret = api_queue(r, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
	log_info("control.upgrade", "id=%s host=%s protocol=%s", r->params[0], rt.host, protocol);
	return ret;
}

enum MHD_Result control_sandbox_shell(struct api_req *r)
{
	/* The WebSocket variant (the console's terminal) goes on as the port
	 * proxy's upgrades do: the client's WebSocket headers to the host,
	 * the host's 101 headers (Sec-WebSocket-Accept) back. */
	if (api_header_has(r, "Upgrade", "websocket"))
		return upgrade(r, NULL);
	return upgrade(r, "thaw-shell");
}

enum MHD_Result control_sandbox_tunnel(struct api_req *r)
{
	return upgrade(r, "thaw-tunnel");
}

/* GET .../ports/{port}/... with an Upgrade (ports.c decides). */
enum MHD_Result control_sandbox_port_upgrade(struct api_req *r)
{
	return upgrade(r, NULL);
}
