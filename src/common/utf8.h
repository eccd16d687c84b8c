/* Output from a guest is arbitrary bytes; JSON strings must be UTF-8. */
#ifndef THAW_UTF8_H
#define THAW_UTF8_H

#include <stddef.h>

#include "buf.h"

/* Appends data to out with every invalid UTF-8 sequence replaced by
 * U+FFFD. Returns how many replacements were made. */
size_t utf8_sanitize(const void *data, size_t len, struct buf *out);

/* Standard base64 (OpenSSL), appended to out. */
void base64_encode(const void *data, size_t len, struct buf *out);
/* Decodes standard base64 (padding required); -1 on malformed input. */
int base64_decode(const char *in, size_t len, struct buf *out);

#endif
