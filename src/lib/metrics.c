/* A sandbox's usage history (GET /v1/sandboxes/{id}/metrics). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static unsigned long long u64_of(const json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));
	return v > 0 ? (unsigned long long)v : 0;
}

static void point_of(const json_t *o, thaw_metrics_point *p)
{
	p->t = (long long)json_integer_value(json_object_get(o, "t"));
	p->cpu_used_pct = json_number_value(json_object_get(o, "cpu_used_pct"));
	p->cpu_count = (int)json_integer_value(json_object_get(o, "cpu_count"));
	p->mem_used_bytes = u64_of(o, "mem_used_bytes");
	p->mem_total_bytes = u64_of(o, "mem_total_bytes");
	p->disk_used_bytes = u64_of(o, "disk_used_bytes");
	p->disk_total_bytes = u64_of(o, "disk_total_bytes");
	p->net_rx_bytes = u64_of(o, "net_rx_bytes");
	p->net_tx_bytes = u64_of(o, "net_tx_bytes");
}

THAW_API int thaw_sandbox_metrics(thaw_client *client, const char *id,
				  const thaw_metrics_options *opts, thaw_metrics **out,
				  thaw_error **err)
{
	if (tl_check_id(id, "sandbox id", err) < 0)
		return -1;
	char path[256];
	int len = snprintf(path, sizeof(path), "/v1/sandboxes/%s/metrics", id);
	char sep = '?';
	if (opts && opts->start > 0) {
		len += snprintf(path + len, sizeof(path) - (size_t)len, "%cstart=%lld", sep,
				opts->start);
		sep = '&';
	}
	if (opts && opts->end > 0)
		snprintf(path + len, sizeof(path) - (size_t)len, "%cend=%lld", sep, opts->end);
	struct tl_request req = { .method = "GET", .path = path, .expect = 200 };
	json_t *resp = NULL;
	if (tl_http_call(client, &req, &resp, err) < 0)
		return -1;
	json_t *pts = json_object_get(resp, "points");
	if (!json_is_array(pts)) {
		json_decref(resp);
		return tl_error_set(err, 0, TL_PROTOCOL, "%s did not answer a list of points",
				    path);
	}
	thaw_metrics *m = tl_xcalloc(1, sizeof(*m));
	size_t n = json_array_size(pts);
	m->points = n ? tl_xcalloc(n, sizeof(*m->points)) : NULL;
	m->interval_s = (int)json_integer_value(json_object_get(resp, "interval_s"));
	m->window_s = (int)json_integer_value(json_object_get(resp, "window_s"));
	for (size_t i = 0; i < n; i++)
		point_of(json_array_get(pts, i), &m->points[i]);
	m->n = n;
	json_decref(resp);
	*out = m;
	return 0;
}

THAW_API void thaw_metrics_free(thaw_metrics *m)
{
	if (!m)
		return;
	free(m->points);
	free(m);
}
