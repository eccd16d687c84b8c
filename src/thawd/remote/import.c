/* Importing the template builds other hosts published: a listing of the
 * bucket, then for each template whose newest build is newer than this
 * host's, its small files downloaded and checked and a build directory
 * whose memory and disk lead to the lazy layer. The catalog then treats
 * it like any build; nothing of its memory or disk is fetched until a
 * VMM touches it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "core/host.h"
#include "core/images.h"
#include "db/db.h"
#include "fsutil.h"
#include "ids.h"
#include "log.h"
#include "remote/remote.h"
#include "remote/remote_int.h"
#include "sha256.h"
#include "template/build.h"
#include "template/catalog.h"
#include "timeutil.h"

/* A listing costs one request per 1000 keys; API calls that want fresh
 * templates ask at most this often. */
#define SYNC_MIN_INTERVAL_NS (2ull * 1000000000)
#define MAX_REMOTE_TEMPLATES 4096

struct found {
	char name[64];
	char build_id[48];
};

struct listing {
	struct remote *r;
	struct found *v;
	size_t n;
};

/* templates/<name>/<build_id>/manifest.json: the newest build of each
 * name (build ids start with their UTC time, so they sort by age). */
static int on_key(const char *key, uint64_t size, int64_t modified, void *ctx)
{
	(void)size;
	(void)modified;
	struct listing *l = ctx;
	char name[64], build[48], rest[32];
	if (sscanf(key, "templates/%63[a-z0-9-]/%47[A-Za-z0-9-]/%31s", name, build, rest) != 3 ||
	    strcmp(rest, "manifest.json") != 0)
		return 0; /* not a manifest: someone else's key */
	remote_note_published(l->r, key);
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0) {
			if (strcmp(build, l->v[i].build_id) > 0)
				snprintf(l->v[i].build_id, sizeof(l->v[i].build_id), "%s", build);
			return 0;
		}
	if (l->n >= MAX_REMOTE_TEMPLATES)
		return 0;
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	struct found *f = &l->v[l->n++];
	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->build_id, sizeof(f->build_id), "%s", build);
	return 0;
}

/* local (NULL: none): a file here that may hold the same bytes (an
 * image's kernel is its template's, which this host has): taken when its
 * checksum says so, instead of a download. */
static int fetch_blob(struct remote *r, const struct manifest_blob *b, const char *local,
		      const char *path, struct thaw_err **err)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (local && fs_read_file(local, (size_t)b->size, &data, &len, NULL) == 0) {
		char sum[SHA256_HEX_LEN + 1];
		sha256_hex(data, len, sum);
		if (len == b->size && strcmp(sum, b->sha256_hex) == 0)
			return fs_write_atomic(path, data, len, 0644, err);
		free(data);
		data = NULL;
	}
	if (objstore_get_all(r->os, b->object, (size_t)b->size, &data, &len, err) < 0)
		return -1;
	char sum[SHA256_HEX_LEN + 1];
	sha256_hex(data, len, sum);
	if (len != b->size || strcmp(sum, b->sha256_hex) != 0)
		return err_set(err, ERR_CORRUPT, "%s does not match its manifest (%zu bytes)",
			       b->object, len);
	return fs_write_atomic(path, data, len, 0644, err);
}

/* A build this host can run: the same accelerator, and a named CPU model
 * (a snapshot taken with -cpu host holds the features of the CPU it
 * was taken on). */
static int check_runnable(struct host *h, const struct template_meta *meta, struct thaw_err **err)
{
	const char *accel = accel_name(h->vmm.accel);
	if (strcmp(meta->accel, accel) != 0)
		return err_set(err, ERR_CONFLICT,
			       "template %s was baked with %s; this host runs %s", meta->name,
			       meta->accel, accel);
	if (strcmp(meta->cpu, "host") == 0)
		return err_set(err, ERR_CONFLICT,
			       "template %s was baked with -cpu host, which only the host it was "
			       "baked on can restore; bake it with a named CPU model (thawd --cpu-model)",
			       meta->name);
	return host_check_machine(h, meta->name, meta->memory_mb, meta->vcpus, ERR_CONFLICT, err);
}

/* local_dir (NULL: none): a build here whose small files may be the same
 * (an image's template build). */
