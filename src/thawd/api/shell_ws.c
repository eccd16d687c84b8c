/* The shell route's WebSocket variant (api/shell.c decides): a browser
 * cannot speak the guest agent's frames on a raw upgraded socket, so a
 * bridge thread translates between the client's WebSocket messages and
 * the agent frames that sandbox_exec relays over a socket pair:
 *   binary message            -> STDIN (keystrokes)
 *   {"resize":{"rows","cols"}} -> RESIZE
 *   OUTPUT                    -> binary message
 *   EXIT                      -> {"exit":code} then a close frame
 *   ERROR                     -> {"error":"..."} then a close frame
 * The bridge owns the client's socket; the exec's thread owns its end of
 * the pair. Either side going away ends the other: the client's close
 * closes the pair (the relay then kills the command, as a hang-up does),
 * and the command's end reaches the client as EXIT or ERROR. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api.h"
#include "api/shell_ws.h"
#include "api/stream.h"
#include "buf.h"
#include "log.h"
#include "proto.h"
#include "timeutil.h"
#include "utf8.h"
#include "ws.h"

#define CLOSE_WAIT_MS 1000 /* how long the client has to answer our close */

struct ws_bridge {
	int ws;	   /* the client's upgraded socket */
	int agent; /* our end of the pair sandbox_exec relays */
	struct MHD_UpgradeResponseHandle *urh;
	struct buf from_ws, to_ws, from_agent, to_agent;
	struct ws_reader rd;
	bool closing; /* our close frame is queued: flush it, then end */
	bool agent_gone;
};

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void bridge_close(struct ws_bridge *b, uint16_t code, const char *why)
{
	if (b->closing)
		return;
	ws_put_close(&b->to_ws, code, why);
	b->closing = true;
}

static void send_text_json(struct ws_bridge *b, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s)
		ws_put_frame(&b->to_ws, WS_TEXT, s, strlen(s));
	free(s);
}

/* {"resize":{"rows":R,"cols":C}}: 1..1000 each, as the query's. */
static int take_text(struct ws_bridge *b, const uint8_t *data, size_t len)
{
	json_t *o = json_loadb((const char *)data, len, 0, NULL);
	json_int_t rows = 0, cols = 0;
	int rc = json_unpack(o, "{s:{s:I,s:I}}", "resize", "rows", &rows, "cols", &cols);
	json_decref(o);
	if (rc < 0 || rows < 1 || rows > 1000 || cols < 1 || cols > 1000)
		return -1;
	size_t at = proto_begin(&b->to_agent, MSG_RESIZE, 0);
	proto_put_u32(&b->to_agent, T_ROWS, (uint32_t)rows);
	proto_put_u32(&b->to_agent, T_COLS, (uint32_t)cols);
	proto_end(&b->to_agent, at);
	return 0;
}

static void from_client(struct ws_bridge *b)
{
	struct ws_event ev;
	int r;
	while (!b->closing && (r = ws_read(&b->rd, &b->from_ws, &ev)) != 0) {
		if (r < 0) {
			bridge_close(b, b->rd.close_code, "protocol error");
			return;
		}
		if (ev.opcode == WS_BINARY && ev.len)
			proto_put_raw_frame(&b->to_agent, MSG_STDIN, 0, ev.data, ev.len);
		else if (ev.opcode == WS_TEXT && take_text(b, ev.data, ev.len) < 0)
			bridge_close(b, WS_CLOSE_BAD_DATA,
				     "text messages are {\"resize\":{\"rows\":R,\"cols\":C}}");
		else if (ev.opcode == WS_PING)
			ws_put_frame(&b->to_ws, WS_PONG, ev.data, ev.len);
		else if (ev.opcode == WS_CLOSE)
			bridge_close(b, WS_CLOSE_NORMAL, "");
	}
}

static void on_exit_frame(struct ws_bridge *b, const struct proto_frame *f)
{
	struct proto_tlv_iter it;
	struct proto_tlv t;
	int32_t code = -1, sig = 0;
	proto_tlv_init(&it, f);
	while (proto_tlv_next(&it, &t) > 0) {
		if (t.tag == T_EXIT_CODE)
			proto_tlv_i32(&t, &code);
		else if (t.tag == T_SIGNAL)
			proto_tlv_i32(&t, &sig);
	}
	json_t *o = json_pack("{s:i}", "exit", (int)code);
	if (sig)
		json_object_set_new(o, "signal", json_integer(sig));
	send_text_json(b, o);
	bridge_close(b, WS_CLOSE_NORMAL, "exited");
}

static void on_error_frame(struct ws_bridge *b, const struct proto_frame *f)
{
	struct proto_tlv_iter it;
	struct proto_tlv t;
	char *msg = NULL;
	proto_tlv_init(&it, f);
	while (!msg && proto_tlv_next(&it, &t) > 0)
		if (t.tag == T_MESSAGE && proto_tlv_str(&t, &msg) < 0)
			msg = NULL;
	const char *text = msg ? msg : "the shell failed";
	struct buf clean = { 0 };
	utf8_sanitize(text, strlen(text), &clean);
	send_text_json(b, json_pack("{s:s%}", "error", (const char *)clean.data, clean.len));
	buf_free(&clean);
	free(msg);
	bridge_close(b, WS_CLOSE_INTERNAL, "shell error");
}

