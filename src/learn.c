/*
 * learn.c - the daemon's "addresses" service (layer: daemon): binds the
 * addresses NICs learn from their own traffic and the ones libvirt knows.
 *
 * Learning.  For a NIC whose workload's addressing includes learn and that
 * has no address of a family yet, the ruleset (compile.c, sets nic_learn4
 * and nic_learn6) copies the NIC's ARP, the DHCP ACK sent toward it and
 * its neighbor discovery to nflog group NFLOG_GROUP_LEARN, rate-limited.
 * This service reads them and binds the first address seen per family
 * (policy_address_bind, origin "learned"): from ARP the sender address,
 * from a DHCP ACK the address the server gave (yiaddr) when the ACK is
 * for the NIC's own MAC, from a neighbor solicitation sent from :: (DAD)
 * its target, from other solicitations and adverts their source.  Binding
 * takes the NIC out of the learning set, so later packets are checked
 * against the bound address like any other.  Trust on first use, like
 * libvirt nwfilter's IP learning: whoever speaks first on the NIC wins.
 *
 * libvirt.  Every LIBVIRT_POLL_MS, for each running libvirt workload whose
 * addressing includes libvirt and that has a NIC without an IPv4 or IPv6
 * address, ask libvirt (DHCP lease, then the guest agent) and bind what it
 * reports for that NIC (origin "libvirt").  Leases appear a while after
 * the guest boots, so polling until the NIC has an address is what finds
 * them; a NIC that has both families costs nothing.
 *
 * Every binding is audited ("learn address W ADDR nic IF" / "libvirt
 * address ..."), as is a learned address refused because another NIC holds
 * it (a spoofing attempt or a moved address), at most once a minute per
 * NIC and address.
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "address.h"
#include "bulkhead.h"
#include "daemon.h"
#include "learn.h"
#include "libvirt.h"
#include "loop.h"
#include "nflog.h"
#include "policy.h"
#include "util.h"

#define LIBVIRT_POLL_MS 5000
#define NOTED_MAX 64
#define NOTED_MS 60000

struct noted {
	char key[96];
	int64_t at;
};

struct learn {
	struct bh *bh;
	struct loop *loop;
	struct virt *virt;
	struct nflog *nf;
	int timer;
	struct noted noted[NOTED_MAX];
	size_t next_noted;
};

/* ---- parsing what the ruleset sent (pure) ------------------------------ */
/* The address a learning NIC's packet shows, into @buf; -1 when none. */
int learn_packet_addr(uint16_t ethertype, const uint8_t *p, size_t len,
                      const char *mac, char *buf, size_t buflen)
{
	if (ethertype == 0x0806) {
		/* Ethernet/IPv4 ARP: the sender protocol address */
		if (len < 28 || p[4] != 6 || p[5] != 4)
			return -1;
		if (!p[14] && !p[15] && !p[16] && !p[17])
			return -1;    /* a probe from 0.0.0.0 claims nothing */
		return inet_ntop(AF_INET, p + 14, buf, (socklen_t)buflen) ?
		       0 : -1;
	}
	if (ethertype == 0x0800) {
		/* DHCP from a server: udp 67 -> 68, BOOTREPLY, ACK */
		size_t ihl, b, o;
		unsigned m[6];

		if (len < 20 || (p[0] >> 4) != 4 || p[9] != 17)
			return -1;
		ihl = (size_t)(p[0] & 0x0f) * 4;
		if (ihl < 20 || len < ihl + 8 + 240)
			return -1;
		if (p[ihl] != 0 || p[ihl + 1] != 67 || p[ihl + 2] != 0 ||
		    p[ihl + 3] != 68)
			return -1;
		b = ihl + 8;
		if (p[b] != 2 || p[b + 1] != 1 || p[b + 2] != 6)
			return -1;
		/* A broadcast ACK for another client leaves through every
		 * port of a bridge: only the NIC's own MAC counts. */
		if (!mac || sscanf(mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1],
		                   &m[2], &m[3], &m[4], &m[5]) != 6)
			return -1;
		for (int i = 0; i < 6; i++)
			if (p[b + 28 + i] != m[i])
				return -1;
		if (p[b + 236] != 99 || p[b + 237] != 130 ||
		    p[b + 238] != 83 || p[b + 239] != 99)
			return -1;
		for (o = b + 240; o < len && p[o] != 255;) {
			if (p[o] == 0) {
				o++;
				continue;
			}
			if (o + 2 > len || o + 2 + p[o + 1] > len)
				return -1;
			if (p[o] == 53 && p[o + 1] == 1) {
				if (p[o + 2] != 5)
					return -1;    /* not an ACK */
				return inet_ntop(AF_INET, p + b + 16, buf,
				                 (socklen_t)buflen) ? 0 : -1;
			}
			o += 2 + (size_t)p[o + 1];
		}
		return -1;
	}
	if (ethertype == 0x86dd) {
		static const uint8_t any[16];
		const uint8_t *src = p + 8;

		/* ICMPv6 right after the fixed header (no extension headers:
		 * ND never has them) */
		if (len < 40 + 24 || (p[0] >> 4) != 6 || p[6] != 58)
			return -1;
		if (p[40] != 135 && p[40] != 136)
			return -1;
		/* From :: only DAD: the target is the address it will use. */
		if (memcmp(src, any, 16) == 0)
			src = p[40] == 135 ? p + 48 : NULL;
		if (!src)
			return -1;
		return inet_ntop(AF_INET6, src, buf, (socklen_t)buflen) ?
		       0 : -1;
	}
	return -1;
}

