/* Metrics in the Prometheus text exposition format (0.0.4): a registry of
 * counter, gauge and histogram families, each with a fixed list of label
 * names and one child per set of label values, and the writer that turns
 * them into a scrape's text. Written here rather than taken from a
 * library: Debian packages no C client (only prometheus-cpp, C++), and
 * the format needs a few hundred lines (docs/metrics.md).
 *
 * Thread safety: every function may be called from any thread. The hot
 * path (an update of a child that exists) takes no lock: children are
 * found on a list that only grows, and their values are atomics. A new
 * label set takes its family's mutex once.
 *
 * Families live as long as their registry (metrics_default(): the
 * process); a family pointer may be kept and used without a lookup. A
 * NULL family is accepted by the update functions and does nothing, so
 * code that runs outside the program (unit tests) need not register. */
#ifndef THAW_METRICS_H
#define THAW_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metric;
struct metrics_registry;

/* A NULL-terminated list of label names or values, in a call's arguments:
 * metric_inc(m, METRIC_LABELS("GET", "200")). */
#define METRIC_LABELS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define METRIC_MAX_LABELS 4
/* A label value longer than this is cut (values are names and codes). */
#define METRIC_MAX_VALUE 128

/* The latency buckets used by thaw's histograms, seconds: 0.5 ms to 60 s. */
extern const double metrics_latency_buckets[];
extern const size_t metrics_latency_nbuckets;

/* The process's registry: what GET /metrics shows. Never freed. */
struct metrics_registry *metrics_default(void);
struct metrics_registry *metrics_registry_new(void);
void metrics_registry_free(struct metrics_registry *reg);

/* A family: registered on first use, the same pointer after (a second
 * registration with another type or label list is a bug of ours and
 * aborts, as does a name or label name outside [a-zA-Z_:][a-zA-Z0-9_:]*).
 * labels: NULL-terminated, at most METRIC_MAX_LABELS; NULL for none.
 * bounds: a histogram's upper bounds, increasing (the +Inf bucket is
 * implied); NULL takes metrics_latency_buckets. */
struct metric *metric_counter(struct metrics_registry *reg, const char *name, const char *help,
			      const char *const *labels);
struct metric *metric_gauge(struct metrics_registry *reg, const char *name, const char *help,
			    const char *const *labels);
struct metric *metric_histogram(struct metrics_registry *reg, const char *name, const char *help,
				const char *const *labels, const double *bounds, size_t nbounds);

/* Updates of the child named by values (NULL-terminated, as many as the
 * family has labels; NULL for none). A wrong count is ignored. */
void metric_add(struct metric *m, const char *const *values, double v);
void metric_inc(struct metric *m, const char *const *values);
void metric_set(struct metric *m, const char *const *values, double v);
void metric_observe(struct metric *m, const char *const *values, double v);
/* A histogram's observation of a duration in monotonic ns. */
void metric_observe_ns(struct metric *m, const char *const *values, uint64_t ns);

/* What a child holds now (tests): a counter's or gauge's value, a
 * histogram's count; 0 for a child never updated. */
double metric_value(struct metric *m, const char *const *values);

/* A scrape-time collector: writes families computed when scraped (with
 * metrics_write_head and metrics_write_sample) after the registry's. */
typedef void (*metrics_collect_fn)(struct buf *out, void *ud);
void metrics_add_collector(struct metrics_registry *reg, metrics_collect_fn fn, void *ud);

/* The whole registry in the text format, then its collectors' output. */
void metrics_write(struct metrics_registry *reg, struct buf *out);
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The writer's pieces, for collectors. HELP and TYPE lines of a family: */
void metrics_write_head(struct buf *out, const char *name, enum metric_type type,
			const char *help);
/* One sample: name{l1="v1",...} value. names and values NULL-terminated
 * lists of the same length (NULL: no labels). */
void metrics_write_sample(struct buf *out, const char *name, const char *const *names,
			  const char *const *values, double v);
/* A label value with \, " and newline escaped. */
void metrics_escape_value(struct buf *out, const char *s);
/* A sample value: shortest text that reads back the same, +Inf, -Inf, NaN. */
void metrics_write_value(struct buf *out, double v);

#endif
