/*
 * hook.c - libvirt's qemu hook (layer: inventory and events): registers a
 * domain's workload and loads its NICs' chains at `start begin`, before
 * QEMU runs, and marks it stopped at `stopped end`/`release end`.  See
 * hook.h for the phases.
 *
 * Why here and not only in the daemon: the STARTED event comes after the
 * guest's vCPUs run; `start begin` is the last moment at which the taps
 * exist and the guest has executed nothing.  libvirtd blocks on the hook,
 * so it is kept to one store transaction and one kernel transaction, and
 * it never calls libvirt (libvirtd holds the domain's job while it waits:
 * a call back would deadlock).  The domain comes from the XML on standard
 * input only.
 *
 * Fail closed.  At `start begin` any failure -- the store cannot be
 * opened or is busy beyond its timeout, the kernel refuses, a tap is held
 * by a hand-added workload, the domain's name cannot be a workload's --
 * exits 1 with the reason on standard error, and libvirt refuses to start
 * the domain and shows that reason.  No fallback drop-all chain is
 * installed without the store: it would be kernel state the store does not
 * know (the next apply would take it for drift), and a VM that starts but
 * silently cannot talk is harder to diagnose than a start refused with a
 * message.  Stopping never fails (the domain goes either way).
 *
 * Concurrency.  The hook runs in its own process beside a daemon or a
 * shell using the same store.  Its writes are one BEGIN IMMEDIATE
 * transaction (store_tx_begin) and the store's busy timeout (5 s) makes it
 * wait for a writer rather than fail; every kernel change of every
 * bulkhead process is made inside such a transaction, so kernel applies
 * are serialised by the store's write lock too.  The hook's enforcer is
 * fresh: it reconciles against the kernel's own table, so it is correct
 * whatever the daemon did before; the daemon, whose copy of the last apply
 * is then stale, finds out when the kernel refuses its next delta and
 * reconciles the same way (nft.c).  Whatever the daemon later reads from
 * libvirt for this domain (STARTED, STOPPED) equals what the hook wrote,
 * so its resync changes nothing.
 *
 * BULKHEAD_HOOK_LOG=PATH appends one line per call: the wall-clock time in
 * microseconds, domain, phase, exit status, time spent in milliseconds and
 * whether the store changed.  For tests and for measuring what the hook
 * adds to a start.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "hook.h"
#include "libvirt.h"
#include "policy.h"
#include "store.h"
#include "util.h"

/* Domain XML larger than this is refused (libvirt's own cap is 10 MB). */
#define XML_MAX (16u << 20)

static int64_t now_us(int clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Standard input whole into @sb; -1 on a read error or when too big. */
static int read_all(FILE *in, struct strbuf *sb)
{
	char buf[8192];
	size_t n;

	while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
		sb_addn(sb, buf, n);
		if (sb->len > XML_MAX)
			return -1;
	}
	return ferror(in) ? -1 : 0;
}

/* ---- the store ------------------------------------------------------------- */

static int is_libvirt(const struct workload *w)
{
	return strcmp(w->source, "libvirt") == 0;
}


static const struct nic *nic_in(const struct workload *w, const char *ifname)
{
	for (size_t k = 0; w && k < w->nnics; k++)
		if (strcmp(w->nics[k].ifname, ifname) == 0)
			return &w->nics[k];
	return NULL;
}

static int tags_equal(const struct strv *a, const struct strv *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (!strv_contains(b, a->v[i]))
			return 0;
	return 1;
}

/* The store's workload @cur already says what @want says. */
static int same(const struct workload *cur, const struct workload *want)
{
	if (strcmp(cur->name, want->name) || strcmp(cur->state, want->state) ||
	    strcmp(cur->os, want->os) || strcmp(cur->kind, "vm") ||
	    cur->nnics != want->nnics || !tags_equal(&cur->tags, &want->tags))
		return 0;
	for (size_t i = 0; i < want->nnics; i++) {
		const struct nic *n = nic_in(cur, want->nics[i].ifname);

		if (!n || strcmp(n->mac, want->nics[i].mac))
			return 0;
	}
	return 1;
}

/*
 * Make the store's workload of @want's uuid what @want says, against @inv
 * (the inventory as it is).  Returns 1 when it wrote, 0 when nothing
 * differed, -1 (bh->err).  Whatever differs, the workload is deleted and
 * added again: the policy layer changes a state only that way, and the
 * kernel sees only the end result (the caller holds the enforcer back).
 * Addresses bound by hand to NICs that stay are bound again.  What it
 * did goes into @note for the audit log.
 */
