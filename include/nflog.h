/*
 * nflog.h - packets the ruleset sends to userspace (layer: enforcement
 * support): one nfnetlink_log socket bound to one nflog group, read with
 * libmnl.
 *
 * The ruleset's `log group N` statements copy packets here.  The socket
 * belongs to the network namespace it was opened in (the one bulkhead
 * enforces in) and needs CAP_NET_ADMIN.  Reading never blocks: the daemon
 * polls nflog_fd() and drains with nflog_read().
 */
#ifndef BH_NFLOG_H
#define BH_NFLOG_H

#include <stddef.h>
#include <stdint.h>

/* The groups bulkhead's ruleset logs to. */
#define NFLOG_GROUP_FLOWS 100   /* `log` rules, new flows, drops */
#define NFLOG_GROUP_LEARN 101   /* ARP/DHCP/ND of NICs learning addresses */

struct nflog;

/* One logged packet; pointers valid during the callback only. */
struct nflog_pkt {
	uint16_t group;
	const char *prefix;        /* the log statement's prefix, "" if none */
	uint32_t indev;            /* ifindex it came in on (netdev ingress:
	                              the NIC), 0 when none */
	uint32_t outdev;           /* ifindex it goes out of (netdev egress:
	                              the NIC), 0 when none */
	uint16_t ethertype;        /* host order: 0x0800 IPv4, 0x0806 ARP,
	                              0x86dd IPv6 */
	const uint8_t *hwaddr;     /* the source MAC, NULL when not given */
	size_t hwaddr_len;
	const uint8_t *payload;    /* from the network header on (IP, ARP) */
	size_t len;                /* bytes copied (at most the snap length) */
	int64_t time_ms;           /* realtime ms: the kernel's stamp, else
	                              the time it was read */
};

typedef void nflog_fn(void *arg, const struct nflog_pkt *p);

/*
 * Bind a new socket to nflog @group, copying up to @snaplen bytes of each
 * packet (0: 256).  Returns NULL with the reason in @err (no permission,
 * group taken by another process...).  Free with nflog_close().
 */
struct nflog *nflog_open(uint16_t group, uint32_t snaplen, char *err,
                         size_t errlen);
void nflog_close(struct nflog *n);
/* The socket, to poll for POLLIN. */
int nflog_fd(const struct nflog *n);
/*
 * Read every packet waiting (without blocking) and call @fn for each.
 * Returns how many packets were delivered, or -1 with @err set on a
 * socket error.  Records the kernel dropped because the socket's buffer
 * was full are counted in nflog_lost() (from gaps in their numbers).
 */
int nflog_read(struct nflog *n, nflog_fn *fn, void *arg, char *err,
               size_t errlen);
/* Records lost to a full socket buffer since the open. */
uint64_t nflog_lost(const struct nflog *n);

#endif
