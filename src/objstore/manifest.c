#include "manifest.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "ids.h"
#include "objstore.h"
#include "sha256.h"

static const char *const wfile_names[MANIFEST_WFILE_COUNT] = {
	[MANIFEST_MEMORY] = "memory",
	[MANIFEST_ROOTFS] = "rootfs",
};

static const char *const blob_names[MANIFEST_BLOB_COUNT] = {
	[MANIFEST_STATE] = "state",
	[MANIFEST_KERNEL] = "kernel",
	[MANIFEST_INITRD] = "initrd",
};

static const bool blob_required[MANIFEST_BLOB_COUNT] = { [MANIFEST_STATE] = true };

static const char *const kind_names[] = {
	[MANIFEST_TEMPLATE] = "template",
	[MANIFEST_IMAGE] = "image",
};

static const char *const top_keys[] = { "format",	"kind",	 "name",       "build_id",
					"parent",	"owner", "created_at", "meta",
					"window_bytes", "files", "prefetch" };

const char *manifest_wfile_name(enum manifest_wfile f)
{
	return wfile_names[f];
}

const char *manifest_blob_name(enum manifest_blob_role r)
{
	return blob_names[r];
}

const char *manifest_kind_name(enum manifest_kind k)
{
	return kind_names[k];
}

bool manifest_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > MANIFEST_NAME_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return false;
	return true;
}

uint64_t manifest_window_len(const struct manifest *m, const struct manifest_file *f, size_t i)
{
	uint64_t start = (uint64_t)i * m->window_bytes;
	if (start >= f->size)
		return 0;
	return f->size - start < m->window_bytes ? f->size - start : m->window_bytes;
}

/* ---- writing ------------------------------------------------------------ */

static void hex_of(const uint8_t raw[32], char out[65])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = digits[raw[i] >> 4];
		out[2 * i + 1] = digits[raw[i] & 15];
	}
	out[64] = '\0';
}

static json_t *wfile_to_json(const struct manifest_file *f)
{
	json_t *ws = json_array();
	for (size_t i = 0; i < f->nwindows; i++) {
		const struct manifest_window *w = &f->w[i];
		if (!w->object) {
			json_array_append_new(ws, json_null());
			continue;
		}
		char hex[65];
		hex_of(w->sha256, hex);
		json_array_append_new(ws, json_pack("{s:s,s:I,s:s}", "object", w->object, "offset",
						    (json_int_t)w->offset, "sha256", hex));
	}
	return json_pack("{s:I,s:o}", "size", (json_int_t)f->size, "windows", ws);
}

static json_t *prefetch_to_json(const struct manifest *m)
{
	json_t *p = json_object();
	for (int i = 0; i < MANIFEST_WFILE_COUNT; i++) {
		const struct manifest_file *f = &m->files[i];
		if (!f->nprefetch)
			continue;
		json_t *a = json_array();
		for (size_t j = 0; j < f->nprefetch; j++)
			json_array_append_new(a, json_integer(f->prefetch[j]));
		json_object_set_new(p, wfile_names[i], a);
	}
	return p;
}

