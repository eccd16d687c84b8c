#include "outring.h"

#include <string.h>

#define REC_HDR 5

static uint32_t rec_len(const uint8_t *p)
{
	return (uint32_t)p[1] | (uint32_t)p[2] << 8 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 24;
}

void outring_init(struct outring *r, size_t cap)
{
	memset(r, 0, sizeof(*r));
	r->cap = cap;
}

/* Drops the oldest record. */
static void drop_oldest(struct outring *r)
{
	uint32_t n = rec_len(r->data.data + r->head);
	r->head += REC_HDR + n;
	r->kept -= n;
	r->dropped += n;
}

/* Moves the kept records to the front once the dead prefix is as large
 * as they are: each byte is copied a bounded number of times. */
static void compact(struct outring *r)
{
	if (r->head && r->head >= r->data.len - r->head) {
		buf_consume(&r->data, r->head);
		r->head = 0;
	}
}

void outring_trim(struct outring *r, size_t keep)
{
	while (r->kept > keep)
		drop_oldest(r);
	compact(r);
}

void outring_put(struct outring *r, uint8_t stream, const void *data, size_t n)
{
	if (n == 0 || r->cap == 0) {
		r->dropped += n;
		return;
	}
	if (n > r->cap) {
		r->dropped += n - r->cap;
		data = (const uint8_t *)data + (n - r->cap);
		n = r->cap;
	}
	while (r->kept && r->kept + n > r->cap)
		drop_oldest(r);
	compact(r);
	uint8_t hdr[REC_HDR] = { stream, (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16),
				 (uint8_t)(n >> 24) };
	buf_append(&r->data, hdr, sizeof(hdr));
	buf_append(&r->data, data, n);
	r->kept += n;
}

int outring_next(const struct outring *r, size_t *off, uint8_t *stream, const uint8_t **data,
		 size_t *n)
{
	size_t at = r->head + *off;
	if (at + REC_HDR > r->data.len)
		return 0;
	const uint8_t *p = r->data.data + at;
	*stream = p[0];
	*n = rec_len(p);
	*data = p + REC_HDR;
	*off += REC_HDR + *n;
	return 1;
}

void outring_free(struct outring *r)
{
	buf_free(&r->data);
	memset(r, 0, sizeof(*r));
}
