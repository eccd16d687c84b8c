/* Signed, expiring URLs for one file operation on one sandbox: a MAC
 * (HMAC-SHA256) of the sandbox id, the operation, the expiry and the
 * path under a key only this host holds (a file in its data dir, made on
 * first use). Changing any of them, or using the URL after its expiry,
 * fails the check. */
#ifndef THAW_URLSIGN_H
#define THAW_URLSIGN_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

#define URLSIGN_MAC_LEN 64 /* lowercase hex */

/* The key in path, made there first when missing (random, 0600, written
 * under a temp name and linked into place, so two thawds racing both end
 * with the one that won). *out: a new string; wipe it before freeing. */
int urlsign_key_load(const char *path, char **out, struct thaw_err **err);

/* The MAC of (sandbox, op, expires, path); the message separates the
 * fields with newlines and puts the path last, the only field that may
 * hold one. */
void urlsign_mac(const char *key, const char *sandbox, const char *op, int64_t expires,
		 const char *path, char out[URLSIGN_MAC_LEN + 1]);

/* Whether presented is that MAC (constant time; any other form is no). */
bool urlsign_check(const char *key, const char *sandbox, const char *op, int64_t expires,
		   const char *path, const char *presented);

#endif
