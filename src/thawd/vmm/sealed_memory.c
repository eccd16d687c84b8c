#include "vmm/sealed_memory.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"

#define CHUNK (4u << 20)

static int copy_data(int src, int dst, uint64_t size, uint64_t *copied, struct thaw_err **err)
{
	_cleanup_free_ char *buf = xmalloc(CHUNK);
	off_t off = 0;
	*copied = 0;
	while ((uint64_t)off < size) {
		off_t data = lseek(src, off, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break; /* only a hole is left */
		off_t hole = data < 0 ? -1 : lseek(src, data, SEEK_HOLE);
		if (data < 0 || hole < 0)
			return err_sys(err, "finding the data of the memory file");
		for (off_t pos = data; pos < hole;) {
			size_t want = (size_t)(hole - pos) < CHUNK ? (size_t)(hole - pos) : CHUNK;
			ssize_t n = pread(src, buf, want, pos);
			if (n <= 0)
				return n < 0 ? err_sys(err, "reading the memory file")
					     : err_set(err, ERR_CORRUPT, "memory file shrank");
			if (pwrite(dst, buf, (size_t)n, pos) != n)
				return err_sys(err, "filling the sealed memory");
			pos += n;
			*copied += (uint64_t)n;
		}
		off = hole;
	}
	return 0;
}

int sealed_memory_from_file(const char *path, const char *name, int *out, uint64_t *copied,
			    struct thaw_err **err)
{
	_cleanup_close_ int src = open(path, O_RDONLY | O_CLOEXEC);
	if (src < 0)
		return err_sys(err, "opening %s", path);
	struct stat st;
	if (fstat(src, &st) < 0)
		return err_sys(err, "stat %s", path);
	_cleanup_close_ int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return err_sys(err, "creating the sealed memory of %s", path);
	if (ftruncate(fd, st.st_size) < 0)
		return err_sys(err, "sizing the sealed memory of %s", path);
	if (copy_data(src, fd, (uint64_t)st.st_size, copied, err) < 0)
		return err_wrap(err, "copying %s", path);
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return err_sys(err, "sealing the memory of %s", path);
	*out = steal_fd(&fd);
	return 0;
}
