/* Capturing a running sandbox: its memory, device state and disk at one
 * instant, into a build directory (template/build.h). Fork, pause and
 * snapshot are this plus what they do with the result.
 *
 * capture_take stops the guest (QEMU drains and flushes its disk I/O)
 * and writes, while it is stopped: the device state (~13 KB), the memory
 * (a reflink clone of the file the VMM maps plus the pages the guest
 * wrote, vmm/memcapture.h) and the disk (a reflink clone). The guest is
 * left stopped; the caller lets it run on (vmm_driver.cont) or ends it.
 * capture_describe then writes meta.json, with the checksums and fsyncs
 * the use asks for, after the guest runs again.
 *
 * A sandbox of a streamed build (remote/) runs over memory and a disk
 * base that are in the object store; its captures are complete local
 * builds all the same: the memory is cloned from the build's local copy
 * (remote_build_local_copies, made by the first capture before the guest
 * stops), and the disk is the clone of the sandbox's qcow2 overlay,
 * flattened onto the local copy of the base by capture_describe. */
#ifndef THAW_CAPTURE_H
#define THAW_CAPTURE_H

#include <stdbool.h>

#include "core/host.h"
#include "template/build.h"

struct sandbox;

struct capture_req {
	struct sandbox *sb;	    /* running; the caller holds its op lock */
	const struct template *src; /* the build whose memory file the VMM maps */
	const char *dir;	    /* an existing empty directory to fill */
	enum meta_source source;
	const char *build_id; /* the new build's (or image's) id */
	const char *name;     /* the template it will belong to */
	/* Template builds carry a kernel and initrd (cold boot needs them):
	 * cloned from this build, the sandbox's template build. NULL for
	 * images. */
	const struct template *kernel_from;
};

/* Where capture_take leaves a streamed build's sandbox's disk overlay. */
#define CAPTURE_OVERLAY_FILE "rootfs.overlay"

struct capture_times {
	double state_ms, memory_ms, disk_ms, stopped_ms; /* stopped_ms: all of take */
	uint64_t dirty_pages;
	uint64_t resident_pages; /* its working set, listed for prefetch (vmm/prefetch.h) */
};

int capture_take(struct host *h, const struct capture_req *req, struct capture_times *t,
		 struct thaw_err **err);

/* hash: checksum memory and disk too (template builds; seconds for
 * large files). sync: fsync every file (pause, snapshot). */
int capture_describe(struct host *h, const struct capture_req *req, const struct capture_times *t,
		     bool hash, bool sync, struct template_meta *m,
		     char meta_sha256[SHA256_HEX_LEN + 1], struct thaw_err **err);

/* The whole of it for an image (fork, pause): stops sb, captures it into
 * a new image under STORE/images (pinned: the caller unpins it once a
 * row names it), describes and publishes it; sync makes every file
 * durable first. With run_on the guest runs again right after the take,
 * whatever happens next; without it the guest stays stopped. On failure
 * nothing of the image is left. */
int capture_image(struct host *h, struct sandbox *sb, enum meta_source source, bool run_on,
		  bool sync, char image[48], struct capture_times *t, struct thaw_err **err);

#endif
