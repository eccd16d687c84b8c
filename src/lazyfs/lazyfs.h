/* thaw-lazyfs: the lazy layer (docs/artifacts.md). A FUSE file system
 * that serves MOUNT/<id>/{memory,rootfs} for every CACHE/manifests/<id>.json,
 * window by window, from a per-host chunk cache filled from the object
 * store on demand.
 *
 * Modules: main.c (options, mount, signals), fs.c (the FUSE operations),
 * ns.c (artifacts and their inodes), cache.c (the chunk cache on disk),
 * fetch.c (single-flight, bounded, verified fetches and the prefetch
 * queue), evict.c (LRU between the high and low marks), stats.c
 * (counters, .stats and .trace).
 *
 * Lock order: ns.mu, then cache.mu, then one cobj.mu; never two cobjs. */
#ifndef THAW_LAZYFS_H
#define THAW_LAZYFS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "err.h"
#include "manifest.h"

struct objstore;

/* ---- counters (stats.c) -------------------------------------------------- */

/* Since start; every field is documented where .stats is rendered. */
struct lazy_counters {
	atomic_uint_fast64_t gets, bytes_fetched, zero_windows_skipped, cache_hits, fetch_waits,
		fetch_errors, evicted_bytes, prefetched, verify_failures;
};
extern struct lazy_counters lazy_ctr;

/* ---- the chunk cache (cache.c) ------------------------------------------- */

/* A bitmap file: magic and window size, then one bit per window. */
#define BM_HEADER 16

enum cwin_state { CW_ABSENT, CW_BUSY, CW_PRESENT };

/* One window of a cached object. */
struct cwin {
	int64_t atime_ns; /* last use (CLOCK_REALTIME), for LRU */
	uint64_t tag;	  /* first 8 bytes of the verified SHA-256; 0: unverified */
	uint32_t len;	  /* bytes present */
	uint32_t pins;	  /* open file handles naming this window */
	uint32_t users;	  /* readers and fetchers using it right now */
	uint8_t state;	  /* enum cwin_state */
	bool ondisk;	  /* what the bitmap on disk says */
	uint8_t dirty;	  /* enum cwin_dirty: bytes written, bit not yet on disk */
};

/* A window's way to the disk (flush.c): written, then synced and marked
 * by the flusher, off the path of the read that fetched it. */
enum cwin_dirty { CW_CLEAN, CW_WRITTEN, CW_SYNCING };

/* A cached object: CACHE/objects/<hash>.data and .bitmap. Created once,
 * freed only at exit (pointers to it stay valid). */
struct cobj {
	char hash[65]; /* sha256 hex of the object key */
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a window left CW_BUSY */
	int data_fd, bm_fd;
	uint32_t window_bytes; /* 0 until the first manifest names it */
	unsigned refs;	       /* live artifacts naming it (under cache.mu) */
	size_t nwin;
	struct cwin *w;
	struct cobj *next;
};

struct cache {
	char *dir;	    /* CACHE/objects */
	pthread_mutex_t mu; /* the list */
	struct cobj *objs;
	atomic_uint_fast64_t bytes; /* present windows */
	uint64_t high, low;
	/* the evictor */
	pthread_mutex_t evict_mu;
	pthread_cond_t evict_cv;
	bool evict_wanted, stopping;
	pthread_t evictor;
	bool evictor_started;
	/* the flusher (flush.c) */
	pthread_mutex_t flush_mu;
	pthread_cond_t flush_cv;
	bool flush_wanted, flush_stopping;
	pthread_t flusher;
	bool flusher_started;
};

int cache_open(const char *cache_dir, uint64_t high, uint64_t low, struct cache **out,
	       struct thaw_err **err);
void cache_close(struct cache *c);
/* The cached object for key at window_bytes with room for nwin windows. A
 * cached object at another window size is reset when no artifact names
 * it; ERR_CONFLICT when one does. On success o->refs counts the caller. */
int cache_obj(struct cache *c, const char *key, uint32_t window_bytes, size_t nwin,
	      struct cobj **out, struct thaw_err **err);
/* An artifact naming o is gone (the ref cache_obj took). */
void cache_obj_put(struct cache *c, struct cobj *o);
/* Writes a window's bytes (window held CW_BUSY by the caller): readers
 * may use them at once, from the page cache; the flusher syncs them and
 * only then sets the window's bit on disk. Returns 0 or -1 with err. */
int cache_store(struct cache *c, struct cobj *o, size_t idx, const void *data, uint32_t len,
		struct thaw_err **err);
/* Sets the bitmap bit of idx to what o->w[idx] says (o->mu held). */
int cache_sync_bit(struct cobj *o, size_t idx, bool present, struct thaw_err **err);
/* Drops a present window no one uses (o->mu held): bit cleared, hole punched. */
int cache_drop(struct cache *c, struct cobj *o, size_t idx, struct thaw_err **err);
/* pread of len bytes of window idx at off (the window is in use by the caller). */
int cache_pread(struct cobj *o, size_t idx, uint64_t off, void *buf, size_t len);
/* Pins or unpins (delta +1/-1) every window a file names. */
void cache_pin_file(const struct manifest *m, const struct manifest_file *f,
		    struct cobj *const *objs, int delta);
int64_t cache_now_ns(void);

/* ---- durability (flush.c) ---------------------------------------------- */

/* The flusher thread: syncs written windows' bytes, then their bits,
 * one fdatasync per object per round, shortly after they are written. */
