/* /healthz and /v1/info. */
#include "api/api.h"
#include "core/registry.h"
#include "timeutil.h"

#ifndef THAW_VERSION
#define THAW_VERSION "dev"
#endif

enum MHD_Result api_health(struct api_req *r)
{
	return api_reply_json(r, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
}

enum MHD_Result api_info(struct api_req *r)
{
	struct host *h = r->h;
	json_t *o = json_pack(
		"{s:s,s:{s:s,s:s,s:s,s:s},s:{s:s,s:s},s:{s:I,s:i},s:s,s:I}", "version", THAW_VERSION,
		"vmm", "name", h->drv->name, "version", h->drv->version(&h->vmm), "accel",
		accel_name(h->vmm.accel), "accel_reason", h->accel_why, "disk", "mode",
		store_mode_name(h->store->mode), "clone", h->store->ops->name, "sandboxes", "count",
		(json_int_t)registry_count(h), "max", h->cfg->max_sandboxes, "data_dir",
		h->cfg->data_dir, "uptime_s",
		(json_int_t)((time_real_ns() - h->started_at) / 1000000000ull));
	return api_reply_json(r, MHD_HTTP_OK, o);
}
