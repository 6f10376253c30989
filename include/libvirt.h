/*
 * libvirt.h - the libvirt provider (layer: inventory and events).
 *
 * Keeps the store's inventory in step with the domains of one libvirt
 * connection: each domain is a workload of source "libvirt", kind "vm",
 * with its uuid, state, guest OS (from the libosinfo metadata), every
 * interface's host-side device and MAC, and the tags kept in the domain's
 * own metadata under bulkhead's namespace (VIRT_METADATA_URI, see
 * src/libvirt.c for the XML form).  Workloads added by hand are never
 * touched.  All writes go through the policy layer.
 *
 * Events
 *   The provider brings its own libvirt event implementation, driven by
 *   the caller's poll() loop: virt_event_fds() lists the descriptors to
 *   watch and the timeout, virt_event_dispatch() runs what poll() found.
 *   Each lifecycle, device-added/removed or metadata-change event resyncs
 *   only the domain it is about.  When libvirtd goes away the provider
 *   reconnects with backoff (100 ms doubling to 30 s) from inside the same
 *   loop, then resyncs everything.  libvirt allows one event
 *   implementation per process, registered before the first connection:
 *   virt_open() does it once; use no other libvirt event loop beside it.
 *   Single-threaded: call everything from the thread that drives the loop.
 *
 * Errors
 *   Functions return 0 or -1 (NULL) with the message in bh->err.  A sync
 *   applies what it can: a domain that cannot be brought in (its name is
 *   taken by a hand-added workload, ...) is left out and named in bh->err
 *   while the other domains are synced.
 */
#ifndef BH_LIBVIRT_H
#define BH_LIBVIRT_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "bulkhead.h"
#include "policy.h"

#define VIRT_DEFAULT_URI  "qemu:///system"
/* bulkhead's metadata element in a domain: namespace and prefix (key). */
#define VIRT_METADATA_URI "urn:bulkhead:metadata:1"
#define VIRT_METADATA_KEY "bulkhead"
/* The libosinfo namespace virt-install and virt-manager write. */
#define VIRT_LIBOSINFO_URI "http://libosinfo.org/xmlns/libvirt/domain/1.0"

struct virt;

/*
 * Connect to @uri (NULL: VIRT_DEFAULT_URI), register the event callbacks
 * and the close callback, and return the handle.  Does not sync: call
 * virt_sync().  On failure returns NULL with the reason in bh->err.  @bh
 * must outlive the handle.  Free with virt_close().
 */
struct virt *virt_open(struct bh *bh, const char *uri);
/*
 * As virt_open(), but never fails for want of libvirtd: the first
 * connection is tried from virt_event_dispatch() (at once, then with
 * backoff), followed by a full sync.  For a daemon that may start before
 * libvirtd.  NULL only when @uri is unusable.
 */
struct virt *virt_open_background(struct bh *bh, const char *uri);
/* Deregister and disconnect.  The inventory stays as it is.  NULL is ok. */
void virt_close(struct virt *v);
/* 1 while the connection is up. */
int virt_connected(const struct virt *v);

/*
 * Bring the store's libvirt workloads in step with every domain of the
 * connection, in one transaction (bh->inventory_changed called once, at
 * the end): add the new, update the changed, remove those whose domain is
 * gone.  A domain that cannot be synced is skipped and the first such
 * failure returned in bh->err (-1) after the others were applied.
 */
int virt_sync(struct virt *v);
/*
 * The same for one domain, found by name or uuid; a domain that no longer
 * exists has its workload removed.  What the event callbacks run.
 */
int virt_sync_domain(struct virt *v, const char *name_or_uuid);

/*
 * Add or remove a tag of @workload.  For a libvirt workload the tag is
 * written into the domain's metadata, live when the domain runs and
 * persistent when it is defined (so it travels with the VM), then the
 * domain is read back and resynced: the store follows from libvirt, never
 * the other way round.  For any other workload these are
 * policy_tag_add/delete.  Errors as policy_tag_add/delete, or libvirt's.
 */
