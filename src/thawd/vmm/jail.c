#include "vmm/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "buf.h"

/* Where the host's root goes for the moment pivot_root needs it. */
#define OLD_ROOT "/.host"

static void add(struct jail_plan *p, enum jail_step_kind kind, const char *src, const char *dst)
{
	struct jail_step *s = &p->step[p->nsteps++];
	s->kind = kind;
	s->src = xstrdup(src);
	s->dst = xasprintf("%s%s", p->root, dst);
}

/* /usr, and whatever of /bin, /lib... the host keeps outside it: a
 * symlink into /usr on a merged-/usr system, a directory elsewhere. */
static void add_tree(struct jail_plan *p, const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return;
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			return;
		target[n] = '\0';
		add(p, JAIL_SYMLINK, target, path);
	} else if (S_ISDIR(st.st_mode)) {
		add(p, JAIL_BIND_DIR, path, path);
	}
}

int jail_plan_build(const char *root, bool kvm, struct jail_plan *out, struct thaw_err **err)
{
	memset(out, 0, sizeof(*out));
	out->root = xstrdup(root);
	out->old_root = xasprintf("%s" OLD_ROOT, root);
	static const char *const trees[] = { "/usr",   "/bin",	 "/sbin",  "/lib",
					     "/lib32", "/lib64", "/libx32" };
	for (size_t i = 0; i < sizeof(trees) / sizeof(trees[0]); i++)
		add_tree(out, trees[i]);
	/* The loader finds libraries without it, but slower. */
	if (access("/etc/ld.so.cache", R_OK) == 0)
		add(out, JAIL_BIND_FILE, "/etc/ld.so.cache", "/etc/ld.so.cache");
	static const char *const devs[] = { "/dev/null", "/dev/zero", "/dev/urandom" };
	for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++)
		add(out, JAIL_BIND_DEV, devs[i], devs[i]);
	if (kvm) {
		/* QEMU opens /dev/kvm by name: the VMM joins its group (as
		 * distributions grant it), nothing more. */
		struct stat st;
		if (stat("/dev/kvm", &st) < 0) {
			jail_plan_free(out);
			return err_sys(err, "/dev/kvm");
		}
		if ((st.st_mode & 0006) != 0006 && (st.st_gid == 0 || (st.st_mode & 0060) != 0060)) {
			jail_plan_free(out);
			return err_set(err, ERR_UNAVAILABLE,
				       "/dev/kvm is open to root only (mode %o, group %u): a jailed "
				       "VMM needs it group-accessible (a kvm group)",
				       (unsigned)(st.st_mode & 0777), (unsigned)st.st_gid);
		}
		if ((st.st_mode & 0006) != 0006)
			out->kvm_gid = st.st_gid;
		add(out, JAIL_BIND_DEV, "/dev/kvm", "/dev/kvm");
	}
	add(out, JAIL_PROC, "proc", "/proc");
	return 0;
}

void jail_plan_free(struct jail_plan *p)
{
	for (int i = 0; i < p->nsteps; i++) {
		free(p->step[i].src);
		free(p->step[i].dst);
	}
	free(p->root);
	free(p->old_root);
	memset(p, 0, sizeof(*p));
}

/* mkdir -p for the parents of a path inside the jail's tmpfs. Works on a
 * stack copy: no allocation in the child. */
static int make_parents(const char *root, const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);
	if (n >= sizeof(buf))
		return errno = ENAMETOOLONG, -1;
	memcpy(buf, path, n + 1);
	for (char *s = buf + strlen(root) + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return 0;
}

static int bind_ro(const char *src, const char *dst, unsigned long extra)
{
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
		return -1;
	return mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | extra, NULL);
}

static int do_step(const struct jail_plan *p, const struct jail_step *s)
{
	if (make_parents(p->root, s->dst) < 0)
		return -1;
	switch (s->kind) {
	case JAIL_SYMLINK:
		return symlink(s->src, s->dst);
	case JAIL_BIND_DIR:
		if (mkdir(s->dst, 0755) < 0)
			return -1;
		return bind_ro(s->src, s->dst, MS_NODEV);
	case JAIL_BIND_DEV:
	case JAIL_BIND_FILE: {
		int fd = open(s->dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			return -1;
		close(fd);
		return bind_ro(s->src, s->dst,
			       MS_NOEXEC | (s->kind == JAIL_BIND_FILE ? MS_NODEV : 0));
	}
	case JAIL_PROC:
		if (mkdir(s->dst, 0555) < 0)
			return -1;
		/* Only the VMM's own processes (its uid is its own), and no
		 * system-wide files (/proc/kallsyms, /proc/sys...). */
		if (mount("proc", s->dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  "hidepid=invisible,subset=pid") == 0)
			return 0;
		/* Kernels before 5.8 know only the numeric form. */
		return mount("proc", s->dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2");
	}
	return errno = EINVAL, -1;
}

static int drop_privileges(const struct jail_plan *p)
{
	/* Nothing gained by exec: the bounding set empty, no_new_privs. */
	for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return -1;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -1;
	if (setgroups(p->kvm_gid ? 1 : 0, &p->kvm_gid) < 0 ||
	    setresgid(p->gid, p->gid, p->gid) < 0 ||
	    setresuid(p->uid, p->uid, p->uid) < 0)
		return -1;
	/* Leaving uid 0 for good clears every capability; check anyway. */
	if (setuid(0) == 0)
		return errno = EPERM, -1;
	struct rlimit no_core = { 0, 0 };
	if (setrlimit(RLIMIT_CORE, &no_core) < 0)
		return -1;
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

/* Makes the jail's tmpfs the root of the namespace and lets go of every
 * other mount: copies of the host's mounts (the store, other slots'
 * namespaces) would otherwise stay alive as long as the VMM. Hosts where
 * pivot_root cannot work (a root on the initial ramfs) get a chroot. */
static int switch_root(const char *root)
{
	if (chdir(root) < 0)
		return -1;
	if (syscall(SYS_pivot_root, ".", OLD_ROOT + 1) == 0) {
		if (chdir("/") < 0 || umount2(OLD_ROOT, MNT_DETACH) < 0 || rmdir(OLD_ROOT) < 0)
			return -1;
		return 0;
	}
	if (rmdir(OLD_ROOT + 1) < 0 || chroot(".") < 0 || chdir("/") < 0)
		return -1;
	return 0;
}

int jail_enter(const struct jail_plan *p)
{
	if (p->uid == 0 || p->gid == 0)
		return errno = EPERM, -1;
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -1;
	if (mount("thaw-jail", p->root, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "size=64k,nr_inodes=128,mode=0755") < 0)
		return -1;
	for (int i = 0; i < p->nsteps; i++)
		if (do_step(p, &p->step[i]) < 0)
			return -1;
	if (mkdir(p->old_root, 0700) < 0 || switch_root(p->root) < 0)
		return -1;
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0)
		return -1;
	return drop_privileges(p);
}
