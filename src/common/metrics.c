/* The registry and the text writer (metrics.h). Lists only grow and are
 * read without locks: a node is complete before the release store that
 * links it, and readers follow links with acquire loads. Values are
 * 64-bit atomics; a double is kept as its bit pattern and added to by a
 * compare-and-swap loop. */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLLECTORS 16

const double metrics_latency_buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
					   0.05,   0.1,	  0.25,	  0.5,	 1,    2.5,
					   5,	   10,	  30,	  60 };
const size_t metrics_latency_nbuckets =
	sizeof(metrics_latency_buckets) / sizeof(metrics_latency_buckets[0]);

struct child {
	_Atomic(struct child *) next;
	uint64_t hash;
	char *values[METRIC_MAX_LABELS];
	_Atomic uint64_t value;	   /* counter, gauge: a double's bits */
	_Atomic uint64_t sum;	   /* histogram: a double's bits */
	_Atomic uint64_t *buckets; /* histogram: per bucket (not cumulative), +Inf last */
};

struct metric {
	_Atomic(struct metric *) next;
	enum metric_type type;
	char *name, *help;
	char *labels[METRIC_MAX_LABELS];
	size_t nlabels;
	double *bounds;
	size_t nbounds;
	pthread_mutex_t lock; /* taken to add a child */
	_Atomic(struct child *) children;
	struct child *tail;
};

struct collector {
	metrics_collect_fn fn;
	void *ud;
};

struct metrics_registry {
	pthread_mutex_t lock; /* taken to add a family or a collector */
	_Atomic(struct metric *) families;
	struct metric *tail;
	struct collector collectors[MAX_COLLECTORS];
	size_t ncollectors;
};

static uint64_t dbits(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof(u));
	return u;
}

static double bitsd(uint64_t u)
{
	double d;
	memcpy(&d, &u, sizeof(d));
	return d;
}

static void atomic_add_double(_Atomic uint64_t *p, double v)
{
	uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(p, &old, dbits(bitsd(old) + v),
						      memory_order_relaxed, memory_order_relaxed))
		;
}

struct metrics_registry *metrics_registry_new(void)
{
	struct metrics_registry *reg = xcalloc(1, sizeof(*reg));
	pthread_mutex_init(&reg->lock, NULL);
	return reg;
}

static struct metrics_registry *default_reg;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_init(void)
{
	default_reg = metrics_registry_new();
}

struct metrics_registry *metrics_default(void)
{
	pthread_once(&default_once, default_init);
	return default_reg;
}

static void child_free(struct child *c, size_t nlabels)
{
	for (size_t i = 0; i < nlabels; i++)
		free(c->values[i]);
	free(c->buckets);
	free(c);
}

static void metric_free(struct metric *m)
{
	struct child *c = atomic_load(&m->children);
	while (c) {
		struct child *next = atomic_load(&c->next);
		child_free(c, m->nlabels);
		c = next;
	}
	for (size_t i = 0; i < m->nlabels; i++)
		free(m->labels[i]);
	pthread_mutex_destroy(&m->lock);
	free(m->bounds);
	free(m->name);
	free(m->help);
	free(m);
}

void metrics_registry_free(struct metrics_registry *reg)
{
	if (!reg)
		return;
	struct metric *m = atomic_load(&reg->families);
	while (m) {
		struct metric *next = atomic_load(&m->next);
		metric_free(m);
		m = next;
	}
	pthread_mutex_destroy(&reg->lock);
	free(reg);
}

/* Names are ours (string literals): a bad one is a bug, caught at start. */
static bool name_valid(const char *s, bool colon)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++) {
		bool ok = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			  (*s >= '0' && *s <= '9') || *s == '_' || (colon && *s == ':');
		if (!ok)
			return false;
	}
	return true;
}

static size_t count_list(const char *const *l)
{
	size_t n = 0;
	while (l && l[n])
		n++;
	return n;
}

static _Noreturn void misuse(const char *what, const char *name)
{
	fprintf(stderr, "metrics: %s: %s\n", what, name);
	abort();
}

static bool same_shape(const struct metric *m, enum metric_type type, const char *const *labels)
{
	if (m->type != type || m->nlabels != count_list(labels))
		return false;
	for (size_t i = 0; i < m->nlabels; i++)
		if (strcmp(m->labels[i], labels[i]) != 0)
			return false;
	return true;
}

static struct child *child_new(const struct metric *m, const char *const *values, uint64_t hash);
static uint64_t values_hash(const char *const *values, size_t n);

