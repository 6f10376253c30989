/*
 * links.c - the daemon's links service (layer: inventory and events): NICs
 * follow their host-side interfaces through rtnetlink link events (libmnl,
 * group RTMGRP_LINK of the daemon's own network namespace).  See links.h
 * for what it keeps and why.
 *
 * Costs: a link event of an interface no NIC holds is one indexed store
 * read; one of a known NIC whose presence and index did not change (a flag
 * or carrier change) is two.  A NIC going away dumps the index-keyed sets
 * once (O(live flows)) to remove its elements; one coming back asks the
 * kernel for its two chains.  Nothing loads the whole inventory.
 */
#include <errno.h>
#include <stdarg.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/rtnetlink.h>

#include "compile.h"
#include "links.h"
#include "loop.h"
#include "policy.h"
#include "store.h"

/* Newer than the uapi headers installed here (Linux 6.3): a delete that
 * ignores elements already gone (a flow that timed out meanwhile). */
#ifndef NFT_MSG_DESTROYSETELEM
#define NFT_MSG_DESTROYSETELEM 30
#endif

/* The sets whose keys begin with an interface index (compile.c). */
static const char *const index_sets[] = {
	"flow4_tcp", "flow4_udp", "flow6_tcp", "flow6_udp",
	"ping4_in", "ping4_out", "ping6_in", "ping6_out",
	"rel4", "rel6", "rej4", "rej6", NULL
};

struct links {
	struct bh *bh;
	struct loop *loop;
	struct mnl_socket *ev;      /* RTMGRP_LINK subscription */
	unsigned seq;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- nf_tables over a short-lived netlink socket ------------------------- */

struct nf {
	struct mnl_socket *nl;
	unsigned seq;
	unsigned portid;
};

static int nf_open(struct bh *bh, struct nf *nf)
{
	nf->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nf->nl)
		return bh_error(bh, "links: netlink: %s", strerror(errno));
	if (mnl_socket_bind(nf->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		mnl_socket_close(nf->nl);
		nf->nl = NULL;
		return bh_error(bh, "links: netlink bind: %s", strerror(errno));
	}
	nf->portid = mnl_socket_get_portid(nf->nl);
	nf->seq = (unsigned)time(NULL);
	return 0;
}

static void nf_close(struct nf *nf)
{
	if (nf->nl)
		mnl_socket_close(nf->nl);
	nf->nl = NULL;
}

static struct nlmsghdr *nf_msg(void *buf, int type, int flags, unsigned seq,
                               int family, int res)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
	nfg->nfgen_family = family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = htons(res);
	return nlh;
}

/* Send @nlh and read until its ACK or error (or a dump's end), handing
 * every data message to @cb.  Returns 0, or -errno from the kernel. */
static int nf_talk(struct nf *nf, const void *msg, size_t len,
                   mnl_cb_t cb, void *data)
{
	static char buf[65536];
	int rc;

	if (mnl_socket_sendto(nf->nl, msg, len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nf->nl, buf, sizeof buf);

		if (n < 0)
			return -errno;
		rc = mnl_cb_run(buf, n, 0, nf->portid, cb, data);
		if (rc == MNL_CB_ERROR)
			return errno ? -errno : -EIO;
		if (rc == MNL_CB_STOP)
			return 0;
	}
}

/* Does chain @name of the table exist?  1 yes, 0 no, -1 table missing. */
static int chain_exists(struct nf *nf, const char *name)
{
	char buf[8192];
	struct nlmsghdr *nlh;
	int rc;

	nlh = nf_msg(buf, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETCHAIN,
	             NLM_F_ACK, nf->seq++, NFPROTO_NETDEV, 0);
	mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, COMPILE_TABLE);
	mnl_attr_put_strz(nlh, NFTA_CHAIN_NAME, name);
	rc = nf_talk(nf, nlh, nlh->nlmsg_len, NULL, NULL);
	if (rc == 0)
		return 1;
	if (rc == -ENOENT) {
		/* ENOENT for a missing table too: ask about the table. */
		nlh = nf_msg(buf, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE,
		             NLM_F_ACK, nf->seq++, NFPROTO_NETDEV, 0);
		mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, COMPILE_TABLE);
		return nf_talk(nf, nlh, nlh->nlmsg_len, NULL, NULL) == 0 ? 0 : -1;
	}
	return 1;   /* unsure: do not re-apply on a transient error */
}

