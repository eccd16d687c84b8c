/* The FUSE operations (low-level API: the inodes are ours, see ns.c).
 *
 *   MOUNT/.stats            global counters (stats.c)
 *   MOUNT/<id>/             one per valid CACHE/manifests/<id>.json
 *   MOUNT/<id>/memory       read-only, the manifest's size, kept in the
 *   MOUNT/<id>/rootfs       page cache across opens (keep_cache)
 *   MOUNT/<id>/.stats       the artifact's windows: total, zero, present
 *   MOUNT/<id>/.trace       memory windows in first-touch order
 *
 * memory and rootfs open O_RDONLY or O_RDWR (a VMM maps them MAP_PRIVATE)
 * and refuse every write with EROFS. .stats and .trace are snapshots taken
 * at open, read with direct_io (their size shows as 0). */
#define FUSE_USE_VERSION 312

#include "lazyfs.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cleanup.h"

#define FILE_TIMEOUT 3600.0 /* an artifact's files never change */

struct lazy_counters lazy_ctr;

/* A snapshot read by offset: a virtual file's text or a directory listing.
 * Every one is on fs->snaps until released, so that those the kernel never
 * released (a stop right after a close) are freed at exit. */
struct snap {
	char *data;
	size_t len;
	struct snap *prev, *next;
};

static struct snap *snap_new(struct lazyfs *fs, char *data, size_t len)
{
	struct snap *s = xcalloc(1, sizeof(*s));
	s->data = data;
	s->len = len;
	pthread_mutex_lock(&fs->snaps_mu);
	s->next = fs->snaps;
	if (s->next)
		s->next->prev = s;
	fs->snaps = s;
	pthread_mutex_unlock(&fs->snaps_mu);
	return s;
}

static void snap_free(struct lazyfs *fs, struct snap *s)
{
	pthread_mutex_lock(&fs->snaps_mu);
	if (s->prev)
		s->prev->next = s->next;
	else
		fs->snaps = s->next;
	if (s->next)
		s->next->prev = s->prev;
	pthread_mutex_unlock(&fs->snaps_mu);
	free(s->data);
	free(s);
}

void fs_free_handles(struct lazyfs *fs)
{
	while (fs->snaps)
		snap_free(fs, fs->snaps);
}

/* Replies with a copy: a release on another thread may free the snapshot
 * as soon as the kernel has the reply, before writev returns here. */
static void snap_reply(fuse_req_t req, const struct snap *s, off_t off, size_t size)
{
	size_t from = off >= 0 && (uint64_t)off < s->len ? (size_t)off : s->len;
	size_t n = s->len - from < size ? s->len - from : size;
	_cleanup_free_ char *copy = xmalloc(n ? n : 1);
	memcpy(copy, s->data + from, n);
	fuse_reply_buf(req, copy, n);
}

static struct lazyfs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static enum node_kind kind_of(fuse_ino_t ino)
{
	return (enum node_kind)(ino & ((1u << INO_SHIFT) - 1));
}

static const char *const node_names[NODE_KINDS] = {
	[NODE_MEMORY] = "memory",
	[NODE_ROOTFS] = "rootfs",
	[NODE_STATS] = ".stats",
	[NODE_TRACE] = ".trace",
};

static void fill_attr(struct stat *st, fuse_ino_t ino, const struct artifact *a)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_nlink = 1;
	st->st_mode = S_IFREG | 0444;
	st->st_blksize = 4096;
	if (ino == INO_ROOT || (a && kind_of(ino) == NODE_DIR)) {
		/* Root's only: a template's memory is nobody else's to read on
		 * this host. VMMs never walk these paths; they get descriptors
		 * thawd opened, and reopening one through /proc/self/fd checks
		 * only the file's own mode. */
		st->st_mode = S_IFDIR | 0700;
		st->st_nlink = 2;
	}
	if (!a)
		return;
	st->st_mtim.tv_sec = st->st_ctim.tv_sec = st->st_atim.tv_sec = a->m.created_at;
	/* A jailed VMM reopens its memory through /proc/self/fd as its own
	 * uid, read-write (QEMU 7.2 maps guest RAM from a file opened so,
	 * MAP_PRIVATE): the mode lets it; the file system refuses every
	 * write all the same (EROFS). */
	if (kind_of(ino) == NODE_MEMORY)
		st->st_mode = S_IFREG | 0666;
	if (kind_of(ino) == NODE_MEMORY || kind_of(ino) == NODE_ROOTFS) {
		st->st_size = (off_t)a->m.files[kind_of(ino) - NODE_MEMORY].size;
		st->st_blocks = (st->st_size + 511) / 512;
	}
}