static struct metric *family_new(enum metric_type type, const char *name, const char *help,
				 const char *const *labels, const double *bounds, size_t nbounds)
{
	size_t n = count_list(labels);
	if (!name_valid(name, true) || n > METRIC_MAX_LABELS)
		misuse("bad metric name or too many labels", name);
	struct metric *m = xcalloc(1, sizeof(*m));
	m->type = type;
	m->name = xstrdup(name);
	m->help = xstrdup(help ? help : "");
	m->nlabels = n;
	for (size_t i = 0; i < n; i++) {
		if (!name_valid(labels[i], false) || strncmp(labels[i], "__", 2) == 0 ||
		    (type == METRIC_HISTOGRAM && strcmp(labels[i], "le") == 0))
			misuse("bad label name", labels[i]);
		m->labels[i] = xstrdup(labels[i]);
	}
	if (type == METRIC_HISTOGRAM) {
		m->nbounds = nbounds;
		m->bounds = xcalloc(nbounds ? nbounds : 1, sizeof(double));
		for (size_t i = 0; i < nbounds; i++) {
			if (i > 0 && !(bounds[i] > bounds[i - 1]))
				misuse("histogram bounds must increase", name);
			m->bounds[i] = bounds[i];
		}
	}
	pthread_mutex_init(&m->lock, NULL);
	/* A family without labels shows its one sample (0) from the start. */
	if (n == 0) {
		m->tail = child_new(m, NULL, values_hash(NULL, 0));
		atomic_store(&m->children, m->tail);
	}
	return m;
}

static struct metric *family_get(struct metrics_registry *reg, enum metric_type type,
				 const char *name, const char *help, const char *const *labels,
				 const double *bounds, size_t nbounds)
{
	if (type == METRIC_HISTOGRAM && !bounds) {
		bounds = metrics_latency_buckets;
		nbounds = metrics_latency_nbuckets;
	}
	pthread_mutex_lock(&reg->lock);
	struct metric *m = atomic_load_explicit(&reg->families, memory_order_acquire);
	for (; m; m = atomic_load_explicit(&m->next, memory_order_acquire))
		if (strcmp(m->name, name) == 0)
			break;
	if (m && !same_shape(m, type, labels))
		misuse("registered again with another type or labels", name);
	if (!m) {
		m = family_new(type, name, help, labels, bounds, nbounds);
		if (reg->tail)
			atomic_store_explicit(&reg->tail->next, m, memory_order_release);
		else
			atomic_store_explicit(&reg->families, m, memory_order_release);
		reg->tail = m;
	}
	pthread_mutex_unlock(&reg->lock);
	return m;
}

struct metric *metric_counter(struct metrics_registry *reg, const char *name, const char *help,
			      const char *const *labels)
{
	return family_get(reg, METRIC_COUNTER, name, help, labels, NULL, 0);
}

struct metric *metric_gauge(struct metrics_registry *reg, const char *name, const char *help,
			    const char *const *labels)
{
	return family_get(reg, METRIC_GAUGE, name, help, labels, NULL, 0);
}

struct metric *metric_histogram(struct metrics_registry *reg, const char *name, const char *help,
				const char *const *labels, const double *bounds, size_t nbounds)
{
	return family_get(reg, METRIC_HISTOGRAM, name, help, labels, bounds, nbounds);
}

/* FNV-1a over the values, each ended by a byte no text holds. */
static uint64_t values_hash(const char *const *values, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		for (const unsigned char *p = (const unsigned char *)values[i]; *p; p++)
			h = (h ^ *p) * 1099511628211ull;
		h = (h ^ 0xff) * 1099511628211ull;
	}
	return h;
}

/* A copy of a value cut to METRIC_MAX_VALUE bytes, not inside a UTF-8
 * sequence. */
static char *value_copy(const char *v)
{
	size_t n = strlen(v);
	if (n > METRIC_MAX_VALUE) {
		n = METRIC_MAX_VALUE;
		while (n > 0 && ((unsigned char)v[n] & 0xc0) == 0x80)
			n--;
	}
	return xstrndup(v, n);
}

static struct child *child_new(const struct metric *m, const char *const *values, uint64_t hash)
{
	struct child *c = xcalloc(1, sizeof(*c));
	c->hash = hash;
	for (size_t i = 0; i < m->nlabels; i++)
		c->values[i] = value_copy(values[i]);
	if (m->type == METRIC_HISTOGRAM)
		c->buckets = xcalloc(m->nbounds + 1, sizeof(*c->buckets));
	return c;
}

static bool child_is(const struct metric *m, const struct child *c, const char *const *values,
		     uint64_t hash)
{
	if (c->hash != hash)
		return false;
	for (size_t i = 0; i < m->nlabels; i++)
		if (strncmp(c->values[i], values[i], METRIC_MAX_VALUE) != 0)
			return false;
	return true;
}

