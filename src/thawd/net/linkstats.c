#include "net/linkstats.h"

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"

#define DUMP_BUF_SIZE 32768

struct collect {
	const char *prefix;
	size_t prefix_len;
	struct link_stats *v;
	size_t n, cap;
};

static int on_link(const struct nlmsghdr *h, void *data)
{
	struct collect *c = data;
	const char *name = NULL;
	const struct rtnl_link_stats64 *st = NULL;
	const struct nlattr *a;
	mnl_attr_for_each(a, h, sizeof(struct ifinfomsg))
	{
		uint16_t type = mnl_attr_get_type(a);
		if (type == IFLA_IFNAME && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
			name = mnl_attr_get_str(a);
		else if (type == IFLA_STATS64 && mnl_attr_get_payload_len(a) >= sizeof(*st))
			st = mnl_attr_get_payload(a);
	}
	if (!name || !st || strncmp(name, c->prefix, c->prefix_len) != 0 ||
	    strlen(name) >= IF_NAMESIZE)
		return MNL_CB_OK;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	struct link_stats *e = &c->v[c->n++];
	memset(e, 0, sizeof(*e));
	memcpy(e->name, name, strlen(name));
	/* The payload may be unaligned for 64-bit loads. */
	memcpy(&e->rx_bytes, (const char *)st + offsetof(struct rtnl_link_stats64, rx_bytes),
	       sizeof(e->rx_bytes));
	memcpy(&e->tx_bytes, (const char *)st + offsetof(struct rtnl_link_stats64, tx_bytes),
	       sizeof(e->tx_bytes));
	return MNL_CB_OK;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct link_stats *)a)->name, ((const struct link_stats *)b)->name);
}

static int dump(struct mnl_socket *s, struct collect *c, struct thaw_err **err)
{
	char *buf = xmalloc(DUMP_BUF_SIZE);
	struct nlmsghdr *h = mnl_nlmsg_put_header(buf);
	h->nlmsg_type = RTM_GETLINK;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	unsigned seq = (unsigned)time(NULL);
	h->nlmsg_seq = seq;
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(h, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	int rc = -1;
	if (mnl_socket_sendto(s, h, h->nlmsg_len) < 0) {
		err_sys(err, "asking netlink for the links");
		goto out;
	}
	unsigned portid = mnl_socket_get_portid(s);
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(s, buf, DUMP_BUF_SIZE);
		if (n < 0) {
			err_sys(err, "reading the links from netlink");
			goto out;
		}
		int r = mnl_cb_run(buf, (size_t)n, seq, portid, on_link, c);
		if (r == MNL_CB_STOP)
			break;
		if (r < 0) {
			err_sys(err, "reading the links from netlink");
			goto out;
		}
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

int link_stats_dump(const char *prefix, struct link_stats **out, size_t *n,
		    struct thaw_err **err)
{
	struct mnl_socket *s = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!s)
		return err_sys(err, "opening rtnetlink socket");
	struct collect c = { .prefix = prefix, .prefix_len = strlen(prefix) };
	int rc = -1;
	if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0)
		err_sys(err, "binding rtnetlink socket");
	else
		rc = dump(s, &c, err);
	mnl_socket_close(s);
	if (rc < 0) {
		free(c.v);
		return -1;
	}
	if (c.n)
		qsort(c.v, c.n, sizeof(*c.v), by_name);
	*out = c.v;
	*n = c.n;
	return 0;
}

const struct link_stats *link_stats_find(const struct link_stats *v, size_t n, const char *name)
{
	struct link_stats key;
	memset(&key, 0, sizeof(key));
	if (strlen(name) >= sizeof(key.name))
		return NULL;
	memcpy(key.name, name, strlen(name));
	return n ? bsearch(&key, v, n, sizeof(*v), by_name) : NULL;
}
