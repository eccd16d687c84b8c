#include "core/host.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cleanup.h"
#include "core/reconcile.h"
#include "core/registry.h"
#include "core/supervisor.h"
#include "fsutil.h"
#include "sha256.h"
#include "store/db.h"
#include "template/catalog.h"
#include "timeutil.h"

static void make_prefix(struct host *h)
{
	char real[PATH_MAX];
	const char *dir = realpath(h->cfg->data_dir, real) ? real : h->cfg->data_dir;
	char sum[SHA256_HEX_LEN + 1];
	sha256_hex(dir, strlen(dir), sum);
	snprintf(h->ns_prefix, sizeof(h->ns_prefix), "thaw-%.6s-", sum);
}

/* One thawd per data dir: two would reconcile each other's sandboxes
 * away. The lock lives as long as the process (the fd is never closed
 * before exit), and the kernel drops it when thawd dies. */
static int lock_data_dir(struct host *h, struct thaw_err **err)
{
	_cleanup_free_ char *path = xasprintf("%s/thawd.lock", h->cfg->data_dir);
	h->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (h->lock_fd < 0)
		return err_sys(err, "opening %s", path);
	if (flock(h->lock_fd, LOCK_EX | LOCK_NB) < 0)
		return err_set(err, ERR_CONFLICT, "another thawd already runs with data dir %s",
			       h->cfg->data_dir);
	return 0;
}

static int make_dirs(const struct thawd_config *cfg, struct thaw_err **err)
{
	_cleanup_free_ char *run = xasprintf("%s/run", cfg->data_dir);
	_cleanup_free_ char *logs = xasprintf("%s/logs", cfg->data_dir);
	if (fs_mkdir_p(cfg->data_dir, 0700, err) < 0 || fs_mkdir_p(run, 0700, err) < 0 ||
	    fs_mkdir_p(logs, 0700, err) < 0)
		return -1;
	return 0;
}

int host_open(const struct thawd_config *cfg, struct host **out, struct thaw_err **err)
{
	struct host *h = xcalloc(1, sizeof(*h));
	_cleanup_free_ char *dbpath = xasprintf("%s/thaw.db", cfg->data_dir);
	h->cfg = cfg;
	h->started_at = time_real_ns();
	h->vmm.binary = cfg->qemu_binary;
	h->vmm.accel = accel_resolve(cfg->accel, h->accel_why, sizeof(h->accel_why));
	h->drv = &vmm_qemu;
	h->reg = registry_new();
	h->lock_fd = -1;
	if (make_dirs(cfg, err) < 0 || lock_data_dir(h, err) < 0)
		goto fail;
	make_prefix(h);
	if (db_open(dbpath, &h->db, err) < 0 ||
	    disk_store_open(cfg->data_dir, cfg->store_mode, cfg->store_bytes, &h->store, err) < 0)
		goto fail;
	h->sandboxes_dir = xasprintf("%s/sandboxes", h->store->root);
	h->cache_dir = xasprintf("%s/cache", h->store->root);
	if (fs_mkdir_p(h->sandboxes_dir, 0700, err) < 0 || fs_mkdir_p(h->cache_dir, 0700, err) < 0 ||
	    catalog_open(h->db, h->store->root, &h->catalog, err) < 0 ||
	    supervisor_start(h, &h->sup, err) < 0)
		goto fail;
	struct reconcile_report rep;
	reconcile(h, &rep);
	*out = h;
	return 0;
fail:
	host_close(h);
	return err_wrap(err, "starting the host agent");
}

void host_close(struct host *h)
{
	if (!h)
		return;
	/* Stop watching first: VMMs keep running after thawd exits and are
	 * adopted by the next start. */
	supervisor_stop(h->sup);
	h->sup = NULL;
	registry_free(h, h->reg);
	catalog_close(h->catalog);
	disk_store_free(h->store);
	db_close(h->db);
	free(h->sandboxes_dir);
	free(h->cache_dir);
	if (h->lock_fd >= 0)
		close(h->lock_fd);
	free(h);
}
