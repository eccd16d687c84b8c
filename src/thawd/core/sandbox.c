/* Sandbox lifecycle: create = restore, exec, delete, and what happens
 * when a VMM dies on its own.
 *
 * Create never boots. It takes a network slot, clones the template disk
 * copy-on-write, starts the VMM with the template's memory mapped
 * privately and its device state loaded, and returns only once the
 * guest agent has answered over the guest network, after taking the
 * host's clock, fresh entropy and its own hostname. Every stage is
 * timed; the timings are part of the answer. */
#include "core/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "core/launch.h"
#include "core/registry.h"
#include "core/slotpool.h"
#include "core/vmmpool.h"
#include "core/supervisor.h"
#include "fsutil.h"
#include "log.h"
#include "net/slot.h"
#include "store/db.h"
#include "template/catalog.h"
#include "timeutil.h"

#define READY_TIMEOUT_MS 10000

static const char *const state_names[] = { "creating", "running", "failed", "deleting" };

const char *sb_state_name(enum sb_state s)
{
	return state_names[s];
}

struct sandbox *sandbox_new(struct host *h, const char *id)
{
	struct sandbox *sb = xcalloc(1, sizeof(*sb));
	snprintf(sb->id, sizeof(sb->id), "%s", id);
	pthread_mutex_init(&sb->lock, NULL);
	for (int i = 0; i < SB_MAX_INFLIGHT; i++)
		sb->inflight[i] = -1;
	sb->dir = xasprintf("%s/%s", h->sandboxes_dir, id);
	sb->run_dir = xasprintf("%s/run/%s", h->cfg->data_dir, id);
	sb->refs = 1;
	return sb;
}

void sandbox_ref(struct host *h, struct sandbox *sb)
{
	registry_lock(h);
	sb->refs++;
	registry_unlock(h);
}

void sandbox_unref(struct host *h, struct sandbox *sb)
{
	if (!sb)
		return;
	registry_lock(h);
	int left = --sb->refs;
	registry_unlock(h);
	if (left > 0)
		return;
	vmm_free(sb->vmm);
	if (sb->slot && sb->slot_reusable)
		slotpool_give(h->slots, sb->slot);
	else
		netslot_close(sb->slot); /* the VM runs on, for the next thawd */
	free(sb->metadata);
	free(sb->timings);
	free(sb->reason);
	free(sb->dir);
	free(sb->run_dir);
	pthread_mutex_destroy(&sb->lock);
	free(sb);
}

void sandbox_release(struct host *h, struct sandbox *sb)
{
	if (h->sup)
		supervisor_unwatch(h->sup, sb->id);
	if (sb->vmm)
		vmm_kill(sb->vmm);
	sb->slot_reusable = true;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (fs_rm_rf(sb->dir, &err) < 0 || fs_rm_rf(sb->run_dir, &err) < 0)
		log_warn("sandbox.release", "id=%s error=\"%s\"", sb->id, err_msg(err));
}

/* ---- create ---------------------------------------------------------- */

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
		"{s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:i}", "template", ns_to_ms(c->template - c->t0),
		"network", ns_to_ms(c->network - c->template), "disk",
		ns_to_ms(c->disk - c->network), "vmm_start", ns_to_ms(v->qmp_ready - v->spawned),
		"state_load",
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
	return 0;
}

static int probe_ready(struct sandbox *sb, bool booting, struct create_clock *clk,
		       struct thaw_err **err)
{
	int rc = launch_probe(sb->slot, sb->vmm, sb->id, booting, &clk->connected_real, err);
	clk->ready_real = time_real_ns();
	return rc;
}