static void from_agent(struct ws_bridge *b)
{
	size_t off = 0;
	while (!b->closing) {
		struct proto_frame f;
		long n = proto_frame_parse(b->from_agent.data + off, b->from_agent.len - off, &f);
		if (n < 0)
			bridge_close(b, WS_CLOSE_INTERNAL, "bad frame from the relay");
		if (n <= 0)
			break;
		off += (size_t)n;
		if (f.type == MSG_OUTPUT)
			ws_put_frame(&b->to_ws, WS_BINARY, f.payload, f.len);
		else if (f.type == MSG_EXIT)
			on_exit_frame(b, &f);
		else if (f.type == MSG_ERROR)
			on_error_frame(b, &f);
	}
	buf_consume(&b->from_agent, off);
}

/* recv into a buffer: 1 data, 0 nothing now, -1 the peer is gone. */
static int fill(int fd, struct buf *in)
{
	uint8_t chunk[16384];
	ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
	if (n > 0)
		buf_append(in, chunk, (size_t)n);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	return n > 0 ? 1 : -1;
}

/* send from a buffer: -1 the peer is gone. */
static int drain(int fd, struct buf *out)
{
	if (!out->len)
		return 0;
	ssize_t n = send(fd, out->data, out->len, MSG_NOSIGNAL);
	if (n > 0)
		buf_consume(out, (size_t)n);
	return n < 0 && errno != EAGAIN && errno != EINTR ? -1 : 0;
}

/* One round of poll; false when the bridge is done. */
static bool bridge_step(struct ws_bridge *b)
{
	bool ws_room = b->to_ws.len < WS_MAX_MESSAGE, ag_room = b->to_agent.len < WS_MAX_MESSAGE;
	struct pollfd p[2] = {
		{ .fd = b->ws, .events = (short)((ag_room ? POLLIN : 0) |
						 (b->to_ws.len ? POLLOUT : 0)) },
		{ .fd = b->agent_gone ? -1 : b->agent,
		  .events = (short)((ws_room && !b->closing ? POLLIN : 0) |
				    (b->to_agent.len ? POLLOUT : 0)) },
	};
	if (b->closing && !b->to_ws.len)
		return false;
	int r = poll(p, 2, b->closing ? CLOSE_WAIT_MS : -1);
	if (r < 0 && errno == EINTR)
		return true;
	if (r <= 0)
		return false;
	if ((p[0].revents & POLLOUT) && drain(b->ws, &b->to_ws) < 0)
		return false;
	if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
		if (fill(b->ws, &b->from_ws) < 0)
			return false;
		from_client(b);
	}
	if ((p[1].revents & POLLOUT) && drain(b->agent, &b->to_agent) < 0)
		b->agent_gone = true;
	if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
		if (fill(b->agent, &b->from_agent) < 0) {
			b->agent_gone = true;
			from_agent(b);
			bridge_close(b, WS_CLOSE_INTERNAL, "the shell ended");
		} else {
			from_agent(b);
		}
	}
	return true;
}

/* Our close frame is out: no more from us, and what the client still
 * sends (its own close) is read and dropped for a moment, so that closing
 * the socket with unread bytes does not reset the connection before the
 * client has read our close. */
static void linger(struct ws_bridge *b)
{
	shutdown(b->ws, SHUT_WR);
	uint8_t sink[4096];
	uint64_t end = time_mono_ns() + CLOSE_WAIT_MS * 1000000ull;
	struct pollfd p = { .fd = b->ws, .events = POLLIN };
	while (time_mono_ns() < end && poll(&p, 1, CLOSE_WAIT_MS) > 0 &&
	       recv(b->ws, sink, sizeof(sink), 0) > 0)
		;
}

static void *bridge_thread(void *arg)
{
	struct ws_bridge *b = arg;
	from_client(b); /* what came with the request */
	while (bridge_step(b))
		;
	if (b->closing && !b->to_ws.len)
		linger(b);
	close(b->agent);
	api_upgrade_close(b->urh);
	buf_free(&b->from_ws);
	buf_free(&b->to_ws);
	buf_free(&b->from_agent);
	buf_free(&b->to_agent);
	ws_reader_free(&b->rd);
	free(b);
	return NULL;
}

int shell_ws_start(int ws, struct MHD_UpgradeResponseHandle *urh, const void *pre,
		   size_t pre_len, int *agent_end)
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return -1;
	struct ws_bridge *b = xcalloc(1, sizeof(*b));
	b->ws = ws;
	b->urh = urh;
	b->agent = sp[1];
	buf_append(&b->from_ws, pre, pre_len);
	set_nonblock(ws);
	set_nonblock(sp[1]);
	if (api_thread_detached(bridge_thread, b) < 0) {
		close(sp[0]);
		close(sp[1]);
		buf_free(&b->from_ws);
		free(b);
		return -1;
	}
	*agent_end = sp[0];
	return 0;
}

void shell_ws_refuse(int agent_end, const char *msg)
{
	struct buf f = { 0 };
	size_t at = proto_begin(&f, MSG_ERROR, 0);
	proto_put_str(&f, T_MESSAGE, msg);
	proto_end(&f, at);
	ssize_t n = send(agent_end, f.data, f.len, MSG_NOSIGNAL);
	(void)n; /* the client may be gone already */
	buf_free(&f);
}
