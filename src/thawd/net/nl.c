#include "nl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"

/* MNL_SOCKET_BUFFER_SIZE is a run-time value (a VLA); our messages are small. */
#define NL_BUF_SIZE 8192

struct nl {
	struct mnl_socket *sock;
	unsigned portid;
	unsigned seq;
};

int nl_open(struct nl **out, struct thaw_err **err)
{
	struct mnl_socket *s = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!s)
		return err_sys(err, "opening rtnetlink socket");
	if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) {
		err_sys(err, "binding rtnetlink socket");
		mnl_socket_close(s);
		return -1;
	}
	struct nl *nl = xcalloc(1, sizeof(*nl));
	nl->sock = s;
	nl->portid = mnl_socket_get_portid(s);
	nl->seq = (unsigned)time(NULL);
	*out = nl;
	return 0;
}

void nl_close(struct nl *nl)
{
	if (!nl)
		return;
	mnl_socket_close(nl->sock);
	free(nl);
}

/* Sends a request that asks for an ACK and waits for it. */
static int nl_request(struct nl *nl, struct nlmsghdr *h, const char *what, struct thaw_err **err)
{
	h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	h->nlmsg_seq = ++nl->seq;
	if (mnl_socket_sendto(nl->sock, h, h->nlmsg_len) < 0)
		return err_sys(err, "netlink %s", what);
	char rbuf[NL_BUF_SIZE];
	ssize_t n = mnl_socket_recvfrom(nl->sock, rbuf, sizeof(rbuf));
	if (n < 0)
		return err_sys(err, "netlink %s", what);
	if (mnl_cb_run(rbuf, (size_t)n, nl->seq, nl->portid, NULL, NULL) < 0)
		return err_sys(err, "netlink %s", what);
	return 0;
}

int nl_link_index(const char *ifname, unsigned *out, struct thaw_err **err)
{
	unsigned idx = if_nametoindex(ifname);
	if (!idx)
		return err_sys(err, "finding interface %s", ifname);
	*out = idx;
	return 0;
}

int nl_link_up(struct nl *nl, unsigned ifindex, const uint8_t *mac, struct thaw_err **err)
{
	char b[NL_BUF_SIZE];
	struct nlmsghdr *h = mnl_nlmsg_put_header(b);
	h->nlmsg_type = RTM_NEWLINK;
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)ifindex;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	if (mac)
		mnl_attr_put(h, IFLA_ADDRESS, 6, mac);
	return nl_request(nl, h, "link up", err);
}