char *manifest_to_json(const struct manifest *m)
{
	json_t *meta = m->meta_json ? json_loads(m->meta_json, 0, NULL) : json_object();
	if (!json_is_object(meta)) {
		json_decref(meta);
		return NULL;
	}
	json_t *files = json_object();
	for (int i = 0; i < MANIFEST_WFILE_COUNT; i++)
		json_object_set_new(files, wfile_names[i], wfile_to_json(&m->files[i]));
	for (int i = 0; i < MANIFEST_BLOB_COUNT; i++) {
		const struct manifest_blob *b = &m->blobs[i];
		if (b->present)
			json_object_set_new(files, blob_names[i],
					    json_pack("{s:I,s:s,s:s}", "size", (json_int_t)b->size,
						      "object", b->object ? b->object : "",
						      "sha256", b->sha256_hex));
	}
	json_t *o = json_pack("{s:i,s:s,s:s,s:s,s:o,s:I,s:o,s:I,s:o,s:o}", "format",
			      MANIFEST_FORMAT, "kind", kind_names[m->kind], "name",
			      m->name ? m->name : "", "build_id", m->build_id ? m->build_id : "",
			      "parent", m->parent ? json_string(m->parent) : json_null(),
			      "created_at", (json_int_t)m->created_at, "meta", meta, "window_bytes",
			      (json_int_t)m->window_bytes, "files", files, "prefetch",
			      prefetch_to_json(m));
	if (m->owner)
		json_object_set_new(o, "owner", json_string(m->owner));
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

const char *manifest_add_object(struct manifest *m, const char *key, uint32_t *index)
{
	for (size_t i = 0; i < m->nobjects; i++)
		if (strcmp(m->objects[i], key) == 0) {
			*index = (uint32_t)i;
			return m->objects[i];
		}
	m->objects = xrealloc(m->objects, (m->nobjects + 1) * sizeof(*m->objects));
	m->objects[m->nobjects] = xstrdup(key);
	*index = (uint32_t)m->nobjects;
	return m->objects[m->nobjects++];
}

/* ---- reading ------------------------------------------------------------ */

/* What a parse carries besides the result: the object-key index (a JSON
 * object used as a hash map from key to index in m->objects). */
struct pctx {
	struct manifest *m;
	json_t *obj_index;
};

static int corrupt(struct thaw_err **err, const char *what, const char *must)
{
	return err_set(err, ERR_CORRUPT, "manifest: %s %s", what, must);
}

static int only_keys(json_t *o, const char *const *keys, size_t n, const char *where,
		     struct thaw_err **err)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
	{
		bool known = false;
		for (size_t i = 0; i < n && !known; i++)
			known = strcmp(k, keys[i]) == 0;
		if (!known)
			return err_set(err, ERR_CORRUPT,
				       "manifest: %s has an unknown key \"%.64s\"", where, k);
	}
	return 0;
}

static int get_u64(json_t *v, const char *what, uint64_t lo, uint64_t hi, uint64_t *out,
		   struct thaw_err **err)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) < lo || (uint64_t)json_integer_value(v) > hi)
		return err_set(err, ERR_CORRUPT, "manifest: %s must be an integer in %llu..%llu",
			       what, (unsigned long long)lo, (unsigned long long)hi);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int get_name(json_t *v, const char *what, char **out, struct thaw_err **err)
{
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
	    !manifest_name_valid(json_string_value(v)))
		return corrupt(err, what, "must be 1-128 characters of [A-Za-z0-9._-]");
	*out = xstrdup(json_string_value(v));
	return 0;
}

