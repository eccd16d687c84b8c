/* Sandbox basics: references, incarnations, delete, exec, keepalive,
 * timeouts, and what happens when a VMM dies on its own. Create is in
 * create.c; pause and resume in pause.c; fork in fork.c; snapshot in
 * snapshot.c. */
#include "core/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "core/capacity.h"
#include "core/images.h"
#include "core/launch.h"
#include "core/quota.h"
#include "core/registry.h"
#include "core/slotpool.h"
#include "core/vmmpool.h"
#include "core/supervisor.h"
#include "failpoint.h"
#include "fsutil.h"
#include "log.h"
#include "net/slot.h"
#include "store/db.h"
#include "template/catalog.h"
#include "timeutil.h"
#include "vmm/cgroup.h"

#define READY_TIMEOUT_MS 10000

static const char *const state_names[] = { "creating", "running", "failed",  "deleting",
					   "pausing",  "paused",  "resuming" };

const char *sb_state_name(enum sb_state s)
{
	return state_names[s];
}

struct sandbox *sandbox_new(struct host *h, const char *id)
{
	struct sandbox *sb = xcalloc(1, sizeof(*sb));
	snprintf(sb->id, sizeof(sb->id), "%s", id);
	pthread_mutex_init(&sb->lock, NULL);
	pthread_mutex_init(&sb->op_lock, NULL);
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
	pthread_mutex_destroy(&sb->op_lock);
	free(sb);
}

struct sandbox *sandbox_successor(struct host *h, const struct sandbox *sb)
{
	struct sandbox *n = sandbox_new(h, sb->id);
	memcpy(n->template_name, sb->template_name, sizeof(n->template_name));
	memcpy(n->build_id, sb->build_id, sizeof(n->build_id));
	memcpy(n->parent, sb->parent, sizeof(n->parent));
	memcpy(n->owner, sb->owner, sizeof(n->owner));
	memcpy(n->image, sb->image, sizeof(n->image));
	n->created_at = sb->created_at;
	n->metadata = xstrdup(sb->metadata);
	n->timings = sb->timings ? xstrdup(sb->timings) : NULL;
	n->timeout_pauses = sb->timeout_pauses;
	n->auto_resume = sb->auto_resume;
	n->cpu_millis = sb->cpu_millis;
	n->timeout_s = sb->timeout_s;
	return n;
}

int sandbox_lock_current(struct host *h, const char *id, struct sandbox **out,
			 struct thaw_err **err)
{
	for (;;) {
		struct sandbox *sb = registry_get(h, id);
		if (!sb)
			return err_set(err, ERR_NOT_FOUND, "sandbox %s does not exist", id);
		pthread_mutex_lock(&sb->op_lock);
		if (!sb->replaced) {
			*out = sb;
			return 0;
		}
		pthread_mutex_unlock(&sb->op_lock);
		sandbox_unref(h, sb);
	}
}

void sandbox_unlock(struct host *h, struct sandbox *sb)
{
	pthread_mutex_unlock(&sb->op_lock);
	sandbox_unref(h, sb);
}

