/*
 * explain.c - static evaluation of one new flow over the policy (policy
 * layer, no I/O): which rule decides it on each managed NIC it crosses,
 * and the combined verdict.  See explain.h for the model; it mirrors the
 * chains compile.c writes, so a change there (a new stage before the
 * rules, such as quarantine if it stops being an emergency rule) needs
 * its check here too, in side_check().
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"
#include "json.h"
#include "quarantine.h"

/* An address or prefix as bytes. */
struct net {
	int family;                /* 4 | 6 */
	unsigned char b[16];
	int plen;
};

static int net_parse(const char *text, struct net *n)
{
	char buf[64];
	const char *slash = strchr(text, '/');
	size_t len = slash ? (size_t)(slash - text) : strlen(text);

	if (len >= sizeof buf)
		return -1;
	memcpy(buf, text, len);
	buf[len] = '\0';
	memset(n, 0, sizeof *n);
	if (inet_pton(AF_INET, buf, n->b) == 1)
		n->family = 4;
	else if (inet_pton(AF_INET6, buf, n->b) == 1)
		n->family = 6;
	else
		return -1;
	n->plen = n->family == 4 ? 32 : 128;
	if (slash) {
		char *end;
		long p = strtol(slash + 1, &end, 10);

		if (*end || p < 0 || p > n->plen)
			return -1;
		n->plen = (int)p;
	}
	return 0;
}

static int net_contains(const struct net *net, const struct net *a)
{
	int full = net->plen / 8, rest = net->plen % 8;

	if (net->family != a->family)
		return 0;
	if (memcmp(net->b, a->b, (size_t)full) != 0)
		return 0;
	if (rest) {
		unsigned char mask = (unsigned char)(0xff << (8 - rest));

		if ((net->b[full] & mask) != (a->b[full] & mask))
			return 0;
	}
	return 1;
}

/* Is address @a in one of the CIDRs/addresses of @list? */
static int addr_in(const struct strv *list, const struct net *a)
{
	for (size_t i = 0; i < list->n; i++) {
		struct net n;

		if (net_parse(list->v[i], &n) == 0 && net_contains(&n, a))
			return 1;
	}
	return 0;
}

/* Does port @port fall in the canonical list @ports ("" = all)? */
static int port_in(const char *ports, int port)
{
	const char *s = ports;

	if (!*ports)
		return 1;
	while (*s) {
		char *end;
		long lo = strtol(s, &end, 10), hi = lo;

		if (*end == '-')
			hi = strtol(end + 1, &end, 10);
		if (port >= lo && port <= hi)
			return 1;
		if (*end != ',')
			break;
		s = end + 1;
	}
	return 0;
}

/* What the packet is, for the service match. */
struct pkt {
	struct net src, dst;
	const char *proto;    /* tcp udp icmp icmpv6 */
	int port;
};

static int service_matches(const struct service *s, const struct pkt *p)
{
	for (size_t i = 0; i < s->ne; i++) {
		const struct service_entry *e = &s->e[i];

		if (strcmp(e->proto, p->proto) != 0)
			continue;
		if (!strcmp(p->proto, "tcp") || !strcmp(p->proto, "udp")) {
			if (port_in(e->ports, p->port))
				return 1;
		} else if (!e->ports[0] || !strcmp(e->ports, "echo-request")) {
			return 1;
		}
	}
	return 0;
}

/* Group list @names: empty matches anything; else one group holding @a
 * (by address) or, with @a NULL, workload @wl (applied-to). */
static int groups_match(const struct config *cfg, const struct strv *names,
                        const struct net *a, const char *wl)
{
	if (names->n == 0)
		return 1;
	for (size_t i = 0; i < names->n; i++) {
		const struct group *g = policy_config_group(cfg, names->v[i]);

		if (!g)
			continue;
		if (a ? addr_in(&g->eff_addrs, a)
		      : strv_contains(&g->eff_workloads, wl))
			return 1;
	}
	return 0;
}

