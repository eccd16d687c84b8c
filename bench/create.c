/* thaw-bench-create: how long thawd takes to create a sandbox, measured
 * from a client through the HTTP API, against a cold boot of the same
 * template measured in the same run. bench/README.md explains the output.
 *
 * Every sandbox the benchmark creates carries the metadata
 * {"thaw_bench": TAG} with a tag unique to this run and a server-side
 * timeout, so that a final sweep can delete whatever a failed call or a
 * Ctrl-C left behind, and thawd deletes the rest if we die harder.
 *
 * The baseline goes through the very same call as the measurement:
 * thaw_sandbox_create() with cold_boot set. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "percentile.h"
#include "thaw.h"

#define PROG "thaw-bench-create"
#define WARMUP_CREATES 2
#define SANDBOX_TIMEOUT_S 900 /* the server deletes what we could not */
#define CLIENT_TIMEOUT_MS 60000
#define EXEC_TIMEOUT_S 30
#define MAX_K 64

/* ---- configuration ------------------------------------------------------ */

struct config {
	const char *template_name; /* NULL: the server's default */
	int n, k, cold, exec, paced, pace_ms;
	const char *json_path;
	int strict, help;
};

enum opt_kind { OPT_STR, OPT_INT, OPT_FLAG };

struct opt {
	const char *name;
	enum opt_kind kind;
	size_t off;
	int min, max;
	const char *help;
};

static const struct opt opts[] = {
	{ "template", OPT_STR, offsetof(struct config, template_name), 0, 0,
	  "template to create from (default: the server's default)" },
	{ "n", OPT_INT, offsetof(struct config, n), 1, 100000,
	  "creates in the sequential and in the concurrent phase (50)" },
	{ "k", OPT_INT, offsetof(struct config, k), 1, MAX_K,
	  "creates in flight, concurrent phase (4)" },
	{ "cold", OPT_INT, offsetof(struct config, cold), 0, 1000, "cold boots, the baseline (3)" },
	{ "paced", OPT_INT, offsetof(struct config, paced), 0, 100000,
	  "creates one at a time with a pause before each, so warm pools refill (20)" },
	{ "pace-ms", OPT_INT, offsetof(struct config, pace_ms), 0, 60000,
	  "the pause before each paced create (500)" },
	{ "exec", OPT_INT, offsetof(struct config, exec), 0, 100000, "execs of `true` (50)" },
	{ "json", OPT_STR, offsetof(struct config, json_path), 0, 0,
	  "also write every number and sample as JSON to FILE" },
	{ "strict", OPT_FLAG, offsetof(struct config, strict), 0, 0,
	  "exit 1 when a target is missed" },
	{ "help", OPT_FLAG, offsetof(struct config, help), 0, 0, "show this help" },
};
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [--template T] [--n 50] [--k 4] [--cold 3] [--exec 50]\n"
		"       [--json FILE] [--strict]\n\n"
		"Talks to thawd at $THAW_API_URL (default " THAW_DEFAULT_API_URL ") with the key\n"
		"$THAW_API_KEY (default: the file " THAW_DEFAULT_KEY_FILE ").\n\n");
	for (size_t i = 0; i < N_OPTS; i++)
		fprintf(f, "  --%-9s %s\n", opts[i].name, opts[i].help);
}

static int opt_set(const struct opt *o, const char *val, struct config *c)
{
	char *field = (char *)c + o->off;
	if (o->kind == OPT_STR) {
		*(const char **)(void *)field = val;
		return 0;
	}
	char *end;
	errno = 0;
	long v = strtol(val, &end, 10);
	if (errno || end == val || *end || v < o->min || v > o->max) {
		fprintf(stderr, PROG ": --%s wants an integer from %d to %d, not \"%s\"\n", o->name,
			o->min, o->max, val);
		return -1;
	}
	*(int *)(void *)field = (int)v;
	return 0;
}

static const struct opt *opt_find(const char *name, size_t len)
{
	for (size_t i = 0; i < N_OPTS; i++)
		if (strlen(opts[i].name) == len && !strncmp(opts[i].name, name, len))
			return &opts[i];
	return NULL;
}