int nl_addr_add(struct nl *nl, unsigned ifindex, const char *ipv4, uint8_t prefix,
		struct thaw_err **err)
{
	struct in_addr a;
	if (inet_pton(AF_INET, ipv4, &a) != 1)
		return err_set(err, ERR_INTERNAL, "bad IPv4 address %s", ipv4);
	char b[NL_BUF_SIZE];
	struct nlmsghdr *h = mnl_nlmsg_put_header(b);
	h->nlmsg_type = RTM_NEWADDR;
	h->nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(h, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = ifindex;
	mnl_attr_put_u32(h, IFA_LOCAL, a.s_addr);
	mnl_attr_put_u32(h, IFA_ADDRESS, a.s_addr);
	return nl_request(nl, h, "address add", err);
}

int nl_neigh_add(struct nl *nl, unsigned ifindex, const char *ipv4, const uint8_t *mac,
		 struct thaw_err **err)
{
	struct in_addr a;
	if (inet_pton(AF_INET, ipv4, &a) != 1)
		return err_set(err, ERR_INTERNAL, "bad IPv4 address %s", ipv4);
	char b[NL_BUF_SIZE];
	struct nlmsghdr *h = mnl_nlmsg_put_header(b);
	h->nlmsg_type = RTM_NEWNEIGH;
	h->nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
	struct ndmsg *nd = mnl_nlmsg_put_extra_header(h, sizeof(*nd));
	nd->ndm_family = AF_INET;
	nd->ndm_ifindex = (int)ifindex;
	nd->ndm_state = NUD_PERMANENT;
	mnl_attr_put_u32(h, NDA_DST, a.s_addr);
	mnl_attr_put(h, NDA_LLADDR, 6, mac);
	return nl_request(nl, h, "neighbour add", err);
}

int nl_veth_create(struct nl *nl, const char *host_name, const char *peer_name, int peer_ns_fd,
		   struct thaw_err **err)
{
	char b[NL_BUF_SIZE];
	struct nlmsghdr *h = mnl_nlmsg_put_header(b);
	h->nlmsg_type = RTM_NEWLINK;
	h->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(h, IFLA_IFNAME, host_name);
	struct nlattr *linkinfo = mnl_attr_nest_start(h, IFLA_LINKINFO);
	mnl_attr_put_strz(h, IFLA_INFO_KIND, "veth");
	struct nlattr *data = mnl_attr_nest_start(h, IFLA_INFO_DATA);
	struct nlattr *peer = mnl_attr_nest_start(h, VETH_INFO_PEER);
	struct ifinfomsg *pi = mnl_nlmsg_put_extra_header(h, sizeof(*pi));
	pi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(h, IFLA_IFNAME, peer_name);
	mnl_attr_put_u32(h, IFLA_NET_NS_FD, (uint32_t)peer_ns_fd);
	mnl_attr_nest_end(h, peer);
	mnl_attr_nest_end(h, data);
	mnl_attr_nest_end(h, linkinfo);
	return nl_request(nl, h, "veth create", err);
}

int nl_link_delete(struct nl *nl, const char *ifname, struct thaw_err **err)
{
	char b[NL_BUF_SIZE];
	struct nlmsghdr *h = mnl_nlmsg_put_header(b);
	h->nlmsg_type = RTM_DELLINK;
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(h, IFLA_IFNAME, ifname);
	struct thaw_err *e = NULL;
	if (nl_request(nl, h, "link delete", &e) == 0)
		return 0;
	int missing = e->sys_errno == ENODEV || e->code == ERR_NOT_FOUND;
	if (missing) {
		err_free(e);
		return 0;
	}
	if (err && !*err)
		*err = e;
	else
		err_free(e);
	return -1;
}

int nl_route_default(struct nl *nl, const char *gw, struct thaw_err **err)
{
	struct in_addr a;
	if (inet_pton(AF_INET, gw, &a) != 1)
		return err_set(err, ERR_INTERNAL, "bad IPv4 address %s", gw);
	char b[NL_BUF_SIZE];
	struct nlmsghdr *h = mnl_nlmsg_put_header(b);
	h->nlmsg_type = RTM_NEWROUTE;
	h->nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
	struct rtmsg *rt = mnl_nlmsg_put_extra_header(h, sizeof(*rt));
	rt->rtm_family = AF_INET;
	rt->rtm_dst_len = 0;
	rt->rtm_table = RT_TABLE_MAIN;
	rt->rtm_protocol = RTPROT_STATIC;
	rt->rtm_scope = RT_SCOPE_UNIVERSE;
	rt->rtm_type = RTN_UNICAST;
	mnl_attr_put_u32(h, RTA_GATEWAY, a.s_addr);
	return nl_request(nl, h, "default route", err);
}

int sysctl_write(const char *key, const char *value, struct thaw_err **err)
{
	char path[256];
	snprintf(path, sizeof(path), "/proc/sys/%s", key);
	/* /proc/sys/net resolves the namespace of the opening thread. */
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "opening %s", path);
	ssize_t n = write(fd, value, strlen(value));
	int saved = errno;
	close(fd);
	if (n != (ssize_t)strlen(value)) {
		errno = saved;
		return err_sys(err, "writing %s", path);
	}
	return 0;
}

int nl_parse_mac(const char *s, uint8_t out[6])
{
	unsigned v[6];
	char extra;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &extra) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		out[i] = (uint8_t)v[i];
	return 0;
}
