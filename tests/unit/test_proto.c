/* src/common/proto.c: frame building and parsing, TLV iteration, typed
 * readers, and a deterministic fuzz loop over hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"
#include "testutil.h"

/* A header written byte by byte, independent of proto_begin. */
static void make_hdr(uint8_t h[PROTO_HDR_SIZE], uint32_t len, uint8_t type, uint8_t stream,
		     uint8_t r0, uint8_t r1)
{
	h[0] = (uint8_t)len;
	h[1] = (uint8_t)(len >> 8);
	h[2] = (uint8_t)(len >> 16);
	h[3] = (uint8_t)(len >> 24);
	h[4] = type;
	h[5] = stream;
	h[6] = r0;
	h[7] = r1;
}

static void put_tlv_hdr(uint8_t *p, uint16_t tag, uint32_t len)
{
	p[0] = (uint8_t)tag;
	p[1] = (uint8_t)(tag >> 8);
	for (int i = 0; i < 4; i++)
		p[2 + i] = (uint8_t)(len >> (8 * i));
}

/* Parses a header-only frame (valid-looking header, no payload bytes). */
static long parse_hdr(uint32_t len, uint8_t type, uint8_t stream, uint8_t r0, uint8_t r1)
{
	uint8_t h[PROTO_HDR_SIZE];
	struct proto_frame f;
	make_hdr(h, len, type, stream, r0, r1);
	return proto_frame_parse(h, sizeof(h), &f);
}

/* A frame whose payload is given verbatim; the caller frees *buf. */
static long frame_with_payload(const void *payload, uint32_t len, uint8_t **buf,
			       struct proto_frame *f)
{
	*buf = malloc(PROTO_HDR_SIZE + len);
	assert_non_null(*buf);
	make_hdr(*buf, len, MSG_EXEC, 0, 0, 0);
	if (len)
		memcpy(*buf + PROTO_HDR_SIZE, payload, len);
	return proto_frame_parse(*buf, PROTO_HDR_SIZE + len, f);
}

static void test_hello_frame_round_trips_its_tlvs(void **state)
{
	(void)state;
	struct buf b = { 0 };
	uint8_t entropy[32];
	for (size_t i = 0; i < sizeof(entropy); i++)
		entropy[i] = (uint8_t)(i * 7 + 1);
	size_t start = proto_begin(&b, MSG_HELLO, STREAM_NONE);
	proto_put_u64(&b, T_TIME_NS, 0x0123456789abcdefull);
	proto_put_bytes(&b, T_ENTROPY, entropy, sizeof(entropy));
	proto_put_str(&b, T_HOSTNAME, "sb-abc");
	proto_end(&b, start);

	size_t want = PROTO_HDR_SIZE + (6 + 8) + (6 + 32) + (6 + 6);
	assert_int_equal(b.len, want);
	struct proto_frame f;
	assert_int_equal(proto_frame_parse(b.data, b.len, &f), (long)want);
	assert_int_equal(f.type, MSG_HELLO);
	assert_int_equal(f.stream, STREAM_NONE);
	assert_int_equal(f.len, want - PROTO_HDR_SIZE);
	assert_ptr_equal(f.payload, b.data + PROTO_HDR_SIZE);

	struct proto_tlv_iter it;
	struct proto_tlv t;
	proto_tlv_init(&it, &f);
	assert_int_equal(proto_tlv_next(&it, &t), 1);
	assert_int_equal(t.tag, T_TIME_NS);
	uint64_t ns = 0;
	assert_int_equal(proto_tlv_u64(&t, &ns), 0);
	assert_true(ns == 0x0123456789abcdefull);

	assert_int_equal(proto_tlv_next(&it, &t), 1);
	assert_int_equal(t.tag, T_ENTROPY);
	assert_int_equal(t.len, sizeof(entropy));
	assert_memory_equal(t.val, entropy, sizeof(entropy));

	assert_int_equal(proto_tlv_next(&it, &t), 1);
	assert_int_equal(t.tag, T_HOSTNAME);
	char *host = NULL;
	assert_int_equal(proto_tlv_str(&t, &host), 0);
	assert_string_equal(host, "sb-abc");
	free(host);

	assert_int_equal(proto_tlv_next(&it, &t), 0);
	assert_int_equal(proto_tlv_next(&it, &t), 0);
	buf_free(&b);
}

