/* Identifiers that end up in paths, netns names and process names.
 * Everything named by a client is validated here before it is used. */
#ifndef THAW_IDS_H
#define THAW_IDS_H

#include <stdbool.h>
#include <stddef.h>

#define SANDBOX_ID_PREFIX "sb-"
#define SANDBOX_ID_RANDOM 12
#define SANDBOX_ID_LEN (sizeof(SANDBOX_ID_PREFIX) - 1 + SANDBOX_ID_RANDOM)
#define TEMPLATE_NAME_MAX 63
/* API key names (the owners of sandboxes): 1..32 of [a-z0-9_-],
 * starting with a letter or digit. */
#define KEY_NAME_MAX 32
#define KEY_NAME_DEFAULT "default"

/* Fills out (at least SANDBOX_ID_LEN + 1 bytes) with a fresh random id. */
void id_new_sandbox(char *out);
/* A build id: UTC time plus randomness, sortable, e.g. 20261128T011455-3k9d. */
void id_new_build(char *out, size_t size);

bool id_valid_sandbox(const char *s);
/* Template names: 1..63 of [a-z0-9-], starting with a letter or digit. */
bool id_valid_template(const char *s);
bool id_valid_build(const char *s);
bool id_valid_key_name(const char *s);
/* An Idempotency-Key: 1-128 of [A-Za-z0-9._:-]. */
#define IDEM_KEY_MAX 128
bool id_valid_idem_key(const char *s);

/* Fills buf with n random bytes from the kernel; aborts if it cannot. */
void random_bytes(void *buf, size_t n);

#endif