static int rule_matches(const struct config *cfg, const struct rule *r,
                        const struct pkt *p, const char *wl)
{
	int svc = r->services.n == 0;

	if (!r->enabled)
		return 0;
	if (!groups_match(cfg, &r->applied, NULL, wl) ||
	    !groups_match(cfg, &r->src, &p->src, NULL) ||
	    !groups_match(cfg, &r->dst, &p->dst, NULL))
		return 0;
	for (size_t i = 0; !svc && i < r->services.n; i++) {
		const struct service *s =
			policy_config_service(cfg, r->services.v[i]);

		svc = s && service_matches(s, p);
	}
	return svc;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	struct strbuf sb = STRBUF_INIT;
	char *s;
	va_list ap;

	va_start(ap, f);
	sb_vaddf(&sb, f, ap);
	va_end(ap);
	s = xstrdup(sb_str(&sb));
	sb_free(&sb);
	return s;
}

static struct explain_check *add_check(struct explain_result *r,
                                       const char *side, const char *stage,
                                       const struct explain_end *e)
{
	struct explain_check *c;

	r->checks = xrealloc(r->checks, (r->nchecks + 1) * sizeof *r->checks);
	c = &r->checks[r->nchecks++];
	memset(c, 0, sizeof *c);
	c->side = side;
	c->stage = stage;
	c->hook = strcmp(side, "source") == 0 ? "ingress" : "egress";
	snprintf(c->nic, sizeof c->nic, "%s", e->nic);
	snprintf(c->workload, sizeof c->workload, "%s", e->workload);
	c->section = -1;
	return c;
}

/*
 * A quarantined end, as the head of the emergency section decides it
 * (compile.c, quarantine_chains): leaving the workload, only what the
 * remediation allowance names passes (and becomes a flow, no rule
 * consulted); toward it, no new flow at all.
 */
static int quarantine_check(const struct config *cfg, const struct pkt *p,
                            const struct explain_end *e, int src,
                            struct explain_result *r)
{
	const char *side = src ? "source" : "destination";
	struct explain_check *c = add_check(r, side, "quarantine", e);
	struct strv g = STRV_INIT, sv = STRV_INIT;

	c->section = SECTION_EMERGENCY;
	c->action = c->would = ACTION_DROP;
	policy_quarantine_allow_parse(cfg->settings.quarantine_allow, &g, &sv);
	for (size_t i = 0; src && i < g.n && c->action == ACTION_DROP; i++) {
		const struct group *grp = policy_config_group(cfg, g.v[i]);
		struct strv names = STRV_INIT;

		if (!grp || !addr_in(&grp->eff_addrs, &p->dst))
			continue;
		strv_split_commas(&names, sv.v[i]);
		for (size_t k = 0; k < names.n; k++) {
			const struct service *s =
				policy_config_service(cfg, names.v[k]);

			if (s && service_matches(s, p)) {
				c->action = c->would = ACTION_ALLOW;
				c->reason = fmt("%s is quarantined: the "
				                "remediation allowance lets it "
				                "reach group %s on %s", e->workload,
				                g.v[i], names.v[k]);
				break;
			}
		}
		strv_free(&names);
	}
	if (c->action == ACTION_DROP)
		c->reason = src ?
			fmt("%s is quarantined: nothing but the remediation "
			    "allowance ('show quarantine', 'set quarantine "
			    "allow') may leave it", e->workload) :
			fmt("%s is quarantined: no new flow may reach it",
			    e->workload);
	strv_free(&g);
	strv_free(&sv);
	return c->action;
}

/*
 * The checks of one managed end: @src 1 for the sender's hook ingress,
 * 0 for the receiver's hook egress.  Returns the rules check's action.
 */
static int side_check(const struct config *cfg, const struct pkt *p,
                      const struct explain_end *e, int src,
                      struct explain_result *r)
{
	const char *side = src ? "source" : "destination";
	struct explain_check *c;

