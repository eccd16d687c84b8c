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
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "guestnet.h"
#include "log.h"
#include "proc.h"
#include "qmp.h"
#include "qemu_argv.h"
#include "timeutil.h"
#include "vmm.h"

#define QMP_CONNECT_MS 15000
#define RESTORE_WAIT_MS 30000
#define SAVE_WAIT_MS 60000
#define CHILD_TAP_FD 3
#define CHILD_STATE_FD 4

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

struct child_setup {
	const char *const *argv;
	const char *log_path;
	int netns_fd, tap_fd, state_fd, nice;
	volatile int failed_errno;
};

/* Runs in the vfork child: only raw system calls until exec. */
static void child_exec(struct child_setup *c)
{
	setsid(); /* a Ctrl-C meant for thawd must not reach the VMs */
	if (c->nice)
		setpriority(PRIO_PROCESS, 0, c->nice);
	if (c->netns_fd >= 0 && setns(c->netns_fd, 0) < 0)
		goto fail;
	int tap = c->tap_fd >= 0 ? fcntl(c->tap_fd, F_DUPFD, 100) : -1;
	int state = c->state_fd >= 0 ? fcntl(c->state_fd, F_DUPFD, 100) : -1;
	int devnull = open("/dev/null", O_RDONLY);
	int log = open(c->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (devnull < 0 || log < 0 || dup2(devnull, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
		goto fail;
	if (tap >= 0 && dup2(tap, CHILD_TAP_FD) < 0)
		goto fail;
	if (state >= 0 && dup2(state, CHILD_STATE_FD) < 0)
		goto fail;
	close_range(CHILD_STATE_FD + 1, ~0U, 0);
	execvp(c->argv[0], (char *const *)c->argv);
fail:
	c->failed_errno = errno ? errno : EINVAL;
	_exit(127);
}

static int spawn(const struct vmm_host *h, const struct vmm_launch *l, struct vmm **out,
		 struct thaw_err **err)
{
	_cleanup_free_ char *qmp = qmp_path(l->run_dir);
	_cleanup_free_ char *log = xasprintf("%s/vmm.log", l->run_dir);
	unlink(qmp);
	char **argv = qemu_argv_build(h, l, qmp, l->state_fd >= 0 ? CHILD_STATE_FD : -1,
				      l->tap_fd >= 0 ? CHILD_TAP_FD : -1);
	struct child_setup c = { .argv = (const char *const *)argv,
				 .log_path = log,
				 .netns_fd = l->netns_fd,
				 .tap_fd = l->tap_fd,
				 .state_fd = l->state_fd,
				 .nice = l->nice };
	pid_t pid = vfork();
	if (pid == 0)
		child_exec(&c);
	qemu_argv_free(argv);
	if (pid < 0)
		return err_sys(err, "starting the VMM");
	if (c.failed_errno) {
		waitpid(pid, NULL, 0);
		errno = c.failed_errno;
		return err_sys(err, "starting %s", h->binary);
	}
	struct vmm *v = xcalloc(1, sizeof(*v));
	v->drv = &vmm_qemu;
	v->pid = pid;
	v->pidfd = pidfd_open_pid(pid);
	v->run_dir = xstrdup(l->run_dir);
	if (v->pidfd < 0 || proc_start_ticks(pid, &v->start_ticks) < 0) {
		err_set(err, ERR_INTERNAL, "cannot track VMM process %d (pidfd %d)", (int)pid,
			v->pidfd);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		vmm_free(v);
		return -1;
	}
	*out = v;
	return 0;
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
	_cleanup_free_ char *uri = xasprintf("fd:%d", CHILD_STATE_FD);
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
	_cleanup_free_ char *uri = xasprintf("fd:%d", CHILD_STATE_FD);
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
 * device state; the guest stays stopped. */
static int qemu_save_state(struct vmm *v, const char *path, struct thaw_err **err)
{
	struct qemu_priv *p = v->priv;
	if (qmp_call(p->qmp, "stop", NULL, SAVE_WAIT_MS, NULL, err) < 0 ||
	    qmp_call(p->qmp, "xen-save-devices-state",
		     json_pack("{s:s,s:b}", "filename", path, "live", 0), SAVE_WAIT_MS, NULL,
		     err) < 0) {
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
