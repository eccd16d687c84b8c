#include "slot.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "guestnet.h"
#include "log.h"
#include "netns.h"
#include "nl.h"

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
	*out = steal_fd(&fd);
	return 0;
}

static int configure_links(struct netslot *s, struct thaw_err **err)
{
	struct nl *nl = NULL;
	uint8_t host_mac[6], guest_mac[6];
	unsigned lo, tap;
	nl_parse_mac(GUESTNET_HOST_MAC, host_mac);
	nl_parse_mac(GUESTNET_GUEST_MAC, guest_mac);
	int rc = -1;
	if (tap_open(GUESTNET_TAP_NAME, &s->tap_fd, err) < 0 || nl_open(&nl, err) < 0 ||
	    nl_link_index("lo", &lo, err) < 0 || nl_link_index(GUESTNET_TAP_NAME, &tap, err) < 0)
		goto out;
	if (nl_link_up(nl, lo, NULL, err) < 0 || nl_link_up(nl, tap, host_mac, err) < 0 ||
	    nl_addr_add(nl, tap, GUESTNET_HOST_IP, GUESTNET_PREFIX, err) < 0 ||
	    nl_neigh_add(nl, tap, GUESTNET_GUEST_IP, guest_mac, err) < 0)
		goto out;
	rc = 0;
out:
	nl_close(nl);
	return rc;
}

int netslot_create(const char *name, struct netslot **out, struct thaw_err **err)
{
	struct netslot *s = xcalloc(1, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->ns_fd = s->tap_fd = -1;
	int saved = -1;
	if (netns_create(name, &s->ns_fd, err) < 0)
		goto fail;
	if (netns_enter(s->ns_fd, &saved, err) < 0)
		goto fail;
	int rc = configure_links(s, err);
	netns_leave(saved);
	if (rc < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	err_wrap(err, "building network slot %s", name);
	if (s->ns_fd < 0)
		s->name[0] = '\0'; /* not ours to delete: netns_create undid itself */
	netslot_destroy(s);
	return -1;
}

int netslot_attach(const char *name, struct netslot **out, struct thaw_err **err)
{
	struct netslot *s = xcalloc(1, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->tap_fd = -1;
	if (netns_open(name, &s->ns_fd, err) < 0) {
		free(s);
		return -1;
	}
	*out = s;
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

void netslot_destroy(struct netslot *s)
{
	if (!s)
		return;
	_cleanup_err_ struct thaw_err *err = NULL;
	if (s->name[0] && netns_delete(s->name, &err) < 0)
		log_warn("netslot.destroy", "netns=%s error=\"%s\"", s->name, err_msg(err));
	netslot_close(s);
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