/* Accepts --name VALUE and --name=VALUE. 0: run; 1: help shown; -1: usage error. */
static int config_parse(int argc, char **argv, struct config *c)
{
	*c = (struct config){ .n = 50, .k = 4, .cold = 3, .exec = 50, .paced = 20, .pace_ms = 500 };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq = strchr(a, '=');
		const struct opt *o =
			strncmp(a, "--", 2)
				? NULL
				: opt_find(a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2));
		if (!o) {
			fprintf(stderr, PROG ": unknown argument \"%s\" (see --help)\n", a);
			return -1;
		}
		if (o->kind == OPT_FLAG) {
			*(int *)(void *)((char *)c + o->off) = 1;
			continue;
		}
		const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
		if (!val || opt_set(o, val, c) < 0) {
			if (!val)
				fprintf(stderr, PROG ": --%s needs a value\n", o->name);
			return -1;
		}
	}
	if (c->help)
		usage(stdout);
	return c->help ? 1 : 0;
}

/* ---- samples and percentiles -------------------------------------------- */

struct samples {
	double *v;
	size_t n, cap;
};

/* Like the rest of thaw, allocation failure aborts. */
static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (!p)
		abort();
	return p;
}

static void samples_add(struct samples *s, double x)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = x;
}

static void samples_merge(struct samples *dst, const struct samples *src)
{
	for (size_t i = 0; i < src->n; i++)
		samples_add(dst, src->v[i]);
}

struct summary {
	size_t n;
	double p50, p90, p99, min, max;
};

static struct summary samples_summary(const struct samples *s)
{
	struct summary m = { .n = s->n };
	if (!s->n)
		return m;
	double *v = xrealloc(NULL, s->n * sizeof(*v));
	memcpy(v, s->v, s->n * sizeof(*v));
	m.p50 = percentile(v, s->n, 50);
	m.p90 = percentile(v, s->n, 90);
	m.p99 = percentile(v, s->n, 99);
	m.min = v[0];
	m.max = v[s->n - 1];
	free(v);
	return m;
}

/* The stages of the create response's "timings_ms", in the server's order.
 * readiness_connect is part of readiness; total is the server's whole
 * create. "api_overhead" is ours: client wall time minus total, i.e. HTTP,
 * JSON and waiting for the API thread. */
static const char *const stage_names[] = { "template",	  "network",	       "disk",
					   "vmm_start",	  "state_load",	       "resume",
					   "readiness",	  "readiness_connect", "total",
					   "api_overhead" };
#define N_STAGES (sizeof(stage_names) / sizeof(stage_names[0]))
#define STAGE_READINESS 6
#define STAGE_TOTAL 8
#define STAGE_OVERHEAD 9

/* One kind of create: the client's wall time and the server's stages. */
struct series {
	struct samples wall;
	struct samples stage[N_STAGES];
};

static void series_merge(struct series *dst, const struct series *src)
{
	samples_merge(&dst->wall, &src->wall);
	for (size_t i = 0; i < N_STAGES; i++)
		samples_merge(&dst->stage[i], &src->stage[i]);
}

static void series_free(struct series *s)
{
	free(s->wall.v);
	for (size_t i = 0; i < N_STAGES; i++)
		free(s->stage[i].v);
	memset(s, 0, sizeof(*s));
}

/* Adds one create: wall is the client's time, timings the "timings_ms"
 * object (NULL or unparsable: only the wall time counts). */
static void series_add(struct series *s, double wall, const json_t *timings)
{
	samples_add(&s->wall, wall);
	for (size_t i = 0; i < STAGE_OVERHEAD; i++) {
		json_t *v = json_object_get(timings, stage_names[i]);
		if (json_is_number(v))
			samples_add(&s->stage[i], json_number_value(v));
	}
	json_t *total = json_object_get(timings, "total");
	if (json_is_number(total))
		samples_add(&s->stage[STAGE_OVERHEAD], wall - json_number_value(total));
}

/* ---- the benchmark's state ---------------------------------------------- */

struct results {
	struct series warm, seq_nopool, seq, conc, cold, paced;
	struct samples del, exec, first_exec;
	double seq_nopool_s, seq_s, conc_s; /* phase wall times */
};

struct bench {
	struct config cfg;
	const char *url; /* as the main client resolved it, owned by it */
	char tag[64];
	char metadata[128];
	thaw_client *client; /* the main thread's */
	json_t *info;	     /* GET /v1/info; NULL if it failed */
	char *template_name; /* as the server reported it */
	char *build_id;
	struct results r;
	pthread_mutex_t lock; /* guards conc_next */
	int conc_next;
};

static volatile sig_atomic_t g_stop;
static int g_errors; /* atomic: failed operations */

static void on_signal(int sig)
{
	static const char msg[] = "\n" PROG ": interrupted: finishing the calls in flight, "
				  "then deleting every sandbox created (again to force quit)\n";
	(void)sig;
	g_stop = 1;
	ssize_t ignored = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)ignored;
}