/* Keys of one set's dump whose first four bytes are the index. */
struct keys {
	uint32_t ifindex;
	unsigned char (*k)[64];
	size_t *len;
	size_t n, cap;
};

static void keys_add(struct keys *ks, const void *key, size_t len)
{
	if (ks->n == ks->cap) {
		ks->cap = ks->cap ? ks->cap * 2 : 64;
		ks->k = xrealloc(ks->k, ks->cap * sizeof *ks->k);
		ks->len = xrealloc(ks->len, ks->cap * sizeof *ks->len);
	}
	memcpy(ks->k[ks->n], key, len);
	ks->len[ks->n++] = len;
}

static int elem_cb(const struct nlattr *a, void *data)
{
	struct keys *ks = data;
	struct nlattr *b, *c;

	if (mnl_attr_get_type(a) != NFTA_LIST_ELEM)
		return MNL_CB_OK;
	mnl_attr_for_each_nested(b, a) {
		if (mnl_attr_get_type(b) != NFTA_SET_ELEM_KEY)
			continue;
		mnl_attr_for_each_nested(c, b) {
			const unsigned char *v = mnl_attr_get_payload(c);
			size_t len = mnl_attr_get_payload_len(c);
			uint32_t idx;

			if (mnl_attr_get_type(c) != NFTA_DATA_VALUE || len < 4 ||
			    len > 64)
				continue;
			memcpy(&idx, v, 4);   /* meta iif/oif: host order */
			if (idx == ks->ifindex)
				keys_add(ks, v, len);
		}
	}
	return MNL_CB_OK;
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nlattr *a;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) != NFTA_SET_ELEM_LIST_ELEMENTS)
			continue;
		struct nlattr *e;

		mnl_attr_for_each_nested(e, a)
			elem_cb(e, data);
	}
	return MNL_CB_OK;
}

/* Delete @ks's keys from @set in batches of at most 256. */
static int keys_delete(struct nf *nf, const char *set, struct keys *ks,
                       int type)
{
	static char buf[131072];

	for (size_t off = 0; off < ks->n; off += 256) {
		struct mnl_nlmsg_batch *b = mnl_nlmsg_batch_start(buf,
		                                                  sizeof buf / 2);
		struct nlmsghdr *nlh;
		struct nlattr *list;
		int rc;

		nf_msg(mnl_nlmsg_batch_current(b), NFNL_MSG_BATCH_BEGIN, 0,
		       nf->seq++, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
		mnl_nlmsg_batch_next(b);
		nlh = nf_msg(mnl_nlmsg_batch_current(b),
		             (NFNL_SUBSYS_NFTABLES << 8) | type, NLM_F_ACK,
		             nf->seq++, NFPROTO_NETDEV, 0);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, COMPILE_TABLE);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
		list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
		for (size_t i = off; i < ks->n && i < off + 256; i++) {
			struct nlattr *el = mnl_attr_nest_start(nlh,
			                                        NFTA_LIST_ELEM);
			struct nlattr *key = mnl_attr_nest_start(nlh,
			                                         NFTA_SET_ELEM_KEY);

			mnl_attr_put(nlh, NFTA_DATA_VALUE, ks->len[i], ks->k[i]);
			mnl_attr_nest_end(nlh, key);
			mnl_attr_nest_end(nlh, el);
		}
		mnl_attr_nest_end(nlh, list);
		mnl_nlmsg_batch_next(b);
		nf_msg(mnl_nlmsg_batch_current(b), NFNL_MSG_BATCH_END, 0,
		       nf->seq++, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
		mnl_nlmsg_batch_next(b);
		rc = nf_talk(nf, mnl_nlmsg_batch_head(b),
		             mnl_nlmsg_batch_size(b), NULL, NULL);
		mnl_nlmsg_batch_stop(b);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int links_purge_ifindex(struct bh *bh, int ifindex, int *removed)
{
	char buf[8192];
	struct nf nf;
	int total = 0, rc = 0;

	if (removed)
		*removed = 0;
	if (ifindex <= 0)
		return 0;
	if (nf_open(bh, &nf))
		return -1;
	for (size_t s = 0; index_sets[s]; s++) {
		struct keys ks;
		struct nlmsghdr *nlh;
		int r;

		memset(&ks, 0, sizeof ks);
		ks.ifindex = (uint32_t)ifindex;
		nlh = nf_msg(buf, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETSETELEM,
		             NLM_F_DUMP, nf.seq++, NFPROTO_NETDEV, 0);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, COMPILE_TABLE);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, index_sets[s]);
		r = nf_talk(&nf, nlh, nlh->nlmsg_len, dump_cb, &ks);
		if (r == -ENOENT) {     /* no table, or no such set */
			free(ks.k);
			free(ks.len);
			continue;
		}
		if (r == 0 && ks.n) {
			r = keys_delete(&nf, index_sets[s], &ks,
			                NFT_MSG_DESTROYSETELEM);
			if (r == -EOPNOTSUPP || r == -EINVAL)
				r = keys_delete(&nf, index_sets[s], &ks,
				                NFT_MSG_DELSETELEM);
		}
		if (r == 0)
			total += (int)ks.n;
		free(ks.k);
		free(ks.len);
		if (r < 0) {
			rc = bh_error(bh, "links: set %s: elements of ifindex %d "
			              "not removed: %s", index_sets[s], ifindex,
			              strerror(-r));
			break;
		}
	}
	nf_close(&nf);
	if (removed)
		*removed = total;
	return rc;
}

/* ---- one link's change --------------------------------------------------- */

struct linkmsg {
	int del;                       /* RTM_DELLINK */
	int ifindex;
	char ifname[IFNAMSIZ];
	char mac[18];
};

static void audit(struct links *l, const char *cmd, int ok, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));
static void audit(struct links *l, const char *cmd, int ok, const char *fmt,
                  ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	policy_audit_record(l->bh, cmd, ok, detail);
	daemon_log(ok ? LOG_INFO : LOG_WARNING, "%s: %s", cmd, detail);
}

