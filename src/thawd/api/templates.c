/* /v1/templates handlers. A bake streams its progress as NDJSON (one
 * event per line) while it runs in its own thread: a client that goes
 * away does not stop a bake half way. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "httpapi/keys.h"
#include "api/stream.h"
#include "api/validate.h"
#include "buf.h"
#include "cleanup.h"
#include "core/vmmpool.h"
#include "disk/usage.h"
#include "ids.h"
#include "log.h"
#include "ops/bake.h"
#include "remote/remote.h"
#include "template/catalog.h"
#include "template/recipe.h"
#include "timeutil.h"

static json_t *meta_json(const struct template_meta *m)
{
	char created[32];
	time_format_rfc3339(m->created_at, created);
	json_t *source = json_pack("{s:s}", "kind", meta_source_name(m->source));
	if (m->source_sandbox[0])
		json_object_set_new(source, "sandbox", json_string(m->source_sandbox));
	/* machine_rev 1: baked with devices since dropped (an idle VMM of it
	 * costs more); baking again updates it. 2: a kernel that needs ACPI
	 * (debian-cloud); 3: thaw's kernel on the smallest model. */
	json_t *o = json_pack(
		"{s:s,s:s,s:o,s:i,s:i,s:s,s:s,s:s,s:f,s:f,s:{s:I,s:I,s:I}}", "build_id",
		m->build_id, "created_at", created, "source", source, "memory_mb",
		(int)m->memory_mb, "vcpus", (int)m->vcpus, "accel", m->accel, "vmm_version",
		m->vmm_version, "agent_version", m->agent_version, "boot_ms", m->boot_ms,
		"snapshot_ms", m->snapshot_ms, "bytes", "memory",
		(json_int_t)m->files[MF_MEMORY].size, "rootfs",
		(json_int_t)m->files[MF_ROOTFS].size, "state", (json_int_t)m->files[MF_STATE].size);
	json_object_set_new(o, "machine_rev", json_integer(m->machine_rev));
	if (m->kernel[0])
		json_object_set_new(o, "kernel", json_string(m->kernel));
	return o;
}

/* What the current build costs on disk; a snapshot template shares most
 * of its blocks with the template it came from. */
static json_t *disk_json(struct catalog *c, const struct template_info *ti)
{
	_cleanup_free_ char *parent = catalog_template_dir(c, ti->name);
	_cleanup_free_ char *dir = xasprintf("%s/%s", parent, ti->build_id);
	struct disk_usage u;
	if (disk_usage_of(dir, &u, NULL) < 0)
		return json_null();
	return json_pack("{s:I,s:I,s:I}", "apparent_bytes", (json_int_t)u.apparent,
			 "allocated_bytes", (json_int_t)u.allocated, "exclusive_bytes",
			 (json_int_t)u.exclusive);
}

static json_t *info_json(struct host *h, const struct template_info *ti)
{
	struct catalog *c = h->catalog;
	json_t *o = json_pack("{s:s,s:s,s:o}", "name", ti->name, "status", ti->status, "owner",
			      ti->owner[0] ? json_string(ti->owner) : json_null());
	if (strcmp(ti->status, "ready") == 0) {
		json_object_update_new(o, meta_json(&ti->meta));
		json_object_set_new(o, "disk", disk_json(c, ti));
		_cleanup_free_ char *parent = catalog_template_dir(c, ti->name);
		_cleanup_free_ char *dir = xasprintf("%s/%s", parent, ti->build_id);
		json_object_set_new(o, "artifacts", remote_build_json(h, dir));
	}
	if (ti->detail[0])
		json_object_set_new(o, "detail", json_string(ti->detail));
	/* The bake's NDJSON events have it too; the list (the console) polls. */
	if (ti->bake_step > 0)
		json_object_set_new(o, "progress",
				    json_pack("{s:i,s:i}", "step", ti->bake_step, "steps", BAKE_STEPS));
	return o;
}

/* Shared templates are everyone's; one a user key made from its sandbox
 * is seen by that key and by admin keys only. */
static bool key_sees_template(const struct api_req *r, const struct template_info *ti)
{
	return !ti->owner[0] || r->key->role == KEY_ADMIN || strcmp(ti->owner, r->key->name) == 0;
}

/* Templates other hosts published appear here as soon as they are
 * asked for (at most one listing of the store every 2 s); a store that
 * does not answer leaves the list as this host has it. */
static void refresh_from_store(struct api_req *r)
{
	_cleanup_err_ struct thaw_err *err = NULL;
	if (api_host(r)->remote && remote_sync(api_host(r), &err) < 0)
		log_warn("remote.sync_failed", "error=\"%s\"", err_msg(err));
}

/* The template as this key may see it: ERR_NOT_FOUND for one that does
 * not exist or is private to another key. */
static int find_listed(struct api_req *r, const char *name, struct template_info *out,
		       struct thaw_err **err)
{
	struct template_info *items = NULL;
	size_t n = 0;
	if (catalog_list(api_host(r)->catalog, &items, &n, err) < 0)
		return -1;
	int rc = 1;
	for (size_t i = 0; i < n && rc > 0; i++)
		if (strcmp(items[i].name, name) == 0 && key_sees_template(r, &items[i])) {
			*out = items[i];
			rc = 0;
		}
	free(items);
	return rc;
}

