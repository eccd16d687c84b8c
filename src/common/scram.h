/* PostgreSQL's stored form of a SCRAM-SHA-256 password (RFC 5802, RFC
 * 7677; what ALTER ROLE ... PASSWORD stores): computed on the host, where
 * its 4096 PBKDF2 rounds cost a millisecond, instead of in a guest under
 * emulation, where they cost hundreds (docs/postgres.md). */
#ifndef THAW_SCRAM_H
#define THAW_SCRAM_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

#define SCRAM_ITERATIONS 4096
#define SCRAM_SALT_LEN 16

/* "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>" (base64)
 * appended to out. password: printable ASCII (its SASLprep is itself). */
int scram_verifier(const char *password, const unsigned char *salt, size_t salt_len,
		   struct buf *out, struct thaw_err **err);

#endif
