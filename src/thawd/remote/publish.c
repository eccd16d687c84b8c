/* Publishing a template build: its memory and disk as windows (all-zero
 * windows are not uploaded at all), its small files whole, the manifest
 * last, so that a manifest in the bucket always names complete objects. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "cleanup.h"
#include "core/images.h"
#include "disk/sameblocks.h"
#include "core/host.h"
#include "fsutil.h"
#include "log.h"
#include "remote/remote.h"
#include "remote/remote_int.h"
#include "template/build.h"
#include "template/catalog.h"
#include "timeutil.h"

static bool all_zero(const uint8_t *p, size_t n)
{
	/* Word at a time: the memory file is mostly zero pages. */
	const uint64_t *w = (const uint64_t *)p;
	for (size_t i = 0; i < n / 8; i++)
		if (w[i])
			return false;
	for (size_t i = n / 8 * 8; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Whether [off, off + len) of fd holds no data (a hole): then it reads
 * as zeros and need not be read at all. */
static bool is_hole(int fd, off_t off, size_t len)
{
	off_t data = lseek(fd, off, SEEK_DATA);
	if (data < 0)
		return errno == ENXIO; /* no data after off */
	return data >= off + (off_t)len;
}

/* A window the parent has byte for byte: the image points at the
 * parent's copy instead of uploading its own. */
static bool same_as_parent(struct manifest *m, const struct manifest_file *pf, size_t i,
			   uint64_t len, struct manifest_window *w)
{
	if (!pf || i >= pf->nwindows || pf->size < (uint64_t)i * m->window_bytes + len)
		return false;
	const struct manifest_window *p = &pf->w[i];
	if (!p->object || memcmp(p->sha256, w->sha256, sizeof(w->sha256)) != 0)
		return false;
	w->object = manifest_add_object(m, p->object, &w->object_index);
	w->offset = p->offset;
	return true;
}

/* Scans one file into f (windows of m->window_bytes), writing its
 * non-zero windows one after another into packed_fd; the object that
 * packed_fd becomes is key. With a parent (pf), windows it has already
 * are not packed. */
/* Window i of f is in the very blocks of the base's local file (a clone
 * nobody wrote there since): the base's window is taken as it is, without
 * reading or hashing (an image of a sandbox that changed 100 MiB of a
 * 2.5 GiB memory and disk reads 100 MiB, not 2.5 GiB). */
static bool same_as_base_blocks(struct manifest *m, const struct manifest_file *pf, size_t i,
				int fd, int base_fd, off_t off, size_t len,
				struct manifest_window *w)
{
	if (base_fd < 0 || !pf || i >= pf->nwindows || !same_blocks(fd, base_fd, off, len))
		return false;
	const struct manifest_window *p = &pf->w[i];
	if (p->object) {
		memcpy(w->sha256, p->sha256, sizeof(w->sha256));
		w->object = manifest_add_object(m, p->object, &w->object_index);
		w->offset = p->offset;
	} /* else the base's window is all zero, and so is this one */
	return true;
}

static int pack_file(struct manifest *m, struct manifest_file *f, const struct manifest_file *pf,
		     int base_fd, const char *path, const char *key, int packed_fd,
		     uint64_t *packed_len, uint64_t *same, struct thaw_err **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return err_sys(err, "opening %s", path);
	if (st.st_size <= 0)
		return err_set(err, ERR_CORRUPT, "%s is empty", path);
	f->size = (uint64_t)st.st_size;
	f->nwindows = (size_t)((f->size + m->window_bytes - 1) / m->window_bytes);
	f->w = xcalloc(f->nwindows, sizeof(*f->w));
	struct stat bst;
	if (pf && (pf->size != f->size || base_fd < 0 || fstat(base_fd, &bst) < 0 ||
		   (uint64_t)bst.st_size != f->size))
		base_fd = -1; /* not the same shape: every window is read */
	_cleanup_free_ uint8_t *buf = xmalloc(m->window_bytes);
	uint64_t out = 0;
	for (size_t i = 0; i < f->nwindows; i++) {
		struct manifest_window *w = &f->w[i];
		off_t off = (off_t)i * m->window_bytes;
		size_t len = (size_t)manifest_window_len(m, f, i);
		w->object_index = MANIFEST_NO_OBJECT;
		if (is_hole(fd, off, len))
			continue;
		if (same_as_base_blocks(m, pf, i, fd, base_fd, off, len, w)) {
			(*same)++;
			continue;
		}
		ssize_t n = pread(fd, buf, len, off);
		if (n != (ssize_t)len)
			return err_sys(err, "reading %s", path);
		if (all_zero(buf, len))
			continue;
		unsigned int mdlen = 0;
		if (!EVP_Digest(buf, len, w->sha256, &mdlen, EVP_sha256(), NULL))
			return err_set(err, ERR_INTERNAL, "SHA-256 failed");
		if (same_as_parent(m, pf, i, len, w))
			continue;
		w->object = manifest_add_object(m, key, &w->object_index);
		w->offset = out;
		if (fs_pwrite_all(packed_fd, buf, len, (off_t)out, err) < 0)
			return -1;
		out += m->window_bytes;
		/* Only the file's last window is short, and it is packed last. */
		if (len < m->window_bytes)
			out -= m->window_bytes - len;
	}
	*packed_len = out;
	return 0;
}

/* One artifact being published. */
struct publish {
	struct host *h;
	const char *dir;	       /* its build directory */
	const char *data_prefix;       /* "data/<name>/<build>" or "data/images/<id>" */
	const char *parent_key;	       /* an image's template's manifest; NULL for a template */
	const struct manifest *base;   /* windows an image need not upload (NULL: none) */
	const char *base_dir;	       /* the base's local build dir, where known (NULL) */
	struct manifest m;
};

/* The base's local copy of a file, which its captures clone (a streamed
 * build's DIR/memory.local, else DIR/memory): -1 when there is none. */
static int open_base_file(const char *dir, enum manifest_wfile which)
{
	enum meta_file_role role = which == MANIFEST_MEMORY ? MF_MEMORY : MF_ROOTFS;
	_cleanup_free_ char *local = xasprintf(
		"%s/%s", dir, which == MANIFEST_MEMORY ? "memory.local" : "rootfs.local");
	int fd = open(local, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	_cleanup_free_ char *plain = xasprintf("%s/%s", dir, meta_file_name(role));
	return open(plain, O_RDONLY | O_CLOEXEC);
}

static int upload_windowed(struct publish *p, enum manifest_wfile which, const char *path,
			   struct thaw_err **err)
{
	struct remote *r = p->h->remote;
	const char *fname = manifest_wfile_name(which);
	_cleanup_free_ char *key = xasprintf("%s/%s", p->data_prefix, fname);
	_cleanup_free_ char *tmp = xasprintf("%s/upload-XXXXXX", r->tmp_dir);
	_cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "creating %s", tmp);
	unlink(tmp); /* gone however this ends */
	uint64_t len = 0;
	const struct manifest_file *pf = p->base ? &p->base->files[which] : NULL;
	_cleanup_close_ int base_fd = pf && p->base_dir ? open_base_file(p->base_dir, which) : -1;
	uint64_t same = 0;
	int rc = pack_file(&p->m, &p->m.files[which], pf, base_fd, path, key, fd, &len, &same, err);
	__atomic_fetch_add(&r->windows_same_blocks, same, __ATOMIC_RELAXED);
	if (rc < 0)
		return err_wrap(err, "packing the %s", fname);
	if (len == 0)
		return 0; /* nothing of its own: no object */
	return objstore_put_fd(r->os, key, fd, len, err);
}

static int upload_blob(struct publish *p, enum manifest_blob_role which, const char *path,
		       const char *sha256, struct thaw_err **err)
{
	struct manifest_blob *b = &p->m.blobs[which];
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return err_sys(err, "opening %s", path);
	b->present = true;
	b->size = (uint64_t)st.st_size;
	b->object = xasprintf("%s/%s", p->data_prefix, manifest_blob_name(which));
	snprintf(b->sha256_hex, sizeof(b->sha256_hex), "%s", sha256);
	return objstore_put_fd(p->h->remote->os, b->object, fd, b->size, err);
}

static int upload_all(struct publish *p, const struct template_meta *meta, struct thaw_err **err)
{
	static const enum meta_file_role blob_roles[] = { MF_STATE, MF_KERNEL, MF_INITRD };
	_cleanup_free_ char *memory = xasprintf("%s/%s", p->dir, meta_file_name(MF_MEMORY));
	_cleanup_free_ char *rootfs = xasprintf("%s/%s", p->dir, meta_file_name(MF_ROOTFS));
	if (upload_windowed(p, MANIFEST_MEMORY, memory, err) < 0 ||
	    upload_windowed(p, MANIFEST_ROOTFS, rootfs, err) < 0)
		return -1;
	for (int i = 0; i < MANIFEST_BLOB_COUNT; i++) {
		enum meta_file_role role = blob_roles[i];
		const struct meta_file *mf = &meta->files[role];
		if (!mf->size)
			continue; /* absent */
		_cleanup_free_ char *path = xasprintf("%s/%s", p->dir, meta_file_name(role));
		char sum[SHA256_HEX_LEN + 1];
		const char *sha = mf->sha256;
		if (!sha[0]) {
			if (sha256_file(path, sum, err) < 0)
				return -1;
			sha = sum;
		}
		/* An image's kernel and initrd are its template's: named, not
		 * uploaded again (14 MiB for each image of the default one). */
		const struct manifest_blob *bb = p->base ? &p->base->blobs[i] : NULL;
		if (bb && bb->present && bb->size == mf->size && !strcmp(bb->sha256_hex, sha)) {
			struct manifest_blob *b = &p->m.blobs[i];
			*b = (struct manifest_blob){ .present = true, .size = bb->size,
						     .object = xstrdup(bb->object) };
			snprintf(b->sha256_hex, sizeof(b->sha256_hex), "%s", sha);
			continue;
		}
		if (upload_blob(p, (enum manifest_blob_role)i, path, sha, err) < 0)
			return -1;
	}
	return 0;
}

/* The manifest goes up last, and only once it parses as what a reader
 * will accept. */
static int put_manifest(struct host *h, const struct manifest *m, const char *key,
			struct thaw_err **err)
{
	_cleanup_free_ char *json = manifest_to_json(m);
	if (!json)
		return err_set(err, ERR_INTERNAL, "the manifest could not be written");
	struct manifest check;
	if (manifest_parse(json, strlen(json), &check, err) < 0)
		return err_wrap(err, "the manifest thawd wrote does not parse (a bug)");
	manifest_free(&check);
	return objstore_put_buf(h->remote->os, key, json, strlen(json), err);
}

static void log_published(const struct manifest *m, const char *what, uint64_t t0)
{
	size_t zero = 0, parent = 0, total = 0;
	for (int f = 0; f < MANIFEST_WFILE_COUNT; f++) {
		total += m->files[f].nwindows;
		for (size_t i = 0; i < m->files[f].nwindows; i++) {
			const char *o = m->files[f].w[i].object;
			zero += o == NULL;
			parent += o && !strstr(o, m->build_id);
		}
	}
	log_notice("remote.published", "%s=%s/%s windows=%zu zero=%zu parent=%zu ms=%.0f", what,
		   m->name, m->build_id, total, zero, parent, ns_to_ms(time_mono_ns() - t0));
}

static int trace_template(struct publish *p, const struct template_meta *meta,
			  struct thaw_err **err)
{
	struct template t = { .meta = *meta, .dir = (char *)p->dir, .memory_fd = -1, .refs = 1 };
	snprintf(t.name, sizeof(t.name), "%s", meta->name);
	snprintf(t.build_id, sizeof(t.build_id), "%s", meta->build_id);
	for (int i = 0; i < MF_COUNT; i++)
		t.paths[i] = xasprintf("%s/%s", p->dir, meta_file_name((enum meta_file_role)i));
	int rc = remote_record_trace(p->h, &t, &p->m, err);
	for (int i = 0; i < MF_COUNT; i++)
		free(t.paths[i]);
	return rc;
}

/* Publishes the build in dir under manifest key mkey, unless the store
 * has it already. */
static int publish_dir(struct publish *p, const char *mkey, const char *owner,
		       enum manifest_kind kind, struct thaw_err **err)
{
	struct remote *r = p->h->remote;
	_cleanup_free_ char *meta_path = xasprintf("%s/meta.json", p->dir);
	_cleanup_free_ char *meta_text = NULL;
	size_t meta_len = 0;
	struct template_meta meta;
	if (fs_read_file(meta_path, META_MAX_BYTES, &meta_text, &meta_len, err) < 0 ||
	    meta_parse(meta_text, meta_len, &meta, err) < 0)
		return -1;
	uint64_t size;
	_cleanup_err_ struct thaw_err *herr = NULL;
	if (objstore_head(r->os, mkey, &size, &herr) == 0) {
		remote_note_published(r, mkey);
		return 0; /* published before */
	}
	if (herr->code != ERR_NOT_FOUND)
		return err_set(err, herr->code, "%s", err_msg(herr));
	uint64_t t0 = time_mono_ns();
	p->m = (struct manifest){ .kind = kind,
				  .name = xstrdup(meta.name),
				  .build_id = xstrdup(meta.build_id),
				  .created_at = meta.created_at,
				  .meta_json = xstrdup(meta_text),
				  .window_bytes = p->h->cfg->stream_window_kib << 10,
				  .owner = owner ? xstrdup(owner) : NULL };
	if (p->parent_key)
		p->m.parent = xstrdup(p->parent_key);
	/* The base's windows are shared, so its window size is the image's,
	 * whatever --stream-window-kib says now. */
	if (p->base)
		p->m.window_bytes = p->base->window_bytes;
	int rc = upload_all(p, &meta, err);
	if (rc == 0)
		rc = kind == MANIFEST_IMAGE ? remote_trace_from_capture(p->dir, &p->m, err)
					    : trace_template(p, &meta, err);
	if (rc == 0)
		rc = put_manifest(p->h, &p->m, mkey, err);
	if (rc == 0) {
		remote_note_published(r, mkey);
		__atomic_fetch_add(&r->publishes, 1, __ATOMIC_RELAXED);
		log_published(&p->m, kind == MANIFEST_IMAGE ? "image" : "template", t0);
	}
	manifest_free(&p->m);
	return rc;
}

int remote_publish_build(struct host *h, const char *dir, const char *owner, struct thaw_err **err)
{
	if (!h->remote || remote_build_is_streamed(dir))
		return 0; /* no store, or it came from the store */
	const char *build = NULL;
	_cleanup_free_ char *name = remote_split_build_dir(dir, &build);
	if (!name)
		return err_set(err, ERR_INTERNAL, "%s is not a build directory", dir);
	_cleanup_free_ char *prefix = xasprintf("data/%s/%s", name, build);
	_cleanup_free_ char *mkey = remote_manifest_key(name, build);
	struct publish p = { .h = h, .dir = dir, .data_prefix = prefix };
	if (publish_dir(&p, mkey, owner, MANIFEST_TEMPLATE, err) < 0)
		return err_wrap(err, "publishing %s/%s to the object store", name, build);
	return 0;
}

/* The manifest at key, parsed, or false (logged: the image then
 * uploads the windows it would have shared). */
static bool get_base(struct host *h, const char *image_id, const char *key, struct manifest *m)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (objstore_get_all(h->remote->os, key, MANIFEST_TEXT_MAX, &text, &len, &err) == 0 &&
	    manifest_parse(text, len, m, &err) == 0)
		return true;
	log_warn("remote.image_base", "image=%s base=%s error=\"%s\"", image_id, key,
		 err_msg(err));
	return false;
}