static bool key_ok(json_t *v)
{
	return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v) &&
	       objstore_key_valid(json_string_value(v));
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Lowercase hex only, as sha256_hex writes it. */
static int get_sha(json_t *v, const char *what, uint8_t raw[32], char hex[65],
		   struct thaw_err **err)
{
	const char *s = json_is_string(v) ? json_string_value(v) : "";
	if (json_string_length(v) != SHA256_HEX_LEN || strlen(s) != SHA256_HEX_LEN)
		return corrupt(err, what, "must be 64 lowercase hex digits");
	for (int i = 0; i < 32; i++) {
		int hi = hex_nibble(s[2 * i]), lo = hex_nibble(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return corrupt(err, what, "must be 64 lowercase hex digits");
		if (raw)
			raw[i] = (uint8_t)(hi << 4 | lo);
	}
	if (hex)
		memcpy(hex, s, SHA256_HEX_LEN + 1);
	return 0;
}

static int intern(struct pctx *p, const char *key, uint32_t *index, struct thaw_err **err)
{
	json_t *known = json_object_get(p->obj_index, key);
	if (known) {
		*index = (uint32_t)json_integer_value(known);
		return 0;
	}
	if (p->m->nobjects >= MANIFEST_MAX_OBJECTS)
		return err_set(err, ERR_CORRUPT, "manifest: more than %u distinct objects",
			       MANIFEST_MAX_OBJECTS);
	struct manifest *m = p->m;
	json_object_set_new(p->obj_index, key, json_integer((json_int_t)m->nobjects));
	m->objects = xrealloc(m->objects, (m->nobjects + 1) * sizeof(*m->objects));
	m->objects[m->nobjects] = xstrdup(key);
	*index = (uint32_t)m->nobjects++;
	return 0;
}

static const char *const window_keys[] = { "object", "offset", "sha256" };

/* Names the field only on failure: a manifest has up to a million windows. */
static int wcorrupt(struct thaw_err **err, const char *file, size_t i, const char *field,
		    const char *must)
{
	return err_set(err, ERR_CORRUPT, "manifest: files.%s.windows[%zu]%s %s", file, i, field,
		       must);
}

static int parse_window(struct pctx *p, json_t *v, const char *file, size_t i,
			struct manifest_window *w, struct thaw_err **err)
{
	w->object_index = MANIFEST_NO_OBJECT;
	if (json_is_null(v))
		return 0;
	if (!json_is_object(v) || json_object_size(v) != ARRAY_SIZE(window_keys))
		return wcorrupt(err, file, i, "", "must be null or {object, offset, sha256}");
	json_t *key = json_object_get(v, "object"), *off = json_object_get(v, "offset");
	if (!key_ok(key))
		return wcorrupt(err, file, i, ".object", "must be a valid object key");
	if (!json_is_integer(off) || json_integer_value(off) < 0)
		return wcorrupt(err, file, i, ".offset", "must be a non-negative integer");
	w->offset = (uint64_t)json_integer_value(off);
	if (w->offset % p->m->window_bytes)
		return wcorrupt(err, file, i, ".offset", "must be a multiple of window_bytes");
	/* An object is one file's windows: no object has more windows than a file. */
	if (w->offset / p->m->window_bytes >= MANIFEST_MAX_WINDOWS)
		return wcorrupt(err, file, i, ".offset", "is past the largest object");
	if (get_sha(json_object_get(v, "sha256"), "sha256", w->sha256, NULL, NULL) < 0)
		return wcorrupt(err, file, i, ".sha256", "must be 64 lowercase hex digits");
	if (intern(p, json_string_value(key), &w->object_index, err) < 0)
		return -1;
	w->object = p->m->objects[w->object_index];
	return 0;
}

static const char *const wfile_keys[] = { "size", "windows" };

static int parse_wfile(struct pctx *p, json_t *o, enum manifest_wfile which, struct thaw_err **err)
{
	struct manifest_file *f = &p->m->files[which];
	char what[64];
	snprintf(what, sizeof(what), "files.%s", wfile_names[which]);
	if (!json_is_object(o))
		return corrupt(err, what, "must be an object");
	if (only_keys(o, wfile_keys, ARRAY_SIZE(wfile_keys), what, err) < 0)
		return -1;
	snprintf(what, sizeof(what), "files.%s.size", wfile_names[which]);
	uint64_t max = (uint64_t)p->m->window_bytes * MANIFEST_MAX_WINDOWS;
	if (get_u64(json_object_get(o, "size"), what, 1, max, &f->size, err) < 0)
		return -1;
	json_t *ws = json_object_get(o, "windows");
	uint64_t want = (f->size + p->m->window_bytes - 1) / p->m->window_bytes;
	snprintf(what, sizeof(what), "files.%s.windows", wfile_names[which]);
	if (!json_is_array(ws))
		return corrupt(err, what, "must be an array");
	if (json_array_size(ws) != want)
		return err_set(err, ERR_CORRUPT,
			       "manifest: %s has %zu entries, ceil(size / window_bytes) is %llu",
			       what, json_array_size(ws), (unsigned long long)want);
	f->w = xcalloc(want, sizeof(*f->w));
	f->nwindows = want;
	for (size_t i = 0; i < want; i++)
		if (parse_window(p, json_array_get(ws, i), wfile_names[which], i, &f->w[i], err) <
		    0)
			return -1;
	return 0;
}

static const char *const blob_keys[] = { "size", "object", "sha256" };

static int parse_blob(json_t *o, enum manifest_blob_role which, struct manifest_blob *b,
		      struct thaw_err **err)
{
	char what[64];
	snprintf(what, sizeof(what), "files.%s", blob_names[which]);
	if (!json_is_object(o))
		return corrupt(err, what, "must be an object");
	if (only_keys(o, blob_keys, ARRAY_SIZE(blob_keys), what, err) < 0)
		return -1;
	snprintf(what, sizeof(what), "files.%s.size", blob_names[which]);
	if (get_u64(json_object_get(o, "size"), what, 0, MANIFEST_BLOB_MAX, &b->size, err) < 0)
		return -1;
	snprintf(what, sizeof(what), "files.%s.object", blob_names[which]);
	if (!key_ok(json_object_get(o, "object")))
		return corrupt(err, what, "must be a valid object key");
	snprintf(what, sizeof(what), "files.%s.sha256", blob_names[which]);
	if (get_sha(json_object_get(o, "sha256"), what, NULL, b->sha256_hex, err) < 0)
		return -1;
	b->object = xstrdup(json_string_value(json_object_get(o, "object")));
	b->present = true;
	return 0;
}

static int parse_files(struct pctx *p, json_t *files, struct thaw_err **err)
{
	static const char *const keys[] = { "memory", "rootfs", "state", "kernel", "initrd" };
	if (!json_is_object(files))
		return corrupt(err, "files", "must be an object");
	if (only_keys(files, keys, ARRAY_SIZE(keys), "files", err) < 0)
		return -1;
	for (int i = 0; i < MANIFEST_WFILE_COUNT; i++)
		if (parse_wfile(p, json_object_get(files, wfile_names[i]), (enum manifest_wfile)i,
				err) < 0)
			return -1;
	for (int i = 0; i < MANIFEST_BLOB_COUNT; i++) {
		json_t *b = json_object_get(files, blob_names[i]);
		if (!b && !blob_required[i])
			continue;
		if (parse_blob(b, (enum manifest_blob_role)i, &p->m->blobs[i], err) < 0)
			return -1;
	}
	return 0;
}

static int parse_prefetch_list(json_t *a, struct manifest_file *f, const char *name,
			       struct thaw_err **err)
{
	char what[64];
	snprintf(what, sizeof(what), "prefetch.%s", name);
	if (!json_is_array(a))
		return corrupt(err, what, "must be an array of window indices");
	if (json_array_size(a) > f->nwindows)
		return corrupt(err, what, "has more entries than the file has windows");
	_cleanup_free_ uint8_t *seen = xcalloc(f->nwindows / 8 + 1, 1);
	f->prefetch = xcalloc(json_array_size(a) + 1, sizeof(*f->prefetch));
	for (size_t i = 0; i < json_array_size(a); i++) {
		json_t *v = json_array_get(a, i);
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    (uint64_t)json_integer_value(v) >= f->nwindows)
			return err_set(err, ERR_CORRUPT,
				       "manifest: %s[%zu] must be a window index below %zu", what,
				       i, f->nwindows);
		uint64_t idx = (uint64_t)json_integer_value(v);
		if (seen[idx / 8] & (1u << (idx % 8)))
			return err_set(err, ERR_CORRUPT, "manifest: %s[%zu] repeats window %llu",
				       what, i, (unsigned long long)idx);
		seen[idx / 8] |= (uint8_t)(1u << (idx % 8));
		f->prefetch[f->nprefetch++] = (uint32_t)idx;
	}
	return 0;
}

