/*
 * nflog.c - the reader of packets the ruleset logs (layer: enforcement
 * support; see nflog.h): one nfnetlink_log socket, through libmnl.
 *
 * The socket is bound to one group in "copy packet" mode with a queue
 * threshold of one, so the kernel sends each packet as it is logged (its
 * default batches up to 100 for up to a second) and what the daemon shows
 * is live.  The receive buffer is enlarged, because the
 * kernel drops what does not fit (the socket reports ENOBUFS once, and
 * the loss is counted): a burst of logged drops must not cost the daemon
 * anything but records.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <endian.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>

#include "nflog.h"
#include "util.h"

/* What the kernel may queue for us before it drops: 4 MiB. */
#define RCVBUF (4u << 20)

struct nflog {
	struct mnl_socket *nl;
	uint16_t group;
	uint32_t seq;
	uint64_t lost;
	uint32_t last_seq;          /* the kernel's number of the last record */
	int have_seq;
	char *buf;                  /* MNL_SOCKET_BUFFER_SIZE x 8 */
	size_t buflen;
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* One configuration message for our group; @cmd 0: none. */
static struct nlmsghdr *config_msg(struct nflog *n, char *buf, uint8_t cmd)
{
	struct nlmsghdr *h = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *g;

	h->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	h->nlmsg_seq = ++n->seq;
	g = mnl_nlmsg_put_extra_header(h, sizeof *g);
	g->nfgen_family = AF_UNSPEC;
	g->version = NFNETLINK_V0;
	g->res_id = htons(n->group);
	if (cmd) {
		struct nfulnl_msg_config_cmd c = { .command = cmd };
		mnl_attr_put(h, NFULA_CFG_CMD, sizeof c, &c);
	}
	return h;
}

/* Send @h and wait for its acknowledgement; errno-style result. */
static int request(struct nflog *n, struct nlmsghdr *h)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	uint32_t port = mnl_socket_get_portid(n->nl);
	ssize_t r;

	if (mnl_socket_sendto(n->nl, h, h->nlmsg_len) < 0)
		return errno;
	for (;;) {
		r = mnl_socket_recvfrom(n->nl, buf, sizeof buf);
		if (r < 0)
			return errno;
		r = mnl_cb_run(buf, (size_t)r, h->nlmsg_seq, port, NULL,
		               NULL);
		if (r < 0)
			return errno;
		if (r == MNL_CB_STOP)
			return 0;
	}
}

struct nflog *nflog_open(uint16_t group, uint32_t snaplen, char *err,
                         size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nflog *n = xcalloc(1, sizeof *n);
	struct nfulnl_msg_config_mode mode;
	struct nlmsghdr *h;
	int e, size = RCVBUF;

	n->group = group;
	n->buflen = MNL_SOCKET_BUFFER_SIZE * 8;
	n->buf = xmalloc(n->buflen);
	n->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!n->nl || mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		fail(err, errlen, "nflog group %u: netlink socket: %s",
		     group, strerror(errno));
		goto failed;
	}
	/* RCVBUFFORCE passes rmem_max for root; plain RCVBUF is the
	 * fallback that may be capped */
	if (setsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, SO_RCVBUFFORCE,
	               &size, sizeof size) < 0)
		setsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, SO_RCVBUF,
		           &size, sizeof size);
	e = request(n, config_msg(n, buf, NFULNL_CFG_CMD_BIND));
	if (e) {
		/* the kernel says EPERM both to a process without
		 * CAP_NET_ADMIN and to a second binder of a group */
		if (e == EBUSY || (e == EPERM && geteuid() == 0))
			fail(err, errlen, "nflog group %u is taken by another "
			     "process (another bulkhead daemon in this network "
			     "namespace?): stop it first", group);
		else if (e == EPERM)
			fail(err, errlen, "nflog group %u: not permitted: "
			     "reading the log needs root (CAP_NET_ADMIN)",
			     group);
		else
			fail(err, errlen, "nflog group %u: bind: %s", group,
			     strerror(e));
		goto failed;
	}
	h = config_msg(n, buf, 0);
	mode = (struct nfulnl_msg_config_mode){
		.copy_range = htonl(snaplen ? snaplen : 256),
		.copy_mode = NFULNL_COPY_PACKET,
	};
	mnl_attr_put(h, NFULA_CFG_MODE, sizeof mode, &mode);
	/* numbered records: a gap is exactly what the kernel dropped */
	mnl_attr_put_u16(h, NFULA_CFG_FLAGS, htons(NFULNL_CFG_F_SEQ));
	/* each record at once: the kernel's default holds up to 100 of
	 * them for up to a second (a rule's queue-threshold still wins) */
	mnl_attr_put_u32(h, NFULA_CFG_QTHRESH, htonl(1));
	mnl_attr_put_u32(h, NFULA_CFG_TIMEOUT, htonl(1));
	e = request(n, h);
	if (e) {
		fail(err, errlen, "nflog group %u: copy mode: %s", group,
		     strerror(e));
		goto failed;
	}
	fcntl(mnl_socket_get_fd(n->nl), F_SETFL,
	      fcntl(mnl_socket_get_fd(n->nl), F_GETFL) | O_NONBLOCK);
	return n;

failed:
	nflog_close(n);
	return NULL;
}

void nflog_close(struct nflog *n)
{
	if (!n)
		return;
	if (n->nl)
		mnl_socket_close(n->nl);   /* the kernel unbinds the group */
	free(n->buf);
	free(n);
}

int nflog_fd(const struct nflog *n)
{
	return mnl_socket_get_fd(n->nl);
}

