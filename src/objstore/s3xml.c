/* A tag extractor for S3's small XML answers. */
#include "s3xml.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Where "<tag" starts an element of that name at or after from, or -1. */
static long find_open(const char *doc, size_t len, size_t from, const char *tag, size_t tlen)
{
	while (from < len) {
		const char *p = memchr(doc + from, '<', len - from);
		if (!p)
			return -1;
		size_t at = (size_t)(p - doc);
		size_t after = at + 1 + tlen;
		if (after < len && !memcmp(p + 1, tag, tlen) &&
		    (doc[after] == '>' || doc[after] == '/' || is_space(doc[after])))
			return (long)at;
		from = at + 1;
	}
	return -1;
}

int s3xml_next(const char *doc, size_t len, size_t *pos, const char *tag, size_t *start, size_t *n)
{
	size_t tlen = strlen(tag);
	if (!tlen || *pos >= len)
		return 0;
	long at = find_open(doc, len, *pos, tag, tlen);
	if (at < 0)
		return 0;
	const char *gt = memchr(doc + at, '>', len - (size_t)at);
	if (!gt)
		return -1;
	size_t content = (size_t)(gt - doc) + 1;
	if (gt[-1] == '/') { /* <tag/>: empty */
		*start = content;
		*n = 0;
		*pos = content;
		return 1;
	}
	/* The end tag: "</tag" then optional spaces and '>'. */
	for (size_t from = content; from + 2 + tlen < len;) {
		const char *p = memmem(doc + from, len - from, "</", 2);
		if (!p)
			break;
		size_t at_end = (size_t)(p - doc);
		size_t k = at_end + 2 + tlen;
		if (k <= len && !memcmp(p + 2, tag, tlen)) {
			while (k < len && is_space(doc[k]))
				k++;
			if (k < len && doc[k] == '>') {
				*start = content;
				*n = at_end - content;
				*pos = k + 1;
				return 1;
			}
		}
		from = at_end + 2;
	}
	return -1;
}

static void put_utf8(struct buf *b, uint32_t cp)
{
	uint8_t o[4];
	size_t n;
	if (cp < 0x80) {
		o[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		o[0] = (uint8_t)(0xc0 | (cp >> 6));
		o[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		o[0] = (uint8_t)(0xe0 | (cp >> 12));
		o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		o[0] = (uint8_t)(0xf0 | (cp >> 18));
		o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		o[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	buf_append(b, o, n);
}

/* &#N; or &#xN; (the part between '#' and ';'): a code point XML allows. */
static int char_ref(const char *s, size_t n, uint32_t *cp)
{
	int hex = n > 0 && (s[0] == 'x' || s[0] == 'X');
	size_t i = hex ? 1 : 0;
	if (i == n || n - i > 8)
		return -1;
	uint32_t v = 0;
	for (; i < n; i++) {
		char c = s[i];
		int d = (c >= '0' && c <= '9')	      ? c - '0'
			: hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
			: hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
						      : -1;
		if (d < 0)
			return -1;
		v = v * (hex ? 16 : 10) + (uint32_t)d;
	}
	if (v == 0 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return -1;
	*cp = v;
	return 0;
}

static const struct {
	const char *name;
	char c;
} entities[] = {
	{ "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' }, { "apos", '\'' },
};

/* Decodes the entity at s[0] == '&'; returns its length or -1. */
static long entity(const char *s, size_t n, struct buf *b)
{
	const char *semi = memchr(s, ';', n < 12 ? n : 12);
	if (!semi)
		return -1;
	size_t len = (size_t)(semi - s) - 1;
	const char *name = s + 1;
	if (len > 0 && name[0] == '#') {
		uint32_t cp;
		if (char_ref(name + 1, len - 1, &cp) < 0)
			return -1;
		put_utf8(b, cp);
		return (long)len + 2;
	}
	for (size_t i = 0; i < sizeof(entities) / sizeof(entities[0]); i++)
		if (strlen(entities[i].name) == len && !memcmp(name, entities[i].name, len)) {
			buf_append(b, &entities[i].c, 1);
			return (long)len + 2;
		}
	return -1;
}

int s3xml_text(const char *s, size_t n, size_t max, char **out)
{
	_cleanup_buf_ struct buf b = { 0 };
	for (size_t i = 0; i < n;) {
		if (s[i] == '\0' || s[i] == '<' || b.len > max)
			return -1;
		if (s[i] != '&') {
			const char *amp = memchr(s + i, '&', n - i);
			size_t run = amp ? (size_t)(amp - (s + i)) : n - i;
			if (memchr(s + i, '\0', run) || memchr(s + i, '<', run))
				return -1;
			buf_append(&b, s + i, run);
			i += run;
			continue;
		}
		long used = entity(s + i, n - i, &b);
		if (used < 0)
			return -1;
		i += (size_t)used;
	}
	if (b.len > max)
		return -1;
	*out = buf_steal(&b, NULL);
	return 0;
}

int s3xml_get(const char *doc, size_t len, const char *tag, size_t max, char **out)
{
	size_t pos = 0, start, n;
	int rc = s3xml_next(doc, len, &pos, tag, &start, &n);
	if (rc <= 0)
		return rc;
	return s3xml_text(doc + start, n, max, out) < 0 ? -1 : 1;
}
