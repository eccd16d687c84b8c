/* The QEMU driver: a `microvm` machine with virtio-mmio disk and network,
 * driven over QMP.
 *
 * Restore path (the hot path): the memory file is mapped MAP_PRIVATE
 * (memory-backend-file,share=off) so pages fault in lazily and the
 * template file is never written; device state (~13 KB) is loaded as an
 * incoming migration stream that has no RAM section at all. The three
 * QMP commands are pipelined in one write and the guest resumes by
 * itself when loading completes (its saved run state is "running").
 *
 * Saving: xen-save-devices-state writes every device except RAM, in a
 * millisecond, whatever the guest's memory looks like. (A migration
 * would send RAM unless it is a shared mapping; a restored guest's RAM
 * is private. thawd captures memory itself: snapshot/memcapture.h.)
 * Despite its name the command is generic QEMU code; the stream lacks
 * the configuration section, hence send-configuration=off on every VMM
 * (qemu_argv.c). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "cgroup.h"
#include "cleanup.h"
#include "jail.h"
#include "log.h"
#include "proc.h"
#include "qemu_argv.h"
#include "qmp.h"
#include "timeutil.h"
#include "vmm.h"

#define QMP_CONNECT_MS 15000
#define RESTORE_WAIT_MS 30000
#define SAVE_WAIT_MS 60000

struct qemu_priv {
	struct qmp *qmp;
};

static char *qmp_path(const char *run_dir)
{
	return xasprintf("%s/qmp.sock", run_dir);
}

/* The tail of the VMM's own log: QEMU explains its failures there. */
static void append_log_tail(const char *run_dir, struct thaw_err **err)
{
	_cleanup_free_ char *path = xasprintf("%s/vmm.log", run_dir);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t size = lseek(fd, 0, SEEK_END);
	off_t from = size > 400 ? size - 400 : 0;
	char tail[401];
	ssize_t n = pread(fd, tail, 400, from);
	if (n <= 0)
		return;
	tail[n] = '\0';
	for (char *p = tail; *p; p++)
		if (*p == '\n')
			*p = ' ';
	err_wrap(err, "VMM log: %s", tail);
}

/* Descriptors a VMM may hold: QEMU needs a few dozen. */
#define VMM_MAX_FDS 1024

/* What the vfork child does before exec: only system calls from here. */
struct child_setup {
	const char *const *argv;
	int log_fd, netns_fd, nice;
	int fd[QFD_COUNT_END]; /* parent's descriptor for each child number; -1: none */
	int cgroup_fd[CGROUP_MAX_FDS], ncgroup_fds;
	const struct jail_plan *jail;
	pid_t parent; /* thawd */
	volatile int failed_errno;
};

static void child_exec(struct child_setup *c)
{
	setsid(); /* a Ctrl-C meant for thawd must not reach the VMs */
	/* No transparent huge pages (kept across exec): QEMU asks for them
	 * on TCG's code cache and hash table, where a 2 MiB page backs a few
	 * KiB in use, 3 MiB more per idle VMM. Guest RAM is a private file
	 * mapping, which never gets them. */
	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) < 0)
		goto fail;
	if (c->nice)
		setpriority(PRIO_PROCESS, 0, c->nice);
	/* Into its cgroups first: everything it allocates is charged there. */
	for (int i = 0; i < c->ncgroup_fds; i++)
		if (write(c->cgroup_fd[i], "0\n", 2) != 2)
			goto fail;
	if (c->netns_fd >= 0 && setns(c->netns_fd, 0) < 0)
		goto fail;
	/* Out of the way first, then into place: a source may sit on a
	 * target number. */
	int high[QFD_COUNT_END];
	for (int n = 0; n < QFD_COUNT_END; n++) {
		high[n] = -1;
		if (c->fd[n] >= 0 && (high[n] = fcntl(c->fd[n], F_DUPFD, 100)) < 0)
			goto fail;
	}
	int devnull = open("/dev/null", O_RDONLY);
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(c->log_fd, 1) < 0 || dup2(c->log_fd, 2) < 0)
		goto fail;
	for (int n = 0; n < QFD_COUNT_END; n++)
		if (high[n] >= 0 && dup2(high[n], n) < 0)
			goto fail;
	close_range(QFD_COUNT_END, ~0U, 0);
	/* thawd's own limit is raised for its many sandboxes; a VMM taken
	 * over by its guest must not be able to hold as many. (Only now: the
	 * child held thawd's descriptors until close_range.) */
	struct rlimit nofile = { VMM_MAX_FDS, VMM_MAX_FDS };
	if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
		goto fail;
	if (c->jail && jail_enter(c->jail) < 0)
		goto fail;
	/* A thawd killed while this child was being set up (its vfork
	 * wait is killable) must not leave a VMM behind: its next start
	 * sweeps VMMs by their -name, which this process does not show
	 * until it has exec'd. */
	if (getppid() != c->parent) {
		errno = ECHILD;
		goto fail;
	}
	execvp(c->argv[0], (char *const *)c->argv);
