/* src/common/ws.c: the handshake's accept value, client frames (masking,
 * fragmentation, control frames between fragments, every length form),
 * the refusals a server owes a broken client, and frames it writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_hop.h"
#include "testutil.h"
#include "ws.h"

/* A client's frame, masked with a fixed key (or not). */
static void client_frame(struct buf *b, uint8_t first, const void *data, size_t len, bool mask)
{
	static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	uint8_t h[14];
	size_t n = 0;
	h[n++] = first;
	uint8_t m = mask ? 0x80 : 0;
	if (len < 126) {
		h[n++] = (uint8_t)(m | len);
	} else if (len <= 0xFFFF) {
		h[n++] = m | 126;
		h[n++] = (uint8_t)(len >> 8);
		h[n++] = (uint8_t)len;
	} else {
		h[n++] = m | 127;
		for (int i = 7; i >= 0; i--)
			h[n++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	if (mask) {
		memcpy(h + n, key, 4);
		n += 4;
	}
	buf_append(b, h, n);
	const uint8_t *p = data;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)(p[i] ^ (mask ? key[i & 3] : 0));
		buf_append(b, &c, 1);
	}
}

static void test_accept_is_the_rfc_example(void **state)
{
	(void)state;
	char out[WS_ACCEPT_LEN + 1];
	assert_int_equal(ws_accept("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_accept_refuses_keys_that_are_not_16_bytes(void **state)
{
	(void)state;
	char out[WS_ACCEPT_LEN + 1];
	assert_int_equal(ws_accept(NULL, out), -1);
	assert_int_equal(ws_accept("", out), -1);
	assert_int_equal(ws_accept("dGhlIHNhbXBsZSBub25jZQ", out), -1);
	assert_int_equal(ws_accept("dGhlIHNhbXBsZSBub25jZQ!!", out), -1);
	assert_int_equal(ws_accept("dGhlIHNhbXBsZSBub25jZSE=", out), -1); /* 17 bytes */
}

static void test_masked_hello_from_the_rfc(void **state)
{
	(void)state;
	/* RFC 6455 5.7: a single-frame masked text message "Hello". */
	static const uint8_t raw[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f,
				       0x9f, 0x4d, 0x51, 0x58 };
	struct buf in = { 0 };
	buf_append(&in, raw, sizeof(raw));
	struct ws_reader r = { 0 };
	struct ws_event ev;
	assert_int_equal(ws_read(&r, &in, &ev), 1);
	assert_int_equal(ev.opcode, WS_TEXT);
	assert_int_equal(ev.len, 5);
	assert_memory_equal(ev.data, "Hello", 5);
	assert_int_equal(in.len, 0);
	assert_int_equal(ws_read(&r, &in, &ev), 0);
	ws_reader_free(&r);
	buf_free(&in);
}

static void test_every_prefix_needs_more(void **state)
{
	(void)state;
	struct buf whole = { 0 };
	uint8_t payload[300];
	memset(payload, 'x', sizeof(payload));
	client_frame(&whole, 0x82, payload, sizeof(payload), true);
	for (size_t cut = 0; cut < whole.len; cut++) {
		struct buf in = { 0 };
		buf_append(&in, whole.data, cut);
		struct ws_reader r = { 0 };
		struct ws_event ev;
		assert_int_equal(ws_read(&r, &in, &ev), 0);
		assert_int_equal(in.len, cut); /* nothing consumed */
		ws_reader_free(&r);
		buf_free(&in);
	}
	buf_free(&whole);
}

static void test_fragments_join_with_a_ping_between(void **state)
{
	(void)state;
	struct buf in = { 0 };
	client_frame(&in, 0x02, "ab", 2, true); /* binary, not final */
	client_frame(&in, 0x89, "p", 1, true);	/* ping in between */
	client_frame(&in, 0x00, "cd", 2, true); /* continuation */
	client_frame(&in, 0x80, "e", 1, true);	/* final continuation */
	struct ws_reader r = { 0 };
	struct ws_event ev;
	assert_int_equal(ws_read(&r, &in, &ev), 1);
	assert_int_equal(ev.opcode, WS_PING);
	assert_int_equal(ev.len, 1);
	assert_int_equal(ev.data[0], 'p');
	assert_int_equal(ws_read(&r, &in, &ev), 1);
	assert_int_equal(ev.opcode, WS_BINARY);
	assert_int_equal(ev.len, 5);
	assert_memory_equal(ev.data, "abcde", 5);
	assert_int_equal(in.len, 0);
	ws_reader_free(&r);
	buf_free(&in);
}

static void test_16_and_64_bit_lengths(void **state)
{
	(void)state;
	size_t sizes[] = { 125, 126, 65535, 65536, 300000 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *p = malloc(sizes[i]);
		for (size_t j = 0; j < sizes[i]; j++)
			p[j] = (uint8_t)(j * 7);
		struct buf in = { 0 };
		client_frame(&in, 0x82, p, sizes[i], true);
		struct ws_reader r = { 0 };
		struct ws_event ev;
		assert_int_equal(ws_read(&r, &in, &ev), 1);
		assert_int_equal(ev.len, sizes[i]);
		assert_memory_equal(ev.data, p, sizes[i]);
		ws_reader_free(&r);
		buf_free(&in);
		free(p);
	}
}

/* One broken input: -1 with this close code. */
static void refused(const uint8_t *raw, size_t n, uint16_t code)
{
	struct buf in = { 0 };
	buf_append(&in, raw, n);
	struct ws_reader r = { 0 };
	struct ws_event ev;
	int rc;
	while ((rc = ws_read(&r, &in, &ev)) == 1)
		;
	assert_int_equal(rc, -1);
	assert_int_equal(r.close_code, code);
	ws_reader_free(&r);
	buf_free(&in);
}

static void test_protocol_errors_are_refused(void **state)
{
	(void)state;
	struct buf b = { 0 };
	client_frame(&b, 0x82, "x", 1, false); /* unmasked */
	refused(b.data, b.len, WS_CLOSE_PROTOCOL);
	buf_reset(&b);
	client_frame(&b, 0xC2, "x", 1, true); /* RSV1 */
	refused(b.data, b.len, WS_CLOSE_PROTOCOL);
	buf_reset(&b);
	client_frame(&b, 0x83, "x", 1, true); /* reserved opcode 3 */
	refused(b.data, b.len, WS_CLOSE_PROTOCOL);
	buf_reset(&b);
	client_frame(&b, 0x80, "x", 1, true); /* continuation with nothing open */
	refused(b.data, b.len, WS_CLOSE_PROTOCOL);
	buf_reset(&b);
	client_frame(&b, 0x02, "x", 1, true); /* a new message inside one */
	client_frame(&b, 0x82, "y", 1, true);
	refused(b.data, b.len, WS_CLOSE_PROTOCOL);
	buf_reset(&b);
	client_frame(&b, 0x09, "x", 1, true); /* fragmented ping */
	refused(b.data, b.len, WS_CLOSE_PROTOCOL);
	buf_reset(&b);
	uint8_t big[126] = { 0 };
	client_frame(&b, 0x89, big, sizeof(big), true); /* ping over 125 */
	refused(b.data, b.len, WS_CLOSE_PROTOCOL);
	buf_reset(&b);
	client_frame(&b, 0x81, "\xff\xfe", 2, true); /* text that is not UTF-8 */
	refused(b.data, b.len, WS_CLOSE_BAD_DATA);
	buf_free(&b);
	/* Lengths not in their shortest form, or with the top bit set. */
	const uint8_t short16[] = { 0x82, 0xFE, 0x00, 0x05 };
	refused(short16, sizeof(short16), WS_CLOSE_PROTOCOL);
	const uint8_t short64[] = { 0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0x01, 0x00 };
	refused(short64, sizeof(short64), WS_CLOSE_PROTOCOL);
	const uint8_t top[] = { 0x82, 0xFF, 0x80, 0, 0, 0, 0, 1, 0, 0 };
	refused(top, sizeof(top), WS_CLOSE_PROTOCOL);
	/* Over the limit: refused from the header, before any payload. */
	const uint8_t huge[] = { 0x82, 0xFF, 0, 0, 0, 0, 0x7F, 0, 0, 0 };
	refused(huge, sizeof(huge), WS_CLOSE_TOO_BIG);
}

static void test_a_message_may_not_grow_past_the_limit(void **state)
{
	(void)state;
	size_t part = WS_MAX_MESSAGE / 2 + 1;
	uint8_t *p = calloc(1, part);
	struct buf b = { 0 };
	client_frame(&b, 0x02, p, part, true);
	client_frame(&b, 0x00, p, part, true);
	refused(b.data, b.len, WS_CLOSE_TOO_BIG);
	buf_free(&b);
	free(p);
}

static void test_server_frames_parse_back(void **state)
{
	(void)state;
	size_t sizes[] = { 0, 5, 125, 126, 65535, 65536 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *p = calloc(1, sizes[i] + 1);
		struct buf out = { 0 };
		ws_put_frame(&out, WS_BINARY, p, sizes[i]);
		struct ws_frame f;
		uint16_t why = 0;
		assert_int_equal(ws_frame_head(out.data, out.len, &f, &why), 1);
		assert_true(f.fin);
		assert_false(f.masked); /* a server never masks */
		assert_int_equal(f.opcode, WS_BINARY);
		assert_int_equal(f.len, sizes[i]);
		assert_int_equal(f.hdr_len + sizes[i], out.len);
		assert_int_equal(f.hdr_len, sizes[i] < 126 ? 2 : sizes[i] <= 0xFFFF ? 4 : 10);
		buf_free(&out);
		free(p);
	}
	struct buf c = { 0 };
	ws_put_close(&c, WS_CLOSE_NORMAL, "bye");
	static const uint8_t want[] = { 0x88, 5, 0x03, 0xE8, 'b', 'y', 'e' };
	assert_int_equal(c.len, sizeof(want));
	assert_memory_equal(c.data, want, sizeof(want));
	buf_free(&c);
}

/* Random bytes and mutated valid frames: every call returns -1, 0 or 1,
 * consumes no more than it has, and an event's data lies in memory the
 * reader owns (ASan in make SAN=1 checks the reads). */
static void test_fuzz_never_misbehaves(void **state)
{
	(void)state;
	struct rng g = { 42 };
	size_t events = 0, refusals = 0;
	for (int round = 0; round < 20000; round++) {
		struct buf in = { 0 };
		if (rng_below(&g, 2)) {
			uint8_t p[200];
			size_t n = rng_below(&g, sizeof(p));
			rng_fill(&g, p, n);
			uint8_t first = (uint8_t)(rng_below(&g, 2) ? 0x80 : 0) |
					(uint8_t)rng_below(&g, 11);
			client_frame(&in, first, p, n, rng_below(&g, 8) != 0);
			if (in.len && rng_below(&g, 2))
				in.data[rng_below(&g, (uint32_t)in.len)] ^= (uint8_t)rng_next(&g);
		} else {
			uint8_t p[64];
			size_t n = rng_below(&g, sizeof(p));
			rng_fill(&g, p, n);
			buf_append(&in, p, n);
		}
		struct ws_reader r = { 0 };
		struct ws_event ev;
		int rc;
		for (int k = 0; k < 10 && (rc = ws_read(&r, &in, &ev)) == 1; k++) {
			events++;
			volatile uint8_t sink = 0;
			for (size_t i = 0; i < ev.len; i++)
				sink ^= ev.data[i];
			(void)sink;
		}
		if (rc < 0)
			refusals++;
		ws_reader_free(&r);
		buf_free(&in);
	}
	assert_true(events > 1000);
	assert_true(refusals > 1000);
}

/* The key a browser offers as a subprotocol never travels further. */
static void test_protocol_keys_are_stripped(void **state)
{
	(void)state;
	char *p = http_protocols_strip_keys("thaw-shell, thaw-key.thaw_secret");
	assert_string_equal(p, "thaw-shell");
	free(p);
	p = http_protocols_strip_keys("thaw-key.a,chat ,  thaw-key.b, superchat");
	assert_string_equal(p, "chat, superchat");
	free(p);
	assert_null(http_protocols_strip_keys("thaw-key.only"));
	assert_null(http_protocols_strip_keys(" , "));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept_is_the_rfc_example),
		cmocka_unit_test(test_accept_refuses_keys_that_are_not_16_bytes),
		cmocka_unit_test(test_masked_hello_from_the_rfc),
		cmocka_unit_test(test_every_prefix_needs_more),
		cmocka_unit_test(test_fragments_join_with_a_ping_between),
		cmocka_unit_test(test_16_and_64_bit_lengths),
		cmocka_unit_test(test_protocol_errors_are_refused),
		cmocka_unit_test(test_a_message_may_not_grow_past_the_limit),
		cmocka_unit_test(test_server_frames_parse_back),
		cmocka_unit_test(test_fuzz_never_misbehaves),
		cmocka_unit_test(test_protocol_keys_are_stripped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
