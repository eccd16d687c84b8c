/* src/common/metrics.c: the registry, histogram buckets, concurrent
 * updates and the Prometheus text writer (escaping, a line-by-line
 * parse of what it writes); src/httpapi/stats.c: the labels of the API's
 * request counts. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "httpapi/httpapi.h"
#include "metrics.h"

static char *escaped(const char *s)
{
	struct buf b = { 0 };
	metrics_escape_value(&b, s);
	buf_cstr(&b);
	return buf_steal(&b, NULL);
}

static void test_escape_label_values(void **state)
{
	(void)state;
	char *e = escaped("a\\b\"c\nd\te");
	assert_string_equal(e, "a\\\\b\\\"c\\nd\te");
	free(e);
	e = escaped("");
	assert_string_equal(e, "");
	free(e);
}

static char *value_text(double v)
{
	struct buf b = { 0 };
	metrics_write_value(&b, v);
	buf_cstr(&b);
	return buf_steal(&b, NULL);
}

static void test_values_are_shortest_exact(void **state)
{
	(void)state;
	const struct {
		double v;
		const char *text;
	} cases[] = { { 0.0005, "0.0005" },    { 1, "1" },		 { 60, "60" },
		      { 0, "0" },	       { 0.1, "0.1" },		 { 1e20, "1e+20" },
		      { INFINITY, "+Inf" },    { -INFINITY, "-Inf" },	 { NAN, "NaN" },
		      { 123456789, "123456789" } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *t = value_text(cases[i].v);
		assert_string_equal(t, cases[i].text);
		free(t);
	}
	char *t = value_text(1.0 / 3);
	assert_true(strtod(t, NULL) == 1.0 / 3);
	free(t);
}

static char *scrape(struct metrics_registry *reg)
{
	struct buf b = { 0 };
	metrics_write(reg, &b);
	buf_cstr(&b);
	return buf_steal(&b, NULL);
}

static void test_histogram_buckets(void **state)
{
	(void)state;
	struct metrics_registry *reg = metrics_registry_new();
	const double bounds[] = { 0.1, 1, 10 };
	struct metric *h = metric_histogram(reg, "t_seconds", "t", METRIC_LABELS("op"), bounds, 3);
	/* On a bound counts in that bucket (le is "less or equal"). */
	const double obs[] = { 0.05, 0.1, 0.5, 1, 5, 10, 11, 100 };
	for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
		metric_observe(h, METRIC_LABELS("x"), obs[i]);
	metric_observe_ns(h, METRIC_LABELS("x"), 2000000); /* 2 ms */
	char *text = scrape(reg);
	assert_non_null(strstr(text, "# TYPE t_seconds histogram\n"));
	assert_non_null(strstr(text, "t_seconds_bucket{op=\"x\",le=\"0.1\"} 3\n"));
	assert_non_null(strstr(text, "t_seconds_bucket{op=\"x\",le=\"1\"} 5\n"));
	assert_non_null(strstr(text, "t_seconds_bucket{op=\"x\",le=\"10\"} 7\n"));
	assert_non_null(strstr(text, "t_seconds_bucket{op=\"x\",le=\"+Inf\"} 9\n"));
	assert_non_null(strstr(text, "t_seconds_count{op=\"x\"} 9\n"));
	const char *sum = strstr(text, "t_seconds_sum{op=\"x\"} ");
	assert_non_null(sum);
	assert_true(fabs(strtod(strchr(sum, ' ') + 1, NULL) - 127.652) < 1e-9);
	assert_true(metric_value(h, METRIC_LABELS("x")) == 9);
	assert_true(metric_value(h, METRIC_LABELS("y")) == 0);
	free(text);
	metrics_registry_free(reg);
}

static void test_latency_buckets_span(void **state)
{
	(void)state;
	assert_true(metrics_latency_buckets[0] <= 0.001);
	assert_true(metrics_latency_buckets[metrics_latency_nbuckets - 1] >= 30);
	for (size_t i = 1; i < metrics_latency_nbuckets; i++)
		assert_true(metrics_latency_buckets[i] > metrics_latency_buckets[i - 1]);
}

