#include "proto.h"

#include <string.h>

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | ((uint64_t)get_le32(p + 4) << 32);
}

long proto_frame_parse(const uint8_t *data, size_t len, struct proto_frame *out)
{
	if (len < PROTO_HDR_SIZE)
		return 0;
	uint32_t plen = get_le32(data);
	uint8_t type = data[4];
	uint8_t stream = data[5];
	if (plen > PROTO_MAX_PAYLOAD || type == 0 || type > MSG_TYPE_MAX || get_le16(data + 6) != 0)
		return -1;
	if (stream > STREAM_STDERR || (stream != STREAM_NONE && type != MSG_OUTPUT))
		return -1;
	if (len - PROTO_HDR_SIZE < plen)
		return 0;
	out->type = type;
	out->stream = stream;
	out->len = plen;
	out->payload = data + PROTO_HDR_SIZE;
	return (long)(PROTO_HDR_SIZE + plen);
}

size_t proto_begin(struct buf *b, enum proto_type type, uint8_t stream)
{
	size_t start = b->len;
	uint8_t hdr[PROTO_HDR_SIZE] = { 0 };
	hdr[4] = (uint8_t)type;
	hdr[5] = stream;
	buf_append(b, hdr, sizeof(hdr));
	return start;
}

void proto_put_bytes(struct buf *b, uint16_t tag, const void *v, size_t n)
{
	uint8_t hdr[PROTO_TLV_HDR_SIZE];
	put_le16(hdr, tag);
	put_le32(hdr + 2, (uint32_t)n);
	buf_append(b, hdr, sizeof(hdr));
	buf_append(b, v, n);
}

void proto_put_str(struct buf *b, uint16_t tag, const char *s)
{
	proto_put_bytes(b, tag, s, strlen(s));
}

void proto_put_u8(struct buf *b, uint16_t tag, uint8_t v)
{
	proto_put_bytes(b, tag, &v, 1);
}

void proto_put_u32(struct buf *b, uint16_t tag, uint32_t v)
{
	uint8_t le[4];
	put_le32(le, v);
	proto_put_bytes(b, tag, le, sizeof(le));
}

void proto_put_i32(struct buf *b, uint16_t tag, int32_t v)
{
	proto_put_u32(b, tag, (uint32_t)v);
}

void proto_put_u64(struct buf *b, uint16_t tag, uint64_t v)
{
	uint8_t le[8];
	put_le64(le, v);
	proto_put_bytes(b, tag, le, sizeof(le));
}

void proto_end(struct buf *b, size_t start)
{
	put_le32(b->data + start, (uint32_t)(b->len - start - PROTO_HDR_SIZE));
}

void proto_put_raw_frame(struct buf *b, enum proto_type type, uint8_t stream, const void *data,
			 size_t n)
{
	size_t start = proto_begin(b, type, stream);
	buf_append(b, data, n);
	proto_end(b, start);
}

void proto_tlv_init(struct proto_tlv_iter *it, const struct proto_frame *f)
{
	it->p = f->payload;
	it->end = f->payload + f->len;
}

int proto_tlv_next(struct proto_tlv_iter *it, struct proto_tlv *out)
{
	size_t left = (size_t)(it->end - it->p);
	if (left == 0)
		return 0;
	if (left < PROTO_TLV_HDR_SIZE)
		return -1;
	uint16_t tag = get_le16(it->p);
	uint32_t len = get_le32(it->p + 2);
	if (len > left - PROTO_TLV_HDR_SIZE)
		return -1;
	out->tag = tag;
	out->len = len;
	out->val = it->p + PROTO_TLV_HDR_SIZE;
	it->p += PROTO_TLV_HDR_SIZE + len;
	return 1;
}

int proto_tlv_u8(const struct proto_tlv *t, uint8_t *out)
{
	if (t->len != 1)
		return -1;
	*out = t->val[0];
	return 0;
}

int proto_tlv_u32(const struct proto_tlv *t, uint32_t *out)
{
	if (t->len != 4)
		return -1;
	*out = get_le32(t->val);
	return 0;
}

int proto_tlv_i32(const struct proto_tlv *t, int32_t *out)
{
	uint32_t v;
	if (proto_tlv_u32(t, &v) < 0)
		return -1;
	*out = (int32_t)v;
	return 0;
}

int proto_tlv_u64(const struct proto_tlv *t, uint64_t *out)
{
	if (t->len != 8)
		return -1;
	*out = get_le64(t->val);
	return 0;
}

int proto_tlv_str(const struct proto_tlv *t, char **out)
{
	if (memchr(t->val, '\0', t->len))
		return -1;
	*out = xstrndup((const char *)t->val, t->len);
	return 0;
}

const char *proto_type_name(uint8_t type)
{
	/* Sized by MSG_TYPE_MAX: a type added without a name reads "?",
	 * never past the table (the fuzzer found that once). */
	static const char *const names[MSG_TYPE_MAX + 1] = {
		[MSG_HELLO] = "HELLO",
		[MSG_HELLO_OK] = "HELLO_OK",
		[MSG_PREPARE] = "PREPARE",
		[MSG_PREPARE_OK] = "PREPARE_OK",
		[MSG_EXEC] = "EXEC",
		[MSG_STDIN] = "STDIN",
		[MSG_OUTPUT] = "OUTPUT",
		[MSG_EXIT] = "EXIT",
		[MSG_ERROR] = "ERROR",
		[MSG_FILE_INFO] = "FILE_INFO",
		[MSG_STARTED] = "STARTED",
		[MSG_RESIZE] = "RESIZE",
		[MSG_LIST] = "LIST",
		[MSG_PROC] = "PROC",
		[MSG_ATTACH] = "ATTACH",
		[MSG_SIGNAL] = "SIGNAL",
		[MSG_PROC_STDIN] = "PROC_STDIN",
		[MSG_PROC_RESIZE] = "PROC_RESIZE",
		[MSG_OK] = "OK",
	};
	if (type == 0 || type > MSG_TYPE_MAX || !names[type])
		return "?";
	return names[type];
}
