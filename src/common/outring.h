/* A command's recent output, kept for whoever attaches later: records of
 * (stream, bytes) in arrival order, at most `cap` bytes of output in all.
 * When a record would pass the bound, the oldest records go first and
 * their bytes are counted in `dropped`. Libc only (the guest agent's). */
#ifndef THAW_OUTRING_H
#define THAW_OUTRING_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct outring {
	struct buf data;  /* records: u8 stream, u32 length (LE), bytes; owned */
	size_t head;	  /* offset of the oldest record kept */
	size_t cap;	  /* output bytes kept at most */
	size_t kept;	  /* output bytes held now */
	uint64_t dropped; /* output bytes dropped so far */
};

void outring_init(struct outring *r, size_t cap);
/* Appends n bytes of stream's output; a chunk longer than cap keeps its
 * last cap bytes. */
void outring_put(struct outring *r, uint8_t stream, const void *data, size_t n);
/* Drops the oldest records until at most keep bytes are held. */
void outring_trim(struct outring *r, size_t keep);
/* Walks the records from the oldest: *off starts at 0; returns 1 with a
 * record (valid until the next put), 0 at the end. */
int outring_next(const struct outring *r, size_t *off, uint8_t *stream, const uint8_t **data,
		 size_t *n);
void outring_free(struct outring *r);

#endif
