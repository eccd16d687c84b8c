#include "net/conntrack.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "buf.h"

#define CT_BUF_SIZE 32768

static struct mnl_socket *ct_open(struct thaw_err **err)
{
	struct mnl_socket *s = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!s) {
		err_sys(err, "opening a netfilter netlink socket");
		return NULL;
	}
	if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) {
		err_sys(err, "binding a netfilter netlink socket");
		mnl_socket_close(s);
		return NULL;
	}
	return s;
}

static struct nlmsghdr *ct_header(char *b, uint8_t msg, uint16_t flags, unsigned seq)
{
	struct nlmsghdr *h = mnl_nlmsg_put_header(b);
	h->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | msg;
	h->nlmsg_flags = NLM_F_REQUEST | flags;
	h->nlmsg_seq = seq;
	struct nfgenmsg *nf = mnl_nlmsg_put_extra_header(h, sizeof(*nf));
	nf->nfgen_family = AF_INET;
	nf->version = NFNETLINK_V0;
	nf->res_id = 0;
	return h;
}

/* Sends h and waits for its ACK; a missing entry is not an error. */
static int ct_ack(struct mnl_socket *s, struct nlmsghdr *h, const char *what,
		  struct thaw_err **err)
{
	char b[CT_BUF_SIZE];
	if (mnl_socket_sendto(s, h, h->nlmsg_len) < 0)
		return err_sys(err, "%s", what);
	ssize_t n = mnl_socket_recvfrom(s, b, sizeof(b));
	if (n >= 0 && mnl_cb_run(b, (size_t)n, h->nlmsg_seq, mnl_socket_get_portid(s), NULL,
				 NULL) >= 0)
		return 0;
	/* ENOENT: no such entry, or no conntrack module: nothing to forget. */
	if (errno == ENOENT || errno == EOPNOTSUPP)
		return 0;
	return err_sys(err, "%s", what);
}

int conntrack_flush(struct thaw_err **err)
{
	struct mnl_socket *s = ct_open(err);
	if (!s)
		return -1;
	char b[1024];
	struct nlmsghdr *h = ct_header(b, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, (unsigned)time(NULL));
	int rc = ct_ack(s, h, "flushing conntrack", err);
	mnl_socket_close(s);
	return rc;
}

/* What a dump collects: the original tuples (attribute and all, ready to
 * be sent back in a delete) and zones of the matching entries. */
struct matches {
	uint32_t addr; /* network byte order */
	struct buf tuples;
	size_t count;
};

struct match_hdr {
	uint16_t zone;
	uint16_t has_zone;
	uint32_t len; /* of the CTA_TUPLE_ORIG attribute that follows */
};

static int top_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	unsigned type = mnl_attr_get_type(a);
	if (type == CTA_TUPLE_ORIG || type == CTA_ZONE)
		tb[type] = a;
	return MNL_CB_OK;
}

static int ip_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	unsigned type = mnl_attr_get_type(a);
	if ((type == CTA_IP_V4_SRC || type == CTA_IP_V4_DST) &&
	    mnl_attr_validate(a, MNL_TYPE_U32) == 0)
		tb[type] = a;
	return MNL_CB_OK;
}

static int tuple_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	if (mnl_attr_get_type(a) == CTA_TUPLE_IP && mnl_attr_validate(a, MNL_TYPE_NESTED) == 0)
		tb[CTA_TUPLE_IP] = a;
	return MNL_CB_OK;
}

static bool tuple_has(const struct nlattr *orig, uint32_t addr)
{
	const struct nlattr *t[CTA_TUPLE_MAX + 1] = { 0 };
	const struct nlattr *ip[CTA_IP_MAX + 1] = { 0 };
	if (mnl_attr_parse_nested(orig, tuple_attr, t) < 0 || !t[CTA_TUPLE_IP] ||
	    mnl_attr_parse_nested(t[CTA_TUPLE_IP], ip_attr, ip) < 0)
		return false;
	return (ip[CTA_IP_V4_SRC] && mnl_attr_get_u32(ip[CTA_IP_V4_SRC]) == addr) ||
	       (ip[CTA_IP_V4_DST] && mnl_attr_get_u32(ip[CTA_IP_V4_DST]) == addr);
}

