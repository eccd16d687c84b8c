/* Create = restore, never a boot. It takes a network slot, clones the
 * template disk copy-on-write, starts the VMM with the template's memory
 * mapped privately and its device state loaded, and returns only once
 * the guest agent has answered over the guest network, after taking
 * the host's clock, fresh entropy and its own hostname. Every stage is
 * timed; the timings are part of the answer. A warm VMM from the pool
 * (core/vmmpool.c) skips most of that; a fork child restores from its
 * parent's image instead of a template build. */
#include "core/sandbox.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "core/launch.h"
#include "core/quota.h"
#include "core/registry.h"
#include "core/slotpool.h"
#include "core/supervisor.h"
#include "core/vmmpool.h"
#include "failpoint.h"
#include "log.h"
#include "net/slot.h"
#include "store/db.h"
#include "template/catalog.h"
#include "timeutil.h"

struct create_clock {
	uint64_t t0, template, network, disk;
	struct vmm_timings vmm;
	bool pooled;		 /* a warm VMM was used */
	uint64_t connected_real; /* unix ns when the guest accepted the probe */
	uint64_t ready_real;	 /* unix ns when the guest answered it */
};

static char *timings_json(const struct create_clock *c, uint64_t end)
{
	const struct vmm_timings *v = &c->vmm;
	json_t *o = json_pack(
		"{s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:i}", "template",
		ns_to_ms(c->template - c->t0), "network", ns_to_ms(c->network - c->template),
		"disk", ns_to_ms(c->disk - c->network), "vmm_start",
		ns_to_ms(v->qmp_ready - v->spawned), "state_load",
		ns_to_ms(v->state_loaded > v->qmp_ready ? v->state_loaded - v->qmp_ready : 0),
		"resume", ns_to_ms(v->resumed > v->state_loaded ? v->resumed - v->state_loaded : 0),
		"readiness", ns_to_ms(c->ready_real > v->resumed ? c->ready_real - v->resumed : 0),
		"readiness_connect",
		ns_to_ms(c->connected_real > v->resumed ? c->connected_real - v->resumed : 0),
		"total", ns_to_ms(end - c->t0), "warm_vmm", c->pooled ? 1 : 0);
	char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(4));
	json_decref(o);
	return s;
}

static int check_template_fits(struct host *h, const struct template *t, struct thaw_err **err)
{
	if (strcmp(t->meta.accel, accel_name(h->vmm.accel)) != 0)
		return err_set(
			err, ERR_CONFLICT,
			"template %s was baked under %s but this host runs %s; bake it again",
			t->name, t->meta.accel, accel_name(h->vmm.accel));
	if (strcmp(t->meta.vmm, h->drv->name) != 0)
		return err_set(err, ERR_CONFLICT, "template %s needs VMM %s", t->name, t->meta.vmm);
	return host_check_machine(h, t->name, t->meta.memory_mb, t->meta.vcpus, ERR_CONFLICT, err);
}

static int check_cpu_limit(const struct template *t, uint32_t cpu_millis, struct thaw_err **err)
{
	if (cpu_millis > t->meta.vcpus * 1000u)
		return err_set(err, ERR_INVALID,
			       "limits.cpus %.3g is more than the %u vCPU(s) of template %s",
			       cpu_millis / 1000.0, t->meta.vcpus, t->name);
	return 0;
}

static int probe_ready(struct sandbox *sb, bool booting, struct create_clock *clk,
		       struct thaw_err **err)
{
	int rc = launch_probe(sb->slot, sb->vmm, sb->id, booting, &clk->connected_real, err);
	clk->ready_real = time_real_ns();
	return rc;
}

/* failpoint_name: passed once the VM runs (failpoint.h); NULL: none. */
static int create_steps(struct host *h, struct sandbox *sb, const struct template *t,
			bool cold_boot, bool use_pools, const char *failpoint_name,
			struct create_clock *clk, struct thaw_err **err)
{
	bool warm;
	if (slotpool_take(h->slots, use_pools, &sb->slot, &warm, err) < 0)
		return -1;
	clk->network = time_mono_ns();
	if (launch_clone_disk(h, t, sb->dir, err) < 0)
		return -1;
	clk->disk = time_mono_ns();
	struct launch_target lt = { .id = sb->id,
				    .dir = sb->dir,
				    .run_dir = sb->run_dir,
				    .slot = sb->slot,
				    .cpu_millis = sb->cpu_millis };
	int rc = cold_boot ? launch_cold_boot(h, t, &lt, &sb->vmm, &clk->vmm, err)
			   : launch_restore(h, t, &lt, &sb->vmm, &clk->vmm, err);
	if (rc == 0 && failpoint_name)
		failpoint(failpoint_name, sb->vmm);
	if (rc < 0 || probe_ready(sb, cold_boot, clk, err) < 0)
		return -1;
	return supervisor_watch(h->sup, sb->id, sb->vmm->pidfd, err);
}

