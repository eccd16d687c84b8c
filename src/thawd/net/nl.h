/* The few rtnetlink requests a network slot needs, over libmnl. Each call
 * acts in the network namespace of the calling thread (the socket is
 * opened there). */
#ifndef THAW_NL_H
#define THAW_NL_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

struct nl;

int nl_open(struct nl **out, struct thaw_err **err);
void nl_close(struct nl *nl);

int nl_link_index(const char *ifname, unsigned *out, struct thaw_err **err);
/* Sets the link up and, when mac is not NULL, its hardware address. */
int nl_link_up(struct nl *nl, unsigned ifindex, const uint8_t *mac, struct thaw_err **err);
int nl_addr_add(struct nl *nl, unsigned ifindex, const char *ipv4, uint8_t prefix,
		struct thaw_err **err);
/* A permanent neighbour entry: no ARP on the hot path. */
int nl_neigh_add(struct nl *nl, unsigned ifindex, const char *ipv4, const uint8_t *mac,
		 struct thaw_err **err);

/* A veth pair: host_name stays in this namespace, peer_name goes into the
 * namespace of peer_ns_fd. */
int nl_veth_create(struct nl *nl, const char *host_name, const char *peer_name, int peer_ns_fd,
		   struct thaw_err **err);
/* Deletes a link by name; a missing one is fine. */
int nl_link_delete(struct nl *nl, const char *ifname, struct thaw_err **err);
/* default via gw */
int nl_route_default(struct nl *nl, const char *gw, struct thaw_err **err);

/* Writes a sysctl of the calling thread's network namespace, e.g.
 * "net/ipv4/ip_forward". */
int sysctl_write(const char *key, const char *value, struct thaw_err **err);

/* "aa:bb:cc:dd:ee:ff" -> 6 bytes; -1 when malformed. */
int nl_parse_mac(const char *s, uint8_t out[6]);

#endif