static double attr_timeout(fuse_ino_t ino)
{
	if (ino == INO_ROOT || ino == INO_STATS)
		return 0;
	enum node_kind k = kind_of(ino);
	return k == NODE_MEMORY || k == NODE_ROOTFS ? FILE_TIMEOUT : 0;
}

static void reply_entry(fuse_req_t req, fuse_ino_t ino, const struct artifact *a, double entry)
{
	struct fuse_entry_param e = { .ino = ino, .entry_timeout = entry };
	fill_attr(&e.attr, ino, a);
	e.attr_timeout = attr_timeout(ino);
	fuse_reply_entry(req, &e);
}

static void lookup_root(fuse_req_t req, const char *name)
{
	struct lazyfs *fs = fs_of(req);
	if (strcmp(name, ".stats") == 0) {
		reply_entry(req, INO_STATS, NULL, 0);
		return;
	}
	struct artifact *a;
	int rc = ns_lookup(&fs->ns, name, &a);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	ns_add_lookup(&fs->ns, a);
	/* entry_timeout 0: every path walk asks again, so a removed or
	 * replaced manifest shows at once. */
	reply_entry(req, a->ino, a, 0);
	ns_unref(&fs->ns, a);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct lazyfs *fs = fs_of(req);
	if (parent == INO_ROOT) {
		lookup_root(req, name);
		return;
	}
	struct artifact *a = ns_by_ino(&fs->ns, parent);
	if (!a || kind_of(parent) != NODE_DIR) {
		if (a)
			ns_unref(&fs->ns, a);
		fuse_reply_err(req, a ? ENOTDIR : ENOENT);
		return;
	}
	int found = -1;
	for (int k = NODE_MEMORY; k < NODE_KINDS; k++)
		if (strcmp(name, node_names[k]) == 0)
			found = k;
	if (found < 0) {
		fuse_reply_err(req, ENOENT);
	} else {
		ns_add_lookup(&fs->ns, a);
		reply_entry(req, a->ino + (fuse_ino_t)found, a, FILE_TIMEOUT);
	}
	ns_unref(&fs->ns, a);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	if (ino >= (1u << INO_SHIFT))
		ns_forget(&fs_of(req)->ns, ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		if (forgets[i].ino >= (1u << INO_SHIFT))
			ns_forget(&fs_of(req)->ns, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	struct lazyfs *fs = fs_of(req);
	struct stat st;
	if (ino == INO_ROOT || ino == INO_STATS) {
		fill_attr(&st, ino, NULL);
		fuse_reply_attr(req, &st, 0);
		return;
	}
	struct artifact *a = ns_by_ino(&fs->ns, ino);
	if (!a) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_attr(&st, ino, a);
	fuse_reply_attr(req, &st, attr_timeout(ino));
	ns_unref(&fs->ns, a);
}

static void reply_snap(fuse_req_t req, struct fuse_file_info *fi, char *text)
{
	struct snap *s = snap_new(fs_of(req), text, strlen(text));
	fi->fh = (uint64_t)(uintptr_t)s;
	fi->direct_io = 1;
	if (fuse_reply_open(req, fi) != 0)
		snap_free(fs_of(req), s);
}

static void open_file(fuse_req_t req, struct artifact *a, enum node_kind k,
		      struct fuse_file_info *fi)
{
	struct lazyfs *fs = fs_of(req);
	enum manifest_wfile which = k == NODE_MEMORY ? MANIFEST_MEMORY : MANIFEST_ROOTFS;
	if ((fi->flags & O_ACCMODE) == O_WRONLY || (fi->flags & O_TRUNC)) {
		ns_unref(&fs->ns, a);
		fuse_reply_err(req, EROFS);
		return;
	}
	cache_pin_file(&a->m, &a->m.files[which], a->objs, +1);
	bool first = false;
	pthread_mutex_lock(&fs->ns.mu);
	if (which == MANIFEST_MEMORY && !a->prefetch_started)
		first = a->prefetch_started = true;
	pthread_mutex_unlock(&fs->ns.mu);
	if (first && !fs->no_prefetch)
		fetch_prefetch(&fs->fetch, a);
	fi->keep_cache = 1;
	fi->fh = (uint64_t)(uintptr_t)a; /* the ref from ns_by_ino, until release */
	if (fuse_reply_open(req, fi) != 0) {
		cache_pin_file(&a->m, &a->m.files[which], a->objs, -1);
		ns_unref(&fs->ns, a);
	}
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lazyfs *fs = fs_of(req);
	if (ino == INO_STATS) {
		reply_snap(req, fi, stats_global_json(fs->cache));
		return;
	}
	struct artifact *a = ino == INO_ROOT ? NULL : ns_by_ino(&fs->ns, ino);
	if (!a) {
		fuse_reply_err(req, ino == INO_ROOT ? EISDIR : ENOENT);
		return;
	}
	enum node_kind k = kind_of(ino);
	if (k == NODE_MEMORY || k == NODE_ROOTFS) {
		open_file(req, a, k, fi);
		return;
	}
	if (k == NODE_STATS)
		reply_snap(req, fi, stats_artifact_json(a));
	else if (k == NODE_TRACE)
		reply_snap(req, fi, stats_trace_json(a));
	else
		fuse_reply_err(req, EISDIR);
	ns_unref(&fs->ns, a);
}

static bool is_data(fuse_ino_t ino)
{
	return ino > INO_STATS && (kind_of(ino) == NODE_MEMORY || kind_of(ino) == NODE_ROOTFS);
}

/* Reads [off, off + len) of one file into out, window by window. */
static int read_windows(struct lazyfs *fs, struct artifact *a, enum manifest_wfile which,
			uint64_t off, uint64_t end, char *out)
{
	const struct manifest_file *f = &a->m.files[which];
	uint64_t wb = a->m.window_bytes;
	for (uint64_t pos = off; pos < end;) {
		size_t i = (size_t)(pos / wb);
		uint64_t ws = i * wb, wlen = manifest_window_len(&a->m, f, i);
		uint64_t stop = end < ws + wlen ? end : ws + wlen;
		const struct manifest_window *w = &f->w[i];
		if (which == MANIFEST_MEMORY)
			ns_trace_touch(a, i);
		if (!w->object) {
			memset(out + (pos - off), 0, stop - pos);
			lazy_ctr.zero_windows_skipped++;
			pos = stop;
			continue;
		}
		struct cobj *o = a->objs[w->object_index];
		size_t idx = (size_t)(w->offset / wb);
		bool hit = false;
		int rc = fetch_demand(&fs->fetch, o, &a->m, w, (uint32_t)wlen, &hit);
		if (rc < 0)
			return rc;
		if (hit)
			lazy_ctr.cache_hits++;
		rc = cache_pread(o, idx, pos - ws, out + (pos - off), stop - pos);
		cache_release(o, idx);
		if (rc < 0)
			return rc;
		pos = stop;
	}
	return 0;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct lazyfs *fs = fs_of(req);
	if (!is_data(ino)) {
		snap_reply(req, (struct snap *)(uintptr_t)fi->fh, off, size);
		return;
	}
	struct artifact *a = (struct artifact *)(uintptr_t)fi->fh;
	enum manifest_wfile which = kind_of(ino) == NODE_MEMORY ? MANIFEST_MEMORY : MANIFEST_ROOTFS;
	uint64_t fsize = a->m.files[which].size;
	if (off < 0 || (uint64_t)off >= fsize) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	uint64_t end = (uint64_t)off + size < fsize ? (uint64_t)off + size : fsize;
	_cleanup_free_ char *buf = xmalloc(end - (uint64_t)off);
	int rc = read_windows(fs, a, which, (uint64_t)off, end, buf);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, buf, end - (uint64_t)off);
}

/* SEEK_DATA and SEEK_HOLE from the manifest: all-zero windows are holes.
 * A reader that copies only data (thawd's sealed copy of a template's
 * memory) then never reads, and the lazy layer never serves, a zero. */
static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	if (!is_data(ino) || (whence != SEEK_DATA && whence != SEEK_HOLE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	struct artifact *a = (struct artifact *)(uintptr_t)fi->fh;
	enum manifest_wfile which = kind_of(ino) == NODE_MEMORY ? MANIFEST_MEMORY : MANIFEST_ROOTFS;
	const struct manifest_file *f = &a->m.files[which];
	uint64_t wb = a->m.window_bytes;
	if (off < 0 || (uint64_t)off >= f->size) {
		fuse_reply_err(req, ENXIO);
		return;
	}
	bool want_data = whence == SEEK_DATA;
	for (size_t i = (size_t)((uint64_t)off / wb); i < f->nwindows; i++) {
		bool data = f->w[i].object != NULL;
		if (data == want_data) {
			uint64_t at = (uint64_t)i * wb;
			fuse_reply_lseek(req, (off_t)(at > (uint64_t)off ? at : (uint64_t)off));
			return;
		}
	}
	if (want_data)
		fuse_reply_err(req, ENXIO); /* only a hole is left */
	else
		fuse_reply_lseek(req, (off_t)f->size); /* the end is a hole */
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	(void)ino, (void)buf, (void)size, (void)off, (void)fi;
	fuse_reply_err(req, EROFS);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	(void)ino, (void)attr, (void)to_set, (void)fi;
	fuse_reply_err(req, EROFS);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lazyfs *fs = fs_of(req);
	if (is_data(ino)) {
		struct artifact *a = (struct artifact *)(uintptr_t)fi->fh;
		enum manifest_wfile which =
			kind_of(ino) == NODE_MEMORY ? MANIFEST_MEMORY : MANIFEST_ROOTFS;
		cache_pin_file(&a->m, &a->m.files[which], a->objs, -1);
		ns_unref(&fs->ns, a);
		/* What the file pinned may go now. */
		if ((uint64_t)fs->cache->bytes > fs->cache->high)
			evict_kick(fs->cache);
	} else {
		snap_free(fs, (struct snap *)(uintptr_t)fi->fh);
	}
	fuse_reply_err(req, 0);
}

static void add_dirent(fuse_req_t req, struct buf *b, const char *name, fuse_ino_t ino, mode_t mode)
{
	struct stat st = { .st_ino = ino, .st_mode = mode };
	size_t need = fuse_add_direntry(req, NULL, 0, name, NULL, 0);
	buf_reserve(b, need);
	fuse_add_direntry(req, (char *)b->data + b->len, need, name, &st, (off_t)(b->len + need));
	b->len += need;
}

struct listing {
	fuse_req_t req;
	struct buf *b;
};

static void list_one(const char *id, uint64_t ino, void *ctx)
{
	struct listing *l = ctx;
	add_dirent(l->req, l->b, id, ino, S_IFDIR);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lazyfs *fs = fs_of(req);
	struct buf b = { 0 };
	add_dirent(req, &b, ".", ino, S_IFDIR);
	add_dirent(req, &b, "..", INO_ROOT, S_IFDIR);
	if (ino == INO_ROOT) {
		add_dirent(req, &b, ".stats", INO_STATS, S_IFREG);
		struct listing l = { req, &b };
		ns_list(&fs->ns, list_one, &l);
	} else {
		struct artifact *a = ns_by_ino(&fs->ns, ino);
		if (!a || kind_of(ino) != NODE_DIR) {
			if (a)
				ns_unref(&fs->ns, a);
			buf_free(&b);
			fuse_reply_err(req, a ? ENOTDIR : ENOENT);
			return;
		}
		for (int k = NODE_MEMORY; k < NODE_KINDS; k++)
			add_dirent(req, &b, node_names[k], a->ino + (fuse_ino_t)k, S_IFREG);
		ns_unref(&fs->ns, a);
	}
	size_t len = b.len;
	struct snap *s = snap_new(fs, buf_steal(&b, NULL), len);
	fi->fh = (uint64_t)(uintptr_t)s;
	if (fuse_reply_open(req, fi) != 0)
		snap_free(fs, s);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)ino;
	/* Entries end at the offsets they carry; the kernel drops a cut one
	 * and asks again from the offset of the last whole one. */
	snap_reply(req, (struct snap *)(uintptr_t)fi->fh, off, size);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	snap_free(fs_of(req), (struct snap *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* The kernel's readahead on these files. A guest's fault then reads its
 * own page and the kernel brings no neighbours: a neighbour in another
 * window would make the lazy layer fetch that window for nothing (and
 * put it in the prefetch trace). The pages come from the chunk cache,
 * so one request per fault costs little; every later VMM of the
 * template finds them in the page cache. */
static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct lazyfs *fs = userdata;
	conn->max_readahead = fs->readahead_bytes;
}

const struct fuse_lowlevel_ops lazyfs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.open = op_open,
	.read = op_read,
	.lseek = op_lseek,
	.write = op_write,
	.release = op_release,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
};
