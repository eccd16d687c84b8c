/* thaw-bench-slots: what a network slot costs on the create path.
 *
 * Three ways, side by side in one run, each building the same slot
 * (namespace, veth pair with a /30, tap with the guest-facing address and
 * MAC, neighbour entry, default route, forwarding, the slot's NAT rule):
 *   warm       taken from thawd's slot pool (core/slotpool.c), built ahead
 *   on demand  built on the spot with thawd's netlink code (net/slot.c)
 *   shell      built with `ip` and `nft` the way a shell script would
 * Uses its own address range and names, so it runs beside a live thawd. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "core/host.h"
#include "core/slotpool.h"
#include "fsutil.h"
#include "guestnet.h"
#include "net/slot.h"
#include "net/slotaddr.h"
#include "db/db.h"
#include "timeutil.h"

#include "percentile.h"

#define RANGE "10.201.0.0/16"

static double pct(double *v, int n, int p)
{
	return percentile(v, (size_t)n, (unsigned)p);
}

static void row(const char *label, double *v, int n)
{
	printf("%-34s %5d %9.3f %9.3f %9.3f\n", label, n, pct(v, n, 50), pct(v, n, 90),
	       pct(v, n, 99));
}

static void die(const char *what, struct thaw_err *err)
{
	fprintf(stderr, "thaw-bench-slots: %s: %s\n", what, err_msg(err));
	exit(1);
}

/* The same slot as net/slot.c builds, with the tools. */
static const char shell_script[] =
	"set -e\n"
	"ns=$1 veth=$2 host=$3 peer=$4\n"
	"ip netns add $ns\n"
	"ip link add $veth type veth peer name veth0 netns $ns\n"
	"ip addr add $host/30 dev $veth\n"
	"ip link set $veth up\n"
	"ip -n $ns link set lo up\n"
	"ip -n $ns addr add $peer/30 dev veth0\n"
	"ip -n $ns link set veth0 up\n"
	"ip -n $ns route add default via $host\n"
	"ip -n $ns tuntap add " GUESTNET_TAP_NAME " mode tap vnet_hdr\n"
	"ip -n $ns link set " GUESTNET_TAP_NAME " address " GUESTNET_HOST_MAC "\n"
	"ip -n $ns addr add " GUESTNET_HOST_IP "/30 dev " GUESTNET_TAP_NAME "\n"
	"ip -n $ns link set " GUESTNET_TAP_NAME " up\n"
	"ip -n $ns neigh replace " GUESTNET_GUEST_IP " lladdr " GUESTNET_GUEST_MAC
	" dev " GUESTNET_TAP_NAME " nud permanent\n"
	"ip netns exec $ns sysctl -qw net.ipv4.ip_forward=1\n"
	"printf 'table ip thaw {\\n chain postrouting {\\n  type nat hook postrouting priority "
	"srcnat; policy accept;\\n  oifname \"veth0\" masquerade\\n }\\n}\\n' | "
	"ip netns exec $ns nft -f -\n";

static double shell_build(const struct slot_host *sh, uint32_t i)
{
	char ns[64], veth[IF_NAMESIZE], host[INET_ADDRSTRLEN], peer[INET_ADDRSTRLEN];
	struct in_addr h, p;
	netslot_names(sh, i, ns, sizeof(ns), veth, sizeof(veth));
	slot_addrs(sh->range, i, &h, &p);
	inet_ntop(AF_INET, &h, host, sizeof(host));
	inet_ntop(AF_INET, &p, peer, sizeof(peer));
	uint64_t t0 = time_mono_ns();
	pid_t pid = fork();
	if (pid == 0) {
		execlp("bash", "bash", "-c", shell_script, "slot", ns, veth, host, peer,
		       (char *)NULL);
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
	double ms = ns_to_ms(time_mono_ns() - t0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "thaw-bench-slots: the shell build of slot %u failed\n", i);
		exit(1);
	}
	return ms;
}

