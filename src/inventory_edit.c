/*
 * inventory_edit.c - the inventory side of the policy layer: workloads,
 * their NICs, bound addresses and tags, as edited by hand or by discovery,
 * and the views of them with their group membership.
 *
 * Inventory is operational: an edit acts at once, no candidate, no commit.
 * Each edit loads the inventory inside its transaction, checks everything
 * against it, writes, then lets the enforcer follow (bh->inventory_changed)
 * before the transaction commits, so the store never holds an inventory
 * the kernel refused.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bulkhead.h"
#include "policy.h"
#include "policy_internal.h"
#include "quarantine.h"
#include "store.h"
#include "address.h"
#include "util.h"

int policy_inventory_load(struct bh *bh, struct inventory *out)
{
	return store_inventory_load(bh, out);
}

/* ---- lookups in a loaded inventory ---------------------------------------- */
static int cmp_workload_name(const void *key, const void *elem)
{
	return strcmp(key, ((const struct workload *)elem)->name);
}

static struct workload *find_workload(const struct inventory *inv,
                                      const char *name)
{
	if (!inv->n)
		return NULL;
	return bsearch(name, inv->w, inv->n, sizeof *inv->w,
	               cmp_workload_name);
}

/* ---- lookups (policy.h) ---------------------------------------------- */
struct workload *policy_inventory_by_name(const struct inventory *inv,
                                          const char *name)
{
	for (size_t i = 0; i < inv->n; i++)
		if (strcmp(inv->w[i].name, name) == 0)
			return &inv->w[i];
	return NULL;
}

struct workload *policy_inventory_by_uuid(const struct inventory *inv,
                                          const char *uuid)
{
	for (size_t i = 0; i < inv->n; i++)
		if (inv->w[i].uuid[0] && strcasecmp(inv->w[i].uuid, uuid) == 0)
			return &inv->w[i];
	return NULL;
}

struct workload *policy_inventory_by_nic(const struct inventory *inv,
                                         const char *ifname,
                                         struct nic **nic)
{
	for (size_t i = 0; i < inv->n; i++) {
		struct nic *n = policy_workload_nic(&inv->w[i], ifname);
		if (n) {
			if (nic)
				*nic = n;
			return &inv->w[i];
		}
	}
	return NULL;
}

struct nic *policy_workload_nic(const struct workload *w, const char *ifname)
{
	for (size_t k = 0; w && k < w->nnics; k++)
		if (strcmp(w->nics[k].ifname, ifname) == 0)
			return &w->nics[k];
	return NULL;
}

/* The NIC an address is bound to, and its workload; NULL when free. */
static struct workload *find_address(const struct inventory *inv,
                                     const char *addr, struct nic **nic)
{
	for (size_t i = 0; i < inv->n; i++)
		for (size_t k = 0; k < inv->w[i].nnics; k++)
			if (strv_contains(&inv->w[i].nics[k].addrs, addr)) {
				if (nic)
					*nic = &inv->w[i].nics[k];
				return &inv->w[i];
			}
	return NULL;
}

static int no_workload(struct bh *bh, const struct inventory *inv,
                       const char *name)
{
	struct strv names = STRV_INIT;
	int rc;

	for (size_t i = 0; i < inv->n; i++)
		strv_push(&names, inv->w[i].name);
	rc = policy_not_found(bh, "workload", name, &names);
	strv_free(&names);
	return rc;
}

static int no_nic(struct bh *bh, const struct inventory *inv,
                  const char *ifname)
{
	struct strv names = STRV_INIT;
	int rc;

	for (size_t i = 0; i < inv->n; i++)
		for (size_t k = 0; k < inv->w[i].nnics; k++)
			strv_push(&names, inv->w[i].nics[k].ifname);
	rc = policy_not_found(bh, "interface", ifname, &names);
	strv_free(&names);
	return rc;
}

/* ---- the edit pattern ------------------------------------------------------ */
struct inv_edit {
	struct store_tx tx;
	struct inventory inv;    /* as it was before the edit */
};

/*
 * The inventory as the last edit of this process left it, kept for the
 * next edit: a long-lived engine (the daemon, with a libvirt event or a
 * tag command per edit) then loads the inventory only when someone else
 * changed it, instead of at every edit (2 to 4 ms at 1000 workloads).
 * It is used only while the store's inventory generation (a counter that
 * triggers move with every write to the inventory's tables, whoever
 * writes: store_inventory_gen) is the one it was kept at, read under the
 * write lock; it is kept only after an outermost commit, so a rolled
 * back transaction can never leave a generation that names it.
 */
