/* A network slot: everything one VM needs to reach the outside and to be
 * reached by thawd, and nothing more.
 *
 *   root namespace                 slot namespace <prefix>s<index>
 *   <ifprefix><index> 10.200.x.1 ── veth0 10.200.x.2   (a /30 per slot)
 *                                   tap0  172.16.0.1 ── guest 172.16.0.2
 *
 * The guest's address and the tap's address and MAC are the same in every
 * slot (they are baked into the snapshot); inside the slot the guest is
 * masqueraded to the slot's own address, and the root namespace
 * masquerades slot addresses on the way out (nft.h has the rules). thawd
 * itself reaches the guest with sockets created inside the namespace. */
#ifndef THAW_SLOT_H
#define THAW_SLOT_H

#include <net/if.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdint.h>

#include "err.h"
#include "net/slotaddr.h"

/* What every slot of one thawd instance shares. */
struct slot_host {
	const struct slot_range *range;
	const char *ns_prefix; /* "thaw-3fa9c1-": namespaces are <prefix>s<index> */
	const char *if_prefix; /* "t3fa9c1": host veths are <prefix><index in hex> */
};

struct netslot {
	uint32_t index;
	char name[64];	       /* namespace name */
	char veth[IF_NAMESIZE]; /* host end */
	struct in_addr slot_end; /* what the root namespace sees of its traffic */
	int ns_fd;	       /* the namespace; -1 once closed */
	int tap_fd;	       /* open tap for the VMM; -1 once handed over */
	/* Its namespace may hold an egress policy table (netpolicy.h): a
	 * slot built or reset has none, one attached after a restart may. */
	bool has_policy;
};

/* Builds slot `index` from nothing. On failure nothing is left behind. */
int netslot_create(const struct slot_host *sh, uint32_t index, struct netslot **out,
		   struct thaw_err **err);

/* Re-opens the namespace of an existing slot (after a restart); the tap
 * belongs to the running VMM, so tap_fd stays -1. */
int netslot_attach(const struct slot_host *sh, uint32_t index, struct netslot **out,
		   struct thaw_err **err);

/* Makes a used slot as good as new for the next VM: forgets the old
 * guest's connections (in the slot and in the root namespace) and its
 * egress policy, and gives it a fresh tap (the old one went away with
 * its VMM). */
int netslot_reset(struct netslot *s, struct thaw_err **err);

struct netpolicy;

/* Replaces the slot's egress policy (netpolicy.h) with p in one nftables
 * transaction. A slot given back (netslot_reset) has none, and the
 * default policy on a slot without one costs nothing (the create path). */
int netslot_set_policy(struct netslot *s, const struct netpolicy *p, struct thaw_err **err);

/* Closes thawd's copy of the tap (the VMM keeps its own). */
void netslot_release_tap(struct netslot *s);

/* Removes the host veth and the namespace, forgets the slot's
 * connections in the root namespace and frees the slot. NULL is fine. */
void netslot_destroy(struct netslot *s);

/* Frees thawd's handle only; the namespace stays for whoever adopts the
 * VMM next. NULL is fine. */
void netslot_close(struct netslot *s);

/* A socket created inside the slot's namespace. */
int netslot_socket(const struct netslot *s, int domain, int type, int *out,
		   struct thaw_err **err);

/* Names of slot index for this instance. */
void netslot_names(const struct slot_host *sh, uint32_t index, char *ns, size_t ns_size,
		   char *veth, size_t veth_size);

/* Removes a slot known only by index (leftovers found at start).
 * Missing parts are fine. */
void netslot_remove(const struct slot_host *sh, uint32_t index);

#endif
