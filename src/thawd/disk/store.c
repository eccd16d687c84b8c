#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "disk.h"
#include "fsutil.h"
#include "log.h"
#include "proc.h"
#include "timeutil.h"

static const char *const mode_names[] = { "auto", "reflink", "xfs-loop" };

int store_mode_parse(const char *s, enum store_mode *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(mode_names); i++) {
		if (strcmp(s, mode_names[i]) == 0) {
			*out = (enum store_mode)i;
			return 0;
		}
	}
	return -1;
}

const char *store_mode_name(enum store_mode m)
{
	return mode_names[m];
}

int disk_probe_reflink(const char *dir, struct thaw_err **err)
{
	_cleanup_free_ char *a = xasprintf("%s/.reflink-probe-a", dir);
	_cleanup_free_ char *b = xasprintf("%s/.reflink-probe-b", dir);
	unlink(a);
	unlink(b);
	_cleanup_close_ int fa = open(a, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fa < 0)
		return err_sys(err, "creating %s", a);
	char block[4096] = { 1 };
	int ok = write(fa, block, sizeof(block)) == (ssize_t)sizeof(block);
	_cleanup_close_ int fb = open(b, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int rc = (ok && fb >= 0 && ioctl(fb, FICLONE, fa) == 0) ? 1 : 0;
	unlink(a);
	unlink(b);
	return rc;
}

static int image_is_xfs(const char *image)
{
	_cleanup_close_ int fd = open(image, O_RDONLY | O_CLOEXEC);
	char magic[4];
	return fd >= 0 && read(fd, magic, 4) == 4 && memcmp(magic, "XFSB", 4) == 0;
}

static int create_image(const char *image, uint64_t bytes, struct thaw_err **err)
{
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", image);
	_cleanup_close_ int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_sys(err, "creating %s", tmp);
	if (ftruncate(fd, (off_t)bytes) < 0)
		return err_sys(err, "sizing %s", tmp);
	const char *argv[] = { "mkfs.xfs", "-q", "-m", "reflink=1", "-L", "thaw-store", tmp, NULL };
	if (proc_run(argv, NULL, NULL, NULL, err) < 0)
		return err_wrap(err, "formatting the store image");
	if (fsync(fd) < 0 || rename(tmp, image) < 0)
		return err_sys(err, "publishing %s", image);
	return 0;
}

/* Attaches image to a free loop device that detaches itself when
 * unmounted (LO_FLAGS_AUTOCLEAR), so an unmount leaves nothing behind.
 * AUTOCLEAR also fires on the last close of an unmounted device: the
 * caller keeps *out_fd open until the mount holds the device. */
static int loop_attach(const char *image, char *dev, size_t devsize, int *out_fd,
		       struct thaw_err **err)
{
	_cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return err_sys(err, "opening /dev/loop-control");
	_cleanup_close_ int backing = open(image, O_RDWR | O_CLOEXEC);
	if (backing < 0)
		return err_sys(err, "opening %s", image);
	for (int attempt = 0; attempt < 16; attempt++) {
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			return err_sys(err, "finding a free loop device");
		snprintf(dev, devsize, "/dev/loop%d", n);
		if (access(dev, F_OK) < 0)
			mknod(dev, S_IFBLK | 0660, makedev(7, (unsigned)n));
		_cleanup_close_ int lfd = open(dev, O_RDWR | O_CLOEXEC);
		if (lfd < 0)
			return err_sys(err, "opening %s", dev);
		struct loop_config cfg;
		memset(&cfg, 0, sizeof(cfg));
		cfg.fd = (unsigned)backing;
		/* Direct I/O: the image's blocks are cached once (in the XFS
		 * page cache above), not twice, and an fsync of a sandbox
		 * image costs what the disk costs (measured: 128 MiB durable
		 * in ~50 ms with it, ~300 ms without). The kernel falls back
		 * to buffered I/O where the backing file cannot do it. */
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO;
		snprintf((char *)cfg.info.lo_file_name, LO_NAME_SIZE, "%s", image);
		if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0) {
			*out_fd = steal_fd(&lfd);
			return 0;
		}
		if (errno != EBUSY)
			return err_sys(err, "configuring %s", dev);
	}
	return err_set(err, ERR_UNAVAILABLE, "no free loop device for %s", image);
}