static int find_visible(struct api_req *r, const char *name, struct template_info *out,
			struct thaw_err **err)
{
	int rc = find_listed(r, name, out, err);
	if (rc > 0 && api_host(r)->remote) {
		/* Another host may have published it a moment ago. */
		_cleanup_err_ struct thaw_err *serr = NULL;
		if (remote_sync_template(api_host(r), name, &serr) < 0)
			log_warn("remote.sync_failed", "template=%s error=\"%s\"", name,
				 err_msg(serr));
		rc = find_listed(r, name, out, err);
	}
	if (rc > 0)
		return err_set(err, ERR_NOT_FOUND, "template %s does not exist", name);
	return rc;
}

enum MHD_Result api_template_list(struct api_req *r)
{
	struct template_info *items = NULL;
	size_t n = 0;
	_cleanup_err_ struct thaw_err *err = NULL;
	refresh_from_store(r);
	if (catalog_list(api_host(r)->catalog, &items, &n, &err) < 0)
		return api_reply_error(r, err);
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		if (key_sees_template(r, &items[i]))
			json_array_append_new(arr, info_json(api_host(r), &items[i]));
	free(items);
	return api_reply_json(r, MHD_HTTP_OK, json_pack("{s:o}", "templates", arr));
}

enum MHD_Result api_template_delete(struct api_req *r)
{
	if (!id_valid_template(r->params[0]))
		return api_reply_fail(r, ERR_INVALID, "\"%.64s\" is not a template name",
				      r->params[0]);
	_cleanup_err_ struct thaw_err *err = NULL;
	struct template_info ti;
	if (r->key->role != KEY_ADMIN) {
		if (find_visible(r, r->params[0], &ti, &err) < 0)
			return api_reply_error(r, err);
		if (!ti.owner[0])
			return api_reply_fail(
				r, ERR_FORBIDDEN,
				"template %s is shared: deleting it needs an admin key",
				r->params[0]);
	}
	if (catalog_delete(api_host(r)->catalog, r->params[0], &err) < 0)
		return api_reply_error(r, err);
	vmmpool_poke(api_host(r)->vmms); /* its warm VMMs go */
	return api_reply_empty(r, MHD_HTTP_NO_CONTENT);
}

enum MHD_Result api_template_get(struct api_req *r)
{
	if (!id_valid_template(r->params[0]))
		return api_reply_fail(r, ERR_INVALID, "\"%.64s\" is not a template name",
				      r->params[0]);
	_cleanup_err_ struct thaw_err *err = NULL;
	struct template_info ti;
	if (find_visible(r, r->params[0], &ti, &err) < 0)
		return api_reply_error(r, err);
	return api_reply_json(r, MHD_HTTP_OK, info_json(api_host(r), &ti));
}

/* ---- streaming bake --------------------------------------------------- */

struct bake_job {
	struct api_stream *stream;
	struct host *h;
	char name[64];
};

static void on_progress(const char *stage, int step, const char *message, void *ud)
{
	struct bake_job *j = ud;
	api_stream_emit(j->stream,
			json_pack("{s:s,s:s,s:i,s:i,s:s}", "event", "progress", "stage", stage,
				  "step", step, "steps", BAKE_STEPS, "message", message));
}

/* The bake goes on if the client leaves: a template is worth finishing. */
static void *bake_thread(void *arg)
{
	struct bake_job *j = arg;
	struct template_meta meta;
	_cleanup_err_ struct thaw_err *err = NULL;
	uint64_t t0 = time_mono_ns();
	if (bake_template(j->h, j->name, on_progress, j, &meta, &err) == 0) {
		json_t *t = meta_json(&meta);
		json_object_set_new(t, "name", json_string(j->name));
		json_object_set_new(t, "status", json_string("ready"));
		api_stream_emit(j->stream,
				json_pack("{s:s,s:o,s:f}", "event", "done", "template", t,
					  "elapsed_ms", ns_to_ms(time_mono_ns() - t0)));
	} else {
		api_stream_emit(j->stream,
				json_pack("{s:s,s:s,s:s}", "event", "error", "error", err_msg(err),
					  "code", err_code_name(err ? err->code : ERR_INTERNAL)));
	}
	api_stream_end(j->stream);
	api_stream_unref(j->stream);
	free(j);
	return NULL;
}

static int precheck(struct host *h, const char *name, struct thaw_err **err)
{
	struct recipe rc;
	if (recipe_load(h->cfg->recipes_dir, name, &rc, err) < 0)
		return -1;
	recipe_free(&rc);
	char stage[128];
	if (catalog_bake_status(h->catalog, name, stage, sizeof(stage)))
		return err_set(err, ERR_CONFLICT, "template %s is already being baked (%s)", name,
			       stage);
	return 0;
}

enum MHD_Result api_template_bake(struct api_req *r)
{
	enum MHD_Result res;
	json_t *body = api_body_object(r, &res);
	if (!body)
		return res;
	struct bake_params p;
	_cleanup_err_ struct thaw_err *err = NULL;
	int rc = validate_bake(body, &p, &err);
	json_decref(body);
	if (rc < 0 || precheck(api_host(r), p.name, &err) < 0)
		return api_reply_error(r, err);
	struct bake_job *j = xcalloc(1, sizeof(*j));
	j->stream = api_stream_new();
	j->h = api_host(r);
	snprintf(j->name, sizeof(j->name), "%s", p.name);
	enum MHD_Result ret = api_stream_reply(r, j->stream);
	if (api_thread_detached(bake_thread, j) < 0) {
		api_stream_emit(j->stream, json_pack("{s:s,s:s,s:s}", "event", "error", "error",
						     "cannot start a bake thread", "code",
						     err_code_name(ERR_UNAVAILABLE)));
		api_stream_end(j->stream);
		api_stream_unref(j->stream);
		free(j);
	}
	return ret;
}
