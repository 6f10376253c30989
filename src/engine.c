/*
 * engine.c - the engine's constructor (top of the engine library): the
 * store, then the enforcer.  See engine.h.
 *
 * The enforcer is attached only for root: loading nftables needs
 * CAP_NET_ADMIN, and a user's private store (under their home) is a place
 * to edit policy, not to enforce it.  Attaching sends nothing to the
 * kernel; the first commit or inventory change does.
 *
 * Tags of libvirt VMs live in the domain's metadata, so a root engine
 * also routes `add tag`/`delete tag` through the libvirt provider
 * (bh->tag_write).  The connection is made on the first tag of a libvirt
 * VM only, to $BULKHEAD_LIBVIRT_URI or qemu:///system, and closed with
 * the engine: a shell that never tags a VM never talks to libvirt.  The
 * daemon replaces the hook with its own provider.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine.h"
#include "libvirt.h"
#include "nft.h"
#include "playbook.h"
#include "policy.h"
#include "quarantine.h"

/* bh->tag_write of in-process engines: the provider (in bh->tag_handle,
 * a struct virt as the daemon's hook keeps there too) made on first use.
 * virt_open_background() does not connect; the provider connects only
 * for a workload whose source is libvirt. */
static int tag_write_lazy(struct bh *bh, const char *workload,
                          const char *tag, int add)
{
	if (!bh->tag_handle) {
		const char *uri = getenv("BULKHEAD_LIBVIRT_URI");

		bh->tag_handle = virt_open_background(bh, uri && *uri ? uri :
		                                      VIRT_DEFAULT_URI);
		if (!bh->tag_handle)
			return -1;
	}
	return virt_tag_write(bh, workload, tag, add);
}

struct virt *engine_virt(struct bh *bh)
{
	if (bh->tag_write == virt_tag_write && bh->tag_handle)
		return bh->tag_handle;
	if (bh->tag_write != tag_write_lazy) {
		bh_error(bh, "VM actions need a libvirt connection and this "
		         "engine has none: run them as root, or through a "
		         "daemon started without --no-libvirt");
		return NULL;
	}
	if (!bh->tag_handle) {
		const char *uri = getenv("BULKHEAD_LIBVIRT_URI");

		bh->tag_handle = virt_open_background(bh, uri && *uri ? uri :
		                                      VIRT_DEFAULT_URI);
	}
	return bh->tag_handle;
}

struct bh *engine_open(const char *path, enum engine_kernel kernel,
                       char *err, size_t errlen)
{
	struct bh *bh = bh_open(path, err, errlen);

	if (!bh)
		return NULL;
	/* Playbooks run in the daemon; here an event with steps is only
	 * audited as not run (the daemon's runner replaces this). */
	bh->event = playbook_event_nodaemon;
	if (kernel == ENGINE_KERNEL_AUTO && geteuid() == 0) {
		if (nft_attach(bh)) {
			snprintf(err, errlen, "%s", bh->err);
			bh_close(bh);
			return NULL;
		}
		bh->check = nft_check;
		bh->tag_write = tag_write_lazy;
		/* An unconfirmed commit was undone while opening: the
		 * kernel still holds the config it had replaced. */
		if (bh->expired_rev && policy_apply_running(bh)) {
			snprintf(err, errlen, "restoring revision %lld in the "
			         "kernel after an unconfirmed commit: %s",
			         (long long)bh->expired_rev, bh->err);
			engine_close(bh);
			return NULL;
		}
	}
	/* A `quarantine ... for` whose time ran out while no daemon was
	 * there to end it: end it now, the kernel following when attached.
	 * A failure is not fatal: the quarantine stays, which is the safe
	 * side, and the next engine tries again. */
	if (kernel == ENGINE_KERNEL_AUTO)
		policy_quarantine_expire(bh, NULL);
	return bh;
}

void engine_close(struct bh *bh)
{
	if (!bh)
		return;
	/* Only our own provider: the daemon closes its own. */
	if (bh->tag_write == tag_write_lazy)
		virt_close(bh->tag_handle);
	bh->tag_write = NULL;
	bh->tag_handle = NULL;
	if (bh->enforcer)
		nft_detach(bh);
	bh_close(bh);
}
