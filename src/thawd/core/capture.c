#include "core/capture.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "core/images.h"
#include "core/sandbox.h"
#include "disk/overlay.h"
#include "failpoint.h"
#include "fsutil.h"
#include "log.h"
#include "remote/remote.h"
#include "template/catalog.h"
#include "timeutil.h"
#include "vmm/memcapture.h"
#include "vmm/prefetch.h"

static char *path_in(const char *dir, enum meta_file_role role)
{
	return xasprintf("%s/%s", dir, meta_file_name(role));
}

/* What a capture of a streamed build's sandbox copies: the memory and
 * disk it ran over are in the object store, so a capture starts from the
 * build's local copies (remote_build_local_copies), made by the first
 * capture while the guest still runs. */
struct capture_bases {
	char *memory, *disk; /* NULL: the build's own files */
};

static void capture_bases_free(struct capture_bases *b)
{
	free(b->memory);
	free(b->disk);
}

static int take_memory(struct host *h, const struct capture_req *req, const char *base,
		       struct capture_times *t, struct thaw_err **err)
{
	_cleanup_free_ char *dst = path_in(req->dir, MF_MEMORY);
	if (h->store->ops->clone(base, dst, err) < 0)
		return -1;
	_cleanup_close_ int fd = open(dst, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "opening %s", dst);
	struct mem_capture_stats st;
	uint64_t size = (uint64_t)req->src->meta.memory_mb << 20;
	struct page_runs resident = { 0 };
	_cleanup_free_ char *list = xasprintf("%s/%s", req->dir, PREFETCH_FILE);
	int rc = mem_capture_dirty(req->sb->vmm->pid, size, fd, &resident, &st, err);
	if (rc == 0)
		rc = prefetch_save(list, &resident, err);
	page_runs_free(&resident);
	t->dirty_pages = st.dirty;
	t->resident_pages = st.resident;
	return rc;
}

int capture_take(struct host *h, const struct capture_req *req, struct capture_times *t,
		 struct thaw_err **err)
{
	memset(t, 0, sizeof(*t));
	struct capture_bases bases = { 0 };
	if (req->src->streamed &&
	    remote_build_local_copies(h, req->src, &bases.memory, &bases.disk, err) < 0)
		return err_wrap(err, "capturing sandbox %s", req->sb->id);
	uint64_t t0 = time_mono_ns();
	_cleanup_free_ char *state = path_in(req->dir, MF_STATE);
	/* A streamed build's sandbox writes into a qcow2 overlay: its clone
	 * is flattened onto the disk's local copy once the guest runs again
	 * (capture_describe). */
	_cleanup_free_ char *disk =
		req->src->streamed ? xasprintf("%s/%s", req->dir, CAPTURE_OVERLAY_FILE)
				   : path_in(req->dir, MF_ROOTFS);
	_cleanup_free_ char *live_disk = xasprintf("%s/rootfs.img", req->sb->dir);
	int rc = h->drv->save_state(req->sb->vmm, state, err);
	uint64_t t1 = time_mono_ns();
	if (rc == 0)
		rc = take_memory(h, req, bases.memory ? bases.memory : req->src->paths[MF_MEMORY], t,
				 err);
	uint64_t t2 = time_mono_ns();
	if (rc == 0)
		rc = h->store->ops->clone(live_disk, disk, err);
	uint64_t t3 = time_mono_ns();
	capture_bases_free(&bases);
	if (rc < 0)
		return err_wrap(err, "capturing sandbox %s", req->sb->id);
	t->state_ms = ns_to_ms(t1 - t0);
	t->memory_ms = ns_to_ms(t2 - t1);
	t->disk_ms = ns_to_ms(t3 - t2);
	t->stopped_ms = ns_to_ms(t3 - t0);
	/* The kernel is not part of the instant: it never changes. */
	for (int r = MF_KERNEL; req->kernel_from && r <= MF_INITRD; r++) {
		if (!req->kernel_from->meta.files[r].size)
			continue; /* no initrd (thaw's kernel) */
		_cleanup_free_ char *dst = path_in(req->dir, (enum meta_file_role)r);
		if (h->store->ops->clone(req->kernel_from->paths[r], dst, err) < 0)
			return -1;
	}
	return 0;
}

/* The disk of a streamed build's sandbox, as a raw disk like any image's:
 * the build's local copy of its disk plus what the overlay clone holds. */