static void test_header_is_little_endian_with_zero_reserved(void **state)
{
	(void)state;
	struct buf b = { 0 };
	uint8_t payload[300];
	memset(payload, 'x', sizeof(payload));
	proto_put_raw_frame(&b, MSG_OUTPUT, STREAM_STDERR, payload, sizeof(payload));
	const uint8_t want[PROTO_HDR_SIZE] = { 0x2c, 0x01, 0, 0, MSG_OUTPUT, STREAM_STDERR, 0, 0 };
	assert_memory_equal(b.data, want, sizeof(want));
	buf_free(&b);
}

static void test_exit_frame_round_trips_typed_fields(void **state)
{
	(void)state;
	struct buf b = { 0 };
	size_t start = proto_begin(&b, MSG_EXIT, STREAM_NONE);
	proto_put_i32(&b, T_EXIT_CODE, -2);
	proto_put_i32(&b, T_SIGNAL, 9);
	proto_put_u8(&b, T_TIMED_OUT, 1);
	proto_put_u32(&b, T_TIMEOUT_MS, 0xfedcba98u);
	proto_put_u64(&b, T_DURATION_US, UINT64_MAX - 1);
	proto_end(&b, start);

	struct proto_frame f;
	assert_int_equal(proto_frame_parse(b.data, b.len, &f), (long)b.len);
	struct proto_tlv_iter it;
	struct proto_tlv t;
	proto_tlv_init(&it, &f);
	int32_t i32 = 0;
	uint32_t u32 = 0;
	uint8_t u8 = 0;
	uint64_t u64 = 0;
	assert_int_equal(proto_tlv_next(&it, &t), 1);
	assert_int_equal(t.tag, T_EXIT_CODE);
	assert_int_equal(proto_tlv_i32(&t, &i32), 0);
	assert_int_equal(i32, -2);
	assert_int_equal(proto_tlv_next(&it, &t), 1);
	assert_int_equal(proto_tlv_i32(&t, &i32), 0);
	assert_int_equal(i32, 9);
	assert_int_equal(proto_tlv_next(&it, &t), 1);
	assert_int_equal(t.tag, T_TIMED_OUT);
	assert_int_equal(proto_tlv_u8(&t, &u8), 0);
	assert_int_equal(u8, 1);
	assert_int_equal(proto_tlv_next(&it, &t), 1);
	assert_int_equal(proto_tlv_u32(&t, &u32), 0);
	assert_true(u32 == 0xfedcba98u);
	assert_int_equal(proto_tlv_next(&it, &t), 1);
	assert_int_equal(proto_tlv_u64(&t, &u64), 0);
	assert_true(u64 == UINT64_MAX - 1);
	assert_int_equal(proto_tlv_next(&it, &t), 0);
	buf_free(&b);
}

