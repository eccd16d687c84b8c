/* src/thawd/core/idempotency.c: the Idempotency-Key table (a key's
 * sandbox, waiting on a key in flight, forgetting, restoring at start,
 * the bound) with many keys and several threads. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/idempotency.h"

static void made(struct idem_table *t, const char *owner, const char *key, const char *id)
{
	char got[SANDBOX_ID_LEN + 1];
	assert_int_equal(idem_begin(t, owner, key, 0, got), 0);
	idem_end(t, owner, key, id);
}

/* 1 and the id when the key made it; 0 (and the key now held, then
 * given back) when not. */
static int known(struct idem_table *t, const char *owner, const char *key, char *id)
{
	int rc = idem_begin(t, owner, key, 0, id);
	if (rc == 0)
		idem_end(t, owner, key, NULL);
	return rc;
}

static void test_a_key_names_its_sandbox_per_owner(void **state)
{
	(void)state;
	struct idem_table *t = idem_new(100);
	char id[SANDBOX_ID_LEN + 1], fresh[SANDBOX_ID_LEN + 1];
	id_new_sandbox(fresh);
	made(t, "alice", "k1", fresh);
	assert_int_equal(known(t, "alice", "k1", id), 1);
	assert_string_equal(id, fresh);
	/* Another owner's same key, a failed create: nothing. */
	assert_int_equal(known(t, "bob", "k1", id), 0);
	assert_int_equal(idem_begin(t, "alice", "k2", 0, id), 0);
	idem_end(t, "alice", "k2", NULL);
	assert_int_equal(known(t, "alice", "k2", id), 0);
	/* Forgotten (its sandbox was deleted): creates again. */
	idem_forget(t, "alice", "k1");
	assert_int_equal(known(t, "alice", "k1", id), 0);
	assert_int_equal(idem_count(t), 0);
	idem_free(t);
}

struct waiter {
	struct idem_table *t;
	int wait_ms, rc;
	char id[SANDBOX_ID_LEN + 1];
};

static void *wait_for_key(void *arg)
{
	struct waiter *w = arg;
	w->rc = idem_begin(w->t, "alice", "busy", w->wait_ms, w->id);
	if (w->rc == 0)
		idem_end(w->t, "alice", "busy", NULL);
	return NULL;
}

static void test_a_key_in_flight_is_waited_for(void **state)
{
	(void)state;
	struct idem_table *t = idem_new(100);
	char id[SANDBOX_ID_LEN + 1], fresh[SANDBOX_ID_LEN + 1];
	id_new_sandbox(fresh);
	assert_int_equal(idem_begin(t, "alice", "busy", 0, id), 0);
	/* A short wait runs out while the create is still going. */
	struct waiter quick = { .t = t, .wait_ms = 20 };
	wait_for_key(&quick);
	assert_int_equal(quick.rc, -1);
	struct waiter w[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct waiter){ .t = t, .wait_ms = 10000 };
		assert_int_equal(pthread_create(&th[i], NULL, wait_for_key, &w[i]), 0);
	}
	usleep(20000);
	idem_end(t, "alice", "busy", fresh);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].rc, 1);
		assert_string_equal(w[i].id, fresh);
	}
	idem_free(t);
}

static void test_restart_restores_young_keys_only(void **state)
{
	(void)state;
	struct idem_table *t = idem_new(100);
	char id[SANDBOX_ID_LEN + 1], a[SANDBOX_ID_LEN + 1], b[SANDBOX_ID_LEN + 1];
	id_new_sandbox(a);
	id_new_sandbox(b);
	idem_restore(t, "alice", "young", a, 60);
	idem_restore(t, "alice", "old", a, IDEM_TTL_S);
	idem_restore(t, "alice", "bad key!", a, 1);
	idem_restore(t, "alice", "bad-id", "sb-NOT", 1);
	idem_restore(t, "alice", "skew", b, -5); /* the clock stepped back */
	assert_int_equal(known(t, "alice", "young", id), 1);
	assert_string_equal(id, a);
	assert_int_equal(known(t, "alice", "skew", id), 1);
	assert_int_equal(known(t, "alice", "old", id), 0);
	assert_int_equal(known(t, "alice", "bad-id", id), 0);
	/* A key known already keeps its sandbox. */
	idem_restore(t, "alice", "young", b, 1);
	assert_int_equal(known(t, "alice", "young", id), 1);
	assert_string_equal(id, a);
	assert_int_equal(idem_count(t), 2);
	idem_free(t);
}

static void test_the_bound_drops_the_oldest_finished(void **state)
{
	(void)state;
	struct idem_table *t = idem_new(3);
	char id[SANDBOX_ID_LEN + 1], sb[SANDBOX_ID_LEN + 1], key[16];
	id_new_sandbox(sb);
	/* A key in flight is never dropped, however full the table. */
	assert_int_equal(idem_begin(t, "alice", "flying", 0, id), 0);
	for (int i = 0; i < 6; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		made(t, "alice", key, sb);
	}
	assert_true(idem_count(t) <= 4);
	assert_int_equal(known(t, "alice", "k5", id), 1);
	assert_int_equal(known(t, "alice", "k4", id), 1);
	assert_int_equal(known(t, "alice", "k0", id), 0);
	idem_end(t, "alice", "flying", sb);
	assert_int_equal(known(t, "alice", "flying", id), 1);
	idem_free(t);
}

static void test_many_keys_each_find_their_own(void **state)
{
	(void)state;
	enum { N = 20000 };
	struct idem_table *t = idem_new(N);
	char (*ids)[SANDBOX_ID_LEN + 1] = calloc(N, sizeof(*ids));
	char id[SANDBOX_ID_LEN + 1], key[32];
	for (int i = 0; i < N; i++) {
		id_new_sandbox(ids[i]);
		snprintf(key, sizeof(key), "key-%d", i);
		made(t, i % 2 ? "alice" : "bob", key, ids[i]);
	}
	assert_int_equal(idem_count(t), N);
	for (int i = N - 1; i >= 0; i--) {
		snprintf(key, sizeof(key), "key-%d", i);
		assert_int_equal(known(t, i % 2 ? "alice" : "bob", key, id), 1);
		assert_string_equal(id, ids[i]);
		if (i % 3 == 0)
			idem_forget(t, i % 2 ? "alice" : "bob", key);
	}
	assert_int_equal(idem_count(t), N - (N + 2) / 3);
	free(ids);
	idem_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_key_names_its_sandbox_per_owner),
		cmocka_unit_test(test_a_key_in_flight_is_waited_for),
		cmocka_unit_test(test_restart_restores_young_keys_only),
		cmocka_unit_test(test_the_bound_drops_the_oldest_finished),
		cmocka_unit_test(test_many_keys_each_find_their_own),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