static struct {
	int have;
	const struct bh *bh;
	const void *db;
	int64_t gen;
	char uid[17];
	struct inventory inv;
} kept;

static void kept_drop(void)
{
	if (kept.have)
		policy_inventory_free(&kept.inv);
	memset(&kept, 0, sizeof kept);
}

/* Under the write lock: the inventory into @out, the kept one when it is
 * still the store's. */
static int inv_take(struct bh *bh, struct inventory *out)
{
	int64_t gen;
	char uid[17];

	if (kept.have && kept.bh == bh && kept.db == (void *)bh->db &&
	    store_inventory_gen(bh, &gen, uid, sizeof uid) == 0 &&
	    gen == kept.gen && strcmp(uid, kept.uid) == 0) {
		*out = kept.inv;
		memset(&kept, 0, sizeof kept);
		return 0;
	}
	kept_drop();
	return store_inventory_load(bh, out);
}

static int cmp_nic(const void *a, const void *b)
{
	return strcmp(((const struct nic *)a)->ifname,
	              ((const struct nic *)b)->ifname);
}

/* Before the commit of @tx: @inv (taken) is the store's inventory; keep
 * it once the commit has happened (inv_kept). */
static void inv_keep(struct bh *bh, struct inv_edit *e, struct inventory *inv)
{
	kept_drop();
	if (!e->tx.outer ||
	    store_inventory_gen(bh, &kept.gen, kept.uid, sizeof kept.uid)) {
		policy_inventory_free(inv);
		memset(&kept, 0, sizeof kept);
		return;
	}
	/* as store_inventory_load orders them: a patched workload has its
	 * NICs in the order discovery gave */
	for (size_t i = 0; i < inv->n; i++)
		if (inv->w[i].nnics > 1)
			qsort(inv->w[i].nics, inv->w[i].nnics,
			      sizeof *inv->w[i].nics, cmp_nic);
	kept.bh = bh;
	kept.db = bh->db;
	kept.inv = *inv;
	memset(inv, 0, sizeof *inv);
}

/* After the commit: the kept inventory counts (or goes, when it failed). */
static void inv_kept(int committed)
{
	if (committed && kept.bh)
		kept.have = 1;
	else
		kept_drop();
}

/* The edit's end: committed when @rc is 0 (the kept inventory counts,
 * the quarantine events go out), else rolled back (both dropped). */
static int inv_close(struct bh *bh, struct inv_edit *e, int rc)
{
	if (rc == 0) {
		rc = store_tx_commit(bh, &e->tx);
		inv_kept(rc == 0);
		policy_quarantine_tx_end(bh, &e->tx, rc == 0);
		return rc;
	}
	kept_drop();
	store_tx_rollback(bh, &e->tx);
	policy_quarantine_tx_end(bh, &e->tx, 0);
	return -1;
}

static int inv_begin(struct bh *bh, struct inv_edit *e)
{
	memset(e, 0, sizeof *e);
	if (store_tx_begin(bh, &e->tx))
		return -1;
	if (inv_take(bh, &e->inv)) {
		store_tx_rollback(bh, &e->tx);
		return -1;
	}
	return 0;
}

/* Commit when @rc is 0 and the enforcer took the new inventory. */
static int inv_end(struct bh *bh, struct inv_edit *e, int rc)
{
	policy_inventory_free(&e->inv);
	if (rc == 0) {
		struct inventory now;

		/* The tag "quarantine", however it came, quarantines (and
		 * its removal releases) in the same transaction. */
		if (store_inventory_load(bh, &now)) {
			rc = -1;
		} else {
			if (policy_quarantine_tags(bh, &now) < 0)
				rc = -1;
			bh->err[0] = '\0';
			if (rc == 0 && bh->inventory_changed &&
			    bh->inventory_changed(bh, &now)) {
				if (!bh->err[0])
					bh_error(bh, "the inventory change "
					         "could not be applied; nothing "
					         "was changed");
				rc = -1;
			}
			if (rc == 0)
				inv_keep(bh, e, &now);
			policy_inventory_free(&now);
		}
	}
	return inv_close(bh, e, rc);
}

/* ---- workloads ------------------------------------------------------------- */
/* libvirt's form: 8-4-4-4-12 hex digits, stored lowercase. */
static int uuid_parse(struct bh *bh, const char *text, char *canon,
                      size_t len)
{
	size_t n = strlen(text);

	for (size_t i = 0; i < n && n == 36; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? text[i] != '-' : !isxdigit((unsigned char)text[i]))
			n = 0;
	}
	if (n != 36 || len < 37)
		return bh_error(bh, "uuid \"%s\": expected 8-4-4-4-12 hex "
		                "digits, e.g. 6f1c2a9e-3b4d-4e5f-8a7b-"
		                "0c1d2e3f4a5b", text);
	for (size_t i = 0; i <= n; i++)
		canon[i] = (char)tolower((unsigned char)text[i]);
	return 0;
}

