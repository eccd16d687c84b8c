#include "vmm/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "log.h"

#define CG_ROOT "/sys/fs/cgroup"
#define CPU_PERIOD_US 100000u

enum controller { CG_MEMORY, CG_CPU, CG_PIDS, CG_COUNT };

struct cgroups {
	int version;
	/* The instance's group in each hierarchy: one for v2 (all three
	 * the same), one per controller for v1. */
	char *dir[CG_COUNT];
};

static const char *const v1_mount[CG_COUNT] = { "memory", "cpu", "pids" };

static bool is_fs(const char *path, long magic)
{
	struct statfs st;
	return statfs(path, &st) == 0 && (long)st.f_type == magic;
}

static int write_file(const char *dir, const char *file, const char *value, struct thaw_err **err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, file);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "opening %s", path);
	size_t n = strlen(value);
	if (write(fd, value, n) != (ssize_t)n)
		return err_sys(err, "writing \"%s\" to %s", value, path);
	return 0;
}

static int read_file(const char *dir, const char *file, char *buf, size_t size,
		     struct thaw_err **err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, file);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "opening %s", path);
	ssize_t n = read(fd, buf, size - 1);
	if (n < 0)
		return err_sys(err, "reading %s", path);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int make_dir(const char *path, struct thaw_err **err)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return err_sys(err, "creating cgroup %s", path);
	return 0;
}

static int open_v2(struct cgroups *c, const char *instance, struct thaw_err **err)
{
	_cleanup_free_ char *dir = xasprintf(CG_ROOT "/%s", instance);
	/* Each controller on its own: one the host keeps for itself must not
	 * cost the others. */
	static const char *const want[] = { "+memory", "+cpu", "+pids" };
	for (size_t i = 0; i < 3; i++)
		write_file(CG_ROOT, "cgroup.subtree_control", want[i], NULL);
	if (make_dir(dir, err) < 0)
		return -1;
	for (size_t i = 0; i < 3; i++)
		if (write_file(dir, "cgroup.subtree_control", want[i], err) < 0)
			return err_wrap(err, "enabling the %s controller", want[i] + 1);
	c->version = 2;
	for (int k = 0; k < CG_COUNT; k++)
		c->dir[k] = xstrdup(dir);
	return 0;
}

static int open_v1(struct cgroups *c, const char *instance, struct thaw_err **err)
{
	for (int k = 0; k < CG_COUNT; k++) {
		_cleanup_free_ char *mnt = xasprintf(CG_ROOT "/%s", v1_mount[k]);
		if (!is_fs(mnt, CGROUP_SUPER_MAGIC))
			return err_set(err, ERR_UNAVAILABLE,
				       "no cgroup v2 at " CG_ROOT " and no v1 %s controller at %s",
				       v1_mount[k], mnt);
		c->dir[k] = xasprintf("%s/%s", mnt, instance);
		if (make_dir(c->dir[k], err) < 0)
			return -1;
	}
	c->version = 1;
	return 0;
}

void cgroups_close(struct cgroups *c)
{
	if (!c)
		return;
	for (int k = 0; k < CG_COUNT; k++)
		free(c->dir[k]);
	free(c);
}

int cgroups_open(const char *instance, struct cgroups **out, struct thaw_err **err)
{
	struct cgroups *c = xcalloc(1, sizeof(*c));
	int rc = is_fs(CG_ROOT, CGROUP2_SUPER_MAGIC) ? open_v2(c, instance, err)
						     : open_v1(c, instance, err);
	if (rc < 0) {
		cgroups_close(c);
		return -1;
	}
	*out = c;
	return 0;
}

const char *cgroups_version(const struct cgroups *c)
{
	return c->version == 2 ? "v2" : "v1";
}

/* How many of dir[] are distinct hierarchies: one on v2. */
static int hierarchies(const struct cgroups *c)
{
	return c->version == 2 ? 1 : CG_COUNT;
}

static char *group_dir(const struct cgroups *c, enum controller k, const char *name)
{
	return xasprintf("%s/%s", c->dir[k], name);
}