static void test_counters_gauges_and_labels(void **state)
{
	(void)state;
	struct metrics_registry *reg = metrics_registry_new();
	struct metric *c =
		metric_counter(reg, "t_total", "a \\ help\nline", METRIC_LABELS("a", "b"));
	assert_ptr_equal(metric_counter(reg, "t_total", "again", METRIC_LABELS("a", "b")), c);
	metric_inc(c, METRIC_LABELS("1", "q\"uote"));
	metric_add(c, METRIC_LABELS("1", "q\"uote"), 2.5);
	metric_add(c, METRIC_LABELS("1", "q\"uote"), -1); /* counters never go down */
	metric_inc(c, METRIC_LABELS("1"));		   /* wrong count: ignored */
	struct metric *g = metric_gauge(reg, "t_gauge", "g", NULL);
	metric_set(g, NULL, -4);
	struct metric *none = metric_counter(reg, "t_untouched_total", "u", NULL);
	(void)none;
	metric_inc(NULL, NULL); /* an unregistered family: nothing */
	char *text = scrape(reg);
	assert_non_null(
		strstr(text, "# HELP t_total a \\\\ help\\nline\n# TYPE t_total counter\n"));
	assert_non_null(strstr(text, "t_total{a=\"1\",b=\"q\\\"uote\"} 3.5\n"));
	assert_null(strstr(text, "t_total{a=\"1\"}"));
	assert_non_null(strstr(text, "t_gauge -4\n"));
	assert_non_null(strstr(text, "t_untouched_total 0\n"));
	free(text);
	metrics_registry_free(reg);
}

static void test_long_values_are_cut(void **state)
{
	(void)state;
	struct metrics_registry *reg = metrics_registry_new();
	struct metric *c = metric_counter(reg, "t_total", "t", METRIC_LABELS("v"));
	char big[400];
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	metric_inc(c, METRIC_LABELS(big));
	big[300] = '\0'; /* another value with the same first 128 bytes: the same child */
	metric_inc(c, METRIC_LABELS(big));
	assert_true(metric_value(c, METRIC_LABELS(big)) == 2);
	char *text = scrape(reg);
	char want[200];
	snprintf(want, sizeof(want), "t_total{v=\"%.*s\"} 2\n", METRIC_MAX_VALUE, big);
	assert_non_null(strstr(text, want));
	free(text);
	metrics_registry_free(reg);
}

struct worker {
	struct metric *c, *h;
	int id;
};

#define THREADS 8
#define ROUNDS 20000

static void *work(void *arg)
{
	struct worker *w = arg;
	char label[16];
	for (int i = 0; i < ROUNDS; i++) {
		/* Every thread makes new children too, racing the others. */
		snprintf(label, sizeof(label), "%d", i % 13);
		metric_inc(w->c, METRIC_LABELS(label));
		metric_observe(w->h, NULL, 0.25);
	}
	return NULL;
}

static void test_concurrent_updates(void **state)
{
	(void)state;
	struct metrics_registry *reg = metrics_registry_new();
	struct worker w = { .c = metric_counter(reg, "t_total", "t", METRIC_LABELS("k")),
			    .h = metric_histogram(reg, "t_seconds", "t", NULL, NULL, 0) };
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, work, &w), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	double total = 0;
	for (int k = 0; k < 13; k++) {
		char label[16];
		snprintf(label, sizeof(label), "%d", k);
		total += metric_value(w.c, METRIC_LABELS(label));
	}
	assert_true(total == (double)THREADS * ROUNDS);
	assert_true(metric_value(w.h, NULL) == (double)THREADS * ROUNDS);
	char *text = scrape(reg);
	/* 13 children, each once. */
	size_t n = 0;
	for (const char *p = text; (p = strstr(p, "t_total{")); p++)
		n++;
	assert_int_equal(n, 13);
	char want[64];
	snprintf(want, sizeof(want), "t_seconds_sum %d\n", THREADS * ROUNDS / 4);
	assert_non_null(strstr(text, want));
	free(text);
	metrics_registry_free(reg);
}

static void collect(struct buf *out, void *ud)
{
	metrics_write_head(out, "t_collected", METRIC_GAUGE, ud);
	metrics_write_sample(out, "t_collected", METRIC_LABELS("state"), METRIC_LABELS("run\nning"),
			     2);
}

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"

/* Every line: a comment (HELP or TYPE of the family that follows) or a
 * sample name{label="value",...} number, whose family's TYPE came first. */
