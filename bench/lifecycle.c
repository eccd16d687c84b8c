/* thaw-bench-lifecycle: fork, pause/resume and create from a snapshot
 * template, through the HTTP API (libthaw), against creates from the baked
 * template measured in the same run. bench/README.md explains the output.
 *
 * Sandboxes carry a server-side timeout so that a benchmark that dies
 * leaves nothing for long; the snapshot template it makes is deleted at
 * the end, and one left by a killed run is replaced at the next. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "percentile.h"
#include "thaw.h"

#define PROG "thaw-bench-lifecycle"
#define SANDBOX_TIMEOUT_S 900
#define MAX_SAMPLES 256
#define SNAP_TEMPLATE "bench-lifecycle-snap"
/* What "a sandbox that has touched 100 MB" does: 100 MiB of random bytes
 * in tmpfs, which is guest RAM. */
#define TOUCH_100MB "head -c 104857600 /dev/urandom > /dev/shm/touched && echo ok"

struct samples {
	double v[MAX_SAMPLES];
	size_t n;
};

struct row {
	const char *label;
	struct samples s;
};

enum {
	R_CREATE,	 /* from the baked template, warm pools */
	R_CREATE_SNAP,	 /* from the snapshot template, warm pools */
	R_CREATE_NOPOOL, /* from the baked template, no warm pools */
	R_FORK1,
	R_FORK4,
	R_PAUSE_FRESH,
	R_RESUME_FRESH,
	R_PAUSE_100,
	R_RESUME_100,
	R_SNAPSHOT,
	N_ROWS
};

static struct row rows[N_ROWS] = {
	[R_CREATE] = { "create (baked template)" },
	[R_CREATE_SNAP] = { "create (snapshot template)" },
	[R_CREATE_NOPOOL] = { "create (baked, no warm pools)" },
	[R_FORK1] = { "fork count=1 (100 MB touched)" },
	[R_FORK4] = { "fork count=4 (100 MB touched)" },
	[R_PAUSE_FRESH] = { "pause (fresh sandbox)" },
	[R_RESUME_FRESH] = { "resume (fresh sandbox)" },
	[R_PAUSE_100] = { "pause (100 MB touched)" },
	[R_RESUME_100] = { "resume (100 MB touched)" },
	[R_SNAPSHOT] = { "snapshot to a template" },
};

