/* src/thawd/api/sblist.c: the list's filters, its order, and its page
 * tokens: a token comes back as what made it, a garbled or forged one is
 * refused (never a crash), and paging with the token through a list that
 * changes between pages shows every sandbox that stayed exactly once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/sblist.h"
#include "testutil.h"

static void test_token_round_trip(void **state)
{
	(void)state;
	char tok[PAGE_TOKEN_MAX], id[SANDBOX_ID_LEN + 1];
	int64_t created = 0;
	page_token_make(1765000000, "sb-abcdefghijkm", tok);
	assert_int_equal(page_token_parse(tok, &created, id, NULL), 0);
	assert_int_equal(created, 1765000000);
	assert_string_equal(id, "sb-abcdefghijkm");
}

static void test_bad_tokens_refused(void **state)
{
	(void)state;
	char tok[PAGE_TOKEN_MAX], id[SANDBOX_ID_LEN + 1];
	int64_t created;
	const char *bad[] = {
		"",
		"zz",
		"abc",					/* odd length */
		"00",					/* a NUL */
		"31",					/* "1": no dot */
		"2e73622d6162636465666768696a6b6d",	/* ".sb-...": no time */
		"2d312e73622d6162636465666768696a6b6d", /* "-1.sb-..." */
		"312e78",				/* "1.x": no id */
		"31782e73622d6162636465666768696a6b6d", /* "1x.sb-..." */
		"312E73622D6162636465666768696A6B6D",	/* upper case */
		/* "11765765000050000000000.sb-aaaaqaaaaaaa": past int64 */
		"313137363537363530303030353030303030303030302e73622d616161617161616161616161",
		/* "\r1.sb-aaaaaaaaaaaa": white space strtoll would skip */
		"0d312e73622d616161616161616161616161",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct thaw_err *err = NULL;
		assert_int_equal(page_token_parse(bad[i], &created, id, &err), -1);
		assert_int_equal(err->code, ERR_INVALID);
		err_free(err);
	}
	/* Random bytes never crash it. */
	struct rng r = { 42 };
	for (int n = 0; n < 2000; n++) {
		size_t len = rng_below(&r, PAGE_TOKEN_MAX + 8);
		char s[PAGE_TOKEN_MAX + 16];
		for (size_t i = 0; i < len; i++)
			s[i] = "0123456789abcdef.x"[rng_below(&r, 18)];
		s[len] = '\0';
		page_token_parse(s, &created, id, NULL);
	}
	memset(tok, 'a', sizeof(tok) - 1);
	tok[sizeof(tok) - 1] = '\0';
	assert_int_equal(page_token_parse(tok, &created, id, NULL), -1);
}

static void test_params(void **state)
{
	(void)state;
	struct sblist_query q;
	sblist_query_init(&q);
	assert_int_equal(q.limit, SBLIST_LIMIT_DEFAULT);
	assert_int_equal(sblist_param(&q, "state", "paused", NULL), 0);
	assert_int_equal(q.state, SB_PAUSED);
	assert_int_equal(sblist_param(&q, "limit", "7", NULL), 0);
	assert_int_equal(q.limit, 7);
	assert_int_equal(sblist_param(&q, "metadata.team", "a b", NULL), 0);
	assert_int_equal(sblist_param(&q, "template", "code-interpreter", NULL), 0);
	const char *bad[][2] = { { "state", "sleeping" }, { "limit", "0" },	{ "limit", "1001" },
				 { "limit", "1x" },	  { "limit", "" },	{ "owner", "a b" },
				 { "template", "../x" },  { "metadata.", "x" }, { "sort", "id" },
				 { "next", "zz" } };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct thaw_err *err = NULL;
		assert_int_equal(sblist_param(&q, bad[i][0], bad[i][1], &err), -1);
		assert_int_equal(err->code, ERR_INVALID);
		err_free(err);
	}
	for (int i = 1; i < SBLIST_META_MAX; i++)
		assert_int_equal(sblist_param(&q, "metadata.k", "v", NULL), 0);
	assert_int_equal(sblist_param(&q, "metadata.k", "v", NULL), -1);
	sblist_query_free(&q);
}

