/* The lazy layer: thaw-lazyfs (src/lazyfs), the FUSE file system that
 * serves artifacts from object storage window by window, run and watched
 * by thawd. It is a process of its own so that a fault in it (or its
 * SIGKILL) ends only the VMMs whose pages it was serving, never thawd;
 * thawd mounts a fresh one after it, and its chunk cache survives both.
 *
 * Mount point DATA/lazy, cache STORE/chunks (docs/artifacts.md). */
#ifndef THAW_REMOTE_LAZY_H
#define THAW_REMOTE_LAZY_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

struct lazy_conf {
	const char *binary;	/* thaw-lazyfs */
	const char *mount_dir;	/* DATA/lazy */
	const char *cache_dir;	/* STORE/chunks */
	const char *log_path;	/* its stderr */
	uint32_t cache_mb;	/* eviction above this */
	const char *log_level;	/* thawd's own */
	const char *const *env; /* the store's configuration, "K=V" */
};

struct lazy;

/* Starts the lazy layer (unmounting what a dead one left) and waits
 * until its file system answers; then watches it and starts a new one
 * whenever it ends. */
int lazy_start(const struct lazy_conf *c, struct lazy **out, struct thaw_err **err);
/* Stops watching it. end_it (teardown): also ends it (SIGTERM, then
 * SIGKILL after 10 s) and unmounts; otherwise it keeps serving the VMMs
 * that outlive thawd, and the next thawd adopts it. */
void lazy_stop(struct lazy *l, bool end_it);

/* thawd --teardown: ends the lazy layer that serves mount_dir (found by
 * its pid file next to log_path) and unmounts it; needs no store. */
void lazy_teardown(const char *mount_dir, const char *log_path);

/* Makes artifact id (a manifest's JSON text) servable: MOUNT/<id>/... */
int lazy_register(struct lazy *l, const char *id, const char *manifest_json, struct thaw_err **err);
/* Whether artifact id's manifest is in the lazy layer's cache. */
bool lazy_registered(const struct lazy *l, const char *id);
/* The path of a served file ("memory", "rootfs"); the caller frees. */
char *lazy_path(const struct lazy *l, const char *id, const char *file);
/* The JSON text of MOUNT/.stats (or MOUNT/<id>/.stats with id), or NULL
 * when the lazy layer does not answer. */
char *lazy_stats(const struct lazy *l, const char *id);
/* How many times it was started (1 after lazy_start). */
unsigned lazy_generation(struct lazy *l);
bool lazy_alive(struct lazy *l);

#endif