/* SA_RESETHAND: a second Ctrl-C kills; thawd's timeout then cleans up. */
static void signals_install(void)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESETHAND };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Prints a failed call and counts it; frees e. Returns -1. */
static int fail(const char *what, const char *id, thaw_error *e)
{
	__atomic_add_fetch(&g_errors, 1, __ATOMIC_RELAXED);
	int status = thaw_error_http_status(e);
	char st[32] = "";
	if (status)
		snprintf(st, sizeof(st), ", HTTP %d", status);
	fprintf(stderr, PROG ": %s%s%s failed [%s%s]: %s\n", what, id ? " " : "", id ? id : "",
		thaw_error_code(e), st, thaw_error_message(e));
	thaw_error_free(e);
	return -1;
}

static int fail_msg(const char *what, const char *msg)
{
	__atomic_add_fetch(&g_errors, 1, __ATOMIC_RELAXED);
	fprintf(stderr, PROG ": %s failed: %s\n", what, msg);
	return -1;
}

/* ---- timed operations --------------------------------------------------- */

/* One create through libthaw, timed around the whole call. On success
 * *out is the sandbox (the caller frees it). */
/* How a create is asked for. */
enum create_kind { WITH_POOLS, NO_POOLS, COLD_BOOT };

static int bench_create_opt(struct bench *b, thaw_client *c, enum create_kind kind,
			    struct series *s, thaw_sandbox **out)
{
	bool cold = kind == COLD_BOOT;
	thaw_create_options o = { .template_name = b->cfg.template_name,
				  .timeout_s = SANDBOX_TIMEOUT_S,
				  .metadata_json = b->metadata,
				  .cold_boot = cold,
				  .no_pools = kind != WITH_POOLS };
	thaw_error *e = NULL;
	double t0 = now_ms();
	int rc = thaw_sandbox_create(c, &o, out, &e);
	double wall = now_ms() - t0;
	if (rc < 0)
		return fail(cold ? "cold-boot create" : "create", NULL, e);
	json_t *timings = (*out)->timings_json ? json_loads((*out)->timings_json, 0, NULL) : NULL;
	series_add(s, wall, timings);
	json_decref(timings);
	return 0;
}

static int bench_create(struct bench *b, thaw_client *c, struct series *s, thaw_sandbox **out)
{
	return bench_create_opt(b, c, WITH_POOLS, s, out);
}

/* Deletes a sandbox; its time goes to timed unless that is NULL. */
static int bench_delete(thaw_client *c, const char *id, struct samples *timed)
{
	thaw_error *e = NULL;
	double t0 = now_ms();
	if (thaw_sandbox_delete(c, id, &e) < 0)
		return fail("delete", id, e);
	if (timed)
		samples_add(timed, now_ms() - t0);
	return 0;
}

/* Runs `true` (argv form) in sandbox id; a non-zero exit is a failure. */
static int bench_exec_true(thaw_client *c, const char *id, struct samples *timed)
{
	static const char *const argv[] = { "true", NULL };
	thaw_exec_options o = { .argv = argv, .timeout_s = EXEC_TIMEOUT_S };
	thaw_exec_result *res = NULL;
	thaw_error *e = NULL;
	double t0 = now_ms();
	if (thaw_sandbox_exec(c, id, &o, &res, &e) < 0)
		return fail("exec true in", id, e);
	double wall = now_ms() - t0;
	int code = res->exit_code;
	thaw_exec_result_free(res);
	if (code != 0) {
		char msg[96];
		snprintf(msg, sizeof(msg), "`true` in %s exited with status %d", id, code);
		return fail_msg("exec", msg);
	}
	samples_add(timed, wall);
	return 0;
}

/* ---- phases ------------------------------------------------------------- */

/* Warm-up creates also tell which template and build the server uses. A
 * failure here (no template, no key, no server) ends the run. */