/* A warm VMM already stands in its slot on its disk: load its state (or,
 * when the pool restored it ahead, only give it its fresh identity) and
 * go. */
static int create_from_pool(struct host *h, struct sandbox *sb, const struct template *t,
			    bool restored, struct create_clock *clk, struct thaw_err **err)
{
	clk->network = clk->disk = time_mono_ns();
	if (vmm_renice(sb->vmm, 0, err) < 0 ||
	    launch_set_cpu_limit(h, t, sb->vmm, sb->cpu_millis, err) < 0)
		return -1;
	if (restored) {
		uint64_t now = time_real_ns();
		clk->vmm = (struct vmm_timings){ now, now, now, now };
	} else if (h->drv->load(sb->vmm, &clk->vmm, err) < 0) {
		return -1;
	}
	failpoint("create.restored", sb->vmm);
	if (probe_ready(sb, false, clk, err) < 0)
		return -1;
	return supervisor_watch(h->sup, sb->id, sb->vmm->pidfd, err);
}

static void fill_identity(struct sandbox *sb, const struct template *t,
			  const struct create_req *req)
{
	/* A fork child keeps its parent's template build; its memory comes
	 * from the image. */
	snprintf(sb->template_name, sizeof(sb->template_name), "%s", t->name);
	snprintf(sb->build_id, sizeof(sb->build_id), "%s",
		 req->image ? req->build_id : t->build_id);
	snprintf(sb->image, sizeof(sb->image), "%s", req->image ? req->image : "");
	snprintf(sb->parent, sizeof(sb->parent), "%s", req->parent ? req->parent : "");
	sb->created_at = (int64_t)(time_real_ns() / 1000000000ull);
	sb->timeout_s = req->timeout_s;
	sb->timeout_at = deadline_after(req->timeout_s);
	sb->timeout_pauses = req->timeout_pauses;
	sb->auto_resume = req->auto_resume;
	sb->cpu_millis = req->cpu_millis;
	sb->metadata = xstrdup(req->metadata ? req->metadata : "{}");
	sb->state = SB_CREATING;
}

static int record_creating(struct host *h, struct sandbox *sb, struct thaw_err **err)
{
	struct sandbox_row row = { .created_at = sb->created_at,
				   .timeout_at = sb->timeout_at,
				   .metadata = sb->metadata,
				   .slot = -1 /* recorded once running */ };
	snprintf(row.id, sizeof(row.id), "%s", sb->id);
	snprintf(row.template_name, sizeof(row.template_name), "%s", sb->template_name);
	snprintf(row.build_id, sizeof(row.build_id), "%s", sb->build_id);
	snprintf(row.state, sizeof(row.state), "creating");
	snprintf(row.parent, sizeof(row.parent), "%s", sb->parent);
	snprintf(row.owner, sizeof(row.owner), "%s", sb->owner);
	snprintf(row.image, sizeof(row.image), "%s", sb->image);
	snprintf(row.on_timeout, sizeof(row.on_timeout), "%s",
		 sb->timeout_pauses ? "pause" : "delete");
	row.timeout_s = sb->timeout_s;
	row.auto_resume = sb->auto_resume;
	row.cpu_millis = sb->cpu_millis;
	return db_sandbox_insert(h->db, &row, err);
}

