/* What the remote/ files share; nothing outside remote/ includes it. */
#ifndef THAW_REMOTE_INT_H
#define THAW_REMOTE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "manifest.h"
#include "objstore.h"
#include "remote/lazy.h"

struct remote {
	struct objstore *os;
	struct lazy *lazy;
	char *tmp_dir;		   /* STORE/tmp: packed upload objects */
	pthread_mutex_t sync_lock; /* one remote_sync at a time */
	pthread_mutex_t gc_lock;   /* one remote_gc at a time */
	uint64_t gc_runs, gc_deleted, gc_bytes_deleted; /* atomics */
	uint64_t last_sync_ns;
	uint64_t imports, publishes; /* atomics: artifacts imported, published */
	/* atomic: image windows found in the very blocks of their base's
	 * local file, neither read nor hashed nor uploaded (publish.c) */
	uint64_t windows_same_blocks;
	/* The image uploader (uploader.c). */
	pthread_mutex_t up_lock;
	pthread_cond_t up_cond;
	pthread_t up_thread;
	bool up_started, up_stop;
	struct upload_job *up_head, *up_tail;
	char (*posted)[160]; /* manifest keys known in the store, oldest first */
	size_t nposted;
};

/* The set of manifests known to be in the store (put or seen by this
 * thawd): what GET /v1/templates and /v1/sandboxes say is published. */
void remote_note_published(struct remote *r, const char *manifest_key);
bool remote_is_published(struct remote *r, const char *manifest_key);

struct template;
struct host;
/* Restores the template local once through the lazy layer from the
 * objects m names (uploaded already) and sets m's memory prefetch list to
 * the windows it touched, in order (trace.c). */
int remote_record_trace(struct host *h, const struct template *local, struct manifest *m,
			struct thaw_err **err);
/* The memory prefetch list of an image from the working set its capture
 * recorded in dir (vmm/prefetch.h); none recorded: an empty list. */
int remote_trace_from_capture(const char *dir, struct manifest *m, struct thaw_err **err);

int remote_uploader_start(struct host *h, struct thaw_err **err);
void remote_uploader_stop(struct remote *r);

/* The bucket's keys for a template build (new strings). */
char *remote_manifest_key(const char *name, const char *build_id);
char *remote_image_key(const char *image_id);
/* dir/overlay.qcow2: an empty qcow2 overlay over base (a streamed disk)
 * of size bytes, made without reading base. */
int remote_make_overlay(const char *dir, const char *base, uint64_t size, struct thaw_err **err);
/* STORE/templates/<name>/<build>: the name (new string) and *build_id
 * (inside dir), or NULL when dir is not shaped so. */
char *remote_split_build_dir(const char *dir, const char **build_id);
/* The lazy layer's id of a template build: "<name>.<build_id>". */
char *remote_lazy_id(const char *name, const char *build_id);

/* The copy of the manifest an imported build keeps in its directory. */
#define REMOTE_MANIFEST_FILE "manifest.json"

#endif
