/* Per-sandbox disks: a copy-on-write clone of the template's root image.
 *
 * The store is the directory under the data dir where templates,
 * sandboxes and the build cache live. It must support reflinks (FICLONE),
 * which makes a clone constant-time whatever the image size. When the
 * data dir's file system cannot reflink (ext4), the store is an XFS image
 * on a loop device, created and mounted by thawd and remounted after a
 * reboot. Clone methods sit behind disk_ops so that another (a qcow2
 * overlay, say) is a new file. */
#ifndef THAW_DISK_H
#define THAW_DISK_H

#include <stdint.h>

#include "err.h"

struct disk_ops {
	const char *name;
	/* Creates dst as a copy-on-write clone of src; dst must not exist. */
	int (*clone)(const char *src, const char *dst, struct thaw_err **err);
};

extern const struct disk_ops disk_reflink_ops;

enum store_mode { STORE_AUTO, STORE_REFLINK, STORE_XFS_LOOP };

struct disk_store {
	char *root;  /* DATA/store */
	char *image; /* DATA/store.img when mode is xfs-loop */
	enum store_mode mode;
	const struct disk_ops *ops;
	/* MiB the image held beyond its XFS's use right after the last trim
	 * (its log and metadata); only the janitor's thread reads or writes
	 * it after open (disk_store_trim_freed). */
	uint64_t slack_mb_at_trim;
};

int store_mode_parse(const char *s, enum store_mode *out);
const char *store_mode_name(enum store_mode m);

/* Finds or sets up the store under data_dir. image_bytes sizes a new XFS
 * image (sparse). */
int disk_store_open(const char *data_dir, enum store_mode want, uint64_t image_bytes,
		    struct disk_store **out, struct thaw_err **err);
void disk_store_free(struct disk_store *s);

/* Free space below which new sandboxes, forks, pauses and snapshots are
 * refused: what is left is kept for the writes of running guests (one
 * whose write finds no room gets an I/O error, see vmm/qemu_argv.c). */
#define STORE_MIN_FREE_MB 512

/* The store's size and free space in MiB. For a loop-mounted image the
 * file system that holds the image counts too: the image is sparse, so
 * its XFS may believe it has room that the disk below no longer has (a
 * write there would fail as an I/O error inside the image); each figure
 * is the smaller of the two. -1 with errno if either cannot be read. */
int disk_store_space(const struct disk_store *s, uint64_t *total_mb, uint64_t *free_mb);

/* For a loop-mounted store: when the image holds at least 64 MiB more
 * than its XFS uses (deleted sandboxes, images, old builds, bake
 * leftovers), hands those blocks back to the disk below (FITRIM: the
 * loop device punches holes in the sparse image, which otherwise only
 * ever grows). Cheap when there is nothing to do (a statvfs and a stat);
 * a trim of a 64 GiB store took 60-90 ms. */
void disk_store_trim_freed(struct disk_store *s);

/* ERR_UNAVAILABLE, naming what (an operation), when the store has less
 * than STORE_MIN_FREE_MB + need_mb free (disk_store_space); need_mb is
 * what the operation itself will write, where it is known up front. */
int disk_store_check_room(const struct disk_store *s, uint64_t need_mb, const char *what,
			  struct thaw_err **err);

/* Unmounts the store (the loop device detaches itself). For teardown
 * only: every sandbox must be gone. */
int disk_store_unmount(const struct disk_store *s, struct thaw_err **err);

/* 1 if dir's file system can reflink, 0 if not, -1 on other errors. */
int disk_probe_reflink(const char *dir, struct thaw_err **err);

#endif