static int set_limits(struct cgroups *c, const char *name, const struct vmm_limits *lim,
		      struct thaw_err **err)
{
	_cleanup_free_ char *mem = group_dir(c, CG_MEMORY, name);
	_cleanup_free_ char *cpu = group_dir(c, CG_CPU, name);
	_cleanup_free_ char *pids = group_dir(c, CG_PIDS, name);
	char v[64];
	if (lim->memory_bytes)
		snprintf(v, sizeof(v), "%" PRIu64, lim->memory_bytes);
	else
		snprintf(v, sizeof(v), "%s", c->version == 2 ? "max" : "-1");
	if (write_file(mem, c->version == 2 ? "memory.max" : "memory.limit_in_bytes", v, err) < 0)
		return -1;
	if (c->version == 1)
		/* Memory plus swap no more than memory: swap is no way around
		 * the limit (absent when the host does not account swap). */
		write_file(mem, "memory.memsw.limit_in_bytes", v, NULL);
	if (c->version == 2) {
		/* Guest memory in swap would be a way around memory.max. */
		write_file(mem, "memory.swap.max", "0", NULL);
		if (lim->cpu_millis)
			snprintf(v, sizeof(v), "%u %u", lim->cpu_millis * (CPU_PERIOD_US / 1000),
				 CPU_PERIOD_US);
		else
			snprintf(v, sizeof(v), "max %u", CPU_PERIOD_US);
		if (write_file(cpu, "cpu.max", v, err) < 0)
			return -1;
	} else {
		snprintf(v, sizeof(v), "%u", CPU_PERIOD_US);
		if (write_file(cpu, "cpu.cfs_period_us", v, err) < 0)
			return -1;
		if (lim->cpu_millis)
			snprintf(v, sizeof(v), "%u", lim->cpu_millis * (CPU_PERIOD_US / 1000));
		else
			snprintf(v, sizeof(v), "-1");
		if (write_file(cpu, "cpu.cfs_quota_us", v, err) < 0)
			return -1;
	}
	if (lim->pids)
		snprintf(v, sizeof(v), "%u", lim->pids);
	else
		snprintf(v, sizeof(v), "max");
	return write_file(pids, "pids.max", v, err);
}

int cgroup_vmm_create(struct cgroups *c, const char *name, const struct vmm_limits *lim,
		      int procs_fd[CGROUP_MAX_FDS], int *n, struct thaw_err **err)
{
	*n = 0;
	int ndirs = hierarchies(c);
	for (int k = 0; k < ndirs; k++) {
		_cleanup_free_ char *dir = group_dir(c, (enum controller)k, name);
		if (make_dir(dir, err) < 0)
			goto fail;
	}
	if (set_limits(c, name, lim, err) < 0)
		goto fail;
	for (int k = 0; k < ndirs; k++) {
		_cleanup_free_ char *procs = xasprintf("%s/%s/cgroup.procs", c->dir[k], name);
		int fd = open(procs, O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			err_sys(err, "opening %s", procs);
			goto fail;
		}
		procs_fd[(*n)++] = fd;
	}
	return 0;
fail:
	for (int i = 0; i < *n; i++)
		close(procs_fd[i]);
	*n = 0;
	cgroup_vmm_remove(c, name);
	return err_wrap(err, "setting up the VMM's cgroup");
}

int cgroup_vmm_set_limits(struct cgroups *c, const char *name, const struct vmm_limits *lim,
			  struct thaw_err **err)
{
	if (set_limits(c, name, lim, err) < 0)
		return err_wrap(err, "changing the limits of %s", name);
	return 0;
}

static uint64_t parse_limit(const char *s)
{
	if (!strncmp(s, "max", 3) || !strcmp(s, "-1"))
		return 0;
	return strtoull(s, NULL, 10);
}

int cgroup_vmm_read(struct cgroups *c, const char *name, struct vmm_limits *lim,
		    uint64_t *memory_used, struct thaw_err **err)
{
	_cleanup_free_ char *mem = group_dir(c, CG_MEMORY, name);
	_cleanup_free_ char *cpu = group_dir(c, CG_CPU, name);
	_cleanup_free_ char *pids = group_dir(c, CG_PIDS, name);
	if (access(mem, F_OK) < 0)
		return err_set(err, ERR_NOT_FOUND, "no cgroup %s", name);
	char v[64];
	bool two = c->version == 2;
	memset(lim, 0, sizeof(*lim));
	if (read_file(mem, two ? "memory.max" : "memory.limit_in_bytes", v, sizeof(v), err) < 0)
		return -1;
	lim->memory_bytes = parse_limit(v);
	/* v1 says "no limit" with the largest page-aligned number. */
	if (!two && lim->memory_bytes >= (UINT64_C(1) << 62))
		lim->memory_bytes = 0;
	if (read_file(mem, two ? "memory.current" : "memory.usage_in_bytes", v, sizeof(v), err) < 0)
		return -1;
	*memory_used = strtoull(v, NULL, 10);
	if (read_file(cpu, two ? "cpu.max" : "cpu.cfs_quota_us", v, sizeof(v), err) < 0)
		return -1;
	uint64_t quota = parse_limit(v);
	lim->cpu_millis = (uint32_t)(quota / (CPU_PERIOD_US / 1000));
	if (read_file(pids, "pids.max", v, sizeof(v), err) < 0)
		return -1;
	lim->pids = (uint32_t)parse_limit(v);
	return 0;
}