int sandbox_source(struct host *h, const struct sandbox *sb, struct template **out,
		   struct thaw_err **err)
{
	if (sb->image[0])
		return image_load(h, sb->image, out, err);
	return catalog_get_build(h->catalog, sb->template_name, sb->build_id, out, err);
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

/* ---- delete ---------------------------------------------------------- */

void sandbox_cut_inflight(struct sandbox *sb)
{
	for (int i = 0; i < SB_MAX_INFLIGHT; i++)
		if (sb->inflight[i] >= 0)
			shutdown(sb->inflight[i], SHUT_RDWR);
}

int sandbox_delete(struct host *h, const char *id, struct thaw_err **err)
{
	struct sandbox *sb;
	/* Waits for a fork, pause or snapshot of it to finish. */
	if (sandbox_lock_current(h, id, &sb, err) < 0)
		return -1;
	pthread_mutex_lock(&sb->lock);
	enum sb_state was = sb->state;
	bool deletable = was == SB_RUNNING || was == SB_FAILED || was == SB_PAUSED;
	if (deletable) {
		sb->state = SB_DELETING;
		sandbox_cut_inflight(sb);
	}
	pthread_mutex_unlock(&sb->lock);
	if (!deletable) {
		sandbox_unlock(h, sb);
		if (was == SB_DELETING)
			return err_set(err, ERR_NOT_FOUND, "sandbox %s is already being deleted",
				       id);
		return err_set(err, ERR_CONFLICT, "sandbox %s is still being created", id);
	}
	db_sandbox_set_state(h->db, id, "deleting", NULL, NULL);
	failpoint("delete.recorded", sb->vmm);
	sandbox_release(h, sb);
	failpoint("delete.released", NULL);
	int rc = db_sandbox_delete(h->db, id, err);
	registry_remove(h, id);
	/* A paused one held no VM; a failed one counted as one until now. */
	quota_release(h->quota, sb->owner, 1, was == SB_PAUSED ? 0 : 1);
	log_info("sandbox.deleted", "id=%s", id);
	char template_name[sizeof(sb->template_name)];
	memcpy(template_name, sb->template_name, sizeof(template_name));
	bool had_image = sb->image[0] != '\0';
	sandbox_unlock(h, sb);
	/* An older build of its template may have been waiting for it, and
	 * so may the image its memory came from. */
	catalog_gc(h->catalog, template_name);
	if (had_image)
		images_gc(h);
	return rc;
}

int64_t deadline_after(int64_t timeout_s)
{
	if (!timeout_s)
		return 0;
	/* Whole seconds, rounded up: a timeout may fire late by the
	 * janitor's tick, never early. */
	uint64_t deadline = time_real_ns() + (uint64_t)timeout_s * 1000000000ull;
	return (int64_t)((deadline + 999999999ull) / 1000000000ull);
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

/* Whether a request may go to sb now (0), after a resume (*resume), or
 * not at all (-1, with the reason). */
static int request_state(struct sandbox *sb, bool auto_resume, bool *resume,
			 enum sb_state *state_out, struct thaw_err **err)
{
	pthread_mutex_lock(&sb->lock);
	enum sb_state state = sb->state;
	bool resumable = state == SB_PAUSED || state == SB_PAUSING || state == SB_RESUMING;
	*resume = resumable && (auto_resume || sb->auto_resume);
	int rc = 0;
	if (state != SB_RUNNING && !*resume && resumable)
		rc = err_set(err, ERR_CONFLICT,
			     "sandbox %s is %s: resume it first, or ask for auto_resume", sb->id,
			     sb_state_name(state));
	else if (state != SB_RUNNING && !*resume)
		rc = err_set(err, ERR_CONFLICT, "sandbox %s is %s%s%s", sb->id,
			     sb_state_name(state), sb->reason ? ": " : "",
			     sb->reason ? sb->reason : "");
	pthread_mutex_unlock(&sb->lock);
	*state_out = state;
	return rc;
}

int sandbox_exec_check(struct host *h, const char *id, bool auto_resume, struct thaw_err **err)
{
	struct sandbox *sb = registry_get(h, id);
	if (!sb)
		return err_set(err, ERR_NOT_FOUND, "sandbox %s does not exist", id);
	bool resume;
	enum sb_state state;
	int rc = request_state(sb, auto_resume, &resume, &state, err);
	sandbox_unref(h, sb);
	return rc;
}

/* The running incarnation of id: resumed first when it is paused and
 * the caller or the sandbox asks for that. */
static int running_for_request(struct host *h, const char *id, bool auto_resume,
			       struct sandbox **out, struct thaw_err **err)
{
	struct sandbox *sb = registry_get(h, id);
	if (!sb)
		return err_set(err, ERR_NOT_FOUND, "sandbox %s does not exist", id);
	bool resume;
	enum sb_state state;
	int rc = request_state(sb, auto_resume, &resume, &state, err);
	if (rc == 0 && state == SB_RUNNING) {
		*out = sb;
		return 0;
	}
	sandbox_unref(h, sb);
	if (rc < 0)
		return -1;
	return sandbox_resume(h, id, out, err);
}

int sandbox_exec(struct host *h, const char *id, const struct agent_exec_req *req, bool auto_resume,
		 struct agent_exec_result *res, struct thaw_err **err)
{
	struct sandbox *sb;
	if (running_for_request(h, id, auto_resume, &sb, err) < 0)
		return -1;
	struct agent_conn *c = NULL;
	int rc = -1, slot = -1;
	if (agent_connect(sb->slot, READY_TIMEOUT_MS, AGENT_ATTEMPT_RESTORED_MS, still_running, sb,
			  &c, err) < 0)
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
	failpoint("exec.connected", sb->vmm);
	rc = agent_exec(c, req, res, err);
	sandbox_inflight_del(sb, slot);
out:
	agent_close(c);
	if (rc < 0 && err) {
		pthread_mutex_lock(&sb->lock);
		bool gone = sb->state == SB_DELETING;
		bool paused = sb->state == SB_PAUSING || sb->state == SB_PAUSED;
		bool failed = sb->state == SB_FAILED;
		pthread_mutex_unlock(&sb->lock);
		bool stopping = __atomic_load_n(&h->stopping, __ATOMIC_ACQUIRE);
		if (gone || paused || failed || stopping) {
			err_free(*err);
			*err = NULL;
			if (failed)
				err_set(err, ERR_CONFLICT,
					"sandbox %s failed while the command ran: its VMM exited",
					id);
			else if (gone)
				err_set(err, ERR_NOT_FOUND,
					"sandbox %s was deleted while the command ran", id);
			else if (paused)
				err_set(err, ERR_CONFLICT,
					"sandbox %s was paused while the command ran", id);
			else
				err_set(err, ERR_UNAVAILABLE,
					"thawd is stopping; the command was interrupted");
		}
	}
	sandbox_unref(h, sb);
	return rc;
}

/* ---- VMM death and timeouts ----------------------------------------- */

/* Why a VMM ended on its own, for the sandbox's reason: its cgroup
 * (read before the group goes) tells an OOM kill from any other SIGKILL. */
static char *vmm_death_reason(struct host *h, const char *id, int status)
{
	bool killed = status > 0 && status < 0x100;
	uint64_t ooms = 0;
	_cleanup_free_ char *group = xasprintf("%s%s", h->ns_prefix, id);
	if (status == SIGKILL && h->vmm.cgroups &&
	    cgroup_vmm_oom_kills(h->vmm.cgroups, group, &ooms, NULL) == 0 && ooms > 0) {
		struct vmm_limits lim;
		uint64_t used = 0;
		memset(&lim, 0, sizeof(lim));
		cgroup_vmm_read(h->vmm.cgroups, group, &lim, &used, NULL);
		return xasprintf("the kernel's OOM killer ended its VMM (its memory limit is %llu "
				 "MiB; host memory available now: %llu MiB)",
				 (unsigned long long)(lim.memory_bytes >> 20),
				 (unsigned long long)(mem_available_bytes() >> 20));
	}
	if (killed)
		return xasprintf("the VMM was killed by signal %d (%s)", status, strsignal(status));
	if (status >= 0)
		return xasprintf("the VMM exited unexpectedly with status %d", status >> 8);
	return xstrdup("the VMM exited unexpectedly");
}

void sandbox_vmm_exited(struct host *h, const char *id)
{
	struct sandbox *sb = registry_get(h, id);
	if (!sb)
		return;
	if (!sb->vmm) {
		/* A paused incarnation while a resume starts the next one: the
		 * resume looks again once it has replaced it. */
		sandbox_unref(h, sb);
		return;
	}
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
		sb->reason = vmm_death_reason(h, id, status);
		sandbox_cut_inflight(sb);
	}
	pthread_mutex_unlock(&sb->lock);
	if (ours) {
		log_warn("sandbox.vmm_exited", "id=%s status=%d", id, status);
		db_sandbox_set_state(h->db, id, "failed", sb->reason, NULL);
		sandbox_release(h, sb);
	}
	sandbox_unref(h, sb);
}

void sandbox_recheck_vmm(struct host *h, struct sandbox *sb)
{
	if (sb->vmm && vmm_exited(sb->vmm))
		sandbox_vmm_exited(h, sb->id);
}

void sandbox_interrupt_all(struct host *h)
{
	__atomic_store_n(&h->stopping, true, __ATOMIC_RELEASE);
	size_t n;
	struct sandbox **list = registry_list(h, &n);
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&list[i]->lock);
		sandbox_cut_inflight(list[i]);
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
		pthread_mutex_lock(&sb->lock);
		bool pause = sb->timeout_pauses && sb->state == SB_RUNNING;
		pthread_mutex_unlock(&sb->lock);
		log_info("sandbox.timeout", "id=%s action=%s", sb->id, pause ? "pause" : "delete");
		_cleanup_err_ struct thaw_err *err = NULL;
		struct sandbox *paused = NULL;
		int rc = pause ? sandbox_pause(h, sb->id, &paused, &err)
			       : sandbox_delete(h, sb->id, &err);
		sandbox_unref(h, paused);
		if (rc < 0)
			log_warn("sandbox.timeout", "id=%s error=\"%s\"", sb->id, err_msg(err));
	}
	registry_list_free(h, list, n);
}

/* ---- keepalive ------------------------------------------------------- */

int sandbox_keepalive(struct host *h, const char *id, int64_t timeout_s, struct sandbox **out,
		      struct thaw_err **err)
{
	struct sandbox *sb;
	if (sandbox_lock_current(h, id, &sb, err) < 0)
		return -1;
	pthread_mutex_lock(&sb->lock);
	enum sb_state state = sb->state;
	pthread_mutex_unlock(&sb->lock);
	if (state != SB_RUNNING && state != SB_PAUSED) {
		sandbox_unlock(h, sb);
		return err_set(err, ERR_CONFLICT, "sandbox %s is %s", id, sb_state_name(state));
	}
	int64_t timeout_at = state == SB_RUNNING ? deadline_after(timeout_s) : 0;
	int rc = db_sandbox_set_timeout(h->db, id, timeout_at, timeout_s, err);
	if (rc == 0) {
		pthread_mutex_lock(&sb->lock);
		sb->timeout_s = timeout_s;
		sb->timeout_at = timeout_at;
		pthread_mutex_unlock(&sb->lock);
		sandbox_ref(h, sb);
		*out = sb;
	}
	sandbox_unlock(h, sb);
	return rc;
}