static int phase_warmup(struct bench *b)
{
	for (int i = 0; i < WARMUP_CREATES && !g_stop; i++) {
		thaw_sandbox *sb = NULL;
		if (bench_create(b, b->client, &b->r.warm, &sb) < 0)
			return -1;
		if (!b->template_name) {
			b->template_name = strdup(sb->template_name);
			b->build_id = strdup(sb->build_id ? sb->build_id : "?");
		}
		int rc = bench_delete(b->client, sb->id, NULL);
		thaw_sandbox_free(sb);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* N creates one after another. Outside the timed create: one exec of
 * `true` (the first exec after a create) and the timed delete. */
/* Interactive use: one create now and then. With warm pools on, the pools
 * refill during the pause; back-to-back creates (the sequential phase)
 * measure what the host sustains once they run dry. */
static void phase_paced(struct bench *b)
{
	for (int i = 0; i < b->cfg.paced && !g_stop; i++) {
		struct timespec pause = { .tv_sec = b->cfg.pace_ms / 1000,
					  .tv_nsec = (long)(b->cfg.pace_ms % 1000) * 1000000L };
		nanosleep(&pause, NULL);
		thaw_sandbox *sb = NULL;
		if (bench_create(b, b->client, &b->r.paced, &sb) < 0)
			continue;
		bench_delete(b->client, sb->id, NULL);
		thaw_sandbox_free(sb);
	}
}

/* N creates back to back, each followed by its first exec and a delete.
 * With pools, this drains them faster than they refill on a small host:
 * it measures what the host sustains. */
static void phase_sequential(struct bench *b, enum create_kind kind)
{
	struct series *s = kind == NO_POOLS ? &b->r.seq_nopool : &b->r.seq;
	double t0 = now_ms();
	for (int i = 0; i < b->cfg.n && !g_stop; i++) {
		thaw_sandbox *sb = NULL;
		if (bench_create_opt(b, b->client, kind, s, &sb) < 0)
			continue;
		if (kind == WITH_POOLS)
			bench_exec_true(b->client, sb->id, &b->r.first_exec);
		bench_delete(b->client, sb->id, &b->r.del);
		thaw_sandbox_free(sb);
	}
	double took = (now_ms() - t0) / 1e3;
	if (kind == NO_POOLS)
		b->r.seq_nopool_s = took;
	else
		b->r.seq_s = took;
}

struct worker {
	struct bench *b;
	thaw_client *client;
	struct series s;
	pthread_t thread;
};

static bool take_ticket(struct bench *b)
{
	pthread_mutex_lock(&b->lock);
	bool ok = !g_stop && b->conc_next < b->cfg.n;
	if (ok)
		b->conc_next++;
	pthread_mutex_unlock(&b->lock);
	return ok;
}

/* Create, then delete (untimed) before taking the next ticket: at most
 * K creates in flight, and K sandboxes alive at most. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	while (take_ticket(w->b)) {
		thaw_sandbox *sb = NULL;
		if (bench_create(w->b, w->client, &w->s, &sb) < 0)
			continue;
		bench_delete(w->client, sb->id, NULL);
		thaw_sandbox_free(sb);
	}
	return NULL;
}

static thaw_client *client_new(const struct bench *b)
{
	thaw_client_options o = { .api_url = b->url, .timeout_ms = CLIENT_TIMEOUT_MS };
	thaw_client *c = NULL;
	thaw_error *e = NULL;
	if (thaw_client_new(&o, &c, &e) < 0)
		fail("creating a client", NULL, e);
	return c;
}

/* K threads, one client each, share N tickets. */
static void phase_concurrent(struct bench *b)
{
	struct worker w[MAX_K] = { 0 };
	int started = 0;
	double t0 = now_ms();
	for (int i = 0; i < b->cfg.k; i++) {
		w[i] = (struct worker){ .b = b, .client = client_new(b) };
		if (!w[i].client)
			break;
		int err = pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
		if (err) {
			fail_msg("starting a worker thread", strerror(err));
			thaw_client_free(w[i].client);
			break;
		}
		started++;
	}
	for (int i = 0; i < started; i++) {
		pthread_join(w[i].thread, NULL);
		series_merge(&b->r.conc, &w[i].s);
		series_free(&w[i].s);
		thaw_client_free(w[i].client);
	}
	b->r.conc_s = (now_ms() - t0) / 1e3;
}

/* One sandbox: its first exec (the cold path), then E more, timed. */
static void phase_exec(struct bench *b)
{
	if (!b->cfg.exec || g_stop)
		return;
	struct series scratch = { 0 };
	thaw_sandbox *sb = NULL;
	int rc = bench_create(b, b->client, &scratch, &sb);
	series_free(&scratch);
	if (rc < 0)
		return;
	bench_exec_true(b->client, sb->id, &b->r.first_exec);
	for (int i = 0; i < b->cfg.exec && !g_stop; i++)
		bench_exec_true(b->client, sb->id, &b->r.exec);
	bench_delete(b->client, sb->id, NULL);
	thaw_sandbox_free(sb);
}

/* The baseline, in the same run: the same template, booted instead of
 * restored, through the same API call. */
static void phase_cold(struct bench *b)
{
	for (int i = 0; i < b->cfg.cold && !g_stop; i++) {
		thaw_sandbox *sb = NULL;
		if (bench_create_opt(b, b->client, COLD_BOOT, &b->r.cold, &sb) < 0)
			continue;
		bench_delete(b->client, sb->id, NULL);
		thaw_sandbox_free(sb);
	}
}

/* ---- cleanup ------------------------------------------------------------ */

static bool is_ours(const struct bench *b, const thaw_sandbox *sb)
{
	json_t *md = json_loads(sb->metadata_json, 0, NULL);
	const char *tag = json_string_value(json_object_get(md, "thaw_bench"));
	bool ours = tag && !strcmp(tag, b->tag);
	json_decref(md);
	return ours;
}

/* Deletes every sandbox of this run still listed: those whose create
 * answer never arrived, or whose delete failed. Other users' sandboxes on
 * the same thawd are left alone. Returns the number left behind. */
static int sweep(struct bench *b)
{
	thaw_sandbox **list = NULL;
	size_t n = 0;
	thaw_error *e = NULL;
	if (thaw_sandbox_list(b->client, &list, &n, &e) < 0) {
		fail("listing sandboxes for cleanup", NULL, e);
		fprintf(stderr,
			PROG ": sandboxes with metadata thaw_bench=%s may remain; thawd "
			     "deletes them %d s after their creation\n",
			b->tag, SANDBOX_TIMEOUT_S);
		return -1;
	}
	int left = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_ours(b, list[i]))
			continue;
		fprintf(stderr, PROG ": cleanup: deleting leftover %s\n", list[i]->id);
		left += bench_delete(b->client, list[i]->id, NULL) < 0;
	}
	thaw_sandbox_list_free(list, n);
	return left;
}

