#include "netns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "fsutil.h"
#include "log.h"

/* Like iproute2: make the run dir a shared mount point so a namespace
 * mounted later shows up in every mount namespace. */
static int prepare_run_dir(struct thaw_err **err)
{
	static int done;
	if (__atomic_load_n(&done, __ATOMIC_ACQUIRE))
		return 0;
	if (mkdir(NETNS_RUN_DIR, 0755) < 0 && errno != EEXIST)
		return err_sys(err, "creating " NETNS_RUN_DIR);
	if (mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) < 0) {
		if (errno != EINVAL)
			return err_sys(err, "making " NETNS_RUN_DIR " shared");
		if (mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL) < 0 ||
		    mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) < 0)
			return err_sys(err, "bind-mounting " NETNS_RUN_DIR);
	}
	__atomic_store_n(&done, 1, __ATOMIC_RELEASE);
	return 0;
}

int netns_enter(int ns_fd, int *saved, struct thaw_err **err)
{
	int old = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (old < 0)
		return err_sys(err, "opening current network namespace");
	if (setns(ns_fd, CLONE_NEWNET) < 0) {
		err_sys(err, "entering network namespace");
		close(old);
		return -1;
	}
	*saved = old;
	return 0;
}

void netns_leave(int saved)
{
	if (setns(saved, CLONE_NEWNET) < 0) {
		log_error("netns.leave", "errno=%d", errno);
		abort();
	}
	close(saved);
}

int netns_create(const char *name, int *out_fd, struct thaw_err **err)
{
	if (prepare_run_dir(err) < 0)
		return -1;
	_cleanup_free_ char *path = xasprintf(NETNS_RUN_DIR "/%s", name);
	int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0)
		return err_sys(err, "creating %s", path);
	close(fd);
	_cleanup_close_ int old = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (old < 0) {
		unlink(path);
		return err_sys(err, "opening current network namespace");
	}
	/* unshare() moves only this thread; it comes back right after the
	 * new namespace is pinned by the bind mount. */
	if (unshare(CLONE_NEWNET) < 0) {
		err_sys(err, "unshare(CLONE_NEWNET)");
		unlink(path);
		return -1;
	}
	int rc = mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL);
	int saved_errno = errno;
	if (setns(old, CLONE_NEWNET) < 0) {
		log_error("netns.create", "cannot return to host namespace errno=%d", errno);
		abort();
	}
	if (rc < 0) {
		errno = saved_errno;
		err_sys(err, "bind-mounting %s", path);
		unlink(path);
		return -1;
	}
	return netns_open(name, out_fd, err);
}

int netns_open(const char *name, int *out_fd, struct thaw_err **err)
{
	_cleanup_free_ char *path = xasprintf(NETNS_RUN_DIR "/%s", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "opening %s", path);
	*out_fd = fd_keep_high(fd); /* held as long as the slot */
	return 0;
}

int netns_delete(const char *name, struct thaw_err **err)
{
	_cleanup_free_ char *path = xasprintf(NETNS_RUN_DIR "/%s", name);
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return err_sys(err, "unmounting %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return err_sys(err, "removing %s", path);
	return 0;
}

int netns_list(const char *prefix, void (*cb)(const char *name, void *ud), void *ud)
{
	_cleanup_closedir_ DIR *d = opendir(NETNS_RUN_DIR);
	if (!d)
		return 0;
	struct dirent *de;
	size_t plen = strlen(prefix);
	while ((de = readdir(d)))
		if (strncmp(de->d_name, prefix, plen) == 0)
			cb(de->d_name, ud);
	return 0;
}
