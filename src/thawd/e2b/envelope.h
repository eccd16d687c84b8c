/* Connect's envelopes (server streaming, JSON codec), as pure functions
 * for the front's connect.c and for tests: 1 flag byte, a u32 big-endian
 * length, then that many bytes of JSON. */
#ifndef THAW_E2B_ENVELOPE_H
#define THAW_E2B_ENVELOPE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define CONNECT_HEADER_LEN 5
#define CONNECT_FLAG_COMPRESSED 0x01u
#define CONNECT_FLAG_END 0x02u
/* A request message is a small JSON object (a command, a path, stdin
 * goes in unary calls): more is refused. */
#define CONNECT_MAX_REQUEST (1u << 20)

/* A server-streaming call's body: exactly one uncompressed message
 * envelope holding a JSON object of at most max bytes. *msg: a new
 * reference. ERR_INVALID (or ERR_TOO_LARGE past max) with a message
 * saying what is wrong; nothing past the envelope is allowed. */
int connect_envelope_parse(const void *body, size_t len, size_t max, json_t **msg,
			   struct thaw_err **err);

/* Appends one envelope with these flags around len bytes of data. */
void connect_envelope_put(struct buf *out, uint8_t flags, const void *data, size_t len);

/* The end-of-stream message: {} or {"error": {"code", "message"}}
 * (code: a Connect code name; message NULL for none). A new reference. */
json_t *connect_end_message(const char *code, const char *message);

#endif