/* ---- report ------------------------------------------------------------- */

struct target {
	const char *name;
	double value, limit;
	bool at_most; /* value <= limit; else value >= limit */
	bool known;   /* there were samples to judge */
};

/* The ratio cold-boot p50 / create p50 (sequential, no pools: the restore
 * itself, not the pools); 0 if either is missing. */
static double ratio_of(const struct results *r)
{
	struct summary c = samples_summary(&r->cold.wall), s = samples_summary(&r->seq_nopool.wall);
	return c.n && s.n && s.p50 > 0 ? c.p50 / s.p50 : 0;
}

#define N_TARGETS 7

/* Restore alone (no pools) against the core targets; the warm pools,
 * refilled between creates (paced), against the hot-path targets. */
static void targets_compute(const struct results *r, struct target t[N_TARGETS])
{
	struct summary s = samples_summary(&r->seq_nopool.wall);
	struct summary p = samples_summary(&r->paced.wall);
	struct summary net = samples_summary(&r->paced.stage[1]);
	struct summary disk = samples_summary(&r->paced.stage[2]);
	double ratio = ratio_of(r);
	t[0] = (struct target){ "no pools: create p50 <= 100", s.p50, 100, true, s.n > 0 };
	t[1] = (struct target){ "no pools: create p99 <= 150", s.p99, 150, true, s.n > 0 };
	t[2] = (struct target){ "cold boot / create >= 15", ratio, 15, false, ratio > 0 };
	t[3] = (struct target){ "pools: create p50 <= 40", p.p50, 40, true, p.n > 0 };
	t[4] = (struct target){ "pools: create p99 <= 80", p.p99, 80, true, p.n > 0 };
	t[5] = (struct target){ "pools: network p99 <= 3", net.p99, 3, true, net.n > 0 };
	t[6] = (struct target){ "pools: disk p99 <= 3", disk.p99, 3, true, disk.n > 0 };
}

static bool target_pass(const struct target *t)
{
	return t->known && (t->at_most ? t->value <= t->limit : t->value >= t->limit);
}

static void print_row(const char *label, const struct samples *s)
{
	struct summary m = samples_summary(s);
	if (!m.n) {
		printf("%-34s %5zu %9s\n", label, m.n, "-");
		return;
	}
	printf("%-34s %5zu %9.1f %9.1f %9.1f %9.1f %9.1f\n", label, m.n, m.p50, m.p90, m.p99, m.min,
	       m.max);
}

