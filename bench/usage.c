/* thaw-bench-usage: what the usage sampler (core/usage.c) costs per
 * sandbox per round, and what its rings hold once full.
 *
 * N sandboxes (default 200) are listed in a registry of a host of the
 * bench's own, each with the files a running one is sampled from: a VMM
 * cgroup of its own (with root and cgroups; else the /proc fallback the
 * sampler uses without cgroups, reading this process), a disk clone file
 * (sparse, 64 MiB written), and a veth's counters (lo's, from the same
 * rtnetlink dump per round as thawd's). Then R rounds of
 * usage_sample_round, the sampler thread's whole work, are timed.
 *
 *   thaw-bench-usage [N] [ROUNDS]   (ROUNDS default 720: full rings) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "core/host.h"
#include "core/registry.h"
#include "core/sandbox.h"
#include "core/usage.h"
#include "fsutil.h"
#include "net/slot.h"
#include "timeutil.h"
#include "vmm/cgroup.h"

#include "percentile.h"

static void add_sandbox(struct host *h, unsigned i, struct vmm **vmm, struct netslot **slot)
{
	char id[SANDBOX_ID_LEN + 1];
	snprintf(id, sizeof(id), "sb-usage%07u", i % 10000000u);
	struct sandbox *sb = sandbox_new(h, id);
	sb->state = SB_RUNNING;
	*vmm = xcalloc(1, sizeof(**vmm));
	(*vmm)->pid = getpid();
	(*vmm)->pidfd = -1;
	*slot = xcalloc(1, sizeof(**slot));
	snprintf((*slot)->veth, sizeof((*slot)->veth), "lo");
	sb->vmm = *vmm;
	sb->slot = *slot;
	if (fs_mkdir_p(sb->dir, 0700, NULL) < 0)
		exit(1);
	char *disk = xasprintf("%s/rootfs.img", sb->dir);
	int fd = open(disk, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, 1ll << 30) < 0 || pwrite(fd, "x", 1, 64 << 20) != 1)
		exit(1);
	close(fd);
	free(disk);
	if (h->vmm.cgroups) {
		char name[64];
		int fds[CGROUP_MAX_FDS], n;
		struct vmm_limits lim = { .memory_bytes = 1ull << 30, .cpu_millis = 1000 };
		snprintf(name, sizeof(name), "%s%s", h->ns_prefix, id);
		if (cgroup_vmm_create(h->vmm.cgroups, name, &lim, fds, &n, NULL) == 0)
			for (int k = 0; k < n; k++)
				close(fds[k]);
	}
	registry_add(h, sb);
	sandbox_unref(h, sb);
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 200;
	unsigned rounds = argc > 2 ? (unsigned)atoi(argv[2]) : 720;
	if (!n || !rounds)
		return 2;
	char tmpl[] = "/tmp/thaw-bench-usage-XXXXXX";
	if (!mkdtemp(tmpl))
		return 1;
	struct thawd_config cfg = { .data_dir = tmpl };
	struct host h = { .cfg = &cfg };
	h.sandboxes_dir = tmpl;
	h.reg = registry_new();
	snprintf(h.ns_prefix, sizeof(h.ns_prefix), "thaw-benchu-");
	/* The slots' stand-in veth is lo: thawd's netlink dump finds it. */
	snprintf(h.if_prefix, sizeof(h.if_prefix), "lo");
	cgroups_open("thaw-benchu", &h.vmm.cgroups, NULL);
	struct vmm **vmms = xcalloc(n, sizeof(*vmms));
	struct netslot **slots = xcalloc(n, sizeof(*slots));
	for (unsigned i = 0; i < n; i++)
		add_sandbox(&h, i, &vmms[i], &slots[i]);
	/* The thread's own first round runs at start; then it sleeps. */
	struct usage_table *u = NULL;
	if (usage_start(&h, 3600, 3600 * rounds, &u, NULL) < 0)
		return 1;
	double *us = xcalloc(rounds, sizeof(*us));
	for (unsigned r = 0; r < rounds; r++) {
		uint64_t t0 = time_mono_ns();
		size_t got = usage_sample_round(u);
		us[r] = (double)(time_mono_ns() - t0) / 1000.0 / (double)n;
		if (got != n) {
			fprintf(stderr, "round %u sampled %zu of %u\n", r, got, n);
			return 1;
		}
	}
	printf("sandboxes %u, rounds %u, source %s\n", n, rounds,
	       h.vmm.cgroups ? "cgroups" : "/proc (no cgroups)");
	printf("us per sandbox per round: p50 %.2f  p90 %.2f  p99 %.2f\n",
	       percentile(us, rounds, 50), percentile(us, rounds, 90), percentile(us, rounds, 99));
	printf("rings: %zu bytes (%.1f KiB per sandbox)\n", usage_bytes(u),
	       (double)usage_bytes(u) / 1024.0 / n);
	usage_stop(u);
	/* The bench's own VMM and slot stand-ins: no driver, no namespace. */
	struct sandbox **list;
	size_t k;
	list = registry_list(&h, &k);
	for (size_t i = 0; i < k; i++)
		list[i]->vmm = NULL, list[i]->slot = NULL;
	registry_list_free(&h, list, k);
	registry_free(&h, h.reg);
	for (unsigned i = 0; i < n; i++) {
		free(vmms[i]);
		free(slots[i]);
	}
	if (h.vmm.cgroups) {
		cgroups_sweep(h.vmm.cgroups, 0, true);
		cgroups_close(h.vmm.cgroups);
	}
	fs_rm_rf(tmpl, NULL);
	free(vmms);
	free(slots);
	free(us);
	return 0;
}