int flush_start(struct cache *c, struct thaw_err **err);
void flush_kick(struct cache *c);
/* Flushes what is left and ends the thread. */
void flush_stop(struct cache *c);

/* ---- eviction (evict.c) ------------------------------------------------ */

/* The evictor thread: wakes when the cache passes its high mark and drops
 * the least recently used windows no one has open until it is under the
 * low mark. */
int evict_start(struct cache *c, struct thaw_err **err);
void evict_kick(struct cache *c);
void evict_stop(struct cache *c);
/* Bytes of present windows that open files pin. */
uint64_t cache_pinned_bytes(struct cache *c);

/* ---- fetching (fetch.c) ------------------------------------------------- */

struct artifact;

struct ns;

struct fetcher {
	struct ns *ns;
	struct objstore *store;
	struct cache *cache;
	/* The GET limit: demand fetches go first. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned max, in_use, demand_waiting;
	/* Prefetch: a FIFO of artifacts whose memory file was opened. */
	struct prefetch_job *jobs, *jobs_tail;
	pthread_cond_t jobs_cv;
	bool stopping;
	pthread_t *workers;
	unsigned nworkers;
};

int fetcher_start(struct fetcher *f, struct ns *ns, struct objstore *store, struct cache *cache,
		  unsigned max, struct thaw_err **err);
void fetcher_stop(struct fetcher *f);

/* Makes window w (of object o) usable for a read: present and verified,
 * fetched if needed (one fetch per window however many wait for it).
 * On 0 the window is held (o->w[idx].users) until cache_release;
 * *hit says whether it was already there. -EIO when the store failed or
 * the bytes did not match their SHA-256. */
int fetch_demand(struct fetcher *f, struct cobj *o, const struct manifest *m,
		 const struct manifest_window *w, uint32_t len, bool *hit);
void cache_release(struct cobj *o, size_t idx);
/* Queues the manifest's prefetch list of a's memory file (holds a ref). */
void fetch_prefetch(struct fetcher *f, struct artifact *a);

/* ---- artifacts and inodes (ns.c) ---------------------------------------- */

enum node_kind { NODE_DIR, NODE_MEMORY, NODE_ROOTFS, NODE_STATS, NODE_TRACE, NODE_KINDS };
#define INO_ROOT 1
#define INO_STATS 2
#define INO_SHIFT 3 /* an artifact's nodes: (seq << INO_SHIFT) + kind */

struct artifact {
	char id[129];
	uint64_t ino; /* of its directory; its nodes follow */
	struct manifest m;
	struct cobj **objs; /* per m.objects[] */
	/* Under ns.mu: */
	unsigned refs;	  /* the table's (while current), open handles, prefetch jobs */
	uint64_t nlookup; /* the kernel's references to its nodes */
	bool current;	  /* what a lookup of id finds now */
	bool prefetch_started;
	dev_t mdev; /* the manifest file it was read from */
	ino_t mino;
	int64_t mmtime_ns;
	off_t msize;
	/* First-touch order of the memory file's windows (.trace). */
	pthread_mutex_t trace_mu;
	uint32_t *trace;
	size_t ntrace;
	uint8_t *touched;
	struct artifact *next;
};

struct ns {
	char *manifests; /* CACHE/manifests */
	struct cache *cache;
	pthread_mutex_t mu;
	struct artifact *list;
	uint64_t next_seq;
};

int ns_init(struct ns *ns, const char *cache_dir, struct cache *cache, struct thaw_err **err);
void ns_fini(struct ns *ns);
/* The artifact id names now (a new ref), reading its manifest when it
 * changed; -ENOENT when absent or invalid (logged). */
int ns_lookup(struct ns *ns, const char *id, struct artifact **out);
/* The artifact owning ino (a new ref), or NULL. */
struct artifact *ns_by_ino(struct ns *ns, uint64_t ino);
void ns_ref(struct ns *ns, struct artifact *a);
void ns_unref(struct ns *ns, struct artifact *a);
void ns_add_lookup(struct ns *ns, struct artifact *a);
void ns_forget(struct ns *ns, uint64_t ino, uint64_t n);
/* Calls fn for every id whose manifest parses (readdir). */
void ns_list(struct ns *ns, void (*fn)(const char *id, uint64_t ino, void *ctx), void *ctx);
bool ns_id_valid(const char *id);
/* Records the first touch of memory window i. */
void ns_trace_touch(struct artifact *a, size_t i);

/* ---- rendering (stats.c) ------------------------------------------------ */

char *stats_global_json(struct cache *c);
char *stats_artifact_json(const struct artifact *a);
char *stats_trace_json(struct artifact *a);

/* ---- the file system (fs.c) --------------------------------------------- */

struct snap;

struct lazyfs {
	struct ns ns;
	struct cache *cache;
	struct fetcher fetch;
	pthread_mutex_t snaps_mu;
	struct snap *snaps; /* open .stats, .trace and directory handles */
	/* THAW_LAZYFS_PREFETCH=off: manifests' prefetch lists are ignored
	 * (the benchmark's "without the trace"). */
	bool no_prefetch;
	unsigned readahead_bytes; /* the kernel's, per file (op_init) */
};

/* Frees the handles the kernel never released (at exit). */
void fs_free_handles(struct lazyfs *fs);

struct fuse_lowlevel_ops;
extern const struct fuse_lowlevel_ops lazyfs_ops;

#endif
