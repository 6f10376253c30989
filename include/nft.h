/*
 * nft.h - the enforcer: puts the compiler's ruleset into the kernel through
 * libnftables, reads counters back, and finds and repairs drift.
 *
 * Only table `netdev bulkhead` of the network namespace the process runs in
 * is ever read or written.  Every change is one libnftables run of one
 * generated script, so one kernel transaction: it applies whole or not at
 * all.  An apply computes the difference between what the kernel holds and
 * what the compiler wants and sends only that, so
 *   - flow sets (established connections) and counters survive a commit;
 *   - an inventory change (address, tag, NIC) touches only set elements and
 *     that NIC's chains;
 *   - applying the same state twice sends nothing.
 *
 * Wiring: nft_attach() makes the handle and sets bh->apply and
 * bh->inventory_changed, so policy_commit() and the inventory edits reach
 * the kernel inside their store transaction (a refusal rolls the store
 * back).
 */
#ifndef BH_NFT_H
#define BH_NFT_H

#include <stddef.h>
#include <stdint.h>
#include "bulkhead.h"
#include "policy.h"
#include "util.h"

/*
 * Create the enforcer for @bh: bh->enforcer, bh->apply = nft_apply,
 * bh->inventory_changed = nft_inventory_apply.  Nothing is sent to the
 * kernel yet.  Returns -1 (bh->err) when libnftables cannot start.
 */
int nft_attach(struct bh *bh);
/* Free the handle and unset the hooks; the kernel keeps the ruleset. */
void nft_detach(struct bh *bh);

/*
 * Make the kernel hold the ruleset of @cfg over @inv (bh_apply_fn).  On
 * failure returns -1 with bh->err naming the rule the kernel refused, and
 * the kernel is as it was.
 */
int nft_apply(struct bh *bh, const struct config *cfg,
              const struct inventory *inv);
/*
 * The same after an inventory change (bh_inventory_fn): the running config
 * is read from the store; only what changed is sent.
 */
int nft_inventory_apply(struct bh *bh, const struct inventory *inv);

/*
 * The fast path under nft_inventory_apply: apply @cfg over @inv by
 * diffing against the ruleset this handle applied last (no kernel read),
 * falling back to reading the kernel when that is refused.  For callers
 * that already hold the running config (the daemon).
 */
int nft_sync(struct bh *bh, const struct config *cfg,
             const struct inventory *inv);

/*
 * Validate @cfg over @inv against the kernel without changing anything
 * (`commit check`): the ruleset is loaded into a scratch table that the
 * same transaction deletes again.  0 when the kernel would take it.
 */
int nft_check(struct bh *bh, const struct config *cfg,
              const struct inventory *inv);

/* The nft text of @cfg over @inv (`show ruleset`); no kernel access. */
int nft_ruleset_text(struct bh *bh, const struct config *cfg,
                     const struct inventory *inv, struct strbuf *out);

struct nft_counter {
	char name[64];       /* "rule_7", "default", "spoof", "nic_IF_drop_in" */
	int64_t rule_id;     /* 7 for rule_7, 0 otherwise */
	uint64_t packets;
	uint64_t bytes;
};
/* Every counter of the table, sorted by name.  Free with free(). */
int nft_counters(struct bh *bh, struct nft_counter **out, size_t *n);

struct nft_flow {
	char nic[BH_IFNAME_MAX + 1];  /* the NIC that remembers it */
	char proto[8];                /* "tcp" "udp" "icmp" "icmpv6" */
	char local[48];               /* the workload's side */
	char remote[48];
	int lport, rport;             /* ports; icmp: echo id in lport */
	int outbound;                 /* icmp: 1 when the workload pinged */
	int64_t expires_ms;           /* time left */
};
/*
 * The live flows of every NIC (`show flows`), sorted by NIC, protocol,
 * local and remote side.  A flow between two managed NICs appears once
 * for each.  Free with free().
 */
int nft_flows(struct bh *bh, struct nft_flow **out, size_t *n);

/*
 * Compare the kernel with the ruleset of @cfg over @inv.  Returns 0 when
 * they agree, 1 when they differ (one line per difference in @report,
 * e.g. `set g4_web: missing 10.0.0.5`, `chain ingress4: rules differ`,
 * `table missing`), -1 on error.  Repair with nft_apply().
 */
int nft_drift(struct bh *bh, const struct config *cfg,
              const struct inventory *inv, struct strbuf *report);

/* Delete table netdev bulkhead (tests, uninstall).  Absent: not an error. */
int nft_remove(struct bh *bh);

/* The script text of the last apply (for tests and `-n` style checks);
 * "" when none. */
const char *nft_last_script(struct bh *bh);

#endif