static int flatten_disk(struct host *h, const struct capture_req *req, struct thaw_err **err)
{
	_cleanup_free_ char *overlay = xasprintf("%s/%s", req->dir, CAPTURE_OVERLAY_FILE);
	_cleanup_free_ char *disk = path_in(req->dir, MF_ROOTFS);
	struct capture_bases bases = { 0 };
	uint64_t t0 = time_mono_ns(), written = 0;
	int rc = remote_build_local_copies(h, req->src, &bases.memory, &bases.disk, err);
	if (rc == 0)
		rc = h->store->ops->clone(bases.disk, disk, err);
	capture_bases_free(&bases);
	_cleanup_close_ int fd = rc == 0 ? open(disk, O_RDWR | O_CLOEXEC) : -1;
	if (rc == 0 && fd < 0)
		rc = err_sys(err, "opening %s", disk);
	if (rc == 0)
		rc = overlay_flatten(overlay, fd, req->src->meta.files[MF_ROOTFS].size, &written,
				     err);
	if (rc < 0)
		return err_wrap(err, "the disk of sandbox %s", req->sb->id);
	unlink(overlay);
	log_info("sandbox.disk_flattened", "id=%s bytes=%llu ms=%.1f", req->sb->id,
		 (unsigned long long)written, ns_to_ms(time_mono_ns() - t0));
	return 0;
}

int capture_describe(struct host *h, const struct capture_req *req, const struct capture_times *t,
		     bool hash, bool sync, struct template_meta *m,
		     char meta_sha256[SHA256_HEX_LEN + 1], struct thaw_err **err)
{
	if (req->src->streamed && flatten_disk(h, req, err) < 0)
		return -1;
	/* The machine is the source's: same memory size, CPU, VMM. */
	*m = req->src->meta;
	snprintf(m->name, sizeof(m->name), "%s", req->name);
	snprintf(m->build_id, sizeof(m->build_id), "%s", req->build_id);
	m->source = req->source;
	snprintf(m->source_sandbox, sizeof(m->source_sandbox), "%s", req->sb->id);
	m->created_at = (int64_t)(time_real_ns() / 1000000000ull);
	m->snapshot_ms = t->stopped_ms;
	memset(m->files, 0, sizeof(m->files));
	for (int r = 0; r < MF_COUNT; r++) {
		bool big = r == MF_MEMORY || r == MF_ROOTFS;
		if ((r == MF_KERNEL || r == MF_INITRD) &&
		    (!req->kernel_from || !req->kernel_from->meta.files[r].size))
			continue;
		if (build_describe_file(req->dir, (enum meta_file_role)r, hash || !big, sync, m,
					err) < 0)
			return -1;
	}
	if (build_write_meta(req->dir, m, meta_sha256, err) < 0)
		return -1;
	return sync ? fs_fsync_dir(req->dir, err) : 0;
}

/* A VMM that died under the capture shows as a short read or a closed
 * QMP socket: say what happened instead (the supervisor, or the caller's
 * sandbox_recheck_vmm, makes the sandbox failed). */
static int capture_failed(const struct sandbox *sb, struct thaw_err **err)
{
	/* A dying process closes its files before its pidfd says so. */
	for (int i = 0; i < 20 && !vmm_exited(sb->vmm); i++)
		usleep(5000);
	if (!err || !vmm_exited(sb->vmm))
		return -1;
	err_free(*err);
	*err = NULL;
	return err_set(err, ERR_CONFLICT, "the VMM of sandbox %s exited during the capture",
		       sb->id);
}

int capture_image(struct host *h, struct sandbox *sb, enum meta_source source, bool run_on,
		  bool sync, char image[48], struct capture_times *t, struct thaw_err **err)
{
	struct template *src = NULL;
	_cleanup_free_ char *tmp = NULL;
	if (disk_store_check_room(h->store, 0, "take a capture", err) < 0 ||
	    sandbox_source(h, sb, &src, err) < 0)
		return -1;
	if (image_begin(h, image, &tmp, err) < 0) {
		catalog_put(h->catalog, src);
		return -1;
	}
	struct capture_req req = { .sb = sb,
				   .src = src,
				   .dir = tmp,
				   .source = source,
				   .build_id = image,
				   .name = sb->template_name };
	struct template_meta m;
	char sha[SHA256_HEX_LEN + 1];
	int rc = capture_take(h, &req, t, err);
	if (rc == 0 && source == SOURCE_FORK)
		failpoint("fork.stopped", sb->vmm);
	else if (rc == 0 && source == SOURCE_PAUSE)
		failpoint("pause.stopped", sb->vmm);
	if (run_on) {
		_cleanup_err_ struct thaw_err *cerr = NULL;
		if (h->drv->cont(sb->vmm, &cerr) < 0)
			log_warn("sandbox.capture", "id=%s resume_error=\"%s\"", sb->id,
				 err_msg(cerr));
	}
	if (rc == 0)
		rc = capture_describe(h, &req, t, false, sync, &m, sha, err);
	if (rc == 0)
		rc = image_publish(h, tmp, &m, sha, err);
	catalog_put(h->catalog, src);
	if (rc < 0) {
		image_abort(h, image, tmp);
		return capture_failed(sb, err);
	}
	log_info("sandbox.captured", "id=%s image=%s dirty_pages=%llu stopped_ms=%.1f", sb->id,
		 image, (unsigned long long)t->dirty_pages, t->stopped_ms);
	return 0;
}
