/* Resource limits for VMM processes, through cgroups.
 *
 * Every VMM gets a group of its own, named like the VMM, under one group
 * per thawd instance (thaw-<6 hex>, the instance's name prefix): memory
 * (its RSS: guest RAM plus the VMM's own overhead), CPU time (a quota
 * per period) and the number of its threads. A guest that spins, fills
 * its RAM or makes its VMM misbehave slows only itself.
 *
 * cgroup v2 where /sys/fs/cgroup is the unified hierarchy; else v1 with
 * the memory, cpu and pids controllers mounted apart (as on hosts that
 * keep the legacy layout). A host with neither runs without limits, and
 * says so at start. */
#ifndef THAW_CGROUP_H
#define THAW_CGROUP_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "vmm.h"

/* cgroup.procs descriptors a new VMM writes itself into (one per v1
 * hierarchy). */
#define CGROUP_MAX_FDS 3

struct cgroups;

/* Finds the hierarchy, creates the instance's group (instance: e.g.
 * "thaw-3fa9c1"). ERR_UNAVAILABLE when the host has no usable cgroups. */
int cgroups_open(const char *instance, struct cgroups **out, struct thaw_err **err);
void cgroups_close(struct cgroups *c);
/* "v2" or "v1". */
const char *cgroups_version(const struct cgroups *c);

/* Creates the group `name` with these limits and opens its cgroup.procs
 * file(s) for the new VMM's child side to write "0" into. */
int cgroup_vmm_create(struct cgroups *c, const char *name, const struct vmm_limits *lim,
		      int procs_fd[CGROUP_MAX_FDS], int *n, struct thaw_err **err);
/* Changes the limits of a running VMM's group. */
int cgroup_vmm_set_limits(struct cgroups *c, const char *name, const struct vmm_limits *lim,
			  struct thaw_err **err);
/* Reads the limits in force and the memory in use; ERR_NOT_FOUND when
 * there is no such group. */
int cgroup_vmm_read(struct cgroups *c, const char *name, struct vmm_limits *lim,
		    uint64_t *memory_used, struct thaw_err **err);
/* What the group uses now, for the usage sampler (core/usage.h): one to
 * three small reads. */
#define CGROUP_NO_CPU UINT64_MAX
struct cgroup_usage {
	/* CPU time of its processes since the group was made (v2's
	 * cpu.stat); CGROUP_NO_CPU on v1, whose cpuacct may be mounted
	 * apart from the groups thawd makes. */
	uint64_t cpu_usec;
	uint64_t memory_used;  /* bytes charged to it */
	uint64_t memory_limit; /* its memory limit (0: none), read only with_limit */
};
int cgroup_vmm_usage(struct cgroups *c, const char *name, bool with_limit,
		     struct cgroup_usage *u, struct thaw_err **err);
/* How many of the group's processes an OOM killer ended (the kernel's,
 * for the whole host or for the group's limit). */
int cgroup_vmm_oom_kills(struct cgroups *c, const char *name, uint64_t *out, struct thaw_err **err);
/* Removes the group (best effort: a group with a live process stays). */
void cgroup_vmm_remove(struct cgroups *c, const char *name);
/* Removes every group of the instance that no process is in and that is
 * older than min_age_s (a group is made a moment before its VMM joins
 * it: while VMMs may be starting, 30 s keeps their groups safe); returns
 * how many it removed. With instance_too, also the instance's own group
 * (the teardown, once every VMM is gone). */
#define CGROUP_SWEEP_STARTING_S 30
int cgroups_sweep(struct cgroups *c, int min_age_s, bool instance_too);

#endif