static int parse_prefetch(struct manifest *m, json_t *p, struct thaw_err **err)
{
	if (!p || json_is_null(p))
		return 0;
	if (!json_is_object(p))
		return corrupt(err, "prefetch", "must be an object");
	if (only_keys(p, wfile_names, MANIFEST_WFILE_COUNT, "prefetch", err) < 0)
		return -1;
	for (int i = 0; i < MANIFEST_WFILE_COUNT; i++) {
		json_t *a = json_object_get(p, wfile_names[i]);
		if (a && parse_prefetch_list(a, &m->files[i], wfile_names[i], err) < 0)
			return -1;
	}
	return 0;
}

static int parse_kind(json_t *v, enum manifest_kind *out, struct thaw_err **err)
{
	for (size_t i = 0; i < ARRAY_SIZE(kind_names); i++)
		if (json_is_string(v) && strcmp(json_string_value(v), kind_names[i]) == 0) {
			*out = (enum manifest_kind)i;
			return 0;
		}
	return corrupt(err, "kind", "must be \"template\" or \"image\"");
}

static int parse_window_bytes(json_t *v, uint32_t *out, struct thaw_err **err)
{
	uint64_t wb = 0;
	if (get_u64(v, "window_bytes", MANIFEST_WINDOW_MIN, MANIFEST_WINDOW_MAX, &wb, err) < 0)
		return -1;
	if (wb & (wb - 1))
		return corrupt(err, "window_bytes", "must be a power of two");
	*out = (uint32_t)wb;
	return 0;
}

