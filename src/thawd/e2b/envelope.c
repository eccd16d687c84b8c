#include "e2b/envelope.h"

#include <string.h>

int connect_envelope_parse(const void *body, size_t len, size_t max, json_t **msg,
			   struct thaw_err **err)
{
	const unsigned char *p = body;
	if (len < CONNECT_HEADER_LEN)
		return err_set(err, ERR_INVALID,
			       "a Connect stream request is one envelope (5-byte header, then "
			       "JSON); got %zu bytes",
			       len);
	if (p[0] & CONNECT_FLAG_COMPRESSED)
		return err_set(err, ERR_INVALID,
			       "compressed Connect envelopes are not supported (send identity)");
	if (p[0] != 0)
		return err_set(err, ERR_INVALID, "unexpected Connect envelope flags 0x%02x", p[0]);
	uint32_t n = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
	if (n > max)
		return err_set(err, ERR_TOO_LARGE,
			       "Connect request message of %u bytes is over the limit of %zu", n,
			       max);
	if (n != len - CONNECT_HEADER_LEN)
		return err_set(err, ERR_INVALID,
			       "Connect envelope says %u bytes but %zu follow (one message only)",
			       n, len - CONNECT_HEADER_LEN);
	json_error_t je;
	json_t *o =
		json_loadb((const char *)p + CONNECT_HEADER_LEN, n, JSON_REJECT_DUPLICATES, &je);
	if (!o)
		return err_set(err, ERR_INVALID, "malformed JSON in the Connect envelope: %s",
			       je.text);
	if (!json_is_object(o)) {
		json_decref(o);
		return err_set(err, ERR_INVALID, "a Connect request message must be a JSON object");
	}
	*msg = o;
	return 0;
}

void connect_envelope_put(struct buf *out, uint8_t flags, const void *data, size_t len)
{
	unsigned char h[CONNECT_HEADER_LEN] = { flags, (unsigned char)(len >> 24),
						(unsigned char)(len >> 16),
						(unsigned char)(len >> 8), (unsigned char)len };
	buf_append(out, h, sizeof(h));
	buf_append(out, data, len);
}

json_t *connect_end_message(const char *code, const char *message)
{
	if (!code)
		return json_object();
	json_t *e = json_pack("{s:s}", "code", code);
	if (message)
		json_object_set_new(e, "message", json_string(message));
	return json_pack("{s:o}", "error", e);
}
