#include "ops/reconcile.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "core/idempotency.h"
#include "core/images.h"
#include "core/quota.h"
#include "core/registry.h"
#include "core/sandbox.h"
#include "core/slotpool.h"
#include "core/supervisor.h"
#include "db/db.h"
#include "fsutil.h"
#include "guestconn/agent.h"
#include "log.h"
#include "net/netns.h"
#include "net/netpolicy.h"
#include "net/slot.h"
#include "ops/ops.h"
#include "template/catalog.h"
#include "timeutil.h"
#include "vmm/cgroup.h"

#define ADOPT_PROBE_MS 3000

/* Kills pid only if it is still the process that was recorded. */
static void kill_if_same(pid_t pid, uint64_t ticks)
{
	if (pid <= 0)
		return;
	int fd = pidfd_open_pid(pid);
	if (fd < 0)
		return;
	uint64_t now;
	if (proc_start_ticks(pid, &now) == 0 && now == ticks) {
		struct vmm v = { .pid = pid, .pidfd = fd };
		vmm_kill(&v);
	}
	close(fd);
}

static int adopt_running(struct host *h, struct sandbox *sb, const struct sandbox_row *r,
			 struct thaw_err **err)
{
	if (r->slot < 0)
		return err_set(err, ERR_NOT_FOUND, "no network slot recorded");
	if (h->drv->attach(sb->run_dir, (pid_t)r->vmm_pid, r->vmm_start_ticks, &sb->vmm, err) < 0)
		return -1;
	/* Its cgroup is named like it and goes with it. */
	sb->vmm->name = xasprintf("%s%s", h->ns_prefix, sb->id);
	sb->vmm->cgroups = h->vmm.cgroups;
	/* The policy is the row's: whatever the slot's table says now (a
	 * change that crashed between the row and nftables) is replaced. */
	if (slotpool_attach(h->slots, (uint32_t)r->slot, &sb->slot, err) < 0 ||
	    netslot_set_policy(sb->slot, sb->netpolicy, err) < 0)
		return -1;
	/* A thawd that died in the middle of a capture (fork, pause,
	 * snapshot) left the guest stopped: it runs on. */
	bool running = true;
	if (h->drv->is_running(sb->vmm, &running, err) < 0 ||
	    (!running && h->drv->cont(sb->vmm, err) < 0))
		return -1;
	if (!running)
		log_notice("reconcile.resumed_stopped_guest", "id=%s", sb->id);
	struct agent_conn *c = NULL;
	int rc = agent_connect(sb->slot, ADOPT_PROBE_MS, AGENT_ATTEMPT_RESTORED_MS, NULL, NULL, &c,
			       err);
	if (rc == 0)
		rc = agent_hello(c, sb->id, false, ADOPT_PROBE_MS, NULL, err);
	agent_close(c);
	if (rc < 0)
		return err_wrap(err, "the guest does not answer");
	return supervisor_watch(h->sup, sb->id, sb->vmm->pidfd, err);
}

static void fill_from_row(struct sandbox *sb, const struct sandbox_row *r)
{
	snprintf(sb->template_name, sizeof(sb->template_name), "%s", r->template_name);
	snprintf(sb->build_id, sizeof(sb->build_id), "%s", r->build_id);
	sb->created_at = r->created_at;
	sb->timeout_at = r->timeout_at;
	sb->metadata = xstrdup(r->metadata ? r->metadata : "{}");
	sb->timings = r->timings ? xstrdup(r->timings) : NULL;
	sb->reason = r->reason ? xstrdup(r->reason) : NULL;
	snprintf(sb->parent, sizeof(sb->parent), "%s", r->parent);
	snprintf(sb->owner, sizeof(sb->owner), "%s", r->owner[0] ? r->owner : KEY_NAME_DEFAULT);
	snprintf(sb->image, sizeof(sb->image), "%s", r->image);
	/* Checked where it is used (idem_restore). */
	snprintf(sb->idem, sizeof(sb->idem), "%s", r->idem);
	sb->timeout_pauses = strcmp(r->on_timeout, "pause") == 0;
	sb->auto_resume = r->auto_resume;
	sb->cpu_millis = r->cpu_millis;
	sb->timeout_s = r->timeout_s;
	sb->paused_at = r->paused_at;
	sb->env = r->env ? xstrdup(r->env) : NULL;
	/* A row is hostile input too: a policy that does not parse closes
	 * the sandbox's egress rather than opening it. */
	_cleanup_err_ struct thaw_err *err = NULL;
	if (netpolicy_from_text(r->network, &sb->netpolicy, &err) < 0) {
		log_warn("reconcile.bad_network", "id=%s error=\"%s\"", r->id, err_msg(err));
		sb->netpolicy = netpolicy_default();
		sb->netpolicy->internet = false;
	}
}

