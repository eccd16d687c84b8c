#include "core/stats.h"

#include <pthread.h>

#include "metrics.h"
#include "timeutil.h"

static struct metric *create_total, *create_stage, *op_seconds, *op_total, *refills;

static void stats_register(void)
{
	struct metrics_registry *reg = metrics_default();
	create_total = metric_histogram(
		reg, "thaw_create_duration_seconds",
		"Sandbox creates that succeeded, request to running: pool is warm when a warm "
		"VMM was taken, cold when one was started",
		METRIC_LABELS("pool"), NULL, 0);
	create_stage = metric_histogram(
		reg, "thaw_create_stage_duration_seconds",
		"Each stage of a create that succeeded (template: lookup and admission; "
		"network; disk; vmm_start; state_load; resume; readiness: the guest's answer "
		"to the probe). Stages a warm VMM did ahead count as 0",
		METRIC_LABELS("stage"), NULL, 0);
	op_seconds = metric_histogram(reg, "thaw_operation_duration_seconds",
				      "Latency of sandbox operations (exec and run_code: the "
				      "whole command), by operation",
				      METRIC_LABELS("op"), NULL, 0);
	op_total = metric_counter(reg, "thaw_operations_total",
				  "Sandbox operations, by operation and result (ok, error)",
				  METRIC_LABELS("op", "result"));
	refills = metric_counter(reg, "thaw_pool_refills_total",
				 "Entries put ready into a pool: vmm (per template), slot (network "
				 "slots built or reset, template \"-\")",
				 METRIC_LABELS("pool", "template"));
}

void stats_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, stats_register);
}

void stats_create_done(bool warm, uint64_t total_ns, const struct stats_stage *stages, size_t n)
{
	stats_init();
	for (size_t i = 0; i < n; i++)
		metric_observe_ns(create_stage, METRIC_LABELS(stages[i].name), stages[i].ns);
	metric_observe_ns(create_total, METRIC_LABELS(warm ? "warm" : "cold"), total_ns);
}

struct stats_timer stats_timer_begin(const char *op, struct thaw_err **err)
{
	return (struct stats_timer){ .op = op, .t0 = time_mono_ns(), .err = err };
}

void stats_timer_end(struct stats_timer *t)
{
	stats_init();
	bool failed = t->err && *t->err;
	metric_inc(op_total, METRIC_LABELS(t->op, failed ? "error" : "ok"));
	metric_observe_ns(op_seconds, METRIC_LABELS(t->op), time_mono_ns() - t->t0);
}

void stats_pool_refill(const char *pool, const char *template_name)
{
	stats_init();
	metric_inc(refills, METRIC_LABELS(pool, template_name));
}
