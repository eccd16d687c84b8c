#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"

int fs_mkdir_p(const char *path, mode_t mode, struct thaw_err **err)
{
	if (!path[0])
		return err_set(err, ERR_INVALID, "cannot create a directory with an empty name");
	_cleanup_free_ char *copy = xstrdup(path);
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST)
			return err_sys(err, "creating %s", copy);
		*p = '/';
	}
	if (mkdir(copy, mode) < 0 && errno != EEXIST)
		return err_sys(err, "creating %s", copy);
	return 0;
}

static int rm_rf_at(int dirfd, const char *name, struct thaw_err **err);

static int rm_dir_contents(int fd, const char *name, struct thaw_err **err)
{
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return err_sys(err, "opening directory %s", name);
	}
	_cleanup_closedir_ DIR *dir = d;
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (rm_rf_at(dirfd(dir), de->d_name, err) < 0)
			return -1;
	}
	return 0;
}

static int rm_rf_at(int dirfd, const char *name, struct thaw_err **err)
{
	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return err_sys(err, "removing %s", name);
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : err_sys(err, "opening %s", name);
	if (rm_dir_contents(fd, name, err) < 0)
		return -1;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return err_sys(err, "removing directory %s", name);
	return 0;
}

int fs_rm_rf(const char *path, struct thaw_err **err)
{
	if (rm_rf_at(AT_FDCWD, path, err) < 0)
		return err_wrap(err, "removing %s", path);
	return 0;
}

int fs_fsync_dir(const char *dir, struct thaw_err **err)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "opening %s", dir);
	if (fsync(fd) < 0)
		return err_sys(err, "fsync %s", dir);
	return 0;
}

int fs_fsync_path(const char *path, struct thaw_err **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "opening %s", path);
	if (fsync(fd) < 0)
		return err_sys(err, "fsync %s", path);
	return 0;
}

int fs_pwrite_all(int fd, const void *data, size_t len, off_t off, struct thaw_err **err)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return err_sys(err, "writing at offset %lld", (long long)off);
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		    struct thaw_err **err)
{
	_cleanup_free_ char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	_cleanup_free_ char *dircopy = xstrdup(path);
	const char *dir = dirname(dircopy);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return err_sys(err, "creating %s", tmp);
	if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		err_sys(err, "writing %s", tmp);
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		err_sys(err, "renaming %s", tmp);
		unlink(tmp);
		return -1;
	}
	return fs_fsync_dir(dir, err);
}

int fs_read_file(const char *path, size_t max, char **out, size_t *out_len, struct thaw_err **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "opening %s", path);
	_cleanup_buf_ struct buf b = { 0 };
	for (;;) {
		buf_reserve(&b, 65536);
		ssize_t n = read(fd, b.data + b.len, b.cap - b.len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_sys(err, "reading %s", path);
		}
		if (n == 0)
			break;
		b.len += (size_t)n;
		if (b.len > max)
			return err_set(err, ERR_TOO_LARGE, "%s is larger than %zu bytes", path,
				       max);
	}
	*out = buf_steal(&b, out_len);
	return 0;
}

int fs_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

#define COPY_CHUNK (4u << 20)

int fs_copy_data(int src, int dst, uint64_t size, uint64_t *copied, struct thaw_err **err)
{
	_cleanup_free_ char *buf = xmalloc(COPY_CHUNK);
	off_t off = 0;
	*copied = 0;
	while ((uint64_t)off < size) {
		off_t data = lseek(src, off, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break; /* only a hole is left */
		off_t hole = data < 0 ? -1 : lseek(src, data, SEEK_HOLE);
		if (data < 0 || hole < 0)
			return err_sys(err, "finding the data of the file to copy");
		if ((uint64_t)hole > size)
			hole = (off_t)size;
		for (off_t pos = data; pos < hole;) {
			size_t want = (size_t)(hole - pos) < COPY_CHUNK ? (size_t)(hole - pos)
									: COPY_CHUNK;
			ssize_t n = pread(src, buf, want, pos);
			if (n <= 0)
				return n < 0 ? err_sys(err, "reading the file to copy")
					     : err_set(err, ERR_CORRUPT, "the file to copy shrank");
			if (fs_pwrite_all(dst, buf, (size_t)n, pos, err) < 0)
				return -1;
			pos += n;
			*copied += (uint64_t)n;
		}
		off = hole;
	}
	return 0;
}

long long fs_file_size(const char *path, struct thaw_err **err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return err_sys(err, "stat %s", path);
	return (long long)st.st_size;
}

int fs_is_mountpoint(const char *path)
{
	char real[4096];
	if (!realpath(path, real))
		return 0;
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return 0;
	char line[8192];
	while (fgets(line, sizeof(line), f)) {
		/* id parent major:minor root mountpoint ... */
		char mp[4096];
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && strcmp(mp, real) == 0)
			return 1;
	}
	return 0;
}

int fd_keep_high(int fd)
{
	if (fd < 0 || fd >= FD_HIGH_MIN)
		return fd;
	int high = fcntl(fd, F_DUPFD_CLOEXEC, FD_HIGH_MIN);
	if (high < 0)
		return fd;
	close(fd);
	return high;
}
