#include "remote/lazy.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "fsutil.h"
#include "log.h"
#include "timeutil.h"

#define READY_TIMEOUT_MS 10000
#define STOP_GRACE_MS 10000
#define RESTART_BACKOFF_MS 1000
#define STATS_MAX (1u << 20)

struct lazy {
	struct lazy_conf conf;
	char *mount_dir, *cache_dir, *binary, *log_path, *pid_path, *log_level;
	char **env;
	pthread_mutex_t lock;
	pid_t pid;
	int pidfd;
	bool ours; /* our child (reaped by us), not one adopted from a previous thawd */
	unsigned generation;
	int stop_fd; /* eventfd: the watcher ends */
	pthread_t watcher;
	bool watching;
};

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Whether pid is a thaw-lazyfs serving our mount point (the pid file
 * may name a pid the kernel has since given to something else). */
static bool is_our_lazyfs(const struct lazy *l, pid_t pid)
{
	_cleanup_free_ char *path = xasprintf("/proc/%d/cmdline", (int)pid);
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (fs_read_file(path, 65536, &text, &len, NULL) < 0)
		return false;
	bool binary = false, mount = false;
	for (size_t off = 0; off < len; off += strlen(text + off) + 1) {
		const char *arg = text + off;
		const char *base = strrchr(arg, '/');
		if (off == 0 && strcmp(base ? base + 1 : arg, "thaw-lazyfs") == 0)
			binary = true;
		if (strcmp(arg, l->mount_dir) == 0)
			mount = true;
	}
	return binary && mount;
}

static bool answers(const struct lazy *l)
{
	_cleanup_free_ char *p = xasprintf("%s/.stats", l->mount_dir);
	struct stat st;
	return stat(p, &st) == 0;
}

static void write_pid(const struct lazy *l, pid_t pid)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "%d\n", (int)pid);
	_cleanup_err_ struct thaw_err *err = NULL;
	if (fs_write_atomic(l->pid_path, text, (size_t)n, 0600, &err) < 0)
		log_warn("lazy.pidfile", "error=\"%s\"", err_msg(err));
}

/* The lazy layer the pid file names, with a pidfd on it, when it is
 * still one serving our mount point; 0 otherwise. */
static pid_t find_running(const struct lazy *l, int *pidfd)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (fs_read_file(l->pid_path, 64, &text, &len, NULL) < 0)
		return 0;
	long pid = strtol(text, NULL, 10);
	if (pid <= 1 || !is_our_lazyfs(l, (pid_t)pid) || (*pidfd = pidfd_open_((pid_t)pid)) < 0)
		return 0;
	return (pid_t)pid;
}

/* A lazy layer a previous thawd started is still serving its VMMs:
 * keep it (its page cache and open files are theirs). */
static bool adopt(struct lazy *l)
{
	int fd = -1;
	pid_t pid = find_running(l, &fd);
	if (!pid || !answers(l)) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	l->pid = pid;
	l->pidfd = fd;
	l->ours = false;
	l->generation++;
	log_info("lazy.adopted", "pid=%d mount=%s", (int)pid, l->mount_dir);
	return true;
}

/* SIGTERM, then SIGKILL after STOP_GRACE_MS, and returns once it is gone:
 * its cache files keep the store busy until then. */
static void end_process(pid_t pid, int pidfd)
{
	kill(pid, SIGTERM);
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	if (poll(&p, 1, STOP_GRACE_MS) > 0)
		return;
	log_warn("lazy.stop", "pid=%d did not end within %d ms of SIGTERM; killing it", (int)pid,
		 STOP_GRACE_MS);
	kill(pid, SIGKILL);
	poll(&p, 1, STOP_GRACE_MS);
}

static void unmount_stale(const struct lazy *l)
{
	/* A dead FUSE daemon leaves a mount that answers ENOTCONN; detach
	 * it so a new one can mount (VMMs still mapping it keep it alive). */
	if (umount2(l->mount_dir, MNT_DETACH) == 0)
		log_info("lazy.unmounted_stale", "mount=%s", l->mount_dir);
}

