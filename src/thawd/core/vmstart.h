/* The one way a sandbox's VM starts: for a create (from a template build,
 * or finishing a warm VMM of the pool), for a fork child (from the fork's
 * image) and for a resume (from the pause's image). A network slot, a
 * clone of the source's disk, the VMM with the source's memory mapped
 * and its device state loaded (or a cold boot), the readiness probe that
 * gives the guest the host's clock, fresh entropy and its hostname, and
 * the supervisor's watch. Every stage is timed. */
#ifndef THAW_VMSTART_H
#define THAW_VMSTART_H

#include <stdbool.h>
#include <stdint.h>

#include "core/host.h"
#include "core/stats.h"
#include "template/build.h"
#include "vmm/vmm.h"

struct sandbox;

/* Moments of a start, ns: t0 and template (the operation's own), then
 * the start's stages. */
struct vm_clock {
	uint64_t t0, template, network, disk; /* monotonic */
	struct vmm_timings vmm;		      /* unix ns, from the VMM */
	bool pooled;			      /* a warm VMM was used */
	uint64_t connected_real;	      /* unix ns: the guest accepted the probe */
	uint64_t ready_real;		      /* unix ns: the guest answered it */
};

/* The stages in milliseconds, as the API shows them (timings_ms), until
 * end: a new JSON text. */
char *vm_clock_json(const struct vm_clock *c, uint64_t end);

/* The stages as the metrics count them (core/stats.h), in ns: template,
 * network, disk, vmm_start, state_load, resume, readiness (0 for one that
 * did not happen: a warm VMM did it ahead). Returns how many (VM_STAGES). */
#define VM_STAGES 7
size_t vm_clock_stages(const struct vm_clock *c, struct stats_stage out[VM_STAGES]);

/* Whether a VM of this build can run here: its accelerator, VMM and size
 * (ERR_CONFLICT). */
int vm_check_fits(struct host *h, const struct template *t, struct thaw_err **err);

struct vm_start {
	const struct template *from; /* template build or image */
	bool cold_boot;		     /* boot its kernel instead of restoring */
	bool use_pools;		     /* a slot from the pool when one is ready */
	/* Issue 17 (recover): boot on the disk clone sb already has (kept
	 * when its VMM died) instead of cloning from's */
	bool own_disk;
	/* sb already holds a warm VMM (sb->vmm, sb->slot, its disk): finish
	 * it instead of starting one; restored: the pool loaded it ahead. */
	bool warm, warm_restored;
	const char *failpoint; /* passed once the VM runs (failpoint.h); NULL: none */
};

/* Gives sb its running VM (it has none, or only a warm one). On failure
 * what sb holds is the caller's to release (sandbox_release). */
int vm_start(struct host *h, struct sandbox *sb, const struct vm_start *vs, struct vm_clock *clk,
	     struct thaw_err **err);

#endif
