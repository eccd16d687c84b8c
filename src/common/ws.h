/* WebSocket (RFC 6455), the server's side: the handshake's accept value,
 * frames read from a client (masked, possibly fragmented, control frames
 * between fragments) turned into whole messages, and frames written to
 * it (unmasked, unfragmented). No extensions are offered, so the RSV bits
 * must be clear. Everything a client sends is hostile: lengths are
 * checked before anything is kept, and a message may not grow past
 * WS_MAX_MESSAGE. Used by thawd's shell route (api/shell_ws.c) so that a
 * browser's terminal reaches the guest agent's pseudo-terminal. */
#ifndef THAW_WS_H
#define THAW_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define WS_MAX_MESSAGE (1u << 20)
#define WS_ACCEPT_LEN 28 /* base64 of a SHA-1 */
#define WS_CONTROL_MAX 125

enum ws_opcode {
	WS_CONT = 0x0,
	WS_TEXT = 0x1,
	WS_BINARY = 0x2,
	WS_CLOSE = 0x8,
	WS_PING = 0x9,
	WS_PONG = 0xA,
};

/* Close codes (RFC 6455 7.4.1) a server sends. */
enum ws_close_code {
	WS_CLOSE_NORMAL = 1000,
	WS_CLOSE_PROTOCOL = 1002,
	WS_CLOSE_BAD_DATA = 1007,
	WS_CLOSE_TOO_BIG = 1009,
	WS_CLOSE_INTERNAL = 1011,
};

/* Sec-WebSocket-Accept for a client's Sec-WebSocket-Key: out gets
 * WS_ACCEPT_LEN characters and a NUL. -1 when the key is not the base64
 * of 16 bytes (RFC 6455 4.2.1 item 5). */
int ws_accept(const char *key, char out[WS_ACCEPT_LEN + 1]);

/* A client's messages, assembled from its frames. */
struct ws_reader {
	struct buf msg;	   /* the fragments so far of a data message */
	uint8_t msg_op;	   /* its opcode (WS_TEXT or WS_BINARY) */
	bool in_msg;	   /* a fragmented message is open */
	uint16_t close_code; /* why the last -1 was returned (enum ws_close_code) */
	uint8_t ctl[WS_CONTROL_MAX]; /* the last control frame's payload */
};

/* One thing read: a whole data message, or a control frame. data points
 * into the reader's or the caller's buffer and lasts until the next call. */
struct ws_event {
	uint8_t opcode; /* WS_TEXT, WS_BINARY, WS_CLOSE, WS_PING or WS_PONG */
	const uint8_t *data;
	size_t len;
};

/* Takes the next event from the start of in (bytes from the client; the
 * frames it uses are consumed, and their payloads unmasked in place).
 * Returns 1 with *ev set, 0 when more bytes are needed, -1 when the client
 * broke the protocol (r->close_code says how; the connection must end). */
int ws_read(struct ws_reader *r, struct buf *in, struct ws_event *ev);
void ws_reader_free(struct ws_reader *r);

/* Parses one frame's header at the start of data: 1 with the payload's
 * offset and length, 0 when more bytes are needed, -1 when it is invalid
 * (close code in *why). Exposed for the tests and the fuzz target. */
struct ws_frame {
	bool fin;
	uint8_t opcode;
	bool masked;
	uint8_t mask[4];
	size_t hdr_len;
	uint64_t len;
};
int ws_frame_head(const uint8_t *data, size_t len, struct ws_frame *f, uint16_t *why);

/* Appends one unmasked final frame (a server's). */
void ws_put_frame(struct buf *out, uint8_t opcode, const void *data, size_t len);
/* A close frame with its code and a short reason. */
void ws_put_close(struct buf *out, uint16_t code, const char *reason);

#endif
