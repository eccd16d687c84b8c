/* System bring-up for PID 1.
 *
 * Stage 1 runs from the initramfs, with Debian's cloud kernel only: that
 * kernel has its virtio drivers as modules, so we load them, mount the
 * root disk and move into it, then exec the agent binary that lives on
 * the root disk. thaw's kernel mounts the root disk itself and starts
 * the agent there. Stage 2 mounts the pseudo file systems a userland
 * expects and configures the network. Nothing here may exit: PID 1
 * exiting panics the kernel. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent.h"

#define MODULES_DIR "/modules"
#define NEWROOT "/newroot"
#define ROOT_DEVICE "/dev/vda"
#define AGENT_IN_ROOTFS "/usr/sbin/thaw-agent"

static void console_stdio(void)
{
	int fd = open("/dev/console", O_RDWR | O_NOCTTY);
	if (fd < 0)
		return;
	for (int i = 0; i < 3; i++)
		dup2(fd, i);
	if (fd > 2)
		close(fd);
}

static int cmp_names(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int only_modules(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return n > 3 && strcmp(d->d_name + n - 3, ".ko") == 0;
}

/* Modules are named NN-name.ko so that sorting gives the load order
 * (dependencies first); the build script writes them that way. */
static void load_modules(void)
{
	struct dirent **list = NULL;
	int n = scandir(MODULES_DIR, &list, only_modules, cmp_names);
	for (int i = 0; i < n; i++) {
		char path[512];
		snprintf(path, sizeof(path), MODULES_DIR "/%s", list[i]->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST))
			agent_log("stage1: loading %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(list[i]);
	}
	free(list);
}

static void wait_for(const char *path, int max_ms)
{
	for (int waited = 0; waited < max_ms && access(path, F_OK) < 0; waited += 2)
		usleep(2000);
}

static void hang(const char *why)
{
	agent_log("fatal: %s (%s); the VM cannot continue", why, strerror(errno));
	for (;;)
		pause();
}

bool boot_from_initramfs(void)
{
	struct statfs st;
	return statfs("/", &st) == 0 &&
	       (st.f_type == RAMFS_MAGIC || st.f_type == TMPFS_MAGIC);
}

void boot_stage1(void)
{
	mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	console_stdio();
	mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	load_modules();
	wait_for(ROOT_DEVICE, 10000);
	mkdir(NEWROOT, 0755);
	if (mount(ROOT_DEVICE, NEWROOT, "ext4", MS_NOATIME, NULL) < 0)
		hang("mounting the root disk");
	umount2("/proc", MNT_DETACH);
	if (mount("/dev", NEWROOT "/dev", NULL, MS_MOVE, NULL) < 0)
		hang("moving /dev");
	if (chdir(NEWROOT) < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 ||
	    chdir("/") < 0)
		hang("switching to the root disk");
	char *const argv[] = { "thaw-agent", "--stage2", NULL };
	char *const envp[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			       NULL };
	execve(AGENT_IN_ROOTFS, argv, envp);
	hang("starting " AGENT_IN_ROOTFS);
	__builtin_unreachable();
}

struct mount_spec {
	const char *source, *target, *fstype;
	unsigned long flags;
	const char *data;
};

static const struct mount_spec stage2_mounts[] = {
	{ "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	{ "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	/* Per-command limits (pids, memory, cpu) live in cgroup v2. */
	{ "cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	{ "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=620,ptmxmode=666" },
	{ "tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
	{ "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755" },
	{ "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
};

void boot_stage2(void)
{
	console_stdio();
	/* A kernel that mounted the root disk itself mounted it with
	 * atime updates: every read would be a write in every clone. */
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_NOATIME, NULL) < 0)
		agent_log("stage2: remounting / noatime: %s", strerror(errno));
	for (size_t i = 0; i < sizeof(stage2_mounts) / sizeof(stage2_mounts[0]); i++) {
		const struct mount_spec *m = &stage2_mounts[i];
		mkdir(m->target, 0755);
		if (mount(m->source, m->target, m->fstype, m->flags, m->data) < 0 && errno != EBUSY)
			agent_log("stage2: mounting %s: %s", m->target, strerror(errno));
	}
	symlink("/proc/self/fd", "/dev/fd");
	symlink("/proc/self/fd/0", "/dev/stdin");
	symlink("/proc/self/fd/1", "/dev/stdout");
	symlink("/proc/self/fd/2", "/dev/stderr");
	sethostname("thaw", 4);
	umask(022);
	setenv("HOME", "/root", 1);
	setenv("LANG", "C.UTF-8", 1);
	if (netcfg_setup() < 0)
		agent_log("stage2: network setup failed; the host will not reach this VM");
}
