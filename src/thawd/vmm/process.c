/* Process handling shared by all VMM drivers. */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "cleanup.h"
#include "fsutil.h"
#include "vmm.h"

int pidfd_open_pid(pid_t pid)
{
	/* Held for the VMM's whole life. */
	return fd_keep_high((int)syscall(SYS_pidfd_open, pid, 0));
}

int proc_start_ticks(pid_t pid, uint64_t *out)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	char line[2048];
	if (!fgets(line, sizeof(line), f))
		return -1;
	/* The command name may hold spaces and parentheses: fields are
	 * counted from the last ')'. starttime is field 22. Creates run in
	 * parallel threads: no strtok here. */
	char *p = strrchr(line, ')');
	if (!p)
		return -1;
	int field = 2;
	char *save = NULL;
	for (char *tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if (++field == 22) {
			char *end;
			errno = 0;
			*out = strtoull(tok, &end, 10);
			return (errno || end == tok) ? -1 : 0;
		}
	}
	return -1;
}

int vmm_renice(const struct vmm *v, int nice, struct thaw_err **err)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)v->pid);
	_cleanup_closedir_ DIR *d = opendir(path);
	if (!d)
		return err_sys(err, "listing threads of VMM %d", (int)v->pid);
	struct dirent *de;
	while ((de = readdir(d))) {
		int tid = atoi(de->d_name);
		if (tid > 0 && setpriority(PRIO_PROCESS, (id_t)tid, nice) < 0 && errno != ESRCH)
			return err_sys(err, "renicing thread %d of VMM %d", tid, (int)v->pid);
	}
	return 0;
}

bool vmm_exited(const struct vmm *v)
{
	if (!v || v->pidfd < 0)
		return true;
	struct pollfd p = { .fd = v->pidfd, .events = POLLIN };
	return poll(&p, 1, 0) == 1;
}

bool vmm_alive(void *v)
{
	return !vmm_exited(v);
}

int vmm_reap(struct vmm *v)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	if (v->pidfd < 0 || waitid(P_PIDFD, (id_t)v->pidfd, &si, WEXITED | WNOHANG) < 0 ||
	    si.si_pid == 0)
		return -1;
	return si.si_code == CLD_EXITED ? (si.si_status << 8) : si.si_status;
}

void vmm_kill(struct vmm *v)
{
	if (!v || v->pidfd < 0)
		return;
	syscall(SYS_pidfd_send_signal, v->pidfd, SIGKILL, NULL, 0);
	struct pollfd p = { .fd = v->pidfd, .events = POLLIN };
	while (poll(&p, 1, 5000) < 0 && errno == EINTR)
		;
	vmm_reap(v);
}

void vmm_free(struct vmm *v)
{
	if (!v)
		return;
	if (v->drv && v->drv->release)
		v->drv->release(v);
	/* A VMM that is gone leaves an empty cgroup; one that lives on (a
	 * thawd stopping) keeps it. */
	if (v->cgroups && v->name && v->pidfd >= 0 && vmm_exited(v))
		cgroup_vmm_remove(v->cgroups, v->name);
	if (v->pidfd >= 0)
		close(v->pidfd);
	free(v->run_dir);
	free(v->name);
	free(v);
}