static int mount_xfs_store(struct disk_store *s, uint64_t bytes, struct thaw_err **err)
{
	if (!image_is_xfs(s->image)) {
		log_notice("store.create", "image=%s bytes=%llu", s->image,
			   (unsigned long long)bytes);
		if (create_image(s->image, bytes, err) < 0)
			return -1;
	}
	char dev[32];
	_cleanup_close_ int lfd = -1; /* closing it unmounted detaches the device */
	if (loop_attach(s->image, dev, sizeof(dev), &lfd, err) < 0)
		return -1;
	/* No online discard: XFS frees a deleted file's blocks in the
	 * background and discards them at a later log commit, up to ~30 s
	 * after; the janitor's trim (disk_store_trim_freed) gives them
	 * back within seconds, in one batch. */
	if (mount(dev, s->root, "xfs", MS_NOATIME, NULL) < 0)
		return err_sys(err, "mounting %s on %s", dev, s->root);
	log_notice("store.mounted", "image=%s dev=%s root=%s", s->image, dev, s->root);
	return 0;
}

/* A store mounted by an older thawd may have a loop device without
 * direct I/O: switch it on (best effort, as at attach). */
static void loop_dio_on(const char *image)
{
	_cleanup_closedir_ DIR *d = opendir("/sys/block");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, "loop", 4) != 0)
			continue;
		char path[300], backing[PATH_MAX];
		snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", de->d_name);
		_cleanup_fclose_ FILE *f = fopen(path, "re");
		if (!f || !fgets(backing, sizeof(backing), f))
			continue;
		backing[strcspn(backing, "\n")] = '\0';
		if (strcmp(backing, image) != 0)
			continue;
		snprintf(path, sizeof(path), "/dev/%s", de->d_name);
		_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && ioctl(fd, LOOP_SET_DIRECT_IO, 1UL) < 0)
			log_info("store.dio", "dev=%s errno=%d", path, errno);
	}
}

static int choose_mode(struct disk_store *s, enum store_mode want, uint64_t bytes,
		       struct thaw_err **err)
{
	if (fs_is_mountpoint(s->root) || fs_exists(s->image)) {
		s->mode = STORE_XFS_LOOP;
		if (!fs_is_mountpoint(s->root))
			return mount_xfs_store(s, bytes, err);
		loop_dio_on(s->image);
		return 0;
	}
	int native = disk_probe_reflink(s->root, err);
	if (native < 0)
		return -1;
	if (native && want != STORE_XFS_LOOP) {
		s->mode = STORE_REFLINK;
		return 0;
	}
	if (want == STORE_REFLINK)
		return err_set(err, ERR_UNAVAILABLE,
			       "%s cannot reflink and --store=reflink was asked for", s->root);
	s->mode = STORE_XFS_LOOP;
	return mount_xfs_store(s, bytes, err);
}

/* What the image holds on the disk below beyond what its XFS uses: blocks
 * freed inside but still allocated in the sparse file (and the log and
 * metadata, a constant the last trim measured). */
static int store_slack_mb(const struct disk_store *s, uint64_t *out)
{
	struct statvfs v;
	struct stat st;
	if (statvfs(s->root, &v) < 0 || stat(s->image, &st) < 0)
		return -1;
	uint64_t used = ((uint64_t)(v.f_blocks - v.f_bfree) * v.f_frsize) >> 20;
	uint64_t held = ((uint64_t)st.st_blocks * 512) >> 20;
	*out = held > used ? held - used : 0;
	return 0;
}

/* Gives the disk below a loop-mounted store every block its XFS holds
 * free (FITRIM). Not at open: the janitor's first round (slack_mb_at_trim
 * starts at 0) trims what was deleted while no thawd trimmed (an older
 * one, a crash), off the start-up path. */
