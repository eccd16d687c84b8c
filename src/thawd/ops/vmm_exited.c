/* A VMM that ends on its own (a crash, the OOM killer) leaves its sandbox
 * failed, with the reason, and frees what it held; the supervisor calls
 * sandbox_vmm_exited, and an operation that held the sandbox while the
 * VMM died calls sandbox_recheck_vmm once it lets go. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "core/capacity.h"
#include "core/registry.h"
#include "core/supervisor.h"
#include "log.h"
#include "ops/ops.h"
#include "vmm/cgroup.h"

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
	/* A page of a streamed template that the lazy layer could not
	 * deliver (the store failed, a window did not match its hash, the
	 * lazy layer died) is SIGBUS for the VMM touching it. */
	if (status == SIGBUS && h->remote)
		return xasprintf(
			"the VMM was killed by signal %d (%s): a page of its memory or disk "
			"could not be read; when it streams from the object store, see the "
			"lazy layer's log (DATA/logs/lazyfs.log) and object_store.errors",
			status, strsignal(status));
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
	_cleanup_free_ char *reason = vmm_death_reason(h, id, status);
	/* Only a running sandbox: one an operation holds (creating, pausing,
	 * resuming) is that operation's to settle (sandbox_recheck_vmm). */
	struct sb_change failed = { .to = SB_FAILED, .reason = reason };
	_cleanup_err_ struct thaw_err *err = NULL;
	if (sandbox_set_state_from(h, sb, SB_RUNNING, &failed, &err) == 0) {
		/* Issue 17: a template that can recover (a database) keeps
		 * the disk, WAL included, for POST .../recover. */
		bool keep = sandbox_recover_command(h, sb->template_name, NULL) == 1;
		log_warn("sandbox.vmm_exited", "id=%s status=%d disk_kept=%d", id, status, keep);
		if (keep)
			sandbox_release_keep_disk(h, sb);
		else
			sandbox_release(h, sb);
	} else if (sandbox_state(sb) == SB_RUNNING) {
		log_error("sandbox.vmm_exited", "id=%s error=\"%s\"", id, err_msg(err));
	}
	sandbox_unref(h, sb);
}

void sandbox_recheck_vmm(struct host *h, struct sandbox *sb)
{
	if (sb->vmm && vmm_exited(sb->vmm))
		sandbox_vmm_exited(h, sb->id);
}
