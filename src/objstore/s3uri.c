/* Percent-encoding and canonical (sorted) query strings for S3. */
#include "s3uri.h"

#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

static int unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

void s3uri_encode(struct buf *b, const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (unreserved(*p) || (keep_slash && *p == '/')) {
			buf_append(b, p, 1);
			continue;
		}
		char esc[3] = { '%', hex[*p >> 4], hex[*p & 15] };
		buf_append(b, esc, 3);
	}
}

static int by_name(const void *a, const void *b)
{
	const struct s3_param *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->value ? x->value : "", y->value ? y->value : "");
}

void s3uri_query(struct buf *b, const struct s3_param *params, size_t n)
{
	if (n == 0)
		return;
	_cleanup_free_ struct s3_param *sorted = xmalloc(n * sizeof(*sorted));
	memcpy(sorted, params, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), by_name);
	for (size_t i = 0; i < n; i++) {
		buf_append_str(b, i ? "&" : "?");
		s3uri_encode(b, sorted[i].name, 0);
		buf_append_str(b, "=");
		s3uri_encode(b, sorted[i].value ? sorted[i].value : "", 0);
	}
}
