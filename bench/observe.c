/* thaw-bench-observe: what watching thaw costs an API request, and what a
 * scrape costs (issue 18).
 *
 * Every request now takes a request id (reqid_take), sets it on its thread
 * for the log (log_set_request_id), and is counted and timed in the shared
 * HTTP layer (api_stats_request: a counter and a histogram child looked up
 * by route, method and status). These run here, in this process, against
 * a registry filled as a busy thawd's would be: every route of thawd's
 * table answered with 200, 400 and 404. The baseline, measured in the same
 * run, is the loop itself (an increment of a volatile). Then /metrics is
 * written (metrics_write) with that registry, as a scrape would.
 *
 * A sample is the mean of a batch of BATCH operations (a clock read per
 * operation would cost more than some of them); p50 and p99 are over the
 * samples. With 2 threads each thread's samples count (the shared atomics
 * are what contention would slow).
 *
 *   thaw-bench-observe [SAMPLES]   (SAMPLES default 2000) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/api.h"
#include "buf.h"
#include "httpapi/httpapi.h"
#include "log.h"
#include "metrics.h"
#include "reqid.h"
#include "timeutil.h"

#include "percentile.h"

#define BATCH 1000
#define THREADS 2

static volatile uint64_t sink;

enum op { OP_BASELINE, OP_REQID, OP_STATS, OP_REQUEST, OP_COUNT };
static const char *const op_names[] = {
	"baseline (the loop)",
	"request id + log id",
	"counter + histogram",
	"all of a request",
};

static void run_once(enum op op, size_t i)
{
	const struct api_route *r = &api_routes[i % api_route_count];
	char id[REQID_SIZE];
	switch (op) {
	case OP_BASELINE:
		sink++;
		break;
	case OP_REQID:
		reqid_take(NULL, id);
		log_set_request_id(id);
		log_set_request_id(NULL);
		break;
	case OP_STATS:
		api_stats_request(r->pattern, r->method, 200, 250000 + i % 1000);
		break;
	case OP_REQUEST:
		reqid_take(NULL, id);
		log_set_request_id(id);
		api_stats_request(r->pattern, r->method, 200, 250000 + i % 1000);
		log_set_request_id(NULL);
		break;
	default:
		break;
	}
}

struct job {
	enum op op;
	size_t samples;
	double *ns; /* per operation, one per sample */
};

static void *measure(void *arg)
{
	struct job *j = arg;
	size_t i = 0;
	for (size_t s = 0; s < j->samples; s++) {
		uint64_t t0 = time_mono_ns();
		for (size_t k = 0; k < BATCH; k++)
			run_once(j->op, i++);
		j->ns[s] = (double)(time_mono_ns() - t0) / BATCH;
	}
	return NULL;
}

static void report(enum op op, size_t samples, unsigned threads)
{
	struct job jobs[THREADS];
	pthread_t tids[THREADS];
	double *all = xcalloc(samples * threads, sizeof(*all));
	for (unsigned t = 0; t < threads; t++) {
		jobs[t] = (struct job){ .op = op, .samples = samples, .ns = all + t * samples };
		pthread_create(&tids[t], NULL, measure, &jobs[t]);
	}
	for (unsigned t = 0; t < threads; t++)
		pthread_join(tids[t], NULL);
	size_t n = samples * threads;
	double p50 = percentile(all, n, 50), p99 = percentile(all, n, 99);
	printf("  %-22s %u thread%s  p50 %7.1f ns  p99 %7.1f ns\n", op_names[op], threads,
	       threads > 1 ? "s" : " ", p50, p99);
	free(all);
}

int main(int argc, char **argv)
{
	size_t samples = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000;
	if (samples == 0 || samples > 1000000) {
		fprintf(stderr, "usage: thaw-bench-observe [SAMPLES: 1..1000000]\n");
		return 2;
	}
	/* A busy host's registry: every route answered 200, 400 and 404. */
	static const unsigned statuses[] = { 200, 400, 404 };
	for (size_t i = 0; i < api_route_count; i++)
		for (size_t s = 0; s < sizeof(statuses) / sizeof(statuses[0]); s++)
			api_stats_request(api_routes[i].pattern, api_routes[i].method, statuses[s],
					  1000000);
	printf("thaw-bench-observe: %zu routes x 3 statuses in the registry; %zu samples of "
	       "%d operations\n",
	       api_route_count, samples, BATCH);
	for (enum op op = 0; op < OP_COUNT; op++)
		report(op, samples, 1);
	for (enum op op = 0; op < OP_COUNT; op++)
		report(op, samples, THREADS);

	double *ms = xcalloc(200, sizeof(*ms));
	size_t bytes = 0;
	for (size_t s = 0; s < 200; s++) {
		struct buf out = { 0 };
		uint64_t t0 = time_mono_ns();
		metrics_write(metrics_default(), &out);
		ms[s] = ns_to_ms(time_mono_ns() - t0);
		bytes = out.len;
		buf_free(&out);
	}
	printf("  %-22s %zu bytes      p50 %7.3f ms  p99 %7.3f ms\n", "a scrape (the text)", bytes,
	       percentile(ms, 200, 50), percentile(ms, 200, 99));
	free(ms);
	return (int)(sink & 0);
}
