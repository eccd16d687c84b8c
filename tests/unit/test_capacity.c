/* src/thawd/core/capacity.c: admission by the host's real memory (this
 * machine's /proc/meminfo), the cap derived from it, and the weighing of
 * a process. Costs are chosen as fractions of what is available now, so
 * the outcome does not depend on the machine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/capacity.h"
#include "core/quota.h"

static struct capacity *with_cost(uint64_t per_sandbox, uint64_t reserve, unsigned bound)
{
	struct capacity_conf cc = { .reserve_bytes = reserve,
				    .per_sandbox_bytes = per_sandbox,
				    .estimate_bytes = 32ull << 20,
				    .other_bound = bound };
	return capacity_new(&cc);
}

static void test_meminfo_is_read(void **state)
{
	(void)state;
	uint64_t total = mem_total_bytes(), avail = mem_available_bytes();
	assert_true(total > (64ull << 20));
	assert_true(avail > 0 && avail <= total);
}

/* Admitted operations hold their cost aside until the kernel shows it:
 * a burst of creates cannot all see the same free memory. */
static void test_admissions_in_a_burst_add_up(void **state)
{
	(void)state;
	uint64_t avail = mem_available_bytes();
	/* Room for three at a third less a margin each; the fourth does not fit. */
	struct capacity *c = with_cost(avail / 7 * 2, 0, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(capacity_admit(c, 1, NULL), 0);
	struct thaw_err *e = NULL;
	assert_int_equal(capacity_admit(c, 1, &e), -1);
	assert_int_equal(e->code, ERR_UNAVAILABLE);
	assert_non_null(strstr(e->msg, "--memory-reserve"));
	assert_non_null(strstr(e->msg, "promised to operations starting now"));
	err_free(e);
	struct capacity_stats st;
	capacity_stats(c, &st);
	assert_int_equal(st.refused, 1);
	assert_true(st.pending_bytes >= 3 * (avail / 7 * 2) - 1);
	assert_string_equal(st.per_sandbox_source, "option");
	capacity_free(c);
}

/* A fork of N needs room for N at once; the reserve is kept. */
static void test_count_and_reserve_are_honoured(void **state)
{
	(void)state;
	uint64_t avail = mem_available_bytes();
	struct capacity *c = with_cost(avail / 4, 0, 0);
	assert_int_equal(capacity_admit(c, 5, NULL), -1);
	assert_int_equal(capacity_admit(c, 0, NULL), 0);
	capacity_free(c);
	c = with_cost(1 << 20, avail, 0); /* a reserve of everything */
	assert_int_equal(capacity_admit(c, 1, NULL), -1);
	capacity_free(c);
}

/* The default cap: total less the reserve over the cost, within the
 * other bounds, never 0. */
static void test_max_sandboxes_follows_memory_and_bounds(void **state)
{
	(void)state;
	uint64_t total = mem_total_bytes();
	struct capacity *c = with_cost(total / 10, 0, 0);
	assert_int_equal(capacity_max_sandboxes(c), 10);
	capacity_free(c);
	c = with_cost(total / 10, total / 2, 0);
	assert_int_equal(capacity_max_sandboxes(c), 5);
	capacity_free(c);
	c = with_cost(1 << 20, 0, 7);
	assert_int_equal(capacity_max_sandboxes(c), 7);
	capacity_free(c);
	c = with_cost(total * 2, 0, 0);
	assert_int_equal(capacity_max_sandboxes(c), 1);
	capacity_free(c);
}

/* Unmeasured, the estimate; then the mean of what was weighed. */
static void test_cost_is_measured_from_processes(void **state)
{
	(void)state;
	struct capacity *c = with_cost(0, 0, 0);
	struct capacity_stats st;
	capacity_stats(c, &st);
	assert_string_equal(st.per_sandbox_source, "estimate");
	assert_true(st.per_sandbox_bytes == 32ull << 20);
	/* This test program's own anonymous memory: a heap, a stack. */
	volatile char *touched = malloc(8 << 20);
	for (size_t i = 0; i < (8u << 20); i += 4096)
		touched[i] = 1;
	uint64_t mine = process_private_bytes(getpid());
	assert_true(mine >= (8u << 20));
	capacity_observe(c, getpid());
	capacity_observe(c, 999999999); /* no such process: ignored */
	capacity_stats(c, &st);
	assert_string_equal(st.per_sandbox_source, "measured");
	assert_int_equal(st.measured_vmms, 1);
	assert_true(st.per_sandbox_bytes >= (8u << 20));
	free((void *)touched);
	capacity_free(c);
}

/* Through the quota: a memory refusal takes no place. */
static void test_quota_admits_by_memory_last(void **state)
{
	(void)state;
	struct capacity *c = with_cost(mem_available_bytes() * 2, 0, 0);
	struct quota *q = quota_new(10, c);
	struct thaw_err *e = NULL;
	assert_int_equal(quota_reserve(q, "alice", 0, 1, 1, &e), -1);
	assert_int_equal(e->code, ERR_UNAVAILABLE);
	err_free(e);
	assert_int_equal(quota_live(q), 0);
	assert_int_equal(quota_owned(q, "alice"), 0);
	/* Paused sandboxes (no VM) need no memory. */
	assert_int_equal(quota_reserve(q, "alice", 0, 1, 0, NULL), 0);
	assert_int_equal(quota_host_max(q), 10);
	quota_free(q);
	capacity_free(c);
	c = with_cost(mem_total_bytes() / 3, 0, 0);
	q = quota_new(0, c);
	assert_int_equal(quota_host_max(q), 3);
	quota_free(q);
	capacity_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_meminfo_is_read),
		cmocka_unit_test(test_admissions_in_a_burst_add_up),
		cmocka_unit_test(test_count_and_reserve_are_honoured),
		cmocka_unit_test(test_max_sandboxes_follows_memory_and_bounds),
		cmocka_unit_test(test_cost_is_measured_from_processes),
		cmocka_unit_test(test_quota_admits_by_memory_last),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
