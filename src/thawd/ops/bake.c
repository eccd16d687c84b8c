#include "bake.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <x86intrin.h>

#include "buf.h"
#include "cleanup.h"
#include "core/launch.h"
#include "core/slotpool.h"
#include "core/stats.h"
#include "core/vmmpool.h"
#include "fsutil.h"
#include "guestconn/agent.h"
#include "ids.h"
#include "net/slot.h"
#include "proc.h"
#include "remote/remote.h"
#include "sha256.h"
#include "template/catalog.h"
#include "template/recipe.h"
#include "timeutil.h"

#define AGENT_BOOT_TIMEOUT_MS 90000
/* Every option here shortens the guest's work under emulation or keeps
 * it from doing anything after the snapshot:
 *  - loglevel=4: warnings still reach the bake's console log;
 *  - mitigations=off, init_on_alloc=0: no speculation barriers, page
 *    table isolation or page zeroing, costly under TCG and of no use
 *    inside a single-tenant VM;
 *  - ipv6.disable=1: no address autoconfiguration timers that would
 *    fire in every clone right after restore (the guest network is v4);
 *  - nowatchdog: no soft-lockup timer;
 *  - vm.compaction_proactiveness=0: kcompactd would otherwise wake the
 *    idle guest twice a second to measure fragmentation (with the
 *    PIT gone, the last periodic wake-up of an idle guest);
 *  - tsc_early_khz (added at bake): under TCG the guest TSC runs at the
 *    host's rate, and calibrating it against the emulated PIT fails now
 *    and then, leaving the guest without a usable clocksource. */
#define BASE_CMDLINE                                                                               \
	"console=ttyS0 loglevel=4 pci=off mitigations=off panic=-1 reboot=t "                      \
	"init_on_alloc=0 tsc=reliable ipv6.disable=1 nowatchdog lsm=capability audit=0 "           \
	"cgroup_disable=memory hardened_usercopy=off randomize_kstack_offset=off preempt=none "    \
	"transparent_hugepage=never psi=0 sysctl.vm.compaction_proactiveness=0"

/* thaw's kernel (templates/kernel/thaw.config) has no PCI, LSM, audit,
 * IPv6, watchdog, THP, PSI, compaction or preemption choice to turn off:
 * what is left are the options it has. It mounts the root disk itself
 * and starts the agent as init (no initramfs). The memory controller is built in and stays off until
 * a template asks for it (recipe cmdline): its accounting runs on every
 * page fault. */
#define THAW_KERNEL_CMDLINE                                                                        \
	"console=ttyS0 loglevel=4 mitigations=off panic=-1 reboot=t init_on_alloc=0 tsc=reliable " \
	"cgroup_disable=memory root=/dev/vda rootfstype=ext4 rw init=/usr/sbin/thaw-agent"

/* Under TCG only: no address space randomisation in the guest. TCG finds
 * a translation by the guest's virtual address, so with ASLR every new
 * process translates its loader and libraries again: each exec grew the
 * VMM's translation cache by ~1.3 MiB (until the cache was full) and took
 * twice as long. Under KVM nothing is translated and ASLR stays. */
#define TCG_CMDLINE " norandmaps"

struct bake {
	struct host *h;
	const char *name;
	bake_progress_fn progress;
	void *ud;
	struct recipe recipe;
	char build_id[48];
	char *tmp_dir;
	char *run_dir;
	char *console_path; /* kept after the bake, failed or not */
	struct netslot *slot;
	struct vmm *vmm;
	struct template_meta meta;
};

