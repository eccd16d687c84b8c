/* Snapshot: a new template from a running sandbox. The sandbox is
 * stopped only while core/capture.c writes its device state, the memory
 * pages it wrote (on a reflink of its memory file) and a reflink of its
 * disk into a new build directory; it runs on while the build is
 * checksummed, synced and published like a bake's. Creates from the new
 * template restore it exactly like a baked one: the memory file mapped
 * lazily, never copied up front. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "core/capture.h"
#include "core/launch.h"
#include "core/stats.h"
#include "core/vmmpool.h"
#include "db/db.h"
#include "fsutil.h"
#include "ids.h"
#include "log.h"
#include "ops/ops.h"
#include "remote/remote.h"
#include "template/catalog.h"
#include "timeutil.h"

/* Stops, captures and lets the sandbox run on. */
static int capture_running(struct host *h, struct sandbox *sb, const char *name,
			   const char *build_id, const char *dir, const char *owner,
			   struct snapshot_result *out, struct thaw_err **err)
{
	pthread_mutex_lock(&sb->lock);
	enum sb_state state = sb->state;
	pthread_mutex_unlock(&sb->lock);
	if (state != SB_RUNNING)
		return err_set(err, ERR_CONFLICT, "sandbox %s is %s", sb->id, sb_state_name(state));
	struct template *src = NULL, *base = NULL;
	if (sandbox_source(h, sb, &src, err) < 0)
		return -1;
	if (catalog_get_build(h->catalog, sb->template_name, sb->build_id, &base, err) < 0) {
		catalog_put(h->catalog, src);
		return -1;
	}
	struct capture_req req = { .sb = sb,
				   .src = src,
				   .dir = dir,
				   .source = SOURCE_SNAPSHOT,
				   .build_id = build_id,
				   .name = name,
				   .kernel_from = base };
	struct capture_times t;
	int rc = capture_take(h, &req, &t, err);
	_cleanup_err_ struct thaw_err *cerr = NULL;
	if (h->drv->cont(sb->vmm, &cerr) < 0)
		log_warn("sandbox.snapshot", "id=%s resume_error=\"%s\"", sb->id, err_msg(cerr));
	/* The checksums take seconds; the sandbox runs meanwhile. */
	if (rc == 0) {
		char sha[SHA256_HEX_LEN + 1];
		rc = capture_describe(h, &req, &t, true, true, &out->meta, sha, err);
		if (rc == 0)
			rc = catalog_publish(h->catalog, dir, &out->meta, sha, owner, err);
		if (rc == 0)
			remote_publish_later(h, out->meta.name, out->meta.build_id, owner);
	}
	catalog_put(h->catalog, src);
	catalog_put(h->catalog, base);
	out->stopped_ms = t.stopped_ms;
	/* The sandbox was found: a missing file now is the host's failure. */
	if (rc < 0 && err && *err && (*err)->code == ERR_NOT_FOUND)
		(*err)->code = ERR_INTERNAL;
	return rc;
}

int sandbox_snapshot(struct host *h, const char *id, const char *name, const char *owner,
		     struct snapshot_result *out, struct thaw_err **err)
{
	STATS_TIME_OP("snapshot", err);
	memset(out, 0, sizeof(*out));
	uint64_t t0 = time_mono_ns();
	if (!id_valid_template(name))
		return err_set(err, ERR_INVALID, "template must be 1-63 characters of [a-z0-9-]");
	/* Holds the name against a bake or another snapshot meanwhile. */
	if (catalog_bake_begin(h->catalog, name, err) < 0)
		return -1;
	struct template_row existing;
	struct sandbox *sb = NULL;
	_cleanup_err_ struct thaw_err *perr = NULL;
	char build_id[48];
	id_new_build(build_id, sizeof(build_id));
	_cleanup_free_ char *parent_dir = catalog_template_dir(h->catalog, name);
	_cleanup_free_ char *dir = xasprintf("%s/.tmp-%s", parent_dir, build_id);
	int rc = -1;
	if (db_template_get(h->db, name, &existing, NULL) == 0) {
		err_set(err, ERR_CONFLICT, "template %s already exists; delete it first", name);
		goto out;
	}
	if (sandbox_lock_current(h, id, &sb, err) < 0)
		goto out;
	if (fs_mkdir_p(dir, 0700, err) == 0)
		rc = capture_running(h, sb, name, build_id, dir, owner, out, err);
	sandbox_ref(h, sb);
	sandbox_unlock(h, sb);
	/* Its clock stood still while it was stopped. */
	if (sb->vmm && launch_probe(sb->slot, sb->vmm, sb->id, &perr) < 0)
		log_debug("sandbox.snapshot", "id=%s clock_error=\"%s\"", id, err_msg(perr));
	sandbox_unref(h, sb);
out:
	if (rc < 0) {
		fs_rm_rf(dir, NULL);
		rmdir(parent_dir); /* only if nothing else is in it */
	}
	catalog_bake_end(h->catalog, name);
	if (rc < 0)
		return err_wrap(err, "snapshotting sandbox %s as template %s", id, name);
	out->total_ms = ns_to_ms(time_mono_ns() - t0);
	log_notice("sandbox.snapshot", "id=%s template=%s build=%s stopped_ms=%.1f total_ms=%.1f",
		   id, name, build_id, out->stopped_ms, out->total_ms);
	vmmpool_poke(h->vmms);
	return 0;
}
