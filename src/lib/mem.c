/* Allocation that cannot fail (it aborts instead, as everywhere in thaw)
 * and a growable byte string for response bodies. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void *tl_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		abort();
	return p;
}

void *tl_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		abort();
	return p;
}

void *tl_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		abort();
	return q;
}

char *tl_xstrdup(const char *s)
{
	return tl_xstrndup(s, strlen(s));
}

char *tl_xstrndup(const char *s, size_t n)
{
	char *p = tl_xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void tl_buf_append(struct tl_buf *b, const void *data, size_t n)
{
	if (n + 1 > b->cap - b->len || !b->data) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap - b->len < n + 1) {
			if (cap > SIZE_MAX / 2)
				abort();
			cap *= 2;
		}
		b->data = tl_xrealloc(b->data, cap);
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void tl_buf_free(struct tl_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}
