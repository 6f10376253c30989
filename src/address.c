/*
 * address.c - address sources in the policy layer (address.h): the
 * addressing mode of workloads, bindings found by libvirt or learned from a
 * NIC's own traffic, pin and clear.
 *
 * Like every inventory edit, each function here loads the inventory inside
 * its transaction, checks, writes, lets the enforcer follow through
 * bh->inventory_changed (a NIC that starts or stops learning, a bound
 * address: set elements), and commits only when the kernel took it.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"
#include "bulkhead.h"
#include "policy.h"
#include "policy_internal.h"
#include "store.h"
#include "util.h"

int policy_addressing_parse(const char *text)
{
	struct strv parts = STRV_INIT;
	int bits = 0;

	if (!text)
		return -1;
	if (strcmp(text, "static") == 0)
		return 0;
	strv_split_commas(&parts, text);
	for (size_t i = 0; i < parts.n && bits >= 0; i++) {
		if (strcmp(parts.v[i], "libvirt") == 0)
			bits |= ADDRESSING_LIBVIRT;
		else if (strcmp(parts.v[i], "learn") == 0)
			bits |= ADDRESSING_LEARN;
		else
			bits = -1;
	}
	if (!parts.n)
		bits = -1;
	strv_free(&parts);
	return bits;
}

const char *policy_addressing_name(unsigned bits)
{
	switch (bits & (ADDRESSING_LIBVIRT | ADDRESSING_LEARN)) {
	case ADDRESSING_LIBVIRT:
		return "libvirt";
	case ADDRESSING_LEARN:
		return "learn";
	case ADDRESSING_LIBVIRT | ADDRESSING_LEARN:
		return "libvirt,learn";
	}
	return "static";
}

/* ---- classifying addresses -------------------------------------------- */
enum { KIND_V4, KIND_V6, KIND_LL };  /* IPv6 outside / inside fe80::/10 */

static int addr_kind(const char *canon)
{
	struct in6_addr a;

	if (!strchr(canon, ':'))
		return KIND_V4;
	if (inet_pton(AF_INET6, canon, &a) == 1 && a.s6_addr[0] == 0xfe &&
	    (a.s6_addr[1] & 0xc0) == 0x80)
		return KIND_LL;
	return KIND_V6;
}

/* The modified EUI-64 link-local of @mac ("" when it has none): the spoof
 * guard lets it through already. */
static void mac_ll(const char *mac, char *buf, size_t len)
{
	unsigned m[6];
	struct in6_addr a;

	buf[0] = '\0';
	if (sscanf(mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3],
	           &m[4], &m[5]) != 6)
		return;
	memset(&a, 0, sizeof a);
	a.s6_addr[0] = 0xfe;
	a.s6_addr[1] = 0x80;
	a.s6_addr[8] = (unsigned char)(m[0] ^ 0x02);
	a.s6_addr[9] = (unsigned char)m[1];
	a.s6_addr[10] = (unsigned char)m[2];
	a.s6_addr[11] = 0xff;
	a.s6_addr[12] = 0xfe;
	a.s6_addr[13] = (unsigned char)m[3];
	a.s6_addr[14] = (unsigned char)m[4];
	a.s6_addr[15] = (unsigned char)m[5];
	inet_ntop(AF_INET6, &a, buf, (socklen_t)len);
}

/* 1 when @n has an address of @kind bound. */
static int nic_has(const struct nic *n, int kind)
{
	for (size_t i = 0; i < n->addrs.n; i++)
		if (addr_kind(n->addrs.v[i]) == kind)
			return 1;
	return 0;
}

int policy_nic_learning(const struct workload *w, const struct nic *n,
                        int family)
{
	if (!(w->addressing & ADDRESSING_LEARN))
		return 0;
	return !nic_has(n, family == 4 ? KIND_V4 : KIND_V6);
}

/* ---- the edit pattern (as inventory_edit.c's) --------------------------- */
struct edit {
	struct store_tx tx;
	struct inventory inv;
};

static int begin(struct bh *bh, struct edit *e)
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

/* Commit when @rc is 0 and, when @changed, the enforcer took the
 * inventory as the store now has it. */
