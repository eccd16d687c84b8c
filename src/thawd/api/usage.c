/* GET /v1/sandboxes/{id}/metrics: a sandbox's usage over the kept window
 * (core/usage.h). Access (a user key sees its own sandboxes, 404 else)
 * is checked before the handler runs (service.c). */
#include <stdlib.h>

#include "api/api.h"
#include "core/usage.h"
#include "timeutil.h"

/* start or end: absent leaves *out; present and not a time is a 400
 * naming it (reply in *res, returns -1). */
static int query_time(struct api_req *r, const char *name, int64_t *out, enum MHD_Result *res)
{
	char v[64];
	int got = api_query(r, name, v, sizeof(v), res);
	if (got <= 0)
		return got;
	if (time_parse_api(v, out) < 0) {
		*res = api_reply_fail(r, ERR_INVALID,
				      "%s must be a time: RFC 3339 (2026-12-07T04:00:00Z) or unix "
				      "seconds",
				      name);
		return -1;
	}
	return 1;
}

/* The window asked for: [start, end], the whole kept window by default. */
int api_usage_window(struct api_req *r, int64_t *start, int64_t *end, enum MHD_Result *res)
{
	*start = 0;
	*end = INT64_MAX;
	if (query_time(r, "start", start, res) < 0 || query_time(r, "end", end, res) < 0)
		return -1;
	if (*end < *start) {
		*res = api_reply_fail(r, ERR_INVALID, "end is before start");
		return -1;
	}
	return 0;
}

static json_t *point_json(const struct usage_point *p)
{
	char ts[32];
	time_format_rfc3339(p->t, ts);
	return json_pack("{s:s,s:I,s:f,s:i,s:I,s:I,s:I,s:I,s:I,s:I}", "timestamp", ts, "t",
			 (json_int_t)p->t, "cpu_used_pct", p->cpu_used_pct, "cpu_count",
			 (int)p->cpu_count, "mem_used_bytes", (json_int_t)p->mem_used,
			 "mem_total_bytes", (json_int_t)p->mem_total, "disk_used_bytes",
			 (json_int_t)p->disk_used, "disk_total_bytes", (json_int_t)p->disk_total,
			 "net_rx_bytes", (json_int_t)p->net_rx, "net_tx_bytes",
			 (json_int_t)p->net_tx);
}

enum MHD_Result api_sandbox_metrics(struct api_req *r)
{
	enum MHD_Result res;
	int64_t start, end;
	if (api_usage_window(r, &start, &end, &res) < 0)
		return res;
	struct usage_table *u = api_host(r)->usage;
	size_t n = 0;
	struct usage_point *pts = u ? usage_query(u, r->params[0], start, end, &n) : NULL;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, point_json(&pts[i]));
	free(pts);
	return api_reply_json(r, MHD_HTTP_OK,
			      json_pack("{s:s,s:i,s:i,s:o}", "sandbox_id", r->params[0],
					"interval_s", u ? (int)usage_interval_s(u) : 0, "window_s",
					u ? (int)usage_window_s(u) : 0, "points", arr));
}
