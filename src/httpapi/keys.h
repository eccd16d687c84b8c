/* API keys, each a tenant: a name (the owner recorded on what it
 * creates), the SHA-256 of its secret, a role and optional limits.
 *
 * Without a keys file, thawd has one admin key named "default" whose
 * secret is DATA/api-key. With one (--keys-file, JSON, validated in full
 * at start), the file is the whole list:
 *   {"keys": [{"name": "ops", "sha256": "<64 hex>", "role": "admin"},
 *             {"name": "alice", "sha256": "<64 hex>", "role": "user",
 *              "max_sandboxes": 5, "rate_limit": 20}]}
 * The file holds digests, never secrets: sha256 is the SHA-256 of the
 * secret exactly as it is sent after "Bearer ". */
#ifndef THAW_API_KEYS_H
#define THAW_API_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "ids.h"

#define KEYS_MAX 1024
#define KEYS_FILE_MAX (1u << 20)

enum key_role {
	KEY_ADMIN, /* sees and acts on every sandbox; bakes and deletes templates */
	KEY_USER,  /* sees and acts on its own sandboxes only */
};

struct api_key {
	char name[KEY_NAME_MAX + 1];
	unsigned char digest[32]; /* SHA-256 of the secret */
	enum key_role role;
	unsigned max_sandboxes; /* 0: only the host's cap */
	int rate_limit;		/* requests a second; -1: --rate-limit; 0: none */
};

struct api_keys {
	struct api_key *keys;
	size_t n;
};

/* Parses and validates a keys file's text: unknown fields, duplicate
 * names or digests, bad values and an empty list are ERR_INVALID with a
 * message naming the key. */
int keys_parse(const char *text, size_t len, struct api_keys *out, struct thaw_err **err);
int keys_load_file(const char *path, struct api_keys *out, struct thaw_err **err);
/* The single admin key "default" with this secret (DATA/api-key). */
void keys_single(const char *secret, struct api_keys *out);
/* The key whose secret this is, or NULL; compares against every key in
 * constant time (no early exit, CRYPTO_memcmp on digests). */
const struct api_key *keys_match(const struct api_keys *k, const char *secret);
/* One more key with this secret (no rate limit). ERR_CONFLICT when the
 * name is taken. */
int keys_add(struct api_keys *k, const char *name, const char *secret, enum key_role role,
	     struct thaw_err **err);
/* A second list with the same keys (a second listener's). */
void keys_copy(const struct api_keys *from, struct api_keys *to);
void keys_free(struct api_keys *k);

const char *key_role_name(enum key_role r);

#endif