static void store_trim(struct disk_store *s)
{
	uint64_t before = 0;
	if (s->mode != STORE_XFS_LOOP || store_slack_mb(s, &before) < 0)
		return;
	uint64_t t0 = time_mono_ns();
	_cleanup_close_ int fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct fstrim_range range = { .start = 0, .len = UINT64_MAX, .minlen = 0 };
	if (fd < 0 || ioctl(fd, FITRIM, &range) < 0) {
		log_info("store.trim_failed", "root=%s errno=%d", s->root, errno);
		return;
	}
	if (store_slack_mb(s, &s->slack_mb_at_trim) < 0)
		s->slack_mb_at_trim = before;
	log_info("store.trimmed", "root=%s given_back_mb=%llu ms=%.1f", s->root,
		 (unsigned long long)(before > s->slack_mb_at_trim ? before - s->slack_mb_at_trim
								    : 0),
		 ns_to_ms(time_mono_ns() - t0));
}

#define TRIM_AFTER_MB 64

void disk_store_trim_freed(struct disk_store *s)
{
	uint64_t slack;
	if (s->mode == STORE_XFS_LOOP && store_slack_mb(s, &slack) == 0 &&
	    slack >= s->slack_mb_at_trim + TRIM_AFTER_MB)
		store_trim(s);
}

int disk_store_open(const char *data_dir, enum store_mode want, uint64_t image_bytes,
		    struct disk_store **out, struct thaw_err **err)
{
	struct disk_store *s = xcalloc(1, sizeof(*s));
	s->root = xasprintf("%s/store", data_dir);
	s->image = xasprintf("%s/store.img", data_dir);
	s->ops = &disk_reflink_ops;
	if (fs_mkdir_p(s->root, 0700, err) < 0 || choose_mode(s, want, image_bytes, err) < 0) {
		disk_store_free(s);
		return err_wrap(err, "setting up the store in %s", data_dir);
	}
	if (disk_probe_reflink(s->root, err) != 1) {
		disk_store_free(s);
		return err_set(err, ERR_UNAVAILABLE, "the store at %s/store cannot reflink",
			       data_dir);
	}
	*out = s;
	return 0;
}

void disk_store_free(struct disk_store *s)
{
	if (!s)
		return;
	free(s->root);
	free(s->image);
	free(s);
}

int disk_store_unmount(const struct disk_store *s, struct thaw_err **err)
{
	if (s->mode != STORE_XFS_LOOP || !fs_is_mountpoint(s->root))
		return 0;
	if (umount2(s->root, 0) < 0)
		return err_sys(err, "unmounting %s", s->root);
	return 0;
}

static int space_of(const char *path, uint64_t *total_mb, uint64_t *free_mb)
{
	struct statvfs v;
	if (statvfs(path, &v) < 0)
		return -1;
	*total_mb = ((uint64_t)v.f_blocks * v.f_frsize) >> 20;
	*free_mb = ((uint64_t)v.f_bavail * v.f_frsize) >> 20;
	return 0;
}

int disk_store_space(const struct disk_store *s, uint64_t *total_mb, uint64_t *free_mb)
{
	if (space_of(s->root, total_mb, free_mb) < 0)
		return -1;
	if (s->mode != STORE_XFS_LOOP)
		return 0;
	/* The image's own blocks are in the disk's "used": the room the
	 * store can still grow into is the disk's free space. */
	_cleanup_free_ char *dir = xstrdup(s->image);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	uint64_t disk_total, disk_free;
	if (space_of(slash ? dir : ".", &disk_total, &disk_free) < 0)
		return -1;
	if (disk_total < *total_mb)
		*total_mb = disk_total;
	if (disk_free < *free_mb)
		*free_mb = disk_free;
	return 0;
}

int disk_store_check_room(const struct disk_store *s, uint64_t need_mb, const char *what,
			  struct thaw_err **err)
{
	uint64_t total_mb, free_mb;
	if (disk_store_space(s, &total_mb, &free_mb) < 0)
		return err_sys(err, "reading the free space of %s", s->root);
	if (free_mb >= STORE_MIN_FREE_MB + need_mb)
		return 0;
	if (need_mb)
		return err_set(err, ERR_UNAVAILABLE,
			       "the store is full (%llu MiB free; %llu MiB needed and %d MiB kept "
			       "for running sandboxes): cannot %s",
			       (unsigned long long)free_mb, (unsigned long long)need_mb,
			       STORE_MIN_FREE_MB, what);
	return err_set(err, ERR_UNAVAILABLE,
		       "the store is full (%llu MiB free, %d MiB kept for running sandboxes): "
		       "cannot %s",
		       (unsigned long long)free_mb, STORE_MIN_FREE_MB, what);
}