/*
 * The NIC @ifname is back (or seen for the first time by this store):
 * make sure its base chains are in the kernel.  This kernel keeps chains
 * bound by name across a delete and re-create; an older one deletes them
 * with the device, and then the running config is applied again.
 */
static int ensure_chains(struct links *l, const char *ifname, char *how,
                         size_t len)
{
	struct bh *bh = l->bh;
	char name[64];
	struct nf nf;
	int in, out;

	snprintf(how, len, "chains in place");
	if (!bh->apply) {
		snprintf(how, len, "no enforcer");
		return 0;
	}
	if (nf_open(bh, &nf))
		return -1;
	snprintf(name, sizeof name, "nic_%s_ingress", ifname);
	in = chain_exists(&nf, name);
	snprintf(name, sizeof name, "nic_%s_egress", ifname);
	out = chain_exists(&nf, name);
	nf_close(&nf);
	if (in < 0 || out < 0) {
		snprintf(how, len, "no table yet (nothing committed)");
		return 0;
	}
	if (in && out)
		return 0;
	snprintf(how, len, "chains missing: running config applied again");
	return policy_apply_running(bh);
}

static void link_event(struct links *l, const struct linkmsg *m)
{
	struct bh *bh = l->bh;
	char owner[BH_NAME_MAX + 1], cmd[96], how[96];
	struct nic_link old, now;
	int have, removed = 0;

	if (!m->ifname[0])
		return;
	have = store_link_owner(bh, m->ifname, owner, sizeof owner);
	if (have <= 0) {
		if (have < 0)
			daemon_log(LOG_WARNING, "links: %s", bh->err);
		return;
	}
	have = store_link_get(bh, m->ifname, &old);
	if (have < 0) {
		daemon_log(LOG_WARNING, "links: %s", bh->err);
		return;
	}
	if (!have) {
		memset(&old, 0, sizeof old);
		snprintf(old.ifname, sizeof old.ifname, "%s", m->ifname);
	}
	now = old;
	if (m->del) {
		/* A rename away also comes here (see links_read). */
		if (have && !old.present && old.ifindex == m->ifindex)
			return;
		now.present = 0;
		now.ifindex = m->ifindex;
		now.changed_ms = now_ms();
		if (links_purge_ifindex(bh, m->ifindex, &removed))
			daemon_log(LOG_WARNING, "%s", bh->err);
		/* The audit first: whoever sees the new state sees it. */
		snprintf(cmd, sizeof cmd, "link %s gone", m->ifname);
		audit(l, cmd, 1, "workload \"%s\": interface %s (ifindex %d) "
		      "went away; %d flow-state entries of it removed; its "
		      "chains stay bound to the name", owner, m->ifname,
		      m->ifindex, removed);
		if (store_link_put(bh, &now))
			daemon_log(LOG_WARNING, "links: %s", bh->err);
		return;
	}
	if (have && old.present && old.ifindex == m->ifindex) {
		if (strcmp(old.mac, m->mac)) {   /* host end's MAC changed */
			snprintf(now.mac, sizeof now.mac, "%s", m->mac);
			if (store_link_put(bh, &now))
				daemon_log(LOG_WARNING, "links: %s", bh->err);
		}
		return;
	}
	/* New, back, or back under another index. */
	now.present = 1;
	now.ifindex = m->ifindex;
	snprintf(now.mac, sizeof now.mac, "%s", m->mac);
	now.changed_ms = now_ms();
	if (have && old.ifindex && old.ifindex != m->ifindex) {
		now.rebinds++;
		/* Its going away may have been missed (socket overrun,
		 * daemon not running): the old index's state goes now. */
		if (links_purge_ifindex(bh, old.ifindex, &removed))
			daemon_log(LOG_WARNING, "%s", bh->err);
	}
	if (ensure_chains(l, m->ifname, how, sizeof how)) {
		snprintf(cmd, sizeof cmd, "link %s rebind", m->ifname);
		audit(l, cmd, 0, "workload \"%s\": interface %s (ifindex %d) "
		      "is not filtered: %s", owner, m->ifname, m->ifindex,
		      bh->err);
		return;
	}
	/* The first sighting of a NIC (a new store, a NIC just added) is
	 * state, not news; otherwise the audit first, as above. */
	if (have && !(old.present && !old.ifindex)) {
		snprintf(cmd, sizeof cmd, "link %s %s", m->ifname,
		         old.ifindex != m->ifindex ? "rebind" : "up");
		if (old.ifindex && old.ifindex != m->ifindex)
			audit(l, cmd, 1, "workload \"%s\": interface %s came "
			      "back as ifindex %d (was %d); %s; %d stale "
			      "flow-state entries removed", owner, m->ifname,
			      m->ifindex, old.ifindex, how, removed);
		else
			audit(l, cmd, 1, "workload \"%s\": interface %s "
			      "present as ifindex %d; %s", owner, m->ifname,
			      m->ifindex, how);
	}
	if (store_link_put(bh, &now))
		daemon_log(LOG_WARNING, "links: %s", bh->err);
}

