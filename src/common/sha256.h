/* SHA-256 of files and buffers as lowercase hex (OpenSSL libcrypto). */
#ifndef THAW_SHA256_H
#define THAW_SHA256_H

#include <stddef.h>

#include "err.h"

#define SHA256_HEX_LEN 64

void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1]);
int sha256_file(const char *path, char out[SHA256_HEX_LEN + 1], struct thaw_err **err);

#endif