/* A host with just what the slot pool needs: a range, names, a database. */
static struct host *bench_host(const char *dir, struct thawd_config *cfg)
{
	struct host *h = xcalloc(1, sizeof(*h));
	struct thaw_err *err = NULL;
	h->cfg = cfg;
	snprintf(h->ns_prefix, sizeof(h->ns_prefix), "thawbench-%d-", (int)getpid() % 100000);
	snprintf(h->if_prefix, sizeof(h->if_prefix), "tb%04x", (unsigned)getpid() & 0xffff);
	char *db = xasprintf("%s/bench.db", dir);
	if (slot_range_parse(RANGE, &h->slot_range, &err) < 0 || db_open(db, &h->db, &err) < 0)
		die("setting up", err);
	free(db);
	return h;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 50;
	if (n < 1 || n > 1000) {
		fprintf(stderr, "usage: thaw-bench-slots [N (1..1000, default 50)]\n");
		return 2;
	}
	char dir[] = "/tmp/thaw-bench-slots-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	struct thawd_config cfg = { 0 };
	struct host *h = bench_host(dir, &cfg);
	struct slot_host sh = { &h->slot_range, h->ns_prefix, h->if_prefix };
	struct thaw_err *err = NULL;
	double *ondemand = xcalloc((size_t)n, sizeof(double));
	double *warm = xcalloc((size_t)n, sizeof(double));
	double *shell = xcalloc((size_t)n, sizeof(double));
	double *destroy = xcalloc((size_t)n, sizeof(double));
	struct netslot **slots = xcalloc((size_t)n, sizeof(*slots));

	/* on demand: thawd's netlink code */
	for (int i = 0; i < n; i++) {
		uint64_t t0 = time_mono_ns();
		if (netslot_create(&sh, (uint32_t)i, &slots[i], &err) < 0)
			die("building a slot", err);
		ondemand[i] = ns_to_ms(time_mono_ns() - t0);
	}
	for (int i = 0; i < n; i++) {
		uint64_t t0 = time_mono_ns();
		netslot_destroy(slots[i]);
		destroy[i] = ns_to_ms(time_mono_ns() - t0);
	}

	/* warm: the real pool, filled first, then emptied */
	if (slotpool_open(h, &h->slots, &err) < 0 ||
	    slotpool_start(h->slots, (unsigned)n, &err) < 0)
		die("starting the pool", err);
	struct slotpool_stats st;
	do {
		usleep(10000);
		slotpool_stats(h->slots, &st);
	} while (st.warm < (unsigned)n);
	for (int i = 0; i < n; i++) {
		bool was_warm;
		uint64_t t0 = time_mono_ns();
		if (slotpool_take(h->slots, true, &slots[i], &was_warm, &err) < 0)
			die("taking a slot", err);
		warm[i] = ns_to_ms(time_mono_ns() - t0);
		if (!was_warm)
			die("the pool was empty", NULL);
	}
	for (int i = 0; i < n; i++)
		slotpool_drop(h->slots, slots[i]);
	slotpool_close(h->slots);

	/* shell: ip and nft, one bash per slot */
	for (int i = 0; i < n; i++)
		shell[i] = shell_build(&sh, (uint32_t)(n + i));
	for (int i = 0; i < n; i++)
		netslot_remove(&sh, (uint32_t)(n + i));

	printf("== network slot benchmark: %d slots each way\n\n", n);
	printf("%-34s %5s %9s %9s %9s\n", "milliseconds", "n", "p50", "p90", "p99");
	row("warm (from the slot pool)", warm, n);
	row("on demand (netlink, net/slot.c)", ondemand, n);
	row("shell (ip + nft commands)", shell, n);
	row("destroy (netlink)", destroy, n);
	double w = pct(warm, n, 50), o = pct(ondemand, n, 50), s = pct(shell, n, 50);
	printf("\nratio shell / on demand (p50): %.1f\n", s / o);
	printf("targets: warm p50 <= 2 ms: %s; on demand p50 <= 25 ms: %s; ratio >= 4: %s\n",
	       w <= 2 ? "PASS" : "FAIL", o <= 25 ? "PASS" : "FAIL", s / o >= 4 ? "PASS" : "FAIL");
	db_close(h->db);
	fs_rm_rf(dir, NULL);
	return 0;
}