static int reconcile(struct bh *bh, struct inventory *inv,
                     const struct workload *want, struct strbuf *note)
{
	struct workload *cur = policy_inventory_by_uuid(inv, want->uuid);
	struct workload *other = policy_inventory_by_name(inv, want->name);
	struct strbuf what = STRBUF_INIT, left = STRBUF_INIT;
	struct workload nw;
	int rc;

	if (cur && !is_libvirt(cur))
		return bh_error(bh, "workload \"%s\", added by hand, has the "
		                "uuid %s of libvirt domain \"%s\": delete that "
		                "workload", cur->name, want->uuid, want->name);
	if (other && other != cur && !is_libvirt(other))
		return bh_error(bh, "libvirt domain \"%s\": a workload of that "
		                "name was added by hand: delete it, or rename "
		                "the domain with 'virsh domrename'", want->name);
	if (util_name_check("workload", want->name, bh->err, sizeof bh->err))
		return bh_error(bh, "libvirt domain \"%s\" cannot be a "
		                "workload: names are 1-63 letters, digits, '.', "
		                "'_' or '-', starting with a letter or digit: "
		                "rename it with 'virsh domrename'", want->name);
	if (cur && same(cur, want))
		return 0;

	for (size_t i = 0; i < want->nnics; i++) {
		const char *ifname = want->nics[i].ifname;
		struct workload *o = policy_inventory_by_nic(inv, ifname, NULL);

		if (o && o != cur && o != other && !is_libvirt(o))
			return bh_error(bh, "interface %s of libvirt domain "
			                "\"%s\" is also interface of workload "
			                "\"%s\", added by hand: delete it there "
			                "with 'delete nic %s'", ifname,
			                want->name, o->name, ifname);
	}
	/* One policy_workload_put: one inventory load and the workload
	 * patched in place (a NIC that stays keeps its addresses, a stale
	 * libvirt workload of the name and taps held by other libvirt
	 * workloads are taken over), where deleting and adding it again
	 * cost one inventory load per edit (7 at a start: ~15 ms at 1000
	 * workloads).  The checks above left nothing it would leave out. */
	nw = *want;   /* shallow: nothing of it is freed here */
	snprintf(nw.kind, sizeof nw.kind, "vm");
	snprintf(nw.source, sizeof nw.source, "libvirt");
	rc = policy_workload_put(bh, &nw, &what, &left);
	if (rc >= 0 && left.len)
		rc = bh_error(bh, "libvirt domain \"%s\": %s", want->name,
		              sb_str(&left));
	if (rc > 0 && what.len)
		sb_addf(note, "; %s", sb_str(&what));
	sb_free(&what);
	sb_free(&left);
	return rc;
}

int hook_workload_apply(struct bh *bh, const struct workload *want,
                        const char *op, int *changed)
{
	bh_inventory_fn *enforce = bh->inventory_changed;
	struct strbuf cmd = STRBUF_INIT, note = STRBUF_INIT;
	struct inventory inv;
	struct store_tx tx;
	int rc;

	if (changed)
		*changed = 0;
	bh->err[0] = '\0';
	if (store_tx_begin(bh, &tx))
		return -1;
	/* A write is one policy_workload_put, which calls the enforcer once
	 * with the inventory as it ends up: the kernel never sees a
	 * workload that vanished and came back. */
	rc = policy_inventory_load(bh, &inv);
	if (rc == 0) {
		rc = reconcile(bh, &inv, want, &note);
		policy_inventory_free(&inv);
	}
	/* Applied also when the store agreed already: this process's
	 * enforcer knows nothing yet, and the kernel may not hold what the
	 * store says (a reboot, a table deleted by hand). */
	if (rc == 0 && enforce) {
		if (policy_inventory_load(bh, &inv)) {
			rc = -1;
		} else {
			bh->err[0] = '\0';
			if (enforce(bh, &inv)) {
				if (!bh->err[0])
					bh_error(bh, "the enforcer refused "
					         "the inventory");
				rc = -1;
			}
			policy_inventory_free(&inv);
		}
	}
	if (rc >= 0) {
		if (store_tx_commit(bh, &tx))
			rc = -1;
	} else {
		store_tx_rollback(bh, &tx);
	}
	if (rc != 0) {
		char saved[BH_ERR_MAX];

		snprintf(saved, sizeof saved, "%s", bh->err);
		sb_addf(&cmd, "libvirt hook %s ", op);
		sb_add_word(&cmd, want->name);
		/* The audit outlives a failure to write it: keep the reason. */
		policy_audit_record(bh, sb_str(&cmd), rc > 0,
		                    rc > 0 ? sb_str(&note) + 2 : saved);
		snprintf(bh->err, sizeof bh->err, "%s", saved);
	}
	sb_free(&cmd);
	sb_free(&note);
	if (changed)
		*changed = rc > 0;
	return rc < 0 ? -1 : 0;
}

