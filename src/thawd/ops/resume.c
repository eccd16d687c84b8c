/* Resume: a paused sandbox is restored from its image under the same id:
 * a new slot, a disk clone, a new VMM, the readiness probe (fresh clock
 * and entropy); the image stays as the memory file the VMM maps. A crash
 * while "resuming" comes back paused: the paused image is never written
 * by the VMM that maps it. */
#include <stdio.h>
#include <string.h>

#include "core/images.h"
#include "core/quota.h"
#include "core/registry.h"
#include "core/stats.h"
#include "failpoint.h"
#include "log.h"
#include "ops/ops.h"
#include "timeutil.h"

int sandbox_resume(struct host *h, const char *id, struct sandbox **out, struct thaw_err **err)
{
	STATS_TIME_OP("resume", err);
	struct sandbox *sb;
	enum sb_state state;
	if (sandbox_lock_in(h, id, SB_BIT(SB_RUNNING) | SB_BIT(SB_PAUSED), &sb, &state, err) < 0)
		return -1;
	if (state == SB_RUNNING) {
		sandbox_ref(h, sb);
		*out = sb;
		sandbox_unlock(h, sb);
		return 0;
	}
	/* A VM again: the host's cap, reserved under its lock (the owner's
	 * count already holds the paused sandbox). */
	if (quota_reserve(h->quota, sb->owner, 0, 0, 1, err) < 0) {
		sandbox_unlock(h, sb);
		return err_wrap(err, "resuming sandbox %s", id);
	}
	uint64_t t0 = time_mono_ns();
	if (sandbox_set_state(h, sb, &(struct sb_change){ .to = SB_RESUMING }, err) < 0) {
		quota_release(h->quota, sb->owner, 0, 1);
		sandbox_unlock(h, sb);
		return err_wrap(err, "resuming sandbox %s", id);
	}
	failpoint("resume.recorded", NULL);
	struct template *img = NULL;
	/* The new incarnation: its VM starts while the row says resuming. */
	struct sandbox *next = sandbox_successor(h, sb);
	next->state = SB_RESUMING;
	struct vm_clock clk = { .t0 = time_mono_ns() };
	clk.template = clk.t0;
	int rc = image_load(h, sb->image, &img, err);
	if (rc == 0)
		rc = vm_start(h, next, &(struct vm_start){ .from = img, .use_pools = true }, &clk,
			      err);
	if (rc == 0) {
		free(next->timings);
		next->timings = vm_clock_json(&clk, time_mono_ns());
	}
	if (rc == 0)
		failpoint("resume.restored", next->vmm);
	build_free(img);
	int64_t timeout_at = deadline_after(sb->timeout_s);
	if (rc == 0) {
		struct sb_change running = {
			.to = SB_RUNNING, .vmm = next->vmm, .slot = next->slot, .timeout_at = timeout_at
		};
		next->timeout_at = timeout_at;
		rc = sandbox_set_state(h, next, &running, err);
	}
	if (rc < 0) {
		sandbox_release(h, next);
		sandbox_unref(h, next);
		sandbox_set_state(h, sb, &(struct sb_change){ .to = SB_PAUSED }, NULL);
		quota_release(h->quota, sb->owner, 0, 1);
		sandbox_unlock(h, sb);
		return err_wrap(err, "resuming sandbox %s", id);
	}
	registry_replace(h, sb, next);
	sandbox_retire(sb);
	sandbox_recheck_vmm(h, next);
	*out = next; /* the reference sandbox_successor gave */
	log_info("sandbox.resumed", "id=%s image=%s total_ms=%.1f timings=%s", id, sb->image,
		 ns_to_ms(time_mono_ns() - t0), next->timings);
	sandbox_unlock(h, sb);
	return 0;
}