int virt_tag_add(struct virt *v, const char *workload, const char *tag);
int virt_tag_delete(struct virt *v, const char *workload, const char *tag);
/*
 * The same as a bh_tag_fn (bulkhead.h) for bh->tag_write, with the
 * provider in bh->tag_handle (NULL: policy_tag_add/delete): how `add tag`
 * and `delete tag` reach the domain.  The provider's handle must belong to
 * @bh.  A libvirt VM whose libvirt cannot be reached is refused with
 * `workload "web1" is a libvirt VM and libvirt at qemu:///system does not
 * answer: REASON; its tags live in the domain's metadata`, nothing changed.
 * A handle nobody drives with virt_event_dispatch (an in-process engine's)
 * is reconnected when it sat idle for 15 s, since libvirtd drops clients
 * that leave its keepalives unanswered.
 */
int virt_tag_write(struct bh *bh, const char *workload, const char *tag,
                   int add);
/*
 * libvirt has no transaction: a tag written into a domain inside an
 * all-or-nothing batch (bh->batch set) is remembered, and once the batch
 * has ended this writes the domain back to what it had before when the
 * store rolled the batch back (the store's tags are not what was
 * written), unless someone changed the domain since.  Call it after each
 * batch (the daemon does; virt_close() and the next batch's first tag do
 * it too).  Nothing to do outside a batch or while one runs; never fails
 * (a domain it cannot write back stays as it is).
 */
void virt_tag_settle(struct virt *v);

/* ---- the event loop ------------------------------------------------------ */
/*
 * Append the descriptors libvirt wants watched to @fds (at most @max) and
 * return how many; lower *timeout_ms (-1: none yet) to when the next
 * libvirt timer or reconnect attempt is due.  Call before each poll().
 * The descriptors are those of every libvirt connection of the process
 * (the event implementation is per process); @v adds its reconnect
 * deadline.  Returns -1 (bh->err) when @max is too small (16 is plenty
 * for one connection).
 */
int virt_event_fds(struct virt *v, struct pollfd *fds, size_t max,
                   int *timeout_ms);
/*
 * After poll(): run the callbacks of the descriptors in @fds (as filled by
 * virt_event_fds, revents set by poll) and the timers that are due, then
 * retry the connection when it is down and the backoff has passed.  Domain
 * events resync their domain from here.  Returns the number of domain
 * syncs made.
 */
int virt_event_dispatch(struct virt *v, const struct pollfd *fds, size_t n);
/* One round of the above with poll() on libvirt's descriptors alone,
 * waiting at most @timeout_ms: for callers without a loop (tests). */
int virt_event_run(struct virt *v, int timeout_ms);

/*
 * What the provider has seen, for logs, tests and `show`: times are
 * CLOCK_REALTIME microseconds (0: never).
 */
struct virt_stats {
	uint64_t events;          /* domain events received */
	uint64_t syncs;           /* domain syncs done (events and full) */
	uint64_t sync_failures;
	uint64_t full_syncs;
	uint64_t connects;        /* successful (re)connections */
	uint64_t disconnects;     /* close callbacks */
	uint64_t connect_failures;
	int64_t last_event_us;    /* arrival of the newest domain event */
	int64_t last_sync_us;     /* end of the newest domain sync */
	char last_event[64];      /* "metadata-change", "lifecycle", ... */
	char last_domain[64];     /* domain of the newest event */
	char last_error[BH_ERR_MAX]; /* newest failure of a background sync */
};
void virt_stats_get(const struct virt *v, struct virt_stats *out);

/* ---- what the XML says -------------------------------------------------- */
/*
 * Read a domain's XML description (virDomainGetXMLDesc) into @out: name,
 * uuid, os (virt_os_name of the libosinfo id), kind "vm", source
 * "libvirt", tags from bulkhead's metadata (invalid ones dropped, sorted,
 * deduplicated) and one NIC per interface that has a host-side device
 * (<target dev>), with its MAC.  State is not in the XML: left "".  Pure:
 * no libvirt call.  Returns -1 with a message in @err on malformed XML.
 * @out is zeroed first; free with policy_workload_free().
 */