fail:
	c->failed_errno = errno ? errno : EINVAL;
	_exit(127);
}

/* The QMP socket is bound here, by thawd, and handed over listening:
 * the jailed VMM could not create it, and thawd can connect at once. */
static int bind_qmp(const char *path, struct thaw_err **err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(err, ERR_INVALID, "QMP socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		err_sys(err, "binding %s", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Opens a file the VMM owns (its disk, its console, its own memory
 * file): a jailed VMM reopens it as its own uid. */
static int open_own(const struct vmm_host *h, uid_t uid, const char *path, int flags,
		    struct thaw_err **err)
{
	int fd = open(path, flags | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_sys(err, "opening %s", path);
	if (h->jail && fchown(fd, uid, uid) < 0) {
		err_sys(err, "handing %s to the VMM", path);
		close(fd);
		return -1;
	}
	return fd;
}

static int open_fds(const struct vmm_host *h, const struct vmm_launch *l, uid_t uid, int fd[],
		    struct qemu_fd_set *set, struct thaw_err **err)
{
	_cleanup_free_ char *qmp = qmp_path(l->run_dir);
	set->state = l->state_fd >= 0;
	set->kernel = l->kernel != NULL;
	set->initrd = l->kernel != NULL && l->initrd != NULL;
	set->console = l->console_path != NULL;
	fd[QFD_TAP] = l->tap_fd >= 0 ? fcntl(l->tap_fd, F_DUPFD_CLOEXEC, 3) : -1;
	fd[QFD_STATE] = l->state_fd >= 0 ? fcntl(l->state_fd, F_DUPFD_CLOEXEC, 3) : -1;
	if (l->memory_fd >= 0)
		fd[QFD_MEMORY] = fcntl(l->memory_fd, F_DUPFD_CLOEXEC, 3);
	else if ((fd[QFD_MEMORY] = open_own(h, uid, l->memory_path, O_RDWR | O_CREAT, err)) < 0)
		return -1;
	/* Read-only, through the lazy layer: never handed to the VMM's uid. */
	if (l->disk_base_path &&
	    (fd[QFD_DISK_BASE] = open(l->disk_base_path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_sys(err, "opening the disk base %s", l->disk_base_path);
	set->disk_base = l->disk_base_path != NULL;
	if ((fd[QFD_DISK] = open_own(h, uid, l->disk_path, O_RDWR, err)) < 0 ||
	    (fd[QFD_QMP] = bind_qmp(qmp, err)) < 0)
		return -1;
	if (set->console && (fd[QFD_CONSOLE] = open_own(h, uid, l->console_path,
							O_WRONLY | O_CREAT | O_APPEND, err)) < 0)
		return -1;
	if (set->kernel) {
		/* Read-only and shared: the jailed VMM reads them through
		 * the descriptor (world-readable files). */
		fd[QFD_KERNEL] = open(l->kernel, O_RDONLY | O_CLOEXEC);
		if (set->initrd)
			fd[QFD_INITRD] = open(l->initrd, O_RDONLY | O_CLOEXEC);
		if (fd[QFD_KERNEL] < 0 || (set->initrd && fd[QFD_INITRD] < 0))
			return err_sys(err, "opening the kernel and initrd");
	}
	if ((l->tap_fd >= 0 && fd[QFD_TAP] < 0) || (l->state_fd >= 0 && fd[QFD_STATE] < 0) ||
	    fd[QFD_MEMORY] < 0)
		return err_sys(err, "duplicating the VMM's descriptors");
	return 0;
}

static void close_fds(int fd[])
{
	for (int n = 0; n < QFD_COUNT_END; n++)
		if (fd[n] >= 0)
			close(fd[n]);
}

/* vfork in a frame of its own: nothing of the caller's may be clobbered. */
static __attribute__((noinline)) pid_t start_child(struct child_setup *c)
{
	pid_t pid = vfork();
	if (pid == 0)
		child_exec(c);
	return pid;
}

static int spawn(const struct vmm_host *h, const struct vmm_launch *l, struct vmm **out,
		 struct thaw_err **err)
{
	uid_t uid = (uid_t)(h->uid_base + l->index);
	_cleanup_free_ char *log = xasprintf("%s/vmm.log", l->run_dir);
	_cleanup_close_ int log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (log_fd < 0)
		return err_sys(err, "opening %s", log);
	struct child_setup c = {
		.log_fd = log_fd, .netns_fd = l->netns_fd, .nice = l->nice, .parent = getpid()
	};
	struct jail_plan plan;
	struct qemu_fd_set set = { 0 };
	char **argv = NULL;
	int rc = -1;
	for (int n = 0; n < QFD_COUNT_END; n++)
		c.fd[n] = -1;
	if (open_fds(h, l, uid, c.fd, &set, err) < 0)
		goto out;
	if (h->jail) {
		/* The host's plan with this VMM's ids: a copy on the stack. */
		plan = *h->jail;
		plan.uid = uid;
		plan.gid = uid;
		c.jail = &plan;
	}
	if (h->cgroups && cgroup_vmm_create(h->cgroups, l->name, &l->limits, c.cgroup_fd,
					    &c.ncgroup_fds, err) < 0)
		goto out;
	argv = qemu_argv_build(h, l, &set);
	c.argv = (const char *const *)argv;
	pid_t pid = start_child(&c);
	if (pid < 0) {
		err_sys(err, "starting the VMM");
		goto out;
	}
	if (c.failed_errno) {
		waitpid(pid, NULL, 0);
		errno = c.failed_errno;
		err_sys(err, "starting %s%s", h->binary, h->jail ? " in its jail" : "");
		goto out;
	}
	struct vmm *v = xcalloc(1, sizeof(*v));
	v->drv = &vmm_qemu;
	v->pid = pid;
	v->pidfd = pidfd_open_pid(pid);
	v->run_dir = xstrdup(l->run_dir);
	v->name = xstrdup(l->name);
	v->cgroups = h->cgroups;
	if (v->pidfd < 0 || proc_start_ticks(pid, &v->start_ticks) < 0) {
		err_set(err, ERR_INTERNAL, "cannot track VMM process %d (pidfd %d)", (int)pid,
			v->pidfd);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		vmm_free(v);
		goto out;
	}
	*out = v;
	rc = 0;
out:
	if (rc < 0 && h->cgroups && c.ncgroup_fds > 0)
		cgroup_vmm_remove(h->cgroups, l->name);
	for (int i = 0; i < c.ncgroup_fds; i++)
		close(c.cgroup_fd[i]);
	close_fds(c.fd);
	qemu_argv_free(argv);
	return rc;
}

static int connect_qmp(struct vmm *v, int timeout_ms, struct thaw_err **err)
{
	_cleanup_free_ char *qmp = qmp_path(v->run_dir);
	struct qemu_priv *p = xcalloc(1, sizeof(*p));
	v->priv = p;
	if (qmp_connect(qmp, timeout_ms, &p->qmp, err) < 0)
		return -1;
	return 0;
}

/* Connects and negotiates capabilities, waiting for the answer. */
static int qmp_open(struct vmm *v, int timeout_ms, struct thaw_err **err)
{
	if (connect_qmp(v, timeout_ms, err) < 0)
		return -1;
	struct qemu_priv *p = v->priv;
	return qmp_call(p->qmp, "qmp_capabilities", NULL, timeout_ms, NULL, err);
}

static void fail_cleanup(struct vmm *v, struct thaw_err **err)
{
	if (!v)
		return;
	vmm_kill(v);
	append_log_tail(v->run_dir, err);
	vmm_free(v);
}

static int qemu_boot(const struct vmm_host *h, const struct vmm_launch *l, struct vmm **out,
		     struct thaw_err **err)
{
	struct vmm *v = NULL;
	if (spawn(h, l, &v, err) < 0)
		return -1;
	if (qmp_open(v, QMP_CONNECT_MS, err) < 0) {
		err_wrap(err, "booting the VMM");
		fail_cleanup(v, err);
		return -1;
	}
	*out = v;
	return 0;
}

/* MIGRATION events tell when loading is done. */
static json_t *migration_caps(void)
{
	return json_pack("{s:[{s:s,s:b}]}", "capabilities", "capability", "events", "state", 1);
}

static int qemu_restore(const struct vmm_host *h, const struct vmm_launch *l, struct vmm **out,
			struct vmm_timings *t, struct thaw_err **err)
{
	struct vmm *v = NULL;
	_cleanup_free_ char *uri = xasprintf("fd:%d", QFD_STATE);
	t->spawned = time_real_ns();
	if (spawn(h, l, &v, err) < 0)
		return -1;
	struct qemu_priv *p;
	if (connect_qmp(v, QMP_CONNECT_MS, err) < 0)
		goto fail;
	p = v->priv;
	if (qmp_send(p->qmp, "qmp_capabilities", NULL, err) < 0 ||
	    qmp_send(p->qmp, "migrate-set-capabilities", migration_caps(), err) < 0 ||
	    qmp_send(p->qmp, "migrate-incoming", json_pack("{s:s}", "uri", uri), err) < 0)
		goto fail;
	if (qmp_wait_return(p->qmp, QMP_CONNECT_MS, NULL, err) < 0)
		goto fail;
	t->qmp_ready = time_real_ns();
	if (qmp_wait_event(p->qmp, "MIGRATION", "completed", RESTORE_WAIT_MS, &t->state_loaded,
			   err) < 0 ||
	    qmp_wait_event(p->qmp, "RESUME", NULL, RESTORE_WAIT_MS, &t->resumed, err) < 0)
		goto fail;
	*out = v;
	return 0;
fail:
	err_wrap(err, "restoring the VM");
	fail_cleanup(v, err);
	return -1;
}

static int qemu_prepare(const struct vmm_host *h, const struct vmm_launch *l, struct vmm **out,
			struct thaw_err **err)
{
	struct vmm *v = NULL;
	if (spawn(h, l, &v, err) < 0)
		return -1;
	struct qemu_priv *p;
	if (connect_qmp(v, QMP_CONNECT_MS, err) < 0)
		goto fail;
	p = v->priv;
	if (qmp_send(p->qmp, "qmp_capabilities", NULL, err) < 0 ||
	    qmp_send(p->qmp, "migrate-set-capabilities", migration_caps(), err) < 0 ||
	    qmp_wait_return(p->qmp, QMP_CONNECT_MS, NULL, err) < 0 ||
	    qmp_wait_return(p->qmp, QMP_CONNECT_MS, NULL, err) < 0)
		goto fail;
	*out = v;
	return 0;
fail:
	err_wrap(err, "preparing a VMM");
	fail_cleanup(v, err);
	return -1;
}

/* The state fd was inherited at spawn: one command and the guest runs. */
static int qemu_load(struct vmm *v, struct vmm_timings *t, struct thaw_err **err)
{
	struct qemu_priv *p = v->priv;
	_cleanup_free_ char *uri = xasprintf("fd:%d", QFD_STATE);
	t->spawned = t->qmp_ready = time_real_ns();
	if (qmp_send(p->qmp, "migrate-incoming", json_pack("{s:s}", "uri", uri), err) < 0 ||
	    qmp_wait_event(p->qmp, "MIGRATION", "completed", RESTORE_WAIT_MS, &t->state_loaded,
			   err) < 0 ||
	    qmp_wait_event(p->qmp, "RESUME", NULL, RESTORE_WAIT_MS, &t->resumed, err) < 0) {
		append_log_tail(v->run_dir, err);
		return err_wrap(err, "loading device state");
	}
	return 0;
}

static int qemu_stop(struct vmm *v, struct thaw_err **err)
{
	struct qemu_priv *p = v->priv;
	if (qmp_call(p->qmp, "stop", NULL, SAVE_WAIT_MS, NULL, err) < 0)
		return err_wrap(err, "stopping the guest");
	return 0;
}

static int qemu_cont(struct vmm *v, struct thaw_err **err)
{
	struct qemu_priv *p = v->priv;
	if (qmp_call(p->qmp, "cont", NULL, SAVE_WAIT_MS, NULL, err) < 0)
		return err_wrap(err, "resuming the guest");
	return 0;
}

static int qemu_is_running(struct vmm *v, bool *running, struct thaw_err **err)
{
	struct qemu_priv *p = v->priv;
	json_t *ret = NULL;
	if (qmp_call(p->qmp, "query-status", NULL, SAVE_WAIT_MS, &ret, err) < 0)
		return err_wrap(err, "querying the guest's run state");
	*running = json_is_true(json_object_get(ret, "running"));
	json_decref(ret);
	return 0;
}

/* Stops the guest (the block layer drains and flushes) and writes its
 * device state; the guest stays stopped. The jailed VMM cannot open the
 * file: thawd creates it and hands it over in a QMP fd set. */
#define SAVE_FDSET 1

static int qemu_save_state(struct vmm *v, const char *path, struct thaw_err **err)
{
	struct qemu_priv *p = v->priv;
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_sys(err, "creating %s", path);
	_cleanup_free_ char *target = xasprintf("/dev/fdset/%d", SAVE_FDSET);
	int rc = qmp_call(p->qmp, "stop", NULL, SAVE_WAIT_MS, NULL, err);
	if (rc == 0)
		rc = qmp_send_with_fd(p->qmp, "add-fd", json_pack("{s:i}", "fdset-id", SAVE_FDSET),
				      fd, err);
	if (rc == 0)
		rc = qmp_wait_return(p->qmp, SAVE_WAIT_MS, NULL, err);
	if (rc == 0) {
		rc = qmp_call(p->qmp, "xen-save-devices-state",
			      json_pack("{s:s,s:b}", "filename", target, "live", 0), SAVE_WAIT_MS,
			      NULL, err);
		/* The set must not outlive the save: the next one reuses it. */
		_cleanup_err_ struct thaw_err *rerr = NULL;
		if (qmp_call(p->qmp, "remove-fd", json_pack("{s:i}", "fdset-id", SAVE_FDSET),
			     SAVE_WAIT_MS, NULL, &rerr) < 0)
			log_warn("vmm.save_state", "remove_fd_error=\"%s\"", err_msg(rerr));
	}
	if (rc < 0) {
		append_log_tail(v->run_dir, err);
		return err_wrap(err, "saving device state");
	}
	return 0;
}

static int qemu_quit(struct vmm *v, int timeout_ms, struct thaw_err **err)
{
	struct qemu_priv *p = v->priv;
	if (p && p->qmp)
		qmp_send(p->qmp, "quit", NULL, NULL);
	struct pollfd pf = { .fd = v->pidfd, .events = POLLIN };
	int r;
	while ((r = poll(&pf, 1, timeout_ms)) < 0 && errno == EINTR)
		;
	if (r != 1) {
		vmm_kill(v);
		return err_set(err, ERR_TIMEOUT, "the VMM did not quit within %d ms", timeout_ms);
	}
	vmm_reap(v);
	return 0;
}

static int qemu_attach(const char *run_dir, pid_t pid, uint64_t start_ticks, struct vmm **out,
		       struct thaw_err **err)
{
	uint64_t now_ticks;
	if (proc_start_ticks(pid, &now_ticks) < 0 || now_ticks != start_ticks)
		return err_set(err, ERR_NOT_FOUND, "VMM process %d is gone", (int)pid);
	struct vmm *v = xcalloc(1, sizeof(*v));
	v->drv = &vmm_qemu;
	v->pid = pid;
	v->start_ticks = start_ticks;
	v->run_dir = xstrdup(run_dir);
	v->pidfd = pidfd_open_pid(pid);
	if (v->pidfd < 0) {
		err_sys(err, "opening pidfd of %d", (int)pid);
		goto fail;
	}
	if (qmp_open(v, 2000, err) < 0)
		goto fail;
	*out = v;
	return 0;
fail:
	vmm_free(v);
	return err_wrap(err, "re-attaching to VMM %d", (int)pid);
}

static void first_line(const char *line, void *ud)
{
	char *version = ud;
	if (version[0])
		return;
	const char *v = strstr(line, "version ");
	snprintf(version, 128, "%s", v ? v + 8 : line);
}

static const char *qemu_version(const struct vmm_host *h)
{
	static char version[128];
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&lock);
	if (!version[0]) {
		const char *argv[] = { h->binary, "--version", NULL };
		if (proc_run(argv, NULL, first_line, version, NULL) < 0 || !version[0])
			snprintf(version, sizeof(version), "unknown");
	}
	pthread_mutex_unlock(&lock);
	return version;
}

static void qemu_release(struct vmm *v)
{
	struct qemu_priv *p = v->priv;
	if (!p)
		return;
	qmp_close(p->qmp);
	free(p);
	v->priv = NULL;
}

const struct vmm_driver vmm_qemu = {
	.name = "qemu",
	.boot = qemu_boot,
	.restore = qemu_restore,
	.prepare = qemu_prepare,
	.load = qemu_load,
	.save_state = qemu_save_state,
	.stop = qemu_stop,
	.cont = qemu_cont,
	.is_running = qemu_is_running,
	.quit = qemu_quit,
	.attach = qemu_attach,
	.version = qemu_version,
	.release = qemu_release,
};
