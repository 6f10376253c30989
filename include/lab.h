/*
 * lab.h - a lab of container workloads built from network namespaces, for
 * trying bulkhead on a machine with no VMs (layer: inventory).
 *
 * `lab up` makes, in the network namespace bulkhead runs in, a bridge P0
 * (no address) and for each workload i = 1..COUNT a named namespace P-i
 * (`ip netns`) holding one end of a veth pair, nic0, with a fixed MAC
 * 02:bd:00:00:00:ii, 10.213.0.(10+i)/24 and fd00:bd::(10+i)/64; the host
 * end, P<i>, is a port of the bridge.  Each becomes a workload P<i> of kind
 * container (netns P-i) with its NIC, MAC and both addresses, tagged `lab`
 * and `odd` or `even`.  `lab down` removes exactly what such a lab is made
 * of and nothing else.  The bridge and the host ends carry the interface
 * alias "bulkhead lab P", which is how `lab down` and `show lab` know them.
 *
 * Errors: functions return 0 or -1 with the message in bh->err naming the
 * object and the remedy.  They need root (they create namespaces).
 */
#ifndef BH_LAB_H
#define BH_LAB_H

#include <stddef.h>
#include "bulkhead.h"
#include "util.h"

#define LAB_PREFIX_DEFAULT "bhlab"
#define LAB_COUNT_DEFAULT 4
/* Addresses are 10.213.0.(10+i): i may go up to 244. */
#define LAB_COUNT_MAX 244
/* A prefix leaves room for three digits in a 15-character interface name. */
#define LAB_PREFIX_MAX 12

/* Check a prefix: 1..LAB_PREFIX_MAX letters and digits, starting with a
 * letter.  0, or -1 with the message in @err. */
int lab_prefix_check(const char *prefix, char *err, size_t errlen);

/*
 * Build a lab of @count workloads named after @prefix.  Refused when any
 * part of a lab with that prefix exists already, or a name it needs is
 * taken.  The namespaces and links come first, the workloads are then
 * registered in one store transaction (the enforcer sees them once, so
 * their NICs are filtered before the host ends come up), and last the
 * host ends are brought up.  On failure everything made so far is removed
 * again (namespaces, links, bridge; the store transaction is rolled back)
 * and bh->err says which step failed.  @summary (may be NULL) gets one
 * line saying what was made.
 */
int lab_up(struct bh *bh, const char *prefix, int count,
           struct strbuf *summary);

/*
 * Remove the lab of @prefix: its workloads (one store transaction), the
 * host ends of its veths (the namespace ends go with them), its
 * namespaces once they hold nothing but loopback, and its bridge once it
 * has no ports left.  Anything that does not look like the lab's own is
 * left in place and named in @summary.  A prefix with no lab is not an
 * error (@summary says so).  On failure it goes on with the other parts,
 * then returns -1 naming the first that could not be removed.
 */
int lab_down(struct bh *bh, const char *prefix, struct strbuf *summary);

/* One workload slot of a lab, as found in the kernel and the store. */
struct lab_member {
	int index;                    /* i of P<i> */
	char workload[BH_NAME_MAX + 1];
	char netns[64];
	char link[BH_IFNAME_MAX + 1]; /* host end */
	int registered;               /* workload P<i> with tag lab exists */
	int netns_exists;             /* /run/netns/P-i is a namespace */
	int link_exists;              /* host end present (a veth) */
	int link_up;
	int bridged;                  /* host end is a port of the bridge */
	char mac[18];                 /* from the store ("" unregistered) */
	struct strv addrs;            /* from the store */
	struct strv tags;             /* from the store */
};

struct lab_state {
	char prefix[LAB_PREFIX_MAX + 1];
	char bridge[BH_IFNAME_MAX + 1];
	int bridge_exists;
	int bridge_up;
	struct lab_member *m;         /* by index */
	size_t n;
};

/*
 * What exists of the lab of @prefix: the bridge, and every index for
 * which a workload, a namespace or a host end exists.  n == 0 and
 * bridge_exists == 0: there is no such lab.  Free with lab_state_free().
 */
int lab_state(struct bh *bh, const char *prefix, struct lab_state *out);
void lab_state_free(struct lab_state *st);

/* "ok", or what is missing: "no namespace, link down" (into @buf). */
void lab_member_status(const struct lab_member *m, char *buf, size_t len);

#endif
