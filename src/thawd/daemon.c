/* The composition root: opens every subsystem of the host agent in order
 * (data dir lock, database, store, network, supervisor), reconciles
 * what a previous thawd left, starts the pools; closes them in reverse. */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "core/capacity.h"
#include "core/idempotency.h"
#include "core/images.h"
#include "core/quota.h"
#include "core/registry.h"
#include "core/slotpool.h"
#include "core/supervisor.h"
#include "core/usage.h"
#include "core/vmmpool.h"
#include "db/db.h"
#include "fsutil.h"
#include "net/nft.h"
#include "net/nl.h"
#include "net/rangecheck.h"
#include "ops/ops.h"
#include "ops/publish.h"
#include "ops/reconcile.h"
#include "remote/remote.h"
#include "sha256.h"
#include "template/catalog.h"
#include "timeutil.h"
#include "vmm/cgroup.h"
#include "vmm/jail.h"

static void make_prefix(struct host *h)
{
	char real[PATH_MAX];
	const char *dir = realpath(h->cfg->data_dir, real) ? real : h->cfg->data_dir;
	char sum[SHA256_HEX_LEN + 1];
	sha256_hex(dir, strlen(dir), sum);
	snprintf(h->ns_prefix, sizeof(h->ns_prefix), "thaw-%.6s-", sum);
	snprintf(h->if_prefix, sizeof(h->if_prefix), "t%.6s", sum);
	snprintf(h->nft_table, sizeof(h->nft_table), "thaw_%.6s", sum);
}

/* Host-wide network state that slots rely on: forwarding for their
 * traffic and this instance's filter and NAT table. Changing
 * ip_forward is a host-wide side effect; the table keeps forwarded
 * traffic to what slots may do. */
static int network_setup(struct host *h, struct thaw_err **err)
{
	struct nft_host_rules rules = { .table = h->nft_table,
					.if_prefix = h->if_prefix,
					.slot_cidr = h->slot_range.text,
					.allow = h->cfg->allow_cidrs,
					.publish_addr = h->cfg->publish_addr,
					.publish_lo = h->cfg->publish_lo,
					.publish_hi = h->cfg->publish_hi };
	if (nft_host_install(&rules, err) < 0 || sysctl_write("net/ipv4/ip_forward", "1", err) < 0)
		return err_wrap(err, "setting up host networking");
	return 0;
}

/* One thawd per data dir: two would reconcile each other's sandboxes
 * away. The lock lives as long as the process (the fd is never closed
 * before exit), and the kernel drops it when thawd dies; but a VMM child
 * forked just before thawd was killed holds every descriptor, the lock's
 * too, until it closes them on its way to exec (cgroup and namespace
 * moves first: milliseconds). A thawd restarted at once waits that out;
 * a thawd that really runs still holds it after DATA_DIR_LOCK_WAIT_MS. */
#define DATA_DIR_LOCK_WAIT_MS 2000

static int lock_data_dir(struct host *h, struct thaw_err **err)
{
	_cleanup_free_ char *path = xasprintf("%s/thawd.lock", h->cfg->data_dir);
	h->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (h->lock_fd < 0)
		return err_sys(err, "opening %s", path);
	for (int waited = 0; flock(h->lock_fd, LOCK_EX | LOCK_NB) < 0; waited += 20) {
		if (errno != EWOULDBLOCK)
			return err_sys(err, "locking %s", path);
		if (waited >= DATA_DIR_LOCK_WAIT_MS)
			return err_set(err, ERR_CONFLICT,
				       "another thawd already runs with data dir %s",
				       h->cfg->data_dir);
		usleep(20000);
	}
	return 0;
}

static int make_dirs(const struct thawd_config *cfg, struct thaw_err **err)
{
	_cleanup_free_ char *run = xasprintf("%s/run", cfg->data_dir);
	_cleanup_free_ char *logs = xasprintf("%s/logs", cfg->data_dir);
	if (fs_mkdir_p(cfg->data_dir, 0700, err) < 0 || fs_mkdir_p(run, 0700, err) < 0 ||
	    fs_mkdir_p(logs, 0700, err) < 0)
		return -1;
	return 0;
}

/* The jail's mount point and the instance's cgroups. */
static int vmm_isolation_setup(struct host *h, struct thaw_err **err)
{
	const struct thawd_config *cfg = h->cfg;
	h->vmm.uid_base = cfg->vmm_uid_base;
	if (cfg->jail) {
		_cleanup_free_ char *root = xasprintf("%s/jail", cfg->data_dir);
		struct jail_plan *plan = xcalloc(1, sizeof(*plan));
		if (fs_mkdir_p(root, 0755, err) < 0 ||
		    jail_plan_build(root, h->vmm.accel == ACCEL_KVM, plan, err) < 0) {
			free(plan);
			return -1;
		}
		h->jail = plan;
		h->vmm.jail = plan;
	} else {
		log_warn("host.jail", "VMMs run unjailed (--jail off): as root, seeing the host");
	}
	if (cfg->cgroups == CGROUPS_OFF)
		return 0;
	char instance[sizeof(h->ns_prefix)];
	snprintf(instance, sizeof(instance), "%.*s", (int)strlen(h->ns_prefix) - 1, h->ns_prefix);
	_cleanup_err_ struct thaw_err *cerr = NULL;
	if (cgroups_open(instance, &h->vmm.cgroups, &cerr) < 0) {
		if (cfg->cgroups == CGROUPS_ON)
			return err_set(err, cerr->code, "%s (--cgroups on)", err_msg(cerr));
		log_warn("host.cgroups", "VMMs run without resource limits: %s", err_msg(cerr));
		return 0;
	}
	log_info("host.cgroups", "version=%s instance=%s", cgroups_version(h->vmm.cgroups),
		 instance);
	return 0;
}

