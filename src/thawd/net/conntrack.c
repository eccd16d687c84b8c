#include "net/conntrack.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <sys/socket.h>
#include <time.h>

int conntrack_flush(struct thaw_err **err)
{
	struct mnl_socket *s = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!s)
		return err_sys(err, "opening a netfilter netlink socket");
	int rc = -1;
	char b[1024];
	struct nlmsghdr *h = mnl_nlmsg_put_header(b);
	h->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	h->nlmsg_seq = (unsigned)time(NULL);
	struct nfgenmsg *nf = mnl_nlmsg_put_extra_header(h, sizeof(*nf));
	nf->nfgen_family = AF_INET;
	nf->version = NFNETLINK_V0;
	nf->res_id = 0;
	if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_sendto(s, h, h->nlmsg_len) < 0) {
		err_sys(err, "flushing conntrack");
		goto out;
	}
	ssize_t n = mnl_socket_recvfrom(s, b, sizeof(b));
	if (n < 0 || mnl_cb_run(b, (size_t)n, h->nlmsg_seq, mnl_socket_get_portid(s), NULL, NULL) < 0) {
		/* No conntrack module loaded means nothing to flush. */
		if (errno == ENOENT || errno == EOPNOTSUPP) {
			rc = 0;
			goto out;
		}
		err_sys(err, "flushing conntrack");
		goto out;
	}
	rc = 0;
out:
	mnl_socket_close(s);
	return rc;
}
