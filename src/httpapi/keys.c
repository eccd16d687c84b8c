#include "httpapi/keys.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "fsutil.h"

static const char *const key_fields[] = { "name", "sha256", "role", "max_sandboxes",
					  "rate_limit", NULL };

const char *key_role_name(enum key_role r)
{
	return r == KEY_ADMIN ? "admin" : "user";
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int parse_digest(const char *hex, unsigned char out[32])
{
	if (strlen(hex) != 64)
		return -1;
	for (size_t i = 0; i < 32; i++) {
		int hi = hex_nibble(hex[2 * i]), lo = hex_nibble(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static int check_fields(json_t *o, size_t i, struct thaw_err **err)
{
	const char *field;
	json_t *v;
	json_object_foreach (o, field, v) {
		bool known = false;
		for (size_t f = 0; key_fields[f] && !known; f++)
			known = strcmp(field, key_fields[f]) == 0;
		if (!known)
			return err_set(err, ERR_INVALID,
				       "key %zu: unknown field \"%.64s\" (known: name, sha256, role, "
				       "max_sandboxes, rate_limit)",
				       i + 1, field);
	}
	return 0;
}

/* An optional integer field within [lo, hi]; *out keeps its value when
 * the field is absent. */
static int get_int(json_t *o, const char *field, const char *name, json_int_t lo, json_int_t hi,
		   json_int_t *out, struct thaw_err **err)
{
	json_t *v = json_object_get(o, field);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return err_set(err, ERR_INVALID, "key %s: %s must be an integer from %lld to %lld",
			       name, field, (long long)lo, (long long)hi);
	*out = json_integer_value(v);
	return 0;
}

static int parse_key(json_t *o, size_t i, struct api_key *k, struct thaw_err **err)
{
	if (!json_is_object(o))
		return err_set(err, ERR_INVALID, "key %zu is not an object", i + 1);
	if (check_fields(o, i, err) < 0)
		return -1;
	const char *name = json_string_value(json_object_get(o, "name"));
	if (!name || !id_valid_key_name(name))
		return err_set(err, ERR_INVALID,
			       "key %zu: name must be 1 to %d of a-z, 0-9, '-' and '_', starting "
			       "with a letter or digit",
			       i + 1, KEY_NAME_MAX);
	snprintf(k->name, sizeof(k->name), "%s", name);
	const char *hex = json_string_value(json_object_get(o, "sha256"));
	if (!hex || parse_digest(hex, k->digest) < 0)
		return err_set(err, ERR_INVALID,
			       "key %s: sha256 must be the 64 hex digits of the SHA-256 of its "
			       "secret (printf %%s SECRET | sha256sum)",
			       name);
	const char *role = json_string_value(json_object_get(o, "role"));
	if (role && strcmp(role, "admin") == 0)
		k->role = KEY_ADMIN;
	else if (role && strcmp(role, "user") == 0)
		k->role = KEY_USER;
	else
		return err_set(err, ERR_INVALID, "key %s: role must be \"admin\" or \"user\"",
			       name);
	json_int_t max = 0, rate = -1;
	if (get_int(o, "max_sandboxes", name, 1, 16384, &max, err) < 0 ||
	    get_int(o, "rate_limit", name, 0, 1000000, &rate, err) < 0)
		return -1;
	k->max_sandboxes = (unsigned)max;
	k->rate_limit = (int)rate;
	return 0;
}

static int check_unique(const struct api_keys *k, size_t i, struct thaw_err **err)
{
	for (size_t j = 0; j < i; j++) {
		if (strcmp(k->keys[j].name, k->keys[i].name) == 0)
			return err_set(err, ERR_INVALID, "key %zu: the name %s is used twice",
				       i + 1, k->keys[i].name);
		if (memcmp(k->keys[j].digest, k->keys[i].digest, 32) == 0)
			return err_set(err, ERR_INVALID,
				       "keys %s and %s have the same secret (same sha256)",
				       k->keys[j].name, k->keys[i].name);
	}
	return 0;
}

static int parse_list(json_t *root, struct api_keys *k, struct thaw_err **err)
{
	const char *field;
	json_t *v;
	json_object_foreach (root, field, v)
		if (strcmp(field, "keys") != 0)
			return err_set(err, ERR_INVALID,
				       "unknown top-level field \"%.64s\" (known: keys)", field);
	json_t *arr = json_object_get(root, "keys");
	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > KEYS_MAX)
		return err_set(err, ERR_INVALID, "\"keys\" must be an array of 1 to %d keys",
			       KEYS_MAX);
	k->keys = xcalloc(json_array_size(arr), sizeof(*k->keys));
	for (size_t i = 0; i < json_array_size(arr); i++) {
		if (parse_key(json_array_get(arr, i), i, &k->keys[i], err) < 0)
			return -1;
		k->n = i + 1;
		if (check_unique(k, i, err) < 0)
			return -1;
	}
	return 0;
}

int keys_parse(const char *text, size_t len, struct api_keys *out, struct thaw_err **err)
{
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return err_set(err, ERR_INVALID, "malformed JSON at line %d column %d: %s", je.line,
			       je.column, je.text);
	struct api_keys k = { 0 };
	int rc = json_is_object(root)
			 ? parse_list(root, &k, err)
			 : err_set(err, ERR_INVALID, "a keys file is a JSON object {\"keys\": [...]}");
	json_decref(root);
	if (rc < 0) {
		keys_free(&k);
		return -1;
	}
	*out = k;
	return 0;
}

int keys_load_file(const char *path, struct api_keys *out, struct thaw_err **err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (fs_read_file(path, KEYS_FILE_MAX, &text, &len, err) < 0 ||
	    keys_parse(text, len, out, err) < 0)
		return err_wrap(err, "keys file %s", path);
	return 0;
}

void keys_single(const char *secret, struct api_keys *out)
{
	out->keys = xcalloc(1, sizeof(*out->keys));
	out->n = 1;
	struct api_key *k = &out->keys[0];
	snprintf(k->name, sizeof(k->name), "%s", KEY_NAME_DEFAULT);
	SHA256((const unsigned char *)secret, strlen(secret), k->digest);
	k->role = KEY_ADMIN;
	k->rate_limit = -1;
}

int keys_add(struct api_keys *k, const char *name, const char *secret, enum key_role role,
	     struct thaw_err **err)
{
	for (size_t i = 0; i < k->n; i++)
		if (!strcmp(k->keys[i].name, name))
			return err_set(err, ERR_CONFLICT, "there is a key named %s already", name);
	if (k->n >= KEYS_MAX)
		return err_set(err, ERR_LIMIT, "more than %d keys", KEYS_MAX);
	k->keys = xrealloc(k->keys, (k->n + 1) * sizeof(*k->keys));
	struct api_key *n = &k->keys[k->n++];
	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "%s", name);
	SHA256((const unsigned char *)secret, strlen(secret), n->digest);
	n->role = role;
	n->rate_limit = 0; /* the control plane's requests are its users' */
	return 0;
}

const struct api_key *keys_match(const struct api_keys *k, const char *secret)
{
	unsigned char digest[32];
	SHA256((const unsigned char *)secret, strlen(secret), digest);
	const struct api_key *found = NULL;
	/* Every key is compared, whatever matched: the time taken says
	 * nothing about which key (or how much of one) was close. */
	for (size_t i = 0; i < k->n; i++)
		if (CRYPTO_memcmp(digest, k->keys[i].digest, sizeof(digest)) == 0)
			found = &k->keys[i];
	OPENSSL_cleanse(digest, sizeof(digest));
	return found;
}

void keys_copy(const struct api_keys *from, struct api_keys *to)
{
	to->n = from->n;
	to->keys = from->n ? xmalloc(from->n * sizeof(*to->keys)) : NULL;
	if (from->n)
		memcpy(to->keys, from->keys, from->n * sizeof(*to->keys));
}

void keys_free(struct api_keys *k)
{
	if (k->keys)
		OPENSSL_cleanse(k->keys, k->n * sizeof(*k->keys));
	free(k->keys);
	k->keys = NULL;
	k->n = 0;
}
