/*
 * compile.h - the compiler: a config and the inventory become the desired
 * nftables state of bulkhead's one table (netdev family, "bulkhead").
 *
 * The compiler does no I/O at all: the same input gives the same ruleset,
 * object for object, and the same text.  The result is a structured
 * description (sets, counters, chains and their rule lines) rather than only
 * text, so the enforcer (nft.c) can diff two rulesets and send the kernel
 * only what changed (set elements, one NIC's chains), and so a kernel error
 * on a rule line can be traced back to the policy rule id that produced it.
 *
 * Shape of the table (see the long comment at the top of compile.c):
 *   per NIC   base chains nic_IF_ingress (hook ingress: traffic leaving
 *             the workload) and nic_IF_egress (hook egress: traffic toward
 *             it), one `goto` into the shared chains each, the same for
 *             every NIC (so a MAC change never rewrites them);
 *   shared    spoof guard, ARP/ND/DHCP handling, emergency rules,
 *             established-flow lookup, the other sections, the default;
 *             rules live in chains both directions share, but for reject
 *             rules, which only hook ingress may reach;
 *   sets      flow state (dynamic, kept across applies), NIC bindings and
 *             MACs, group members, services, applied-to interface lists;
 *   counters  one per rule ("rule_ID"), "default", "spoof", and two per NIC
 *             for drops ("drop_in_IF", "drop_out_IF").
 */
#ifndef BH_COMPILE_H
#define BH_COMPILE_H

#include <stddef.h>
#include <stdint.h>
#include "policy.h"
#include "util.h"

#define COMPILE_TABLE "bulkhead"          /* netdev table name */
#define COMPILE_FLOW_MAX 65536            /* elements per flow set */
#define COMPILE_NFLOG_GROUP 100           /* `log` rules send here */
/* The flow log's kernel rate limits (compile.c "The flow log"), per rule
 * and per verdict chain: the first packets of new allowed flows, and
 * dropped or rejected packets. */
#define COMPILE_LOG_RATE_NEW 1000
#define COMPILE_LOG_BURST_NEW 200
#define COMPILE_LOG_RATE_DROP 100
#define COMPILE_LOG_BURST_DROP 50

/* What a set is for: tells the enforcer how to treat it on apply. */
enum cset_kind {
	CSET_FLOW,      /* dynamic flow state: never flushed, never compared */
	CSET_STATIC,    /* elements are desired state (groups, NICs...) */
	CSET_MAP        /* a map (NIC -> drop counter), elements desired */
};

struct cset {
	char *name;
	int kind;                 /* enum cset_kind */
	struct strv decl;         /* declaration lines: "typeof ...", "flags
	                             interval", "size 65536" (nft order) */
	struct strv elems;        /* element texts, sorted, no duplicates */
	char *comment;            /* one line for readers; NULL when none */
};

struct cchain {
	char *name;
	char *hook;               /* "ingress" | "egress" for per-NIC base
	                             chains, NULL for regular chains */
	char *device;             /* the NIC's interface name (base chains) */
	struct strv rules;        /* rule lines, nft syntax, in order */
	int64_t *rule_ids;        /* per line: policy rule id, 0 = none */
	char *comment;            /* NULL when none */
};

/* The desired state of the table.  Objects are in a fixed order (sets,
 * maps, counters, chains, each as compiled), which is the text order. */
struct ruleset {
	char *header;             /* comment lines for `show ruleset` */
	uint64_t policy_hash;     /* compile_policy_hash() of the input */
	struct strv used_groups;  /* groups the enabled rules match on */
	struct strv used_at;      /* groups they are applied to */
	struct cset *sets;
	size_t nsets;
	struct strv counters;     /* named counter objects, sorted */
	struct cchain *chains;
	size_t nchains;
};

struct compile_opts {
	int dhcp;                 /* allow DHCP/DHCPv6 client traffic (1) */
	int log_group;            /* nflog group of `log` rules */
	int flow_max;             /* size of each flow set */
	int64_t refuse_rule;      /* test hook (env BULKHEAD_TEST_REFUSE_RULE):
	                             rule N rejects in hook egress too, which
	                             the kernel refuses; 0 = off */
};
/* The defaults: dhcp on, COMPILE_NFLOG_GROUP, COMPILE_FLOW_MAX. */
void compile_opts_default(struct compile_opts *o);

/*
 * Compile @cfg over @inv into @out (which the caller zeroes first).
 * Group membership is computed here on a private copy (policy_membership),
 * so @cfg is not changed and need not have eff_* filled.  @o may be NULL
 * (defaults).  Returns 0, or -1 with a message in @err when the input
 * cannot be expressed (an interface name nft cannot carry, a rule naming a
 * group or service that does not exist); @out is then freed and zeroed.
 * Free with compile_free().
 */
int compile_ruleset(const struct config *cfg, const struct inventory *inv,
                    const struct compile_opts *o, struct ruleset *out,
                    char *err, size_t errlen);
void compile_free(struct ruleset *rs);
/* Free what one set or chain owns (the struct itself stays), for callers
 * that move objects between rulesets (the enforcer's kept copy). */
void compile_set_free(struct cset *s);
void compile_chain_free(struct cchain *c);

/*
 * The ruleset as one `nft -f` file: `table netdev bulkhead { ... }` with
 * comment lines naming groups, services and rules.  This is what
 * `show ruleset` prints and what test/golden/ holds.  Loading it into an
 * empty namespace gives exactly the compiled state.
 */
void compile_text(const struct ruleset *rs, struct strbuf *out);

/*
 * The part of the ruleset that depends on the inventory: NIC address and
 * drop-counter sets and maps, group member sets (g4_, g6_), applied-to
 * interface sets (at_), NIC counters and NIC base chains.  Everything else
 * depends on the config alone.  An inventory event (tag, address, NIC)
 * recompiles only this part: O(groups x workloads + NICs), not O(rules).
 * Same contract as compile_ruleset(); @out holds only these objects.
 */
int compile_inventory(const struct config *cfg, const struct inventory *inv,
                      const struct compile_opts *o, struct ruleset *out,
                      char *err, size_t errlen);
/* The same with the rule scan done already: @like is a ruleset compiled
 * from the same config (its used_groups and used_at are reused), so the
 * cost no longer depends on the number of rules. */
int compile_inventory_like(const struct config *cfg,
                           const struct inventory *inv,
                           const struct compile_opts *o,
                           const struct ruleset *like, struct ruleset *out,
                           char *err, size_t errlen);
/* 1 when the named object belongs to that part.  @kind: 's' set or map,
 * 'c' counter, 'h' chain (@hooked: a base chain). */
int compile_inventory_object(int kind, const char *name, int hooked);
/* A hash of everything in @cfg and @o that shapes the config part: equal
 * hashes mean compile_inventory() suffices.  O(rules). */
uint64_t compile_policy_hash(const struct config *cfg,
                             const struct compile_opts *o);

/* One object's declaration in the nft language, as it goes inside
 * `table netdev bulkhead { }` (used by the enforcer's scripts). */
void compile_set_text(const struct cset *s, int with_elems,
                      struct strbuf *out);
void compile_chain_head(const struct cchain *c, struct strbuf *out);

/* Lookups by name; NULL when absent. */
const struct cset *compile_find_set(const struct ruleset *rs,
                                    const char *name);
const struct cchain *compile_find_chain(const struct ruleset *rs,
                                        const char *name);

/* The object name used for a NIC's chains and counters: the interface name
 * when it is a plain nft identifier, otherwise with other bytes as _xHH. */
void compile_nic_ident(const char *ifname, char *buf, size_t len);

#endif