static struct child *child_find(struct metric *m, const char *const *values, uint64_t hash)
{
	struct child *c = atomic_load_explicit(&m->children, memory_order_acquire);
	for (; c; c = atomic_load_explicit(&c->next, memory_order_acquire))
		if (child_is(m, c, values, hash))
			return c;
	return NULL;
}

/* The child for values, made on first use; NULL when the count is wrong. */
static struct child *child_get(struct metric *m, const char *const *values, bool create)
{
	if (!m || count_list(values) != m->nlabels)
		return NULL;
	/* The hash covers what is kept: a long value's cut copy. */
	char *cut[METRIC_MAX_LABELS] = { 0 };
	const char *key[METRIC_MAX_LABELS + 1] = { 0 };
	for (size_t i = 0; i < m->nlabels; i++) {
		key[i] = values[i];
		if (strlen(values[i]) > METRIC_MAX_VALUE)
			key[i] = cut[i] = value_copy(values[i]);
	}
	uint64_t hash = values_hash(key, m->nlabels);
	struct child *c = child_find(m, key, hash);
	if (!c && create) {
		pthread_mutex_lock(&m->lock);
		c = child_find(m, key, hash);
		if (!c) {
			c = child_new(m, key, hash);
			if (m->tail)
				atomic_store_explicit(&m->tail->next, c, memory_order_release);
			else
				atomic_store_explicit(&m->children, c, memory_order_release);
			m->tail = c;
		}
		pthread_mutex_unlock(&m->lock);
	}
	for (size_t i = 0; i < m->nlabels; i++)
		free(cut[i]);
	return c;
}

void metric_add(struct metric *m, const char *const *values, double v)
{
	/* A counter only goes up. */
	if (!m || m->type == METRIC_HISTOGRAM || (m->type == METRIC_COUNTER && !(v >= 0)))
		return;
	struct child *c = child_get(m, values, true);
	if (c)
		atomic_add_double(&c->value, v);
}

void metric_inc(struct metric *m, const char *const *values)
{
	metric_add(m, values, 1);
}

void metric_set(struct metric *m, const char *const *values, double v)
{
	if (!m || m->type != METRIC_GAUGE)
		return;
	struct child *c = child_get(m, values, true);
	if (c)
		atomic_store_explicit(&c->value, dbits(v), memory_order_relaxed);
}

void metric_observe(struct metric *m, const char *const *values, double v)
{
	if (!m || m->type != METRIC_HISTOGRAM || isnan(v))
		return;
	struct child *c = child_get(m, values, true);
	if (!c)
		return;
	size_t i = 0;
	while (i < m->nbounds && v > m->bounds[i])
		i++;
	atomic_fetch_add_explicit(&c->buckets[i], 1, memory_order_relaxed);
	atomic_add_double(&c->sum, v);
}

void metric_observe_ns(struct metric *m, const char *const *values, uint64_t ns)
{
	metric_observe(m, values, (double)ns / 1e9);
}

double metric_value(struct metric *m, const char *const *values)
{
	struct child *c = child_get(m, values, false);
	if (!c)
		return 0;
	if (m->type != METRIC_HISTOGRAM)
		return bitsd(atomic_load(&c->value));
	uint64_t n = 0;
	for (size_t i = 0; i <= m->nbounds; i++)
		n += atomic_load(&c->buckets[i]);
	return (double)n;
}

void metrics_add_collector(struct metrics_registry *reg, metrics_collect_fn fn, void *ud)
{
	pthread_mutex_lock(&reg->lock);
	if (reg->ncollectors == MAX_COLLECTORS)
		misuse("too many collectors", "");
	reg->collectors[reg->ncollectors++] = (struct collector){ fn, ud };
	pthread_mutex_unlock(&reg->lock);
}

/* ---- the writer ---- */

static const char *type_name(enum metric_type t)
{
	switch (t) {
	case METRIC_COUNTER:
		return "counter";
	case METRIC_GAUGE:
		return "gauge";
	default:
		return "histogram";
	}
}

void metrics_escape_value(struct buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_append(out, "\\\\", 2);
		else if (*s == '"')
			buf_append(out, "\\\"", 2);
		else if (*s == '\n')
			buf_append(out, "\\n", 2);
		else
			buf_append(out, s, 1);
	}
}

/* HELP text escapes only backslash and newline. */
static void escape_help(struct buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_append(out, "\\\\", 2);
		else if (*s == '\n')
			buf_append(out, "\\n", 2);
		else
			buf_append(out, s, 1);
	}
}