/* A paused sandbox is its image: kept while the image is there. */
static int image_present(struct host *h, const struct sandbox_row *r, struct thaw_err **err)
{
	struct build_row b;
	if (!r->image[0])
		return err_set(err, ERR_NOT_FOUND, "no image recorded");
	return db_build_get(h->db, r->image, &b, err);
}

struct adopt_ctx {
	struct host *h;
	struct reconcile_report *rep;
};

/* Listed and counted against its owner's and the host's caps (a paused
 * one holds no VM); a cap lowered since does not remove anything. */
static void list_adopted(struct host *h, struct sandbox *sb)
{
	registry_add(h, sb);
	quota_count(h->quota, sb->owner, 1, sb->state == SB_PAUSED ? 0 : 1);
}

/* Whether the restart rule of the row's state keeps the sandbox (then in
 * the state the rule says it becomes). */
static bool keep_by_rule(struct host *h, struct sandbox *sb, const struct sandbox_row *r,
			 const struct sb_restart_rule *rule, struct thaw_err **err)
{
	int rc;
	switch (rule->action) {
	case RESTART_KEEP:
		rc = 0;
		break;
	case RESTART_ADOPT_IMAGE:
		rc = image_present(h, r, err);
		break;
	case RESTART_ADOPT_VM:
		rc = adopt_running(h, sb, r, err);
		break;
	default:
		return false;
	}
	if (rc == 0 && rule->becomes != sb->state) {
		log_notice("reconcile.undone", "id=%s from=%s to=%s why=\"%s\"", r->id, r->state,
			   sb_state_name(rule->becomes), rule->why);
		rc = sandbox_set_state(h, sb, &(struct sb_change){ .to = rule->becomes }, err);
	}
	return rc == 0;
}

/* Issue 17: a running sandbox whose VMM is gone (it died while thawd was
 * down), of a template that can recover (ops/recover.c), becomes failed
 * as the supervisor would have made it, its disk kept. */
static bool keep_failed(struct host *h, struct sandbox *sb, const struct sandbox_row *r,
			const struct thaw_err *why)
{
	if (sb->state != SB_RUNNING || !sandbox_disk_kept(sb) ||
	    !sandbox_recover_command(h, sb->template_name, NULL))
		return false;
	if (!sb->vmm)
		kill_if_same((pid_t)r->vmm_pid, r->vmm_start_ticks);
	sandbox_release_keep_disk(h, sb);
	_cleanup_free_ char *reason = xasprintf(
		"its VM was not there when thawd restarted (%s)", err_msg(why));
	struct sb_change failed = { .to = SB_FAILED, .reason = reason };
	return sandbox_set_state(h, sb, &failed, NULL) == 0;
}

static void adopt_row(const struct sandbox_row *r, void *ud)
{
	struct adopt_ctx *ac = ud;
	struct host *h = ac->h;
	struct sandbox *sb = sandbox_new(h, r->id);
	fill_from_row(sb, r);
	_cleanup_err_ struct thaw_err *err = NULL;
	enum sb_state found = SB_CREATING;
	const struct sb_restart_rule *rule = NULL;
	if (sb_state_parse(r->state, &found, &err) == 0) {
		sb->state = found; /* as the row says: the rule decides from there */
		rule = sb_restart_rule(found);
	}
	if (rule && (keep_by_rule(h, sb, r, rule, &err) || keep_failed(h, sb, r, err))) {
		list_adopted(h, sb);
		/* A retry of its create after this restart gets it. */
		if (sb->idem[0])
			idem_restore(h->idem, sb->owner, sb->idem, sb->id,
				     (int64_t)(time_real_ns() / 1000000000ull) - sb->created_at);
		if (sb->state == SB_FAILED)
			ac->rep->failed_kept++;
		else
			ac->rep->adopted++;
		log_info("reconcile.adopted", "id=%s state=%s pid=%lld image=%s", r->id,
			 sb_state_name(sb->state), (long long)r->vmm_pid, r->image);
	} else {
		log_notice("reconcile.cleanup", "id=%s state=%s reason=\"%s\"", r->id, r->state,
			   err ? err_msg(err) : rule ? rule->why : "unknown state");
		if (!sb->vmm)
			kill_if_same((pid_t)r->vmm_pid, r->vmm_start_ticks);
		/* A slot it had but we could not attach is freed by the sweep. */
		sandbox_release(h, sb);
		db_sandbox_delete(h->db, r->id, NULL);
		ac->rep->cleaned++;
	}
	sandbox_unref(h, sb);
}

static bool is_live(struct host *h, const char *id)
{
	struct sandbox *sb = registry_get(h, id);
	if (!sb)
		return false;
	pthread_mutex_lock(&sb->lock);
	/* A failed sandbox's directory is there only when its disk was kept
	 * for a recover (issue 17). */
	bool live = sb->state == SB_RUNNING || sb->state == SB_FAILED;
	pthread_mutex_unlock(&sb->lock);
	sandbox_unref(h, sb);
	return live;
}

struct sweep_ctx {
	struct host *h;
	struct reconcile_report *rep;
	char **names;
	size_t n;
};