int cgroup_vmm_usage(struct cgroups *c, const char *name, bool with_limit,
		     struct cgroup_usage *u, struct thaw_err **err)
{
	_cleanup_free_ char *mem = group_dir(c, CG_MEMORY, name);
	char v[64];
	bool two = c->version == 2;
	if (read_file(mem, two ? "memory.current" : "memory.usage_in_bytes", v, sizeof(v), err) < 0)
		return -1;
	u->memory_used = strtoull(v, NULL, 10);
	u->memory_limit = 0;
	if (with_limit) {
		if (read_file(mem, two ? "memory.max" : "memory.limit_in_bytes", v, sizeof(v),
			      err) < 0)
			return -1;
		u->memory_limit = parse_limit(v);
		if (!two && u->memory_limit >= (UINT64_C(1) << 62))
			u->memory_limit = 0;
	}
	/* v1 keeps CPU time in cpuacct, often a hierarchy of its own where
	 * thawd makes no groups: the caller reads the process's instead. */
	u->cpu_usec = CGROUP_NO_CPU;
	if (!two)
		return 0;
	_cleanup_free_ char *cpu = group_dir(c, CG_CPU, name);
	unsigned long long n = 0;
	/* cpu.stat's first line is "usage_usec N". */
	if (read_file(cpu, "cpu.stat", v, sizeof(v), err) < 0)
		return -1;
	if (sscanf(v, "usage_usec %llu", &n) != 1)
		return err_set(err, ERR_UNAVAILABLE, "%s/cpu.stat has no usage_usec", cpu);
	u->cpu_usec = n;
	return 0;
}

int cgroup_vmm_oom_kills(struct cgroups *c, const char *name, uint64_t *out, struct thaw_err **err)
{
	_cleanup_free_ char *mem = group_dir(c, CG_MEMORY, name);
	_cleanup_free_ char *path =
		xasprintf("%s/%s", mem, c->version == 2 ? "memory.events" : "memory.oom_control");
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f)
		return err_sys(err, "opening %s", path);
	char line[128];
	unsigned long long n;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "oom_kill %llu", &n) == 1) {
			*out = n;
			return 0;
		}
	return err_set(err, ERR_UNAVAILABLE, "%s has no oom_kill count", path);
}

void cgroup_vmm_remove(struct cgroups *c, const char *name)
{
	int ndirs = hierarchies(c);
	for (int k = 0; k < ndirs; k++) {
		_cleanup_free_ char *dir = group_dir(c, (enum controller)k, name);
		/* A process that has just been reaped may hold its group a
		 * moment longer. */
		for (int tries = 0; rmdir(dir) < 0 && errno == EBUSY && tries < 20; tries++)
			usleep(1000);
	}
}

static bool younger_than(const char *dir, int age_s)
{
	struct stat st;
	return age_s > 0 && stat(dir, &st) == 0 && time(NULL) - st.st_mtime < age_s;
}

int cgroups_sweep(struct cgroups *c, int min_age_s, bool instance_too)
{
	int removed = 0;
	int ndirs = hierarchies(c);
	for (int k = 0; k < ndirs; k++) {
		_cleanup_closedir_ DIR *d = opendir(c->dir[k]);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			if (de->d_type != DT_DIR || de->d_name[0] == '.')
				continue;
			_cleanup_free_ char *dir = xasprintf("%s/%s", c->dir[k], de->d_name);
			if (younger_than(dir, min_age_s))
				continue;
			if (rmdir(dir) == 0 && k == 0)
				removed++;
		}
		if (instance_too && rmdir(c->dir[k]) < 0 && errno != ENOENT)
			log_warn("cgroup.sweep", "dir=%s errno=%d", c->dir[k], errno);
	}
	return removed;
}