int sandbox_create(struct host *h, const struct create_req *req, struct sandbox **out,
		   struct thaw_err **err)
{
	struct create_clock clk = { .t0 = time_mono_ns() };
	struct template *t = NULL;
	if (req->image) {
		/* A fork child: the image is its parent's, loaded once for all. */
		t = (struct template *)req->image_build;
	} else if (catalog_get_visible(h->catalog, req->template_name,
				       req->owner.admin || !req->owner.name ? NULL : req->owner.name,
				       &t, err) < 0) {
		return -1;
	}
	/* Reserved before anything is started (a fork child's place was
	 * reserved by the fork); given back on every failure from here. */
	const char *owner = req->owner.name ? req->owner.name : KEY_NAME_DEFAULT;
	int fits = check_template_fits(h, t, err) < 0 || check_cpu_limit(t, req->cpu_millis, err) < 0
			   ? -1
			   : 0;
	/* A fork's children had their room checked with its capture. */
	if (fits == 0 && !req->image && disk_store_check_room(h->store, "create a sandbox", err) < 0)
		fits = -1;
	if (fits < 0 && req->reserved)
		quota_release(h->quota, owner, 1, 1);
	if (fits < 0 || (!req->reserved && quota_reserve(h->quota, owner,
							 req->owner.max_sandboxes, 1, 1, err) < 0)) {
		if (!req->image)
			catalog_put(h->catalog, t);
		return -1;
	}
	clk.template = time_mono_ns();
	struct pooled_vmm *pv = req->cold_boot || !req->use_pools || req->image
					? NULL
					: vmmpool_take(h->vmms, t->name, t->build_id);
	char id[SANDBOX_ID_LEN + 1];
	if (pv)
		memcpy(id, pv->id, sizeof(id));
	else
		id_new_sandbox(id);
	struct sandbox *sb = sandbox_new(h, id);
	fill_identity(sb, t, req);
	snprintf(sb->owner, sizeof(sb->owner), "%s", owner);
	bool restored = false;
	if (pv) {
		sb->slot = pv->slot;
		sb->vmm = pv->vmm;
		restored = pv->restored;
		pooled_vmm_free(pv);
		clk.pooled = true;
	}
	/* The row comes first: if thawd dies from here on, the restart finds
	 * it in state "creating" and removes whatever exists. */
	int rc = record_creating(h, sb, err);
	if (rc == 0) {
		failpoint("create.recorded", sb->vmm);
		registry_add(h, sb);
		rc = clk.pooled ? create_from_pool(h, sb, t, restored, &clk, err)
				: create_steps(h, sb, t, req->cold_boot, req->use_pools,
					       req->image ? "fork.child" : "create.restored", &clk,
					       err);
	}
	if (!req->image)
		catalog_put(h->catalog, t);
	if (rc == 0) {
		failpoint("create.ready", sb->vmm);
		sb->timings = timings_json(&clk, time_mono_ns());
		rc = db_sandbox_set_running(h->db, sb->id, sb->vmm->pid, sb->vmm->start_ticks,
					    sb->slot->index, sb->timings, err);
	}
	if (rc == 0)
		failpoint("create.running", sb->vmm);
	if (rc < 0) {
		/* A file or process missing inside thawd is not the client's
		 * "not found": the template was found, the host failed. */
		if (err && *err && (*err)->code == ERR_NOT_FOUND)
			(*err)->code = ERR_UNAVAILABLE;
		log_warn("sandbox.create_failed", "id=%s error=\"%s\"", id,
			 err_msg(err ? *err : NULL));
		sandbox_release(h, sb);
		db_sandbox_delete(h->db, sb->id, NULL);
		registry_remove(h, sb->id);
		quota_release(h->quota, owner, 1, 1);
		sandbox_unref(h, sb);
		return req->image ? err_wrap(err, "creating a fork of %s", req->parent)
				  : err_wrap(err, "creating sandbox from %s", req->template_name);
	}
	pthread_mutex_lock(&sb->lock);
	sb->state = SB_RUNNING;
	pthread_mutex_unlock(&sb->lock);
	sandbox_recheck_vmm(h, sb);
	log_info("sandbox.created", "id=%s template=%s timings=%s", sb->id, sb->template_name,
		 sb->timings);
	*out = sb; /* the creation reference becomes the caller's */
	return 0;
}

int sandbox_restore_vm(struct host *h, struct sandbox *sb, const struct template *t,
		       struct thaw_err **err)
{
	struct create_clock clk = { .t0 = time_mono_ns() };
	clk.template = clk.t0;
	if (check_template_fits(h, t, err) < 0 ||
	    create_steps(h, sb, t, false, true, NULL, &clk, err) < 0)
		return -1;
	free(sb->timings);
	sb->timings = timings_json(&clk, time_mono_ns());
	return 0;
}
