#include "core/launch.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "fsutil.h"
#include "guestconn/agent.h"
#include "log.h"
#include "net/slot.h"
#include "remote/remote.h"
#include "timeutil.h"
#include "vmm/cgroup.h"
#include "vmm/prefetch.h"
#include "vmm/sealed_memory.h"

/* The strings a vmm_launch points to. */
struct launch_buf {
	struct vmm_machine machine;
	char *name, *disk, *memory;
	char *disk_base; /* a streamed build's disk, under the VMM's overlay */
};

struct vmm_limits launch_limits(const struct host *h, uint32_t memory_mb, uint32_t vcpus)
{
	const struct thawd_config *cfg = h->cfg;
	return (struct vmm_limits){
		.memory_bytes = ((uint64_t)memory_mb + cfg->vmm_memory_overhead_mb) << 20,
		.cpu_millis = vcpus * 1000u,
		.pids = cfg->vmm_max_threads,
	};
}

static struct vmm_limits limits_with_cpu(const struct host *h, const struct template *t,
					 uint32_t cpu_millis)
{
	struct vmm_limits l = launch_limits(h, t->meta.memory_mb, t->meta.vcpus);
	if (cpu_millis && cpu_millis < l.cpu_millis)
		l.cpu_millis = cpu_millis;
	return l;
}

int launch_set_cpu_limit(struct host *h, const struct template *t, struct vmm *v,
			 uint32_t cpu_millis, struct thaw_err **err)
{
	if (!h->vmm.cgroups || !cpu_millis || !v->name)
		return 0;
	struct vmm_limits l = limits_with_cpu(h, t, cpu_millis);
	return cgroup_vmm_set_limits(h->vmm.cgroups, v->name, &l, err);
}

static pthread_mutex_t memory_fd_lock = PTHREAD_MUTEX_INITIALIZER;

/* The template's sealed memory (vmm/sealed_memory.h), made by its first
 * launch; the warm pool usually makes it before any create needs it. */
static int template_memory_fd(const struct template *tc, int *out, struct thaw_err **err)
{
	struct template *t = (struct template *)tc; /* only memory_fd changes */
	pthread_mutex_lock(&memory_fd_lock);
	int rc = 0;
	if (t->memory_fd < 0) {
		uint64_t t0 = time_mono_ns(), copied = 0;
		_cleanup_free_ char *name = xasprintf("thaw-mem:%s/%s", t->name, t->build_id);
		rc = sealed_memory_from_file(t->paths[MF_MEMORY], name, &t->memory_fd, &copied,
					     err);
		if (rc == 0)
			log_info("template.memory_sealed",
				 "template=%s build=%s bytes=%llu ms=%.1f", t->name, t->build_id,
				 (unsigned long long)copied, ns_to_ms(time_mono_ns() - t0));
	}
	if (rc == 0)
		*out = t->memory_fd;
	pthread_mutex_unlock(&memory_fd_lock);
	return rc;
}

static bool is_image(const struct template *t)
{
	return t->meta.source == SOURCE_FORK || t->meta.source == SOURCE_PAUSE;
}

/* An image (a fork or a pause) is not shared like a template: its
 * memory is cloned for each VMM (constant time) and the clone becomes
 * the VMM's own, so no VMM can reach another's memory; the working set
 * the capture recorded starts coming in while the VMM starts. */
static int image_memory(const struct template *t, const struct launch_target *lt, struct host *h,
			struct launch_buf *lb, struct thaw_err **err)
{
	lb->memory = xasprintf("%s/%s", lt->dir, meta_file_name(MF_MEMORY));
	if (h->store->ops->clone(t->paths[MF_MEMORY], lb->memory, err) < 0)
		return err_wrap(err, "cloning the memory of image %s", t->build_id);
	_cleanup_err_ struct thaw_err *perr = NULL;
	int64_t pages = prefetch_dir(t->dir, lb->memory, (uint64_t)t->meta.memory_mb << 20, &perr);
	if (pages < 0)
		log_warn("image.prefetch", "image=%s error=\"%s\"", t->build_id, err_msg(perr));
	return 0;
}

