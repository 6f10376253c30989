/*
 * address.h - where a NIC's bound addresses come from (layer: policy
 * model, inventory side): the addressing mode of each workload, addresses
 * bound from libvirt or learned from the NIC's own traffic, pinning and
 * clearing them.
 *
 * Every bound address has an origin: "static" (added by hand), "libvirt"
 * (virDomainInterfaceAddresses: DHCP lease or guest agent) or "learned"
 * (the first ARP, DHCP or ND packet of the NIC: trust on first use).  A
 * libvirt or learned binding may be pinned; `clear addresses` drops the
 * unpinned ones, so the NIC learns again, and keeps static and pinned ones.
 *
 * The addressing mode says which sources beyond the static addresses a
 * workload's NICs take: none ("static"), libvirt, learn or both.  It is
 * operational like the rest of the inventory (it acts at once, is audited,
 * is not in config revisions): it says how facts about workloads are found,
 * and workloads come and go outside the config's life cycle.
 */
#ifndef BH_ADDRESS_H
#define BH_ADDRESS_H

#include <stddef.h>
#include <stdint.h>

#include "bulkhead.h"
#include "policy.h"
#include "util.h"

enum {
	ADDRESSING_LIBVIRT = 1,   /* ask libvirt (lease, agent) */
	ADDRESSING_LEARN = 2      /* learn from the NIC's first ARP/DHCP/ND */
};

/* "static", "libvirt", "learn", "libvirt,learn" (either order) into
 * ADDRESSING_* bits; -1 when not one of them. */
int policy_addressing_parse(const char *text);
/* The canonical text of @bits: "static", "libvirt", "learn",
 * "libvirt,learn". */
const char *policy_addressing_name(unsigned bits);

/*
 * Set the addressing mode: of @workload, or the default when @workload is
 * NULL.  @mode is one policy_addressing_parse() takes, or, for a workload,
 * "default" (follow the default again).  Acts at once: a NIC that starts
 * or stops learning is a set element (bh->inventory_changed).  Returns 0,
 * or -1 with bh->err and nothing changed.
 */
int policy_addressing_set(struct bh *bh, const char *workload,
                          const char *mode);
/* The default mode's bits into *bits. */
int policy_addressing_default(struct bh *bh, unsigned *bits);

/*
 * 1 when NIC @n of @w takes a learned address of @family (4 or 6): the
 * workload learns and the NIC has no address of that family bound yet
 * (for IPv6: no address outside fe80::/10).  Pure.
 */
int policy_nic_learning(const struct workload *w, const struct nic *n,
                        int family);

/* One bound address, as `show workload` lists it. */
struct bound_addr {
	char workload[BH_NAME_MAX + 1];
	char ifname[BH_IFNAME_MAX + 1];
	char addr[64];            /* canonical */
	int family;               /* 4 or 6 */
	char origin[16];          /* "static" | "libvirt" | "learned" */
	int pinned;
	int64_t since_ms;         /* when it was bound; 0: not known */
};
/*
 * The addresses bound to @workload's NICs (NULL: every workload), by
 * workload, interface, address.  *out is malloc'd (free() it); a workload
 * that does not exist is an error with a suggestion.
 */
int policy_address_list(struct bh *bh, const char *workload,
                        struct bound_addr **out, size_t *n);

/*
 * Bind @addr, found by @origin ("libvirt" or "learned"), to NIC @ifname
 * when the NIC's workload takes that source and the NIC has no address of
 * that kind yet (IPv4; IPv6 outside fe80::/10; an IPv6 link-local other
 * than the one its MAC gives, while it has no other IPv6).  One
 * transaction: the store and, through bh->inventory_changed, the kernel.
 * Returns 1 when bound, 0 when nothing was done (the reason in @why when
 * not NULL: "interface ... is not managed", "... already has ...", "address
 * ... is bound to workload ..."), -1 on failure (store and kernel as they
 * were, bh->err).  @workload_out (may be NULL, BH_NAME_MAX + 1 bytes) gets
 * the NIC's workload.
 */
int policy_address_bind(struct bh *bh, const char *ifname, const char *addr,
                        const char *origin, struct strbuf *why,
                        char *workload_out);

/* Pin address @addr of @workload: a libvirt or learned binding is kept by
 * `clear addresses` from now on.  A static one is refused (it always is
 * kept).  Returns 0, or -1 with bh->err. */
int policy_address_pin(struct bh *bh, const char *workload, const char *addr);

/*
 * Drop the unpinned libvirt and learned bindings of @workload (NULL: of
 * every workload), so its NICs learn or ask libvirt again.  *cleared (may
 * be NULL) gets how many went.  Returns 0, or -1 with bh->err and nothing
 * changed.
 */
int policy_address_clear(struct bh *bh, const char *workload,
                         size_t *cleared);

/*
 * For `show config`: drop from @inv (in memory) the libvirt and learned
 * addresses that are not pinned, which a replay must find again rather
 * than bind as static ones; and append to @out the `set addressing` lines
 * that rebuild the default (when not static) and the modes of @inv's
 * workloads that have their own.  -1 with bh->err on a store failure.
 */
int policy_address_found_drop(struct bh *bh, struct inventory *inv);
int policy_addressing_text(struct bh *bh, const struct inventory *inv,
                           struct strbuf *out);

/* ---- store (src/store_address.c) ----------------------------------------
 * Rows only, no checks; the callers above hold the transaction.
 */
/* Fill every workload's addressing fields of @inv from the store. */
int store_addressing_fill(struct bh *bh, struct inventory *inv);
int store_addressing_default(struct bh *bh, unsigned *bits);
int store_addressing_default_set(struct bh *bh, const char *mode);
/* @mode "" follows the default. */
int store_addressing_set(struct bh *bh, int64_t workload, const char *mode);
int store_address_bind(struct bh *bh, const char *ifname, const char *addr,
                       int family, const char *origin, int64_t since_ms);
int store_address_pin(struct bh *bh, const char *addr);
/* Delete the unpinned non-static bindings of @workload (0: all);
 * *n gets how many. */
int store_address_clear(struct bh *bh, int64_t workload, size_t *n);
int store_address_list(struct bh *bh, int64_t workload,
                       struct bound_addr **out, size_t *n);

#endif
