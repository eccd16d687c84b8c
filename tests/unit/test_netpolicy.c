/* src/thawd/net/netpolicy.c: entries parsed strictly and normalized, the
 * JSON both ways, and the nft script's order (allow, deny, internet). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net/netpolicy.h"

static void rule_is(const char *in, const char *want)
{
	struct netpolicy_rule r;
	struct thaw_err *e = NULL;
	if (netpolicy_parse_rule(in, &r, &e) < 0)
		fail_msg("\"%s\" refused: %s", in, err_msg(e));
	char s[NETPOLICY_RULE_MAX];
	netpolicy_format_rule(&r, s, sizeof(s));
	assert_string_equal(s, want);
}

static void rule_bad(const char *in, const char *mentions)
{
	struct netpolicy_rule r;
	struct thaw_err *e = NULL;
	assert_int_equal(netpolicy_parse_rule(in, &r, &e), -1);
	assert_non_null(e);
	assert_int_equal(e->code, ERR_INVALID);
	if (!strstr(e->msg, mentions))
		fail_msg("error \"%s\" for \"%s\" does not mention \"%s\"", e->msg, in, mentions);
	err_free(e);
}

static void test_rules(void **state)
{
	(void)state;
	rule_is("1.2.3.4", "1.2.3.4/32");
	rule_is("1.2.3.4:443", "1.2.3.4/32:443");
	rule_is("10.1.2.3/8", "10.0.0.0/8"); /* host bits cleared */
	rule_is("0.0.0.0/0", "0.0.0.0/0");
	rule_is("192.168.7.0/24:65535", "192.168.7.0/24:65535");
	rule_is("8.8.8.8/32:1", "8.8.8.8/32:1");
	rule_bad("", "not an IPv4");
	rule_bad("1.2.3", "not an IPv4");
	rule_bad("1.2.3.256", "not an IPv4");
	rule_bad("example.com", "not an IPv4");
	rule_bad("::1", "not an IPv4");
	rule_bad("1.2.3.4/33", "prefix");
	rule_bad("1.2.3.4/", "prefix");
	rule_bad("1.2.3.4/-1", "prefix");
	rule_bad("1.2.3.4/ 8", "prefix");
	rule_bad("1.2.3.4:0", "port");
	rule_bad("1.2.3.4:65536", "port");
	rule_bad("1.2.3.4:+80", "port");
	rule_bad("1.2.3.4:", "port");
	rule_bad("1.2.3.4:80:81", "port");
	rule_bad("1.2.3.4:80/24", "after the prefix");
	rule_bad(" 1.2.3.4", "not an IPv4");
	rule_bad("1.2.3.4/24/24", "prefix");
	rule_bad("1.2.3.4/240000000000000000000000", "not an IPv4");
}

static struct netpolicy *from(const char *text, struct thaw_err **e)
{
	struct netpolicy *p = NULL;
	json_t *v = json_loads(text, 0, NULL);
	assert_non_null(v);
	int rc = netpolicy_from_json(v, &p, e);
	json_decref(v);
	return rc == 0 ? p : NULL;
}

static void bad_policy(const char *text, const char *mentions)
{
	struct thaw_err *e = NULL;
	assert_null(from(text, &e));
	assert_non_null(e);
	assert_int_equal(e->code, ERR_INVALID);
	if (!strstr(e->msg, mentions))
		fail_msg("error \"%s\" for %s does not mention \"%s\"", e->msg, text, mentions);
	err_free(e);
}

