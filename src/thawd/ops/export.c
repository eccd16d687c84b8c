/* Export: a running sandbox captured into an image that is put in the
 * object store before the call returns (only the windows that differ
 * from the build or image it runs from), so that another host can start
 * children from it: the control plane's fork across hosts. The sandbox
 * is stopped only for the capture, as for a fork, and runs on whatever
 * happens. No row names the image here: the children this host starts
 * from it (adopt with a parent) use the local copy and their rows keep
 * it; without any, the collector's next round removes it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "core/capture.h"
#include "core/images.h"
#include "core/launch.h"
#include "log.h"
#include "ops/ops.h"
#include "remote/remote.h"
#include "timeutil.h"

static void origin_of(const struct sandbox *sb, struct image_origin *from)
{
	memset(from, 0, sizeof(*from));
	snprintf(from->template_name, sizeof(from->template_name), "%s", sb->template_name);
	snprintf(from->build_id, sizeof(from->build_id), "%s", sb->build_id);
	snprintf(from->base_image, sizeof(from->base_image), "%s", sb->image);
	snprintf(from->owner, sizeof(from->owner), "%s", sb->owner);
}

int sandbox_export(struct host *h, const char *id, struct export_result *out,
		   struct thaw_err **err)
{
	memset(out, 0, sizeof(*out));
	if (!h->remote)
		return err_set(err, ERR_UNAVAILABLE,
			       "thawd runs without an object store (--s3-endpoint): an image "
			       "cannot leave this host");
	struct sandbox *sb;
	if (sandbox_lock_running(h, id, &sb, err) < 0)
		return -1;
	uint64_t t0 = time_mono_ns();
	struct image_origin from;
	origin_of(sb, &from);
	struct capture_times t;
	int rc = capture_image(h, sb, SOURCE_FORK, true, false, out->image, &t, err);
	sandbox_ref(h, sb);
	sandbox_unlock(h, sb);
	if (rc == 0) {
		out->stopped_ms = t.stopped_ms;
		out->capture_ms = ns_to_ms(time_mono_ns() - t0);
		/* Its clock stood still while it was stopped. */
		_cleanup_err_ struct thaw_err *perr = NULL;
		if (launch_probe(sb->slot, sb->vmm, sb->id, &perr) < 0)
			log_warn("sandbox.export", "id=%s clock_error=\"%s\"", id, err_msg(perr));
		uint64_t t1 = time_mono_ns();
		_cleanup_free_ char *dir = image_dir(h, out->image);
		rc = remote_publish_image(h, dir, out->image, &from, err);
		out->upload_ms = ns_to_ms(time_mono_ns() - t1);
		image_unpin(h, out->image);
	}
	sandbox_unref(h, sb);
	if (rc < 0)
		return err_wrap(err, "exporting sandbox %s", id);
	log_info("sandbox.exported", "id=%s image=%s stopped_ms=%.1f capture_ms=%.1f "
		 "upload_ms=%.1f", id, out->image, out->stopped_ms, out->capture_ms,
		 out->upload_ms);
	return 0;
}
