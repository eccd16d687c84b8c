/* Artifacts in object storage (docs/artifacts.md): what makes a template
 * built on one host restorable on every host that shares the bucket.
 *
 * With --s3-endpoint, thawd publishes every template build (bake,
 * snapshot) to the store, data objects first and the manifest last, and
 * imports the builds other hosts published: their small files (device
 * state, kernel, initrd) are downloaded and checked, their memory and
 * disk stay in the store and are streamed on demand by the lazy layer
 * (remote/lazy.h). Without it, none of this runs and h->remote is NULL. */
#ifndef THAW_REMOTE_H
#define THAW_REMOTE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "ids.h"
#include "template/meta.h"

struct host;
struct template;
struct remote;

/* Opens the store and starts the lazy layer when the configuration names
 * a store; leaves h->remote NULL otherwise. */
int remote_open(struct host *h, struct thaw_err **err);
/* teardown: also ends the lazy layer (thawd --teardown); otherwise it
 * keeps serving the VMMs that outlive this thawd. */
void remote_close(struct host *h, bool teardown);

/* thawd --teardown: ends this data dir's lazy layer, if one runs, with or
 * without a store configured. */
struct thawd_config;
void remote_teardown(const struct thawd_config *cfg);

/* Uploads the published build in dir (unless the store has it already):
 * data objects, then the manifest. owner: the key a snapshot template
 * is private to (NULL: shared). */
int remote_publish_build(struct host *h, const char *dir, const char *owner, struct thaw_err **err);

/* Where a sandbox image comes from: the template build its sandbox was
 * restored from (the image's parent in the store) and the image it last
 * ran from, if any (a resumed sandbox's). */
struct image_origin {
	char template_name[64], build_id[48];
	char base_image[48];		/* "" when none */
	char owner[KEY_NAME_MAX + 1]; /* "" when the image is shared */
};

/* Uploads a sandbox image (a pause) in dir, unless the store has it:
 * only the windows that differ from its base image (when that is in the
 * store: a sandbox paused again uploads what changed since its last
 * pause) or else from its template build; the manifest names their
 * objects for the others. */
int remote_publish_image(struct host *h, const char *dir, const char *image_id,
			 const struct image_origin *from, struct thaw_err **err);

/* remote_publish_image on the uploader thread (a pause does not wait
 * for it), tried again with backoff when it fails. */
void remote_upload_image_later(struct host *h, const char *image_id,
			       const struct image_origin *from);
/* Whether this thawd has put the image in the store. */
bool remote_image_published(struct host *h, const char *image_id);

/* remote_publish_build for a build just published in the catalog; a
 * failure is logged, and the janitor's remote_sync retries it: the
 * build is usable on this host whatever happens to its upload. */
void remote_publish_later(struct host *h, const char *name, const char *build_id,
			  const char *owner);

/* Imports every template build another host published that is newer
 * than this host's current build of the same name. Cheap when nothing
 * changed (one listing); at most one runs at a time. */
int remote_sync(struct host *h, struct thaw_err **err);

/* A paused sandbox's image that another host published, imported here
 * (its memory and disk streamed) as STORE/images/<image_id>, ready for
 * a resume; what its manifest says of it. */
struct remote_image {
	char template_name[64], build_id[48]; /* the template it was restored from */
	char owner[KEY_NAME_MAX + 1];	      /* "" when the manifest names none */
	uint32_t memory_mb;
};
/* ERR_CONFLICT when the image is here already (*out filled all the same). */
int remote_import_image(struct host *h, const char *image_id, struct remote_image *out,
			struct thaw_err **err);

/* remote_sync for one template (a create that names a template this
 * host does not have): one listing of its builds, never skipped. */
int remote_sync_template(struct host *h, const char *name, struct thaw_err **err);

/* Whether a build's memory and disk are streamed (it was imported). */
bool remote_build_is_streamed(const char *dir);
/* For a streamed build: the lazy layer's paths of its memory and disk
 * base (new strings), or -1 (the lazy layer is not running). */
int remote_build_paths(struct host *h, const struct template *t, char **memory, char **rootfs,
		       struct thaw_err **err);

/* For a streamed build: local files with the whole of its memory and
 * its disk (DIR/memory.local, DIR/rootfs.local; new strings), made by
 * the first call through the lazy layer and kept with the build. The
 * captures of its sandboxes clone them (core/capture.c). */
int remote_build_local_copies(struct host *h, const struct template *t, char **memory,
			      char **rootfs, struct thaw_err **err);

/* The bucket's collector (gc.c): deletes the objects under data/ that no
 * manifest in the bucket names and that are older than grace_s; with
 * dry_run only counts them. Any manifest it cannot read stops it before
 * it deletes anything. ERR_CONFLICT when one runs already. */
struct remote_gc_result {
	size_t manifests, objects; /* manifests read, data objects listed */
	size_t live, young;	   /* named by a manifest; unnamed but within grace */
	size_t deleted;		   /* (or would be, dry_run) */
	uint64_t bytes_deleted;
	double ms;
};
int remote_gc(struct host *h, int64_t grace_s, bool dry_run, struct remote_gc_result *out,
	      struct thaw_err **err);

/* object_store{...} for GET /v1/info; NULL without a store. */
json_t *remote_info_json(struct host *h);
/* Where a template build's artifacts are, for GET /v1/templates:
 * {location: local|remote|local+remote, cached_percent, ...}. */
json_t *remote_build_json(struct host *h, const char *dir);

#endif