	if (src) {
		/* The spoof guard: the end is one of its own bound addresses
		 * by construction, so it passes; said so the path is whole. */
		c = add_check(r, side, "spoof", e);
		c->action = c->would = ACTION_ALLOW;
		c->reason = fmt("spoof guard: %s is bound to %s", e->addr,
		                e->nic);
	}
	if (e->quarantined)
		return quarantine_check(cfg, p, e, src, r);
	c = add_check(r, side, "rules", e);
	for (size_t i = 0; i < cfg->nrules; i++) {
		const struct rule *ru = &cfg->rules[i];

		if (!rule_matches(cfg, ru, p, e->workload))
			continue;
		c->rule = ru->id;
		c->section = ru->section;
		c->would = ru->action;
		c->action = ru->action;
		if (policy_rule_monitored(cfg, ru)) {
			c->monitor = 1;
			c->action = ACTION_ALLOW;
		} else if (!src && ru->action == ACTION_REJECT) {
			/* reject is only possible in hook ingress */
			c->action = ACTION_DROP;
		}
		c->reason = fmt("rule %" PRId64 " (%s, position %d): %s%s%s",
		                ru->id, policy_section_name(ru->section),
		                ru->position, policy_action_name(ru->action),
		                c->monitor ? ", monitor: logged and counted, "
		                             "allowed" : "",
		                !src && ru->action == ACTION_REJECT &&
		                !c->monitor ? " (a drop on the receiving side: "
		                              "only the sender's NIC can answer)"
		                            : "");
		return c->action;
	}
	c->would = cfg->settings.default_action;
	c->action = c->would;
	if (c->would == ACTION_DROP && cfg->settings.default_monitor) {
		c->monitor = 1;
		c->action = ACTION_ALLOW;
	}
	c->reason = fmt("no rule matches: default %s%s",
	                policy_action_name(c->would),
	                c->monitor ? ", monitor: logged and counted, allowed"
	                           : "");
	return c->action;
}

/* Resolve one end: a workload name or an address.  @family is 0 when not
 * known yet (a workload: its first address of @want or any family). */
static int end_resolve(const struct inventory *inv, const char *what,
                       const char *text, int want, struct explain_end *e,
                       int *family, char *err, size_t errlen)
{
	const struct workload *w = policy_inventory_by_name(inv, text);
	struct net n;

	memset(e, 0, sizeof *e);
	if (w) {
		for (size_t k = 0; k < w->nnics; k++)
			for (size_t j = 0; j < w->nics[k].addrs.n; j++) {
				const char *a = w->nics[k].addrs.v[j];

				if (net_parse(a, &n) || (want && n.family != want))
					continue;
				snprintf(e->addr, sizeof e->addr, "%s", a);
				snprintf(e->workload, sizeof e->workload, "%s",
				         w->name);
				snprintf(e->nic, sizeof e->nic, "%s",
				         w->nics[k].ifname);
				e->quarantined = w->quarantined;
				*family = n.family;
				return 0;
			}
		snprintf(err, errlen, "explain: %s workload \"%s\" has no %s"
		         "address bound to a NIC: bind one (add address) or "
		         "name an address", what, text,
		         want == 4 ? "IPv4 " : want == 6 ? "IPv6 " : "");
		return -1;
	}
	if (net_parse(text, &n) || strchr(text, '/')) {
		struct strv names = STRV_INIT;
		const char *s;

		for (size_t i = 0; i < inv->n; i++)
			strv_push(&names, inv->w[i].name);
		s = util_suggest_strv(text, &names);
		if (s)
			snprintf(err, errlen, "explain: %s \"%s\" is neither a "
			         "workload nor an address (did you mean "
			         "\"%s\"?)", what, text, s);
		else
			snprintf(err, errlen, "explain: %s \"%s\" is neither a "
			         "workload nor an address: name a workload or "
			         "one address (not a group or a network)", what,
			         text);
		strv_free(&names);
		return -1;
	}
	if (want && n.family != want) {
		snprintf(err, errlen, "explain: %s %s is IPv%d, the other end "
		         "IPv%d: name two ends of one family", what, text,
		         n.family, want);
		return -1;
	}
	inet_ntop(n.family == 4 ? AF_INET : AF_INET6, n.b, e->addr,
	          sizeof e->addr);
	*family = n.family;
	/* An address bound to a managed NIC is that workload's. */
	for (size_t i = 0; i < inv->n; i++)
		for (size_t k = 0; k < inv->w[i].nnics; k++)
			if (strv_contains(&inv->w[i].nics[k].addrs, e->addr)) {
				snprintf(e->workload, sizeof e->workload, "%s",
				         inv->w[i].name);
				snprintf(e->nic, sizeof e->nic, "%s",
				         inv->w[i].nics[k].ifname);
				e->quarantined = inv->w[i].quarantined;
			}
	return 0;
}

static int is_literal(const char *s)
{
	struct net n;

	return net_parse(s, &n) == 0 && !strchr(s, '/');
}

