/* Pause and resume: scale a sandbox to zero and back.
 *
 * Pause captures the guest into an image (core/capture.h: device state,
 * the memory the guest wrote on top of its memory file, a reflink of its
 * disk), makes it durable, records the sandbox as paused in that image,
 * and only then ends the VMM; the slot goes back to the pool with the
 * old incarnation. Resume is a restore from that image with the same id:
 * a new slot, a disk clone, a new VMM, the readiness probe (fresh clock
 * and entropy); the image stays as the memory file the VMM maps.
 *
 * Crash safety rests on the order of the database writes: "pausing"
 * with a live VMM comes back running (reconcile lets a stopped guest
 * run); "paused" is written after the image is durable and before the
 * VMM is ended; "resuming" comes back paused, since the paused image is
 * never written by the VMM that maps it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/capture.h"
#include "core/images.h"
#include "core/quota.h"
#include "core/registry.h"
#include "core/stats.h"
#include "core/supervisor.h"
#include "failpoint.h"
#include "log.h"
#include "ops/ops.h"
#include "remote/remote.h"
#include "timeutil.h"

#define QUIT_WAIT_MS 5000

int sandbox_pause(struct host *h, const char *id, struct sandbox **out, struct thaw_err **err)
{
	STATS_TIME_OP("pause", err);
	struct sandbox *sb;
	enum sb_state state;
	if (sandbox_lock_in(h, id, SB_BIT(SB_RUNNING) | SB_BIT(SB_PAUSED), &sb, &state, err) < 0)
		return -1;
	if (state == SB_PAUSED) {
		sandbox_ref(h, sb);
		*out = sb;
		sandbox_unlock(h, sb);
		return 0;
	}
	uint64_t t0 = time_mono_ns();
	/* Requests in flight end: their commands are frozen in the image. */
	if (sandbox_set_state(h, sb, &(struct sb_change){ .to = SB_PAUSING }, err) < 0) {
		sandbox_unlock(h, sb);
		return err_wrap(err, "pausing sandbox %s", id);
	}
	char image[48];
	struct capture_times ct = { 0 };
	int64_t now = (int64_t)(time_real_ns() / 1000000000ull);
	int rc = capture_image(h, sb, SOURCE_PAUSE, false, true, image, &ct, err);
	if (rc == 0) {
		failpoint("pause.captured", sb->vmm);
		struct sb_change paused = { .to = SB_PAUSED, .image = image, .paused_at = now };
		rc = sandbox_set_state(h, sb, &paused, err);
	}
	if (rc < 0) {
		/* Nothing changed for the guest but a short stop. */
		_cleanup_err_ struct thaw_err *e2 = NULL;
		if (h->drv->cont(sb->vmm, &e2) < 0)
			log_warn("sandbox.pause", "id=%s resume_error=\"%s\"", id, err_msg(e2));
		sandbox_set_state(h, sb, &(struct sb_change){ .to = SB_RUNNING }, NULL);
		sandbox_recheck_vmm(h, sb); /* a VMM killed during the capture */
		sandbox_unlock(h, sb);
		return err_wrap(err, "pausing sandbox %s", id);
	}
	image_unpin(h, image); /* the row names it now */
	failpoint("pause.recorded", sb->vmm);
	/* The image is durable and recorded: the VMM may go. */
	supervisor_unwatch(h->sup, id);
	_cleanup_err_ struct thaw_err *qerr = NULL;
	if (h->drv->quit(sb->vmm, QUIT_WAIT_MS, &qerr) < 0)
		log_warn("sandbox.pause", "id=%s quit_error=\"%s\"", id, err_msg(qerr));
	struct sandbox *next = sandbox_successor(h, sb);
	snprintf(next->image, sizeof(next->image), "%s", image);
	next->state = SB_PAUSED;
	next->paused_at = now;
	bool had_image = sb->image[0] != '\0';
	struct image_origin from = { 0 };
	snprintf(from.template_name, sizeof(from.template_name), "%s", next->template_name);
	snprintf(from.build_id, sizeof(from.build_id), "%s", next->build_id);
	snprintf(from.base_image, sizeof(from.base_image), "%s", sb->image);
	snprintf(from.owner, sizeof(from.owner), "%s", next->owner);
	registry_replace(h, sb, next);
	sandbox_retire(sb);
	sandbox_release(h, sb); /* the disk clone (the image has its own) and the slot */
	quota_release(h->quota, sb->owner, 0, 1); /* no VM now; still the owner's */
	*out = next;				  /* the reference sandbox_successor gave */
	log_info("sandbox.paused", "id=%s image=%s stopped_ms=%.1f total_ms=%.1f", id, image,
		 ct.stopped_ms, ns_to_ms(time_mono_ns() - t0));
	/* Other hosts can resume it once its image is in the store. */
	remote_upload_image_later(h, image, &from);
	sandbox_unlock(h, sb);
	if (had_image)
		images_gc(h); /* the image it ran from, unless children use it */
	return 0;
}
