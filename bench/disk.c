/* thaw-bench-disk: the disk stage of a create, for a 1 GiB and a 16 GiB
 * template image in the same run. Both are made the way templates are:
 * a sparse file formatted with mkfs.ext4 -d (inode tables written, no lazy
 * init) holding the same 256 MiB of files, so they differ in size and not
 * in content. A reflink costs per extent, not per byte: what a bigger
 * template adds is the bigger file system's metadata. Clones use thawd's
 * clone op (reflink).
 *
 *   thaw-bench-disk [DIR [N]]   DIR: a directory on a reflink-capable file
 *   system (default /var/lib/thaw/store, thawd's store), N clones per size */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "disk/disk.h"
#include "fsutil.h"
#include "ids.h"
#include "proc.h"
#include "timeutil.h"

#include "percentile.h"

static double pct(double *v, int n, int p)
{
	return percentile(v, (size_t)n, (unsigned)p);
}

/* 256 MiB of incompressible files: the same content for every size. */
static int make_tree(const char *tree)
{
	if (fs_mkdir_p(tree, 0755, NULL) < 0)
		return -1;
	char *chunk = xmalloc(4u << 20);
	random_bytes(chunk, 4u << 20);
	int rc = 0;
	for (int i = 0; i < 64 && rc == 0; i++) {
		char *p = xasprintf("%s/file-%02d", tree, i);
		chunk[0] = (char)i;
		struct thaw_err *err = NULL;
		rc = fs_write_atomic(p, chunk, 4u << 20, 0644, &err);
		err_free(err);
		free(p);
	}
	free(chunk);
	return rc;
}

static int make_image(const char *path, const char *tree, uint64_t bytes)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)bytes) < 0)
		return -1;
	close(fd);
	const char *argv[] = { "mkfs.ext4",
			       "-q",
			       "-F",
			       "-E",
			       "lazy_itable_init=0,lazy_journal_init=0,packed_meta_blocks=1",
			       "-d",
			       tree,
			       path,
			       NULL };
	struct thaw_err *err = NULL;
	int rc = proc_run(argv, NULL, NULL, NULL, &err);
	if (rc < 0)
		fprintf(stderr, "thaw-bench-disk: %s\n", err_msg(err));
	err_free(err);
	return rc;
}

static void measure(const char *dir, const char *tree, const char *name, uint64_t bytes, int n,
		    double *out)
{
	char *base = xasprintf("%s/%s.img", dir, name);
	fprintf(stderr, "preparing %s (%llu GiB)...\n", base, (unsigned long long)(bytes >> 30));
	if (make_image(base, tree, bytes) < 0) {
		fprintf(stderr, "thaw-bench-disk: cannot write %s: %s\n", base, strerror(errno));
		exit(1);
	}
	for (int i = 0; i < n; i++) {
		char *clone = xasprintf("%s/%s-clone-%d.img", dir, name, i);
		struct thaw_err *err = NULL;
		uint64_t t0 = time_mono_ns();
		if (disk_reflink_ops.clone(base, clone, &err) < 0) {
			fprintf(stderr, "thaw-bench-disk: %s\n", err_msg(err));
			exit(1);
		}
		out[i] = ns_to_ms(time_mono_ns() - t0);
		unlink(clone);
		free(clone);
	}
	unlink(base);
	free(base);
}

int main(int argc, char **argv)
{
	const char *store = argc > 1 ? argv[1] : "/var/lib/thaw/store";
	int n = argc > 2 ? atoi(argv[2]) : 30;
	if (n < 1 || n > 10000) {
		fprintf(stderr, "usage: thaw-bench-disk [DIR [N]]\n");
		return 2;
	}
	struct thaw_err *err = NULL;
	if (disk_probe_reflink(store, &err) != 1) {
		fprintf(stderr,
			"thaw-bench-disk: %s cannot reflink (%s); run thawd once so that it "
			"sets up its store, or name a directory on XFS or btrfs\n",
			store, err ? err_msg(err) : "FICLONE refused");
		return 1;
	}
	char *dir = xasprintf("%s/.bench-disk-%d", store, (int)getpid());
	if (fs_mkdir_p(dir, 0700, &err) < 0)
		return 1;
	double *small = xcalloc((size_t)n, sizeof(double)),
	       *big = xcalloc((size_t)n, sizeof(double));
	char *tree = xasprintf("%s/tree", dir);
	if (make_tree(tree) < 0) {
		fprintf(stderr, "thaw-bench-disk: cannot write %s\n", tree);
		return 1;
	}
	measure(dir, tree, "1g", 1ull << 30, n, small);
	measure(dir, tree, "16g", 16ull << 30, n, big);
	free(tree);
	fs_rm_rf(dir, NULL);
	double s50 = pct(small, n, 50), b50 = pct(big, n, 50);
	printf("== disk clone benchmark (reflink, %s)\n\n", store);
	printf("%-34s %5s %9s %9s %9s\n", "milliseconds", "n", "p50", "p90", "p99");
	printf("%-34s %5d %9.3f %9.3f %9.3f\n", "clone of a 1 GiB image", n, s50, pct(small, n, 90),
	       pct(small, n, 99));
	printf("%-34s %5d %9.3f %9.3f %9.3f\n", "clone of a 16 GiB image", n, b50, pct(big, n, 90),
	       pct(big, n, 99));
	double ratio = b50 > s50 ? b50 / s50 : s50 / b50;
	printf("\nratio of p50s: %.2f\ntargets: both p50 <= 5 ms: %s; within 2x: %s\n", ratio,
	       s50 <= 5 && b50 <= 5 ? "PASS" : "FAIL", ratio <= 2 ? "PASS" : "FAIL");
	return 0;
}
