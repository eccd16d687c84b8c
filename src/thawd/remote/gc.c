/* The bucket's collector: mark and sweep, with a grace period.
 *
 * The roots are the manifests in the bucket (templates/.../manifest.json
 * and images/<id>/manifest.json); every object a manifest names (its
 * windows' objects, its whole files) is live. An object under data/ that
 * no manifest names is deleted once it is older than the grace period:
 * an upload writes its data objects before its manifest, so a young
 * unnamed object may be one whose manifest is about to appear, and the
 * grace period (a day by default) is longer than any upload takes. An
 * image names objects of the template and of the image it was made
 * after; as long as their manifests are there, those objects are live.
 *
 * Any manifest that cannot be read or parsed stops the sweep before it
 * deletes anything: what it names could be live. Several hosts may
 * collect the same bucket at once (deleting twice is harmless); no
 * manifest is deleted here: whether a template or image is still wanted
 * anywhere in the fleet is for whoever knows the fleet (the control
 * plane) to decide, and this collector then reclaims its objects. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "core/host.h"
#include "log.h"
#include "remote/remote.h"
#include "remote/remote_int.h"
#include "timeutil.h"

struct keys {
	char **v;
	size_t n, cap;
};

static void keys_add(struct keys *k, const char *key)
{
	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 256;
		k->v = xrealloc(k->v, k->cap * sizeof(*k->v));
	}
	k->v[k->n++] = xstrdup(key);
}

static void keys_free(struct keys *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->v[i]);
	free(k->v);
}

static int by_string(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool keys_has(const struct keys *sorted, const char *key)
{
	return bsearch(&key, sorted->v, sorted->n, sizeof(char *), by_string) != NULL;
}

static bool is_manifest_key(const char *key)
{
	size_t n = strlen(key);
	static const char tail[] = "/manifest.json";
	return n > sizeof(tail) - 1 && strcmp(key + n - (sizeof(tail) - 1), tail) == 0;
}

static int on_manifest(const char *key, uint64_t size, int64_t modified, void *ctx)
{
	(void)size;
	(void)modified;
	if (is_manifest_key(key))
		keys_add(ctx, key);
	return 0;
}

struct data_object {
	char *key;
	uint64_t size;
	int64_t modified;
};

struct data_list {
	struct data_object *v;
	size_t n, cap;
};

static int on_data(const char *key, uint64_t size, int64_t modified, void *ctx)
{
	struct data_list *d = ctx;
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 256;
		d->v = xrealloc(d->v, d->cap * sizeof(*d->v));
	}
	d->v[d->n++] = (struct data_object){ xstrdup(key), size, modified };
	return 0;
}

/* Adds every object manifest key names to live. */
static int mark(struct remote *r, const char *key, struct keys *live, struct thaw_err **err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	struct manifest m;
	if (objstore_get_all(r->os, key, MANIFEST_TEXT_MAX, &text, &len, err) < 0)
		return err_wrap(err, "reading %s", key);
	if (manifest_parse(text, len, &m, err) < 0)
		return err_wrap(err, "%s", key);
	for (size_t i = 0; i < m.nobjects; i++)
		keys_add(live, m.objects[i]);
	for (int b = 0; b < MANIFEST_BLOB_COUNT; b++)
		if (m.blobs[b].present)
			keys_add(live, m.blobs[b].object);
	manifest_free(&m);
	return 0;
}

static int collect(struct remote *r, int64_t grace_s, bool dry_run, struct remote_gc_result *out,
		   struct thaw_err **err)
{
	struct keys manifests = { 0 }, live = { 0 };
	struct data_list data = { 0 };
	int rc = objstore_list(r->os, "templates/", on_manifest, &manifests, err);
	if (rc == 0)
		rc = objstore_list(r->os, "images/", on_manifest, &manifests, err);
	/* Data objects listed after the manifests: one whose manifest
	 * appeared in between is young, and kept. */
	if (rc == 0)
		rc = objstore_list(r->os, "data/", on_data, &data, err);
	for (size_t i = 0; rc == 0 && i < manifests.n; i++)
		rc = mark(r, manifests.v[i], &live, err);
	if (rc == 0 && live.n)
		qsort(live.v, live.n, sizeof(char *), by_string);
	int64_t now = (int64_t)(time_real_ns() / 1000000000ull);
	out->manifests = manifests.n;
	out->objects = data.n;
	for (size_t i = 0; rc == 0 && i < data.n; i++) {
		struct data_object *o = &data.v[i];
		if (keys_has(&live, o->key)) {
			out->live++;
			continue;
		}
		/* A store that gives no time: treated as young. */
		if (o->modified < 0 || now - o->modified < grace_s) {
			out->young++;
			continue;
		}
		if (!dry_run && objstore_delete(r->os, o->key, err) < 0) {
			rc = err_wrap(err, "deleting %s", o->key);
			break;
		}
		out->deleted++;
		out->bytes_deleted += o->size;
		log_info("remote.gc_deleted", "key=%s bytes=%llu age_s=%lld dry_run=%d", o->key,
			 (unsigned long long)o->size, (long long)(now - o->modified), dry_run);
	}
	for (size_t i = 0; i < data.n; i++)
		free(data.v[i].key);
	free(data.v);
	keys_free(&manifests);
	keys_free(&live);
	return rc;
}

int remote_gc(struct host *h, int64_t grace_s, bool dry_run, struct remote_gc_result *out,
	      struct thaw_err **err)
{
	memset(out, 0, sizeof(*out));
	struct remote *r = h->remote;
	if (!r)
		return err_set(err, ERR_UNAVAILABLE, "thawd runs without an object store");
	if (grace_s < 0)
		return err_set(err, ERR_INVALID, "the grace period cannot be negative");
	/* One collection at a time on this host. */
	if (pthread_mutex_trylock(&r->gc_lock) != 0)
		return err_set(err, ERR_CONFLICT, "the bucket is being collected already");
	uint64_t t0 = time_mono_ns();
	int rc = collect(r, grace_s, dry_run, out, err);
	pthread_mutex_unlock(&r->gc_lock);
	out->ms = ns_to_ms(time_mono_ns() - t0);
	__atomic_fetch_add(&r->gc_runs, 1, __ATOMIC_RELAXED);
	if (!dry_run) {
		__atomic_fetch_add(&r->gc_deleted, out->deleted, __ATOMIC_RELAXED);
		__atomic_fetch_add(&r->gc_bytes_deleted, out->bytes_deleted, __ATOMIC_RELAXED);
	}
	if (rc < 0)
		return err_wrap(err, "collecting the bucket (nothing more deleted)");
	log_notice("remote.gc", "manifests=%zu objects=%zu live=%zu young=%zu deleted=%zu "
				"bytes_deleted=%llu dry_run=%d ms=%.0f",
		   out->manifests, out->objects, out->live, out->young, out->deleted,
		   (unsigned long long)out->bytes_deleted, dry_run, out->ms);
	return 0;
}
