/*
 * learn.h - the daemon's "addresses" service (layer: daemon, src/learn.c):
 * binds addresses learned from NICs' own ARP/DHCP/ND traffic (nflog group
 * NFLOG_GROUP_LEARN) and the ones libvirt reports (lease, agent), as the
 * workloads' addressing modes ask (address.h).
 */
#ifndef BH_LEARN_H
#define BH_LEARN_H

#include <stddef.h>
#include <stdint.h>

#include "bulkhead.h"

struct daemon_env;
struct virt;

/* The service functions of daemon.c's services[] table (daemon.h).  Start
 * fails only when it has neither the nflog socket (not root, group taken)
 * nor a libvirt provider; with one of them it runs with what it has. */
void *learn_start(const struct daemon_env *env, char *err, size_t errlen);
void learn_stop(void *state);
void learn_resync(void *state);

/*
 * The address a learning NIC's packet claims, into @buf (canonical text):
 * ARP (@ethertype 0x0806): the sender address, unless 0.0.0.0; IPv4
 * (0x0800): a DHCP ACK's yiaddr, only when its client MAC is @mac; IPv6
 * (0x86dd): a neighbor solicitation's target when sent from :: (DAD),
 * else a solicitation's or advert's source.  @p starts at the network
 * header.  Returns 0, or -1 when the packet claims nothing.  Pure.
 */
int learn_packet_addr(uint16_t ethertype, const uint8_t *p, size_t len,
                      const char *mac, char *buf, size_t buflen);

/* One round of the libvirt side: ask libvirt for the running libvirt
 * workloads that take its addresses and lack one, bind what it says,
 * audited.  Errors are logged, not returned. */
void learn_libvirt_poll(struct bh *bh, struct virt *v);

/* The testfixture's commands bh_learn_addr and bh_address_bind
 * (src/tcladdress.c). */
struct Tcl_Interp;
int tcladdress_register(struct Tcl_Interp *interp);

#endif