/* What an idle sandbox is assumed to cost until a warm VMM is weighed:
 * under TCG its translated code is most of it. */
#define SANDBOX_COST_TCG_MB 32
#define SANDBOX_COST_KVM_MB 16

/* The supervisor's report: a VMM ended on its own. */
static void on_vmm_exit(void *ud, const char *id)
{
	sandbox_vmm_exited(ud, id);
}

/* The caps every create, fork and resume is admitted by: memory (core/
 * capacity.h) and the counts (core/quota.h), whose host cap is
 * --max-sandboxes or, by default, what memory, slots and descriptors
 * allow. */
static void open_admission(struct host *h)
{
	const struct thawd_config *cfg = h->cfg;
	uint64_t fds = h->nofile.soft > FDLIMIT_BASE ? h->nofile.soft - FDLIMIT_BASE : 0;
	uint64_t bound = fds / FDLIMIT_PER_SANDBOX;
	if (bound > h->slot_range.capacity)
		bound = h->slot_range.capacity;
	uint32_t guess = h->vmm.accel == ACCEL_KVM ? SANDBOX_COST_KVM_MB : SANDBOX_COST_TCG_MB;
	struct capacity_conf cc = { .reserve_bytes = (uint64_t)cfg->memory_reserve_mb << 20,
				    .per_sandbox_bytes = (uint64_t)cfg->sandbox_memory_mb << 20,
				    .estimate_bytes = (uint64_t)guess << 20,
				    .other_bound = (unsigned)(bound ? bound : 1) };
	h->capacity = capacity_new(&cc);
	h->quota = quota_new((unsigned)cfg->max_sandboxes, h->capacity);
	h->idem = idem_new(IDEM_ENTRIES_MAX);
}

int host_open(const struct thawd_config *cfg, struct host **out, struct thaw_err **err)
{
	struct host *h = xcalloc(1, sizeof(*h));
	_cleanup_free_ char *dbpath = xasprintf("%s/thaw.db", cfg->data_dir);
	h->cfg = cfg;
	h->started_at = time_real_ns();
	h->vmm.binary = cfg->qemu_binary;
	h->vmm.accel = accel_resolve(cfg->accel, h->accel_why, sizeof(h->accel_why));
	h->drv = &vmm_qemu;
	h->reg = registry_new();
	h->lock_fd = -1;
	/* Before anything opens: every sandbox holds descriptors here. */
	fdlimit_raise(&h->nofile);
	if (make_dirs(cfg, err) < 0 || lock_data_dir(h, err) < 0)
		goto fail;
	make_prefix(h);
	/* Before anything is created on disk: a refused range costs nothing. */
	if (slot_range_parse(cfg->slot_cidr, &h->slot_range, err) < 0 ||
	    slot_range_check(&h->slot_range, h->if_prefix, err) < 0 ||
	    db_open(dbpath, &h->db, err) < 0 ||
	    disk_store_open(cfg->data_dir, cfg->store_mode, cfg->store_bytes, &h->store, err) < 0)
		goto fail;
	open_admission(h);
	h->sandboxes_dir = xasprintf("%s/sandboxes", h->store->root);
	h->cache_dir = xasprintf("%s/cache", h->store->root);
	if (fs_mkdir_p(h->sandboxes_dir, 0700, err) < 0 ||
	    fs_mkdir_p(h->cache_dir, 0700, err) < 0 || vmm_isolation_setup(h, err) < 0 ||
	    catalog_open(h->db, h->store->root, &h->catalog, err) < 0 ||
	    images_open(h, &h->images, err) < 0 || remote_open(h, err) < 0 ||
	    slotpool_open(h, &h->slots, err) < 0 || network_setup(h, err) < 0 ||
	    supervisor_start(on_vmm_exit, h, &h->sup, err) < 0)
		goto fail;
	struct reconcile_report rep;
	reconcile(h, &rep);
	publish_table_open(h);
	publish_restore(h); /* issue 17: published ports of the sandboxes kept */
	if (slotpool_start(h->slots, (unsigned)cfg->slot_pool, err) < 0 ||
	    vmmpool_start(h, (unsigned)cfg->vmm_pool, cfg->vmm_pool_restored,
			  (unsigned)cfg->vmm_pool_min_free_mb, &h->vmms, err) < 0 ||
	    usage_start(h, cfg->usage_interval_s, cfg->usage_window_s, &h->usage, err) < 0)
		goto fail;
	*out = h;
	return 0;
fail:
	host_close(h);
	return err_wrap(err, "starting the host agent");
}

void host_close(struct host *h)
{
	if (!h)
		return;
	/* Stop watching first: VMMs keep running after thawd exits and are
	 * adopted by the next start. */
	usage_stop(h->usage); /* it walks the registry */
	h->usage = NULL;
	supervisor_stop(h->sup);
	h->sup = NULL;
	vmmpool_stop(h->vmms); /* warm VMMs are not sandboxes: they go */
	publish_table_close(h); /* their rows stay, for the next start */
	registry_free(h, h->reg);
	quota_free(h->quota);
	idem_free(h->idem);
	capacity_free(h->capacity);
	slotpool_close(h->slots); /* after the sandboxes: they may give slots back */
	remote_close(h, false);	  /* the lazy layer keeps serving surviving VMMs */
	catalog_close(h->catalog);
	images_close(h->images);
	disk_store_free(h->store);
	db_close(h->db);
	cgroups_close(h->vmm.cgroups);
	if (h->jail)
		jail_plan_free(h->jail);
	free(h->jail);
	free(h->sandboxes_dir);
	free(h->cache_dir);
	if (h->lock_fd >= 0)
		close(h->lock_fd);
	free(h);
}
