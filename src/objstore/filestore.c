/* The file:// backend: one file per object under the store's directory,
 * key "a/b/c" at DIR/a/b/c. Writes go to a temporary file beside the
 * target (its name holds a '~', which no key can, so listings never see
 * it), are synced, then renamed over the target: an object is either
 * absent or complete. A key cannot name a directory that holds other
 * keys ("a" beside "a/b"): such a write is ERR_CONFLICT. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "fsutil.h"
#include "objstore_int.h"

#define COPY_CHUNK (1u << 20)

int filestore_init(struct objstore *s, struct thaw_err **err)
{
	(void)s;
	(void)err;
	return 0;
}

static void filestore_close(struct objstore *s)
{
	(void)s;
}

static char *obj_path(const struct objstore *s, const char *key)
{
	return xasprintf("%s/%s", strcmp(s->dir, "/") ? s->dir : "", key);
}

/* Creates the directories above path (below the store's root too). */
static int make_parents(const char *path, struct thaw_err **err)
{
	_cleanup_free_ char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	struct thaw_err *e = NULL;
	if (fs_mkdir_p(dir, 0755, &e) == 0)
		return 0;
	int code = e->sys_errno;
	err_free(e);
	if (code == ENOTDIR || code == EEXIST)
		return err_set(err, ERR_CONFLICT, "a key above this one is an object");
	errno = code;
	return err_sys(err, "creating %s", dir);
}

/* The source of a write: a buffer or a descriptor read with pread. */
struct src {
	const uint8_t *data;
	int fd;
	uint64_t len;
};

static int copy_in(int out, const struct src *in, struct thaw_err **err)
{
	if (in->data)
		return fs_pwrite_all(out, in->data, in->len, 0, err);
	_cleanup_free_ uint8_t *chunk = xmalloc(COPY_CHUNK);
	for (uint64_t off = 0; off < in->len;) {
		size_t want = in->len - off < COPY_CHUNK ? (size_t)(in->len - off) : COPY_CHUNK;
		ssize_t n = pread(in->fd, chunk, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_sys(err, "reading the source at %llu", (unsigned long long)off);
		if (n == 0)
			return err_set(err, ERR_INVALID, "the source ends at %llu of %llu bytes",
				       (unsigned long long)off, (unsigned long long)in->len);
		if (fs_pwrite_all(out, chunk, (size_t)n, (off_t)off, err) < 0)
			return -1;
		off += (uint64_t)n;
	}
	return 0;
}

static int fsync_parent(const char *path, struct thaw_err **err)
{
	_cleanup_free_ char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return 0;
	slash[slash == dir ? 1 : 0] = '\0';
	return fs_fsync_dir(dir, err);
}

static int write_object(struct objstore *s, const char *key, const struct src *in,
			struct thaw_err **err)
{
	_cleanup_free_ char *path = obj_path(s, key);
	_cleanup_free_ char *tmp = xasprintf("%s~tmp.XXXXXX", path);
	if (make_parents(path, err) < 0)
		return -1;
	_cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
	/* A delete may have pruned the directory just made: once more. */
	if (fd < 0 && errno == ENOENT && make_parents(path, err) == 0)
		fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0 && errno == ENOTDIR)
		return err_set(err, ERR_CONFLICT, "a key above this one is an object");
	if (fd < 0)
		return err_sys(err, "creating a temporary file for %s", key);
	if (fchmod(fd, 0644) < 0 || copy_in(fd, in, err) < 0 || fsync(fd) < 0) {
		err_sys(err, "writing %s", tmp);
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		if (e == EISDIR || e == ENOTEMPTY || e == EEXIST)
			return err_set(err, ERR_CONFLICT, "keys below this one exist");
		errno = e;
		return err_sys(err, "renaming %s", tmp);
	}
	return fsync_parent(path, err);
}