static int fill_build_dir(struct host *h, const struct manifest *m, const char *text,
			  const char *dir, const char *local_dir, struct thaw_err **err)
{
	struct remote *r = h->remote;
	static const enum meta_file_role blob_role[] = { MF_STATE, MF_KERNEL, MF_INITRD };
	for (int i = 0; i < MANIFEST_BLOB_COUNT; i++) {
		if (!m->blobs[i].present)
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, meta_file_name(blob_role[i]));
		_cleanup_free_ char *local =
			local_dir ? xasprintf("%s/%s", local_dir, meta_file_name(blob_role[i]))
				  : NULL;
		if (fetch_blob(r, &m->blobs[i], local, p, err) < 0)
			return err_wrap(err, "downloading the %s", manifest_blob_name(i));
	}
	_cleanup_free_ char *id = remote_lazy_id(m->name, m->build_id);
	_cleanup_free_ char *mem = lazy_path(r->lazy, id, "memory");
	_cleanup_free_ char *disk = lazy_path(r->lazy, id, "rootfs");
	_cleanup_free_ char *mem_link = xasprintf("%s/%s", dir, meta_file_name(MF_MEMORY));
	_cleanup_free_ char *disk_link = xasprintf("%s/%s", dir, meta_file_name(MF_ROOTFS));
	_cleanup_free_ char *copy = xasprintf("%s/%s", dir, BUILD_MANIFEST_FILE);
	_cleanup_free_ char *meta = xasprintf("%s/meta.json", dir);
	if (symlink(mem, mem_link) < 0 || symlink(disk, disk_link) < 0)
		return err_sys(err, "linking the streamed files");
	if (remote_make_overlay(dir, disk, m->files[MANIFEST_ROOTFS].size, err) < 0 ||
	    fs_write_atomic(meta, m->meta_json, strlen(m->meta_json), 0600, err) < 0 ||
	    fs_write_atomic(copy, text, strlen(text), 0600, err) < 0)
		return -1;
	return lazy_register(r->lazy, id, text, err);
}

/* The manifest at key, parsed, with its build's meta, when it is of kind
 * and build_id, agrees with its meta and can run here. On success the
 * caller frees *text and *m; on failure they are NULL and empty. */
static int fetch_manifest(struct host *h, const char *key, enum manifest_kind kind,
			  const char *build_id, char **text, struct manifest *m,
			  struct template_meta *meta, struct thaw_err **err)
{
	size_t len = 0;
	if (objstore_get_all(h->remote->os, key, MANIFEST_TEXT_MAX, text, &len, err) < 0)
		return -1;
	int rc = manifest_parse(*text, len, m, err);
	if (rc < 0) {
		free(steal_pointer(text));
		return err_wrap(err, "%s", key);
	}
	rc = meta_parse(m->meta_json, strlen(m->meta_json), meta, err);
	if (rc == 0 && (m->kind != kind || strcmp(m->build_id, build_id) != 0 ||
			strcmp(meta->build_id, build_id) != 0 || strcmp(meta->name, m->name) != 0 ||
			meta->files[MF_MEMORY].size != m->files[MANIFEST_MEMORY].size ||
			meta->files[MF_ROOTFS].size != m->files[MANIFEST_ROOTFS].size ||
			!m->blobs[MANIFEST_STATE].present))
		rc = err_set(err, ERR_CORRUPT, "%s describes another %s than its key", key,
			     manifest_kind_name(kind));
	if (rc == 0)
		rc = check_runnable(h, meta, err);
	if (rc < 0) {
		manifest_free(m);
		free(steal_pointer(text));
	}
	return rc;
}

static int import_build(struct host *h, const struct found *f, struct thaw_err **err)
{
	_cleanup_free_ char *key = remote_manifest_key(f->name, f->build_id);
	_cleanup_free_ char *text = NULL;
	struct manifest m;
	struct template_meta meta;
	if (fetch_manifest(h, key, MANIFEST_TEMPLATE, f->build_id, &text, &m, &meta, err) < 0)
		return -1;
	int rc = strcmp(m.name, f->name) == 0
			 ? 0
			 : err_set(err, ERR_CORRUPT, "%s names template %s", key, m.name);
	_cleanup_free_ char *parent = catalog_template_dir(h->catalog, f->name);
	_cleanup_free_ char *tmp = xasprintf("%s/.tmp-import-%s", parent, f->build_id);
	if (rc == 0) {
		fs_rm_rf(tmp, NULL); /* an import a crash cut short */
		rc = fs_mkdir_p(tmp, 0700, err);
	}
	if (rc == 0)
		rc = fill_build_dir(h, &m, text, tmp, NULL, err);
	if (rc == 0) {
		char sum[SHA256_HEX_LEN + 1];
		sha256_hex(m.meta_json, strlen(m.meta_json), sum);
		rc = catalog_publish(h->catalog, tmp, &meta, sum, m.owner, err);
	}
	if (rc < 0)
		fs_rm_rf(tmp, NULL);
	manifest_free(&m);
	return rc;
}