void metrics_write_value(struct buf *out, double v)
{
	if (isnan(v)) {
		buf_append_str(out, "NaN");
		return;
	}
	if (isinf(v)) {
		buf_append_str(out, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	/* Whole numbers (counts) in full: %g would write 60 as "6e+01". */
	char text[32];
	if (fabs(v) < 1e15 && (double)(long long)v == v) {
		snprintf(text, sizeof(text), "%.0f", v);
		buf_append_str(out, text);
		return;
	}
	/* Else the shortest %g that reads back as the same double: "0.0005",
	 * not "0.00050000000000000001". */
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(text, sizeof(text), "%.*g", prec, v);
		if (strtod(text, NULL) == v)
			break;
	}
	buf_append_str(out, text);
}

void metrics_write_head(struct buf *out, const char *name, enum metric_type type,
			const char *help)
{
	buf_printf(out, "# HELP %s ", name);
	escape_help(out, help ? help : "");
	buf_printf(out, "\n# TYPE %s %s\n", name, type_name(type));
}

/* name{names[0]="values[0]",...,extra="extra_value"} v; extra may be NULL. */
static void write_sample(struct buf *out, const char *name, const char *suffix,
			 const char *const *names, const char *const *values, size_t n,
			 const char *extra, double extra_value, double v)
{
	buf_append_str(out, name);
	buf_append_str(out, suffix);
	if (n || extra) {
		buf_append_str(out, "{");
		for (size_t i = 0; i < n; i++) {
			buf_printf(out, "%s%s=\"", i ? "," : "", names[i]);
			metrics_escape_value(out, values[i]);
			buf_append_str(out, "\"");
		}
		if (extra) {
			buf_printf(out, "%s%s=\"", n ? "," : "", extra);
			metrics_write_value(out, extra_value);
			buf_append_str(out, "\"");
		}
		buf_append_str(out, "}");
	}
	buf_append_str(out, " ");
	metrics_write_value(out, v);
	buf_append_str(out, "\n");
}

void metrics_write_sample(struct buf *out, const char *name, const char *const *names,
			  const char *const *values, double v)
{
	size_t n = count_list(names);
	if (count_list(values) != n)
		return;
	write_sample(out, name, "", names, values, n, NULL, 0, v);
}

static void write_histogram(struct buf *out, const struct metric *m, const struct child *c)
{
	const char *const *names = (const char *const *)m->labels;
	const char *const *values = (const char *const *)c->values;
	uint64_t cum = 0;
	/* The counts are read once each: _count is the +Inf bucket's even
	 * while observations arrive. */
	for (size_t i = 0; i <= m->nbounds; i++) {
		cum += atomic_load_explicit(&c->buckets[i], memory_order_relaxed);
		double le = i < m->nbounds ? m->bounds[i] : INFINITY;
		write_sample(out, m->name, "_bucket", names, values, m->nlabels, "le", le,
			     (double)cum);
	}
	double sum = bitsd(atomic_load_explicit(&c->sum, memory_order_relaxed));
	write_sample(out, m->name, "_sum", names, values, m->nlabels, NULL, 0, sum);
	write_sample(out, m->name, "_count", names, values, m->nlabels, NULL, 0, (double)cum);
}

static void write_family(struct buf *out, struct metric *m)
{
	metrics_write_head(out, m->name, m->type, m->help);
	struct child *c = atomic_load_explicit(&m->children, memory_order_acquire);
	for (; c; c = atomic_load_explicit(&c->next, memory_order_acquire)) {
		if (m->type == METRIC_HISTOGRAM) {
			write_histogram(out, m, c);
			continue;
		}
		double v = bitsd(atomic_load_explicit(&c->value, memory_order_relaxed));
		write_sample(out, m->name, "", (const char *const *)m->labels,
			     (const char *const *)c->values, m->nlabels, NULL, 0, v);
	}
}

void metrics_write(struct metrics_registry *reg, struct buf *out)
{
	struct metric *m = atomic_load_explicit(&reg->families, memory_order_acquire);
	for (; m; m = atomic_load_explicit(&m->next, memory_order_acquire))
		write_family(out, m);
	/* Collectors run without the lock: they take their program's own. */
	struct collector cs[MAX_COLLECTORS];
	pthread_mutex_lock(&reg->lock);
	size_t n = reg->ncollectors;
	memcpy(cs, reg->collectors, n * sizeof(cs[0]));
	pthread_mutex_unlock(&reg->lock);
	for (size_t i = 0; i < n; i++)
		cs[i].fn(out, cs[i].ud);
}
