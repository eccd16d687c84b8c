/* Local copies of a streamed build's memory and disk, for the captures
 * of its sandboxes (pause, fork, snapshot).
 *
 * An image is a complete local build: its memory file is mapped whole by
 * the VMMs that restore it, its disk is cloned per sandbox. A sandbox of
 * a streamed build runs over files that are not here, so the first
 * capture of one makes DIR/memory.local and DIR/rootfs.local, reading
 * only the data windows through the lazy layer (which answers SEEK_DATA
 * from the manifest, and fetches what this host lacks once); every later
 * capture clones them (a reflink). A copy appears whole or not at all: it
 * is written as an unnamed file and linked in once synced. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "core/host.h"
#include "fsutil.h"
#include "log.h"
#include "remote/remote.h"
#include "template/build.h"
#include "timeutil.h"

static int make_copy(const char *from, const char *dir, const char *to, uint64_t size,
		     struct thaw_err **err)
{
	uint64_t t0 = time_mono_ns(), copied = 0;
	_cleanup_close_ int src = open(from, O_RDONLY | O_CLOEXEC);
	if (src < 0)
		return err_sys(err, "opening %s", from);
	_cleanup_close_ int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_sys(err, "creating a file in %s", dir);
	if (ftruncate(fd, (off_t)size) < 0)
		return err_sys(err, "sizing the copy of %s", from);
	if (fs_copy_data(src, fd, size, &copied, err) < 0 || fsync(fd) < 0)
		return err_wrap(err, "copying %s", from);
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	/* Another capture may have made it meanwhile: the same bytes. */
	if (linkat(AT_FDCWD, proc, AT_FDCWD, to, AT_SYMLINK_FOLLOW) < 0 && errno != EEXIST)
		return err_sys(err, "linking %s", to);
	if (fs_fsync_dir(dir, err) < 0)
		return -1;
	log_info("remote.local_copy", "file=%s bytes=%llu ms=%.0f", to,
		 (unsigned long long)copied, ns_to_ms(time_mono_ns() - t0));
	return 0;
}

static int ensure_copy(const char *from, const struct template *t, enum meta_file_role role,
		       char **out, struct thaw_err **err)
{
	uint64_t size = t->meta.files[role].size;
	_cleanup_free_ char *to =
		xasprintf("%s/%s", t->dir, role == MF_MEMORY ? "memory.local" : "rootfs.local");
	struct stat st;
	if (stat(to, &st) == 0 && (uint64_t)st.st_size == size) {
		*out = steal_pointer(&to);
		return 0;
	}
	unlink(to); /* the wrong size: not one this code wrote */
	if (make_copy(from, t->dir, to, size, err) < 0)
		return err_wrap(err, "the local %s of %s/%s", meta_file_role_name(role), t->name,
				t->build_id);
	*out = steal_pointer(&to);
	return 0;
}

int remote_build_local_copies(struct host *h, const struct template *t, char **memory,
			      char **rootfs, struct thaw_err **err)
{
	*memory = *rootfs = NULL;
	_cleanup_free_ char *lazy_memory = NULL, *lazy_rootfs = NULL;
	if (remote_build_paths(h, t, &lazy_memory, &lazy_rootfs, err) < 0)
		return -1;
	if (ensure_copy(lazy_memory, t, MF_MEMORY, memory, err) < 0)
		return -1;
	if (ensure_copy(lazy_rootfs, t, MF_ROOTFS, rootfs, err) < 0) {
		free(*memory);
		*memory = NULL;
		return -1;
	}
	return 0;
}