static void print_series(const char *label, const struct series *s)
{
	print_row(label, &s->wall);
	for (size_t i = 0; i < N_STAGES; i++) {
		char l[64];
		snprintf(l, sizeof(l), "  %s %s",
			 i == STAGE_OVERHEAD ? "client:" : "server:", stage_names[i]);
		print_row(l, &s->stage[i]);
	}
}

static const char *info_str(const json_t *info, const char *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(json_object_get(info, obj), key));
	return s ? s : "?";
}

static void print_host(const struct bench *b)
{
	struct utsname u;
	double load[3] = { 0 };
	if (uname(&u) < 0)
		snprintf(u.release, sizeof(u.release), "?");
	if (getloadavg(load, 3) < 0)
		load[0] = load[1] = load[2] = -1;
	printf("host:     %ld CPUs online, Linux %s, load average %.2f %.2f %.2f\n",
	       sysconf(_SC_NPROCESSORS_ONLN), u.release, load[0], load[1], load[2]);
	if (!b->info) {
		printf("thawd:    %s (GET /v1/info failed; accel unknown)\n", b->url);
		return;
	}
	const char *version = json_string_value(json_object_get(b->info, "version"));
	printf("thawd:    %s, version %s; %s %s, accel %s (%s); disk %s, clone %s\n", b->url,
	       version ? version : "?", info_str(b->info, "vmm", "name"),
	       info_str(b->info, "vmm", "version"), info_str(b->info, "vmm", "accel"),
	       info_str(b->info, "vmm", "accel_reason"), info_str(b->info, "disk", "mode"),
	       info_str(b->info, "disk", "clone"));
}

static void print_targets(const struct results *r)
{
	struct target t[N_TARGETS];
	targets_compute(r, t);
	double ratio = ratio_of(r);
	if (ratio > 0)
		printf("\nratio cold boot p50 / create p50 (no pools): %.1f\n", ratio);
	else
		printf("\nratio cold boot p50 / create p50 (no pools): - (no samples)\n");
	printf("\ntargets (client wall time through the API; pools: the paced series):\n");
	for (int i = 0; i < N_TARGETS; i++) {
		if (t[i].known)
			printf("  %-26s %9.1f   %s\n", t[i].name, t[i].value,
			       target_pass(&t[i]) ? "PASS" : "FAIL");
		else
			printf("  %-26s %9s   FAIL (no samples)\n", t[i].name, "-");
	}
}

static void print_report(const struct bench *b)
{
	const struct results *r = &b->r;
	printf("\n== thaw create benchmark: template %s (build %s)\n",
	       b->template_name ? b->template_name : "?", b->build_id ? b->build_id : "?");
	if (g_stop)
		printf("INTERRUPTED: partial results (n says how many calls each row has)\n");
	print_host(b);
	printf("runs:     warm-up %d; sequential %d without pools (%.1f s) and %d with (%.1f s); "
	       "paced %d, %d ms apart;\n          concurrent %d with k=%d (%.1f s, %.1f "
	       "creates/s); "
	       "exec %d; cold boot %d\n\n",
	       WARMUP_CREATES, b->cfg.n, r->seq_nopool_s, b->cfg.n, r->seq_s, b->cfg.paced,
	       b->cfg.pace_ms, b->cfg.n, b->cfg.k, r->conc_s,
	       r->conc_s > 0 ? (double)r->conc.wall.n / r->conc_s : 0, b->cfg.exec, b->cfg.cold);
	printf("%-34s %5s %9s %9s %9s %9s %9s\n", "milliseconds", "n", "p50", "p90", "p99", "min",
	       "max");
	print_series("create, no pools (sequential)", &r->seq_nopool);
	print_series("create, warm pools (back to back)", &r->seq);
	char l[64];
	snprintf(l, sizeof(l), "create (paced, %d ms apart)", b->cfg.pace_ms);
	print_row(l, &r->paced.wall);
	print_row("  server: readiness", &r->paced.stage[STAGE_READINESS]);
	print_row("  server: total", &r->paced.stage[STAGE_TOTAL]);
	snprintf(l, sizeof(l), "create (concurrent, k=%d)", b->cfg.k);
	print_row(l, &r->conc.wall);
	print_row("  server: total", &r->conc.stage[STAGE_TOTAL]);
	print_row("delete (sequential)", &r->del);
	print_row("exec true", &r->exec);
	print_row("first exec after create", &r->first_exec);
	print_row("cold boot create", &r->cold.wall);
	print_row("  server: total", &r->cold.stage[STAGE_TOTAL]);
	printf("\npercentiles: nearest rank on the sorted samples, pXX = the ceil(XX*n/100)-th "
	       "smallest\n(a measured value; with n < 100, p99 is the max)\n");
	print_targets(r);
}