static int create_steps(struct host *h, struct sandbox *sb, const struct template *t,
			const struct create_req *req, struct create_clock *clk, struct thaw_err **err)
{
	bool cold_boot = req->cold_boot;
	bool warm;
	if (slotpool_take(h->slots, req->use_pools, &sb->slot, &warm, err) < 0)
		return -1;
	clk->network = time_mono_ns();
	if (launch_clone_disk(h, t, sb->dir, err) < 0)
		return -1;
	clk->disk = time_mono_ns();
	struct launch_target lt = {
		.id = sb->id, .dir = sb->dir, .run_dir = sb->run_dir, .slot = sb->slot
	};
	int rc = cold_boot ? launch_cold_boot(h, t, &lt, &sb->vmm, &clk->vmm, err) :
			     launch_restore(h, t, &lt, &sb->vmm, &clk->vmm, err);
	if (rc < 0 || probe_ready(sb, cold_boot, clk, err) < 0)
		return -1;
	return supervisor_watch(h->sup, sb->id, sb->vmm->pidfd, err);
}

/* A warm VMM already stands in its slot on its disk: load its state (or,
 * when the pool restored it ahead, only give it its fresh identity) and
 * go. */
static int create_from_pool(struct host *h, struct sandbox *sb, bool restored,
			    struct create_clock *clk, struct thaw_err **err)
{
	clk->network = clk->disk = time_mono_ns();
	if (vmm_renice(sb->vmm, 0, err) < 0)
		return -1;
	if (restored) {
		uint64_t now = time_real_ns();
		clk->vmm = (struct vmm_timings){ now, now, now, now };
	} else if (h->drv->load(sb->vmm, &clk->vmm, err) < 0) {
		return -1;
	}
	if (probe_ready(sb, false, clk, err) < 0)
		return -1;
	return supervisor_watch(h->sup, sb->id, sb->vmm->pidfd, err);
}

static void fill_identity(struct sandbox *sb, const struct template *t,
			  const struct create_req *req)
{
	snprintf(sb->template_name, sizeof(sb->template_name), "%s", t->name);
	snprintf(sb->build_id, sizeof(sb->build_id), "%s", t->build_id);
	uint64_t now = time_real_ns();
	uint64_t deadline = now + (uint64_t)req->timeout_s * 1000000000ull;
	sb->created_at = (int64_t)(now / 1000000000ull);
	/* Whole seconds, rounded up: a timeout may fire late by the janitor's
	 * tick, never early. */
	sb->timeout_at = req->timeout_s ? (int64_t)((deadline + 999999999ull) / 1000000000ull) : 0;
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
	return db_sandbox_insert(h->db, &row, err);
}

int sandbox_create(struct host *h, const struct create_req *req, struct sandbox **out,
		   struct thaw_err **err)
{
	struct create_clock clk = { .t0 = time_mono_ns() };
	struct template *t = NULL;
	if (catalog_get(h->catalog, req->template_name, &t, err) < 0)
		return -1;
	if (check_template_fits(h, t, err) < 0) {
		catalog_put(h->catalog, t);
		return -1;
	}
	if ((int)registry_count(h) >= h->cfg->max_sandboxes) {
		catalog_put(h->catalog, t);
		return err_set(err, ERR_UNAVAILABLE,
			       "this host already runs %d sandboxes (the limit)",
			       h->cfg->max_sandboxes);
	}
	clk.template = time_mono_ns();
	struct pooled_vmm *pv = req->cold_boot || !req->use_pools ?
					NULL :
					vmmpool_take(h->vmms, t->name, t->build_id);
	char id[SANDBOX_ID_LEN + 1];
	if (pv)
		memcpy(id, pv->id, sizeof(id));
	else
		id_new_sandbox(id);
	struct sandbox *sb = sandbox_new(h, id);
	fill_identity(sb, t, req);
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
		registry_add(h, sb);
		rc = clk.pooled ? create_from_pool(h, sb, restored, &clk, err) :
				  create_steps(h, sb, t, req, &clk, err);
	}
	catalog_put(h->catalog, t);
	if (rc == 0) {
		sb->timings = timings_json(&clk, time_mono_ns());
		rc = db_sandbox_set_running(h->db, sb->id, sb->vmm->pid, sb->vmm->start_ticks,
					    sb->slot->index, sb->timings, err);
	}
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
		sandbox_unref(h, sb);
		return err_wrap(err, "creating sandbox from %s", req->template_name);
	}
	pthread_mutex_lock(&sb->lock);
	sb->state = SB_RUNNING;
	pthread_mutex_unlock(&sb->lock);
	log_info("sandbox.created", "id=%s template=%s timings=%s", sb->id, sb->template_name,
		 sb->timings);
	*out = sb; /* the creation reference becomes the caller's */
	return 0;
}

