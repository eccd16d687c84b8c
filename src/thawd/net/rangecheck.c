#include "net/rangecheck.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define DUMP_BUF_SIZE 32768

bool cidr_overlap(uint32_t a, uint8_t alen, uint32_t b, uint8_t blen)
{
	uint8_t len = alen < blen ? alen : blen;
	uint32_t mask = len == 0 ? 0 : ~0u << (32 - len);
	return (a & mask) == (b & mask);
}

struct scan {
	const struct slot_range *range;
	const char *own_prefix;
	char found[160]; /* first conflict, "" when none */
};

/* Records a conflict unless the interface is one of ours. */
static void consider(struct scan *sc, const char *kind, uint32_t addr_be, uint8_t len,
		     unsigned ifindex)
{
	if (sc->found[0] || len == 0)
		return;
	if (!cidr_overlap(ntohl(addr_be), len, sc->range->base, sc->range->prefix))
		return;
	char ifname[IF_NAMESIZE] = "?";
	if (ifindex && !if_indextoname(ifindex, ifname))
		snprintf(ifname, sizeof(ifname), "#%u", ifindex);
	if (ifindex && strncmp(ifname, sc->own_prefix, strlen(sc->own_prefix)) == 0)
		return;
	char text[INET_ADDRSTRLEN];
	struct in_addr a = { .s_addr = addr_be };
	inet_ntop(AF_INET, &a, text, sizeof(text));
	snprintf(sc->found, sizeof(sc->found), "%s %s/%u on interface %s", kind, text, len,
		 ifname);
}

static int addr_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	unsigned type = mnl_attr_get_type(a);
	if (type == IFA_LOCAL || type == IFA_ADDRESS) {
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		tb[type] = a;
	}
	return MNL_CB_OK;
}

static int on_addr(const struct nlmsghdr *h, void *data)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(h);
	const struct nlattr *tb[IFA_MAX + 1] = { 0 };
	if (ifa->ifa_family != AF_INET ||
	    mnl_attr_parse(h, sizeof(*ifa), addr_attr, tb) < 0)
		return MNL_CB_OK;
	const struct nlattr *a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	if (a)
		consider(data, "address", mnl_attr_get_u32(a), ifa->ifa_prefixlen,
			 ifa->ifa_index);
	return MNL_CB_OK;
}

static int route_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	unsigned type = mnl_attr_get_type(a);
	if (type == RTA_DST || type == RTA_OIF || type == RTA_TABLE) {
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		tb[type] = a;
	}
	return MNL_CB_OK;
}

static int on_route(const struct nlmsghdr *h, void *data)
{
	const struct rtmsg *rt = mnl_nlmsg_get_payload(h);
	const struct nlattr *tb[RTA_MAX + 1] = { 0 };
	if (rt->rtm_family != AF_INET || mnl_attr_parse(h, sizeof(*rt), route_attr, tb) < 0)
		return MNL_CB_OK;
	unsigned table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rt->rtm_table;
	if (table != RT_TABLE_MAIN || !tb[RTA_DST])
		return MNL_CB_OK;
	consider(data, "route", mnl_attr_get_u32(tb[RTA_DST]), rt->rtm_dst_len,
		 tb[RTA_OIF] ? mnl_attr_get_u32(tb[RTA_OIF]) : 0);
	return MNL_CB_OK;
}

static int dump(struct mnl_socket *s, uint16_t type, size_t hdr_size, mnl_cb_t cb,
		struct scan *sc, struct thaw_err **err)
{
	char b[DUMP_BUF_SIZE];
	struct nlmsghdr *h = mnl_nlmsg_put_header(b);
	h->nlmsg_type = type;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	h->nlmsg_seq = (unsigned)time(NULL) + type;
	/* ifaddrmsg and rtmsg both start with the family byte. */
	uint8_t *family = mnl_nlmsg_put_extra_header(h, hdr_size);
	*family = AF_INET;
	unsigned seq = h->nlmsg_seq, portid = mnl_socket_get_portid(s);
	if (mnl_socket_sendto(s, h, h->nlmsg_len) < 0)
		return err_sys(err, "netlink dump request");
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(s, b, sizeof(b));
		if (n < 0)
			return err_sys(err, "netlink dump");
		int rc = mnl_cb_run(b, (size_t)n, seq, portid, cb, sc);
		if (rc < 0)
			return err_sys(err, "netlink dump");
		if (rc == MNL_CB_STOP)
			return 0;
	}
}

int slot_range_check(const struct slot_range *r, const char *own_if_prefix,
		     struct thaw_err **err)
{
	struct scan sc = { .range = r, .own_prefix = own_if_prefix };
	struct mnl_socket *s = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!s)
		return err_sys(err, "opening rtnetlink socket");
	int rc = -1;
	if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) {
		err_sys(err, "binding rtnetlink socket");
		goto out;
	}
	if (dump(s, RTM_GETADDR, sizeof(struct ifaddrmsg), on_addr, &sc, err) < 0 ||
	    dump(s, RTM_GETROUTE, sizeof(struct rtmsg), on_route, &sc, err) < 0)
		goto out;
	if (sc.found[0]) {
		err_set(err, ERR_CONFLICT,
			"slot range %s overlaps %s (another thawd, or a network of this "
			"host); choose a free range with --slot-cidr",
			r->text, sc.found);
		goto out;
	}
	rc = 0;
out:
	mnl_socket_close(s);
	return rc;
}
