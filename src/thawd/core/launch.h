/* Starting the VM of a sandbox (or of a warm-pool entry that will become
 * one): the machine its template fixes, in its network slot, on its disk
 * clone. Three ways, one machine description:
 *   restore    start the VMM and load the snapshot (the create path)
 *   prepare    start the VMM ready to load (the warm pool), then
 *              vmm_driver.load at create
 *   cold boot  boot the template's kernel on fresh memory (the baseline)
 * Each returns with thawd's copy of the tap closed: the VMM owns it. */
#ifndef THAW_LAUNCH_H
#define THAW_LAUNCH_H

#include "core/host.h"
#include "template/catalog.h"
#include "vmm/vmm.h"

struct netslot;
struct agent_conn;

struct launch_target {
	const char *id;	     /* sandbox id: names the VMM process */
	const char *dir;     /* STORE/sandboxes/<id>: the disk clone lives here */
	const char *run_dir; /* DATA/run/<id> */
	struct netslot *slot;
	uint32_t cpu_millis; /* CPU limit; 0: the template's vCPUs */
};

/* The resource limits of a VMM of a machine this size: its RAM plus the
 * VMM's overhead, its vCPUs' worth of CPU, the host's thread cap. */
struct vmm_limits launch_limits(const struct host *h, uint32_t memory_mb, uint32_t vcpus);

/* Gives a running VMM the limits of template t with this CPU limit (0:
 * the template's vCPUs): a warm VMM taken by a create that asked for
 * less. */
int launch_set_cpu_limit(struct host *h, const struct template *t, struct vmm *v,
			 uint32_t cpu_millis, struct thaw_err **err);

/* A streamed template (remote/) that creates have used gets the sealed
 * copy of its memory a local template has, read through the lazy layer
 * (which fetches what this host lacks): later VMMs map it instead of the
 * lazy layer's file. Does nothing for others, or when done. */
int launch_promote_streamed(struct host *h, struct template *t, struct thaw_err **err);

/* Creates dir and clones the template's root disk into it. */
int launch_clone_disk(struct host *h, const struct template *t, const char *dir,
		      struct thaw_err **err);

int launch_restore(struct host *h, const struct template *t, const struct launch_target *lt,
		   struct vmm **out, struct vmm_timings *tm, struct thaw_err **err);
/* A warm VMM starts at niceness WARM_VMM_NICE: it must not compete with
 * creates in progress; vmm_renice puts it back when it is taken. */
#define WARM_VMM_NICE 10
int launch_prepare(struct host *h, const struct template *t, const struct launch_target *lt,
		   struct vmm **out, struct thaw_err **err);
int launch_cold_boot(struct host *h, const struct template *t, const struct launch_target *lt,
		     struct vmm **out, struct vmm_timings *tm, struct thaw_err **err);

/* The readiness probe: connect to the guest agent over the guest network
 * and send HELLO (host clock, fresh entropy, hostname). The guest has
 * applied all three when this returns 0. This one is for a running VM
 * whose clock stood still (after a capture). */
int launch_probe(struct netslot *slot, struct vmm *vmm, const char *hostname,
		 struct thaw_err **err);
/* The probe of a VM just started or restored: the agent also closes the
 * host connections the snapshot held (T_FRESH). *connected_ns (unix ns,
 * may be NULL) is when the TCP connection was accepted; with keep, the
 * connection is handed over on success (to be parked for the first
 * call, sandbox_agent_park) instead of closed. */
int launch_probe_new(struct netslot *slot, struct vmm *vmm, const char *hostname, bool booting,
		     uint64_t *connected_ns, struct agent_conn **keep, struct thaw_err **err);

/* One command (`true`) through the exec path: a second connection and a
 * spawn in the guest, so that the emulator has translated that path
 * before a user's first command (warm VMMs), or so that a restore has
 * touched what a first command touches (the prefetch trace). */
int launch_first_command(struct netslot *slot, struct vmm *vmm, struct thaw_err **err);

#endif