/* ---- delete ---------------------------------------------------------- */

static void shutdown_inflight(struct sandbox *sb)
{
	for (int i = 0; i < SB_MAX_INFLIGHT; i++)
		if (sb->inflight[i] >= 0)
			shutdown(sb->inflight[i], SHUT_RDWR);
}

int sandbox_delete(struct host *h, const char *id, struct thaw_err **err)
{
	struct sandbox *sb = registry_get(h, id);
	if (!sb)
		return err_set(err, ERR_NOT_FOUND, "sandbox %s does not exist", id);
	pthread_mutex_lock(&sb->lock);
	enum sb_state was = sb->state;
	if (was == SB_RUNNING || was == SB_FAILED) {
		sb->state = SB_DELETING;
		shutdown_inflight(sb);
	}
	pthread_mutex_unlock(&sb->lock);
	if (was != SB_RUNNING && was != SB_FAILED) {
		sandbox_unref(h, sb);
		if (was == SB_DELETING)
			return err_set(err, ERR_NOT_FOUND, "sandbox %s is already being deleted",
				       id);
		return err_set(err, ERR_CONFLICT, "sandbox %s is still being created", id);
	}
	db_sandbox_set_state(h->db, id, "deleting", NULL, NULL);
	sandbox_release(h, sb);
	int rc = db_sandbox_delete(h->db, id, err);
	registry_remove(h, id);
	log_info("sandbox.deleted", "id=%s", id);
	char template_name[sizeof(sb->template_name)];
	memcpy(template_name, sb->template_name, sizeof(template_name));
	sandbox_unref(h, sb);
	/* An older build of its template may have been waiting for it. */
	catalog_gc(h->catalog, template_name);
	return rc;
}

/* ---- exec ------------------------------------------------------------ */

int sandbox_inflight_add(struct sandbox *sb, int fd, struct thaw_err **err)
{
	pthread_mutex_lock(&sb->lock);
	int slot = -1;
	if (sb->state == SB_RUNNING)
		for (int i = 0; i < SB_MAX_INFLIGHT && slot < 0; i++)
			if (sb->inflight[i] < 0)
				slot = i;
	if (slot >= 0)
		sb->inflight[slot] = fd;
	enum sb_state state = sb->state;
	pthread_mutex_unlock(&sb->lock);
	if (slot >= 0)
		return slot;
	if (state != SB_RUNNING)
		return err_set(err, ERR_CONFLICT, "sandbox %s is %s", sb->id, sb_state_name(state));
	return err_set(err, ERR_UNAVAILABLE, "too many commands running in sandbox %s", sb->id);
}

void sandbox_inflight_del(struct sandbox *sb, int slot)
{
	pthread_mutex_lock(&sb->lock);
	sb->inflight[slot] = -1;
	pthread_mutex_unlock(&sb->lock);
}

static bool still_running(void *ud)
{
	struct sandbox *sb = ud;
	pthread_mutex_lock(&sb->lock);
	bool running = sb->state == SB_RUNNING;
	pthread_mutex_unlock(&sb->lock);
	return running;
}