int explain_run(struct config *cfg, const struct inventory *inv,
                const struct explain_query *q, struct explain_result *out,
                char *err, size_t errlen)
{
	struct pkt p;
	const char *proto = q->proto;
	int want = 0, f1 = 0, f2 = 0;

	memset(out, 0, sizeof *out);
	out->decided = -1;
	out->section = -1;
	if (proto && strcmp(proto, "tcp") && strcmp(proto, "udp") &&
	    strcmp(proto, "icmp") && strcmp(proto, "icmpv6")) {
		snprintf(err, errlen, "explain: unknown protocol \"%s\": use "
		         "tcp, udp, icmp or icmpv6", proto);
		return -1;
	}
	if (proto && (!strcmp(proto, "tcp") || !strcmp(proto, "udp"))) {
		if (q->port < 1 || q->port > 65535) {
			snprintf(err, errlen, "explain: %s needs a port 1-65535 "
			         "(proto %s port N)", proto, proto);
			return -1;
		}
	} else if (q->port) {
		snprintf(err, errlen, "explain: a port goes with tcp or udp "
		         "(proto tcp port %d)", q->port);
		return -1;
	}
	if (proto && !strcmp(proto, "icmp"))
		want = 4;
	else if (proto && !strcmp(proto, "icmpv6"))
		want = 6;
	/* An address names the family; two workloads use IPv4 when both
	 * have it. */
	if (!want && is_literal(q->from))
		want = strchr(q->from, ':') ? 6 : 4;
	if (!want && is_literal(q->to))
		want = strchr(q->to, ':') ? 6 : 4;
	if (!want) {
		struct explain_end e;

		if (end_resolve(inv, "from", q->from, 4, &e, &f1, err, errlen) == 0 &&
		    end_resolve(inv, "to", q->to, 4, &e, &f2, err, errlen) == 0)
			want = 4;
		else
			want = 6;
	}
	if (end_resolve(inv, "from", q->from, want, &out->from, &f1, err,
	                errlen) ||
	    end_resolve(inv, "to", q->to, want, &out->to, &f2, err, errlen)) {
		explain_free(out);
		return -1;
	}
	if (out->from.workload[0] &&
	    !strcmp(out->from.workload, out->to.workload)) {
		snprintf(err, errlen, "explain: from and to are both workload "
		         "\"%s\": traffic inside a workload never reaches its "
		         "NIC", out->from.workload);
		explain_free(out);
		return -1;
	}
	out->family = want;
	snprintf(out->proto, sizeof out->proto, "%s",
	         proto ? proto : want == 4 ? "icmp" : "icmpv6");
	if (!strcmp(out->proto, "icmp") || !strcmp(out->proto, "icmpv6"))
		snprintf(out->proto, sizeof out->proto, "%s",
		         want == 4 ? "icmp" : "icmpv6");
	out->port = q->port;

	memset(&p, 0, sizeof p);
	net_parse(out->from.addr, &p.src);
	net_parse(out->to.addr, &p.dst);
	p.proto = out->proto;
	p.port = out->port;
	policy_membership(cfg, inv);

	out->action = ACTION_ALLOW;
	for (int s = 0; s < 2; s++) {
		const struct explain_end *e = s ? &out->to : &out->from;

		if (!e->nic[0])
			continue;
		if (side_check(cfg, &p, e, !s, out) != ACTION_ALLOW) {
			out->action = out->checks[out->nchecks - 1].action;
			out->decided = (int)out->nchecks - 1;
			break;
		}
		if (out->decided < 0)
			out->decided = (int)out->nchecks - 1;
	}
	for (size_t i = 0; i < out->nchecks; i++)
		if (out->checks[i].monitor)
			out->monitor = 1;
	if (out->action != ACTION_ALLOW)
		out->monitor = 0;
	if (out->decided >= 0) {
		out->rule = out->checks[out->decided].rule;
		out->section = out->checks[out->decided].section;
	}
	return 0;
}

void explain_free(struct explain_result *r)
{
	for (size_t i = 0; i < r->nchecks; i++)
		free(r->checks[i].reason);
	free(r->checks);
	r->checks = NULL;
	r->nchecks = 0;
}

/* ---- output ------------------------------------------------------------ */

