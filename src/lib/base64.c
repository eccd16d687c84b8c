/* Standard base64 (RFC 4648 section 4, with padding): exec output and
 * stdin travel this way so that arbitrary bytes survive JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *tl_base64_encode(const void *data, size_t len)
{
	const unsigned char *in = data;
	char *out = tl_xmalloc(4 * ((len + 2) / 3) + 1);
	char *o = out;
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*o++ = alphabet[v >> 18 & 63];
		*o++ = alphabet[v >> 12 & 63];
		*o++ = alphabet[v >> 6 & 63];
		*o++ = alphabet[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
		*o++ = alphabet[v >> 18 & 63];
		*o++ = alphabet[v >> 12 & 63];
		*o++ = i + 1 < len ? alphabet[v >> 6 & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static int sextet(char c)
{
	const char *p = c ? strchr(alphabet, c) : NULL;
	return p ? (int)(p - alphabet) : -1;
}

/* One quantum of four characters; the last may end in one or two '='. */
static int decode_quantum(const char *q, bool last, unsigned char *out, size_t *n)
{
	int pad = (q[3] == '=') + (q[3] == '=' && q[2] == '=');
	if (pad && !last)
		return -1;
	uint32_t v = 0;
	for (int k = 0; k < 4 - pad; k++) {
		int s = sextet(q[k]);
		if (s < 0)
			return -1;
		v = v << 6 | (uint32_t)s;
	}
	v <<= 6 * pad;
	out[0] = (unsigned char)(v >> 16);
	out[1] = (unsigned char)(v >> 8);
	out[2] = (unsigned char)v;
	*n = 3 - (size_t)pad;
	return 0;
}

int tl_base64_decode(const char *in, size_t len, char **out, size_t *out_len)
{
	if (len % 4)
		return -1;
	unsigned char *buf = tl_xmalloc(len / 4 * 3 + 1);
	size_t used = 0;
	for (size_t i = 0; i < len; i += 4) {
		size_t n;
		if (decode_quantum(in + i, i + 4 == len, buf + used, &n) < 0) {
			free(buf);
			return -1;
		}
		used += n;
	}
	buf[used] = '\0';
	*out = (char *)buf;
	*out_len = used;
	return 0;
}