int sandbox_exec(struct host *h, const char *id, const struct agent_exec_req *req,
		 struct agent_exec_result *res, struct thaw_err **err)
{
	struct sandbox *sb = registry_get(h, id);
	if (!sb)
		return err_set(err, ERR_NOT_FOUND, "sandbox %s does not exist", id);
	struct agent_conn *c = NULL;
	int rc = -1, slot = -1;
	pthread_mutex_lock(&sb->lock);
	enum sb_state state = sb->state;
	if (state != SB_RUNNING)
		err_set(err, ERR_CONFLICT, "sandbox %s is %s%s%s", id, sb_state_name(state),
			sb->reason ? ": " : "", sb->reason ? sb->reason : "");
	pthread_mutex_unlock(&sb->lock);
	if (state != SB_RUNNING)
		goto out;
	if (agent_connect(sb->slot, READY_TIMEOUT_MS, AGENT_ATTEMPT_RESTORED_MS, still_running, sb, &c,
			  err) < 0)
		goto out;
	slot = sandbox_inflight_add(sb, agent_conn_fd(c), err);
	/* Shutdown may have swept the in-flight list just before we joined. */
	if (slot >= 0 && __atomic_load_n(&h->stopping, __ATOMIC_ACQUIRE)) {
		sandbox_inflight_del(sb, slot);
		slot = -1;
		err_set(err, ERR_UNAVAILABLE, "thawd is stopping");
	}
	if (slot < 0)
		goto out;
	rc = agent_exec(c, req, res, err);
	sandbox_inflight_del(sb, slot);
out:
	agent_close(c);
	if (rc < 0 && err) {
		pthread_mutex_lock(&sb->lock);
		bool gone = sb->state == SB_DELETING;
		pthread_mutex_unlock(&sb->lock);
		bool stopping = __atomic_load_n(&h->stopping, __ATOMIC_ACQUIRE);
		if (gone || stopping) {
			err_free(*err);
			*err = NULL;
			if (gone)
				err_set(err, ERR_NOT_FOUND,
					"sandbox %s was deleted while the command ran", id);
			else
				err_set(err, ERR_UNAVAILABLE,
					"thawd is stopping; the command was interrupted");
		}
	}
	sandbox_unref(h, sb);
	return rc;
}

/* ---- VMM death and timeouts ----------------------------------------- */

void sandbox_vmm_exited(struct host *h, const char *id)
{
	struct sandbox *sb = registry_get(h, id);
	if (!sb)
		return;
	if (!vmm_exited(sb->vmm)) { /* a recycled pidfd number: not this one */
		supervisor_watch(h->sup, id, sb->vmm->pidfd, NULL);
		sandbox_unref(h, sb);
		return;
	}
	int status = vmm_reap(sb->vmm);
	pthread_mutex_lock(&sb->lock);
	bool ours = sb->state == SB_RUNNING;
	if (ours) {
		sb->state = SB_FAILED;
		free(sb->reason);
		sb->reason = xasprintf("the VMM exited unexpectedly (wait status %d)", status);
		shutdown_inflight(sb);
	}
	pthread_mutex_unlock(&sb->lock);
	if (ours) {
		log_warn("sandbox.vmm_exited", "id=%s status=%d", id, status);
		db_sandbox_set_state(h->db, id, "failed", sb->reason, NULL);
		sandbox_release(h, sb);
	}
	sandbox_unref(h, sb);
}

void sandbox_interrupt_all(struct host *h)
{
	__atomic_store_n(&h->stopping, true, __ATOMIC_RELEASE);
	size_t n;
	struct sandbox **list = registry_list(h, &n);
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&list[i]->lock);
		shutdown_inflight(list[i]);
		pthread_mutex_unlock(&list[i]->lock);
	}
	registry_list_free(h, list, n);
}

void sandbox_expire(struct host *h, int64_t now)
{
	size_t n;
	struct sandbox **list = registry_list(h, &n);
	for (size_t i = 0; i < n; i++) {
		struct sandbox *sb = list[i];
		pthread_mutex_lock(&sb->lock);
		bool due = sb->timeout_at && sb->timeout_at <= now &&
			   (sb->state == SB_RUNNING || sb->state == SB_FAILED);
		pthread_mutex_unlock(&sb->lock);
		if (!due)
			continue;
		log_info("sandbox.timeout", "id=%s", sb->id);
		_cleanup_err_ struct thaw_err *err = NULL;
		if (sandbox_delete(h, sb->id, &err) < 0)
			log_warn("sandbox.timeout", "id=%s error=\"%s\"", sb->id, err_msg(err));
	}
	registry_list_free(h, list, n);
}
