/*
 * idem.c - idempotent adds (policy layer), for configuration management:
 * with --idempotent, an `add` of what already exists with the same content
 * is not an error but "exists unchanged"; what exists with other content
 * is still an error, naming the first difference and the `set` or
 * `delete` that changes it.
 *
 * "The same content" is what the command says: the clauses it gives are
 * compared, the ones it leaves out are not (`add workload web1` matches a
 * web1 with an os; `add nic web1 vnet0 address 10.0.0.5` matches a vnet0
 * of web1 that has 10.0.0.5 among its addresses, learned ones besides).
 * Group members and addresses, and a service's entries, are compared as
 * sets.  A rule has no name, so only `add rule ... id N` can be found
 * again: rule N with the same section, action, sources, destinations,
 * services, applied-to, log, enabled and comment (and position, when
 * given).  Without `id`, `add rule` always adds: configuration management
 * should give ids, as `show config` does.
 *
 * Each check reads what it compares (the inventory, or the acting user's
 * candidate) once: O(objects) per command, so a batch of n idempotent
 * adds costs O(n x objects).
 *
 * Every function returns 1 when the object exists the same (a message
 * for the user in @what), 0 when it does not exist (the add goes on and
 * reports its own errors), -1 when it exists otherwise (bh->err).
 *
 * Deletes (idem_absent) are the other half, configuration management's
 * "absent": deleting what is not there is "nothing to delete".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead.h"
#include "policy.h"
#include "safeops.h"
#include "util.h"

/* 1 when @a and @b hold the same strings, in any order. */
static int same_set(const struct strv *a, const struct strv *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (!strv_contains(b, a->v[i]))
			return 0;
	for (size_t i = 0; i < b->n; i++)
		if (!strv_contains(a, b->v[i]))
			return 0;
	return 1;
}

static void joined(const struct strv *v, const char *none, char *buf,
                   size_t len)
{
	struct strbuf sb = STRBUF_INIT;

	strv_join(&sb, v, ",");
	snprintf(buf, len, "%s", v->n ? sb_str(&sb) : none);
	sb_free(&sb);
}

/* Compare one text field: -1 with the difference in bh->err. */
static int field(struct bh *bh, const char *obj, const char *name,
                 const char *what, const char *given, const char *have,
                 const char *fix)
{
	if (!given || strcmp(given, have) == 0)
		return 0;
	return bh_error(bh, "%s \"%s\" exists with %s \"%s\", not \"%s\": %s",
	                obj, name, what, have, given, fix);
}

int idem_workload(struct bh *bh, const struct workload *w, const char *kind,
                  struct strbuf *what)
{
	struct inventory inv;
	const struct workload *have;
	const char *fix = "delete it first, or leave that clause out";
	int rc = 1;

	if (policy_inventory_load(bh, &inv))
		return -1;
	have = policy_inventory_by_name(&inv, w->name);
	if (!have) {
		rc = 0;
	} else if (strcmp(have->source, "static") != 0) {
		rc = bh_error(bh, "workload \"%s\" exists, discovered from %s: "
		              "it is not added by hand", w->name, have->source);
	} else if (field(bh, "workload", w->name, "kind", kind, have->kind,
	                 fix) ||
	           field(bh, "workload", w->name, "os", *w->os ? w->os : NULL,
	                 have->os, fix) ||
	           field(bh, "workload", w->name, "netns",
	                 *w->netns ? w->netns : NULL, have->netns, fix) ||
	           field(bh, "workload", w->name, "host",
	                 *w->host ? w->host : NULL, have->host, fix) ||
	           field(bh, "workload", w->name, "uuid",
	                 *w->uuid ? w->uuid : NULL, have->uuid, fix)) {
		rc = -1;
	} else {
		sb_addf(what, "workload \"%s\" exists unchanged", w->name);
	}
	policy_inventory_free(&inv);
	return rc;
}

int idem_nic(struct bh *bh, const char *wl, const struct nic *nic,
             struct strbuf *what)
{
	struct inventory inv;
	struct nic *have = NULL;
	const struct workload *owner;
	int rc = 1;

	if (policy_inventory_load(bh, &inv))
		return -1;
	owner = policy_inventory_by_nic(&inv, nic->ifname, &have);
	if (!owner) {
		rc = 0;
		goto done;
	}
	if (strcmp(owner->name, wl) != 0) {
		rc = bh_error(bh, "interface \"%s\" exists on workload \"%s\", "
		              "not \"%s\": 'delete nic %s' first", nic->ifname,
		              owner->name, wl, nic->ifname);
		goto done;
	}
	if (*nic->mac && strcmp(nic->mac, have->mac) != 0) {
		rc = bh_error(bh, "interface \"%s\" exists with mac %s, not %s: "
		              "'delete nic %s' and add it again", nic->ifname,
		              *have->mac ? have->mac : "(none)", nic->mac,
		              nic->ifname);
		goto done;
	}
	for (size_t i = 0; i < nic->addrs.n; i++)
		if (!strv_contains(&have->addrs, nic->addrs.v[i])) {
			rc = bh_error(bh, "interface \"%s\" exists without "
			              "address %s: 'add address %s %s nic %s'",
			              nic->ifname, nic->addrs.v[i], wl,
			              nic->addrs.v[i], nic->ifname);
			goto done;
		}
	sb_addf(what, "interface \"%s\" of workload \"%s\" exists unchanged",
	        nic->ifname, wl);
done:
	policy_inventory_free(&inv);
	return rc;
}