static bool newer_than_local(struct host *h, const struct found *f)
{
	struct template_row row;
	if (db_template_get(h->db, f->name, &row, NULL) < 0)
		return true;
	return strcmp(f->build_id, row.build_id) > 0;
}

/* Builds baked here that the store does not have yet (an upload that
 * failed, or a host that had no store when it baked). */
static void publish_missing(struct host *h, const struct listing *l)
{
	struct template_info *items = NULL;
	size_t n = 0;
	if (catalog_list(h->catalog, &items, &n, NULL) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(items[i].status, "ready") != 0)
			continue;
		bool listed = false;
		for (size_t k = 0; k < l->n; k++)
			listed |= strcmp(l->v[k].name, items[i].name) == 0 &&
				  strcmp(l->v[k].build_id, items[i].build_id) >= 0;
		if (listed)
			continue;
		_cleanup_free_ char *dir = catalog_template_dir(h->catalog, items[i].name);
		_cleanup_free_ char *build = xasprintf("%s/%s", dir, items[i].build_id);
		_cleanup_err_ struct thaw_err *err = NULL;
		if (remote_publish_build(h, build, items[i].owner[0] ? items[i].owner : NULL,
					 &err) < 0)
			log_warn("remote.publish_failed", "template=%s build=%s error=\"%s\"",
				 items[i].name, items[i].build_id, err_msg(err));
	}
	free(items);
}

/* Lists prefix and imports what is newer than this host has. */
static int sync_prefix(struct host *h, const char *prefix, bool publish, struct thaw_err **err)
{
	struct remote *r = h->remote;
	struct listing l = { .r = r };
	int rc = objstore_list(r->os, prefix, on_key, &l, err);
	if (rc == 0) {
		for (size_t i = 0; i < l.n; i++) {
			if (!newer_than_local(h, &l.v[i]))
				continue;
			_cleanup_err_ struct thaw_err *ierr = NULL;
			uint64_t t0 = time_mono_ns();
			if (import_build(h, &l.v[i], &ierr) < 0) {
				log_warn("remote.import_failed",
					 "template=%s build=%s error=\"%s\"", l.v[i].name,
					 l.v[i].build_id, err_msg(ierr));
				continue;
			}
			__atomic_fetch_add(&r->imports, 1, __ATOMIC_RELAXED);
			log_notice("remote.imported", "template=%s build=%s ms=%.0f", l.v[i].name,
				   l.v[i].build_id, ns_to_ms(time_mono_ns() - t0));
		}
		if (publish)
			publish_missing(h, &l);
	}
	free(l.v);
	return rc < 0 ? err_wrap(err, "listing the object store's templates") : 0;
}

int remote_sync(struct host *h, struct thaw_err **err)
{
	struct remote *r = h->remote;
	if (!r)
		return 0;
	pthread_mutex_lock(&r->sync_lock);
	int rc = 0;
	uint64_t now = time_mono_ns();
	if (!r->last_sync_ns || now - r->last_sync_ns >= SYNC_MIN_INTERVAL_NS) {
		rc = sync_prefix(h, "templates/", true, err);
		if (rc == 0)
			r->last_sync_ns = now;
	}
	pthread_mutex_unlock(&r->sync_lock);
	return rc;
}

int remote_sync_template(struct host *h, const char *name, struct thaw_err **err)
{
	if (!h->remote)
		return 0;
	if (!id_valid_template(name))
		return err_set(err, ERR_INVALID, "template name must be 1-63 of [a-z0-9-]");
	_cleanup_free_ char *prefix = xasprintf("templates/%s/", name);
	pthread_mutex_lock(&h->remote->sync_lock);
	int rc = sync_prefix(h, prefix, false, err);
	pthread_mutex_unlock(&h->remote->sync_lock);
	return rc;
}

bool remote_build_is_streamed(const char *dir)
{
	return build_dir_streamed(dir);
}

int remote_build_paths(struct host *h, const struct template *t, char **memory, char **rootfs,
		       struct thaw_err **err)
{
	struct remote *r = h->remote;
	if (!r)
		return err_set(err, ERR_UNAVAILABLE,
			       "this template is streamed from an object store, and thawd runs "
			       "without one (--s3-endpoint)");
	/* The manifest's name and build id are the build's (import checked
	 * them), so the id needs no manifest read on this, the create path. */
	_cleanup_free_ char *id = remote_lazy_id(t->name, t->build_id);
	if (!lazy_registered(r->lazy, id)) {
		/* The lazy layer's cache (and its manifests) was wiped since
		 * the import: hand it the build's copy again. */
		_cleanup_free_ char *copy = xasprintf("%s/%s", t->dir, BUILD_MANIFEST_FILE);
		_cleanup_free_ char *text = NULL;
		size_t len = 0;
		if (fs_read_file(copy, MANIFEST_TEXT_MAX, &text, &len, err) < 0 ||
		    lazy_register(r->lazy, id, text, err) < 0)
			return err_wrap(err, "the manifest of %s", t->dir);
	}
	*memory = lazy_path(r->lazy, id, "memory");
	*rootfs = lazy_path(r->lazy, id, "rootfs");
	return 0;
}

