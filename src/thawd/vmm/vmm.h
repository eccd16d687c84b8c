/* The VMM driver interface. thawd talks to a VMM only through a
 * vmm_driver, so a second VMM is a new file implementing these ops.
 *
 * A VMM process is a child of thawd but deliberately outlives it: a
 * restarted thawd re-attaches to it (attach) or kills it. Processes are
 * tracked by pid plus the kernel's start time, so a reused pid is never
 * mistaken for ours. */
#ifndef THAW_VMM_H
#define THAW_VMM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

enum vmm_accel { ACCEL_AUTO, ACCEL_KVM, ACCEL_TCG };

/* Every VMM gets its guest memory as this inherited descriptor and keeps
 * it open: thawd finds the mapping through /proc/PID/fd (memcapture.h). */
#define VMM_MEMORY_FD 5

int accel_parse(const char *s, enum vmm_accel *out);
const char *accel_name(enum vmm_accel a);
/* Resolves ACCEL_AUTO: KVM only where the CPU advertises vmx/svm and
 * /dev/kvm answers; nested or paravirtual KVM without those flags is far
 * slower than TCG. `why` receives a one-line reason. */
enum vmm_accel accel_resolve(enum vmm_accel want, char *why, size_t why_size);

struct cgroups;
struct jail_plan;

struct vmm_host {
	const char *binary;   /* e.g. qemu-system-x86_64 */
	enum vmm_accel accel; /* resolved, never AUTO */
	/* The jail (vmm/jail.h), the same for every VMM but its ids; NULL
	 * (unjailed) only for debugging. VMM n runs as uid and gid
	 * uid_base + n. */
	const struct jail_plan *jail;
	uint32_t uid_base;
	/* Resource limits (vmm/cgroup.h); NULL: none. */
	struct cgroups *cgroups;
};

/* What a template fixes: it must be identical at bake and at restore. */
struct vmm_machine {
	uint32_t memory_mb;
	uint32_t vcpus;
	const char *cpu; /* CPU model: "max" under TCG, "host" under KVM */
	enum vmm_accel accel;
	/* An i8254 PIT (template/meta.h): machine_rev 1 had it for
	 * nothing; machine_rev 3 has it because, without ACPI's PM timer,
	 * it is what Linux calibrates and checks the local APIC timer
	 * against when the CPU has no TSC-deadline timer (TCG). Linux then
	 * stops it: it wakes no idle VMM. */
	bool pit;
	/* ACPI: how a kernel like Debian's finds the virtio devices
	 * (machine_rev 2 and older). Without it, QEMU names them on the
	 * kernel command line (thaw's kernel, machine_rev 3). */
	bool acpi;
};

/* Resource limits of one VMM. */
struct vmm_limits {
	uint64_t memory_bytes; /* RSS of the whole process; 0: none */
	uint32_t cpu_millis;   /* CPU time per second, in 1/1000 of a core; 0: none */
	uint32_t pids;	       /* threads; 0: none */
};

struct vmm_launch {
	const char *name;    /* process name; identifies thaw's VMMs */
	uint32_t index;	     /* unique among live VMMs (its slot): its uid */
	const char *run_dir; /* QMP socket and VMM log live here */
	const struct vmm_machine *machine;
	/* Guest memory: a descriptor the caller keeps (a template's sealed
	 * copy, which no VMM can change), else memory_path, a file of this
	 * VMM's own. */
	int memory_fd;
	const char *memory_path;
	bool memory_shared; /* bake: guest writes land in the file */
	const char *disk_path;
	/* When set, disk_path is a qcow2 overlay over this raw base, which
	 * the VMM only reads (a streamed build's disk, remote/). */
	const char *disk_base_path;
	int tap_fd;
	int netns_fd;		  /* the VMM process joins this namespace */
	const char *console_path; /* guest serial console; NULL discards it */
	/* Cold boot; initrd NULL: none (the kernel mounts its root). */
	const char *kernel, *initrd, *cmdline;
	/* Restore: device state to load, -1 for a cold boot. */
	int state_fd;
	/* Scheduling niceness of the VMM (warm-pool VMMs start at low
	 * priority so they never slow a create in progress). */
	int nice;
	struct vmm_limits limits;
};