int remote_publish_image(struct host *h, const char *dir, const char *image_id,
			 const struct image_origin *from, struct thaw_err **err)
{
	if (!h->remote)
		return 0;
	/* Windows the base has are not uploaded again: the image the sandbox
	 * last ran from has every window of the template it did not change,
	 * so it is the better base when the store has it. */
	_cleanup_free_ char *pkey = remote_manifest_key(from->template_name, from->build_id);
	_cleanup_free_ char *bkey = from->base_image[0] ? remote_image_key(from->base_image) : NULL;
	struct manifest base;
	bool from_image = bkey && get_base(h, image_id, bkey, &base);
	bool have_base = from_image || get_base(h, image_id, pkey, &base);
	/* Where the base's files are here: what the capture cloned. */
	_cleanup_free_ char *tdir = catalog_template_dir(h->catalog, from->template_name);
	_cleanup_free_ char *base_dir = from_image ? image_dir(h, from->base_image)
						   : xasprintf("%s/%s", tdir, from->build_id);
	_cleanup_free_ char *prefix = xasprintf("data/images/%s", image_id);
	_cleanup_free_ char *mkey = remote_image_key(image_id);
	struct publish p = { .h = h,
			     .dir = dir,
			     .data_prefix = prefix,
			     .parent_key = pkey,
			     .base = have_base ? &base : NULL,
			     .base_dir = have_base ? base_dir : NULL };
	int rc = publish_dir(&p, mkey, from->owner[0] ? from->owner : NULL, MANIFEST_IMAGE, err);
	if (have_base)
		manifest_free(&base);
	return rc < 0 ? err_wrap(err, "publishing image %s to the object store", image_id) : 0;
}

void remote_publish_later(struct host *h, const char *name, const char *build_id, const char *owner)
{
	if (!h->remote)
		return;
	_cleanup_free_ char *parent = catalog_template_dir(h->catalog, name);
	_cleanup_free_ char *dir = xasprintf("%s/%s", parent, build_id);
	_cleanup_err_ struct thaw_err *err = NULL;
	if (remote_publish_build(h, dir, owner, &err) < 0)
		log_warn("remote.publish_failed", "template=%s build=%s error=\"%s\"", name,
			 build_id, err_msg(err));
}
