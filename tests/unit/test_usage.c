/* src/thawd/core/usage.c: the usage table over a registry of stand-in
 * sandboxes (this process as their VMM, lo as their slot's host end, a
 * sparse file as their disk; no cgroups): a running sandbox gets a point
 * per round, a paused one none and keeps its ring, one that leaves the
 * registry loses its ring, a new id starts empty. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "core/host.h"
#include "core/registry.h"
#include "core/sandbox.h"
#include "core/usage.h"
#include "fsutil.h"
#include "net/slot.h"

struct fixture {
	char dir[64];
	struct thawd_config cfg;
	struct host h;
	struct usage_table *u;
};

static void add(struct fixture *f, const char *id)
{
	struct sandbox *sb = sandbox_new(&f->h, id);
	sb->state = SB_RUNNING;
	sb->vmm = xcalloc(1, sizeof(*sb->vmm));
	sb->vmm->pid = getpid();
	sb->vmm->pidfd = -1;
	sb->slot = xcalloc(1, sizeof(*sb->slot));
	snprintf(sb->slot->veth, sizeof(sb->slot->veth), "lo");
	assert_int_equal(fs_mkdir_p(sb->dir, 0700, NULL), 0);
	char *disk = xasprintf("%s/rootfs.img", sb->dir);
	int fd = open(disk, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 30), 0);
	assert_int_equal(pwrite(fd, "x", 1, 4096), 1);
	close(fd);
	free(disk);
	registry_add(&f->h, sb);
	sandbox_unref(&f->h, sb);
}

/* Drops the stand-ins (no driver, no namespace behind them) and the
 * registry's reference. */
static void drop(struct fixture *f, const char *id)
{
	struct sandbox *sb = registry_get(&f->h, id);
	assert_non_null(sb);
	free(sb->vmm);
	free(sb->slot);
	sb->vmm = NULL;
	sb->slot = NULL;
	sandbox_unref(&f->h, sb);
	registry_remove(&f->h, id);
}

static void set_state(struct fixture *f, const char *id, enum sb_state s)
{
	struct sandbox *sb = registry_get(&f->h, id);
	pthread_mutex_lock(&sb->lock);
	sb->state = s;
	pthread_mutex_unlock(&sb->lock);
	sandbox_unref(&f->h, sb);
}

static size_t count(struct fixture *f, const char *id)
{
	size_t n;
	free(usage_query(f->u, id, 0, INT64_MAX, &n));
	return n;
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/thaw-unit-usage-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->cfg.data_dir = f->dir;
	f->h.cfg = &f->cfg;
	f->h.sandboxes_dir = f->dir;
	f->h.reg = registry_new();
	snprintf(f->h.ns_prefix, sizeof(f->h.ns_prefix), "thaw-unit-");
	snprintf(f->h.if_prefix, sizeof(f->h.if_prefix), "lo");
	add(f, "sb-aaaaaaaaaaaa");
	add(f, "sb-bbbbbbbbbbbb");
	/* An hour between the thread's rounds: after its first (at start),
	 * only the test's own rounds run. */
	assert_int_equal(usage_start(&f->h, 3600, 3600 * 4, &f->u, NULL), 0);
	for (int i = 0; i < 5000 && count(f, "sb-bbbbbbbbbbbb") == 0; i++)
		usleep(1000);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	usage_stop(f->u);
	size_t n;
	struct sandbox **list = registry_list(&f->h, &n);
	for (size_t i = 0; i < n; i++) {
		free(list[i]->vmm);
		free(list[i]->slot);
		list[i]->vmm = NULL;
		list[i]->slot = NULL;
	}
	registry_list_free(&f->h, list, n);
	registry_free(&f->h, f->h.reg);
	fs_rm_rf(f->dir, NULL);
	free(f);
	return 0;
}

static void test_running_paused_deleted_and_new(void **state)
{
	struct fixture *f = *state;
	const char *a = "sb-aaaaaaaaaaaa", *b = "sb-bbbbbbbbbbbb", *c = "sb-cccccccccccc";
	assert_int_equal(usage_interval_s(f->u), 3600);
	assert_int_equal(usage_window_s(f->u), 3600 * 4);
	size_t a0 = count(f, a), b0 = count(f, b);
	assert_true(a0 >= 1 && b0 >= 1);
	assert_int_equal(usage_sample_round(f->u), 2);
	assert_int_equal(count(f, a), a0 + 1);

	/* The points say what was read: this process's memory, the file's
	 * size and blocks, a vCPU (no catalog: one). */
	size_t n;
	struct usage_point *p = usage_query(f->u, a, 0, INT64_MAX, &n);
	assert_non_null(p);
	assert_true(p[n - 1].mem_used > 0);
	assert_int_equal(p[n - 1].disk_total, 1u << 30);
	assert_true(p[n - 1].disk_used >= 4096 && p[n - 1].disk_used < (1u << 20));
	assert_int_equal(p[n - 1].cpu_count, 1);
	assert_true(p[n - 1].cpu_used_pct >= 0 && p[n - 1].cpu_used_pct <= 100);
	free(p);

	/* Paused: no points, its ring kept. */
	set_state(f, b, SB_PAUSED);
	size_t b1 = count(f, b);
	assert_int_equal(usage_sample_round(f->u), 1);
	assert_int_equal(usage_sample_round(f->u), 1);
	assert_int_equal(count(f, b), b1);
	set_state(f, b, SB_RUNNING);
	usage_sample_round(f->u);
	assert_int_equal(count(f, b), b1 + 1);

	/* Gone from the registry: its ring goes at the next round. */
	size_t before = usage_bytes(f->u);
	drop(f, a);
	usage_sample_round(f->u);
	assert_int_equal(count(f, a), 0);
	assert_true(usage_bytes(f->u) < before);

	/* A new id (a fork child) starts empty: its first round gives one. */
	add(f, c);
	assert_int_equal(count(f, c), 0);
	usage_sample_round(f->u);
	assert_int_equal(count(f, c), 1);
	/* The window holds 4 points: older ones go. */
	for (int i = 0; i < 6; i++)
		usage_sample_round(f->u);
	assert_int_equal(count(f, c), 4);
}

/* Hundreds of ids added and removed in no order: each keeps its own ring
 * (the table is kept sorted by id for its lookups). */
static void test_many_ids_in_any_order(void **state)
{
	struct fixture *f = *state;
	enum { N = 300 };
	char ids[N][SANDBOX_ID_LEN + 1];
	for (unsigned i = 0; i < N; i++)
		snprintf(ids[i], sizeof(ids[i]), "sb-%012u", (i * 7919u) % N);
	for (unsigned i = 0; i < N; i++)
		add(f, ids[i]);
	/* setup's two stand-ins count too */
	assert_int_equal(usage_sample_round(f->u), N + 2);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(count(f, ids[i]), 1);
	for (unsigned i = 0; i < N; i += 3)
		drop(f, ids[i]);
	usage_sample_round(f->u);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(count(f, ids[i]), i % 3 ? 2 : 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_running_paused_deleted_and_new, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_many_ids_in_any_order, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