static int g_errors;
static thaw_client *g_client;
static int g_rounds = 10, g_creates = 20, g_pace_ms = 400;
static const char *g_template = "code-interpreter";

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void pace(void)
{
	struct timespec ts = { g_pace_ms / 1000, (long)(g_pace_ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void add(int r, double ms)
{
	if (rows[r].s.n < MAX_SAMPLES)
		rows[r].s.v[rows[r].s.n++] = ms;
}

static int fail(const char *what, thaw_error *e)
{
	g_errors++;
	fprintf(stderr, PROG ": %s failed [%s]: %s\n", what, thaw_error_code(e),
		thaw_error_message(e));
	thaw_error_free(e);
	return -1;
}

static thaw_sandbox *create(const char *tmpl, bool no_pools, double *ms)
{
	thaw_create_options o = { .template_name = tmpl,
				  .timeout_s = SANDBOX_TIMEOUT_S,
				  .no_pools = no_pools,
				  .metadata_json = "{\"thaw_bench\":\"lifecycle\"}" };
	thaw_sandbox *sb = NULL;
	thaw_error *e = NULL;
	double t0 = now_ms();
	if (thaw_sandbox_create(g_client, &o, &sb, &e) < 0) {
		fail("create", e);
		return NULL;
	}
	if (ms)
		*ms = now_ms() - t0;
	return sb;
}

static void drop(thaw_sandbox *sb)
{
	if (!sb)
		return;
	thaw_error *e = NULL;
	if (thaw_sandbox_delete(g_client, sb->id, &e) < 0)
		fail("delete", e);
	thaw_sandbox_free(sb);
}

static int sh(const char *id, const char *script)
{
	thaw_exec_options o = { .shell = script, .timeout_s = 120 };
	thaw_exec_result *r = NULL;
	thaw_error *e = NULL;
	if (thaw_sandbox_exec(g_client, id, &o, &r, &e) < 0)
		return fail("exec", e);
	int rc = r->exit_code;
	if (rc != 0) {
		g_errors++;
		fprintf(stderr, PROG ": `%s` exited %d: %.*s\n", script, rc, (int)r->stderr_len,
			r->stderr_data);
	}
	thaw_exec_result_free(r);
	return rc == 0 ? 0 : -1;
}

/* Creates from the baked and the snapshot template in turn, so that both
 * see the same machine load; then without pools, the work resume does. */
static void phase_creates(bool have_snap)
{
	for (int i = 0; i < g_creates; i++) {
		double ms;
		pace();
		thaw_sandbox *sb = create(g_template, false, &ms);
		if (sb)
			add(R_CREATE, ms);
		drop(sb);
		if (!have_snap)
			continue;
		pace();
		sb = create(SNAP_TEMPLATE, false, &ms);
		if (sb)
			add(R_CREATE_SNAP, ms);
		drop(sb);
	}
	for (int i = 0; i < g_creates / 2; i++) {
		double ms;
		pace();
		thaw_sandbox *sb = create(g_template, true, &ms);
		if (sb)
			add(R_CREATE_NOPOOL, ms);
		drop(sb);
	}
}

/* A sandbox with 100 MB of its own memory, snapshotted into the template
 * the create phase uses; the old one from a killed run goes first. */
static bool phase_snapshot(void)
{
	thaw_template_delete(g_client, SNAP_TEMPLATE, NULL);
	thaw_sandbox *sb = create(g_template, false, NULL);
	if (!sb || sh(sb->id, "echo ready > /root/snapshot-marker") < 0) {
		drop(sb);
		return false;
	}
	thaw_error *e = NULL;
	double t0 = now_ms();
	bool ok = thaw_sandbox_snapshot(g_client, sb->id, SNAP_TEMPLATE, NULL, &e) == 0;
	if (ok)
		add(R_SNAPSHOT, now_ms() - t0);
	else
		fail("snapshot", e);
	drop(sb);
	return ok;
}

static void fork_rounds(const char *parent, int count, int row, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		pace();
		thaw_sandbox **kids = NULL;
		size_t n = 0;
		thaw_error *e = NULL;
		double t0 = now_ms();
		if (thaw_sandbox_fork(g_client, parent, count, &kids, &n, &e) < 0) {
			fail("fork", e);
			continue;
		}
		add(row, now_ms() - t0);
		for (size_t k = 0; k < n; k++) {
			thaw_error *de = NULL;
			if (thaw_sandbox_delete(g_client, kids[k]->id, &de) < 0)
				fail("delete child", de);
		}
		thaw_sandbox_list_free(kids, n);
	}
}

static void phase_fork(void)
{
	thaw_sandbox *parent = create(g_template, false, NULL);
	if (!parent || sh(parent->id, TOUCH_100MB) < 0) {
		drop(parent);
		return;
	}
	fork_rounds(parent->id, 1, R_FORK1, g_rounds);
	fork_rounds(parent->id, 4, R_FORK4, g_rounds / 2 ? g_rounds / 2 : 1);
	drop(parent);
}

static void pause_rounds(bool touch, int pause_row, int resume_row)
{
	thaw_sandbox *sb = create(g_template, false, NULL);
	if (!sb || (touch && sh(sb->id, TOUCH_100MB) < 0)) {
		drop(sb);
		return;
	}
	for (int i = 0; i < g_rounds; i++) {
		pace();
		thaw_error *e = NULL;
		double t0 = now_ms();
		if (thaw_sandbox_pause(g_client, sb->id, NULL, &e) < 0) {
			fail("pause", e);
			break;
		}
		add(pause_row, now_ms() - t0);
		pace();
		t0 = now_ms();
		if (thaw_sandbox_resume(g_client, sb->id, NULL, &e) < 0) {
			fail("resume", e);
			break;
		}
		add(resume_row, now_ms() - t0);
		/* It must be whole, not just answering. */
		if (touch && sh(sb->id, "test $(stat -c %s /dev/shm/touched) = 104857600") < 0)
			break;
	}
	drop(sb);
}

struct summary {
	double p50, p99;
};

static struct summary summarize(int r)
{
	struct samples c = rows[r].s;
	return (struct summary){ percentile(c.v, c.n, 50), percentile(c.v, c.n, 99) };
}

static int target(const char *what, double got, double limit, const char *unit)
{
	bool ok = got > 0 && got <= limit;
	printf("  %-52s %8.1f <= %-8.1f %-3s %s\n", what, got, limit, unit, ok ? "PASS" : "MISS");
	return ok ? 0 : 1;
}

static int report(void)
{
	printf("\n%-34s %5s %9s %9s\n", "milliseconds (client wall time)", "n", "p50", "p99");
	for (int r = 0; r < N_ROWS; r++) {
		if (!rows[r].s.n)
			continue;
		struct summary s = summarize(r);
		printf("%-34s %5zu %9.1f %9.1f\n", rows[r].label, rows[r].s.n, s.p50, s.p99);
	}
	double create = summarize(R_CREATE).p50, snap = summarize(R_CREATE_SNAP).p50,
	       nopool = summarize(R_CREATE_NOPOOL).p50, resume = summarize(R_RESUME_FRESH).p50;
	printf("\nratios (p50): snapshot-template create / baked create %.2f; resume / create "
	       "%.1f; resume / create without pools %.2f\n",
	       snap / create, resume / create, resume / nopool);
	printf("\ntargets:\n");
	int missed = 0;
	missed += target("fork count=1 p50", summarize(R_FORK1).p50, 400, "ms");
	missed += target("pause p50 (100 MB touched)", summarize(R_PAUSE_100).p50, 300, "ms");
	missed += target("resume p50 / create p50", resume / create, 2.0, "x");
	missed += target("resume p50 / create p50 without pools", resume / nopool, 2.0, "x");
	missed +=
		target("snapshot-template create p50 / baked create p50", snap / create, 1.2, "x");
	return missed;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " [--template T] [--rounds 10] [--creates 20] [--pace-ms 400]"
		   " [--strict]\n"
		   "Talks to thawd at $THAW_API_URL with $THAW_API_KEY (libthaw's defaults).\n");
}

int main(int argc, char **argv)
{
	bool strict = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;
		if (!strcmp(a, "--strict"))
			strict = true;
		else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--template") && v)
			g_template = argv[++i];
		else if (!strcmp(a, "--rounds") && v)
			bad = parse_int(argv[++i], 1, MAX_SAMPLES, &g_rounds);
		else if (!strcmp(a, "--creates") && v)
			bad = parse_int(argv[++i], 1, MAX_SAMPLES, &g_creates);
		else if (!strcmp(a, "--pace-ms") && v)
			bad = parse_int(argv[++i], 0, 60000, &g_pace_ms);
		else
			bad = -1;
		if (bad) {
			fprintf(stderr, PROG ": bad argument '%s'\n", a);
			usage(stderr);
			return 2;
		}
	}
	thaw_client_options co = { .timeout_ms = 300000 };
	thaw_error *e = NULL;
	if (thaw_client_new(&co, &g_client, &e) < 0 || thaw_health(g_client, &e) < 0)
		return fail("connecting to thawd", e) < 0 ? 1 : 1;
	printf(PROG ": template %s, %d rounds, %d creates each, %d ms between calls\n", g_template,
	       g_rounds, g_creates, g_pace_ms);
	fflush(stdout);
	bool snap = phase_snapshot();
	phase_fork();
	pause_rounds(false, R_PAUSE_FRESH, R_RESUME_FRESH);
	pause_rounds(true, R_PAUSE_100, R_RESUME_100);
	phase_creates(snap);
	if (snap && thaw_template_delete(g_client, SNAP_TEMPLATE, &e) < 0)
		fail("deleting the snapshot template", e);
	int missed = report();
	printf("\nerrors: %d\n", g_errors);
	thaw_client_free(g_client);
	if (g_errors)
		return 1;
	return strict && missed ? 1 : 0;
}