int virt_domain_parse(const char *xml, struct workload *out, char *err,
                      size_t errlen);
/*
 * A short readable name for a libosinfo OS id, the form of osinfo's
 * short-id: "http://debian.org/debian/12" -> "debian12",
 * "http://microsoft.com/win/2k19" -> "win2k19", a "rolling" version drops
 * ("http://archlinux.org/archlinux/rolling" -> "archlinux").  An id of
 * another shape is kept whole.  Writes into @buf; returns @buf.
 */
const char *virt_os_name(const char *id, char *buf, size_t len);
/* The <metadata> element bulkhead writes for @tags (without the
 * namespace: libvirt adds it under VIRT_METADATA_KEY). */
void virt_tags_xml(const struct strv *tags, struct strbuf *out);

/* ---- addresses ---------------------------------------------------------- */
struct virt_addr {
	char ifname[BH_IFNAME_MAX + 1];  /* host side, "" when unknown */
	char mac[18];
	char addr[64];                   /* canonical, no prefix */
	int family;                      /* 4 or 6 */
};
/*
 * The addresses libvirt knows for @workload's domain
 * (virDomainInterfaceAddresses) from @source: "lease" (libvirt's DHCP
 * server), "agent" (the guest agent) or "arp" (the host's neighbour
 * table).  *out is malloc'ed (free()); *n may be 0.
 */
int virt_addresses(struct virt *v, const char *workload, const char *source,
                   struct virt_addr **out, size_t *n);

/* ---- VM actions (issue 5) ------------------------------------------------ */
enum virt_vm_op {
	VIRT_VM_SNAPSHOT,   /* external memory-only snapshot, domain runs on */
	VIRT_VM_SHUTDOWN,   /* ACPI shutdown request: returns at once */
	VIRT_VM_DESTROY,    /* `shutdown W force`: hard power-off */
	VIRT_VM_PAUSE,
	VIRT_VM_RESUME
};
/* Where snapshot memory files go unless $BULKHEAD_SNAPSHOT_DIR says. */
#define VIRT_SNAPSHOT_DIR "/var/lib/bulkhead/snapshots"
/*
 * Act on @workload's libvirt domain: @op as above; @name is the
 * snapshot's name for VIRT_VM_SNAPSHOT (NULL or "": "bulkhead-" and the
 * UTC time), ignored otherwise.  A snapshot is an external memory-only
 * snapshot with metadata (the only kind libvirt 9.0 takes for a domain
 * without disks): the guest's RAM is written to DIR/DOMAIN-NAME.mem while
 * the domain keeps running, and the snapshot is listed by
 * `virsh snapshot-list`.  None of these waits for the guest: a shutdown
 * only asks (ACPI).  Returns 0 with a one-line result in @result, or -1
 * with bh->err: the workload is not a libvirt VM, is not in a state the
 * action applies to (named with the state and what to do), libvirt does
 * not answer, or libvirt refused (its reason).
 */
int virt_vm_action(struct virt *v, const char *workload, enum virt_vm_op op,
                   const char *name, char *result, size_t len);
/* "snapshot", "shutdown", "shutdown force", "pause", "resume". */
const char *virt_vm_op_name(enum virt_vm_op op);

/* ---- testfixture -------------------------------------------------------- */
struct Tcl_Interp;
/*
 * Register the Tcl commands of src/tclvirt.c (bh_virt, bh_virt_parse,
 * bh_virt_os, bh_virt_setmeta) in @interp.  Built without Tcl headers it
 * registers nothing and the libvirt tests skip.  Returns 0 (TCL_OK).
 */
int tclvirt_register(struct Tcl_Interp *interp);

#endif
