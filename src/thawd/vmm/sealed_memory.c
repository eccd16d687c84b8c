#include "vmm/sealed_memory.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "fsutil.h"

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
	if (fs_copy_data(src, fd, (uint64_t)st.st_size, copied, err) < 0)
		return err_wrap(err, "copying %s", path);
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return err_sys(err, "sealing the memory of %s", path);
	*out = steal_fd(&fd);
	return 0;
}
