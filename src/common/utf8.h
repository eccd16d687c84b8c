/* Output from a guest is arbitrary bytes; JSON strings must be UTF-8. */
#ifndef THAW_UTF8_H
#define THAW_UTF8_H

#include <stddef.h>

#include "buf.h"

/* Appends data to out with every invalid UTF-8 sequence replaced by
 * U+FFFD. Returns how many replacements were made. */
size_t utf8_sanitize(const void *data, size_t len, struct buf *out);

/* How much of data ends on a character boundary: all of it, unless it
 * ends inside a multi-byte sequence that more bytes could complete, which
 * is then left out (output arrives in chunks that split characters). */
size_t utf8_complete_prefix(const void *data, size_t len);

/* Standard base64 (OpenSSL), appended to out. */
void base64_encode(const void *data, size_t len, struct buf *out);
/* Decodes standard base64 (padding required); -1 on malformed input. */
int base64_decode(const char *in, size_t len, struct buf *out);

#endif