json_t *remote_build_json(struct host *h, const char *dir)
{
	const char *build = NULL;
	_cleanup_free_ char *n = remote_split_build_dir(dir, &build);
	json_t *o = json_object();
	if (!n) {
		json_object_set_new(o, "location", json_string("local"));
		return o;
	}
	struct remote *r = h->remote;
	if (!remote_build_is_streamed(dir)) {
		_cleanup_free_ char *key = remote_manifest_key(n, build);
		bool published = r && remote_is_published(r, key);
		json_object_set_new(o, "location",
				    json_string(published ? "local+remote" : "local"));
		return o;
	}
	json_object_set_new(o, "location", json_string("remote"));
	_cleanup_free_ char *id = remote_lazy_id(n, build);
	_cleanup_free_ char *stats = r ? lazy_stats(r->lazy, id) : NULL;
	json_t *c = stats ? json_loads(stats, 0, NULL) : NULL;
	if (json_is_object(c)) {
		/* The memory's share is what decides how cold a create is. */
		json_t *pct = json_object_get(json_object_get(c, "memory"), "cached_percent");
		if (pct)
			json_object_set(o, "cached_percent", pct);
		json_object_set_new(o, "cache", c);
	} else {
		json_decref(c);
	}
	return o;
}

int remote_import_image(struct host *h, const char *image_id, struct remote_image *out,
			struct thaw_err **err)
{
	struct remote *r = h->remote;
	if (!r)
		return err_set(err, ERR_UNAVAILABLE, "thawd runs without an object store");
	memset(out, 0, sizeof(*out));
	_cleanup_free_ char *key = remote_image_key(image_id);
	_cleanup_free_ char *text = NULL;
	struct manifest m;
	struct template_meta meta;
	if (fetch_manifest(h, key, MANIFEST_IMAGE, image_id, &text, &m, &meta, err) < 0)
		return err_wrap(err, "image %s", image_id);
	char tname[64], tbuild[48], rest[32];
	int rc = 0;
	if (!m.parent || sscanf(m.parent, "templates/%63[a-z0-9-]/%47[A-Za-z0-9-]/%31s", tname,
				tbuild, rest) != 3)
		rc = err_set(err, ERR_CORRUPT, "%s names no template it was made from", key);
	if (rc == 0) { /* told even when the image is here already (ERR_CONFLICT) */
		snprintf(out->template_name, sizeof(out->template_name), "%s", tname);
		snprintf(out->build_id, sizeof(out->build_id), "%s", tbuild);
		snprintf(out->owner, sizeof(out->owner), "%s", m.owner ? m.owner : "");
		out->memory_mb = meta.memory_mb;
	}
	_cleanup_free_ char *final = image_dir(h, image_id);
	_cleanup_free_ char *tmp = NULL;
	if (rc == 0 && fs_exists(final))
		rc = err_set(err, ERR_CONFLICT, "image %s is on this host already", image_id);
	if (rc == 0) {
		char *slash = strrchr(final, '/');
		tmp = xasprintf("%.*s/.tmp-%s", (int)(slash - final), final, image_id);
		fs_rm_rf(tmp, NULL);
		rc = fs_mkdir_p(tmp, 0700, err);
	}
	_cleanup_free_ char *tdir = rc == 0 ? catalog_template_dir(h->catalog, tname) : NULL;
	_cleanup_free_ char *local = tdir ? xasprintf("%s/%s", tdir, tbuild) : NULL;
	if (rc == 0)
		rc = fill_build_dir(h, &m, text, tmp, local, err);
	if (rc == 0) {
		char sum[SHA256_HEX_LEN + 1];
		sha256_hex(m.meta_json, strlen(m.meta_json), sum);
		rc = image_publish(h, tmp, &meta, sum, err);
	}
	if (rc < 0 && tmp)
		fs_rm_rf(tmp, NULL);
	manifest_free(&m);
	return rc < 0 ? err_wrap(err, "importing image %s", image_id) : 0;
}