/* ---- the program ------------------------------------------------------------ */

/* Interface names libvirt makes up per start and strips from the inactive
 * definition: a stopped domain's workload has no NIC of these names (as
 * the daemon reads it back from libvirt). */
static int generated_ifname(const char *ifname)
{
	return strncmp(ifname, "vnet", 4) == 0 ||
	       strncmp(ifname, "macvtap", 7) == 0 ||
	       strncmp(ifname, "macvlan", 7) == 0;
}

static void log_line(const char *dom, const char *op, const char *sub,
                     int rc, int64_t t0, int changed)
{
	const char *path = getenv("BULKHEAD_HOOK_LOG");
	FILE *f;

	if (!path || !*path)
		return;
	f = fopen(path, "a");
	if (!f)
		return;
	fprintf(f, "%lld %s %s %s rc=%d ms=%.3f changed=%d\n",
	        (long long)now_us(CLOCK_REALTIME), dom, op, sub, rc,
	        (double)(now_us(CLOCK_MONOTONIC) - t0) / 1000.0, changed);
	fclose(f);
}

int hook_main(int argc, char **argv, const char *db, FILE *in, FILE *errf)
{
	int64_t t0 = now_us(CLOCK_MONOTONIC);
	struct strbuf xml = STRBUF_INIT;
	struct workload want;
	struct bh *bh = NULL;
	char err[BH_ERR_MAX];
	const char *dom, *op, *sub;
	int start, changed = 0, rc = 1;

	if (argc < 5 || argc > 6) {
		fputs("bulkhead: hook: usage: bulkhead [--db PATH] hook qemu "
		      "DOMAIN OPERATION SUBOPERATION [EXTRA] (libvirt runs "
		      "it, with the domain XML on standard input)\n", errf);
		return 2;
	}
	if (strcmp(argv[1], "qemu") != 0) {
		fprintf(errf, "bulkhead: hook: driver \"%s\" is not handled: "
		        "install the hook as libvirt's qemu hook only\n",
		        argv[1]);
		return 2;
	}
	dom = argv[2];
	op = argv[3];
	sub = argv[4];
	start = strcmp(op, "start") == 0 && strcmp(sub, "begin") == 0;
	if (!start && !((strcmp(op, "stopped") == 0 ||
	                 strcmp(op, "release") == 0) &&
	                strcmp(sub, "end") == 0)) {
		log_line(dom, op, sub, 0, t0, 0);
		return 0;
	}

	memset(&want, 0, sizeof want);
	if (read_all(in, &xml)) {
		snprintf(err, sizeof err, "cannot read the domain XML on "
		         "standard input%s", xml.len > XML_MAX ?
		         ": larger than 16 MB" : "");
		goto out;
	}
	if (virt_domain_parse(sb_str(&xml), &want, err, sizeof err))
		goto out;
	if (!want.uuid[0]) {
		snprintf(err, sizeof err, "the domain XML has no <uuid>");
		goto out;
	}
	for (char *c = want.uuid; *c; c++)
		if (*c >= 'A' && *c <= 'F')
			*c = (char)(*c - 'A' + 'a');
	if (start) {
		snprintf(want.state, sizeof want.state, "running");
	} else {
		size_t k = 0;

		snprintf(want.state, sizeof want.state, "shut off");
		for (size_t i = 0; i < want.nnics; i++) {
			if (generated_ifname(want.nics[i].ifname)) {
				strv_free(&want.nics[i].addrs);
				continue;
			}
			want.nics[k++] = want.nics[i];
		}
		want.nnics = k;
	}

	bh = engine_open(db, ENGINE_KERNEL_AUTO, err, sizeof err);
	if (!bh)
		goto out;
	if (start && !bh->enforcer) {
		snprintf(err, sizeof err, "loading nftables needs root (the "
		         "hook runs as libvirtd's user)");
		goto out;
	}
	if (hook_workload_apply(bh, &want, op, &changed)) {
		snprintf(err, sizeof err, "%s", bh->err);
		goto out;
	}
	rc = 0;
out:
	if (rc && start)
		fprintf(errf, "bulkhead: hook: domain \"%s\" not started, its "
		        "interfaces could not be filtered: %s\n", dom, err);
	else if (rc)
		fprintf(errf, "bulkhead: hook: domain \"%s\" stopped, but its "
		        "workload was not updated (the daemon resyncs it): %s\n",
		        dom, err);
	if (bh)
		engine_close(bh);
	policy_workload_free(&want);
	sb_free(&xml);
	if (rc && !start)
		rc = 0;
	log_line(dom, op, sub, rc, t0, changed);
	return rc;
}
