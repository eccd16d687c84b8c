/* A build directory: meta.json plus the artifacts it describes
 * (memory.bin, state.bin, rootfs.img, vmlinuz, initrd.img). Template
 * builds (a bake, or a snapshot of a sandbox) and sandbox images (a fork
 * or a pause) share this layout, and restore from either is one code
 * path (core/launch.c).
 *
 * Loading verifies meta.json against the checksum the database holds,
 * every artifact's size, and the contents of the small ones; a big file
 * is hashed again only when its ctime moved since it was written. */
#ifndef THAW_BUILD_H
#define THAW_BUILD_H

#include <stdbool.h>
#include <sys/stat.h>

#include "err.h"
#include "meta.h"

struct template
{
	char name[64];
	char build_id[48];
	char *dir;
	char *paths[MF_COUNT];
	struct template_meta meta;
	int refs; /* guarded by the owner's lock (the catalog's, or 1 and unshared) */
	/* The sealed copy of the guest memory the VMMs map (-1 until the
	 * first launch makes it: core/launch.c); closed by build_free. */
	int memory_fd;
	/* Imported from the object store (remote/): memory.bin and
	 * rootfs.img lead to the lazy layer, which checks every window it
	 * serves against the manifest; they are not verified here. */
	bool streamed;
	/* A streamed template a create has used: the janitor gives it a
	 * sealed copy of its memory (launch_promote_streamed), guarded like
	 * memory_fd. */
	bool promote_wanted;
};

/* An imported build keeps its manifest in its directory. */
#define BUILD_MANIFEST_FILE "manifest.json"
/* The empty qcow2 overlay each sandbox of a streamed build starts from. */
#define BUILD_OVERLAY_FILE "overlay.qcow2"
bool build_dir_streamed(const char *dir);

/* What a file looked like when it was verified; a change means verify
 * again. ctime cannot be set from user space, unlike mtime. */
struct file_sig {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec ctime;
};

struct build_sigs {
	struct file_sig meta, files[MF_COUNT];
};

/* Loads and verifies the build in dir. expect_name (NULL: any) and
 * expect_build must match meta.json. ERR_CORRUPT on any mismatch. The
 * result has refs = 1. */
int build_load(const char *dir, const char *expect_name, const char *expect_build,
	       const char *meta_sha256, struct template **out, struct build_sigs *sigs,
	       struct thaw_err **err);
/* Whether no file changed since build_load recorded sigs. */
bool build_unchanged(const struct template *t, const struct build_sigs *sigs);
/* What meta.json and every artifact of the build in dir look like now
 * (zero for a file that is missing), and whether two such looks agree. */
void build_stat(const char *dir, struct build_sigs *out);
bool build_sigs_equal(const struct build_sigs *a, const struct build_sigs *b);
void build_free(struct template *t);

/* Writes meta.json into dir (atomically) and returns its checksum. */
int build_write_meta(const char *dir, const struct template_meta *m,
		     char sha256_out[SHA256_HEX_LEN + 1], struct thaw_err **err);

/* Fills m->files[role] from the file in dir: size, ctime and, when
 * hash, its SHA-256 (else ""). With sync it is fsynced first. */
int build_describe_file(const char *dir, enum meta_file_role role, bool hash, bool sync,
			struct template_meta *m, struct thaw_err **err);

#endif