static void test_output_frames_carry_their_stream_id(void **state)
{
	(void)state;
	struct buf b = { 0 };
	proto_put_raw_frame(&b, MSG_OUTPUT, STREAM_STDOUT, "hello\n", 6);
	proto_put_raw_frame(&b, MSG_OUTPUT, STREAM_STDERR, "oops", 4);
	proto_put_raw_frame(&b, MSG_STDIN, STREAM_NONE, NULL, 0); /* EOF */

	struct proto_frame f;
	long n = proto_frame_parse(b.data, b.len, &f);
	assert_int_equal(n, PROTO_HDR_SIZE + 6);
	assert_int_equal(f.type, MSG_OUTPUT);
	assert_int_equal(f.stream, STREAM_STDOUT);
	assert_int_equal(f.len, 6);
	assert_memory_equal(f.payload, "hello\n", 6);

	size_t off = (size_t)n;
	n = proto_frame_parse(b.data + off, b.len - off, &f);
	assert_int_equal(n, PROTO_HDR_SIZE + 4);
	assert_int_equal(f.stream, STREAM_STDERR);
	assert_memory_equal(f.payload, "oops", 4);

	off += (size_t)n;
	n = proto_frame_parse(b.data + off, b.len - off, &f);
	assert_int_equal(n, PROTO_HDR_SIZE);
	assert_int_equal(f.type, MSG_STDIN);
	assert_int_equal(f.len, 0);
	assert_int_equal(off + (size_t)n, b.len);
	buf_free(&b);
}

static void test_every_prefix_of_a_frame_needs_more(void **state)
{
	(void)state;
	struct buf b = { 0 };
	size_t start = proto_begin(&b, MSG_ERROR, STREAM_NONE);
	proto_put_str(&b, T_MESSAGE, "no such command");
	proto_end(&b, start);
	for (size_t len = 0; len < b.len; len++) {
		/* Exact-size copies: ASan catches a read past the prefix. */
		uint8_t *copy = malloc(len ? len : 1);
		assert_non_null(copy);
		memcpy(copy, b.data, len);
		struct proto_frame f;
		assert_int_equal(proto_frame_parse(copy, len, &f), 0);
		free(copy);
	}
	struct proto_frame f;
	assert_int_equal(proto_frame_parse(b.data, b.len, &f), (long)b.len);
	buf_free(&b);
}

static void test_max_payload_header_is_valid_but_needs_more(void **state)
{
	(void)state;
	assert_int_equal(parse_hdr(PROTO_MAX_PAYLOAD, MSG_OUTPUT, STREAM_STDOUT, 0, 0), 0);
	assert_int_equal(parse_hdr(0, MSG_PREPARE, STREAM_NONE, 0, 0), PROTO_HDR_SIZE);
}

static void test_payload_longer_than_max_is_rejected(void **state)
{
	(void)state;
	assert_int_equal(parse_hdr(PROTO_MAX_PAYLOAD + 1, MSG_OUTPUT, STREAM_STDOUT, 0, 0), -1);
	assert_int_equal(parse_hdr(UINT32_MAX, MSG_EXEC, STREAM_NONE, 0, 0), -1);
}

static void test_unknown_types_are_rejected(void **state)
{
	(void)state;
	assert_int_equal(parse_hdr(0, 0, STREAM_NONE, 0, 0), -1);
	assert_int_equal(parse_hdr(0, MSG_TYPE_MAX + 1, STREAM_NONE, 0, 0), -1);
	assert_int_equal(parse_hdr(0, 0xff, STREAM_NONE, 0, 0), -1);
	for (uint8_t t = 1; t <= MSG_TYPE_MAX; t++)
		assert_int_equal(parse_hdr(0, t, STREAM_NONE, 0, 0), PROTO_HDR_SIZE);
}

static void test_nonzero_reserved_bytes_are_rejected(void **state)
{
	(void)state;
	assert_int_equal(parse_hdr(0, MSG_HELLO, STREAM_NONE, 1, 0), -1);
	assert_int_equal(parse_hdr(0, MSG_HELLO, STREAM_NONE, 0, 1), -1);
	assert_int_equal(parse_hdr(0, MSG_HELLO, STREAM_NONE, 0x80, 0x80), -1);
}

