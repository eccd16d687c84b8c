/* The chunk cache on disk: per object CACHE/objects/<sha256 of key>.data,
 * a sparse file holding its windows at their offsets, and .bitmap, a
 * 16-byte header (magic, window size) and one bit per window, set only
 * after the window's bytes are durable. A bitmap that does not check out
 * is an empty cache for its object; windows recovered from disk are
 * hashed again before their first use (fetch.c). */
#include "lazyfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"
#include "log.h"
#include "sha256.h"

#define BM_MAGIC "THAWBM01"
#define BM_MAX_BYTES (BM_HEADER + MANIFEST_MAX_WINDOWS / 8)

int64_t cache_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void obj_grow(struct cobj *o, size_t nwin)
{
	if (nwin <= o->nwin)
		return;
	o->w = xrealloc(o->w, nwin * sizeof(*o->w));
	memset(o->w + o->nwin, 0, (nwin - o->nwin) * sizeof(*o->w));
	o->nwin = nwin;
}

static int write_header(struct cobj *o, uint32_t window_bytes, struct thaw_err **err)
{
	uint8_t h[BM_HEADER] = { 0 };
	memcpy(h, BM_MAGIC, 8);
	memcpy(h + 8, &window_bytes, 4);
	if (ftruncate(o->bm_fd, 0) < 0 || ftruncate(o->data_fd, 0) < 0)
		return err_sys(err, "truncating cache object %s", o->hash);
	if (fs_pwrite_all(o->bm_fd, h, sizeof(h), 0, err) < 0)
		return -1;
	if (fdatasync(o->bm_fd) < 0 || fdatasync(o->data_fd) < 0)
		return err_sys(err, "syncing cache object %s", o->hash);
	o->window_bytes = window_bytes;
	return 0;
}

/* Reads what the bitmap says is present; anything inconsistent makes the
 * object empty (header and size 0). Returns the present bytes. */
static uint64_t obj_recover(struct cobj *o)
{
	struct stat dst, bst;
	_cleanup_free_ uint8_t *bm = NULL;
	if (fstat(o->data_fd, &dst) < 0 || fstat(o->bm_fd, &bst) < 0 || bst.st_size < BM_HEADER ||
	    bst.st_size > BM_MAX_BYTES)
		goto reset;
	bm = xmalloc((size_t)bst.st_size);
	uint32_t wb;
	if (pread(o->bm_fd, bm, (size_t)bst.st_size, 0) != bst.st_size ||
	    memcmp(bm, BM_MAGIC, 8) != 0)
		goto reset;
	memcpy(&wb, bm + 8, 4);
	if (wb < MANIFEST_WINDOW_MIN || wb > MANIFEST_WINDOW_MAX || (wb & (wb - 1)))
		goto reset;
	o->window_bytes = wb;
	size_t nbits = (size_t)(bst.st_size - BM_HEADER) * 8;
	obj_grow(o, nbits);
	uint64_t bytes = 0;
	int64_t mtime = (int64_t)bst.st_mtim.tv_sec * 1000000000 + bst.st_mtim.tv_nsec;
	for (size_t i = 0; i < nbits; i++) {
		if (!(bm[BM_HEADER + i / 8] & (1u << (i % 8))))
			continue;
		uint64_t start = (uint64_t)i * wb;
		if (start >= (uint64_t)dst.st_size) {
			/* A bit past the data: the data file was cut short. */
			o->w[i].ondisk = true;
			cache_sync_bit(o, i, false, NULL);
			continue;
		}
		uint64_t left = (uint64_t)dst.st_size - start;
		o->w[i] = (struct cwin){ .atime_ns = mtime,
					 .len = (uint32_t)(left < wb ? left : wb),
					 .state = CW_PRESENT,
					 .ondisk = true };
		bytes += o->w[i].len;
	}
	return bytes;
reset:
	log_warn("lazyfs.cache_reset", "object=%s why=\"bitmap or data unreadable\"", o->hash);
	free(o->w);
	o->w = NULL;
	o->nwin = 0;
	o->window_bytes = 0;
	if (ftruncate(o->bm_fd, 0) < 0 || ftruncate(o->data_fd, 0) < 0)
		log_warn("lazyfs.cache_reset", "object=%s error=\"%s\"", o->hash, strerror(errno));
	return 0;
}

