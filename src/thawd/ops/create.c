/* Create = restore, never a boot: the template is looked up and the
 * caps reserved (refused before anything starts), a warm VMM is taken
 * from the pool when one waits, and the sandbox is recorded as creating,
 * given its VM (core/vmstart.c: slot, disk clone, VMM, the readiness
 * probe that hands the guest the host's clock, fresh entropy and its
 * hostname) and made running. Every stage is timed; the timings are part
 * of the answer. Fork children take the same path from sandbox_start_new
 * on, with the fork's image for a template. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "core/quota.h"
#include "core/registry.h"
#include "core/stats.h"
#include "core/vmmpool.h"
#include "db/db.h"
#include "failpoint.h"
#include "log.h"
#include "ops/ops.h"
#include "remote/remote.h"
#include "template/catalog.h"
#include "timeutil.h"

static int check_cpu_limit(const struct template *t, uint32_t cpu_millis, struct thaw_err **err)
{
	if (cpu_millis > t->meta.vcpus * 1000u)
		return err_set(err, ERR_INVALID,
			       "limits.cpus %.3g is more than the %u vCPU(s) of template %s",
			       cpu_millis / 1000.0, t->meta.vcpus, t->name);
	return 0;
}

/* A new sandbox as the request asks, from build t of its template. */
static void fill_identity(struct sandbox *sb, const struct template *t,
			  const struct create_req *req, const char *owner)
{
	snprintf(sb->template_name, sizeof(sb->template_name), "%s", t->name);
	snprintf(sb->build_id, sizeof(sb->build_id), "%s", t->build_id);
	snprintf(sb->owner, sizeof(sb->owner), "%s", owner);
	snprintf(sb->idem, sizeof(sb->idem), "%s", req->idem_key ? req->idem_key : "");
	sb->created_at = (int64_t)(time_real_ns() / 1000000000ull);
	sb->timeout_s = req->timeout_s;
	sb->timeout_at = deadline_after(req->timeout_s);
	sb->timeout_pauses = req->timeout_pauses;
	sb->auto_resume = req->auto_resume;
	sb->cpu_millis = req->cpu_millis;
	sb->metadata = xstrdup(req->metadata ? req->metadata : "{}");
	sb->env = req->env ? xstrdup(req->env) : NULL;
	sb->netpolicy = req->network ? netpolicy_copy(req->network) : netpolicy_default();
	sb->state = SB_CREATING;
}

int sandbox_start_new(struct host *h, struct sandbox *sb, const struct vm_start *vs,
		      struct vm_clock *clk, struct thaw_err **err)
{
	/* The row comes first: if thawd dies from here on, the restart finds
	 * it in state "creating" and removes whatever exists. */
	int rc = sandbox_insert_row(h, sb, err);
	if (rc == 0) {
		failpoint("create.recorded", sb->vmm);
		registry_add(h, sb);
		rc = vm_start(h, sb, vs, clk, err);
	}
	if (rc == 0) {
		failpoint("create.ready", sb->vmm);
		sb->timings = vm_clock_json(clk, time_mono_ns());
		struct sb_change running = {
			.to = SB_RUNNING, .vmm = sb->vmm, .slot = sb->slot, .timings = sb->timings
		};
		rc = sandbox_set_state(h, sb, &running, err);
	}
	if (rc == 0)
		failpoint("create.running", sb->vmm);
	if (rc < 0) {
		/* A file or process missing inside thawd is not the client's
		 * "not found": the template was found, the host failed. */
		if (err && *err && (*err)->code == ERR_NOT_FOUND)
			(*err)->code = ERR_UNAVAILABLE;
		log_warn("sandbox.create_failed", "id=%s error=\"%s\"", sb->id,
			 err_msg(err ? *err : NULL));
		sandbox_release(h, sb);
		db_sandbox_delete(h->db, sb->id, NULL);
		registry_remove(h, sb->id);
		quota_release(h->quota, sb->owner, 1, 1);
		sandbox_unref(h, sb);
		return -1;
	}
	sandbox_recheck_vmm(h, sb);
	log_info("sandbox.created", "id=%s template=%s parent=%s timings=%s", sb->id,
		 sb->template_name, sb->parent[0] ? sb->parent : "-", sb->timings);
	return 0;
}

int sandbox_create(struct host *h, const struct create_req *req, struct sandbox **out,
		   struct thaw_err **err)
{
	STATS_TIME_OP("create", err);
	struct vm_clock clk = { .t0 = time_mono_ns() };
	struct template *t = NULL;
	const char *viewer = req->owner.admin || !req->owner.name ? NULL : req->owner.name;
	_cleanup_err_ struct thaw_err *gerr = NULL;
	if (catalog_get_visible(h->catalog, req->template_name, viewer, &t, &gerr) < 0) {
		/* Another host may have baked it: look in the object store. */
		if (gerr->code != ERR_NOT_FOUND || !h->remote ||
		    remote_sync_template(h, req->template_name, NULL) < 0 ||
		    catalog_get_visible(h->catalog, req->template_name, viewer, &t, NULL) < 0) {
			return err_set(err, gerr->code, "%s", err_msg(gerr));
		}
	}
	/* Refused before anything is reserved or started. */
	const char *owner = req->owner.name ? req->owner.name : KEY_NAME_DEFAULT;
	if (vm_check_fits(h, t, err) < 0 || check_cpu_limit(t, req->cpu_millis, err) < 0 ||
	    disk_store_check_room(h->store, 0, "create a sandbox", err) < 0 ||
	    quota_reserve(h->quota, owner, req->owner.max_sandboxes, 1, 1, err) < 0) {
		catalog_put(h->catalog, t);
		return -1;
	}
	clk.template = time_mono_ns();
	struct pooled_vmm *pv = req->cold_boot || !req->use_pools
					? NULL
					: vmmpool_take(h->vmms, t->name, t->build_id);
	char id[SANDBOX_ID_LEN + 1];
	if (pv)
		memcpy(id, pv->id, sizeof(id));
	else
		id_new_sandbox(id);
	struct sandbox *sb = sandbox_new(h, id);
	fill_identity(sb, t, req, owner);
	struct vm_start vs = { .from = t,
			       .cold_boot = req->cold_boot,
			       .use_pools = req->use_pools,
			       .failpoint = "create.restored" };
	if (pv) {
		/* Its VMM, slot and disk are the sandbox's from here. */
		sb->slot = pv->slot;
		sb->vmm = pv->vmm;
		vs.warm = true;
		vs.warm_restored = pv->restored;
		pooled_vmm_free(pv);
	}
	int rc = sandbox_start_new(h, sb, &vs, &clk, err);
	catalog_put(h->catalog, t);
	if (rc < 0)
		return err_wrap(err, "creating sandbox from %s", req->template_name);
	/* Its own secrets before anyone hears of it; without them it goes. A
	 * cold boot (the benchmark's baseline) runs nothing of the template's
	 * warm-up, so there is nothing for the hook to talk to. */
	if (!req->cold_boot && sandbox_clone_hook(h, sb, req->db_password, err) < 0) {
		sandbox_delete(h, sb->id, NULL);
		sandbox_unref(h, sb);
		return err_wrap(err, "creating sandbox from %s", req->template_name);
	}
	struct stats_stage stages[VM_STAGES];
	size_t nstages = vm_clock_stages(&clk, stages);
	stats_create_done(clk.pooled, time_mono_ns() - clk.t0, stages, nstages);
	*out = sb; /* the creation reference becomes the caller's */
	return 0;
}
