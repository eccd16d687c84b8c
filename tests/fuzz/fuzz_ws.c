/* libFuzzer: what a WebSocket client sends to the shell route
 * (common/ws.c): bytes from the network in chunks whose sizes the input
 * picks, read into messages and control frames. Anything is refused or
 * read, never a crash, no event outlives its frame's bounds, a text
 * message is valid UTF-8, and a frame written back parses to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "ws.h"

static void check_event(const struct ws_event *ev)
{
	if (ev->len > WS_MAX_MESSAGE)
		abort();
	if (ev->opcode >= WS_CLOSE && ev->len > WS_CONTROL_MAX)
		abort();
	struct buf echo = { 0 }, clean = { 0 };
	if (ev->opcode == WS_TEXT && utf8_sanitize(ev->data, ev->len, &clean) != 0)
		abort();
	ws_put_frame(&echo, ev->opcode, ev->data, ev->len);
	struct ws_frame f;
	uint16_t why;
	if (ws_frame_head(echo.data, echo.len, &f, &why) != 1 || f.len != ev->len ||
	    f.hdr_len + f.len != echo.len || memcmp(echo.data + f.hdr_len, ev->data, ev->len))
		abort();
	buf_free(&echo);
	buf_free(&clean);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	if (len < 1)
		return 0;
	size_t chunk = (size_t)data[0] + 1; /* how the network split it */
	data++, len--;
	struct ws_reader r = { 0 };
	struct buf in = { 0 };
	for (size_t at = 0; at < len;) {
		size_t n = len - at < chunk ? len - at : chunk;
		buf_append(&in, data + at, n);
		at += n;
		struct ws_event ev;
		int rc;
		while ((rc = ws_read(&r, &in, &ev)) == 1)
			check_event(&ev);
		if (rc < 0)
			break;
	}
	ws_reader_free(&r);
	buf_free(&in);
	return 0;
}