static int open_in(const char *dir, const char *hash, const char *ext, struct thaw_err **err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s.%s", dir, hash, ext);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return err_sys(err, "opening %s", path);
	return fd;
}

/* A new cobj for hash, its files opened (created when missing). */
static struct cobj *obj_new(struct cache *c, const char *hash, struct thaw_err **err)
{
	_cleanup_close_ int data = open_in(c->dir, hash, "data", err);
	if (data < 0)
		return NULL;
	int bm = open_in(c->dir, hash, "bitmap", err);
	if (bm < 0)
		return NULL;
	struct cobj *o = xcalloc(1, sizeof(*o));
	snprintf(o->hash, sizeof(o->hash), "%s", hash);
	pthread_mutex_init(&o->mu, NULL);
	pthread_cond_init(&o->cv, NULL);
	o->data_fd = steal_fd(&data);
	o->bm_fd = bm;
	return o;
}

static bool is_hash(const char *s, size_t n)
{
	if (n != SHA256_HEX_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static int cache_scan(struct cache *c, struct thaw_err **err)
{
	_cleanup_closedir_ DIR *d = opendir(c->dir);
	if (!d)
		return err_sys(err, "listing %s", c->dir);
	struct dirent *de;
	size_t n = 0;
	while ((de = readdir(d))) {
		const char *dot = strrchr(de->d_name, '.');
		if (!dot || strcmp(dot, ".bitmap") != 0 ||
		    !is_hash(de->d_name, (size_t)(dot - de->d_name)))
			continue;
		char hash[65];
		snprintf(hash, sizeof(hash), "%.64s", de->d_name);
		struct cobj *o = obj_new(c, hash, err);
		if (!o)
			return -1;
		c->bytes += obj_recover(o);
		o->next = c->objs;
		c->objs = o;
		n++;
	}
	log_notice("lazyfs.cache_recovered", "objects=%zu bytes=%llu", n,
		   (unsigned long long)c->bytes);
	return 0;
}

int cache_open(const char *cache_dir, uint64_t high, uint64_t low, struct cache **out,
	       struct thaw_err **err)
{
	struct cache *c = xcalloc(1, sizeof(*c));
	c->dir = xasprintf("%s/objects", cache_dir);
	c->high = high;
	c->low = low;
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->evict_mu, NULL);
	pthread_cond_init(&c->evict_cv, NULL);
	pthread_mutex_init(&c->flush_mu, NULL);
	pthread_cond_init(&c->flush_cv, NULL);
	if (fs_mkdir_p(c->dir, 0700, err) < 0 || cache_scan(c, err) < 0) {
		cache_close(c);
		return err_wrap(err, "opening the cache in %s", cache_dir);
	}
	*out = c;
	return 0;
}

void cache_close(struct cache *c)
{
	if (!c)
		return;
	struct cobj *o = c->objs;
	while (o) {
		struct cobj *next = o->next;
		close(o->data_fd);
		close(o->bm_fd);
		pthread_mutex_destroy(&o->mu);
		pthread_cond_destroy(&o->cv);
		free(o->w);
		free(o);
		o = next;
	}
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->evict_mu);
	pthread_cond_destroy(&c->evict_cv);
	pthread_mutex_destroy(&c->flush_mu);
	pthread_cond_destroy(&c->flush_cv);
	free(c->dir);
	free(c);
}

static bool obj_in_use(const struct cobj *o)
{
	for (size_t i = 0; i < o->nwin; i++)
		if (o->w[i].state != CW_ABSENT || o->w[i].pins || o->w[i].users)
			return true;
	return false;
}

/* Adopts window_bytes for o (o->mu held). */
static int obj_fix_window(struct cache *c, struct cobj *o, uint32_t window_bytes,
			  struct thaw_err **err)
{
	if (o->window_bytes == window_bytes)
		return 0;
	if (o->refs)
		return err_set(err, ERR_CONFLICT, "cache object %s is in use at %u-byte windows",
			       o->hash, o->window_bytes);
	if (obj_in_use(o))
		log_notice("lazyfs.cache_reset", "object=%s window_bytes=%u", o->hash,
			   window_bytes);
	for (size_t i = 0; i < o->nwin; i++)
		if (o->w[i].state == CW_PRESENT)
			c->bytes -= o->w[i].len;
	if (o->nwin)
		memset(o->w, 0, o->nwin * sizeof(*o->w));
	return write_header(o, window_bytes, err);
}

