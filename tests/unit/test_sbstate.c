/* src/thawd/core/sbstate.c: every transition of the sandbox state
 * machine, every state's restart rule, and names read from a database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/sbstate.h"

/* The whole table, written out: a change to the machine must change this
 * test too. Rows: from; columns: to (C R F D Pg Pd Rs Rc). */
static const char *const expected[SB_STATE_COUNT] = {
	[SB_CREATING] = ".x......",
	[SB_RUNNING] = "..xxx...",
	[SB_FAILED] = "...x...x",
	[SB_DELETING] = "........",
	[SB_PAUSING] = ".x...x..",
	[SB_PAUSED] = "...x..x.",
	[SB_RESUMING] = ".x...x..",
	[SB_RECOVERING] = ".xx.....",
};

static void test_every_transition(void **state)
{
	(void)state;
	for (int from = 0; from < SB_STATE_COUNT; from++)
		for (int to = 0; to < SB_STATE_COUNT; to++) {
			bool want = expected[from][to] == 'x';
			if (sb_state_may_become((enum sb_state)from, (enum sb_state)to) != want)
				fail_msg("%s -> %s: %s expected", sb_state_name((enum sb_state)from),
					 sb_state_name((enum sb_state)to),
					 want ? "allowed" : "refused");
		}
	/* Out of range is refused, never read past the table. */
	assert_false(sb_state_may_become(SB_STATE_COUNT, SB_RUNNING));
	assert_false(sb_state_may_become(SB_RUNNING, SB_STATE_COUNT));
	assert_false(sb_state_may_become((enum sb_state)-1, SB_RUNNING));
}

/* What a restart does with each state (docs/architecture.md, "Restart safety"). */
static void test_every_restart_rule(void **state)
{
	(void)state;
	static const struct {
		enum sb_state found;
		enum sb_restart_action action;
		enum sb_state becomes;
	} rules[] = {
		{ SB_CREATING, RESTART_REMOVE, SB_CREATING },
		{ SB_RUNNING, RESTART_ADOPT_VM, SB_RUNNING },
		{ SB_PAUSING, RESTART_ADOPT_VM, SB_RUNNING },
		{ SB_PAUSED, RESTART_ADOPT_IMAGE, SB_PAUSED },
		{ SB_RESUMING, RESTART_ADOPT_IMAGE, SB_PAUSED },
		{ SB_FAILED, RESTART_KEEP, SB_FAILED },
		{ SB_DELETING, RESTART_REMOVE, SB_DELETING },
		{ SB_RECOVERING, RESTART_KEEP, SB_FAILED },
	};
	assert_int_equal(sizeof(rules) / sizeof(rules[0]), SB_STATE_COUNT);
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		const struct sb_restart_rule *r = sb_restart_rule(rules[i].found);
		assert_int_equal(r->action, rules[i].action);
		assert_int_equal(r->becomes, rules[i].becomes);
		assert_non_null(r->why);
		/* A rule that keeps a sandbox in another state must be a
		 * transition the machine allows. */
		if (r->action != RESTART_REMOVE && r->becomes != rules[i].found)
			assert_true(sb_state_may_become(rules[i].found, r->becomes));
	}
	assert_int_equal(sb_restart_rule(SB_STATE_COUNT)->action, RESTART_REMOVE);
}

static void test_names_round_trip_and_bad_ones_are_refused(void **state)
{
	(void)state;
	for (int i = 0; i < SB_STATE_COUNT; i++) {
		enum sb_state s;
		assert_int_equal(sb_state_parse(sb_state_name((enum sb_state)i), &s, NULL), 0);
		assert_int_equal(s, i);
	}
	static const char *const bad[] = { "", "Running", "running ", "stopped", "unknown" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct thaw_err *e = NULL;
		enum sb_state s = SB_RUNNING;
		assert_int_equal(sb_state_parse(bad[i], &s, &e), -1);
		assert_int_equal(e->code, ERR_CORRUPT);
		assert_int_equal(s, SB_RUNNING); /* out-parameters only on success */
		err_free(e);
	}
	assert_string_equal(sb_state_name(SB_STATE_COUNT), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_transition),
		cmocka_unit_test(test_every_restart_rule),
		cmocka_unit_test(test_names_round_trip_and_bad_ones_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
