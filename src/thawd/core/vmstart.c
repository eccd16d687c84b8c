#include "core/vmstart.h"

#include <jansson.h>
#include <string.h>

#include "core/launch.h"
#include "core/sandbox.h"
#include "core/slotpool.h"
#include "core/supervisor.h"
#include "failpoint.h"
#include "net/netpolicy.h"
#include "net/slot.h"
#include "timeutil.h"

char *vm_clock_json(const struct vm_clock *c, uint64_t end)
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

/* later - earlier, or 0 when a stage did not happen (its moment unset). */
static uint64_t span(uint64_t earlier, uint64_t later)
{
	return later > earlier ? later - earlier : 0;
}

size_t vm_clock_stages(const struct vm_clock *c, struct stats_stage out[VM_STAGES])
{
	const struct vmm_timings *v = &c->vmm;
	const struct stats_stage stages[VM_STAGES] = {
		{ "template", span(c->t0, c->template) },
		{ "network", span(c->template, c->network) },
		{ "disk", span(c->network, c->disk) },
		{ "vmm_start", span(v->spawned, v->qmp_ready) },
		{ "state_load", span(v->qmp_ready, v->state_loaded) },
		{ "resume", span(v->state_loaded, v->resumed) },
		{ "readiness", span(v->resumed, c->ready_real) },
	};
	memcpy(out, stages, sizeof(stages));
	return VM_STAGES;
}

int vm_check_fits(struct host *h, const struct template *t, struct thaw_err **err)
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

static int probe_ready(struct sandbox *sb, bool booting, struct vm_clock *clk,
		       struct thaw_err **err)
{
	struct agent_conn *c = NULL;
	int rc = launch_probe_new(sb->slot, sb->vmm, sb->id, booting, &clk->connected_real, &c,
				  err);
	clk->ready_real = time_real_ns();
	/* The probe's connection serves the first call: no second handshake
	 * on a guest whose code paths the emulator has barely translated. */
	sandbox_agent_park(sb, c);
	return rc;
}

/* The sandbox's egress policy on its slot before its guest runs a single
 * instruction: a resumed or forked guest's processes would otherwise
 * get a moment of the pool slot's (empty) policy. */
static int apply_policy(struct sandbox *sb, struct thaw_err **err)
{
	struct netpolicy *p = sandbox_netpolicy(sb);
	int rc = netslot_set_policy(sb->slot, p, err);
	netpolicy_free(p);
	return rc;
}

/* Everything from nothing: a slot, a disk clone, a VMM. */
static int start_fresh(struct host *h, struct sandbox *sb, const struct vm_start *vs,
		       struct vm_clock *clk, struct thaw_err **err)
{
	bool warm;
	if (slotpool_take(h->slots, vs->use_pools, &sb->slot, &warm, err) < 0 ||
	    apply_policy(sb, err) < 0)
		return -1;
	clk->network = time_mono_ns();
	if (!vs->own_disk && launch_clone_disk(h, vs->from, sb->dir, err) < 0)
		return -1;
	clk->disk = time_mono_ns();
	struct launch_target lt = { .id = sb->id,
				    .dir = sb->dir,
				    .run_dir = sb->run_dir,
				    .slot = sb->slot,
				    .cpu_millis = sb->cpu_millis };
	return vs->cold_boot ? launch_cold_boot(h, vs->from, &lt, &sb->vmm, &clk->vmm, err)
			     : launch_restore(h, vs->from, &lt, &sb->vmm, &clk->vmm, err);
}

/* A warm VMM already stands in its slot on its disk: back to normal
 * priority, the CPU limit asked, its state loaded unless the pool did. */
static int finish_warm(struct host *h, struct sandbox *sb, const struct vm_start *vs,
		       struct vm_clock *clk, struct thaw_err **err)
{
	if (apply_policy(sb, err) < 0)
		return -1;
	clk->network = clk->disk = time_mono_ns();
	clk->pooled = true;
	if (vmm_renice(sb->vmm, 0, err) < 0 ||
	    launch_set_cpu_limit(h, vs->from, sb->vmm, sb->cpu_millis, err) < 0)
		return -1;
	if (vs->warm_restored) {
		uint64_t now = time_real_ns();
		clk->vmm = (struct vmm_timings){ now, now, now, now };
		return 0;
	}
	return h->drv->load(sb->vmm, &clk->vmm, err);
}

int vm_start(struct host *h, struct sandbox *sb, const struct vm_start *vs, struct vm_clock *clk,
	     struct thaw_err **err)
{
	if (vm_check_fits(h, vs->from, err) < 0)
		return -1;
	int rc = vs->warm ? finish_warm(h, sb, vs, clk, err) : start_fresh(h, sb, vs, clk, err);
	if (rc < 0)
		return -1;
	if (vs->failpoint)
		failpoint(vs->failpoint, sb->vmm);
	if (probe_ready(sb, vs->cold_boot, clk, err) < 0)
		return -1;
	return supervisor_watch(h->sup, sb->id, sb->vmm->pidfd, err);
}