static void collect(const char *name, void *ud)
{
	struct sweep_ctx *sc = ud;
	sc->names = xrealloc(sc->names, (sc->n + 1) * sizeof(char *));
	sc->names[sc->n++] = xstrdup(name);
}

/* Namespaces of this instance that are no allocated slot: left by a
 * crash between creating a namespace and recording its slot, or by an
 * older thawd. */
static void sweep_netns(struct host *h, struct reconcile_report *rep)
{
	struct sweep_ctx sc = { .h = h, .rep = rep };
	netns_list(h->ns_prefix, collect, &sc);
	for (size_t i = 0; i < sc.n; i++) {
		if (!slotpool_owns(h->slots, sc.names[i])) {
			log_notice("reconcile.orphan", "netns=%s", sc.names[i]);
			netns_delete(sc.names[i], NULL);
			rep->orphans++;
		}
		free(sc.names[i]);
	}
	free(sc.names);
}

static void sweep_dir(struct host *h, const char *dir, struct reconcile_report *rep)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || is_live(h, de->d_name))
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, de->d_name);
		log_notice("reconcile.orphan", "path=%s", p);
		fs_rm_rf(p, NULL);
		rep->orphans++;
	}
}

/* The VMM name given with -name, when argv is one of this instance's. */
static const char *vmm_name_in(const char *args, size_t len, const char *prefix)
{
	for (const char *a = args; a < args + len; a += strlen(a) + 1)
		if (strcmp(a, "-name") == 0 && a + strlen(a) + 1 < args + len) {
			const char *v = a + strlen(a) + 1;
			return strncmp(v, prefix, strlen(prefix)) == 0 ? v : NULL;
		}
	return NULL;
}

static void sweep_processes(struct host *h, struct reconcile_report *rep)
{
	_cleanup_closedir_ DIR *d = opendir("/proc");
	if (!d)
		return;
	struct dirent *de;
	size_t plen = strlen(h->ns_prefix);
	while ((de = readdir(d))) {
		pid_t pid = (pid_t)atoi(de->d_name);
		if (pid <= 0)
			continue;
		_cleanup_free_ char *path = xasprintf("/proc/%d/cmdline", (int)pid);
		_cleanup_free_ char *args = NULL;
		size_t len = 0;
		if (fs_read_file(path, 65536, &args, &len, NULL) < 0)
			continue;
		const char *name = vmm_name_in(args, len, h->ns_prefix);
		if (!name)
			continue;
		struct sandbox *sb = registry_get(h, name + plen);
		bool ours = sb && sb->vmm && sb->vmm->pid == pid;
		sandbox_unref(h, sb);
		if (ours)
			continue;
		uint64_t ticks;
		if (proc_start_ticks(pid, &ticks) == 0) {
			log_notice("reconcile.orphan", "vmm_pid=%d name=%s", (int)pid, name);
			kill_if_same(pid, ticks);
			if (h->vmm.cgroups)
				cgroup_vmm_remove(h->vmm.cgroups, name);
			rep->orphans++;
		}
	}
}

static void sweep(struct host *h, struct reconcile_report *rep)
{
	sweep_processes(h, rep);
	slotpool_sweep(h->slots);
	sweep_netns(h, rep);
	sweep_dir(h, h->sandboxes_dir, rep);
	_cleanup_free_ char *run = xasprintf("%s/run", h->cfg->data_dir);
	sweep_dir(h, run, rep);
	catalog_gc_all(h->catalog);
	images_gc(h);
	/* No VMM is being started while thawd reconciles: every empty group
	 * is a leftover, however young. */
	if (h->vmm.cgroups)
		cgroups_sweep(h->vmm.cgroups, 0, false);
}

void reconcile(struct host *h, struct reconcile_report *rep)
{
	memset(rep, 0, sizeof(*rep));
	struct adopt_ctx ac = { .h = h, .rep = rep };
	_cleanup_err_ struct thaw_err *err = NULL;
	if (db_sandbox_each(h->db, adopt_row, &ac, &err) < 0)
		log_error("reconcile.db", "error=\"%s\"", err_msg(err));
	sweep(h, rep);
	log_notice("reconcile.done", "adopted=%d failed=%d cleaned=%d orphans=%d", rep->adopted,
		   rep->failed_kept, rep->cleaned, rep->orphans);
}

void reconcile_teardown(struct host *h, struct reconcile_report *rep)
{
	memset(rep, 0, sizeof(*rep));
	size_t n;
	struct sandbox **list = registry_list(h, &n);
	for (size_t i = 0; i < n; i++) {
		_cleanup_err_ struct thaw_err *err = NULL;
		if (sandbox_delete(h, list[i]->id, &err) == 0)
			rep->cleaned++;
	}
	registry_list_free(h, list, n);
	sweep(h, rep);
	if (h->vmm.cgroups)
		cgroups_sweep(h->vmm.cgroups, 0, true);
}
