/*
 * engine.h - the engine as one piece: the store opened, and, where this
 * process may load nftables, the enforcer attached, so every commit and
 * inventory change reaches the kernel in the same transaction as the store.
 *
 * In-process front ends (the shell and batch mode without a daemon) and the
 * daemon open the engine here; the testfixture uses bh_open() for store-only
 * engines.
 */
#ifndef BH_ENGINE_H
#define BH_ENGINE_H

#include <stddef.h>
#include "bulkhead.h"

enum engine_kernel {
	ENGINE_KERNEL_AUTO,   /* attach when running as root */
	ENGINE_KERNEL_OFF     /* store only */
};

/*
 * Open the store at @path (NULL: the default) and attach the enforcer as
 * @kernel says.  When opening undid an unconfirmed commit, the restored
 * config is put into the kernel here.  NULL on failure with the reason in
 * @err; free with engine_close().
 */
struct bh *engine_open(const char *path, enum engine_kernel kernel,
                       char *err, size_t errlen);
void engine_close(struct bh *bh);

/*
 * The libvirt provider @bh's VM actions go through: the daemon's own
 * (bh->tag_write is virt_tag_write), or an in-process root engine's, made
 * here on first use as its tags' is.  NULL with bh->err when this engine
 * has none (not root, a store-only engine, a daemon without libvirt).
 */
struct virt;
struct virt *engine_virt(struct bh *bh);

#endif