/* ---- rtnetlink ------------------------------------------------------------ */

static int link_attr(const struct nlattr *a, void *data)
{
	struct linkmsg *m = data;

	switch (mnl_attr_get_type(a)) {
	case IFLA_IFNAME:
		if (mnl_attr_validate(a, MNL_TYPE_STRING) == 0)
			snprintf(m->ifname, sizeof m->ifname, "%s",
			         mnl_attr_get_str(a));
		break;
	case IFLA_ADDRESS:
		if (mnl_attr_get_payload_len(a) == 6) {
			const unsigned char *b = mnl_attr_get_payload(a);

			snprintf(m->mac, sizeof m->mac,
			         "%02x:%02x:%02x:%02x:%02x:%02x",
			         b[0], b[1], b[2], b[3], b[4], b[5]);
		}
		break;
	}
	return MNL_CB_OK;
}

/* Interfaces a dump saw (resync). */
struct seen {
	struct links *l;
	struct strv names;
};

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct seen *sn = data;
	struct links *l = sn->l;
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	struct linkmsg m;
	struct nic_link old;

	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return MNL_CB_OK;
	memset(&m, 0, sizeof m);
	m.del = nlh->nlmsg_type == RTM_DELLINK;
	m.ifindex = ifi->ifi_index;
	mnl_attr_parse(nlh, sizeof *ifi, link_attr, &m);
	if (!m.ifname[0])
		return MNL_CB_OK;
	strv_push(&sn->names, m.ifname);
	/* A rename: the index was a known NIC's under another name. */
	if (!m.del && store_link_by_index(l->bh, m.ifindex, old.ifname,
	                                  sizeof old.ifname) == 1 &&
	    strcmp(old.ifname, m.ifname)) {
		struct linkmsg gone = m;

		gone.del = 1;
		snprintf(gone.ifname, sizeof gone.ifname, "%s", old.ifname);
		link_event(l, &gone);
	}
	link_event(l, &m);
	return MNL_CB_OK;
}

