/* src/thawd/net/rangecheck.c: prefix overlap, and the refusal of a slot
 * range that addresses or routes of the namespace already use. The
 * namespace tests run in a private network namespace of their own
 * (unshare), so the host is never touched; they skip without root. */
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "net/nl.h"
#include "net/rangecheck.h"

static uint32_t ip(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return (a << 24) | (b << 16) | (c << 8) | d;
}

static void test_overlap(void **state)
{
	(void)state;
	assert_true(cidr_overlap(ip(10, 200, 0, 0), 16, ip(10, 200, 3, 4), 30));
	assert_true(cidr_overlap(ip(10, 200, 3, 4), 30, ip(10, 200, 0, 0), 16));
	assert_true(cidr_overlap(ip(10, 0, 0, 0), 8, ip(10, 200, 0, 0), 16));
	assert_true(cidr_overlap(ip(10, 200, 0, 1), 32, ip(10, 200, 0, 0), 16));
	assert_true(cidr_overlap(ip(0, 0, 0, 0), 0, ip(10, 200, 0, 0), 16)); /* default */
	assert_false(cidr_overlap(ip(10, 201, 0, 0), 16, ip(10, 200, 0, 0), 16));
	assert_false(cidr_overlap(ip(10, 199, 255, 252), 30, ip(10, 200, 0, 0), 16));
	assert_false(cidr_overlap(ip(172, 16, 0, 0), 12, ip(10, 200, 0, 0), 16));
	assert_false(cidr_overlap(ip(10, 200, 0, 0), 24, ip(10, 200, 1, 0), 24));
}

static struct slot_range range(const char *text)
{
	struct slot_range r;
	struct thaw_err *e = NULL;
	if (slot_range_parse(text, &r, &e) < 0)
		fail_msg("%s: %s", text, err_msg(e));
	return r;
}

static void expect_ok(const char *cidr, const char *own)
{
	struct slot_range r = range(cidr);
	struct thaw_err *e = NULL;
	if (slot_range_check(&r, own, &e) != 0)
		fail_msg("%s refused: %s", cidr, err_msg(e));
}

static void expect_conflict(const char *cidr, const char *own, const char *names)
{
	struct slot_range r = range(cidr);
	struct thaw_err *e = NULL;
	assert_int_equal(slot_range_check(&r, own, &e), -1);
	assert_int_equal(e->code, ERR_CONFLICT);
	if (!strstr(err_msg(e), names) || !strstr(err_msg(e), "--slot-cidr"))
		fail_msg("%s: message \"%s\" does not name \"%s\"", cidr, err_msg(e), names);
	err_free(e);
}

static void add_addr(struct nl *nl, const char *ifname, const char *addr, uint8_t prefix)
{
	struct thaw_err *e = NULL;
	unsigned idx;
	if (nl_link_index(ifname, &idx, &e) < 0 || nl_addr_add(nl, idx, addr, prefix, &e) < 0 ||
	    nl_link_up(nl, idx, NULL, &e) < 0)
		fail_msg("%s %s/%u: %s", ifname, addr, prefix, err_msg(e));
}

static void veth(struct nl *nl, const char *a, const char *b)
{
	struct thaw_err *e = NULL;
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	assert_true(self >= 0);
	if (nl_veth_create(nl, a, b, self, &e) < 0)
		fail_msg("veth %s/%s: %s", a, b, err_msg(e));
	close(self);
}

static void test_namespace(void **state)
{
	(void)state;
	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0)
		skip();
	struct nl *nl = NULL;
	struct thaw_err *e = NULL;
	assert_int_equal(nl_open(&nl, &e), 0);

	/* Nothing but a down loopback: any range is free. */
	expect_ok("10.200.0.0/16", "tabc");

	/* Loopback's own 127.0.0.1/8 and its routes are not in the way. */
	add_addr(nl, "lo", "127.0.0.1", 8);
	expect_ok("10.200.0.0/16", "tabc");

	/* Our own slot interface from a previous run is fine; someone
	 * else's name with the same prefix of addresses is not. */
	veth(nl, "tabc0000", "peer0");
	add_addr(nl, "tabc0000", "172.30.0.1", 30);
	expect_ok("172.30.0.0/16", "tabc");
	expect_conflict("172.30.0.0/16", "tdef", "address 172.30.0.1/30 on interface tabc0000");

	/* An address inside the range on a foreign interface. */
	veth(nl, "other0", "peer1");
	add_addr(nl, "other0", "10.200.7.9", 24);
	expect_conflict("10.200.0.0/16", "tabc", "10.200.7.9/24 on interface other0");
	expect_ok("10.201.0.0/16", "tabc");

	/* A wider network that contains the range. */
	veth(nl, "lan0", "peer2");
	add_addr(nl, "lan0", "192.168.0.10", 16);
	expect_conflict("192.168.64.0/18", "tabc", "on interface lan0");
	expect_ok("192.169.0.0/16", "tabc");

	/* A default route is not a conflict. */
	assert_int_equal(nl_route_default(nl, "192.168.0.1", &e), 0);
	expect_ok("10.210.0.0/16", "tabc");
	nl_close(nl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_namespace),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
