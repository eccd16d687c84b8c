/* The artifact manifest, format 1 (docs/artifacts.md): what a published
 * template build or image is made of, window by window.
 *
 * manifest_parse() validates every field and refuses the whole manifest
 * with ERR_CORRUPT, naming the field, when anything does not check out;
 * a parsed manifest can be trusted for sizes, window counts, offsets,
 * object keys and indices. manifest_to_json() writes the same format. */
#ifndef THAW_MANIFEST_H
#define THAW_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define MANIFEST_FORMAT 1
#define MANIFEST_WINDOW_MIN (64u << 10)
#define MANIFEST_WINDOW_MAX (64u << 20)
/* Limits that keep a hostile manifest from costing unbounded memory. */
#define MANIFEST_TEXT_MAX (256u << 20)
#define MANIFEST_MAX_WINDOWS (1u << 20)
#define MANIFEST_MAX_OBJECTS 4096u
#define MANIFEST_BLOB_MAX (16ull << 30)
#define MANIFEST_NAME_MAX 128

enum manifest_kind { MANIFEST_TEMPLATE, MANIFEST_IMAGE };

/* The windowed files (served by the lazy layer). */
enum manifest_wfile { MANIFEST_MEMORY, MANIFEST_ROOTFS, MANIFEST_WFILE_COUNT };
/* The whole-object files; STATE is required, KERNEL and INITRD optional. */
enum manifest_blob_role { MANIFEST_STATE, MANIFEST_KERNEL, MANIFEST_INITRD, MANIFEST_BLOB_COUNT };

#define MANIFEST_NO_OBJECT UINT32_MAX

/* Window i of a file covers [i * window_bytes, min(size, (i + 1) * window_bytes)). */
struct manifest_window {
	/* NULL for an all-zero window; else one of the manifest's objects[]
	 * (borrowed: owned by the manifest). */
	const char *object;
	uint32_t object_index; /* index in objects[], MANIFEST_NO_OBJECT when zero */
	uint64_t offset;       /* of the window's first byte in the object */
	uint8_t sha256[32];    /* of the window's bytes */
};

struct manifest_file {
	uint64_t size; /* >= 1 */
	size_t nwindows;
	struct manifest_window *w; /* owned */
	/* Window indices to fetch first, in first-touch order (all < nwindows,
	 * no duplicates); owned; may be empty. */
	uint32_t *prefetch;
	size_t nprefetch;
};

struct manifest_blob {
	bool present;
	uint64_t size;
	char *object; /* owned */
	char sha256_hex[65];
};

struct manifest {
	enum manifest_kind kind;
	char *name;	/* owned; [A-Za-z0-9._-]{1,128} */
	char *build_id; /* owned; same alphabet */
	char *parent;	/* owned; NULL or a valid object key */
	char *owner;	/* owned; NULL (shared) or the API key name it is private to */
	int64_t created_at;
	char *meta_json; /* owned; the "meta" object as compact JSON text */
	uint32_t window_bytes;
	struct manifest_file files[MANIFEST_WFILE_COUNT];
	struct manifest_blob blobs[MANIFEST_BLOB_COUNT];
	/* The distinct object keys the windows name, owned (interned: a
	 * window's `object` points at one of these). */
	char **objects;
	size_t nobjects;
};

const char *manifest_wfile_name(enum manifest_wfile f);
const char *manifest_blob_name(enum manifest_blob_role r);
const char *manifest_kind_name(enum manifest_kind k);

/* Parses and validates text (len bytes, need not be NUL-terminated) into
 * *out, which is zeroed first; ERR_CORRUPT names the field that is wrong
 * (nothing to free then). On success free with manifest_free. */
int manifest_parse(const char *text, size_t len, struct manifest *out, struct thaw_err **err);

/* The manifest as JSON text (a new string, free()). Writers fill a
 * struct manifest (objects added with manifest_add_object). Returns NULL
 * when meta_json is set but is not a JSON object. Does not validate: run
 * manifest_parse on the result to check what was built. */
char *manifest_to_json(const struct manifest *m);

/* Interns key in m->objects (copy, owned by m) and returns the stored
 * copy and its index, for a writer filling windows. */
const char *manifest_add_object(struct manifest *m, const char *key, uint32_t *index);

/* Window length of window i of f (the last one may be short). */
uint64_t manifest_window_len(const struct manifest *m, const struct manifest_file *f, size_t i);

/* Frees what m owns and zeroes it; m itself is the caller's. */
void manifest_free(struct manifest *m);

/* True for [A-Za-z0-9._-]{1,128} other than "." and "..". */
bool manifest_name_valid(const char *s);

#endif
