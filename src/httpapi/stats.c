/* What the shared HTTP layer counts (common/metrics.h, the process's
 * registry): every request by route pattern, method and status, its
 * latency, and the errors replied by code. Routes are their table's
 * patterns, never the raw URL: ids in paths would make a new series for
 * every sandbox. Also GET /metrics itself, and a listener that serves
 * only that route. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "httpapi/httpapi.h"
#include "httpapi/keys.h"
#include "metrics.h"

static struct metric *requests, *latency, *errors;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void stats_register(void)
{
	struct metrics_registry *reg = metrics_default();
	requests = metric_counter(reg, "thaw_api_requests_total",
				  "API requests answered, by route pattern, method and status",
				  METRIC_LABELS("route", "method", "status"));
	latency = metric_histogram(reg, "thaw_api_request_duration_seconds",
				   "API request latency from its first byte to the end of its "
				   "answer (upgraded connections not included), by route pattern "
				   "and method",
				   METRIC_LABELS("route", "method"), NULL, 0);
	errors = metric_counter(reg, "thaw_errors_total", "Error answers, by error code",
				METRIC_LABELS("code"));
}

void api_stats_init(void)
{
	pthread_once(&once, stats_register);
}

/* A method as a label: the ones routes use, anything else "other" (a
 * client's made-up methods must not make series). */
static const char *method_label(const char *m)
{
	static const char *const known[] = { "GET",   "POST", "PUT",	 "DELETE",
					     "PATCH", "HEAD", "OPTIONS" };
	for (size_t i = 0; m && i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(m, known[i]) == 0)
			return known[i];
	return "other";
}

void api_stats_request(const char *route, const char *method, unsigned status, uint64_t ns)
{
	api_stats_init();
	char code[16];
	snprintf(code, sizeof(code), "%u", status);
	const char *r = route ? route : "unmatched";
	const char *m = method_label(method);
	metric_inc(requests, METRIC_LABELS(r, m, code));
	/* A 101's connection lasts as long as its shell or tunnel. */
	if (status != MHD_HTTP_SWITCHING_PROTOCOLS)
		metric_observe_ns(latency, METRIC_LABELS(r, m), ns);
}

void api_stats_error(enum err_code code)
{
	api_stats_init();
	metric_inc(errors, METRIC_LABELS(err_code_name(code)));
}

enum MHD_Result api_metrics_reply(struct api_req *r)
{
	api_stats_init();
	struct buf out = { 0 };
	metrics_write(metrics_default(), &out);
	size_t len = out.len;
	char *text = buf_steal(&out, NULL);
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (resp)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, METRICS_CONTENT_TYPE);
	return api_queue(r, MHD_HTTP_OK, resp);
}

static const struct api_route metrics_routes[] = {
	{ "GET", "/metrics", api_metrics_reply, true, false, API_NO_BODY, false },
};

int api_metrics_listen(const char *addr, int port, struct api_server **out,
		       struct thaw_err **err)
{
	struct api_service svc = { .routes = metrics_routes,
				   .nroutes = sizeof(metrics_routes) / sizeof(metrics_routes[0]),
				   .listen_addr = addr,
				   .listen_port = port,
				   .upload_dir = "/" };
	struct api_keys none = { 0 };
	return api_server_start(&svc, &none, out, err);
}