/* ---- audit, once a minute per thing said -------------------------------- */
static int seen_lately(struct learn *l, const char *key)
{
	int64_t now = loop_now_ms();

	for (size_t i = 0; i < NOTED_MAX; i++)
		if (l->noted[i].at && now - l->noted[i].at < NOTED_MS &&
		    strcmp(l->noted[i].key, key) == 0)
			return 1;
	snprintf(l->noted[l->next_noted].key, sizeof l->noted[0].key, "%s",
	         key);
	l->noted[l->next_noted].at = now;
	l->next_noted = (l->next_noted + 1) % NOTED_MAX;
	return 0;
}

/* Bind @addr to @ifname from @origin; audit and log what came of it. */
static void bind_found(struct learn *l, const char *ifname, const char *addr,
                 const char *origin)
{
	struct strbuf why = STRBUF_INIT, cmd = STRBUF_INIT;
	char wl[BH_NAME_MAX + 1] = "";
	int rc;

	rc = policy_address_bind(l->bh, ifname, addr, origin, &why, wl);
	sb_addf(&cmd, "%s address %s %s nic %s",
	        strcmp(origin, "learned") == 0 ? "learn" : "libvirt",
	        wl[0] ? wl : "-", addr, ifname);
	if (rc > 0) {
		policy_audit_record(l->bh, sb_str(&cmd), 1, sb_str(&why));
		daemon_log(LOG_NOTICE, "%s", sb_str(&why));
	} else if (rc < 0) {
		char key[96];

		snprintf(key, sizeof key, "e %s %s", ifname, addr);
		if (!seen_lately(l, key)) {
			policy_audit_record(l->bh, sb_str(&cmd), 0, l->bh->err);
			daemon_log(LOG_ERR, "%s: %s", sb_str(&cmd), l->bh->err);
		}
	} else if (strstr(sb_str(&why), "is bound to workload")) {
		/* Someone else's address on this NIC: worth a record. */
		char key[96];

		snprintf(key, sizeof key, "c %s %s", ifname, addr);
		if (!seen_lately(l, key)) {
			policy_audit_record(l->bh, sb_str(&cmd), 0,
			                    sb_str(&why));
			daemon_log(LOG_WARNING, "%s: %s", sb_str(&cmd),
			           sb_str(&why));
		}
	}
	sb_free(&why);
	sb_free(&cmd);
}

/* ---- learning --------------------------------------------------------- */
static void on_packet(void *arg, const struct nflog_pkt *p)
{
	struct learn *l = arg;
	char ifname[IF_NAMESIZE] = "", addr[64], mac[18] = "";
	uint32_t dev = p->indev ? p->indev : p->outdev;
	struct inventory inv;

	if (!dev || !if_indextoname(dev, ifname))
		return;
	if (p->ethertype == 0x0800) {
		/* a DHCP ACK is only the NIC's when it names its MAC */
		struct nic *n = NULL;

		if (policy_inventory_load(l->bh, &inv))
			return;
		if (policy_inventory_by_nic(&inv, ifname, &n))
			snprintf(mac, sizeof mac, "%s", n->mac);
		policy_inventory_free(&inv);
	}
	if (learn_packet_addr(p->ethertype, p->payload, p->len, mac, addr,
	                      sizeof addr))
		return;
	bind_found(l, ifname, addr, "learned");
}

