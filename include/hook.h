/*
 * hook.h - libvirt's qemu hook (layer: inventory and events): a VM's NICs
 * are in the kernel before its guest runs.
 *
 * libvirtd runs /etc/libvirt/hooks/qemu (and every executable of
 * /etc/libvirt/hooks/qemu.d/) synchronously at each step of a domain's life,
 * as `HOOK DOMAIN OPERATION SUBOPERATION EXTRA` with the domain XML on
 * standard input.  At `start begin` the domain's taps exist and QEMU has
 * not been launched: bulkhead registers the workload there and puts its
 * chains and group-set elements into the kernel, so no packet of the guest
 * meets an unfiltered tap.  libvirt's STARTED event, which the daemon acts
 * on, comes after the vCPUs run: too late to be the only enforcement.
 *
 * The hook must not call back into libvirt (libvirtd waits for it while
 * holding the domain's job: a call would deadlock), so everything comes
 * from the XML on standard input (virt_domain_parse).
 */
#ifndef BH_HOOK_H
#define BH_HOOK_H

#include <stdio.h>

#include "bulkhead.h"
#include "policy.h"

/*
 * `bulkhead [--db PATH] hook qemu DOMAIN OPERATION SUBOP EXTRA`: @argv[0]
 * is "hook".  Reads the domain XML from @in where the phase needs it.
 *   start begin            register or update the workload (state
 *                          "running", its NICs, tags and OS) in one store
 *                          transaction and apply it to the kernel; any
 *                          failure is fatal: the message goes to @errf and
 *                          the status is 1, so libvirt refuses to start
 *                          the domain (fail closed)
 *   stopped end,
 *   release end            mark it "shut off" and drop the NICs libvirt
 *                          names itself (vnetN, macvtapN); a failure is
 *                          reported, status 0: the domain is stopping
 *                          anyway and the daemon resyncs
 *   anything else          nothing, status 0
 * Returns the exit status: 0, 1 (failed), 2 (usage).  Writes nothing on
 * success.  Env BULKHEAD_HOOK_LOG=PATH appends one line per call (a test
 * and diagnostic hook, see hook.c).
 */
int hook_main(int argc, char **argv, const char *db, FILE *in, FILE *errf);

/*
 * Bring the libvirt workload @want (as virt_domain_parse gives it, with
 * state set; uuid lowercase) into the store in one transaction and apply
 * the inventory to the kernel through bh->inventory_changed, also when the
 * store already agreed (a fresh process must not trust the kernel).  A NIC
 * that cannot be filtered (held by a hand-added workload) is a failure.
 * On failure -1 with bh->err; store and kernel stay as they were.  *changed
 * (may be NULL) tells whether the store changed.  One audit record
 * "libvirt hook OP NAME" is written when something changed or failed.
 */
int hook_workload_apply(struct bh *bh, const struct workload *want,
                        const char *op, int *changed);

#endif