static int on_entry(const struct nlmsghdr *h, void *data)
{
	struct matches *m = data;
	const struct nlattr *tb[CTA_MAX + 1] = { 0 };
	if (mnl_attr_parse(h, sizeof(struct nfgenmsg), top_attr, tb) < 0 || !tb[CTA_TUPLE_ORIG] ||
	    mnl_attr_validate(tb[CTA_TUPLE_ORIG], MNL_TYPE_NESTED) < 0 ||
	    !tuple_has(tb[CTA_TUPLE_ORIG], m->addr))
		return MNL_CB_OK;
	struct match_hdr mh = { .len = tb[CTA_TUPLE_ORIG]->nla_len };
	if (tb[CTA_ZONE] && mnl_attr_validate(tb[CTA_ZONE], MNL_TYPE_U16) == 0) {
		mh.zone = mnl_attr_get_u16(tb[CTA_ZONE]);
		mh.has_zone = 1;
	}
	buf_append(&m->tuples, &mh, sizeof(mh));
	buf_append(&m->tuples, tb[CTA_TUPLE_ORIG], MNL_ALIGN(mh.len));
	m->count++;
	return MNL_CB_OK;
}

static int dump_matches(struct mnl_socket *s, struct matches *m, struct thaw_err **err)
{
	char b[CT_BUF_SIZE];
	unsigned seq = (unsigned)time(NULL);
	struct nlmsghdr *h = ct_header(b, IPCTNL_MSG_CT_GET, NLM_F_DUMP, seq);
	if (mnl_socket_sendto(s, h, h->nlmsg_len) < 0)
		return err_sys(err, "dumping conntrack");
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(s, b, sizeof(b));
		if (n < 0)
			return err_sys(err, "dumping conntrack");
		int rc = mnl_cb_run(b, (size_t)n, seq, mnl_socket_get_portid(s), on_entry, m);
		if (rc == MNL_CB_STOP)
			return 0;
		if (rc < 0)
			return errno == ENOENT || errno == EOPNOTSUPP ? 0
								       : err_sys(err, "dumping conntrack");
	}
}

int conntrack_forget_addr(struct in_addr addr, unsigned *forgotten, struct thaw_err **err)
{
	struct mnl_socket *s = ct_open(err);
	if (!s)
		return -1;
	struct matches m = { .addr = addr.s_addr };
	int rc = dump_matches(s, &m, err);
	const struct buf *tuples = &m.tuples;
	/* Deletes go after the dump: a socket carries one request at a time. */
	size_t off = 0;
	unsigned seq = (unsigned)time(NULL) + 1;
	for (size_t i = 0; rc == 0 && i < m.count; i++) {
		struct match_hdr mh;
		memcpy(&mh, tuples->data + off, sizeof(mh));
		off += sizeof(mh);
		char b[1024];
		struct nlmsghdr *h = ct_header(b, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, seq++);
		if (mh.len > sizeof(b) - h->nlmsg_len - 16) {
			rc = err_set(err, ERR_INTERNAL, "conntrack tuple of %u bytes", mh.len);
			break;
		}
		memcpy(mnl_nlmsg_get_payload_tail(h), tuples->data + off, mh.len);
		h->nlmsg_len += MNL_ALIGN(mh.len);
		off += MNL_ALIGN(mh.len);
		if (mh.has_zone)
			mnl_attr_put_u16(h, CTA_ZONE, mh.zone);
		rc = ct_ack(s, h, "deleting a conntrack entry", err);
	}
	mnl_socket_close(s);
	buf_free(&m.tuples);
	if (rc == 0 && forgotten)
		*forgotten = (unsigned)m.count;
	return rc;
}
