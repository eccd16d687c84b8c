/* thaw_shell_*: the client side of GET .../shell (an HTTP upgrade), then
 * the guest agent's frames (8-byte header: u32 length, u8 type, u8
 * stream, u16 zero; TLV payloads: u16 tag, u32 length, value), all
 * little-endian. Only the few types a shell uses are known here; libthaw
 * does not link thaw's own protocol code. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

enum { F_STDIN = 6, F_OUTPUT = 7, F_EXIT = 8, F_ERROR = 9, F_RESIZE = 12 };
enum { TAG_EXIT_CODE = 9, TAG_MESSAGE = 13, TAG_ROWS = 26, TAG_COLS = 27 };
#define HDR 8
#define MAX_FRAME (1u << 20)
#define MAX_HEAD 16384
#define WRITE_CHUNK 65536

struct thaw_shell {
	int fd;
	struct tl_buf in;
};

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int send_all(int fd, const void *data, size_t len, thaw_error **err)
{
	const char *p = data;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return tl_error_set(err, 0, TL_TRANSPORT, "sending to thawd: %s",
					    strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_frame(thaw_shell *sh, int type, const void *payload, size_t len, thaw_error **err)
{
	uint8_t hdr[HDR] = { 0 };
	put32(hdr, (uint32_t)len);
	hdr[4] = (uint8_t)type;
	if (send_all(sh->fd, hdr, HDR, err) < 0)
		return -1;
	return len ? send_all(sh->fd, payload, len, err) : 0;
}

/* Reads the answer's head; 101 leaves what followed it in sh->in. */
static int read_head(thaw_shell *sh, thaw_error **err)
{
	char *end = NULL;
	while (!end) {
		char chunk[4096];
		ssize_t n = recv(sh->fd, chunk, sizeof(chunk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return tl_error_set(err, 0, TL_TRANSPORT, "thawd closed the connection");
		tl_buf_append(&sh->in, chunk, (size_t)n);
		end = strstr(sh->in.data, "\r\n\r\n");
		if (!end && sh->in.len > MAX_HEAD)
			return tl_error_set(err, 0, TL_PROTOCOL, "the answer's head is too long");
	}
	int status = 0;
	sscanf(sh->in.data, "HTTP/1.%*d %d", &status);
	size_t head = (size_t)(end + 4 - sh->in.data);
	if (status == 101) {
		memmove(sh->in.data, sh->in.data + head, sh->in.len - head);
		sh->in.len -= head;
		return 0;
	}
	/* An error: the JSON body (up to what arrives before the close). */
	for (;;) {
		char chunk[4096];
		ssize_t n = recv(sh->fd, chunk, sizeof(chunk), 0);
		if (n <= 0 || sh->in.len > MAX_HEAD)
			break;
		tl_buf_append(&sh->in, chunk, (size_t)n);
	}
	const char *body = strstr(sh->in.data, "\r\n\r\n") + 4;
	json_t *o = json_loads(body, 0, NULL);
	const char *msg = json_string_value(json_object_get(o, "error"));
	const char *code = json_string_value(json_object_get(o, "code"));
	tl_error_set(err, status, code ? code : TL_PROTOCOL, "%s",
		     msg ? msg : "thawd refused the shell");
	tl_error_request_id(err, o);
	json_decref(o);
	return -1;
}

THAW_API int thaw_shell_open(thaw_client *client, const char *id, const char *cmd, int rows,
			     int cols, thaw_shell **out, thaw_error **err)
{
	if (tl_check_id(id, "sandbox id", err) < 0)
		return -1;
	if (rows < 1 || rows > 1000 || cols < 1 || cols > 1000)
		return tl_error_set(err, 0, TL_INVALID, "rows and cols must be from 1 to 1000");
	int fd = tl_dial(client, "a shell", err);
	if (fd < 0)
		return -1;
	char *esc = cmd ? curl_easy_escape(client->curl, cmd, 0) : NULL;
	char *req = NULL;
	if (asprintf(&req,
		     "GET /v1/sandboxes/%s/shell?rows=%d&cols=%d%s%s HTTP/1.1\r\n"
		     "Host: thawd\r\nConnection: Upgrade\r\nUpgrade: thaw-shell\r\n"
		     "%s%s%s\r\n",
		     id, rows, cols, esc ? "&cmd=" : "", esc ? esc : "",
		     client->key ? "Authorization: Bearer " : "", client->key ? client->key : "",
		     client->key ? "\r\n" : "") < 0)
		abort();
	curl_free(esc);
	thaw_shell *sh = tl_xcalloc(1, sizeof(*sh));
	sh->fd = fd;
	int rc = send_all(fd, req, strlen(req), err);
	free(req);
	if (rc == 0)
		rc = read_head(sh, err);
	if (rc < 0) {
		thaw_shell_close(sh);
		return -1;
	}
	*out = sh;
	return 0;
}

THAW_API int thaw_shell_fd(const thaw_shell *sh)
{
	return sh->fd;
}

THAW_API int thaw_shell_write(thaw_shell *sh, const void *data, size_t len, thaw_error **err)
{
	const char *p = data;
	while (len) {
		size_t n = len < WRITE_CHUNK ? len : WRITE_CHUNK;
		if (send_frame(sh, F_STDIN, p, n, err) < 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

THAW_API int thaw_shell_resize(thaw_shell *sh, int rows, int cols, thaw_error **err)
{
	uint8_t p[2 * 10];
	for (int i = 0; i < 2; i++) {
		uint8_t *f = p + 10 * i;
		f[0] = (uint8_t)(i ? TAG_COLS : TAG_ROWS);
		f[1] = 0;
		put32(f + 2, 4);
		put32(f + 6, (uint32_t)(i ? cols : rows));
	}
	return send_frame(sh, F_RESIZE, p, sizeof(p), err);
}

/* A TLV field of a frame's payload; NULL if absent. */
static const uint8_t *field(const uint8_t *p, uint32_t len, int tag, uint32_t *flen)
{
	uint32_t off = 0;
	while (off + 6 <= len) {
		int t = p[off] | p[off + 1] << 8;
		uint32_t l = get32(p + off + 2);
		if (l > len - off - 6)
			return NULL;
		if (t == tag) {
			*flen = l;
			return p + off + 6;
		}
		off += 6 + l;
	}
	return NULL;
}

/* Handles whole frames in sh->in; 1 running, 0 ended, -1 error. */
static int handle_frames(thaw_shell *sh, thaw_output_fn fn, void *ud, int *exit_code,
			 thaw_error **err)
{
	size_t off = 0;
	int state = 1;
	while (state == 1 && sh->in.len - off >= HDR) {
		const uint8_t *h = (const uint8_t *)sh->in.data + off;
		uint32_t len = get32(h);
		if (len > MAX_FRAME)
			return tl_error_set(err, 0, TL_PROTOCOL, "a frame from thawd is too large");
		if (sh->in.len - off < HDR + len)
			break;
		const uint8_t *p = h + HDR;
		uint32_t flen = 0;
		const uint8_t *v;
		if (h[4] == F_OUTPUT && fn) {
			fn(h[5] ? h[5] : 1, (const char *)p, len, ud);
		} else if (h[4] == F_EXIT) {
			v = field(p, len, TAG_EXIT_CODE, &flen);
			*exit_code = v && flen == 4 ? (int)get32(v) : -1;
			state = 0;
		} else if (h[4] == F_ERROR) {
			v = field(p, len, TAG_MESSAGE, &flen);
			state = tl_error_set(err, 0, "guest_error", "%.*s", v ? (int)flen : 0,
					     v ? (const char *)v : "");
		}
		off += HDR + len;
	}
	memmove(sh->in.data, sh->in.data + off, sh->in.len - off);
	sh->in.len -= off;
	return state;
}

THAW_API int thaw_shell_pump(thaw_shell *sh, thaw_output_fn on_output, void *userdata,
			     int *exit_code, thaw_error **err)
{
	int st = handle_frames(sh, on_output, userdata, exit_code, err);
	if (st != 1)
		return st;
	char chunk[16384];
	ssize_t n = recv(sh->fd, chunk, sizeof(chunk), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 1;
	if (n <= 0)
		return tl_error_set(err, 0, TL_TRANSPORT, "thawd closed the shell");
	tl_buf_append(&sh->in, chunk, (size_t)n);
	return handle_frames(sh, on_output, userdata, exit_code, err);
}

THAW_API void thaw_shell_close(thaw_shell *sh)
{
	if (!sh)
		return;
	if (sh->fd >= 0)
		close(sh->fd);
	tl_buf_free(&sh->in);
	free(sh);
}
