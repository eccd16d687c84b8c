/* The jail every VMM runs in.
 *
 * A VMM runs guest code: a bug in its device emulation must not give the
 * guest the host. So each VMM process
 *   - runs as a uid and gid of its own (no other process shares them),
 *     with no capabilities, no supplementary groups and no_new_privs;
 *   - sees a root file system of its own: a private mount namespace whose
 *     root is a read-only tmpfs holding the host's /usr (read-only, for
 *     the VMM's binary, libraries and firmware), /dev/null, /dev/zero,
 *     /dev/urandom (and /dev/kvm under KVM) and a /proc that shows only
 *     its own processes. Nothing of thawd's data dir is there: every file
 *     the VMM uses comes as an inherited descriptor (vmm/qemu.c);
 *   - cannot dump core (its memory is the guest's).
 * QEMU adds its own seccomp filter on top (-sandbox, vmm/qemu_argv.c).
 *
 * The plan is built in the parent (it allocates); jail_enter runs in the
 * vfork child between fork and exec and makes only system calls. */
#ifndef THAW_JAIL_H
#define THAW_JAIL_H

#include <stdbool.h>
#include <sys/types.h>

#include "err.h"

#define JAIL_MAX_STEPS 24

enum jail_step_kind {
	JAIL_BIND_DIR,	/* read-only bind of a host directory */
	JAIL_BIND_DEV,	/* read-only bind of a host device node */
	JAIL_BIND_FILE, /* read-only bind of a host file */
	JAIL_SYMLINK,	/* a symlink with the host's target (merged /usr) */
	JAIL_PROC,	/* procfs showing only the VMM's own processes */
};

struct jail_step {
	enum jail_step_kind kind;
	char *src; /* host path, or the symlink's target */
	char *dst; /* path under the jail root, as the parent sees it */
};

struct jail_plan {
	char *root;	/* an empty host directory: the tmpfs is mounted here */
	char *old_root; /* root + OLD_ROOT: where pivot_root puts the host's */
	uid_t uid;
	gid_t gid;
	/* Its only supplementary group: /dev/kvm's (under KVM), 0: none. */
	gid_t kvm_gid;
	struct jail_step step[JAIL_MAX_STEPS];
	int nsteps;
};

/* Plans the jail of every VMM of a host, rooted at root (an existing
 * empty directory), with /dev/kvm when kvm. Each VMM's copy gets its own
 * uid and gid before jail_enter. */
int jail_plan_build(const char *root, bool kvm, struct jail_plan *out, struct thaw_err **err);
void jail_plan_free(struct jail_plan *p);

/* In the child: builds the mount namespace, chroots, drops every
 * privilege to p->uid/p->gid (never 0: EPERM). Returns 0, or -1 with
 * errno set. Async-signal-safe. */
int jail_enter(const struct jail_plan *p);

#endif