/* A build imported from the object store: its memory and disk base are
 * the lazy layer's files, which fetch each window when a VMM first
 * touches it; the kernel's page cache then shares the pages between
 * every VMM that maps the memory (never written: MAP_PRIVATE, and the
 * lazy layer refuses writes). Each VMM's disk is its own qcow2 overlay
 * over the base (launch_clone_disk). */
static int streamed_files(struct host *h, const struct template *tc, int *memory_fd,
			  struct launch_buf *lb, struct thaw_err **err)
{
	struct template *t = (struct template *)tc; /* only the promotion fields change */
	_cleanup_free_ char *memory = NULL;
	if (remote_build_paths(h, t, &memory, &lb->disk_base, err) < 0)
		return -1;
	/* Once the janitor has made the sealed copy, VMMs map it, as for a
	 * local template: its zero pages cost nothing and its pages are
	 * shared without the lazy layer in the way. */
	pthread_mutex_lock(&memory_fd_lock);
	*memory_fd = t->memory_fd >= 0 ? fcntl(t->memory_fd, F_DUPFD_CLOEXEC, 3) : -1;
	if (t->memory_fd < 0 && !is_image(t))
		t->promote_wanted = true;
	pthread_mutex_unlock(&memory_fd_lock);
	if (*memory_fd < 0)
		*memory_fd = open(memory, O_RDWR | O_CLOEXEC);
	if (*memory_fd < 0)
		return err_sys(err, "opening the streamed memory of %s (the lazy layer)", t->name);
	return 0;
}

int launch_promote_streamed(struct host *h, struct template *t, struct thaw_err **err)
{
	pthread_mutex_lock(&memory_fd_lock);
	bool wanted = t->streamed && t->promote_wanted && t->memory_fd < 0;
	pthread_mutex_unlock(&memory_fd_lock);
	if (!wanted)
		return 0;
	uint64_t t0 = time_mono_ns(), copied = 0;
	_cleanup_free_ char *memory = NULL, *disk = NULL;
	_cleanup_free_ char *name = xasprintf("thaw-mem:%s/%s", t->name, t->build_id);
	int fd = -1;
	/* The lazy layer says which windows are holes (SEEK_DATA): only the
	 * others are read, fetched first if this host has not yet. */
	if (remote_build_paths(h, t, &memory, &disk, err) < 0 ||
	    sealed_memory_from_file(memory, name, &fd, &copied, err) < 0)
		return err_wrap(err, "the sealed memory of streamed template %s", t->name);
	pthread_mutex_lock(&memory_fd_lock);
	if (t->memory_fd < 0)
		t->memory_fd = steal_fd(&fd);
	pthread_mutex_unlock(&memory_fd_lock);
	if (fd >= 0)
		close(fd);
	/* The copy read every data window through the lazy layer: the page
	 * cache of its file now holds a second copy of the memory, needed
	 * only where VMMs started before the copy map it (those pages stay). */
	int lazy = open(memory, O_RDONLY | O_CLOEXEC);
	if (lazy >= 0) {
		posix_fadvise(lazy, 0, 0, POSIX_FADV_DONTNEED);
		close(lazy);
	}
	log_info("template.memory_sealed", "template=%s build=%s bytes=%llu ms=%.1f streamed=1",
		 t->name, t->build_id, (unsigned long long)copied, ns_to_ms(time_mono_ns() - t0));
	return 0;
}