static int end(struct bh *bh, struct edit *e, int rc, int changed)
{
	policy_inventory_free(&e->inv);
	if (rc == 0 && changed && bh->inventory_changed) {
		struct inventory now;

		if (store_inventory_load(bh, &now)) {
			rc = -1;
		} else {
			bh->err[0] = '\0';
			if (bh->inventory_changed(bh, &now)) {
				if (!bh->err[0])
					bh_error(bh, "the address change could "
					         "not be applied; nothing was "
					         "changed");
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

static struct workload *workload_find(struct bh *bh,
                                      const struct inventory *inv,
                                      const char *name)
{
	struct workload *w = policy_inventory_by_name(inv, name);
	struct strv names = STRV_INIT;

	if (w)
		return w;
	for (size_t i = 0; i < inv->n; i++)
		strv_push(&names, inv->w[i].name);
	policy_not_found(bh, "workload", name, &names);
	strv_free(&names);
	return NULL;
}

/* ---- the mode ------------------------------------------------------------ */
int policy_addressing_default(struct bh *bh, unsigned *bits)
{
	return store_addressing_default(bh, bits);
}

int policy_addressing_set(struct bh *bh, const char *workload,
                          const char *mode)
{
	struct edit e;
	struct workload *w = NULL;
	int bits, rc = -1;

	if (workload && mode && strcmp(mode, "default") == 0) {
		bits = -2;
	} else if ((bits = policy_addressing_parse(mode)) < 0) {
		return bh_error(bh, "addressing \"%s\": use static, libvirt, "
		                "learn or libvirt,learn%s", mode ? mode : "",
		                workload ? ", or default to follow the "
		                "default" : "");
	}
	if (begin(bh, &e))
		return -1;
	if (workload && !(w = workload_find(bh, &e.inv, workload)))
		goto done;
	if (!w)
		rc = store_addressing_default_set(bh,
		                                  policy_addressing_name((unsigned)bits));
	else
		rc = store_addressing_set(bh, w->id, bits == -2 ? "" :
		                          policy_addressing_name((unsigned)bits));
done:
	return end(bh, &e, rc, rc == 0);
}

/* ---- listing -------------------------------------------------------------- */
int policy_address_list(struct bh *bh, const char *workload,
                        struct bound_addr **out, size_t *n)
{
	struct inventory inv;
	int64_t id = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (workload) {
		struct workload *w;

		if (store_inventory_load(bh, &inv))
			return -1;
		w = workload_find(bh, &inv, workload);
		id = w ? w->id : -1;
		policy_inventory_free(&inv);
		if (!w)
			return -1;
	}
	rc = store_address_list(bh, id, out, n);
	return rc;
}

/* ---- binding what was found --------------------------------------------- */
static void why_set(struct strbuf *why, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void why_set(struct strbuf *why, const char *fmt, ...)
{
	va_list ap;

	if (!why)
		return;
	sb_reset(why);
	va_start(ap, fmt);
	sb_vaddf(why, fmt, ap);
	va_end(ap);
}

int policy_address_bind(struct bh *bh, const char *ifname, const char *addr,
                        const char *origin, struct strbuf *why,
                        char *workload_out)
{
	struct edit e;
	struct workload *w, *owner = NULL;
	struct nic *n = NULL, *on = NULL;
	char canon[64], ll[64];
	int fam, kind, want, rc = 0, bound = 0;

	if (strcmp(origin, "libvirt") == 0)
		want = ADDRESSING_LIBVIRT;
	else if (strcmp(origin, "learned") == 0)
		want = ADDRESSING_LEARN;
	else
		return bh_error(bh, "address origin \"%s\": only libvirt or "
		                "learned bindings are made here", origin);
	if (util_addr_parse(addr, 0, canon, sizeof canon, &fam, bh->err,
	                    sizeof bh->err))
		return -1;
	kind = addr_kind(canon);
	if ((fam == 4 && (strncmp(canon, "0.", 2) == 0 ||
	                  strcmp(canon, "255.255.255.255") == 0)) ||
	    (fam == 6 && strcmp(canon, "::") == 0)) {
		why_set(why, "address %s cannot be a NIC's own", canon);
		return 0;
	}
	if (begin(bh, &e))
		return -1;
	if (!(w = policy_inventory_by_nic(&e.inv, ifname, &n))) {
		why_set(why, "interface %s is not managed", ifname);
		goto done;
	}
	if (workload_out)
		snprintf(workload_out, BH_NAME_MAX + 1, "%s", w->name);
	if (!(w->addressing & (unsigned)want)) {
		why_set(why, "workload \"%s\" takes no %s addresses "
		        "(addressing %s)", w->name, origin,
		        policy_addressing_name(w->addressing));
		goto done;
	}
	if (strv_contains(&n->addrs, canon)) {
		why_set(why, "address %s is bound to interface %s already",
		        canon, ifname);
		goto done;
	}
	for (size_t i = 0; i < e.inv.n; i++)
		for (size_t k = 0; k < e.inv.w[i].nnics; k++)
			if (strv_contains(&e.inv.w[i].nics[k].addrs, canon)) {
				owner = &e.inv.w[i];
				on = &e.inv.w[i].nics[k];
			}
	if (on) {
		why_set(why, "address %s is bound to workload \"%s\" "
		        "(interface %s): not bound to %s", canon, owner->name,
		        on->ifname, ifname);
		goto done;
	}
	if (kind == KIND_LL) {
		mac_ll(n->mac, ll, sizeof ll);
		if (strcmp(ll, canon) == 0) {
			why_set(why, "address %s is the link-local of the "
			        "NIC's MAC: always allowed", canon);
			goto done;
		}
		/* One link-local, taken while the NIC still has no IPv6. */
		if (nic_has(n, KIND_LL) || nic_has(n, KIND_V6)) {
			why_set(why, "interface %s has an IPv6 address "
			        "already", ifname);
			goto done;
		}
	} else if (nic_has(n, kind)) {
		why_set(why, "interface %s has an %s address already",
		        ifname, kind == KIND_V4 ? "IPv4" : "IPv6");
		goto done;
	}
	rc = store_address_bind(bh, ifname, canon, fam, origin,
	                        util_now_ms());
	bound = rc == 0;
	if (bound)
		why_set(why, "address %s bound to interface %s of workload "
		        "\"%s\" (%s)", canon, ifname, w->name, origin);
done:
	if (end(bh, &e, rc, bound))
		return -1;
	return bound;
}

/* ---- pin and clear ---------------------------------------------------- */
int policy_address_pin(struct bh *bh, const char *workload, const char *addr)
{
	struct edit e;
	struct workload *w;
	struct bound_addr *b = NULL;
	size_t nb = 0;
	char canon[64];
	int rc = -1;

	if (util_addr_parse(addr, 0, canon, sizeof canon, NULL, bh->err,
	                    sizeof bh->err))
		return -1;
	if (begin(bh, &e))
		return -1;
	if (!(w = workload_find(bh, &e.inv, workload)))
		goto done;
	if (store_address_list(bh, w->id, &b, &nb))
		goto done;
	for (size_t i = 0; i < nb; i++) {
		if (strcmp(b[i].addr, canon))
			continue;
		if (strcmp(b[i].origin, "static") == 0)
			bh_error(bh, "address %s of workload \"%s\" is static: "
			         "it is always kept, there is nothing to pin",
			         canon, w->name);
		else
			rc = store_address_pin(bh, canon);
		goto done;
	}
	{
		struct strv mine = STRV_INIT;
		const char *s;

		for (size_t i = 0; i < nb; i++)
			strv_push(&mine, b[i].addr);
		s = util_suggest_strv(canon, &mine);
		bh_error(bh, "address %s is not bound to workload \"%s\"%s%s%s",
		         canon, w->name, s ? " (did you mean " : "",
		         s ? s : "", s ? "?)" : "");
		strv_free(&mine);
	}
done:
	free(b);
	/* A pin changes nothing the kernel sees. */
	return end(bh, &e, rc, 0);
}

int policy_address_clear(struct bh *bh, const char *workload,
                         size_t *cleared)
{
	struct edit e;
	struct workload *w = NULL;
	size_t n = 0;
	int rc = -1;

	if (cleared)
		*cleared = 0;
	if (begin(bh, &e))
		return -1;
	if (workload && !(w = workload_find(bh, &e.inv, workload)))
		goto done;
	rc = store_address_clear(bh, w ? w->id : 0, &n);
done:
	if (end(bh, &e, rc, rc == 0 && n > 0))
		return -1;
	if (cleared)
		*cleared = n;
	return 0;
}

/* ---- show config ------------------------------------------------------- */
int policy_address_found_drop(struct bh *bh, struct inventory *inv)
{
	struct bound_addr *b;
	size_t nb;

	if (store_address_list(bh, 0, &b, &nb))
		return -1;
	for (size_t i = 0; i < nb; i++) {
		struct workload *w;
		struct nic *n = NULL;
		struct strv keep = STRV_INIT;

		if (strcmp(b[i].origin, "static") == 0 || b[i].pinned)
			continue;
		w = policy_inventory_by_nic(inv, b[i].ifname, &n);
		if (!w)
			continue;
		for (size_t k = 0; k < n->addrs.n; k++)
			if (strcmp(n->addrs.v[k], b[i].addr))
				strv_push(&keep, n->addrs.v[k]);
		strv_free(&n->addrs);
		n->addrs = keep;
	}
	free(b);
	return 0;
}

int policy_addressing_text(struct bh *bh, const struct inventory *inv,
                           struct strbuf *out)
{
	unsigned def;

	if (store_addressing_default(bh, &def))
		return -1;
	if (def)
		sb_addf(out, "set addressing %s\n", policy_addressing_name(def));
	for (size_t i = 0; i < inv->n; i++) {
		/* discovered workloads are not replayed (config.c) */
		if (!inv->w[i].addressing_own ||
		    strcmp(inv->w[i].source, "static"))
			continue;
		sb_addf(out, "set addressing %s workload ",
		        policy_addressing_name(inv->w[i].addressing));
		sb_add_word(out, inv->w[i].name);
		sb_addc(out, '\n');
	}
	return 0;
}