/* Network namespace names are file names under /run/netns. */
static int netns_check(struct bh *bh, const char *netns)
{
	if (strcmp(netns, ".") == 0 || strcmp(netns, "..") == 0 ||
	    strpbrk(netns, "/ \t") || strlen(netns) > 63)
		return bh_error(bh, "netns \"%s\": use the name of a network "
		                "namespace (up to 63 characters, no '/' or "
		                "blanks)", netns);
	return policy_text_check(bh, "netns", netns);
}

int policy_workload_add(struct bh *bh, const struct workload *w)
{
	struct inv_edit e;
	struct workload nw;
	int rc = -1;

	memset(&nw, 0, sizeof nw);
	if (inv_begin(bh, &e))
		return -1;
	if (util_name_check("workload", w->name, bh->err, sizeof bh->err))
		goto done;
	if (find_workload(&e.inv, w->name)) {
		bh_error(bh, "workload \"%s\" already exists", w->name);
		goto done;
	}
	snprintf(nw.name, sizeof nw.name, "%s", w->name);
	if (!w->kind[0] || strcmp(w->kind, "vm") == 0) {
		snprintf(nw.kind, sizeof nw.kind, "vm");
	} else if (strcmp(w->kind, "container") == 0) {
		snprintf(nw.kind, sizeof nw.kind, "container");
	} else {
		bh_error(bh, "workload \"%s\": kind \"%s\": use vm or "
		         "container", w->name, w->kind);
		goto done;
	}
	if (!w->source[0] || strcmp(w->source, "static") == 0) {
		snprintf(nw.source, sizeof nw.source, "static");
	} else if (strcmp(w->source, "libvirt") == 0) {
		snprintf(nw.source, sizeof nw.source, "libvirt");
	} else {
		bh_error(bh, "workload \"%s\": source \"%s\": use static or "
		         "libvirt", w->name, w->source);
		goto done;
	}
	if (w->uuid[0]) {
		if (uuid_parse(bh, w->uuid, nw.uuid, sizeof nw.uuid))
			goto done;
		for (size_t i = 0; i < e.inv.n; i++)
			if (strcmp(e.inv.w[i].uuid, nw.uuid) == 0) {
				bh_error(bh, "uuid %s is already the uuid of "
				         "workload \"%s\"", nw.uuid,
				         e.inv.w[i].name);
				goto done;
			}
	}
	if (w->netns[0] && netns_check(bh, w->netns))
		goto done;
	if (policy_text_check(bh, "os", w->os) ||
	    policy_text_check(bh, "host", w->host) ||
	    policy_text_check(bh, "state", w->state))
		goto done;
	snprintf(nw.os, sizeof nw.os, "%s", w->os);
	snprintf(nw.host, sizeof nw.host, "%s", w->host);
	snprintf(nw.netns, sizeof nw.netns, "%s", w->netns);
	snprintf(nw.state, sizeof nw.state, "%s",
	         w->state[0] ? w->state : "unknown");
	rc = store_workload_insert(bh, &nw, NULL);
done:
	return inv_end(bh, &e, rc);
}

int policy_workload_delete(struct bh *bh, const char *name)
{
	struct inv_edit e;
	struct workload *w;
	int rc;

	if (inv_begin(bh, &e))
		return -1;
	w = find_workload(&e.inv, name);
	rc = w ? store_workload_delete(bh, w->id) : no_workload(bh, &e.inv,
	                                                        name);
	return inv_end(bh, &e, rc);
}

/* ---- NICs and addresses ----------------------------------------------------- */
/* A host address for a NIC, canonical, not bound anywhere yet. */
static int nic_address(struct bh *bh, const struct inventory *inv,
                       const char *text, char *canon, size_t len,
                       int *family)
{
	struct workload *w;
	struct nic *n;

	if (util_addr_parse(text, 0, canon, len, family, bh->err,
	                    sizeof bh->err))
		return -1;
	w = find_address(inv, canon, &n);
	if (w)
		return bh_error(bh, "address %s is already bound to workload "
		                "\"%s\" (interface %s)", canon, w->name,
		                n->ifname);
	return 0;
}