/* ---- JSON --------------------------------------------------------------- */

static json_t *samples_json(const struct samples *s)
{
	struct summary m = samples_summary(s);
	json_t *raw = json_array();
	for (size_t i = 0; i < s->n; i++)
		json_array_append_new(raw, json_real(s->v[i]));
	if (!m.n)
		return json_pack("{s:i,s:o}", "n", 0, "samples", raw);
	return json_pack("{s:i,s:f,s:f,s:f,s:f,s:f,s:o}", "n", (int)m.n, "p50", m.p50, "p90", m.p90,
			 "p99", m.p99, "min", m.min, "max", m.max, "samples", raw);
}

static json_t *series_json(const struct series *s)
{
	json_t *stages = json_object();
	for (size_t i = 0; i < N_STAGES; i++)
		json_object_set_new(stages, stage_names[i], samples_json(&s->stage[i]));
	return json_pack("{s:o,s:o}", "wall", samples_json(&s->wall), "stages", stages);
}

static json_t *targets_json(const struct results *r)
{
	struct target t[N_TARGETS];
	targets_compute(r, t);
	json_t *arr = json_array();
	for (int i = 0; i < N_TARGETS; i++)
		json_array_append_new(arr,
				      json_pack("{s:s,s:o,s:f,s:b}", "name", t[i].name, "value",
						t[i].known ? json_real(t[i].value) : json_null(),
						"limit", t[i].limit, "pass", target_pass(&t[i])));
	return arr;
}

static json_t *host_json(const struct bench *b)
{
	struct utsname u;
	double load[3] = { 0 };
	int have_uname = uname(&u) == 0, have_load = getloadavg(load, 3) == 3;
	return json_pack("{s:i,s:s?,s:o,s:s,s:O?}", "nproc", (int)sysconf(_SC_NPROCESSORS_ONLN),
			 "kernel", have_uname ? u.release : NULL, "loadavg",
			 have_load ? json_pack("[f,f,f]", load[0], load[1], load[2]) : json_null(),
			 "api_url", b->url, "thawd_info", b->info);
}

static json_t *results_json(const struct bench *b)
{
	const struct results *r = &b->r;
	json_t *conc = series_json(&r->conc);
	json_object_set_new(conc, "creates_per_s",
			    json_real(r->conc_s > 0 ? (double)r->conc.wall.n / r->conc_s : 0.0));
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:f,s:f,s:f,s:f}", "warmup",
			 series_json(&r->warm), "create_no_pools", series_json(&r->seq_nopool),
			 "create_pools_back_to_back", series_json(&r->seq), "create_paced",
			 series_json(&r->paced), "create_concurrent", conc, "delete_sequential",
			 samples_json(&r->del), "exec_true", samples_json(&r->exec), "first_exec",
			 samples_json(&r->first_exec), "cold_boot", series_json(&r->cold),
			 "targets", targets_json(r), "ratio_cold_create_p50", ratio_of(r),
			 "sequential_no_pools_s", r->seq_nopool_s, "sequential_s", r->seq_s,
			 "concurrent_s", r->conc_s);
}

static int write_json(const struct bench *b, const char *path)
{
	char when[32];
	time_t now = time(NULL);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	json_t *doc = json_pack(
		"{s:i,s:s,s:s,s:s?,s:s?,s:{s:i,s:i,s:i,s:i,s:i},s:o,s:b,s:i,s:s,s:o}", "format", 1,
		"finished_at", when, "tag", b->tag, "template", b->template_name, "build_id",
		b->build_id, "params", "warmup", WARMUP_CREATES, "n", b->cfg.n, "k", b->cfg.k,
		"cold", b->cfg.cold, "exec", b->cfg.exec, "host", host_json(b), "interrupted",
		(int)g_stop, "errors", g_errors, "percentiles",
		"nearest rank: sorted[ceil(p*n/100)-1]", "results", results_json(b));
	int rc = json_dump_file(doc, path, JSON_INDENT(1) | JSON_SORT_KEYS);
	json_decref(doc);
	if (rc < 0)
		fprintf(stderr, PROG ": writing %s failed: %s\n", path, strerror(errno));
	return rc;
}

/* ---- setup -------------------------------------------------------------- */

/* Lists the templates: checks the key before anything is created, and
 * that a template asked for by name is ready. */
