/* nftables rules through libnftables, in the network namespace of the
 * calling thread.
 *
 * Root namespace: one table per thawd instance (inet thaw_<tag>) whose
 * rules match every slot by interface name prefix, so their number does
 * not grow with the number of slots:
 *   input:   nothing from a slot reaches the host itself
 *   forward: slots reach the outside (allow-list first), never private,
 *            loopback, link-local, CGNAT or multicast ranges, never
 *            another slot; nothing new enters a slot from outside
 *   nat:     slot addresses are masqueraded on the way out
 * Slot namespace: the guest's fixed address is masqueraded to the
 * slot's own address on veth0; the sandbox's own egress policy, when it
 * has one, is a table of its own there (netpolicy.h). */
#ifndef THAW_NFT_H
#define THAW_NFT_H

#include <stdbool.h>

#include "err.h"

struct nft_host_rules {
	const char *table;     /* "thaw_3fa9c1" */
	const char *if_prefix; /* host veth names start with this */
	const char *slot_cidr; /* "10.200.0.0/16" */
	const char *allow;     /* comma-separated CIDRs that skip the block list, or NULL */
	/* The publish range (issue 17), or publish_addr NULL: connections to
	 * publish_addr on ports lo..hi are dropped unless the port is in the
	 * table's set "published" (nft_publish_set). */
	const char *publish_addr;
	int publish_lo, publish_hi;
};

/* Replaces the instance's root-namespace table (idempotent). */
int nft_host_install(const struct nft_host_rules *r, struct thaw_err **err);
/* Deletes it; missing is fine. */
int nft_host_remove(const char *table, struct thaw_err **err);

/* Adds (or removes) a host port to the set of published ones: the
 * guard then lets connections to it through. Removing a missing one is
 * fine. */
int nft_publish_set(const char *table, int host_port, bool add, struct thaw_err **err);

/* The NAT of one slot, run inside its namespace. */
int nft_slot_install(struct thaw_err **err);

/* Runs an nft script; exposed for tests and the benchmark. */
int nft_run(const char *script, struct thaw_err **err);

#endif