static int spawn(struct lazy *l, struct thaw_err **err)
{
	char cache_mb[16], low_mb[16];
	snprintf(cache_mb, sizeof(cache_mb), "%u", l->conf.cache_mb);
	snprintf(low_mb, sizeof(low_mb), "%u", l->conf.cache_mb / 10 * 9);
	const char *argv[] = { l->binary,    "--mount",		 l->mount_dir,	"--cache",
			       l->cache_dir, "--cache-high-mib", cache_mb,	"--cache-low-mib",
			       low_mb,	     "--foreground",	 "--log-level", l->log_level,
			       NULL };
	_cleanup_close_ int log_fd =
		open(l->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (log_fd < 0)
		return err_sys(err, "opening %s", l->log_path);
	pid_t pid = fork();
	if (pid < 0)
		return err_sys(err, "starting %s", l->binary);
	if (pid == 0) {
		/* Its own session: it outlives thawd with the VMMs it serves.
		 * thawd blocks SIGTERM and SIGINT (a thread waits for them),
		 * and a blocked mask survives exec: unblock, or the lazy layer
		 * could never be asked to stop. */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setsid();
		int null = open("/dev/null", O_RDONLY);
		if (null < 0 || dup2(null, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
			_exit(127);
		syscall(SYS_close_range, 3, ~0u, 0);
		execve(l->binary, (char *const *)argv, l->env);
		_exit(127);
	}
	l->pid = pid;
	l->pidfd = pidfd_open_(pid);
	l->ours = true;
	l->generation++;
	if (l->pidfd < 0)
		return err_sys(err, "watching %s", l->binary);
	write_pid(l, pid);
	uint64_t deadline = time_mono_ns() + (uint64_t)READY_TIMEOUT_MS * 1000000;
	while (!answers(l)) {
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			close(l->pidfd);
			l->pidfd = -1;
			l->pid = 0;
			return err_set(err, ERR_UNAVAILABLE,
				       "the lazy layer (%s) exited at start; see %s", l->binary,
				       l->log_path);
		}
		if (time_mono_ns() > deadline)
			return err_set(err, ERR_TIMEOUT,
				       "the lazy layer did not mount %s within %d ms", l->mount_dir,
				       READY_TIMEOUT_MS);
		usleep(10000);
	}
	log_info("lazy.started", "pid=%d mount=%s cache=%s", (int)pid, l->mount_dir, l->cache_dir);
	return 0;
}

static void reap(struct lazy *l)
{
	if (l->ours && l->pid > 0)
		waitpid(l->pid, NULL, 0);
	if (l->pidfd >= 0)
		close(l->pidfd);
	l->pidfd = -1;
	l->pid = 0;
}

/* Restarts the lazy layer whenever it ends. VMMs that were faulting
 * pages through the old one get SIGBUS and end; their sandboxes fail
 * with the reason their VMM's end gives. */
static void *watch(void *arg)
{
	struct lazy *l = arg;
	for (;;) {
		pthread_mutex_lock(&l->lock);
		int pidfd = l->pidfd;
		pthread_mutex_unlock(&l->lock);
		struct pollfd p[2] = { { .fd = l->stop_fd, .events = POLLIN },
				       { .fd = pidfd, .events = POLLIN } };
		int n = poll(p, pidfd >= 0 ? 2 : 1, pidfd >= 0 ? -1 : RESTART_BACKOFF_MS);
		if (n < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		pthread_mutex_lock(&l->lock);
		if (pidfd >= 0 && p[1].revents) {
			log_error("lazy.exited",
				  "pid=%d: VMMs faulting pages through it end; "
				  "starting a new one",
				  (int)l->pid);
			reap(l);
			unmount_stale(l);
			usleep(RESTART_BACKOFF_MS * 1000);
		}
		if (l->pidfd < 0) {
			_cleanup_err_ struct thaw_err *err = NULL;
			unmount_stale(l);
			if (spawn(l, &err) < 0) {
				log_error("lazy.start_failed", "error=\"%s\"", err_msg(err));
				if (l->pid > 0)
					kill(l->pid, SIGKILL);
				reap(l);
			}
		}
		pthread_mutex_unlock(&l->lock);
	}
	return NULL;
}

static char **env_copy(const char *const *env)
{
	size_t n = 0;
	while (env && env[n])
		n++;
	/* PATH, and the sanitizers' settings for a sanitized build. */
	static const char *const pass[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
					    "THAW_LAZYFS_PREFETCH" };
	char **out = xcalloc(n + 2 + ARRAY_SIZE(pass), sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		out[k++] = xstrdup(env[i]);
	out[k++] = xstrdup("PATH=/usr/sbin:/usr/bin:/sbin:/bin");
	for (size_t i = 0; i < ARRAY_SIZE(pass); i++)
		if (getenv(pass[i]))
			out[k++] = xasprintf("%s=%s", pass[i], getenv(pass[i]));
	return out;
}

static void lazy_free(struct lazy *l)
{
	for (char **e = l->env; e && *e; e++)
		free(*e);
	free(l->env);
	free(l->mount_dir);
	free(l->cache_dir);
	free(l->binary);
	free(l->log_path);
	free(l->pid_path);
	free(l->log_level);
	if (l->stop_fd >= 0)
		close(l->stop_fd);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

int lazy_start(const struct lazy_conf *c, struct lazy **out, struct thaw_err **err)
{
	struct lazy *l = xcalloc(1, sizeof(*l));
	pthread_mutex_init(&l->lock, NULL);
	l->conf = *c;
	l->mount_dir = xstrdup(c->mount_dir);
	l->cache_dir = xstrdup(c->cache_dir);
	l->binary = xstrdup(c->binary);
	l->log_path = xstrdup(c->log_path);
	l->log_level = xstrdup(c->log_level ? c->log_level : "notice");
	l->pid_path = xasprintf("%s.pid", c->log_path);
	l->env = env_copy(c->env);
	l->pidfd = -1;
	l->stop_fd = eventfd(0, EFD_CLOEXEC);
	_cleanup_free_ char *manifests = xasprintf("%s/manifests", c->cache_dir);
	if (l->stop_fd < 0) {
		err_sys(err, "eventfd");
		goto fail;
	}
	if (access(l->binary, X_OK) < 0) {
		err_sys(err, "the lazy layer %s (--lazyfs)", l->binary);
		goto fail;
	}
	if (fs_mkdir_p(c->cache_dir, 0700, err) < 0 || fs_mkdir_p(manifests, 0700, err) < 0)
		goto fail;
	if (!adopt(l)) {
		unmount_stale(l);
		if (fs_mkdir_p(c->mount_dir, 0755, err) < 0 || spawn(l, err) < 0)
			goto fail_child;
	}
	if (pthread_create(&l->watcher, NULL, watch, l) != 0) {
		err_set(err, ERR_INTERNAL, "starting the lazy layer's watcher");
		goto fail_child;
	}
	l->watching = true;
	*out = l;
	return 0;
fail_child:
	if (l->ours && l->pid > 0)
		kill(l->pid, SIGKILL);
	reap(l);
	unmount_stale(l);
fail:
	lazy_free(l);
	return err_wrap(err, "starting the lazy layer");
}

void lazy_stop(struct lazy *l, bool end_it)
{
	if (!l)
		return;
	if (l->watching) {
		uint64_t one = 1;
		if (write(l->stop_fd, &one, sizeof(one)) < 0)
			log_warn("lazy.stop", "error=\"%s\"", strerror(errno));
		pthread_join(l->watcher, NULL);
	}
	if (end_it && l->pid > 0) {
		end_process(l->pid, l->pidfd);
		reap(l);
		unmount_stale(l);
		unlink(l->pid_path);
	} else if (l->pidfd >= 0) {
		/* It keeps serving the VMMs that outlive thawd; the next thawd
		 * adopts it. A child of ours is reaped by init once we exit. */
		close(l->pidfd);
	}
	lazy_free(l);
}

void lazy_teardown(const char *mount_dir, const char *log_path)
{
	/* A struct lazy for the checks adopt and stop make, nothing started. */
	_cleanup_free_ char *pid_path = xasprintf("%s.pid", log_path);
	struct lazy l = { .mount_dir = (char *)mount_dir, .pid_path = pid_path, .pidfd = -1 };
	pid_t pid = find_running(&l, &l.pidfd);
	if (pid) {
		end_process(pid, l.pidfd);
		close(l.pidfd);
		log_info("lazy.ended", "pid=%d", (int)pid);
	}
	unmount_stale(&l);
	unlink(pid_path);
}

static bool id_valid(const char *id)
{
	size_t n = strlen(id);
	return n >= 1 && n <= 128 && id[0] != '.' &&
	       strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

int lazy_register(struct lazy *l, const char *id, const char *manifest_json, struct thaw_err **err)
{
	if (!id_valid(id))
		return err_set(err, ERR_INVALID, "artifact id \"%s\" is not valid", id);
	_cleanup_free_ char *path = xasprintf("%s/manifests/%s.json", l->cache_dir, id);
	return fs_write_atomic(path, manifest_json, strlen(manifest_json), 0600, err);
}

bool lazy_registered(const struct lazy *l, const char *id)
{
	_cleanup_free_ char *path = xasprintf("%s/manifests/%s.json", l->cache_dir, id);
	return fs_exists(path);
}

char *lazy_path(const struct lazy *l, const char *id, const char *file)
{
	return xasprintf("%s/%s/%s", l->mount_dir, id, file);
}

char *lazy_stats(const struct lazy *l, const char *id)
{
	_cleanup_free_ char *p = id ? xasprintf("%s/%s/.stats", l->mount_dir, id)
				    : xasprintf("%s/.stats", l->mount_dir);
	char *text = NULL;
	size_t len = 0;
	if (fs_read_file(p, STATS_MAX, &text, &len, NULL) < 0)
		return NULL;
	return text;
}

unsigned lazy_generation(struct lazy *l)
{
	pthread_mutex_lock(&l->lock);
	unsigned g = l->generation;
	pthread_mutex_unlock(&l->lock);
	return g;
}

bool lazy_alive(struct lazy *l)
{
	pthread_mutex_lock(&l->lock);
	bool running = l->pid > 0;
	pthread_mutex_unlock(&l->lock);
	return running && answers(l);
}