static int check_template(const struct bench *b)
{
	thaw_template **list = NULL;
	size_t n = 0;
	thaw_error *e = NULL;
	if (thaw_template_list(b->client, &list, &n, &e) < 0)
		return fail("listing the templates at", b->url, e);
	const char *want = b->cfg.template_name, *status = NULL;
	for (size_t i = 0; want && i < n; i++)
		if (!strcmp(list[i]->name, want))
			status = list[i]->status;
	char msg[200] = "";
	if (want && !status)
		snprintf(msg, sizeof(msg), "thawd has no template %s", want);
	else if (want && strcmp(status, "ready"))
		snprintf(msg, sizeof(msg), "template %s is %s, not ready (bake it: thaw bake %s)",
			 want, status, want);
	thaw_template_list_free(list, n);
	return *msg ? fail_msg("checking the template", msg) : 0;
}

static int bench_init(struct bench *b)
{
	snprintf(b->tag, sizeof(b->tag), "%d-%ld", (int)getpid(), (long)time(NULL));
	snprintf(b->metadata, sizeof(b->metadata), "{\"thaw_bench\":\"%s\"}", b->tag);
	pthread_mutex_init(&b->lock, NULL);
	b->client = client_new(b);
	if (!b->client)
		return -1;
	b->url = thaw_client_url(b->client);
	thaw_error *e = NULL;
	if (thaw_health(b->client, &e) < 0)
		return fail("health check of thawd at", b->url, e);
	if (check_template(b) < 0)
		return -1;
	char *info = NULL;
	if (thaw_info(b->client, &info, &e) < 0) {
		fprintf(stderr, PROG ": GET /v1/info failed (going on without it): %s\n",
			thaw_error_message(e));
		thaw_error_free(e);
		return 0;
	}
	b->info = json_loads(info, 0, NULL);
	free(info);
	return 0;
}

static void bench_free(struct bench *b)
{
	series_free(&b->r.warm);
	series_free(&b->r.seq);
	series_free(&b->r.seq_nopool);
	series_free(&b->r.conc);
	series_free(&b->r.cold);
	series_free(&b->r.paced);
	free(b->r.del.v);
	free(b->r.exec.v);
	free(b->r.first_exec.v);
	json_decref(b->info);
	free(b->template_name);
	free(b->build_id);
	thaw_client_free(b->client);
	pthread_mutex_destroy(&b->lock);
}

/* Progress goes to stderr, the report to stdout. */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (!g_stop)
		vfprintf(stderr, fmt, ap);
	va_end(ap);
}

static void run_phases(struct bench *b)
{
	say("sequential without pools: %d creates...\n", b->cfg.n);
	phase_sequential(b, NO_POOLS);
	say("sequential with warm pools: %d creates...\n", b->cfg.n);
	phase_sequential(b, WITH_POOLS);
	say("paced: %d creates, %d ms apart...\n", b->cfg.paced, b->cfg.pace_ms);
	phase_paced(b);
	say("concurrent: %d creates...\n", b->cfg.n);
	phase_concurrent(b);
	say("exec: %d execs of true...\n", b->cfg.exec);
	phase_exec(b);
	say("cold boot: %d creates (seconds each)...\n", b->cfg.cold);
	phase_cold(b);
}

/* 0: done, targets met or not (unless --strict); 1: a call failed, a
 * sandbox was left behind, or --strict and a target missed; 2: usage;
 * 130: interrupted. */
static int exit_status(const struct bench *b, int left)
{
	struct target t[N_TARGETS];
	targets_compute(&b->r, t);
	bool missed = false;
	for (int i = 0; i < N_TARGETS; i++)
		missed |= !target_pass(&t[i]);
	if (g_stop)
		return 130;
	return g_errors || left || (b->cfg.strict && missed) ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct bench b = { 0 };
	int rc = config_parse(argc, argv, &b.cfg);
	if (rc)
		return rc > 0 ? 0 : 2;
	signals_install();
	if (bench_init(&b) < 0) {
		bench_free(&b);
		return 1;
	}
	say("warm-up: %d creates...\n", WARMUP_CREATES);
	bool warm = phase_warmup(&b) == 0;
	if (warm)
		run_phases(&b);
	int left = sweep(&b);
	if (warm)
		print_report(&b);
	else
		fprintf(stderr, PROG ": the warm-up failed; no measurement was made\n");
	if (warm && b.cfg.json_path && write_json(&b, b.cfg.json_path) == 0)
		fprintf(stderr, "wrote %s\n", b.cfg.json_path);
	rc = warm ? exit_status(&b, left) : 1;
	bench_free(&b);
	return rc;
}