int idem_address(struct bh *bh, const char *wl, const char *addr,
                 const char *ifname, struct strbuf *what)
{
	struct inventory inv;
	char canon[64], err[256];
	int fam, rc = 0;

	if (util_addr_parse(addr, 0, canon, sizeof canon, &fam, err,
	                    sizeof err) < 0)
		return 0;      /* the add says what is wrong with it */
	if (policy_inventory_load(bh, &inv))
		return -1;
	for (size_t i = 0; i < inv.n && rc == 0; i++)
		for (size_t k = 0; k < inv.w[i].nnics && rc == 0; k++) {
			const struct nic *n = &inv.w[i].nics[k];

			if (!strv_contains(&n->addrs, canon))
				continue;
			if (strcmp(inv.w[i].name, wl) != 0 ||
			    (ifname && strcmp(ifname, n->ifname) != 0))
				rc = bh_error(bh, "address %s is bound to "
				              "workload \"%s\" (interface %s): "
				              "'delete address %s %s' first", canon,
				              inv.w[i].name, n->ifname,
				              inv.w[i].name, canon);
			else
				rc = 1;
		}
	if (rc == 1)
		sb_addf(what, "address %s of workload \"%s\" exists unchanged",
		        canon, wl);
	policy_inventory_free(&inv);
	return rc;
}

int idem_tag(struct bh *bh, const char *wl, const char *tag,
             struct strbuf *what)
{
	struct inventory inv;
	const struct workload *w;
	int rc = 0;

	if (policy_inventory_load(bh, &inv))
		return -1;
	w = policy_inventory_by_name(&inv, wl);
	if (w && strv_contains(&w->tags, tag)) {
		sb_addf(what, "tag \"%s\" of workload \"%s\" exists unchanged",
		        tag, wl);
		rc = 1;
	}
	policy_inventory_free(&inv);
	return rc;
}

int idem_group(struct bh *bh, const struct group *g, struct strbuf *what)
{
	struct config cfg;
	const struct group *have;
	char a[512], b[512];
	int rc = 1;

	if (policy_config_load(bh, CONFIG_CANDIDATE, &cfg))
		return -1;
	have = policy_config_group(&cfg, g->name);
	if (!have) {
		rc = 0;
	} else if (strcmp(have->match ? have->match : "",
	                  g->match ? g->match : "") != 0) {
		rc = bh_error(bh, "group \"%s\" exists with match %s%s%s, not "
		              "%s%s%s: change it with 'set group %s match ...'",
		              g->name, have->match ? "\"" : "",
		              have->match ? have->match : "none",
		              have->match ? "\"" : "", g->match ? "\"" : "",
		              g->match ? g->match : "none", g->match ? "\"" : "",
		              g->name);
	} else if (!same_set(&have->members, &g->members)) {
		joined(&have->members, "none", a, sizeof a);
		joined(&g->members, "none", b, sizeof b);
		rc = bh_error(bh, "group \"%s\" exists with members %s, not %s: "
		              "change them with 'set group %s member ...'",
		              g->name, a, b, g->name);
	} else if (!same_set(&have->addresses, &g->addresses)) {
		joined(&have->addresses, "none", a, sizeof a);
		joined(&g->addresses, "none", b, sizeof b);
		rc = bh_error(bh, "group \"%s\" exists with addresses %s, not "
		              "%s: change them with 'set group %s address ...'",
		              g->name, a, b, g->name);
	} else {
		sb_addf(what, "group \"%s\" exists unchanged", g->name);
	}
	policy_config_free(&cfg);
	return rc;
}

/* A service's entries as "proto ports" strings. */
static void entries(const struct service *s, struct strv *out)
{
	for (size_t i = 0; i < s->ne; i++) {
		char e[160];

		snprintf(e, sizeof e, "%s%s%s", s->e[i].proto,
		         *s->e[i].ports ? " " : "", s->e[i].ports);
		strv_push(out, e);
	}
}

