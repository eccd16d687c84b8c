/* Guest network configuration with plain ioctls (no netlink library in
 * the static agent). The addresses are the fixed ones of guestnet.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "guestnet.h"

static void set_in_addr(struct sockaddr *sa, const char *ip)
{
	struct sockaddr_in *in = (struct sockaddr_in *)sa;
	memset(in, 0, sizeof(*in));
	in->sin_family = AF_INET;
	inet_pton(AF_INET, ip, &in->sin_addr);
}

static int if_config(int s, const char *name, const char *ip, const char *mask)
{
	struct ifreq r;
	memset(&r, 0, sizeof(r));
	snprintf(r.ifr_name, sizeof(r.ifr_name), "%s", name);
	set_in_addr(&r.ifr_addr, ip);
	if (ioctl(s, SIOCSIFADDR, &r) < 0)
		return -1;
	set_in_addr(&r.ifr_netmask, mask);
	if (ioctl(s, SIOCSIFNETMASK, &r) < 0)
		return -1;
	if (ioctl(s, SIOCGIFFLAGS, &r) < 0)
		return -1;
	r.ifr_flags |= IFF_UP | IFF_RUNNING;
	return ioctl(s, SIOCSIFFLAGS, &r);
}

static int default_route(int s)
{
	struct rtentry rt;
	memset(&rt, 0, sizeof(rt));
	set_in_addr(&rt.rt_dst, "0.0.0.0");
	set_in_addr(&rt.rt_genmask, "0.0.0.0");
	set_in_addr(&rt.rt_gateway, GUESTNET_HOST_IP);
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	if (ioctl(s, SIOCADDRT, &rt) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* A permanent neighbour entry for the host end: the host's MAC is the same
 * in every clone, so no ARP exchange is ever needed on the hot path. */
static int static_neighbour(int s)
{
	struct arpreq req;
	memset(&req, 0, sizeof(req));
	set_in_addr(&req.arp_pa, GUESTNET_HOST_IP);
	req.arp_ha.sa_family = ARPHRD_ETHER;
	unsigned int mac[6];
	sscanf(GUESTNET_HOST_MAC, "%x:%x:%x:%x:%x:%x", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4],
	       &mac[5]);
	for (int i = 0; i < 6; i++)
		req.arp_ha.sa_data[i] = (char)mac[i];
	req.arp_flags = ATF_PERM | ATF_COM;
	snprintf(req.arp_dev, sizeof(req.arp_dev), "%s", GUESTNET_IFACE);
	return ioctl(s, SIOCSARP, &req);
}

int netcfg_setup(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	int rc = 0;
	if (if_config(s, "lo", "127.0.0.1", "255.0.0.0") < 0) {
		agent_log("netcfg: lo: %s", strerror(errno));
		rc = -1;
	}
	if (if_config(s, GUESTNET_IFACE, GUESTNET_GUEST_IP, GUESTNET_NETMASK) < 0 ||
	    default_route(s) < 0 || static_neighbour(s) < 0) {
		agent_log("netcfg: %s: %s", GUESTNET_IFACE, strerror(errno));
		rc = -1;
	}
	close(s);
	return rc;
}
