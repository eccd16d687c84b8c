#include "net/slot.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "fsutil.h"
#include "guestnet.h"
#include "log.h"
#include "net/conntrack.h"
#include "net/netns.h"
#include "net/netpolicy.h"
#include "net/nft.h"
#include "net/nl.h"

#define SLOT_VETH "veth0"

void netslot_names(const struct slot_host *sh, uint32_t index, char *ns, size_t ns_size,
		   char *veth, size_t veth_size)
{
	snprintf(ns, ns_size, "%ss%u", sh->ns_prefix, index);
	snprintf(veth, veth_size, "%s%04x", sh->if_prefix, index);
}

/* IFF_VNET_HDR must be the same at bake and at restore: the virtio-net
 * offload features negotiated with the guest are in the snapshot. */
static int tap_open(const char *name, int *out, struct thaw_err **err)
{
	_cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "opening /dev/net/tun");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return err_sys(err, "creating tap %s", name);
	*out = fd_keep_high(steal_fd(&fd)); /* held until its VMM takes it */
	return 0;
}

/* The guest side, identical in every slot: tap0 with the fixed host-end
 * address and MAC, and a permanent neighbour entry for the guest. */
static int guest_link(struct nl *nl, struct netslot *s, struct thaw_err **err)
{
	uint8_t host_mac[6], guest_mac[6];
	unsigned tap;
	nl_parse_mac(GUESTNET_HOST_MAC, host_mac);
	nl_parse_mac(GUESTNET_GUEST_MAC, guest_mac);
	if (tap_open(GUESTNET_TAP_NAME, &s->tap_fd, err) < 0 ||
	    nl_link_index(GUESTNET_TAP_NAME, &tap, err) < 0 ||
	    nl_link_up(nl, tap, host_mac, err) < 0 ||
	    nl_addr_add(nl, tap, GUESTNET_HOST_IP, GUESTNET_PREFIX, err) < 0 ||
	    nl_neigh_add(nl, tap, GUESTNET_GUEST_IP, guest_mac, err) < 0)
		return -1;
	return 0;
}

/* Inside the namespace: loopback, the slot end of the veth, the route out,
 * forwarding and the guest's NAT. */
static int inside(const struct slot_host *sh, struct netslot *s, struct thaw_err **err)
{
	struct in_addr host_end, slot_end;
	char host_ip[INET_ADDRSTRLEN], slot_ip[INET_ADDRSTRLEN];
	slot_addrs(sh->range, s->index, &host_end, &slot_end);
	inet_ntop(AF_INET, &host_end, host_ip, sizeof(host_ip));
	inet_ntop(AF_INET, &slot_end, slot_ip, sizeof(slot_ip));
	struct nl *nl = NULL;
	unsigned lo, veth;
	int rc = -1;
	if (nl_open(&nl, err) < 0 || nl_link_index("lo", &lo, err) < 0 ||
	    nl_link_index(SLOT_VETH, &veth, err) < 0 || nl_link_up(nl, lo, NULL, err) < 0 ||
	    nl_addr_add(nl, veth, slot_ip, 30, err) < 0 || nl_link_up(nl, veth, NULL, err) < 0 ||
	    nl_route_default(nl, host_ip, err) < 0 || guest_link(nl, s, err) < 0 ||
	    sysctl_write("net/ipv4/ip_forward", "1", err) < 0 || nft_slot_install(err) < 0)
		goto out;
	rc = 0;
out:
	nl_close(nl);
	return rc;
}

/* In the root namespace: the host end of the veth pair. */
static int outside(const struct slot_host *sh, struct netslot *s, struct thaw_err **err)
{
	struct in_addr host_end, slot_end;
	char host_ip[INET_ADDRSTRLEN];
	slot_addrs(sh->range, s->index, &host_end, &slot_end);
	inet_ntop(AF_INET, &host_end, host_ip, sizeof(host_ip));
	struct nl *nl = NULL;
	unsigned veth;
	int rc = -1;
	if (nl_open(&nl, err) < 0 || nl_veth_create(nl, s->veth, SLOT_VETH, s->ns_fd, err) < 0 ||
	    nl_link_index(s->veth, &veth, err) < 0 || nl_addr_add(nl, veth, host_ip, 30, err) < 0 ||
	    nl_link_up(nl, veth, NULL, err) < 0)
		goto out;
	rc = 0;
out:
	nl_close(nl);
	return rc;
}

static struct netslot *slot_alloc(const struct slot_host *sh, uint32_t index)
{
	struct netslot *s = xcalloc(1, sizeof(*s));
	s->index = index;
	s->ns_fd = s->tap_fd = -1;
	struct in_addr host_end;
	slot_addrs(sh->range, index, &host_end, &s->slot_end);
	netslot_names(sh, index, s->name, sizeof(s->name), s->veth, sizeof(s->veth));
	return s;
}

