/* The prefetch trace of a template: the memory windows a restore touches
 * first, in the order it touches them. A host that has none of them
 * fetches exactly these as soon as a create starts (the lazy layer reads
 * the manifest's "prefetch" list), so the guest's faults find them in the
 * page cache instead of waiting for the store one window at a time.
 *
 * It is recorded at publish time by restoring the template once through
 * this host's own lazy layer, from the objects just uploaded: a probe and
 * one command, like a create and its first exec. That restore also
 * proves the upload before the manifest makes it visible. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "core/host.h"
#include "core/launch.h"
#include "core/slotpool.h"
#include "fsutil.h"
#include "ids.h"
#include "log.h"
#include "remote/remote_int.h"
#include "template/build.h"
#include "timeutil.h"
#include "vmm/prefetch.h"

#define TRACE_MAX_BYTES (8u << 20)

/* The trace's windows (a JSON array of indices) into f->prefetch. */
static int parse_trace(const char *text, struct manifest_file *f, struct thaw_err **err)
{
	json_error_t jerr;
	json_t *arr = json_loads(text, 0, &jerr);
	if (!json_is_array(arr)) {
		json_decref(arr);
		return err_set(err, ERR_CORRUPT, "the lazy layer's trace is not a JSON array");
	}
	size_t n = json_array_size(arr);
	f->prefetch = xcalloc(n ? n : 1, sizeof(*f->prefetch));
	f->nprefetch = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(arr, i);
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    (uint64_t)json_integer_value(v) >= f->nwindows)
			continue;
		uint32_t w = (uint32_t)json_integer_value(v);
		bool seen = false;
		for (size_t k = 0; k < f->nprefetch && !seen; k++)
			seen = f->prefetch[k] == w;
		if (!seen && f->w[w].object) /* zero windows are never fetched */
			f->prefetch[f->nprefetch++] = w;
	}
	json_decref(arr);
	return 0;
}

/* A build directory that sees the uploaded objects through the lazy
 * layer: the manifest, an overlay over the streamed disk; the device
 * state is the local build's. */
static int make_view(struct remote *r, const struct template *local, const char *text,
		     const char *view, struct template *out, struct thaw_err **err)
{
	_cleanup_free_ char *id = remote_lazy_id(local->name, local->build_id);
	_cleanup_free_ char *disk = lazy_path(r->lazy, id, "rootfs");
	_cleanup_free_ char *copy = xasprintf("%s/%s", view, BUILD_MANIFEST_FILE);
	if (fs_mkdir_p(view, 0700, err) < 0 ||
	    fs_write_atomic(copy, text, strlen(text), 0600, err) < 0 ||
	    remote_make_overlay(view, disk, local->meta.files[MF_ROOTFS].size, err) < 0 ||
	    lazy_register(r->lazy, id, text, err) < 0)
		return -1;
	*out = *local;
	out->dir = xstrdup(view);
	for (int i = 0; i < MF_COUNT; i++)
		out->paths[i] = xstrdup(local->paths[i]);
	out->memory_fd = -1;
	out->streamed = true;
	out->refs = 1;
	return 0;
}

static int restore_once(struct host *h, const struct template *view, const char *id,
			struct thaw_err **err)
{
	_cleanup_free_ char *dir = xasprintf("%s/%s", h->sandboxes_dir, id);
	_cleanup_free_ char *run = xasprintf("%s/run/%s", h->cfg->data_dir, id);
	struct netslot *slot = NULL;
	struct vmm *vmm = NULL;
	bool warm;
	struct vmm_timings tm;
	struct launch_target lt = { .id = id, .dir = dir, .run_dir = run };
	int rc = slotpool_take(h->slots, true, &slot, &warm, err);
	if (rc == 0) {
		lt.slot = slot;
		rc = launch_clone_disk(h, view, dir, err);
	}
	if (rc == 0)
		rc = launch_restore(h, view, &lt, &vmm, &tm, err);
	if (rc == 0)
		rc = launch_probe_new(slot, vmm, id, false, NULL, NULL, err);
	if (rc == 0)
		rc = launch_first_command(slot, vmm, err);
	if (vmm) {
		vmm_kill(vmm);
		vmm_free(vmm);
	}
	if (slot)
		slotpool_give(h->slots, slot);
	fs_rm_rf(dir, NULL);
	fs_rm_rf(run, NULL);
	return rc;
}

int remote_record_trace(struct host *h, const struct template *local, struct manifest *m,
			struct thaw_err **err)
{
	struct remote *r = h->remote;
	uint64_t t0 = time_mono_ns();
	_cleanup_free_ char *text = manifest_to_json(m);
	if (!text)
		return err_set(err, ERR_INTERNAL, "the manifest could not be written");
	char id[SANDBOX_ID_LEN + 1];
	id_new_sandbox(id);
	_cleanup_free_ char *view_dir = xasprintf("%s/trace-%s", r->tmp_dir, id);
	struct template view = { .memory_fd = -1 };
	int rc = make_view(r, local, text, view_dir, &view, err);
	if (rc == 0)
		rc = restore_once(h, &view, id, err);
	_cleanup_free_ char *lid = remote_lazy_id(local->name, local->build_id);
	_cleanup_free_ char *tpath = lazy_path(r->lazy, lid, ".trace");
	_cleanup_free_ char *trace = NULL;
	size_t len = 0;
	if (rc == 0)
		rc = fs_read_file(tpath, TRACE_MAX_BYTES, &trace, &len, err);
	if (rc == 0)
		rc = parse_trace(trace, &m->files[MANIFEST_MEMORY], err);
	if (view.dir) {
		free(view.dir);
		for (int i = 0; i < MF_COUNT; i++)
			free(view.paths[i]);
	}
	fs_rm_rf(view_dir, NULL);
	if (rc < 0)
		return err_wrap(err, "recording the prefetch trace of %s", local->name);
	log_info("remote.trace", "template=%s build=%s windows=%zu ms=%.0f", local->name,
		 local->build_id, m->files[MANIFEST_MEMORY].nprefetch,
		 ns_to_ms(time_mono_ns() - t0));
	return 0;
}

int remote_trace_from_capture(const char *dir, struct manifest *m, struct thaw_err **err)
{
	struct manifest_file *f = &m->files[MANIFEST_MEMORY];
	_cleanup_free_ char *list = xasprintf("%s/%s", dir, PREFETCH_FILE);
	struct page_runs runs = { 0 };
	uint64_t pages = f->size / 4096;
	_cleanup_err_ struct thaw_err *lerr = NULL;
	if (prefetch_load(list, pages, &runs, &lerr) < 0) {
		if (lerr->code == ERR_NOT_FOUND)
			return 0; /* no working set recorded: no prefetch */
		return err_set(err, lerr->code, "%s", err_msg(lerr));
	}
	f->prefetch = xcalloc(f->nwindows ? f->nwindows : 1, sizeof(*f->prefetch));
	f->nprefetch = 0;
	uint64_t per_window = m->window_bytes / 4096;
	uint32_t last = UINT32_MAX;
	for (size_t i = 0; i < runs.n; i++)
		for (uint64_t w = runs.run[i][0] / per_window;
		     w <= (runs.run[i][0] + runs.run[i][1] - 1) / per_window && w < f->nwindows;
		     w++)
			if (w != last && f->w[w].object) {
				/* Runs are sorted: a window repeats only right after itself. */
				f->prefetch[f->nprefetch++] = (uint32_t)w;
				last = (uint32_t)w;
			}
	page_runs_free(&runs);
	return 0;
}
