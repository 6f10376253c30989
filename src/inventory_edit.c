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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead.h"
#include "policy.h"
#include "policy_internal.h"
#include "store.h"
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

/* The NIC named @ifname and its workload; NULL when none. */
static struct workload *find_nic(const struct inventory *inv,
                                 const char *ifname, struct nic **nic)
{
	for (size_t i = 0; i < inv->n; i++)
		for (size_t k = 0; k < inv->w[i].nnics; k++)
			if (strcmp(inv->w[i].nics[k].ifname, ifname) == 0) {
				if (nic)
					*nic = &inv->w[i].nics[k];
				return &inv->w[i];
			}
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

static int inv_begin(struct bh *bh, struct inv_edit *e)
{
	memset(e, 0, sizeof *e);
	if (store_tx_begin(bh, &e->tx))
		return -1;
	if (store_inventory_load(bh, &e->inv)) {
		store_tx_rollback(bh, &e->tx);
		return -1;
	}
	return 0;
}

/* Commit when @rc is 0 and the enforcer took the new inventory. */
static int inv_end(struct bh *bh, struct inv_edit *e, int rc)
{
	policy_inventory_free(&e->inv);
	if (rc == 0 && bh->inventory_changed) {
		struct inventory now;

		if (store_inventory_load(bh, &now)) {
			rc = -1;
		} else {
			bh->err[0] = '\0';
			if (bh->inventory_changed(bh, &now)) {
				if (!bh->err[0])
					bh_error(bh, "the inventory change "
					         "could not be applied; nothing "
					         "was changed");
				rc = -1;
			}
			policy_inventory_free(&now);
		}
	}
	if (rc == 0)
		return store_tx_commit(bh, &e->tx);
	store_tx_rollback(bh, &e->tx);
	return -1;
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
	if (find_nic(&e.inv, nic->ifname, NULL)) {
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
	if (find_nic(&e.inv, ifname, NULL))
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
		owner = find_nic(&e.inv, nic, NULL);
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