/* Read what the subscription has. */
static void links_read(void *arg, int fd, short revents)
{
	static char buf[65536];
	struct links *l = arg;
	struct seen sn = { l, STRV_INIT };
	ssize_t n;

	(void)fd;
	(void)revents;
	for (;;) {
		n = mnl_socket_recvfrom(l->ev, buf, sizeof buf);
		if (n < 0) {
			if (errno == ENOBUFS) {
				/* Events were lost: look at everything again. */
				daemon_log(LOG_WARNING, "links: event queue "
				           "overrun, resyncing");
				links_service_resync(l);
				continue;
			}
			break;   /* EAGAIN: all read */
		}
		mnl_cb_run(buf, n, 0, 0, link_cb, &sn);
	}
	strv_free(&sn.names);
}

/*
 * Look at every interface: a dump of the links on a socket of its own,
 * each handled as an event, then every known NIC the dump did not show is
 * marked absent.
 */
void links_service_resync(void *state)
{
	static char buf[65536];
	struct links *l = state;
	struct seen sn = { l, STRV_INIT };
	struct strv known = STRV_INIT;
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct rtgenmsg *rt;
	unsigned portid, seq = (unsigned)time(NULL);
	ssize_t n;
	int rc = MNL_CB_OK;

	nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		daemon_log(LOG_WARNING, "links: resync: %s", strerror(errno));
		if (nl)
			mnl_socket_close(nl);
		return;
	}
	portid = mnl_socket_get_portid(nl);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	rt = mnl_nlmsg_put_extra_header(nlh, sizeof *rt);
	rt->rtgen_family = AF_PACKET;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		daemon_log(LOG_WARNING, "links: resync: %s", strerror(errno));
		mnl_socket_close(nl);
		return;
	}
	while (rc > MNL_CB_STOP &&
	       (n = mnl_socket_recvfrom(nl, buf, sizeof buf)) > 0)
		rc = mnl_cb_run(buf, n, seq, portid, link_cb, &sn);
	mnl_socket_close(nl);
	if (rc == MNL_CB_ERROR) {
		daemon_log(LOG_WARNING, "links: resync: dump failed");
		strv_free(&sn.names);
		return;
	}
	if (store_link_known(l->bh, &known) == 0) {
		for (size_t i = 0; i < known.n; i++) {
			struct nic_link old;
			struct linkmsg m;

			if (strv_contains(&sn.names, known.v[i]))
				continue;
			if (store_link_get(l->bh, known.v[i], &old) != 1) {
				/* Never seen: absent from the start. */
				memset(&old, 0, sizeof old);
				snprintf(old.ifname, sizeof old.ifname, "%s",
				         known.v[i]);
				old.changed_ms = now_ms();
				store_link_put(l->bh, &old);
				continue;
			}
			if (!old.present)
				continue;
			memset(&m, 0, sizeof m);
			m.del = 1;
			m.ifindex = old.ifindex;
			snprintf(m.ifname, sizeof m.ifname, "%s", known.v[i]);
			link_event(l, &m);
		}
	}
	strv_free(&known);
	strv_free(&sn.names);
}

/* ---- the service --------------------------------------------------------- */

void *links_service_start(const struct daemon_env *env, char *err,
                          size_t errlen)
{
	struct links *l = xcalloc(1, sizeof *l);

	l->bh = env->bh;
	l->loop = env->loop;
	l->ev = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!l->ev || mnl_socket_bind(l->ev, RTMGRP_LINK,
	                              MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, errlen, "rtnetlink: %s", strerror(errno));
		goto fail;
	}
	if (loop_io_add(l->loop, mnl_socket_get_fd(l->ev), POLLIN, links_read,
	                l) < 0) {
		snprintf(err, errlen, "too many descriptors");
		goto fail;
	}
	/* Subscribed before the dump: a change during it is seen twice at
	 * worst, never missed. */
	links_service_resync(l);
	return l;
fail:
	if (l->ev)
		mnl_socket_close(l->ev);
	free(l);
	return NULL;
}

void links_service_stop(void *state)
{
	struct links *l = state;

	loop_io_del(l->loop, mnl_socket_get_fd(l->ev));
	mnl_socket_close(l->ev);
	free(l);
}
