/*
 * links.h - the daemon's links service (layer: inventory and events):
 * rtnetlink link events of the namespace bulkhead enforces in, for the
 * inventory's NICs.
 *
 * A container's veth (or any NIC's host-side interface) may disappear and
 * come back under the same name with a new ifindex (a container restart).
 * The NIC's base chains are bound by device name and this kernel hooks
 * them onto the new device by itself (checked on 6.18, see bulkhead(8)
 * LINK EVENTS); what is keyed by ifindex is not: the flow, echo, ICMP
 * error and reject sets.  The service
 *   - keeps each NIC's link state in the store (table nic_link: present,
 *     ifindex, the host end's MAC, how often it came back),
 *   - removes the set elements of an ifindex that went away,
 *   - checks that a NIC that (re)appears has its base chains in the kernel
 *     and re-applies the running config when it does not (a kernel that
 *     drops a chain with its device),
 *   - audits every disappearance and re-binding.
 * Known NICs are matched by interface name only; interfaces nobody added
 * are ignored.
 */
#ifndef BH_LINKS_H
#define BH_LINKS_H

#include "daemon.h"

/* The service's functions (struct daemon_service, daemon.c's services[]
 * row "links").  start subscribes to RTMGRP_LINK and looks at every
 * interface once; it fails only when rtnetlink cannot be opened. */
void *links_service_start(const struct daemon_env *env, char *err,
                          size_t errlen);
void links_service_stop(void *state);
void links_service_resync(void *state);

/*
 * Remove from table netdev bulkhead every element of the sets keyed by
 * interface index (flows, echo, ICMP error and reject state) whose index
 * is @ifindex.  *removed (may be NULL) gets how many went.  No table or
 * no such sets: 0.  -1 with bh->err when the kernel refuses; what was
 * removed before stays removed (stale state only: no policy is loosened).
 */
int links_purge_ifindex(struct bh *bh, int ifindex, int *removed);

#endif
