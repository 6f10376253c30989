/*
 * explain.h - `explain from A to B [proto P [port N]]` (policy layer): which
 * rule decides a new flow, found by evaluating the config over the
 * inventory as the compiled ruleset does, without the kernel.
 *
 * The evaluation follows the enforcement shape (compile.c): a flow between
 * two managed NICs is checked twice, in the sender's hook ingress (leaving
 * the workload) and in the receiver's hook egress (entering it); each check
 * runs the spoof guard, then the sections emergency .. application in
 * order, first match wins, then the default.  A rule applies on a NIC when
 * it has no applied-to or the NIC's workload is in an applied-to group; its
 * sources and destinations match on the groups' addresses (static CIDRs
 * and members' bound addresses); its services on protocol and destination
 * port (tcp, udp) or echo-request (icmp, icmpv6).  Monitored drops and
 * rejects allow (policy_rule_monitored); reject on the receiving side is a
 * drop (only hook ingress can answer).  The flow is allowed when every
 * check allows it.
 *
 * Not modelled: established flows (the answer is for a new flow), ICMP
 * errors, ARP/ND/DHCP (handled before the rules), packets with spoofed
 * addresses (an endpoint is always one of its own bound addresses).
 */
#ifndef BH_EXPLAIN_H
#define BH_EXPLAIN_H

#include <stddef.h>
#include <stdint.h>
#include "policy.h"
#include "util.h"

struct explain_query {
	const char *from;     /* a workload name or an address */
	const char *to;
	const char *proto;    /* "tcp" "udp" "icmp" "icmpv6"; NULL: a ping
	                         (icmp or icmpv6 echo-request by family) */
	int port;             /* tcp/udp destination port, required there */
};

/* One end of the flow. */
struct explain_end {
	char addr[64];                     /* the address used */
	char workload[BH_NAME_MAX + 1];    /* "" when unmanaged */
	char nic[BH_IFNAME_MAX + 1];       /* "" when unmanaged */
	int quarantined;                   /* its workload is in quarantine */
};

/* One check the packet meets on its way. */
struct explain_check {
	const char *side;     /* "source" | "destination" */
	const char *stage;    /* "spoof" | "quarantine" | "rules" */
	const char *hook;     /* "ingress" | "egress" */
	char nic[BH_IFNAME_MAX + 1];
	char workload[BH_NAME_MAX + 1];
	int action;           /* enum action: what the kernel does */
	int would;            /* enum action the rule or default names (for
	                         a monitored one: what it would have done) */
	int monitor;          /* allowed only because it monitors */
	int64_t rule;         /* the deciding rule, 0: the default (or a
	                         check without rules) */
	int section;          /* enum section, -1 for the default */
	char *reason;         /* one line for people */
};

struct explain_result {
	struct explain_end from, to;
	int family;           /* 4 | 6 */
	char proto[8];        /* as evaluated: "tcp" "udp" "icmp" "icmpv6" */
	int port;             /* 0 for icmp */
	int action;           /* the combined verdict (enum action) */
	int monitor;          /* allowed only because something monitors */
	int64_t rule;         /* the deciding check's rule (0: default) */
	int section;          /* its section, -1: the default or none */
	int decided;          /* index in checks of the deciding check, -1
	                         when no managed NIC is on the path */
	struct explain_check *checks;
	size_t nchecks;
};

/*
 * Evaluate @q over @cfg and @inv into @out (zeroed here).  Computes group
 * membership in @cfg (policy_membership).  -1 with a message in @err when
 * an end is neither a workload nor an address, the families of the ends
 * differ, tcp/udp come without a port, ...; @out is then empty.  Free with
 * explain_free().  Pure: no I/O.  O(rules x groups named) per check.
 */
int explain_run(struct config *cfg, const struct inventory *inv,
                const struct explain_query *q, struct explain_result *out,
                char *err, size_t errlen);
void explain_free(struct explain_result *r);

/* Human text, and the --json document
 * {"verdict":..., "rule":ID|null, "section":..., "monitor":..., "from":{},
 *  "to":{}, "proto":..., "port":..., "checks":[...]}. */
void explain_text(const struct explain_result *r, struct strbuf *out);
void explain_json(const struct explain_result *r, struct strbuf *out);

#endif