uint64_t nflog_lost(const struct nflog *n)
{
	return n->lost;
}

struct parse {
	const struct nlattr *tb[NFULA_MAX + 1];
};

static int attr_cb(const struct nlattr *a, void *data)
{
	struct parse *p = data;
	int type = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, NFULA_MAX) > 0)
		p->tb[type] = a;
	return MNL_CB_OK;
}

struct delivery {
	struct nflog *n;
	nflog_fn *fn;
	void *arg;
	int count;
};

static int msg_cb(const struct nlmsghdr *h, void *data)
{
	struct delivery *d = data;
	struct parse p;
	struct nflog_pkt pkt;
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(h);

	if ((h->nlmsg_type & 0xff) != NFULNL_MSG_PACKET ||
	    (h->nlmsg_type >> 8) != NFNL_SUBSYS_ULOG)
		return MNL_CB_OK;
	memset(&p, 0, sizeof p);
	if (mnl_attr_parse(h, sizeof *g, attr_cb, &p) < 0)
		return MNL_CB_OK;     /* a malformed record: skip it */
	memset(&pkt, 0, sizeof pkt);
	pkt.group = ntohs(g->res_id);
	pkt.prefix = "";
	if (p.tb[NFULA_PREFIX] &&
	    mnl_attr_validate(p.tb[NFULA_PREFIX], MNL_TYPE_NUL_STRING) == 0)
		pkt.prefix = mnl_attr_get_str(p.tb[NFULA_PREFIX]);
	if (p.tb[NFULA_PACKET_HDR] &&
	    mnl_attr_get_payload_len(p.tb[NFULA_PACKET_HDR]) >=
	    sizeof(struct nfulnl_msg_packet_hdr)) {
		const struct nfulnl_msg_packet_hdr *ph =
			mnl_attr_get_payload(p.tb[NFULA_PACKET_HDR]);
		pkt.ethertype = ntohs(ph->hw_protocol);
	}
	if (p.tb[NFULA_IFINDEX_INDEV] &&
	    mnl_attr_get_payload_len(p.tb[NFULA_IFINDEX_INDEV]) >= 4)
		pkt.indev = ntohl(mnl_attr_get_u32(p.tb[NFULA_IFINDEX_INDEV]));
	if (p.tb[NFULA_IFINDEX_OUTDEV] &&
	    mnl_attr_get_payload_len(p.tb[NFULA_IFINDEX_OUTDEV]) >= 4)
		pkt.outdev =
			ntohl(mnl_attr_get_u32(p.tb[NFULA_IFINDEX_OUTDEV]));
	if (p.tb[NFULA_HWADDR] &&
	    mnl_attr_get_payload_len(p.tb[NFULA_HWADDR]) >=
	    sizeof(struct nfulnl_msg_packet_hw)) {
		const struct nfulnl_msg_packet_hw *hw =
			mnl_attr_get_payload(p.tb[NFULA_HWADDR]);
		size_t l = ntohs(hw->hw_addrlen);

		if (l > sizeof hw->hw_addr)
			l = sizeof hw->hw_addr;
		pkt.hwaddr = hw->hw_addr;
		pkt.hwaddr_len = l;
	}
	if (p.tb[NFULA_PAYLOAD]) {
		pkt.payload = mnl_attr_get_payload(p.tb[NFULA_PAYLOAD]);
		pkt.len = mnl_attr_get_payload_len(p.tb[NFULA_PAYLOAD]);
	}
	if (p.tb[NFULA_TIMESTAMP] &&
	    mnl_attr_get_payload_len(p.tb[NFULA_TIMESTAMP]) >=
	    sizeof(struct nfulnl_msg_packet_timestamp)) {
		struct nfulnl_msg_packet_timestamp ts;

		/* netlink aligns attributes to 4 bytes, the struct wants 8 */
		memcpy(&ts, mnl_attr_get_payload(p.tb[NFULA_TIMESTAMP]),
		       sizeof ts);
		pkt.time_ms = (int64_t)be64toh(ts.sec) * 1000 +
		              (int64_t)be64toh(ts.usec) / 1000;
	}
	if (!pkt.time_ms)
		pkt.time_ms = util_now_ms();
	if (p.tb[NFULA_SEQ] && mnl_attr_get_payload_len(p.tb[NFULA_SEQ]) >= 4) {
		uint32_t seq = ntohl(mnl_attr_get_u32(p.tb[NFULA_SEQ]));

		if (d->n->have_seq && seq - d->n->last_seq > 1)
			d->n->lost += seq - d->n->last_seq - 1;
		d->n->last_seq = seq;
		d->n->have_seq = 1;
	}
	d->fn(d->arg, &pkt);
	d->count++;
	return MNL_CB_OK;
}

int nflog_read(struct nflog *n, nflog_fn *fn, void *arg, char *err,
               size_t errlen)
{
	struct delivery d = { n, fn, arg, 0 };

	for (;;) {
		ssize_t r = recv(mnl_socket_get_fd(n->nl), n->buf, n->buflen,
		                 MSG_DONTWAIT);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return d.count;
			if (errno == ENOBUFS) {
				/* records were dropped: the gap in their
				 * numbers will say how many */
				continue;
			}
			return fail(err, errlen, "nflog group %u: read: %s",
			            n->group, strerror(errno));
		}
		if (r == 0)
			return d.count;
		/* a record we cannot parse is skipped, not fatal */
		mnl_cb_run(n->buf, (size_t)r, 0, 0, msg_cb, &d);
	}
}