int idem_service(struct bh *bh, const struct service *s, struct strbuf *what)
{
	struct config cfg;
	const struct service *have;
	struct strv a = STRV_INIT, b = STRV_INIT;
	char x[512], y[512];
	int rc = 1;

	if (policy_config_load(bh, CONFIG_CANDIDATE, &cfg))
		return -1;
	have = policy_config_service(&cfg, s->name);
	if (!have) {
		rc = 0;
		goto done;
	}
	entries(have, &a);
	entries(s, &b);
	if (!same_set(&a, &b)) {
		joined(&a, "none", x, sizeof x);
		joined(&b, "none", y, sizeof y);
		rc = bh_error(bh, "service \"%s\" exists%s as %s, not %s%s%s",
		              s->name, have->builtin ? " (built in)" : "", x, y,
		              have->builtin ? ": give yours another name" :
		              ": change it with 'set service ",
		              have->builtin ? "" : s->name);
		if (!have->builtin)
			snprintf(bh->err + strlen(bh->err),
			         sizeof bh->err - strlen(bh->err), " ...'");
	} else {
		sb_addf(what, "service \"%s\" exists unchanged", s->name);
	}
done:
	strv_free(&a);
	strv_free(&b);
	policy_config_free(&cfg);
	return rc;
}

int idem_rule(struct bh *bh, const struct rule *r, struct strbuf *what)
{
	struct config cfg;
	const struct rule *h;
	const char *diff = NULL;
	int rc = 1;

	if (!r->id)
		return 0;
	if (policy_config_load(bh, CONFIG_CANDIDATE, &cfg))
		return -1;
	h = policy_config_rule(&cfg, r->id);
	if (!h)
		rc = 0;
	else if (h->section != r->section)
		diff = "section";
	else if (h->action != r->action)
		diff = "action";
	else if (!same_set(&h->src, &r->src))
		diff = "sources (from)";
	else if (!same_set(&h->dst, &r->dst))
		diff = "destinations (to)";
	else if (!same_set(&h->services, &r->services))
		diff = "services";
	else if (!same_set(&h->applied, &r->applied))
		diff = "applied-to";
	else if (!h->log != !r->log)
		diff = "log";
	else if (!h->enabled != !r->enabled)
		diff = "enabled/disabled";
	else if (strcmp(h->comment ? h->comment : "",
	                r->comment ? r->comment : "") != 0)
		diff = "comment";
	else if (r->position && h->position != r->position)
		diff = "position";
	if (diff)
		rc = bh_error(bh, "rule %lld exists with other %s: change it "
		              "with 'set rule %lld ...' (see 'show rules')",
		              (long long)r->id, diff, (long long)r->id);
	else if (rc == 1)
		sb_addf(what, "rule %lld exists unchanged", (long long)r->id);
	policy_config_free(&cfg);
	return rc;
}

/* ---- deletes --------------------------------------------------------- */

int idem_absent(struct bh *bh, enum idem_kind kind, const char *a,
                const char *b, struct strbuf *what)
{
	struct inventory inv;
	struct config cfg;
	const struct workload *w;
	char canon[64], err[256];
	int fam, rc = 0;

	if (kind == IDEM_GROUP || kind == IDEM_SERVICE || kind == IDEM_RULE) {
		if (policy_config_load(bh, CONFIG_CANDIDATE, &cfg))
			return -1;
		if (kind == IDEM_GROUP && !policy_config_group(&cfg, a)) {
			sb_addf(what, "group \"%s\" does not exist: nothing to "
			        "delete", a);
			rc = 1;
		} else if (kind == IDEM_SERVICE &&
		           !policy_config_service(&cfg, a)) {
			sb_addf(what, "service \"%s\" does not exist: nothing to "
			        "delete", a);
			rc = 1;
		} else if (kind == IDEM_RULE &&
		           !policy_config_rule(&cfg, strtoll(a, NULL, 10))) {
			sb_addf(what, "rule %s does not exist: nothing to "
			        "delete", a);
			rc = 1;
		}
		policy_config_free(&cfg);
		return rc;
	}
	if (policy_inventory_load(bh, &inv))
		return -1;
	switch (kind) {
	case IDEM_WORKLOAD:
		if (!policy_inventory_by_name(&inv, a)) {
			sb_addf(what, "workload \"%s\" does not exist: nothing "
			        "to delete", a);
			rc = 1;
		}
		break;
	case IDEM_NIC:
		if (!policy_inventory_by_nic(&inv, a, NULL)) {
			sb_addf(what, "interface \"%s\" does not exist: nothing "
			        "to delete", a);
			rc = 1;
		}
		break;
	case IDEM_TAG:
		/* the workload must exist: a misspelt one is no success */
		w = policy_inventory_by_name(&inv, a);
		if (w && !strv_contains(&w->tags, b)) {
			sb_addf(what, "workload \"%s\" has no tag \"%s\": "
			        "nothing to delete", a, b);
			rc = 1;
		}
		break;
	case IDEM_ADDRESS:
		w = policy_inventory_by_name(&inv, a);
		if (!w || util_addr_parse(b, 0, canon, sizeof canon, &fam, err,
		                          sizeof err) < 0)
			break;
		rc = 1;
		for (size_t k = 0; k < w->nnics && rc; k++)
			if (strv_contains(&w->nics[k].addrs, canon))
				rc = 0;
		if (rc)
			sb_addf(what, "address %s is not bound to workload "
			        "\"%s\": nothing to delete", canon, a);
		break;
	default:
		break;
	}
	policy_inventory_free(&inv);
	return rc;
}
