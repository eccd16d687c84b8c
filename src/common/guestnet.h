/* The network every guest sees. It is baked into each snapshot, so every
 * clone has the same addresses; isolation comes from each sandbox living
 * in its own network namespace on the host. The host end's MAC is fixed
 * too: the guest's neighbour cache, frozen in the snapshot, must stay
 * valid in every clone. */
#ifndef THAW_GUESTNET_H
#define THAW_GUESTNET_H

#define GUESTNET_GUEST_IP "172.16.0.2"
#define GUESTNET_HOST_IP "172.16.0.1"
#define GUESTNET_PREFIX 30
#define GUESTNET_NETMASK "255.255.255.252"
#define GUESTNET_GUEST_MAC "52:54:00:74:68:77"
#define GUESTNET_HOST_MAC "02:74:68:61:77:01"
#define GUESTNET_TAP_NAME "tap0"
#define GUESTNET_IFACE "eth0"
#define GUESTNET_AGENT_PORT 7070

#endif