static void parse_line(const char *line, char *family)
{
	if (strncmp(line, "# HELP ", 7) == 0)
		return;
	if (strncmp(line, "# TYPE ", 7) == 0) {
		char type[32];
		assert_int_equal(sscanf(line + 7, "%127s %31s", family, type), 2);
		assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
			    strcmp(type, "histogram") == 0);
		return;
	}
	size_t n = strspn(line, NAME_CHARS ":");
	assert_true(n > 0);
	assert_true(n >= strlen(family) && strncmp(line, family, strlen(family)) == 0);
	const char *p = line + n;
	if (*p == '{') {
		p++;
		while (*p != '}') {
			size_t ln = strspn(p, NAME_CHARS);
			assert_true(ln > 0);
			p += ln;
			assert_int_equal(*p++, '=');
			assert_int_equal(*p++, '"');
			while (*p != '"') {
				assert_true(*p != '\0' && *p != '\n');
				if (*p == '\\') {
					p++;
					assert_true(*p == '\\' || *p == '"' || *p == 'n');
				}
				p++;
			}
			p++;
			if (*p == ',')
				p++;
		}
		p++;
	}
	assert_int_equal(*p++, ' ');
	char *end;
	strtod(p, &end);
	assert_true(end > p);
	assert_int_equal(*end, '\0');
}

static void test_output_parses(void **state)
{
	(void)state;
	struct metrics_registry *reg = metrics_registry_new();
	metric_inc(metric_counter(reg, "t_a_total", "x\ny", METRIC_LABELS("v")),
		   METRIC_LABELS("a\"b\\c\nd}e,f"));
	metric_observe(metric_histogram(reg, "t_b_seconds", "h", METRIC_LABELS("s"), NULL, 0),
		       METRIC_LABELS("x"), 3);
	metric_set(metric_gauge(reg, "t_c", "g", NULL), NULL, NAN);
	metrics_add_collector(reg, collect, "collected \\ help");
	char *text = scrape(reg);
	assert_non_null(strstr(text, "t_collected{state=\"run\\nning\"} 2\n"));
	char family[128] = "";
	size_t lines = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lines++)
		parse_line(line, family);
	assert_true(lines > 20);
	free(text);
	metrics_registry_free(reg);
}

static void test_api_request_labels(void **state)
{
	(void)state;
	api_stats_request(NULL, "BREW", 404, 1000);
	api_stats_request("/v1/sandboxes/{}", "GET", 200, 2000000);
	api_stats_request("/v1/sandboxes/{}/shell", "GET", 101, 60000000000ull);
	api_stats_error(ERR_NOT_FOUND);
	struct metrics_registry *reg = metrics_default();
	struct metric *req = metric_counter(reg, "thaw_api_requests_total", "",
					    METRIC_LABELS("route", "method", "status"));
	struct metric *lat = metric_histogram(reg, "thaw_api_request_duration_seconds", "",
					      METRIC_LABELS("route", "method"), NULL, 0);
	struct metric *errs =
		metric_counter(reg, "thaw_errors_total", "", METRIC_LABELS("code"));
	/* No route: "unmatched"; a made-up method: "other". */
	assert_true(metric_value(req, METRIC_LABELS("unmatched", "other", "404")) == 1);
	assert_true(metric_value(req, METRIC_LABELS("/v1/sandboxes/{}", "GET", "200")) == 1);
	assert_true(metric_value(lat, METRIC_LABELS("/v1/sandboxes/{}", "GET")) == 1);
	/* An upgrade is counted, not timed: its connection is the session. */
	assert_true(metric_value(req, METRIC_LABELS("/v1/sandboxes/{}/shell", "GET", "101")) == 1);
	assert_true(metric_value(lat, METRIC_LABELS("/v1/sandboxes/{}/shell", "GET")) == 0);
	assert_true(metric_value(errs, METRIC_LABELS("not_found")) == 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_label_values),
		cmocka_unit_test(test_values_are_shortest_exact),
		cmocka_unit_test(test_histogram_buckets),
		cmocka_unit_test(test_latency_buckets_span),
		cmocka_unit_test(test_counters_gauges_and_labels),
		cmocka_unit_test(test_long_values_are_cut),
		cmocka_unit_test(test_concurrent_updates),
		cmocka_unit_test(test_output_parses),
		cmocka_unit_test(test_api_request_labels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