static void test_stream_ids_only_on_output_and_at_most_stderr(void **state)
{
	(void)state;
	for (uint8_t t = 1; t <= MSG_TYPE_MAX; t++) {
		if (t == MSG_OUTPUT)
			continue;
		assert_int_equal(parse_hdr(0, t, STREAM_STDOUT, 0, 0), -1);
		assert_int_equal(parse_hdr(0, t, STREAM_STDERR, 0, 0), -1);
	}
	assert_int_equal(parse_hdr(0, MSG_OUTPUT, 3, 0, 0), -1);
	assert_int_equal(parse_hdr(0, MSG_OUTPUT, 0xff, 0, 0), -1);
	assert_int_equal(parse_hdr(0, MSG_OUTPUT, STREAM_STDOUT, 0, 0), PROTO_HDR_SIZE);
	assert_int_equal(parse_hdr(0, MSG_OUTPUT, STREAM_STDERR, 0, 0), PROTO_HDR_SIZE);
}

static void test_truncated_tlv_header_is_malformed(void **state)
{
	(void)state;
	uint8_t payload[PROTO_TLV_HDR_SIZE] = { T_ARG, 0, 0, 0, 0, 0 };
	for (uint32_t len = 1; len < PROTO_TLV_HDR_SIZE; len++) {
		uint8_t *buf = NULL;
		struct proto_frame f;
		assert_int_equal(frame_with_payload(payload, len, &buf, &f), PROTO_HDR_SIZE + len);
		struct proto_tlv_iter it;
		struct proto_tlv t;
		proto_tlv_init(&it, &f);
		assert_int_equal(proto_tlv_next(&it, &t), -1);
		free(buf);
	}
}

static void test_tlv_length_past_the_payload_is_malformed(void **state)
{
	(void)state;
	/* One good field, then one that claims a byte more than is left. */
	uint8_t payload[6 + 2 + 6 + 3];
	put_tlv_hdr(payload, T_ARG, 2);
	memcpy(payload + 6, "ls", 2);
	put_tlv_hdr(payload + 8, T_ARG, 4);
	memcpy(payload + 14, "abc", 3);
	uint8_t *buf = NULL;
	struct proto_frame f;
	assert_int_equal(frame_with_payload(payload, sizeof(payload), &buf, &f),
			 (long)(PROTO_HDR_SIZE + sizeof(payload)));
	struct proto_tlv_iter it;
	struct proto_tlv t;
	proto_tlv_init(&it, &f);
	assert_int_equal(proto_tlv_next(&it, &t), 1);
	assert_int_equal(t.len, 2);
	assert_int_equal(proto_tlv_next(&it, &t), -1);
	free(buf);

	/* A length near 2^32 must not wrap around the bounds check. */
	put_tlv_hdr(payload, T_ENTROPY, UINT32_MAX);
	assert_int_equal(frame_with_payload(payload, sizeof(payload), &buf, &f),
			 (long)(PROTO_HDR_SIZE + sizeof(payload)));
	proto_tlv_init(&it, &f);
	assert_int_equal(proto_tlv_next(&it, &t), -1);
	free(buf);
}

static void test_tlv_bounds_are_the_frame_not_the_buffer(void **state)
{
	(void)state;
	/* The field claims 4 bytes; the frame has 2 more, the buffer (a
	 * following frame) has plenty. The iterator must stop at the frame. */
	struct buf b = { 0 };
	uint8_t payload[6 + 2];
	put_tlv_hdr(payload, T_CWD, 4);
	memcpy(payload + 6, "/t", 2);
	proto_put_raw_frame(&b, MSG_EXEC, STREAM_NONE, payload, sizeof(payload));
	proto_put_raw_frame(&b, MSG_STDIN, STREAM_NONE, "more bytes", 10);
	struct proto_frame f;
	assert_int_equal(proto_frame_parse(b.data, b.len, &f), (long)(PROTO_HDR_SIZE + 8));
	struct proto_tlv_iter it;
	struct proto_tlv t;
	proto_tlv_init(&it, &f);
	assert_int_equal(proto_tlv_next(&it, &t), -1);
	buf_free(&b);
}