static int parse_head(struct manifest *m, json_t *o, struct thaw_err **err)
{
	uint64_t format = 0, created = 0;
	json_t *parent = json_object_get(o, "parent"), *meta = json_object_get(o, "meta");
	if (get_u64(json_object_get(o, "format"), "format", MANIFEST_FORMAT, MANIFEST_FORMAT,
		    &format, err) < 0 ||
	    parse_kind(json_object_get(o, "kind"), &m->kind, err) < 0 ||
	    get_name(json_object_get(o, "name"), "name", &m->name, err) < 0 ||
	    get_name(json_object_get(o, "build_id"), "build_id", &m->build_id, err) < 0 ||
	    get_u64(json_object_get(o, "created_at"), "created_at", 0, INT64_MAX, &created, err) <
		    0 ||
	    parse_window_bytes(json_object_get(o, "window_bytes"), &m->window_bytes, err) < 0)
		return -1;
	m->created_at = (int64_t)created;
	if (parent && !json_is_null(parent)) {
		if (!key_ok(parent))
			return corrupt(err, "parent", "must be null or a valid object key");
		m->parent = xstrdup(json_string_value(parent));
	}
	json_t *owner = json_object_get(o, "owner");
	if (owner && !json_is_null(owner)) {
		if (!json_is_string(owner) || !id_valid_key_name(json_string_value(owner)))
			return corrupt(err, "owner", "must be null or an API key name");
		m->owner = xstrdup(json_string_value(owner));
	}
	if (!json_is_object(meta))
		return corrupt(err, "meta", "must be an object");
	m->meta_json = json_dumps(meta, JSON_COMPACT);
	if (!m->meta_json)
		abort();
	return 0;
}

int manifest_parse(const char *text, size_t len, struct manifest *out, struct thaw_err **err)
{
	memset(out, 0, sizeof(*out));
	if (len > MANIFEST_TEXT_MAX)
		return err_set(err, ERR_CORRUPT, "manifest: larger than %u bytes",
			       MANIFEST_TEXT_MAX);
	json_error_t je;
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(o)) {
		json_decref(o);
		return err_set(err, ERR_CORRUPT, "manifest: not a JSON object: %s (line %d)",
			       je.text, je.line);
	}
	struct manifest m = { 0 };
	struct pctx p = { .m = &m, .obj_index = json_object() };
	int rc = -1;
	if (only_keys(o, top_keys, ARRAY_SIZE(top_keys), "the manifest", err) < 0 ||
	    parse_head(&m, o, err) < 0 || parse_files(&p, json_object_get(o, "files"), err) < 0 ||
	    parse_prefetch(&m, json_object_get(o, "prefetch"), err) < 0)
		goto out;
	*out = m;
	memset(&m, 0, sizeof(m));
	rc = 0;
out:
	manifest_free(&m);
	json_decref(p.obj_index);
	json_decref(o);
	return rc;
}

void manifest_free(struct manifest *m)
{
	if (!m)
		return;
	free(m->name);
	free(m->build_id);
	free(m->parent);
	free(m->owner);
	free(m->meta_json);
	for (int i = 0; i < MANIFEST_WFILE_COUNT; i++) {
		free(m->files[i].w);
		free(m->files[i].prefetch);
	}
	for (int i = 0; i < MANIFEST_BLOB_COUNT; i++)
		free(m->blobs[i].object);
	for (size_t i = 0; i < m->nobjects; i++)
		free(m->objects[i]);
	free(m->objects);
	memset(m, 0, sizeof(*m));
}