/* Moments of a restore, unix ns (QEMU stamps its events with the host's
 * realtime clock, so they compare with ours). */
struct vmm_timings {
	uint64_t spawned, qmp_ready, state_loaded, resumed;
};

struct vmm {
	const struct vmm_driver *drv;
	pid_t pid;
	int pidfd;
	uint64_t start_ticks; /* /proc/PID/stat starttime */
	char *run_dir;
	char *name;		 /* its -name; NULL when re-attached */
	struct cgroups *cgroups; /* where its cgroup lives; not owned */
	void *priv;
};

struct vmm_driver {
	const char *name;
	/* Cold boot; returns with the guest running. */
	int (*boot)(const struct vmm_host *h, const struct vmm_launch *l, struct vmm **out,
		    struct thaw_err **err);
	/* Start and load device state; returns once the guest runs again. */
	int (*restore)(const struct vmm_host *h, const struct vmm_launch *l, struct vmm **out,
		       struct vmm_timings *t, struct thaw_err **err);
	/* The same restore in two halves, for the warm pool: prepare starts
	 * the VMM and makes it ready to take device state (the slow part,
	 * done ahead of time); load then loads it and returns once the guest
	 * runs. */
	int (*prepare)(const struct vmm_host *h, const struct vmm_launch *l, struct vmm **out,
		       struct thaw_err **err);
	int (*load)(struct vmm *v, struct vmm_timings *t, struct thaw_err **err);
	/* Stops the guest and writes its device state, not RAM, to a new
	 * file at path (the VMM process writes it). The guest stays
	 * stopped. RAM is the caller's business: a shared memory file (a
	 * bake), or snapshot/memcapture.h for a private mapping. */
	int (*save_state)(struct vmm *v, const char *path, struct thaw_err **err);
	/* Stops the guest's CPUs (in-flight disk I/O is drained and
	 * flushed) and lets it run again. */
	int (*stop)(struct vmm *v, struct thaw_err **err);
	int (*cont)(struct vmm *v, struct thaw_err **err);
	/* Whether the guest runs (false: stopped, e.g. by a thawd that died
	 * between stop and cont). */
	int (*is_running)(struct vmm *v, bool *running, struct thaw_err **err);
	/* Asks the VMM to exit, waits up to timeout_ms. */
	int (*quit)(struct vmm *v, int timeout_ms, struct thaw_err **err);
	/* Re-attaches to a VMM started by an earlier thawd. */
	int (*attach)(const char *run_dir, pid_t pid, uint64_t start_ticks, struct vmm **out,
		      struct thaw_err **err);
	/* The VMM's version string, for template metadata. */
	const char *(*version)(const struct vmm_host *h);
	/* Frees driver state (the QMP connection); the process is untouched. */
	void (*release)(struct vmm *v);
};

extern const struct vmm_driver vmm_qemu;

/* Kills (SIGKILL through the pidfd) and waits until the process is gone;
 * reaps it when it is our child. Idempotent. */
void vmm_kill(struct vmm *v);
/* Non-blocking: true once the process has exited. */
bool vmm_exited(const struct vmm *v);
/* !vmm_exited, shaped as an agent_alive_fn. */
bool vmm_alive(void *v);
/* Reaps our child if it has exited; returns its wait status or -1. */
int vmm_reap(struct vmm *v);
void vmm_free(struct vmm *v);

/* Sets the niceness of every thread of the VMM process. */
int vmm_renice(const struct vmm *v, int nice, struct thaw_err **err);

/* Process identity helpers (also used by the orphan sweep). */
int proc_start_ticks(pid_t pid, uint64_t *out);
int pidfd_open_pid(pid_t pid);

#endif