static struct vmm_launch launch_base(struct host *h, const struct template *t,
				     const struct launch_target *lt, struct launch_buf *lb)
{
	lb->machine = (struct vmm_machine){ .memory_mb = t->meta.memory_mb,
					    .vcpus = t->meta.vcpus,
					    .cpu = t->meta.cpu,
					    .accel = h->vmm.accel,
					    .pit = meta_machine_has_pit(t->meta.machine_rev),
					    .acpi = meta_machine_has_acpi(t->meta.machine_rev) };
	lb->name = xasprintf("%s%s", h->ns_prefix, lt->id);
	lb->disk = xasprintf("%s/rootfs.img", lt->dir);
	return (struct vmm_launch){ .name = lb->name,
				    .index = lt->slot->index,
				    .run_dir = lt->run_dir,
				    .machine = &lb->machine,
				    .memory_fd = -1,
				    .disk_path = lb->disk,
				    .tap_fd = lt->slot->tap_fd,
				    .netns_fd = lt->slot->ns_fd,
				    .state_fd = -1,
				    .limits = limits_with_cpu(h, t, lt->cpu_millis) };
}

static void launch_buf_free(struct launch_buf *lb)
{
	free(lb->name);
	free(lb->disk);
	free(lb->memory);
	free(lb->disk_base);
}

#define READY_TIMEOUT_MS 10000
#define COLD_BOOT_TIMEOUT_MS 90000
#define HELLO_TIMEOUT_MS 5000

static int probe(struct netslot *slot, struct vmm *vmm, const char *hostname, bool booting,
		 bool fresh, uint64_t *connected_ns, struct agent_conn **keep,
		 struct thaw_err **err)
{
	struct agent_conn *c = NULL;
	struct agent_hello_reply hello;
	int rc = agent_connect(slot, booting ? COLD_BOOT_TIMEOUT_MS : READY_TIMEOUT_MS,
			       booting ? AGENT_ATTEMPT_BOOTING_MS : AGENT_ATTEMPT_RESTORED_MS,
			       vmm_alive, vmm, &c, err);
	if (connected_ns)
		*connected_ns = time_real_ns();
	if (rc == 0)
		rc = agent_hello(c, hostname, fresh, HELLO_TIMEOUT_MS, &hello, err);
	if (rc == 0 && keep) {
		*keep = c;
		c = NULL;
	}
	agent_close(c);
	return rc < 0 ? err_wrap(err, "readiness probe") : 0;
}

int launch_probe(struct netslot *slot, struct vmm *vmm, const char *hostname,
		 struct thaw_err **err)
{
	return probe(slot, vmm, hostname, false, false, NULL, NULL, err);
}

int launch_probe_new(struct netslot *slot, struct vmm *vmm, const char *hostname, bool booting,
		     uint64_t *connected_ns, struct agent_conn **keep, struct thaw_err **err)
{
	return probe(slot, vmm, hostname, booting, true, connected_ns, keep, err);
}

int launch_first_command(struct netslot *slot, struct vmm *vmm, struct thaw_err **err)
{
	const char *argv[] = { "true", NULL };
	struct agent_exec_req req = { .argv = argv, .timeout_ms = 30000, .max_output = 4096 };
	struct agent_exec_result res;
	struct agent_conn *c = NULL;
	memset(&res, 0, sizeof(res));
	int rc = agent_connect(slot, READY_TIMEOUT_MS, AGENT_ATTEMPT_RESTORED_MS, vmm_alive, vmm,
			       &c, err);
	if (rc == 0)
		rc = agent_exec(c, &req, &res, err);
	agent_close(c);
	agent_exec_result_free(&res);
	return rc;
}

int launch_clone_disk(struct host *h, const struct template *t, const char *dir,
		      struct thaw_err **err)
{
	_cleanup_free_ char *disk = xasprintf("%s/rootfs.img", dir);
	/* A streamed build's disk is not here: the VMM gets an empty qcow2
	 * overlay over it, and its writes stay on this host. */
	_cleanup_free_ char *overlay =
		t->streamed ? xasprintf("%s/%s", t->dir, BUILD_OVERLAY_FILE) : NULL;
	if (fs_mkdir_p(dir, 0700, err) < 0 ||
	    h->store->ops->clone(overlay ? overlay : t->paths[MF_ROOTFS], disk, err) < 0)
		return -1;
	return 0;
}

