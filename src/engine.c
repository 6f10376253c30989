/*
 * engine.c - the engine's constructor (top of the engine library): the
 * store, then the enforcer.  See engine.h.
 *
 * The enforcer is attached only for root: loading nftables needs
 * CAP_NET_ADMIN, and a user's private store (under their home) is a place
 * to edit policy, not to enforce it.  Attaching sends nothing to the
 * kernel; the first commit or inventory change does.
 */
#include <stdio.h>
#include <unistd.h>

#include "engine.h"
#include "nft.h"
#include "policy.h"

struct bh *engine_open(const char *path, enum engine_kernel kernel,
                       char *err, size_t errlen)
{
	struct bh *bh = bh_open(path, err, errlen);

	if (!bh)
		return NULL;
	if (kernel == ENGINE_KERNEL_AUTO && geteuid() == 0) {
		if (nft_attach(bh)) {
			snprintf(err, errlen, "%s", bh->err);
			bh_close(bh);
			return NULL;
		}
		bh->check = nft_check;
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
	return bh;
}

void engine_close(struct bh *bh)
{
	if (!bh)
		return;
	if (bh->enforcer)
		nft_detach(bh);
	bh_close(bh);
}