int cache_obj(struct cache *c, const char *key, uint32_t window_bytes, size_t nwin,
	      struct cobj **out, struct thaw_err **err)
{
	char hash[65];
	sha256_hex(key, strlen(key), hash);
	pthread_mutex_lock(&c->mu);
	struct cobj *o = c->objs;
	while (o && strcmp(o->hash, hash) != 0)
		o = o->next;
	if (!o) {
		o = obj_new(c, hash, err);
		if (!o) {
			pthread_mutex_unlock(&c->mu);
			return -1;
		}
		o->next = c->objs;
		c->objs = o;
	}
	pthread_mutex_lock(&o->mu);
	int rc = obj_fix_window(c, o, window_bytes, err);
	if (rc == 0) {
		obj_grow(o, nwin);
		o->refs++;
	}
	pthread_mutex_unlock(&o->mu);
	pthread_mutex_unlock(&c->mu);
	if (rc < 0)
		return err_wrap(err, "object %s", key);
	*out = o;
	return 0;
}

void cache_obj_put(struct cache *c, struct cobj *o)
{
	pthread_mutex_lock(&c->mu);
	o->refs--;
	pthread_mutex_unlock(&c->mu);
}

int cache_sync_bit(struct cobj *o, size_t idx, bool present, struct thaw_err **err)
{
	o->w[idx].ondisk = present;
	uint8_t byte = 0;
	size_t first = idx / 8 * 8;
	for (size_t i = first; i < first + 8 && i < o->nwin; i++)
		if (o->w[i].ondisk)
			byte |= (uint8_t)(1u << (i % 8));
	if (fs_pwrite_all(o->bm_fd, &byte, 1, (off_t)(BM_HEADER + idx / 8), err) < 0)
		return -1;
	if (fdatasync(o->bm_fd) < 0)
		return err_sys(err, "syncing the bitmap of %s", o->hash);
	return 0;
}

int cache_store(struct cache *c, struct cobj *o, size_t idx, const void *data, uint32_t len,
		struct thaw_err **err)
{
	off_t off = (off_t)idx * o->window_bytes;
	if (fs_pwrite_all(o->data_fd, data, len, off, err) < 0)
		return -1;
	/* Not synced here: two fdatasyncs per window cost a cold restore
	 * more than the fetch itself. The bit goes to disk only after the
	 * bytes (flush.c); a crash before that costs a fetch, never a
	 * window marked present that is not. */
	pthread_mutex_lock(&o->mu);
	o->w[idx].dirty = CW_WRITTEN;
	pthread_mutex_unlock(&o->mu);
	c->bytes += len;
	flush_kick(c);
	return 0;
}

int cache_drop(struct cache *c, struct cobj *o, size_t idx, struct thaw_err **err)
{
	struct cwin *w = &o->w[idx];
	uint32_t len = w->len;
	w->state = CW_ABSENT;
	w->tag = 0;
	w->len = 0;
	w->dirty = CW_CLEAN; /* never marked on disk now */
	c->bytes -= len;
	/* The bit goes first: a crash between the two leaves bytes no bit names. */
	if (cache_sync_bit(o, idx, false, err) < 0)
		return -1;
	if (len && fallocate(o->data_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			     (off_t)idx * o->window_bytes, len) < 0)
		return err_sys(err, "punching window %zu of %s", idx, o->hash);
	return 0;
}

int cache_pread(struct cobj *o, size_t idx, uint64_t off, void *buf, size_t len)
{
	uint64_t at = (uint64_t)idx * o->window_bytes + off;
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(o->data_fd, (char *)buf + done, len - done, (off_t)(at + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

void cache_release(struct cobj *o, size_t idx)
{
	pthread_mutex_lock(&o->mu);
	o->w[idx].users--;
	o->w[idx].atime_ns = cache_now_ns();
	pthread_mutex_unlock(&o->mu);
}

void cache_pin_file(const struct manifest *m, const struct manifest_file *f,
		    struct cobj *const *objs, int delta)
{
	for (size_t i = 0; i < f->nwindows; i++) {
		const struct manifest_window *w = &f->w[i];
		if (!w->object)
			continue;
		struct cobj *o = objs[w->object_index];
		pthread_mutex_lock(&o->mu);
		o->w[w->offset / m->window_bytes].pins += (uint32_t)delta;
		pthread_mutex_unlock(&o->mu);
	}
}