static void end_text(const struct explain_end *e, struct strbuf *out)
{
	if (e->workload[0])
		sb_addf(out, "%s (%s, nic %s)", e->workload, e->addr, e->nic);
	else
		sb_addf(out, "%s (not managed)", e->addr);
}

static const char *verdict_name(int action)
{
	return policy_action_name(action);
}

void explain_text(const struct explain_result *r, struct strbuf *out)
{
	sb_add(out, "from ");
	end_text(&r->from, out);
	sb_add(out, " to ");
	end_text(&r->to, out);
	if (r->port)
		sb_addf(out, " %s %d\n", r->proto, r->port);
	else
		sb_addf(out, " %s echo-request\n", r->proto);
	for (size_t i = 0; i < r->nchecks; i++) {
		const struct explain_check *c = &r->checks[i];

		sb_addf(out, "  %-11s %s %-7s  %-6s  %s\n", c->side, c->nic,
		        c->hook, verdict_name(c->action), c->reason);
	}
	if (r->decided < 0) {
		sb_add(out, "verdict: allow: neither end is a managed NIC, so "
		       "bulkhead does not filter it\n");
		return;
	}
	sb_addf(out, "verdict: %s", verdict_name(r->action));
	if (r->rule)
		sb_addf(out, " by rule %" PRId64 " (%s)", r->rule,
		        policy_section_name(r->section));
	else if (strcmp(r->checks[r->decided].stage, "quarantine") == 0)
		sb_add(out, " by the quarantine (emergency)");
	else
		sb_add(out, " by the default");
	sb_addf(out, " on %s's %s side", r->checks[r->decided].workload,
	        r->checks[r->decided].side);
	if (r->monitor)
		sb_add(out, "; monitor mode: a rule or the default would drop "
		       "it, it is logged and counted instead");
	sb_addc(out, '\n');
}

static void end_json(struct json *j, const char *key,
                     const struct explain_end *e)
{
	json_key(j, key);
	json_obj_begin(j);
	json_kstr(j, "address", e->addr);
	json_kstr(j, "workload", e->workload[0] ? e->workload : NULL);
	json_kstr(j, "nic", e->nic[0] ? e->nic : NULL);
	json_obj_end(j);
}

/* @none: the section's name when no rule decided ("default",
 * "quarantine"; NULL: null). */
static void rule_json(struct json *j, int64_t rule, int section,
                      const char *none)
{
	json_key(j, "rule");
	if (rule)
		json_int(j, rule);
	else
		json_null(j);
	json_kstr(j, "section", rule ? policy_section_name(section) : none);
}

static const char *none_name(const struct explain_check *c)
{
	return strcmp(c->stage, "quarantine") == 0 ? "quarantine" : "default";
}

void explain_json(const struct explain_result *r, struct strbuf *out)
{
	struct json j;

	json_init(&j, out);
	json_obj_begin(&j);
	json_kstr(&j, "verdict", verdict_name(r->action));
	rule_json(&j, r->rule, r->section,
	          r->decided >= 0 ? none_name(&r->checks[r->decided]) : NULL);
	json_kbool(&j, "monitor", r->monitor);
	end_json(&j, "from", &r->from);
	end_json(&j, "to", &r->to);
	json_kstr(&j, "proto", r->proto);
	json_key(&j, "port");
	if (r->port)
		json_int(&j, r->port);
	else
		json_null(&j);
	json_key(&j, "checks");
	json_arr_begin(&j);
	for (size_t i = 0; i < r->nchecks; i++) {
		const struct explain_check *c = &r->checks[i];

		json_obj_begin(&j);
		json_kstr(&j, "side", c->side);
		json_kstr(&j, "stage", c->stage);
		json_kstr(&j, "nic", c->nic);
		json_kstr(&j, "hook", c->hook);
		json_kstr(&j, "workload", c->workload);
		json_kstr(&j, "verdict", verdict_name(c->action));
		json_kstr(&j, "action", verdict_name(c->would));
		json_kbool(&j, "monitor", c->monitor);
		if (strcmp(c->stage, "rules") == 0)
			rule_json(&j, c->rule, c->section, none_name(c));
		json_kstr(&j, "reason", c->reason);
		json_obj_end(&j);
	}
	json_arr_end(&j);
	json_obj_end(&j);
	sb_addc(out, '\n');
}