static void test_match(void **state)
{
	(void)state;
	struct sblist_query q;
	sblist_query_init(&q);
	const char *md = "{\"team\":\"a\",\"n\":3,\"on\":true}";
	assert_true(sblist_match(&q, "alice", "t", SB_RUNNING, 5, "sb-aaaaaaaaaaaa", md));
	sblist_param(&q, "metadata.team", "a", NULL);
	sblist_param(&q, "metadata.n", "3", NULL);
	assert_true(sblist_match(&q, "alice", "t", SB_RUNNING, 5, "sb-aaaaaaaaaaaa", md));
	assert_false(sblist_match(&q, "alice", "t", SB_RUNNING, 5, "sb-aaaaaaaaaaaa",
				  "{\"team\":\"a\",\"n\":4}"));
	assert_false(sblist_match(&q, "alice", "t", SB_RUNNING, 5, "sb-aaaaaaaaaaaa", "{}"));
	assert_false(sblist_match(&q, "alice", "t", SB_RUNNING, 5, "sb-aaaaaaaaaaaa", NULL));
	assert_false(sblist_match(&q, "alice", "t", SB_RUNNING, 5, "sb-aaaaaaaaaaaa", "not json"));
	sblist_param(&q, "state", "paused", NULL);
	assert_false(sblist_match(&q, "alice", "t", SB_RUNNING, 5, "sb-aaaaaaaaaaaa", md));
	assert_true(sblist_match(&q, "alice", "t", SB_PAUSED, 5, "sb-aaaaaaaaaaaa", md));
	sblist_param(&q, "owner", "bob", NULL);
	assert_false(sblist_match(&q, "alice", "t", SB_PAUSED, 5, "sb-aaaaaaaaaaaa", md));
	sblist_query_free(&q);
}

/* A list where sandboxes come and go between pages: those present
 * throughout are each seen once, in order. */
#define N 300
struct fake {
	int64_t created;
	char id[SANDBOX_ID_LEN + 1];
	bool alive, seen, throughout;
};

static int fake_cmp(const void *a, const void *b)
{
	const struct fake *x = *(struct fake *const *)a, *y = *(struct fake *const *)b;
	return sblist_cmp(x->created, x->id, y->created, y->id);
}

static void test_paging_through_a_changing_list(void **state)
{
	(void)state;
	static struct fake f[2 * N];
	struct rng r = { 7 };
	size_t n = 0;
	for (; n < N; n++) {
		f[n].created = 1000 + (int64_t)rng_below(&r, 20); /* many share a second */
		id_new_sandbox(f[n].id);
		f[n].alive = f[n].throughout = true;
	}
	struct sblist_query q;
	sblist_query_init(&q);
	q.limit = 17;
	int pages = 0;
	for (;;) {
		struct fake *page[2 * N];
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if (f[i].alive &&
			    sblist_match(&q, "o", "t", SB_RUNNING, f[i].created, f[i].id, "{}"))
				page[k++] = &f[i];
		qsort(page, k, sizeof(page[0]), fake_cmp);
		size_t shown = k < q.limit ? k : q.limit;
		for (size_t i = 0; i < shown; i++) {
			assert_false(page[i]->seen);
			page[i]->seen = true;
		}
		pages++;
		if (k <= shown)
			break;
		char tok[PAGE_TOKEN_MAX];
		page_token_make(page[shown - 1]->created, page[shown - 1]->id, tok);
		assert_int_equal(page_token_parse(tok, &q.after_created, q.after_id, NULL), 0);
		q.has_after = true;
		/* Between pages: one deleted, one created (anywhere in the order). */
		size_t victim = rng_below(&r, (uint32_t)n);
		f[victim].alive = false;
		f[victim].throughout = false;
		f[n].created = 1000 + (int64_t)rng_below(&r, 25);
		id_new_sandbox(f[n].id);
		f[n].alive = true;
		n++;
	}
	for (size_t i = 0; i < n; i++)
		if (f[i].throughout)
			assert_true(f[i].seen);
	assert_true(pages > N / 17);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_round_trip),
		cmocka_unit_test(test_bad_tokens_refused),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_paging_through_a_changing_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