static int fs_put_fd(struct objstore *s, const char *key, int fd, uint64_t len,
		     struct thaw_err **err)
{
	struct src in = { .fd = fd, .len = len };
	return write_object(s, key, &in, err);
}

static int fs_put_buf(struct objstore *s, const char *key, const void *data, size_t len,
		      struct thaw_err **err)
{
	struct src in = { .data = data, .fd = -1, .len = len };
	return write_object(s, key, &in, err);
}

/* Opens a regular file (not a directory of keys, not a symlink). */
static int open_object(struct objstore *s, const char *key, struct stat *st, struct thaw_err **err)
{
	_cleanup_free_ char *path = obj_path(s, key);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && (errno == ENOENT || errno == ENOTDIR || errno == ELOOP))
		return err_set(err, ERR_NOT_FOUND, "no such object");
	if (fd < 0)
		return err_sys(err, "opening %s", path);
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return err_set(err, ERR_NOT_FOUND, "no such object");
	}
	return fd;
}

static int fs_get_range(struct objstore *s, const char *key, uint64_t off, size_t len, void *buf,
			struct thaw_err **err)
{
	struct stat st;
	_cleanup_close_ int fd = open_object(s, key, &st, err);
	if (fd < 0)
		return -1;
	uint64_t size = (uint64_t)st.st_size;
	if (off >= size || size - off < len)
		return err_set(err, ERR_CORRUPT,
			       "bytes %llu..%llu asked of an object of %llu bytes",
			       (unsigned long long)off, (unsigned long long)(off + len - 1),
			       (unsigned long long)size);
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_sys(err, "reading");
		if (n == 0)
			return err_set(err, ERR_CORRUPT, "object ended after %zu of %zu bytes", got,
				       len);
		got += (size_t)n;
	}
	return 0;
}

static int fs_get_all(struct objstore *s, const char *key, size_t max, char **out, size_t *out_len,
		      struct thaw_err **err)
{
	struct stat st;
	_cleanup_close_ int fd = open_object(s, key, &st, err);
	if (fd < 0)
		return -1;
	if ((uint64_t)st.st_size > max)
		return err_set(err, ERR_TOO_LARGE, "object of %llu bytes, at most %zu wanted",
			       (unsigned long long)st.st_size, max);
	size_t len = (size_t)st.st_size;
	_cleanup_free_ char *data = xmalloc(len + 1);
	if (len && fs_get_range(s, key, 0, len, data, err) < 0)
		return -1;
	data[len] = '\0';
	*out = steal_pointer(&data);
	*out_len = len;
	return 0;
}

static int fs_head(struct objstore *s, const char *key, uint64_t *size, struct thaw_err **err)
{
	struct stat st;
	_cleanup_close_ int fd = open_object(s, key, &st, err);
	if (fd < 0)
		return -1;
	*size = (uint64_t)st.st_size;
	return 0;
}

/* Removes the directories left empty above a deleted key, up to the
 * root; a directory another writer just filled stays (ENOTEMPTY). */
static void prune_parents(const struct objstore *s, char *path)
{
	size_t root = strlen(s->dir);
	for (;;) {
		char *slash = strrchr(path, '/');
		if (!slash || (size_t)(slash - path) <= root)
			return;
		*slash = '\0';
		if (rmdir(path) < 0)
			return;
	}
}

static int fs_del(struct objstore *s, const char *key, struct thaw_err **err)
{
	_cleanup_free_ char *path = obj_path(s, key);
	struct stat st;
	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	if (unlink(path) < 0 && errno != ENOENT)
		return err_sys(err, "removing %s", path);
	prune_parents(s, path);
	return 0;
}

const struct objstore_ops filestore_ops = {
	.put_fd = fs_put_fd,
	.put_buf = fs_put_buf,
	.get_range = fs_get_range,
	.get_all = fs_get_all,
	.head = fs_head,
	.list = filestore_list,
	.del = fs_del,
	.close = filestore_close,
};