static void stage(struct bake *b, int step, const char *stage_name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void stage(struct bake *b, int step, const char *stage_name, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	catalog_bake_stage(b->h->catalog, b->name, stage_name, step);
	log_info("bake.stage", "template=%s stage=%s", b->name, stage_name);
	if (b->progress)
		b->progress(stage_name, step, msg, b->ud);
}

static void script_line(const char *line, void *ud)
{
	struct bake *b = ud;
	if (b->progress && *line)
		b->progress("rootfs", 2, line, b->ud);
}

static int build_rootfs(struct bake *b, struct thaw_err **err)
{
	const struct thawd_config *cfg = b->h->cfg;
	_cleanup_free_ char *script = xasprintf("%s/build-rootfs.sh", cfg->recipes_dir);
	_cleanup_free_ char *disk_mb = xasprintf("%u", b->recipe.disk_mb);
	const char *argv[] = { script,		b->recipe.dir, b->tmp_dir, b->h->cache_dir,
			       cfg->agent_path, disk_mb,       NULL };
	if (!fs_exists(cfg->agent_path))
		return err_set(err, ERR_UNAVAILABLE, "guest agent binary %s is missing (run make)",
			       cfg->agent_path);
	if (proc_run(argv, NULL, script_line, b, err) < 0)
		return err_wrap(err, "building the root file system");
	/* The script names the kernel it put there (one line); it is not
	 * one of the build's files. */
	_cleanup_free_ char *id_path = xasprintf("%s/.kernel-id", b->tmp_dir);
	_cleanup_free_ char *id = NULL;
	if (fs_read_file(id_path, sizeof(b->meta.kernel), &id, NULL, NULL) == 0) {
		id[strcspn(id, "\n")] = '\0';
		for (char *c = id; *c; c++)
			if (*c < 0x20 || *c > 0x7e)
				*c = '?';
		snprintf(b->meta.kernel, sizeof(b->meta.kernel), "%s", id);
	}
	unlink(id_path);
	return 0;
}

/* The host TSC rate, measured: /proc/cpuinfo's "cpu MHz" is the current
 * core clock on many hosts, not the TSC's. */
static unsigned host_tsc_khz(void)
{
	uint64_t t0 = time_mono_ns(), c0 = __rdtsc();
	usleep(50000);
	uint64_t t1 = time_mono_ns(), c1 = __rdtsc();
	return (unsigned)((c1 - c0) * 1000000ull / (t1 - t0));
}

/* A named model (--cpu-model) lets other hosts restore the template;
 * -cpu host gives the guest every feature of this CPU, and only this
 * kind of CPU can restore it. TCG emulates "max" on any host. */
static const char *bake_cpu_model(const struct host *h)
{
	if (h->cfg->cpu_model)
		return h->cfg->cpu_model;
	return h->vmm.accel == ACCEL_KVM ? "host" : "max";
}

/* The device model follows the kernel: Debian's finds its devices
 * through ACPI, thaw's is built for the smallest model. */
static uint32_t bake_machine_rev(const struct bake *b)
{
	return b->recipe.kernel == RECIPE_KERNEL_THAW ? META_MACHINE_REV : META_MACHINE_ACPI;
}

static void fill_machine(struct bake *b, struct vmm_machine *m)
{
	m->memory_mb = b->recipe.memory_mb;
	m->vcpus = b->recipe.vcpus;
	m->cpu = bake_cpu_model(b->h);
	m->accel = b->h->vmm.accel;
	m->pit = meta_machine_has_pit(bake_machine_rev(b));
	m->acpi = meta_machine_has_acpi(bake_machine_rev(b));
}

static int boot_vm(struct bake *b, struct thaw_err **err)
{
	bool warm;
	if (slotpool_take(b->h->slots, true, &b->slot, &warm, err) < 0)
		return -1;
	/* Bake VMMs are named like sandboxes, so a restart's sweep finds one
	 * left by a crash. */
	_cleanup_free_ char *ns = xasprintf("%sbake-%s", b->h->ns_prefix, b->build_id);
	struct vmm_machine machine;
	fill_machine(b, &machine);
	_cleanup_free_ char *mem = xasprintf("%s/%s", b->tmp_dir, meta_file_name(MF_MEMORY));
	_cleanup_free_ char *disk = xasprintf("%s/%s", b->tmp_dir, meta_file_name(MF_ROOTFS));
	_cleanup_free_ char *kernel = xasprintf("%s/%s", b->tmp_dir, meta_file_name(MF_KERNEL));
	_cleanup_free_ char *initrd = xasprintf("%s/%s", b->tmp_dir, meta_file_name(MF_INITRD));
	bool thaw_kernel = b->recipe.kernel == RECIPE_KERNEL_THAW;
	if (!fs_exists(initrd)) {
		free(initrd);
		initrd = NULL;
	}
	snprintf(b->meta.cmdline, sizeof(b->meta.cmdline), "%s%s tsc_early_khz=%u%s%s",
		 thaw_kernel ? THAW_KERNEL_CMDLINE : BASE_CMDLINE,
		 machine.accel == ACCEL_TCG ? TCG_CMDLINE : "", host_tsc_khz(),
		 b->recipe.cmdline_extra ? " " : "",
		 b->recipe.cmdline_extra ? b->recipe.cmdline_extra : "");
	struct vmm_launch l = { .name = ns,
				.index = b->slot->index,
				.run_dir = b->run_dir,
				.machine = &machine,
				.memory_fd = -1,
				.memory_path = mem,
				.memory_shared = true,
				.disk_path = disk,
				.tap_fd = b->slot->tap_fd,
				.netns_fd = b->slot->ns_fd,
				.console_path = b->console_path,
				.kernel = kernel,
				.initrd = initrd,
				.cmdline = b->meta.cmdline,
				.state_fd = -1,
				.limits = launch_limits(b->h, machine.memory_mb, machine.vcpus) };
	if (fs_mkdir_p(b->run_dir, 0700, err) < 0)
		return -1;
	return b->h->drv->boot(&b->h->vmm, &l, &b->vmm, err);
}

static int warm_up(struct bake *b, struct thaw_err **err)
{
	struct agent_conn *c = NULL;
	const char *argv[] = { "/bin/sh", "-c", b->recipe.warmup, NULL };
	struct agent_exec_req req = { .argv = argv, .timeout_ms = 300000, .max_output = 65536 };
	struct agent_exec_result res;
	memset(&res, 0, sizeof(res));
	int rc = agent_connect(b->slot, 10000, AGENT_ATTEMPT_RESTORED_MS, vmm_alive, b->vmm, &c,
			       err);
	if (rc == 0)
		rc = agent_exec(c, &req, &res, err);
	agent_close(c);
	if (rc == 0 && res.exit_code != 0)
		rc = err_set(err, ERR_INVALID, "the recipe's warmup command exited with %d: %.200s",
			     res.exit_code, buf_cstr(&res.err));
	agent_exec_result_free(&res);
	return rc < 0 ? err_wrap(err, "warming up") : 0;
}

static int wait_agent(struct bake *b, struct thaw_err **err)
{
	struct agent_conn *c = NULL;
	struct agent_hello_reply hello;
	if (agent_connect(b->slot, AGENT_BOOT_TIMEOUT_MS, AGENT_ATTEMPT_BOOTING_MS, vmm_alive,
			  b->vmm, &c, err) < 0 ||
	    agent_hello(c, "thaw", false, 10000, &hello, err) < 0) {
		agent_close(c);
		return err_wrap(err, "waiting for the guest agent (guest console: %s)",
				b->console_path);
	}
	snprintf(b->meta.agent_version, sizeof(b->meta.agent_version), "%s", hello.version);
	agent_close(c);
	return 0;
}

/* Brings the guest to the state every clone starts from: warmed up,
 * idle, its disks flushed, no connection open. */
static int quiesce(struct bake *b, struct thaw_err **err)
{
	if (b->recipe.warmup && warm_up(b, err) < 0)
		return -1;
	/* One plain command the way every exec runs one (the agent's fork,
	 * exec and reaping; the loader; a binary found on PATH), so that what
	 * it reads from disk (inodes, directories, pages) is in the
	 * snapshot's page cache: a clone's first exec then reads nothing
	 * through its virtual disk. */
	if (launch_first_command(b->slot, b->vmm, err) < 0)
		return err_wrap(err, "running a first command");
	/* Let boot-time deferred work finish before the snapshot (link
	 * watch events, RCU callbacks, timers armed during boot): whatever is
	 * still pending would run in every clone, right after restore, on
	 * the path to its first answer. */
	usleep(b->recipe.settle_ms * 1000u);
	struct agent_conn *c = NULL;
	if (agent_connect(b->slot, 10000, AGENT_ATTEMPT_RESTORED_MS, vmm_alive, b->vmm, &c, err) <
	    0)
		return -1;
	int rc = agent_prepare(c, 60000, err);
	agent_close(c);
	/* Give the guest's side of that connection time to reach CLOSED:
	 * a half-closed socket in the snapshot would wake up in every clone. */
	usleep(100000);
	return rc;
}

static int snapshot(struct bake *b, struct thaw_err **err)
{
	_cleanup_free_ char *state = xasprintf("%s/%s", b->tmp_dir, meta_file_name(MF_STATE));
	uint64_t t0 = time_mono_ns();
	/* RAM is the shared memory file itself: stopped guest, complete file. */
	if (b->h->drv->save_state(b->vmm, state, err) < 0)
		return -1;
	b->meta.snapshot_ms = ns_to_ms(time_mono_ns() - t0);
	if (b->h->drv->quit(b->vmm, 10000, err) < 0)
		return -1;
	vmm_free(b->vmm);
	b->vmm = NULL;
	/* The jailed VMM owned its memory and disk; they are the template's
	 * now: root's, and no VMM's. */
	const enum meta_file_role owned[] = { MF_MEMORY, MF_ROOTFS };
	for (size_t i = 0; i < 2; i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", b->tmp_dir, meta_file_name(owned[i]));
		if (chown(p, 0, 0) < 0)
			return err_sys(err, "taking %s back from the VMM", p);
	}
	if (chown(b->console_path, 0, 0) < 0)
		log_debug("bake.console", "path=%s errno=%d", b->console_path, errno);
	return fs_fsync_path(state, err);
}

static int checksum_all(struct bake *b, struct thaw_err **err)
{
	_cleanup_free_ char *initrd = xasprintf("%s/%s", b->tmp_dir, meta_file_name(MF_INITRD));
	bool has_initrd = fs_exists(initrd); /* thaw's kernel boots without one */
	for (int i = 0; i < MF_COUNT; i++)
		if ((i != MF_INITRD || has_initrd) &&
		    build_describe_file(b->tmp_dir, (enum meta_file_role)i, true, true, &b->meta,
					err) < 0)
			return -1;
	return 0;
}

static int publish(struct bake *b, struct thaw_err **err)
{
	struct template_meta *m = &b->meta;
	snprintf(m->name, sizeof(m->name), "%s", b->name);
	snprintf(m->build_id, sizeof(m->build_id), "%s", b->build_id);
	m->created_at = (int64_t)(time_real_ns() / 1000000000ull);
	snprintf(m->vmm, sizeof(m->vmm), "%s", b->h->drv->name);
	snprintf(m->vmm_version, sizeof(m->vmm_version), "%s", b->h->drv->version(&b->h->vmm));
	snprintf(m->accel, sizeof(m->accel), "%s", accel_name(b->h->vmm.accel));
	snprintf(m->cpu, sizeof(m->cpu), "%s", bake_cpu_model(b->h));
	m->memory_mb = b->recipe.memory_mb;
	m->vcpus = b->recipe.vcpus;
	m->machine_rev = bake_machine_rev(b);
	m->source = SOURCE_BAKE;
	char sum[SHA256_HEX_LEN + 1];
	if (build_write_meta(b->tmp_dir, m, sum, err) < 0 ||
	    catalog_publish(b->h->catalog, b->tmp_dir, m, sum, NULL, err) < 0) /* shared */
		return -1;
	remote_publish_later(b->h, m->name, m->build_id, NULL);
	return 0;
}

static void bake_cleanup(struct bake *b, bool failed)
{
	if (b->vmm) {
		vmm_kill(b->vmm);
		vmm_free(b->vmm);
	}
	slotpool_give(b->h->slots, b->slot);
	if (b->run_dir)
		fs_rm_rf(b->run_dir, NULL);
	if (failed && b->tmp_dir)
		fs_rm_rf(b->tmp_dir, NULL);
	free(b->tmp_dir);
	free(b->run_dir);
	free(b->console_path);
	recipe_free(&b->recipe);
}

static int bake_steps(struct bake *b, struct thaw_err **err)
{
	struct host *h = b->h;
	stage(b, 1, "recipe", "reading recipe %s", b->name);
	if (recipe_load(h->cfg->recipes_dir, b->name, &b->recipe, err) < 0 ||
	    host_check_machine(h, b->name, b->recipe.memory_mb, b->recipe.vcpus, ERR_INVALID, err) <
		    0 ||
	    /* Its memory file at least: refused now, not after minutes of
	     * building, with a half-written build left to clean up. */
	    disk_store_check_room(h->store, b->recipe.memory_mb, "bake a template", err) < 0)
		return -1;
	id_new_build(b->build_id, sizeof(b->build_id));
	_cleanup_free_ char *parent = catalog_template_dir(h->catalog, b->name);
	b->tmp_dir = xasprintf("%s/.tmp-%s", parent, b->build_id);
	b->run_dir = xasprintf("%s/run/bake-%s", h->cfg->data_dir, b->build_id);
	_cleanup_free_ char *logs = xasprintf("%s/logs", h->cfg->data_dir);
	b->console_path = xasprintf("%s/bake-%s-%s.console.log", logs, b->name, b->build_id);
	if (fs_mkdir_p(b->tmp_dir, 0700, err) < 0 || fs_mkdir_p(logs, 0700, err) < 0)
		return -1;
	stage(b, 2, "rootfs", "building the root file system (cached after the first bake)");
	if (build_rootfs(b, err) < 0)
		return -1;
	stage(b, 3, "boot", "cold-booting the VM (%s, %u MiB, %u vCPU)", accel_name(h->vmm.accel),
	      b->recipe.memory_mb, b->recipe.vcpus);
	uint64_t t0 = time_mono_ns();
	if (boot_vm(b, err) < 0)
		return -1;
	stage(b, 4, "agent", "waiting for the guest agent");
	if (wait_agent(b, err) < 0)
		return -1;
	b->meta.boot_ms = ns_to_ms(time_mono_ns() - t0);
	stage(b, 5, "quiesce",
	      "guest agent answered after %.0f ms; warming up and settling for %u ms",
	      b->meta.boot_ms, b->recipe.settle_ms);
	if (quiesce(b, err) < 0)
		return -1;
	stage(b, 6, "snapshot", "saving device state");
	if (snapshot(b, err) < 0)
		return -1;
	stage(b, 7, "checksum", "checksumming and syncing artifacts");
	if (checksum_all(b, err) < 0)
		return -1;
	stage(b, 8, "publish", "publishing build %s", b->build_id);
	return publish(b, err);
}

int bake_template(struct host *h, const char *name, bake_progress_fn progress, void *ud,
		  struct template_meta *out, struct thaw_err **err)
{
	STATS_TIME_OP("bake", err);
	if (!id_valid_template(name))
		return err_set(err, ERR_INVALID, "template name must be 1-63 of [a-z0-9-]");
	if (catalog_bake_begin(h->catalog, name, err) < 0)
		return -1;
	struct bake b = { .h = h, .name = name, .progress = progress, .ud = ud };
	int rc = bake_steps(&b, err);
	if (rc < 0)
		err_wrap(err, "baking %s", name);
	else
		*out = b.meta;
	bake_cleanup(&b, rc < 0);
	log_notice(rc == 0 ? "bake.done" : "bake.failed", "template=%s build=%s", name, b.build_id);
	if (rc == 0) {
		catalog_gc(h->catalog, name);
		vmmpool_poke(h->vmms); /* replace warm VMMs of the old build */
	}
	catalog_bake_end(h->catalog, name); /* last use of h: shutdown waits for it */
	return rc;
}
