/* thaw_sandbox_tunnel: the client side of GET .../tunnel/{port} (an HTTP
 * upgrade to raw TCP). The answer's head is read a byte at a time: every
 * byte after it belongs to the service (some speak first), and the
 * caller gets the socket with nothing of theirs consumed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

#define MAX_HEAD 16384
#define MAX_ERROR_BODY 65536

static int send_request(int fd, const thaw_client *c, const char *id, int port, bool auto_resume,
			thaw_error **err)
{
	char *req = NULL;
	if (asprintf(&req,
		     "GET /v1/sandboxes/%s/tunnel/%d%s HTTP/1.1\r\nHost: thawd\r\n"
		     "Connection: Upgrade\r\nUpgrade: thaw-tunnel\r\n%s%s%s\r\n",
		     id, port, auto_resume ? "?auto_resume=true" : "",
		     c->key ? "Authorization: Bearer " : "", c->key ? c->key : "",
		     c->key ? "\r\n" : "") < 0)
		abort();
	const char *p = req;
	size_t left = strlen(req);
	int rc = 0;
	while (left && rc == 0) {
		ssize_t n = send(fd, p, left, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = tl_error_set(err, 0, TL_TRANSPORT, "sending to thawd: %s", strerror(errno));
		else
			p += n, left -= (size_t)n;
	}
	free(req);
	return rc;
}

/* The answer's head, up to its empty line and not a byte further. */
static int read_head(int fd, struct tl_buf *head, thaw_error **err)
{
	while (head->len < MAX_HEAD) {
		char ch;
		ssize_t n = recv(fd, &ch, 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return tl_error_set(err, 0, TL_TRANSPORT, "thawd closed the connection");
		tl_buf_append(head, &ch, 1);
		if (head->len >= 4 && memcmp(head->data + head->len - 4, "\r\n\r\n", 4) == 0)
			return 0;
	}
	return tl_error_set(err, 0, TL_PROTOCOL, "the answer's head is too long");
}

/* thaw's JSON error after a refusal: its body up to Content-Length (or the
 * close), bounded. */
static int refusal(int fd, int status, const struct tl_buf *head, thaw_error **err)
{
	long want = MAX_ERROR_BODY;
	const char *cl = strcasestr(head->data, "\r\nContent-Length:");
	if (cl)
		want = strtol(cl + 17, NULL, 10);
	if (want < 0 || want > MAX_ERROR_BODY)
		want = MAX_ERROR_BODY;
	struct tl_buf body = { 0 };
	while ((long)body.len < want) {
		char chunk[4096];
		size_t ask = (size_t)want - body.len < sizeof(chunk) ? (size_t)want - body.len :
									sizeof(chunk);
		ssize_t n = recv(fd, chunk, ask, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		tl_buf_append(&body, chunk, (size_t)n);
	}
	json_t *o = body.len ? json_loadb(body.data, body.len, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(o, "error"));
	const char *code = json_string_value(json_object_get(o, "code"));
	tl_error_set(err, status, code ? code : TL_PROTOCOL, "%s",
		     msg ? msg : "thawd refused the tunnel");
	tl_error_request_id(err, o);
	json_decref(o);
	tl_buf_free(&body);
	return -1;
}

THAW_API int thaw_sandbox_tunnel(thaw_client *client, const char *id, int port, bool auto_resume,
				 int *fd_out, thaw_error **err)
{
	if (tl_check_id(id, "sandbox id", err) < 0)
		return -1;
	if (port < 1 || port > 65535)
		return tl_error_set(err, 0, TL_INVALID, "port must be from 1 to 65535");
	int fd = tl_dial(client, "a tunnel", err);
	if (fd < 0)
		return -1;
	struct tl_buf head = { 0 };
	int status = 0;
	int rc = send_request(fd, client, id, port, auto_resume, err);
	if (rc == 0)
		rc = read_head(fd, &head, err);
	if (rc == 0 && (sscanf(head.data, "HTTP/1.%*d %d", &status) != 1 || status != 101))
		rc = refusal(fd, status, &head, err);
	tl_buf_free(&head);
	if (rc < 0) {
		close(fd);
		return -1;
	}
	*fd_out = fd;
	return 0;
}