static void on_readable(void *arg, int fd, short revents)
{
	struct learn *l = arg;
	char err[256];

	(void)fd;
	(void)revents;
	if (nflog_read(l->nf, on_packet, l, err, sizeof err) < 0)
		daemon_log(LOG_ERR, "addresses: %s", err);
}

/* ---- libvirt ----------------------------------------------------------- */
static int nic_lacks(const struct nic *n)
{
	int v4 = 0, v6 = 0;

	for (size_t i = 0; i < n->addrs.n; i++) {
		if (strchr(n->addrs.v[i], ':')) {
			if (strncmp(n->addrs.v[i], "fe80:", 5))
				v6 = 1;
		} else {
			v4 = 1;
		}
	}
	return !v4 || !v6;
}

void learn_libvirt_poll(struct bh *bh, struct virt *v)
{
	static const char *const sources[] = { "lease", "agent" };
	struct inventory inv;
	struct strv names = STRV_INIT;
	struct learn l;

	memset(&l, 0, sizeof l);
	l.bh = bh;
	if (policy_inventory_load(bh, &inv))
		return;
	for (size_t i = 0; i < inv.n; i++) {
		const struct workload *w = &inv.w[i];
		int lacks = 0;

		if (!(w->addressing & ADDRESSING_LIBVIRT) ||
		    strcmp(w->source, "libvirt") || strcmp(w->state, "running"))
			continue;
		for (size_t k = 0; k < w->nnics; k++)
			lacks |= nic_lacks(&w->nics[k]);
		if (lacks)
			strv_push(&names, w->name);
	}
	policy_inventory_free(&inv);
	/* One libvirt call per source and workload that lacks something;
	 * bind_found() loads the inventory again, so what one source bound the
	 * next one does not bind twice. */
	for (size_t i = 0; i < names.n; i++)
		for (size_t s = 0; s < 2; s++) {
			struct virt_addr *a = NULL;
			size_t n = 0;

			if (virt_addresses(v, names.v[i], sources[s], &a, &n))
				continue;    /* no agent: the usual case */
			for (size_t j = 0; j < n; j++)
				if (a[j].ifname[0])
					bind_found(&l, a[j].ifname, a[j].addr,
					     "libvirt");
			free(a);
		}
	strv_free(&names);
}

static void on_timer(void *arg)
{
	struct learn *l = arg;

	learn_libvirt_poll(l->bh, l->virt);
	l->timer = loop_timer_add(l->loop, LIBVIRT_POLL_MS, on_timer, l);
}

/* ---- the service ---------------------------------------------------------- */
void *learn_start(const struct daemon_env *env, char *err, size_t errlen)
{
	struct learn *l = xcalloc(1, sizeof *l);
	char why[256];

	l->bh = env->bh;
	l->loop = env->loop;
	l->virt = env->virt;
	l->nf = nflog_open(NFLOG_GROUP_LEARN, 512, why, sizeof why);
	if (l->nf) {
		if (loop_io_add(l->loop, nflog_fd(l->nf), POLLIN, on_readable,
		                l)) {
			nflog_close(l->nf);
			l->nf = NULL;
			snprintf(why, sizeof why, "too many descriptors");
		}
	}
	if (!l->nf)
		daemon_log(LOG_WARNING, "addresses: no learning from traffic "
		           "(nflog group %d: %s)", NFLOG_GROUP_LEARN, why);
	if (l->virt)
		l->timer = loop_timer_add(l->loop, 0, on_timer, l);
	if (!l->nf && !l->virt) {
		snprintf(err, errlen, "neither nflog group %d nor libvirt",
		         NFLOG_GROUP_LEARN);
		free(l);
		return NULL;
	}
	return l;
}

void learn_stop(void *state)
{
	struct learn *l = state;

	if (!l)
		return;
	if (l->nf) {
		loop_io_del(l->loop, nflog_fd(l->nf));
		nflog_close(l->nf);
	}
	if (l->timer)
		loop_timer_del(l->loop, l->timer);
	free(l);
}

void learn_resync(void *state)
{
	struct learn *l = state;

	if (l && l->virt)
		learn_libvirt_poll(l->bh, l->virt);
}
