/* /healthz and /v1/info. */
#include <stdlib.h>

#include "api/api.h"
#include "httpapi/keys.h"
#include "core/capacity.h"
#include "core/quota.h"
#include "core/registry.h"
#include "core/slotpool.h"
#include "core/vmmpool.h"
#include "fdlimit.h"
#include "remote/remote.h"
#include "template/catalog.h"
#include "timeutil.h"

#ifndef THAW_VERSION
#define THAW_VERSION "dev"
#endif

enum MHD_Result api_health(struct api_req *r)
{
	return api_reply_json(r, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
}

static json_t *network_json(struct host *h)
{
	struct slotpool_stats st;
	slotpool_stats(h->slots, &st);
	return json_pack("{s:s,s:i,s:i,s:i,s:i,s:i,s:I,s:I,s:I}", "slot_cidr", h->slot_range.text,
			 "slots", (int)st.capacity, "allocated", (int)st.allocated, "pool_depth",
			 (int)st.depth, "pool_ready", (int)st.warm, "in_use", (int)st.in_use,
			 "taken_from_pool", (json_int_t)st.taken_warm, "built_on_demand",
			 (json_int_t)st.taken_cold, "reused", (json_int_t)st.reused);
}

/* Counts, and the ids waiting entries will carry: an operator (or a
 * test) can account for every VMM and directory on the host. */
static json_t *warm_vmms_json(struct host *h)
{
	struct vmmpool_stats vs;
	vmmpool_stats(h->vmms, &vs);
	size_t n = 0;
	char(*ids)[SANDBOX_ID_LEN + 1] = vmmpool_ids(h->vmms, &n);
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_string(ids[i]));
	free(ids);
	json_t *by = json_object();
	struct template_info *ti = NULL;
	size_t nti = 0;
	if (catalog_list(h->catalog, &ti, &nti, NULL) == 0) {
		for (size_t i = 0; i < nti; i++)
			json_object_set_new(by, ti[i].name,
					    json_integer(vmmpool_ready_for(h->vmms, ti[i].name)));
		free(ti);
	}
	return json_pack("{s:i,s:i,s:o,s:I,s:I,s:I,s:o}", "per_template", (int)vs.depth, "ready",
			 (int)vs.ready, "ready_by_template", by, "taken", (json_int_t)vs.taken,
			 "started", (json_int_t)vs.started, "discarded", (json_int_t)vs.discarded,
			 "ids", arr);
}

/* thawd itself: what it holds against its limits (a descriptor per
 * sandbox or so, a thread per API connection). */
static json_t *process_json(struct host *h)
{
	return json_pack("{s:I,s:I,s:I,s:I}", "fds_open", (json_int_t)fdlimit_open_fds(),
			 "fds_limit", (json_int_t)h->nofile.soft, "fds_limit_hard",
			 (json_int_t)h->nofile.hard, "threads", (json_int_t)fdlimit_threads());
}

/* Admission by memory (core/capacity.h): what a sandbox costs, what is
 * left, and where --max-sandboxes comes from. */
static json_t *memory_json(struct host *h)
{
	struct capacity_stats cs;
	capacity_stats(h->capacity, &cs);
	return json_pack("{s:I,s:I,s:I,s:I,s:s,s:i,s:I,s:I,s:s}", "total_mb",
			 (json_int_t)(cs.total_bytes >> 20), "available_mb",
			 (json_int_t)(cs.available_bytes >> 20), "reserve_mb",
			 (json_int_t)(cs.reserve_bytes >> 20), "per_sandbox_mb",
			 (json_int_t)((cs.per_sandbox_bytes + (1 << 19)) >> 20),
			 "per_sandbox_source", cs.per_sandbox_source, "measured_vmms",
			 (int)cs.measured_vmms, "pending_mb", (json_int_t)(cs.pending_bytes >> 20),
			 "refused", (json_int_t)cs.refused, "max_sandboxes_from",
			 h->cfg->max_sandboxes ? "option" : "memory");
}

/* The asking key: its name, role and how much of its cap it holds. */
static json_t *key_json(const struct api_req *r)
{
	const struct api_key *k = r->key;
	json_t *o = json_pack("{s:s,s:s,s:i}", "name", k->name, "role", key_role_name(k->role),
			      "sandboxes", (int)quota_owned(api_host(r)->quota, k->name));
	json_object_set_new(o, "max_sandboxes",
			    k->max_sandboxes ? json_integer(k->max_sandboxes) : json_null());
	return o;
}

enum MHD_Result api_info(struct api_req *r)
{
	struct host *h = api_host(r);
	json_t *o = json_pack(
		"{s:s,s:{s:s,s:s,s:s,s:s},s:{s:s,s:s},s:{s:I,s:i},s:s,s:I}", "version",
		THAW_VERSION, "vmm", "name", h->drv->name, "version", h->drv->version(&h->vmm),
		"accel", accel_name(h->vmm.accel), "accel_reason", h->accel_why, "disk", "mode",
		store_mode_name(h->store->mode), "clone", h->store->ops->name, "sandboxes", "count",
		(json_int_t)registry_count(h), "max", (int)quota_host_max(h->quota), "data_dir",
		h->cfg->data_dir, "uptime_s",
		(json_int_t)((time_real_ns() - h->started_at) / 1000000000ull));
	uint64_t disk_total_mb = 0, disk_free_mb = 0;
	if (disk_store_space(h->store, &disk_total_mb, &disk_free_mb) == 0) {
		json_t *disk = json_object_get(o, "disk");
		json_object_set_new(disk, "size_mb", json_integer((json_int_t)disk_total_mb));
		json_object_set_new(disk, "free_mb", json_integer((json_int_t)disk_free_mb));
	}
	json_object_set_new(o, "network", network_json(h));
	json_object_set_new(o, "warm_vmms", warm_vmms_json(h));
	json_object_set_new(o, "key", key_json(r));
	json_object_set_new(o, "thawd", process_json(h));
	json_object_set_new(o, "memory", memory_json(h));
	json_t *os = remote_info_json(h);
	json_object_set_new(o, "object_store", os ? os : json_null());
	if (r->key->role != KEY_ADMIN) {
		/* A warm VMM's id becomes a sandbox's id when a create takes
		 * it: watching them would tell a tenant which ids other keys
		 * got. The host's paths are an operator's business too. */
		json_object_del(json_object_get(o, "warm_vmms"), "ids");
		json_object_del(o, "data_dir");
	}
	return api_reply_json(r, MHD_HTTP_OK, o);
}
