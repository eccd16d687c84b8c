/* A growable byte buffer. The struct owns `data`; buf_free releases it.
 * Allocation failure aborts (see CONTRIBUTING.md): thaw cannot do
 * anything useful without memory and pretending otherwise adds untested
 * paths. */
#ifndef THAW_BUF_H
#define THAW_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t n);
void buf_append_str(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes (consumed input). */
void buf_consume(struct buf *b, size_t n);
/* Returns data as a NUL-terminated string owned by the buffer. */
const char *buf_cstr(struct buf *b);
/* Hands the allocation to the caller (NUL-terminated) and empties b. */
char *buf_steal(struct buf *b, size_t *len);
void buf_reset(struct buf *b);
void buf_free(struct buf *b);

static inline void cleanup_bufp(struct buf *b)
{
	buf_free(b);
}
#define _cleanup_buf_ __attribute__((cleanup(cleanup_bufp)))

#endif