static void test_typed_readers_reject_wrong_sizes(void **state)
{
	(void)state;
	const uint8_t bytes[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	uint8_t u8 = 0xaa;
	uint32_t u32 = 0xaaaaaaaa;
	int32_t i32 = 0x55555555;
	uint64_t u64 = 0xaaaaaaaaaaaaaaaaull;
	for (uint32_t len = 0; len <= 9; len++) {
		struct proto_tlv t = { .tag = 1, .len = len, .val = bytes };
		assert_int_equal(proto_tlv_u8(&t, &u8), len == 1 ? 0 : -1);
		assert_int_equal(proto_tlv_u32(&t, &u32), len == 4 ? 0 : -1);
		assert_int_equal(proto_tlv_i32(&t, &i32), len == 4 ? 0 : -1);
		assert_int_equal(proto_tlv_u64(&t, &u64), len == 8 ? 0 : -1);
	}
	/* The accepted sizes decoded little-endian. */
	assert_int_equal(u8, 1);
	assert_true(u32 == 0x04030201u);
	assert_int_equal(i32, 0x04030201);
	assert_true(u64 == 0x0807060504030201ull);
}

static void test_tlv_str_rejects_embedded_nul(void **state)
{
	(void)state;
	char *s = NULL;
	struct proto_tlv t = { .tag = T_ARG, .len = 5, .val = (const uint8_t *)"ab\0cd" };
	assert_int_equal(proto_tlv_str(&t, &s), -1);
	assert_null(s);
	t.len = 3;
	t.val = (const uint8_t *)"ab\0";
	assert_int_equal(proto_tlv_str(&t, &s), -1);
	assert_null(s);
}

static void test_tlv_str_copies_exactly_len_bytes(void **state)
{
	(void)state;
	char *s = NULL;
	/* Not NUL-terminated at len: the copy must stop at len. */
	struct proto_tlv t = { .tag = T_ENV, .len = 5, .val = (const uint8_t *)"A=1;B=2" };
	assert_int_equal(proto_tlv_str(&t, &s), 0);
	assert_string_equal(s, "A=1;B");
	free(s);
	t.len = 0;
	assert_int_equal(proto_tlv_str(&t, &s), 0);
	assert_string_equal(s, "");
	free(s);
}

static void test_type_names(void **state)
{
	(void)state;
	assert_string_equal(proto_type_name(MSG_HELLO), "HELLO");
	assert_string_equal(proto_type_name(MSG_OUTPUT), "OUTPUT");
	assert_string_equal(proto_type_name(MSG_ERROR), "ERROR");
	assert_string_equal(proto_type_name(0), "?");
	assert_string_equal(proto_type_name(MSG_TYPE_MAX + 1), "?");
	/* Every type has its name (a missing one once read past the table). */
	for (unsigned t = 1; t <= MSG_TYPE_MAX; t++)
		assert_string_not_equal(proto_type_name((uint8_t)t), "?");
	assert_string_equal(proto_type_name(0xff), "?");
}

/* Walks every field of a parsed frame; each must lie inside the payload. */
static void check_tlvs(const struct proto_frame *f)
{
	struct proto_tlv_iter it;
	struct proto_tlv t;
	proto_tlv_init(&it, f);
	const uint8_t *end = f->payload + f->len;
	size_t steps = 0;
	int rc;
	while ((rc = proto_tlv_next(&it, &t)) == 1) {
		assert_true(t.val >= f->payload + PROTO_TLV_HDR_SIZE);
		assert_true(t.val <= end);
		assert_true(t.len <= (size_t)(end - t.val));
		uint8_t u8;
		uint32_t u32;
		uint64_t u64;
		char *s = NULL;
		proto_tlv_u8(&t, &u8);
		proto_tlv_u32(&t, &u32);
		proto_tlv_u64(&t, &u64);
		if (proto_tlv_str(&t, &s) == 0) {
			assert_int_equal(strlen(s), t.len);
			free(s);
		}
		/* Every field consumes at least its header. */
		assert_true(++steps <= f->len / PROTO_TLV_HDR_SIZE);
	}
	assert_true(rc == 0 || rc == -1);
}

/* Random input, half of it shaped like plausible frames so that the TLV
 * code is reached often. Buffers are exact-size heap copies so ASan sees
 * any read past the end. */
static void test_fuzz_parse_never_reads_out_of_bounds(void **state)
{
	(void)state;
	struct rng r = { 0x7468617770726f74ull };
	size_t parsed = 0, walked_tlvs = 0;
	for (int iter = 0; iter < 200000; iter++) {
		size_t len = rng_below(&r, 72);
		uint8_t *data = malloc(len ? len : 1);
		assert_non_null(data);
		rng_fill(&r, data, len);
		if ((iter & 1) && len >= PROTO_HDR_SIZE) {
			uint32_t plen = rng_below(&r, (uint32_t)len - PROTO_HDR_SIZE + 4);
			make_hdr(data, plen, (uint8_t)(1 + rng_below(&r, MSG_TYPE_MAX)), 0, 0, 0);
			if (data[4] == MSG_OUTPUT)
				data[5] = (uint8_t)rng_below(&r, 3);
			/* Small TLV lengths so fields chain. */
			for (size_t o = PROTO_HDR_SIZE; o + PROTO_TLV_HDR_SIZE <= len; o += 7)
				put_tlv_hdr(data + o, (uint16_t)rng_below(&r, 16),
					    rng_below(&r, 12));
		}
		struct proto_frame f;
		long n = proto_frame_parse(data, len, &f);
		assert_true(n >= -1);
		if (n > 0) {
			parsed++;
			assert_true((size_t)n <= len);
			assert_int_equal((size_t)n, PROTO_HDR_SIZE + f.len);
			assert_ptr_equal(f.payload, data + PROTO_HDR_SIZE);
			assert_true(f.type >= 1 && f.type <= MSG_TYPE_MAX);
			assert_true(f.stream <= STREAM_STDERR);
			if (f.len >= PROTO_TLV_HDR_SIZE)
				walked_tlvs++;
			check_tlvs(&f);
		} else if (n == 0 && len >= PROTO_HDR_SIZE) {
			/* "Need more" only when the declared payload is missing. */
			uint32_t plen = (uint32_t)data[0] | ((uint32_t)data[1] << 8) |
					((uint32_t)data[2] << 16) | ((uint32_t)data[3] << 24);
			assert_true(plen > len - PROTO_HDR_SIZE);
		}
		free(data);
	}
	/* The generator must actually reach the interesting paths. */
	assert_true(parsed > 20000);
	assert_true(walked_tlvs > 10000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_frame_round_trips_its_tlvs),
		cmocka_unit_test(test_header_is_little_endian_with_zero_reserved),
		cmocka_unit_test(test_exit_frame_round_trips_typed_fields),
		cmocka_unit_test(test_output_frames_carry_their_stream_id),
		cmocka_unit_test(test_every_prefix_of_a_frame_needs_more),
		cmocka_unit_test(test_max_payload_header_is_valid_but_needs_more),
		cmocka_unit_test(test_payload_longer_than_max_is_rejected),
		cmocka_unit_test(test_unknown_types_are_rejected),
		cmocka_unit_test(test_nonzero_reserved_bytes_are_rejected),
		cmocka_unit_test(test_stream_ids_only_on_output_and_at_most_stderr),
		cmocka_unit_test(test_truncated_tlv_header_is_malformed),
		cmocka_unit_test(test_tlv_length_past_the_payload_is_malformed),
		cmocka_unit_test(test_tlv_bounds_are_the_frame_not_the_buffer),
		cmocka_unit_test(test_typed_readers_reject_wrong_sizes),
		cmocka_unit_test(test_tlv_str_rejects_embedded_nul),
		cmocka_unit_test(test_tlv_str_copies_exactly_len_bytes),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_fuzz_parse_never_reads_out_of_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