/* The snapshot's memory mapped privately (the file is never written)
 * and its device state as an inherited fd. */
typedef int (*start_fn)(struct host *h, const struct vmm_launch *l, struct vmm **out,
			struct vmm_timings *tm, struct thaw_err **err);

static int with_snapshot(struct host *h, const struct template *t, const struct launch_target *lt,
			 int nice, start_fn start, struct vmm **out, struct vmm_timings *tm,
			 struct thaw_err **err)
{
	_cleanup_close_ int state_fd = open(t->paths[MF_STATE], O_RDONLY | O_CLOEXEC);
	if (state_fd < 0)
		return err_sys(err, "opening device state");
	if (fs_mkdir_p(lt->run_dir, 0700, err) < 0)
		return -1;
	struct launch_buf lb = { 0 };
	struct vmm_launch l = launch_base(h, t, lt, &lb);
	l.state_fd = state_fd;
	l.nice = nice;
	_cleanup_close_ int streamed_fd = -1;
	int rc = t->streamed   ? streamed_files(h, t, &streamed_fd, &lb, err)
		 : is_image(t) ? image_memory(t, lt, h, &lb, err)
			       : template_memory_fd(t, &l.memory_fd, err);
	if (t->streamed)
		l.memory_fd = streamed_fd;
	l.memory_path = lb.memory;
	l.disk_base_path = lb.disk_base;
	if (rc == 0)
		rc = start(h, &l, out, tm, err);
	netslot_release_tap(lt->slot); /* the VMM holds the tap now */
	launch_buf_free(&lb);
	return rc;
}

static int start_restore(struct host *h, const struct vmm_launch *l, struct vmm **out,
			 struct vmm_timings *tm, struct thaw_err **err)
{
	return h->drv->restore(&h->vmm, l, out, tm, err);
}

static int start_prepare(struct host *h, const struct vmm_launch *l, struct vmm **out,
			 struct vmm_timings *tm, struct thaw_err **err)
{
	(void)tm;
	return h->drv->prepare(&h->vmm, l, out, err);
}

int launch_restore(struct host *h, const struct template *t, const struct launch_target *lt,
		   struct vmm **out, struct vmm_timings *tm, struct thaw_err **err)
{
	return with_snapshot(h, t, lt, 0, start_restore, out, tm, err);
}

int launch_prepare(struct host *h, const struct template *t, const struct launch_target *lt,
		   struct vmm **out, struct thaw_err **err)
{
	return with_snapshot(h, t, lt, WARM_VMM_NICE, start_prepare, out, NULL, err);
}

int launch_cold_boot(struct host *h, const struct template *t, const struct launch_target *lt,
		     struct vmm **out, struct vmm_timings *tm, struct thaw_err **err)
{
	_cleanup_free_ char *mem = xasprintf("%s/memory.bin", lt->dir);
	_cleanup_close_ int fd = open(mem, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)t->meta.memory_mb << 20) < 0)
		return err_sys(err, "creating %s", mem);
	if (fs_mkdir_p(lt->run_dir, 0700, err) < 0)
		return -1;
	struct launch_buf lb = { 0 };
	struct vmm_launch l = launch_base(h, t, lt, &lb);
	l.memory_path = mem;
	l.kernel = t->paths[MF_KERNEL];
	l.initrd = t->meta.files[MF_INITRD].size ? t->paths[MF_INITRD] : NULL;
	l.cmdline = t->meta.cmdline;
	tm->spawned = time_real_ns();
	int rc = h->drv->boot(&h->vmm, &l, out, err);
	tm->qmp_ready = tm->state_loaded = tm->resumed = time_real_ns();
	netslot_release_tap(lt->slot);
	launch_buf_free(&lb);
	return rc;
}
