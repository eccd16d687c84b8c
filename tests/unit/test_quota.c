/* src/thawd/core/quota.c: reservations against the per-key and per-host
 * caps, including from many threads at once. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/quota.h"

/* The reservation is refused with ERR_LIMIT and a message. */
static void refused(struct quota *q, const char *owner, unsigned owner_max, unsigned sandboxes,
		    unsigned live, const char *mentions)
{
	struct thaw_err *e = NULL;
	assert_int_equal(quota_reserve(q, owner, owner_max, sandboxes, live, &e), -1);
	assert_non_null(e);
	assert_int_equal(e->code, ERR_LIMIT);
	if (!strstr(e->msg, mentions))
		fail_msg("error \"%s\" does not mention \"%s\"", e->msg, mentions);
	err_free(e);
}

static void test_owner_cap_counts_reservations(void **state)
{
	(void)state;
	struct quota *q = quota_new(100, NULL);
	struct thaw_err *e = NULL;
	assert_int_equal(quota_reserve(q, "alice", 3, 1, 1, &e), 0);
	assert_int_equal(quota_reserve(q, "alice", 3, 2, 2, &e), 0);
	refused(q, "alice", 3, 1, 1, "max_sandboxes of 3");
	/* Another key has its own count. */
	assert_int_equal(quota_reserve(q, "bob", 3, 3, 3, &e), 0);
	assert_int_equal(quota_owned(q, "alice"), 3);
	assert_int_equal(quota_live(q), 6);
	/* A failed create gives its place back. */
	quota_release(q, "alice", 1, 1);
	assert_int_equal(quota_reserve(q, "alice", 3, 1, 1, &e), 0);
	/* A pause keeps the owner's place but frees the host's. */
	quota_release(q, "alice", 0, 1);
	assert_int_equal(quota_owned(q, "alice"), 3);
	assert_int_equal(quota_live(q), 5);
	refused(q, "alice", 3, 1, 1, "key alice has 3 sandboxes");
	quota_free(q);
}

static void test_host_cap_and_fork_of_n(void **state)
{
	(void)state;
	struct quota *q = quota_new(4, NULL);
	struct thaw_err *e = NULL;
	assert_int_equal(quota_reserve(q, "a", 0, 2, 2, &e), 0);
	/* A fork of 3 needs 3 places: all or none. */
	refused(q, "a", 0, 3, 3, "--max-sandboxes of 4");
	assert_int_equal(quota_live(q), 2);
	assert_int_equal(quota_owned(q, "a"), 2);
	assert_int_equal(quota_reserve(q, "b", 0, 2, 2, &e), 0);
	/* A resume needs a VM only. */
	refused(q, "a", 0, 0, 1, "this host runs 4 sandboxes");
	quota_release(q, "b", 1, 1);
	assert_int_equal(quota_reserve(q, "a", 0, 0, 1, &e), 0);
	/* Counting what exists ignores the caps; releases never wrap. */
	quota_count(q, "c", 5, 5);
	assert_int_equal(quota_live(q), 9);
	quota_release(q, "d", 3, 20);
	assert_int_equal(quota_owned(q, "d"), 0);
	assert_int_equal(quota_live(q), 0);
	quota_free(q);
}

struct racer {
	struct quota *q;
	const char *owner;
	unsigned owner_max;
	int won;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	for (int i = 0; i < 200; i++) {
		struct thaw_err *e = NULL;
		if (quota_reserve(r->q, r->owner, r->owner_max, 1, 1, &e) == 0)
			r->won++;
		err_free(e);
	}
	return NULL;
}

/* Many threads at once never pass a cap: exactly the cap wins. */
static void test_concurrent_reservations_never_overshoot(void **state)
{
	(void)state;
	struct quota *q = quota_new(50, NULL);
	struct racer r[8];
	pthread_t t[8];
	for (int i = 0; i < 8; i++) {
		r[i] = (struct racer){ .q = q, .owner = i < 4 ? "x" : "y", .owner_max = 20 };
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	int x = 0, y = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		*(i < 4 ? &x : &y) += r[i].won;
	}
	assert_int_equal(x, 20);
	assert_int_equal(y, 20);
	assert_int_equal(quota_live(q), 40);
	quota_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owner_cap_counts_reservations),
		cmocka_unit_test(test_host_cap_and_fork_of_n),
		cmocka_unit_test(test_concurrent_reservations_never_overshoot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