static void test_json(void **state)
{
	(void)state;
	struct thaw_err *e = NULL;
	struct netpolicy *p = from("{}", &e);
	assert_non_null(p);
	assert_true(netpolicy_is_default(p));
	netpolicy_free(p);

	p = from("{\"internet\":false,\"allow\":[\"10.9.8.7:53\"],\"deny\":[\"1.1.1.1\"]}", &e);
	assert_non_null(p);
	assert_false(p->internet);
	assert_int_equal(p->n_allow, 1);
	assert_int_equal(p->n_deny, 1);
	char *text = netpolicy_to_text(p);
	assert_string_equal(text, "{\"internet\":false,\"allow\":[\"10.9.8.7/32:53\"],"
				  "\"deny\":[\"1.1.1.1/32\"]}");
	/* The normalized text reads back to the same policy (database rows). */
	struct netpolicy *q = NULL;
	assert_int_equal(netpolicy_from_text(text, &q, &e), 0);
	char *text2 = netpolicy_to_text(q);
	assert_string_equal(text, text2);
	free(text);
	free(text2);
	netpolicy_free(q);
	struct netpolicy *c = netpolicy_copy(p);
	netpolicy_free(p);
	assert_int_equal(c->n_allow, 1);
	netpolicy_free(c);

	assert_int_equal(netpolicy_from_text(NULL, &q, &e), 0);
	assert_true(netpolicy_is_default(q));
	netpolicy_free(q);
	assert_int_equal(netpolicy_from_text("{", &q, &e), -1);
	assert_int_equal(e->code, ERR_CORRUPT);
	err_free(e);
	e = NULL;

	bad_policy("[]", "must be an object");
	bad_policy("{\"internet\":1}", "true or false");
	bad_policy("{\"internets\":true}", "unknown field \"internets\"");
	bad_policy("{\"allow\":\"1.2.3.4\"}", "array");
	bad_policy("{\"allow\":[5]}", "network.allow[0] must be a string");
	bad_policy("{\"deny\":[\"1.2.3.4\",\"1.2.3.4/40\"]}", "network.deny[1]");
}

static void test_too_many(void **state)
{
	(void)state;
	json_t *a = json_array();
	for (int i = 0; i <= NETPOLICY_MAX_ENTRIES; i++) {
		char s[32];
		snprintf(s, sizeof(s), "10.0.%d.%d", i / 256, i % 256);
		json_array_append_new(a, json_string(s));
	}
	json_t *v = json_pack("{s:o}", "allow", a);
	struct netpolicy *p = NULL;
	struct thaw_err *e = NULL;
	assert_int_equal(netpolicy_from_json(v, &p, &e), -1);
	assert_non_null(strstr(e->msg, "more than 256"));
	err_free(e);
	e = NULL;
	json_array_remove(a, 0);
	assert_int_equal(netpolicy_from_json(v, &p, &e), 0);
	assert_int_equal(p->n_allow, NETPOLICY_MAX_ENTRIES);
	netpolicy_free(p);
	json_decref(v);
}

/* Allow rules come before deny rules, the internet drop last; a rule with
 * a port matches TCP and UDP; the table is replaced in one script. */
static void test_script(void **state)
{
	(void)state;
	struct thaw_err *e = NULL;
	struct netpolicy *p = from(
		"{\"internet\":false,\"allow\":[\"10.0.0.0/8:80\"],\"deny\":[\"10.1.0.0/16\"]}",
		&e);
	char *s = netpolicy_nft_script(p, "tap0");
	const char *add = strstr(s, "add table inet " NETPOLICY_TABLE);
	const char *del = strstr(s, "delete table inet " NETPOLICY_TABLE);
	const char *allow = strstr(s, "iifname \"tap0\" ip daddr 10.0.0.0/8 meta l4proto { tcp, "
				      "udp } th dport 80 accept");
	const char *deny = strstr(s, "iifname \"tap0\" ip daddr 10.1.0.0/16 drop");
	const char *last = strstr(s, "iifname \"tap0\" drop");
	assert_non_null(add);
	assert_non_null(del);
	assert_non_null(allow);
	assert_non_null(deny);
	assert_non_null(last);
	assert_true(add < del && del < allow && allow < deny && deny < last);
	free(s);
	netpolicy_free(p);

	p = netpolicy_default();
	s = netpolicy_nft_script(p, "tap0");
	assert_null(strstr(s, "accept\n"));
	assert_null(strstr(s, "drop"));
	assert_non_null(strstr(s, "policy accept"));
	free(s);
	netpolicy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_script),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