int policy_nic_add(struct bh *bh, const char *workload, const struct nic *nic)
{
	struct inv_edit e;
	struct workload *w;
	struct strv addrs = STRV_INIT;
	int fam[64] = { 0 };
	char mac[18] = "";
	int rc = -1;

	if (inv_begin(bh, &e))
		return -1;
	if (!(w = find_workload(&e.inv, workload))) {
		no_workload(bh, &e.inv, workload);
		goto done;
	}
	if (util_ifname_check(nic->ifname, bh->err, sizeof bh->err))
		goto done;
	if (policy_inventory_by_nic(&e.inv, nic->ifname, NULL)) {
		bh_error(bh, "interface \"%s\" already exists", nic->ifname);
		goto done;
	}
	if (nic->mac[0] && util_mac_parse(nic->mac, mac, sizeof mac, bh->err,
	                                  sizeof bh->err))
		goto done;
	for (size_t i = 0; i < nic->addrs.n; i++) {
		char canon[64];
		int f;

		if (nic_address(bh, &e.inv, nic->addrs.v[i], canon,
		                sizeof canon, &f))
			goto done;
		if (strv_contains(&addrs, canon))
			continue;
		if (addrs.n == sizeof fam / sizeof fam[0]) {
			bh_error(bh, "interface \"%s\": more than %zu addresses: "
			         "bind the rest with 'add address'",
			         nic->ifname, sizeof fam / sizeof fam[0]);
			goto done;
		}
		fam[addrs.n] = f;
		strv_push(&addrs, canon);
	}
	if (store_nic_insert(bh, w->id, nic->ifname, mac))
		goto done;
	for (size_t i = 0; i < addrs.n; i++)
		if (store_address_insert(bh, nic->ifname, addrs.v[i], fam[i],
		                         "static"))
			goto done;
	rc = 0;
done:
	strv_free(&addrs);
	return inv_end(bh, &e, rc);
}

int policy_nic_delete(struct bh *bh, const char *ifname)
{
	struct inv_edit e;
	int rc;

	if (inv_begin(bh, &e))
		return -1;
	if (policy_inventory_by_nic(&e.inv, ifname, NULL))
		rc = store_nic_delete(bh, ifname);
	else
		rc = no_nic(bh, &e.inv, ifname);
	return inv_end(bh, &e, rc);
}

int policy_address_add(struct bh *bh, const char *workload, const char *addr,
                       const char *nic)
{
	struct inv_edit e;
	struct workload *w, *owner;
	const char *ifname;
	char canon[64];
	int fam, rc = -1;

	if (inv_begin(bh, &e))
		return -1;
	if (!(w = find_workload(&e.inv, workload))) {
		no_workload(bh, &e.inv, workload);
		goto done;
	}
	if (nic && *nic) {
		owner = policy_inventory_by_nic(&e.inv, nic, NULL);
		if (!owner) {
			no_nic(bh, &e.inv, nic);
			goto done;
		}
		if (owner != w) {
			bh_error(bh, "interface \"%s\" belongs to workload "
			         "\"%s\", not \"%s\"", nic, owner->name,
			         w->name);
			goto done;
		}
		ifname = nic;
	} else if (w->nnics == 1) {
		ifname = w->nics[0].ifname;
	} else if (w->nnics == 0) {
		bh_error(bh, "workload \"%s\" has no interface: add one with "
		         "'add nic %s IFNAME'", w->name, w->name);
		goto done;
	} else {
		struct strbuf sb = STRBUF_INIT;

		for (size_t i = 0; i < w->nnics; i++)
			sb_addf(&sb, "%s%s", i ? ", " : "", w->nics[i].ifname);
		bh_error(bh, "workload \"%s\" has %zu interfaces (%s): name "
		         "one with 'nic IFNAME'", w->name, w->nnics,
		         sb_str(&sb));
		sb_free(&sb);
		goto done;
	}
	if (nic_address(bh, &e.inv, addr, canon, sizeof canon, &fam))
		goto done;
	rc = store_address_insert(bh, ifname, canon, fam, "static");
done:
	return inv_end(bh, &e, rc);
}