int netslot_create(const struct slot_host *sh, uint32_t index, struct netslot **out,
		   struct thaw_err **err)
{
	struct netslot *s = slot_alloc(sh, index);
	int saved = -1;
	if (netns_create(s->name, &s->ns_fd, err) < 0) {
		s->name[0] = '\0'; /* not ours to delete: netns_create undid itself */
		goto fail;
	}
	if (outside(sh, s, err) < 0 || netns_enter(s->ns_fd, &saved, err) < 0)
		goto fail;
	int rc = inside(sh, s, err);
	netns_leave(saved);
	if (rc < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	err_wrap(err, "building network slot %u", index);
	netslot_destroy(s);
	return -1;
}

int netslot_attach(const struct slot_host *sh, uint32_t index, struct netslot **out,
		   struct thaw_err **err)
{
	struct netslot *s = slot_alloc(sh, index);
	if (netns_open(s->name, &s->ns_fd, err) < 0) {
		free(s);
		return -1;
	}
	s->has_policy = true; /* whatever its last sandbox had, until set */
	*out = s;
	return 0;
}

/* Root-namespace entries of the slot's address: the slot's masquerade
 * gives every guest the same source address, so an old entry could
 * match the next guest's connection. */
static int forget_outside(const struct netslot *s, struct thaw_err **err)
{
	unsigned n = 0;
	if (conntrack_forget_addr(s->slot_end, &n, err) < 0)
		return -1;
	if (n)
		log_debug("netslot.forget", "slot=%u entries=%u", s->index, n);
	return 0;
}

int netslot_reset(struct netslot *s, struct thaw_err **err)
{
	int saved = -1;
	netslot_release_tap(s);
	if (forget_outside(s, err) < 0 || netns_enter(s->ns_fd, &saved, err) < 0)
		return err_wrap(err, "resetting network slot %u", s->index);
	struct nl *nl = NULL;
	_cleanup_free_ char *unpolicy = netpolicy_nft_remove_script();
	/* The last sandbox's policy must not follow the slot to the next. */
	int rc = s->has_policy ? nft_run(unpolicy, err) : 0;
	if (rc == 0) {
		s->has_policy = false;
		rc = conntrack_flush(err);
	}
	if (rc == 0)
		rc = nl_open(&nl, err);
	/* The old tap vanished with its VMM, unless one still holds it. */
	if (rc == 0)
		rc = nl_link_delete(nl, GUESTNET_TAP_NAME, err);
	if (rc == 0)
		rc = guest_link(nl, s, err);
	nl_close(nl);
	netns_leave(saved);
	return rc < 0 ? err_wrap(err, "resetting network slot %u", s->index) : 0;
}

int netslot_set_policy(struct netslot *s, const struct netpolicy *p, struct thaw_err **err)
{
	bool none = netpolicy_is_default(p);
	if (none && !s->has_policy)
		return 0;
	_cleanup_free_ char *script =
		none ? netpolicy_nft_remove_script() : netpolicy_nft_script(p, GUESTNET_TAP_NAME);
	int saved = -1;
	if (netns_enter(s->ns_fd, &saved, err) < 0)
		return err_wrap(err, "setting the network policy of slot %u", s->index);
	int rc = nft_run(script, err);
	netns_leave(saved);
	if (rc < 0)
		return err_wrap(err, "setting the network policy of slot %u", s->index);
	s->has_policy = !none;
	return 0;
}

void netslot_release_tap(struct netslot *s)
{
	if (s && s->tap_fd >= 0) {
		close(s->tap_fd);
		s->tap_fd = -1;
	}
}

void netslot_close(struct netslot *s)
{
	if (!s)
		return;
	netslot_release_tap(s);
	if (s->ns_fd >= 0)
		close(s->ns_fd);
	free(s);
}

/* The host end goes first and synchronously: a namespace is torn down by
 * the kernel in the background, and the name must be free at once for the
 * next slot with this index. */
static void remove_by_name(const char *ns, const char *veth, struct in_addr slot_end)
{
	_cleanup_err_ struct thaw_err *err = NULL;
	struct nl *nl = NULL;
	if (veth[0] && (nl_open(&nl, &err) < 0 || nl_link_delete(nl, veth, &err) < 0))
		log_warn("netslot.remove", "veth=%s error=\"%s\"", veth, err_msg(err));
	nl_close(nl);
	err_free(err);
	err = NULL;
	if (ns[0] && netns_delete(ns, &err) < 0)
		log_warn("netslot.remove", "netns=%s error=\"%s\"", ns, err_msg(err));
	err_free(err);
	err = NULL;
	if (conntrack_forget_addr(slot_end, NULL, &err) < 0)
		log_warn("netslot.remove", "netns=%s error=\"%s\"", ns, err_msg(err));
}

void netslot_destroy(struct netslot *s)
{
	if (!s)
		return;
	netslot_release_tap(s);
	if (s->ns_fd >= 0)
		close(s->ns_fd);
	s->ns_fd = -1;
	remove_by_name(s->name, s->name[0] ? s->veth : "", s->slot_end);
	free(s);
}

void netslot_remove(const struct slot_host *sh, uint32_t index)
{
	char ns[64], veth[IF_NAMESIZE];
	struct in_addr host_end, slot_end;
	netslot_names(sh, index, ns, sizeof(ns), veth, sizeof(veth));
	slot_addrs(sh->range, index, &host_end, &slot_end);
	remove_by_name(ns, veth, slot_end);
}

int netslot_socket(const struct netslot *s, int domain, int type, int *out,
		   struct thaw_err **err)
{
	int saved;
	if (netns_enter(s->ns_fd, &saved, err) < 0)
		return -1;
	int fd = socket(domain, type | SOCK_CLOEXEC, 0);
	int e = errno;
	netns_leave(saved);
	if (fd < 0) {
		errno = e;
		return err_sys(err, "creating socket in %s", s->name);
	}
	*out = fd;
	return 0;
}
