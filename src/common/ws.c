#include "ws.h"

#include <openssl/evp.h>
#include <string.h>

#include "utf8.h"

/* RFC 6455 1.3: the GUID every server appends to the client's key. */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

int ws_accept(const char *key, char out[WS_ACCEPT_LEN + 1])
{
	struct buf raw = { 0 }, b64 = { 0 };
	size_t klen = key ? strlen(key) : 0;
	bool ok = klen == 24 && base64_decode(key, klen, &raw) == 0 && raw.len == 16;
	buf_free(&raw);
	if (!ok)
		return -1;
	char in[24 + sizeof(WS_GUID)];
	memcpy(in, key, 24);
	memcpy(in + 24, WS_GUID, sizeof(WS_GUID));
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (!EVP_Digest(in, strlen(in), md, &mdlen, EVP_sha1(), NULL) || mdlen != 20)
		return -1;
	base64_encode(md, mdlen, &b64);
	ok = b64.len == WS_ACCEPT_LEN;
	if (ok)
		memcpy(out, b64.data, WS_ACCEPT_LEN + 1);
	buf_free(&b64);
	return ok ? 0 : -1;
}

static int bad(uint16_t *why, uint16_t code)
{
	*why = code;
	return -1;
}

static bool known_opcode(uint8_t op)
{
	return op == WS_CONT || op == WS_TEXT || op == WS_BINARY || op == WS_CLOSE ||
	       op == WS_PING || op == WS_PONG;
}

int ws_frame_head(const uint8_t *data, size_t len, struct ws_frame *f, uint16_t *why)
{
	if (len < 2)
		return 0;
	f->fin = data[0] & 0x80;
	f->opcode = data[0] & 0x0F;
	f->masked = data[1] & 0x80;
	if (data[0] & 0x70)
		return bad(why, WS_CLOSE_PROTOCOL); /* no extension was agreed */
	if (!known_opcode(f->opcode))
		return bad(why, WS_CLOSE_PROTOCOL);
	uint64_t n = data[1] & 0x7F;
	size_t at = 2;
	if (n >= 126) {
		size_t ext = n == 126 ? 2 : 8;
		if (len < at + ext)
			return 0;
		n = 0;
		for (size_t i = 0; i < ext; i++)
			n = n << 8 | data[at + i];
		at += ext;
		/* The shortest form is required, and the top bit is clear. */
		if ((ext == 2 && n < 126) || (ext == 8 && (n <= 0xFFFF || n >> 63)))
			return bad(why, WS_CLOSE_PROTOCOL);
	}
	if (f->opcode >= WS_CLOSE && (!f->fin || n > WS_CONTROL_MAX))
		return bad(why, WS_CLOSE_PROTOCOL);
	if (n > WS_MAX_MESSAGE)
		return bad(why, WS_CLOSE_TOO_BIG);
	if (f->masked) {
		if (len < at + 4)
			return 0;
		memcpy(f->mask, data + at, 4);
		at += 4;
	}
	f->hdr_len = at;
	f->len = n;
	return 1;
}

/* A data frame joins the open message, or starts one. */
static int take_data(struct ws_reader *r, const struct ws_frame *f, const uint8_t *p)
{
	if (f->opcode == WS_CONT && !r->in_msg)
		return bad(&r->close_code, WS_CLOSE_PROTOCOL);
	if (f->opcode != WS_CONT && r->in_msg)
		return bad(&r->close_code, WS_CLOSE_PROTOCOL);
	if (f->opcode != WS_CONT) {
		r->msg_op = f->opcode;
		r->in_msg = true;
		buf_reset(&r->msg);
	}
	if (r->msg.len + f->len > WS_MAX_MESSAGE)
		return bad(&r->close_code, WS_CLOSE_TOO_BIG);
	buf_append(&r->msg, p, (size_t)f->len);
	return 0;
}

static bool utf8_valid(const uint8_t *p, size_t n)
{
	if (n == 0) /* an empty message has no buffer at all */
		return true;
	struct buf scratch = { 0 };
	size_t replaced = utf8_sanitize(p, n, &scratch);
	buf_free(&scratch);
	return replaced == 0;
}

int ws_read(struct ws_reader *r, struct buf *in, struct ws_event *ev)
{
	for (;;) {
		struct ws_frame f;
		int h = ws_frame_head(in->data, in->len, &f, &r->close_code);
		if (h <= 0)
			return h;
		if (!f.masked) /* a client masks every frame (RFC 6455 5.1) */
			return bad(&r->close_code, WS_CLOSE_PROTOCOL);
		if (in->len - f.hdr_len < f.len)
			return 0;
		uint8_t *p = in->data + f.hdr_len;
		for (size_t i = 0; i < f.len; i++)
			p[i] ^= f.mask[i & 3];
		size_t used = f.hdr_len + (size_t)f.len;
		if (f.opcode >= WS_CLOSE) {
			/* Control frames come out at once, even between a
			 * message's fragments; their payload is copied out of
			 * in, which is consumed. */
			memcpy(r->ctl, p, (size_t)f.len);
			buf_consume(in, used);
			*ev = (struct ws_event){ .opcode = f.opcode,
						 .data = r->ctl,
						 .len = (size_t)f.len };
			return 1;
		}
		if (take_data(r, &f, p) < 0)
			return -1;
		buf_consume(in, used);
		if (!f.fin)
			continue;
		r->in_msg = false;
		if (r->msg_op == WS_TEXT && !utf8_valid(r->msg.data, r->msg.len))
			return bad(&r->close_code, WS_CLOSE_BAD_DATA);
		static const uint8_t none[1];
		*ev = (struct ws_event){ .opcode = r->msg_op,
					 .data = r->msg.len ? r->msg.data : none,
					 .len = r->msg.len };
		return 1;
	}
}

void ws_reader_free(struct ws_reader *r)
{
	buf_free(&r->msg);
}

void ws_put_frame(struct buf *out, uint8_t opcode, const void *data, size_t len)
{
	uint8_t h[10];
	size_t n = 0;
	h[n++] = (uint8_t)(0x80 | (opcode & 0x0F));
	if (len < 126) {
		h[n++] = (uint8_t)len;
	} else if (len <= 0xFFFF) {
		h[n++] = 126;
		h[n++] = (uint8_t)(len >> 8);
		h[n++] = (uint8_t)len;
	} else {
		h[n++] = 127;
		for (int i = 7; i >= 0; i--)
			h[n++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	buf_append(out, h, n);
	buf_append(out, data, len);
}

void ws_put_close(struct buf *out, uint16_t code, const char *reason)
{
	uint8_t p[WS_CONTROL_MAX];
	size_t rl = reason ? strlen(reason) : 0;
	if (rl > WS_CONTROL_MAX - 2)
		rl = WS_CONTROL_MAX - 2;
	p[0] = (uint8_t)(code >> 8);
	p[1] = (uint8_t)code;
	if (rl)
		memcpy(p + 2, reason, rl);
	ws_put_frame(out, WS_CLOSE, p, 2 + rl);
}
