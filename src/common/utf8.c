#include "utf8.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p, or 0 when it is invalid
 * (overlong forms, surrogates and values above U+10FFFF included). */
static size_t valid_seq(const uint8_t *p, size_t left)
{
	uint8_t c = p[0];
	if (c < 0x80)
		return 1;
	size_t n;
	uint32_t cp, min;
	if ((c & 0xE0) == 0xC0) {
		n = 2, cp = c & 0x1F, min = 0x80;
	} else if ((c & 0xF0) == 0xE0) {
		n = 3, cp = c & 0x0F, min = 0x800;
	} else if ((c & 0xF8) == 0xF0) {
		n = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (left < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

size_t utf8_sanitize(const void *data, size_t len, struct buf *out)
{
	static const char replacement[] = "\xEF\xBF\xBD";
	const uint8_t *p = data;
	size_t bad = 0, i = 0, run = 0;
	buf_reserve(out, len);
	while (i < len) {
		size_t n = valid_seq(p + i, len - i);
		if (n) {
			i += n;
			run += n;
			continue;
		}
		buf_append(out, p + i - run, run);
		buf_append(out, replacement, 3);
		run = 0;
		i++;
		bad++;
	}
	buf_append(out, p + len - run, run);
	return bad;
}

void base64_encode(const void *data, size_t len, struct buf *out)
{
	size_t need = 4 * ((len + 2) / 3);
	buf_reserve(out, need + 1);
	int n = EVP_EncodeBlock(out->data + out->len, data, (int)len);
	out->len += (size_t)n;
}

static bool b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

int base64_decode(const char *in, size_t len, struct buf *out)
{
	if (len % 4)
		return -1;
	size_t pad = 0;
	if (len >= 1 && in[len - 1] == '=')
		pad++;
	if (len >= 2 && in[len - 2] == '=')
		pad++;
	/* OpenSSL's decoder is lenient (whitespace, '=' anywhere): only the
	 * canonical alphabet with trailing padding gets this far. */
	for (size_t i = 0; i < len - pad; i++)
		if (!b64_char(in[i]))
			return -1;
	buf_reserve(out, len / 4 * 3 + 1);
	int n = EVP_DecodeBlock(out->data + out->len, (const unsigned char *)in, (int)len);
	if (n < 0)
		return -1;
	/* EVP_DecodeBlock counts padding as zero bytes. */
	out->len += (size_t)n - pad;
	return 0;
}

size_t utf8_complete_prefix(const void *data, size_t len)
{
	const uint8_t *p = data;
	/* Look back at most 3 bytes for the lead byte of the last sequence. */
	for (size_t back = 1; back <= 3 && back <= len; back++) {
		uint8_t b = p[len - back];
		if ((b & 0xC0) == 0x80)
			continue; /* a continuation byte: keep looking */
		size_t need = (b & 0xE0) == 0xC0   ? 2
			      : (b & 0xF0) == 0xE0 ? 3
			      : (b & 0xF8) == 0xF0 ? 4
						   : 1;
		return need > back ? len - back : len;
	}
	return len;
}