int policy_address_delete(struct bh *bh, const char *workload,
                          const char *addr)
{
	struct inv_edit e;
	struct workload *w, *owner;
	char canon[64];
	int rc = -1;

	if (inv_begin(bh, &e))
		return -1;
	if (!(w = find_workload(&e.inv, workload))) {
		no_workload(bh, &e.inv, workload);
		goto done;
	}
	if (util_addr_parse(addr, 0, canon, sizeof canon, NULL, bh->err,
	                    sizeof bh->err))
		goto done;
	owner = find_address(&e.inv, canon, NULL);
	if (owner != w) {
		struct strv mine = STRV_INIT;
		const char *s;

		for (size_t i = 0; i < w->nnics; i++)
			for (size_t k = 0; k < w->nics[i].addrs.n; k++)
				strv_push(&mine, w->nics[i].addrs.v[k]);
		s = util_suggest_strv(canon, &mine);
		if (owner)
			bh_error(bh, "address %s is bound to workload \"%s\", "
			         "not \"%s\"", canon, owner->name, w->name);
		else if (s)
			bh_error(bh, "address %s is not bound to workload "
			         "\"%s\" (did you mean %s?)", canon, w->name, s);
		else
			bh_error(bh, "address %s is not bound to workload "
			         "\"%s\"", canon, w->name);
		strv_free(&mine);
		goto done;
	}
	rc = store_address_delete(bh, canon);
done:
	return inv_end(bh, &e, rc);
}

/* ---- tags --------------------------------------------------------------- */
int policy_tag_add(struct bh *bh, const char *workload, const char *tag)
{
	struct inv_edit e;
	struct workload *w;
	int rc = -1;

	if (inv_begin(bh, &e))
		return -1;
	if (!(w = find_workload(&e.inv, workload)))
		no_workload(bh, &e.inv, workload);
	else if (util_tag_check(tag, bh->err, sizeof bh->err) == 0) {
		if (strv_contains(&w->tags, tag))
			bh_error(bh, "workload \"%s\" already has tag \"%s\"",
			         w->name, tag);
		else
			rc = store_tag_insert(bh, w->id, tag);
	}
	return inv_end(bh, &e, rc);
}

int policy_tag_delete(struct bh *bh, const char *workload, const char *tag)
{
	struct inv_edit e;
	struct workload *w;
	int rc = -1;

	if (inv_begin(bh, &e))
		return -1;
	if (!(w = find_workload(&e.inv, workload))) {
		no_workload(bh, &e.inv, workload);
	} else if (!strv_contains(&w->tags, tag)) {
		const char *s = util_suggest_strv(tag, &w->tags);

		if (s)
			bh_error(bh, "workload \"%s\" has no tag \"%s\" (did "
			         "you mean \"%s\"?)", w->name, tag, s);
		else
			bh_error(bh, "workload \"%s\" has no tag \"%s\"",
			         w->name, tag);
	} else {
		rc = store_tag_delete(bh, w->id, tag);
	}
	return inv_end(bh, &e, rc);
}

/* ---- views ----------------------------------------------------------------- */
/* Fill each workload's groups: the running-config groups it is in. */
static int fill_groups(struct bh *bh, struct inventory *inv)
{
	struct config cfg;

	if (policy_config_load(bh, CONFIG_RUNNING, &cfg))
		return -1;
	policy_membership(&cfg, inv);
	for (size_t gi = 0; gi < cfg.ngroups; gi++) {
		const struct group *g = &cfg.groups[gi];

		/* Groups come in name order, so each list ends up sorted. */
		for (size_t i = 0; i < g->eff_workloads.n; i++) {
			struct workload *w = find_workload(inv,
			                                   g->eff_workloads.v[i]);

			if (w)
				strv_push(&w->groups, g->name);
		}
	}
	policy_config_free(&cfg);
	return 0;
}

int policy_workload_list(struct bh *bh, struct inventory *out)
{
	if (store_inventory_load(bh, out))
		return -1;
	if (fill_groups(bh, out)) {
		policy_inventory_free(out);
		return -1;
	}
	return 0;
}

int policy_workload_get(struct bh *bh, const char *name, struct workload *out)
{
	struct inventory inv;
	struct workload *w;

	memset(out, 0, sizeof *out);
	if (policy_workload_list(bh, &inv))
		return -1;
	w = find_workload(&inv, name);
	if (!w) {
		no_workload(bh, &inv, name);
		policy_inventory_free(&inv);
		return -1;
	}
	/* Move it out; the emptied slot frees as nothing. */
	*out = *w;
	memset(w, 0, sizeof *w);
	policy_inventory_free(&inv);
	return 0;
}

/* ---- discovery: put and prune ------------------------------------------- */
/*
 * What a source discovers is written here in one transaction over one
 * loaded inventory: the edits above each load the whole inventory and let
 * the enforcer follow, which is right for a command but costs an event
 * O(inventory) per change.  The inventory loaded at the start is patched
 * in memory as the rows are written and handed to the enforcer as it is
 * then, so an event costs one load and one enforcer call.
 */
static void note_add(struct strbuf *what, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void note_add(struct strbuf *what, const char *fmt, ...)
{
	va_list ap;

	if (!what)
		return;
	if (what->len)
		sb_add(what, "; ");
	va_start(ap, fmt);
	sb_vaddf(what, fmt, ap);
	va_end(ap);
}


static int cmp_workload(const void *a, const void *b)
{
	return strcmp(((const struct workload *)a)->name,
	              ((const struct workload *)b)->name);
}

/* Drop NIC @ifname from @w in memory. */
static void nic_drop(struct workload *w, const char *ifname)
{
	for (size_t k = 0; k < w->nnics; k++)
		if (strcmp(w->nics[k].ifname, ifname) == 0) {
			strv_free(&w->nics[k].addrs);
			memmove(&w->nics[k], &w->nics[k + 1],
			        (w->nnics - k - 1) * sizeof *w->nics);
			w->nnics--;
			return;
		}
}

/* Drop workload @w (an element of @inv) in memory. */
static void workload_drop(struct inventory *inv, struct workload *w)
{
	size_t i = (size_t)(w - inv->w);

	policy_workload_free(w);
	memmove(&inv->w[i], &inv->w[i + 1], (inv->n - i - 1) * sizeof *inv->w);
	inv->n--;
}

/* Commit a discovery edit when @rc is 0 and, when it @changed anything,
 * the enforcer took the patched inventory. */
static int disc_end(struct bh *bh, struct inv_edit *e, int rc, int changed)
{
	if (rc == 0 && changed && policy_quarantine_tags(bh, &e->inv) < 0)
		rc = -1;
	if (rc == 0 && changed && bh->inventory_changed) {
		char saved[BH_ERR_MAX];

		snprintf(saved, sizeof saved, "%s", bh->err);
		bh->err[0] = '\0';
		if (bh->inventory_changed(bh, &e->inv)) {
			if (!bh->err[0])
				bh_error(bh, "the inventory change could not "
				         "be applied; nothing was changed");
			rc = -1;
		} else {
			snprintf(bh->err, sizeof bh->err, "%s", saved);
		}
	}
	if (rc == 0)
		inv_keep(bh, e, &e->inv);
	policy_inventory_free(&e->inv);
	return inv_close(bh, e, rc);
}

/* @w checked whole, before the store is touched; @nw gets it canonical
 * (uuid lowercase, MACs canonical, tags sorted, no addresses yet). */
static int put_check(struct bh *bh, const struct workload *w,
                     struct workload *nw)
{
	memset(nw, 0, sizeof *nw);
	if (!w->source[0] || strcmp(w->source, "static") == 0 ||
	    strcmp(w->source, "libvirt") != 0)
		return bh_error(bh, "workload \"%s\": source \"%s\": only "
		                "discovered workloads (libvirt) are put",
		                w->name, w->source);
	if (util_name_check("workload", w->name, bh->err, sizeof bh->err))
		return -1;
	if (!w->uuid[0])
		return bh_error(bh, "workload \"%s\": a discovered workload "
		                "needs its uuid", w->name);
	if (uuid_parse(bh, w->uuid, nw->uuid, sizeof nw->uuid))
		return -1;
	if (!w->kind[0] || strcmp(w->kind, "vm") == 0)
		snprintf(nw->kind, sizeof nw->kind, "vm");
	else if (strcmp(w->kind, "container") == 0)
		snprintf(nw->kind, sizeof nw->kind, "container");
	else
		return bh_error(bh, "workload \"%s\": kind \"%s\": use vm or "
		                "container", w->name, w->kind);
	if (policy_text_check(bh, "os", w->os) ||
	    policy_text_check(bh, "host", w->host) ||
	    policy_text_check(bh, "state", w->state))
		return -1;
	snprintf(nw->name, sizeof nw->name, "%s", w->name);
	snprintf(nw->source, sizeof nw->source, "%s", w->source);
	snprintf(nw->os, sizeof nw->os, "%s", w->os);
	snprintf(nw->host, sizeof nw->host, "%s", w->host);
	snprintf(nw->state, sizeof nw->state, "%s",
	         w->state[0] ? w->state : "unknown");
	for (size_t i = 0; i < w->tags.n; i++)
		if (util_tag_check(w->tags.v[i], bh->err, sizeof bh->err))
			return -1;
	strv_copy(&nw->tags, &w->tags);
	strv_uniq(&nw->tags);
	nw->nics = xcalloc(w->nnics + 1, sizeof *nw->nics);
	for (size_t i = 0; i < w->nnics; i++) {
		const struct nic *n = &w->nics[i];
		struct nic *c = &nw->nics[nw->nnics];

		if (util_ifname_check(n->ifname, bh->err, sizeof bh->err))
			return -1;
		if (policy_workload_nic(nw, n->ifname))
			return bh_error(bh, "workload \"%s\": interface \"%s\" "
			                "given twice", w->name, n->ifname);
		if (n->mac[0] && util_mac_parse(n->mac, c->mac, sizeof c->mac,
		                                bh->err, sizeof bh->err))
			return -1;
		snprintf(c->ifname, sizeof c->ifname, "%s", n->ifname);
		nw->nnics++;
	}
	return 0;
}

/* 1 when @cur already is @nw (NICs by name and MAC, tags). */
static int put_same(const struct workload *cur, const struct workload *nw)
{
	if (strcmp(cur->name, nw->name) || strcmp(cur->kind, nw->kind) ||
	    strcmp(cur->os, nw->os) || strcmp(cur->host, nw->host) ||
	    strcmp(cur->state, nw->state) || cur->nnics != nw->nnics ||
	    cur->tags.n != nw->tags.n)
		return 0;
	for (size_t i = 0; i < nw->nnics; i++) {
		const struct nic *c = policy_workload_nic(cur, nw->nics[i].ifname);

		if (!c || strcmp(c->mac, nw->nics[i].mac))
			return 0;
	}
	for (size_t i = 0; i < nw->tags.n; i++)
		if (!strv_contains(&cur->tags, nw->tags.v[i]))
			return 0;
	return 1;
}

int policy_workload_put(struct bh *bh, const struct workload *w,
                        struct strbuf *what, struct strbuf *left)
{
	struct inv_edit e;
	struct workload nw, *cur, *other;
	const char *src = w->source;
	int rc = -1, changed = 0;

	if (put_check(bh, w, &nw)) {
		policy_workload_free(&nw);
		return -1;
	}
	if (inv_begin(bh, &e)) {
		policy_workload_free(&nw);
		return -1;
	}
	cur = policy_inventory_by_uuid(&e.inv, nw.uuid);
	if (cur && strcmp(cur->source, src)) {
		bh_error(bh, "%s domain \"%s\": workload \"%s\", added by hand, "
		         "has its uuid %s: delete that workload", src, nw.name,
		         cur->name, nw.uuid);
		goto done;
	}
	other = find_workload(&e.inv, nw.name);
	if (other == cur)
		other = NULL;
	if (other && strcmp(other->source, src)) {
		bh_error(bh, "%s domain \"%s\": a workload of that name was "
		         "added by hand: delete it, or rename the domain with "
		         "'virsh domrename'", src, nw.name);
		goto done;
	}
	/* Interfaces held elsewhere: a stale one of the same source is taken
	 * (the kernel has one device of a name, and taps are reused); one
	 * added by hand is left out. */
	for (size_t i = 0; i < nw.nnics;) {
		struct nic *n = &nw.nics[i];
		struct workload *o = policy_inventory_by_nic(&e.inv, n->ifname, NULL);

		if (!o || o == cur || o == other) {
			i++;
			continue;
		}
		if (strcmp(o->source, src) == 0) {
			note_add(what, "interface %s taken from \"%s\"",
			         n->ifname, o->name);
			if (store_nic_delete(bh, n->ifname))
				goto done;
			nic_drop(o, n->ifname);
			changed = 1;
			i++;
			continue;
		}
		if (left)
			sb_addf(left, "%sinterface %s of %s domain \"%s\" is "
			        "also interface of workload \"%s\", added by "
			        "hand: it was left out; delete it there with "
			        "'delete nic %s'", left->len ? "; " : "",
			        n->ifname, src, nw.name, o->name, n->ifname);
		note_add(what, "interface %s left out (held by \"%s\")",
		         n->ifname, o->name);
		memmove(n, n + 1, (nw.nnics - i - 1) * sizeof *n);
		nw.nnics--;
	}
	if (!changed && !other && cur && put_same(cur, &nw)) {
		rc = 0;
		goto done;
	}
	changed = 1;
	if (other) {
		note_add(what, "replaces workload \"%s\" of uuid %s",
		         other->name, other->uuid[0] ? other->uuid : "-");
		if (store_workload_delete(bh, other->id))
			goto done;
	}
	if (!cur) {
		if (store_workload_insert(bh, &nw, &nw.id))
			goto done;
		note_add(what, "added: %s%s%s", nw.state,
		         nw.os[0] ? ", os " : "", nw.os);
	} else {
		nw.id = cur->id;
		snprintf(nw.netns, sizeof nw.netns, "%s", cur->netns);
		if ((strcmp(cur->name, nw.name) || strcmp(cur->kind, nw.kind) ||
		     strcmp(cur->os, nw.os) || strcmp(cur->host, nw.host) ||
		     strcmp(cur->state, nw.state)) &&
		    store_workload_update(bh, &nw))
			goto done;
		if (strcmp(cur->name, nw.name))
			note_add(what, "renamed from \"%s\"", cur->name);
		if (strcmp(cur->state, nw.state))
			note_add(what, "state %s", nw.state);
		if (strcmp(cur->os, nw.os))
			note_add(what, "os %s", nw.os[0] ? nw.os : "none");
		if (strcmp(cur->host, nw.host))
			note_add(what, "host %s", nw.host[0] ? nw.host : "none");
		for (size_t i = 0; i < cur->nnics; i++)
			if (!policy_workload_nic(&nw, cur->nics[i].ifname)) {
				note_add(what, "interface %s removed",
				         cur->nics[i].ifname);
				if (store_nic_delete(bh, cur->nics[i].ifname))
					goto done;
			}
	}
	for (size_t i = 0; i < nw.nnics; i++) {
		struct nic *n = &nw.nics[i];
		const struct nic *c = policy_workload_nic(cur, n->ifname);

		if (c) {
			/* stays: keeps its bound addresses */
			strv_copy(&n->addrs, &c->addrs);
			if (strcmp(c->mac, n->mac) == 0)
				continue;
			if (store_nic_mac_set(bh, n->ifname, n->mac))
				goto done;
		} else if (store_nic_insert(bh, nw.id, n->ifname, n->mac)) {
			goto done;
		}
		note_add(what, "interface %s%s%s", n->ifname,
		         n->mac[0] ? " mac " : "", n->mac);
	}
	for (size_t i = 0; cur && i < cur->tags.n; i++)
		if (!strv_contains(&nw.tags, cur->tags.v[i])) {
			note_add(what, "tag %s removed", cur->tags.v[i]);
			if (store_tag_delete(bh, nw.id, cur->tags.v[i]))
				goto done;
		}
	for (size_t i = 0; i < nw.tags.n; i++)
		if (!cur || !strv_contains(&cur->tags, nw.tags.v[i])) {
			note_add(what, "tag %s", nw.tags.v[i]);
			if (store_tag_insert(bh, nw.id, nw.tags.v[i]))
				goto done;
		}
	/* The addressing mode is the store's, not the provider's. */
	if (cur) {
		nw.addressing = cur->addressing;
		nw.addressing_own = cur->addressing_own;
	} else if (store_addressing_default(bh, &nw.addressing)) {
		goto done;
	}
	/* The loaded inventory becomes the new one: cur replaced, other
	 * dropped, nw appended when new (in this order: the pointers into
	 * the array hold until it moves), names in order again. */
	if (cur) {
		policy_workload_free(cur);
		*cur = nw;
	}
	if (other)
		workload_drop(&e.inv, other);
	if (!cur) {
		e.inv.w = xrealloc(e.inv.w, (e.inv.n + 1) * sizeof *e.inv.w);
		e.inv.w[e.inv.n++] = nw;
	}
	memset(&nw, 0, sizeof nw);
	qsort(e.inv.w, e.inv.n, sizeof *e.inv.w, cmp_workload);
	rc = 0;
done:
	policy_workload_free(&nw);
	if (disc_end(bh, &e, rc, changed))
		return -1;
	return changed;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int policy_workload_prune(struct bh *bh, const char *source,
                          const struct strv *keep, struct strv *removed)
{
	struct inv_edit e;
	struct strv k = STRV_INIT;
	size_t out = 0;
	int rc = 0, n = 0;

	for (size_t i = 0; keep && i < keep->n; i++) {
		char u[40];

		snprintf(u, sizeof u, "%s", keep->v[i]);
		for (char *c = u; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		strv_push(&k, u);
	}
	strv_sort(&k);
	if (inv_begin(bh, &e)) {
		strv_free(&k);
		return -1;
	}
	for (size_t i = 0; i < e.inv.n; i++) {
		struct workload *w = &e.inv.w[i];
		const char *u = w->uuid;

		if (rc == 0 && strcmp(w->source, source) == 0 &&
		    (!u[0] || !k.n || !bsearch(&u, k.v, k.n, sizeof *k.v,
		                               cmp_str))) {
			if (store_workload_delete(bh, w->id)) {
				rc = -1;
			} else {
				if (removed)
					strv_push(removed, w->name);
				policy_workload_free(w);
				n++;
				continue;
			}
		}
		if (out != i)
			e.inv.w[out] = *w;
		out++;
	}
	e.inv.n = out;
	strv_free(&k);
	if (disc_end(bh, &e, rc, n > 0))
		return -1;
	return n;
}
