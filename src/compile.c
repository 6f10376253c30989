/*
 * compile.c - the compiler layer: config + inventory -> the desired state of
 * nftables table `netdev bulkhead`, as objects (struct ruleset) and as text.
 *
 * No I/O happens here: the same input gives the same ruleset.  Everything
 * below follows from three facts of the netdev family on this kernel (see
 * /work/shared/notes and the man page bulkhead-policy(7)):
 *   - there is no conntrack, so state lives in dynamic sets;
 *   - `reject` is accepted in hook ingress but refused in hook egress;
 *   - a packet between two managed NICs passes two base chains: the
 *     sender's ingress and the receiver's egress.
 *
 * Table layout (callee chains are emitted before their callers):
 *
 *   nic_IF_ingress   hook ingress device IF (traffic LEAVING the workload):
 *                    goto ingress
 *   nic_IF_egress    hook egress device IF (traffic TOWARD the workload):
 *                    goto egress
 *   ingress          MAC spoof guard: the pair NIC . source MAC must be in
 *                    set nic_mac, unless the NIC is in nic_nomac (MAC not
 *                    known); a MAC change is two set elements, and a NIC's
 *                    chains are the same for every NIC, so they never change
 *   ingress/egress   dispatch on the frame's ether type: ip, ip6, arp;
 *                    any other is dropped.  Not meta protocol: the kernel
 *                    takes a VLAN tag off the frame before the hook, and
 *                    meta protocol then names the inner type, so tagged
 *                    frames would pass; ether type still reads 0x8100.
 *   ingress4/6       spoof guard (source must be bound to the NIC; ND, DHCP
 *                    client from 0.0.0.0/::, router/DHCP-server guard),
 *                    emergency section, established flows, ICMP errors,
 *                    infrastructure, environment, application, default
 *   egress4/6        ND/DHCP replies toward the workload, emergency,
 *                    established flows, ICMP errors, sections, default
 *   DIRF_SECTION     per direction and family: jumps into the shared rule
 *                    chains below, with the section's reject rules between
 *   rulesF_SECTION_N rules N.. of a section up to its next reject rule,
 *                    shared by both directions
 *
 * Rules are not copied per NIC: each rule is one line per (family, group
 * combination, service) in a rule chain both directions share, except
 * reject rules, written once per direction (see rule_chains()).
 * Verdicts are chains too: DIR_allowF remembers the flow and accepts,
 * ingress_drop/egress_drop count the drop on the NIC's counter (a map from
 * interface name to counter) and drop, ingress_rejectF answers with a TCP
 * reset or ICMP admin-prohibited.  The answer to a reject leaves through
 * the same NIC's hook egress, so the rejected packet is remembered for 5 s
 * (rejF for the reset, relF for the ICMP error) and egress lets exactly
 * that answer through.  A shared
 * rule chain cannot name the direction's verdict chain, so it goes to
 * both_allowF or both_drop, which pick it by `oif 0` (the hook ingress
 * has no output device, and hook egress no input device: iif, iifname
 * read 0 and no name there).  Rules with applied-to test `iifname @at_G`
 * and, on a second line, `oifname @at_G`, so a NIC joining a group is one
 * set element.  Reject rules stay out of the shared chains because
 * reject is only valid in ingress (in egress it compiles to drop) and
 * the kernel refuses it in any chain a hook egress can reach; the flow
 * keys, which put the workload's own side first, live in the
 * per-direction allow chains.
 *
 * The emergency section runs BEFORE the established-flow lookup: an
 * emergency drop (quarantine) cuts live connections at once.  Keep it short:
 * it is the only part of the policy that every packet traverses.
 *
 * Flow state.  A flow allowed on NIC X is remembered in flowF_P (F = 4|6,
 * P = tcp|udp) under the key  X . local address . remote address . local
 * port . remote port  ("local" = the workload behind X), taken from the
 * packet in the order that direction sees it.  Both of X's chains look the
 * key up and refresh its timeout on every packet (`update`), so replies pass
 * and a busy flow never expires.  X is the interface index (iif in ingress,
 * oif in egress), so an entry made by the sender's chain never lets a packet
 * skip the receiver's rules: a flow between two managed NICs is checked and
 * remembered on both.  ICMP/ICMPv6 echo is kept by identifier in pingF_out
 * (the workload pinged) and pingF_in (it was pinged), so only the matching
 * reply type passes.
 *
 * ICMP errors (unreachable, packet too big, time exceeded, parameter
 * problem).  nft 1.0.6 refuses a lookup whose key mixes typed fields (ip
 * saddr, th sport) with raw payload (@th,160,32), and it crashes when it
 * lists a set keyed by more than four raw fields; the inner header of an
 * ICMP error can only be read raw.  So every packet that leaves a workload
 * on a live flow also refreshes relF, keyed raw  X . source . destination .
 * ports (one 32-bit field): exactly the first bytes an ICMP error quotes.
 * An error toward the workload passes only when its quoted header (IPv4
 * without options / IPv6 without extension headers, TCP or UDP) is a packet
 * of a live flow that left this NIC: the same 5-tuple conntrack's RELATED
 * would use, less the protocol number (tcp and udp share relF).  Errors the
 * workload sends pass when the packet they quote was addressed to one of
 * its bound addresses.  Errors about ICMP echo, and quoted headers with IP
 * options or IPv6 extension headers, fall through to the rules.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "address.h"
#include "quarantine.h"

/* ---- building the ruleset ---------------------------------------------- */

static struct cset *add_set(struct ruleset *rs, const char *name, int kind,
                            const char *comment)
{
	struct cset *s;

	rs->sets = xrealloc(rs->sets, (rs->nsets + 1) * sizeof *rs->sets);
	s = &rs->sets[rs->nsets++];
	memset(s, 0, sizeof *s);
	s->name = xstrdup(name);
	s->kind = kind;
	s->comment = xstrdup(comment);
	return s;
}

static struct cchain *add_chain(struct ruleset *rs, const char *name,
                                const char *comment)
{
	struct cchain *c;

	rs->chains = xrealloc(rs->chains, (rs->nchains + 1) * sizeof *rs->chains);
	c = &rs->chains[rs->nchains++];
	memset(c, 0, sizeof *c);
	c->name = xstrdup(name);
	c->comment = xstrdup(comment);
	return c;
}

static void add_line(struct cchain *c, int64_t rule_id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void add_line(struct cchain *c, int64_t rule_id, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	sb_vaddf(&sb, fmt, ap);
	va_end(ap);
	strv_push(&c->rules, sb_str(&sb));
	sb_free(&sb);
	c->rule_ids = xrealloc(c->rule_ids, c->rules.n * sizeof *c->rule_ids);
	c->rule_ids[c->rules.n - 1] = rule_id;
}

static void decl(struct cset *s, const char *line)
{
	strv_push(&s->decl, line);
}

void compile_opts_default(struct compile_opts *o)
{
	o->dhcp = 1;
	o->log_group = COMPILE_NFLOG_GROUP;
	o->flow_max = COMPILE_FLOW_MAX;
	o->refuse_rule = 0;
}

/*
 * Interface names may hold bytes an nft identifier may not; object names
 * derived from them keep [A-Za-z0-9_] and write anything else as _xHH
 * ('-' and '.' too, so two names never map to one identifier).
 */
void compile_nic_ident(const char *ifname, char *buf, size_t len)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)ifname;
	     *p && o + 5 < len; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_')
			buf[o++] = (char)*p;
		else
			o += (size_t)snprintf(buf + o, len - o, "_x%02x", *p);
	}
	buf[o] = '\0';
}

/* Group and service names are [A-Za-z0-9._-]; nft identifiers take '.'
 * and '-' after the first character, and our prefixes supply that. */

/* nft prints durations as 1d2h3m4s; writing them the same way keeps the
 * text equal to the kernel's listing. */
static void nft_duration(int64_t s, char *buf, size_t len)
{
	static const struct { int64_t n; char c; } u[] = {
		{ 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' }
	};
	size_t o = 0;

	buf[0] = '\0';
	if (s <= 0)
		s = 1;
	for (size_t i = 0; i < 4; i++) {
		if (s >= u[i].n) {
			o += (size_t)snprintf(buf + o, len - o, "%" PRId64 "%c",
			                      s / u[i].n, u[i].c);
			s %= u[i].n;
		}
	}
}

/* ---- addresses --------------------------------------------------------- */

struct addr {
	int family;               /* 4 or 6 */
	unsigned char b[16];
	int plen;                 /* prefix length (32/128 for hosts) */
	const char *text;
};

static int addr_parse(const char *text, struct addr *a)
{
	char buf[64];
	const char *slash = strchr(text, '/');
	size_t n = slash ? (size_t)(slash - text) : strlen(text);

	if (n >= sizeof buf)
		return -1;
	memcpy(buf, text, n);
	buf[n] = '\0';
	memset(a, 0, sizeof *a);
	a->text = text;
	if (inet_pton(AF_INET, buf, a->b) == 1)
		a->family = 4, a->plen = 32;
	else if (inet_pton(AF_INET6, buf, a->b) == 1)
		a->family = 6, a->plen = 128;
	else
		return -1;
	if (slash) {
		char *end;
		long p = strtol(slash + 1, &end, 10);

		if (*end || p < 0 || p > a->plen)
			return -1;
		a->plen = (int)p;
	}
	return 0;
}

/* The canonical text of @a (inet_ntop, "/N" for prefixes), which is how
 * nft lists set elements: the store's text is canonical already, but the
 * compiler must not depend on it. */
static void addr_canon(const struct addr *a, char *buf, size_t len)
{
	char t[INET6_ADDRSTRLEN];

	inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->b, t, sizeof t);
	if (a->plen == (a->family == 4 ? 32 : 128))
		snprintf(buf, len, "%s", t);
	else
		snprintf(buf, len, "%s/%d", t, a->plen);
}

/* 1 when @in lies inside the prefix @net. */
static int addr_within(const struct addr *in, const struct addr *net)
{
	int full = net->plen / 8, rest = net->plen % 8;

	if (in->family != net->family || in->plen < net->plen)
		return 0;
	if (memcmp(in->b, net->b, (size_t)full) != 0)
		return 0;
	if (rest) {
		unsigned char m = (unsigned char)(0xff << (8 - rest));

		if ((in->b[full] & m) != (net->b[full] & m))
			return 0;
	}
	return 1;
}

/*
 * Split @addrs into the v4 and v6 elements of an interval set.  nft refuses
 * overlapping intervals, so an entry inside another entry's prefix is left
 * out (its packets match the wider one).  O(n x prefixes), and prefixes are
 * the few static CIDRs of a group.
 */
static void addr_split(const struct strv *addrs, struct strv *v4,
                       struct strv *v6)
{
	struct addr *a = xcalloc(addrs->n + 1, sizeof *a);
	size_t n = 0;

	for (size_t i = 0; i < addrs->n; i++)
		if (addr_parse(addrs->v[i], &a[n]) == 0)
			n++;
	for (size_t i = 0; i < n; i++) {
		int covered = 0;

		for (size_t j = 0; j < n && !covered; j++) {
			if (j == i || a[j].plen == (a[j].family == 4 ? 32 : 128))
				continue;
			if (addr_within(&a[i], &a[j]) &&
			    (a[i].plen > a[j].plen || j < i))
				covered = 1;
		}
		if (!covered) {
			char t[64];

			addr_canon(&a[i], t, sizeof t);
			strv_push(a[i].family == 4 ? v4 : v6, t);
		}
	}
	strv_uniq(v4);
	strv_uniq(v6);
	free(a);
}

/* Raw integer form of an address, as nft prints a raw payload value:
 * 0x followed by hex without leading zeros. */
static void addr_hex(const struct addr *a, char *buf, size_t len)
{
	size_t n = a->family == 4 ? 4 : 16, o = 0;
	char hex[40];
	const char *p;

	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(hex + o, sizeof hex - o, "%02x", a->b[i]);
	for (p = hex; *p == '0' && p[1]; p++)
		;
	snprintf(buf, len, "0x%s", p);
}

/* The EUI-64 link-local address a MAC gives (RFC 4291 appendix A), which
 * is what a guest uses unless it is set to stable-privacy addresses. */
static int mac_linklocal(const char *mac, char *buf, size_t len)
{
	unsigned int m[6];
	unsigned char b[16] = { 0xfe, 0x80 };

	if (sscanf(mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3],
	           &m[4], &m[5]) != 6)
		return -1;
	b[8] = (unsigned char)(m[0] ^ 0x02);
	b[9] = (unsigned char)m[1];
	b[10] = (unsigned char)m[2];
	b[11] = 0xff;
	b[12] = 0xfe;
	b[13] = (unsigned char)m[3];
	b[14] = (unsigned char)m[4];
	b[15] = (unsigned char)m[5];
	return inet_ntop(AF_INET6, b, buf, (socklen_t)len) ? 0 : -1;
}

/* ---- the compile context ------------------------------------------------- */

struct cc {
	const struct config *cfg;       /* with groups replaced by gcopy */
	const struct inventory *inv;
	struct compile_opts o;
	struct ruleset *rs;
	struct strv used_groups;        /* in src/dst: need g4_/g6_ sets */
	struct strv used_at;            /* in applied-to: need at_ sets */
	struct strv used_svcs;          /* need svc_ sets */
	/* compile_ruleset() only: groups by name for emit_rule(), and what
	 * the rules use, marked per group and service rather than pushed
	 * per rule line (then sorted: 10,000 rules made it quadratic-ish) */
	size_t *gorder;                 /* group indexes, sorted by name */
	unsigned char *gmark;           /* 1: src/dst, 2: applied-to */
	unsigned char *smark;           /* 1: needs its svc_ set */
	char *err;
	size_t errlen;
};

static const char *const sec_names[SECTION_COUNT] = {
	"emergency", "infrastructure", "environment", "application"
};

static const char *const fam_l3[2] = { "ip", "ip6" };
static const char *const fam_icmp[2] = { "icmp", "icmpv6" };

/* Does a service entry list exactly one port or range (so a direct
 * `tcp dport N` match does without a set)? */
static int single_port(const char *ports)
{
	return ports[0] && !strchr(ports, ',');
}

/* Services whose tcp/udp part needs a set: more than one tcp/udp entry, or
 * one entry with a list of ports. */
static int svc_needs_set(const struct service *s)
{
	size_t l4 = 0;
	const struct service_entry *one = NULL;

	for (size_t i = 0; i < s->ne; i++)
		if (!strcmp(s->e[i].proto, "tcp") || !strcmp(s->e[i].proto, "udp"))
			l4++, one = &s->e[i];
	if (l4 == 0)
		return 0;
	if (l4 > 1)
		return 1;
	return one->ports[0] && !single_port(one->ports);
}

/*
 * The match fragments of service @s for family @f (0 = v4, 1 = v6): the
 * tcp/udp part (one fragment) and one per ICMP entry of that family.
 */
static void svc_frags(struct cc *c, const struct service *s, int f,
                      struct strv *out)
{
	const struct service_entry *one = NULL;

	if (svc_needs_set(s)) {
		struct strbuf sb = STRBUF_INIT;

		sb_addf(&sb, "meta l4proto . th dport @svc_%s", s->name);
		strv_push(out, sb_str(&sb));
		sb_free(&sb);
		if (c->smark)
			c->smark[s - c->cfg->svcs] = 1;
		else
			strv_push(&c->used_svcs, s->name);
	} else {
		for (size_t i = 0; i < s->ne; i++)
			if (!strcmp(s->e[i].proto, "tcp") ||
			    !strcmp(s->e[i].proto, "udp"))
				one = &s->e[i];
		if (one) {
			struct strbuf sb = STRBUF_INIT;

			if (one->ports[0])
				sb_addf(&sb, "%s dport %s", one->proto, one->ports);
			else
				sb_addf(&sb, "meta l4proto %s", one->proto);
			strv_push(out, sb_str(&sb));
			sb_free(&sb);
		}
	}
	for (size_t i = 0; i < s->ne; i++) {
		struct strbuf sb = STRBUF_INIT;

		if (strcmp(s->e[i].proto, fam_icmp[f]) != 0)
			continue;
		if (s->e[i].ports[0])
			sb_addf(&sb, "%s type %s", fam_icmp[f], s->e[i].ports);
		else
			sb_addf(&sb, "meta l4proto %s", fam_icmp[f]);
		strv_push(out, sb_str(&sb));
		sb_free(&sb);
	}
}

static const struct workload *find_workload(const struct inventory *inv,
                                            const char *name)
{
	for (size_t i = 0; i < inv->n; i++)
		if (!strcmp(inv->w[i].name, name))
			return &inv->w[i];
	return NULL;
}

static int fail(struct cc *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int fail(struct cc *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- rules ------------------------------------------------------------- */

static const struct group *sort_groups;

static int cmp_group_idx(const void *a, const void *b)
{
	return strcmp(sort_groups[*(const size_t *)a].name,
	              sort_groups[*(const size_t *)b].name);
}

/* The index of group @name in c->cfg->groups, or -1: a binary search
 * when compile_ruleset() made the name order, else a scan. */
static long cc_group(struct cc *c, const char *name)
{
	const struct group *g;
	size_t lo = 0, hi = c->cfg->ngroups;

	if (!c->gorder) {
		g = policy_config_group(c->cfg, name);
		return g ? (long)(g - c->cfg->groups) : -1;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int k = strcmp(c->cfg->groups[c->gorder[mid]].name, name);

		if (k == 0)
			return (long)c->gorder[mid];
		if (k < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/*
 * Emit rule @r into chain @ch of direction @dir (0 ingress, 1 egress, 2
 * both: a chain shared by the two directions) and family @f.  One line per
 * (applied-to group, source group, destination group, service fragment);
 * all of them share the rule's counter, so `show counters` sums them.  In
 * a shared chain an applied-to group takes two lines, `iifname @at_G`
 * and `oifname @at_G`: the device the other hook lacks reads as no name,
 * which no set holds, so each line matches in its own direction only.
 */
static int emit_rule(struct cc *c, const struct rule *r, int dir, int f,
                     struct cchain *ch)
{
	static const char *const any[] = { "" };
	struct strv frags = STRV_INIT;
	const char *allow_chain[3][2] = {
		{ "ingress_allow4", "ingress_allow6" },
		{ "egress_allow4", "egress_allow6" },
		{ "both_allow4", "both_allow6" }
	};
	const char *verdict;
	char logbuf[96] = "";
	int mon = policy_rule_monitored(c->cfg, r);
	size_t nat = r->applied.n ? r->applied.n : 1;
	size_t nsrc = r->src.n ? r->src.n : 1;
	size_t ndst = r->dst.n ? r->dst.n : 1;

	for (int l = 0; l < 3; l++) {
		const struct strv *gl = l == 0 ? &r->applied :
		                        l == 1 ? &r->src : &r->dst;

		for (size_t i = 0; i < gl->n; i++) {
			long g = cc_group(c, gl->v[i]);

			if (g < 0)
				return fail(c, "rule %" PRId64 ": group \"%s\" "
				            "does not exist", r->id, gl->v[i]);
			if (c->gmark)
				c->gmark[g] |= l == 0 ? 2 : 1;
		}
	}
	if (r->services.n == 0) {
		strv_push(&frags, "");
	} else {
		for (size_t i = 0; i < r->services.n; i++) {
			const struct service *s =
				policy_config_service(c->cfg, r->services.v[i]);

			if (!s) {
				strv_free(&frags);
				return fail(c, "rule %" PRId64 ": service \"%s\" "
				            "does not exist", r->id,
				            r->services.v[i]);
			}
			svc_frags(c, s, f, &frags);
		}
	}
	switch (r->action) {
	case ACTION_ALLOW:
		verdict = allow_chain[dir][f];
		break;
	case ACTION_REJECT:
		/* The kernel takes reject only in hook ingress (never in a
		 * shared chain: see rule_chains()). */
		verdict = dir == 0 || r->id == c->o.refuse_rule ?
		          (f ? "ingress_reject6" : "ingress_reject4") :
		          "egress_drop";
		break;
	default:
		verdict = dir == 0 ? "ingress_drop" :
		          dir == 1 ? "egress_drop" : "both_drop";
		break;
	}
	/* Monitor mode: what the rule would drop is counted on its own
	 * counter and always logged, then allowed like an allow rule, so it
	 * becomes a flow and its replies pass (policy_rule_monitored). */
	if (mon)
		verdict = allow_chain[dir][f];
	if (r->log || mon)
		snprintf(logbuf, sizeof logbuf, " log prefix \"bh:%" PRId64
		         ":%s \" group %d", r->id, mon ? "monitor" :
		         policy_action_name(r->action), c->o.log_group);
	for (size_t a = 0; a < nat; a++)
	for (int ad = 0; ad < (dir == 2 && r->applied.n ? 2 : 1); ad++)
	for (size_t s = 0; s < nsrc; s++)
	for (size_t d = 0; d < ndst; d++)
	for (size_t k = 0; k < frags.n; k++) {
		struct strbuf sb = STRBUF_INIT;
		const char *at = r->applied.n ? r->applied.v[a] : any[0];
		const char *sg = r->src.n ? r->src.v[s] : any[0];
		const char *dg = r->dst.n ? r->dst.v[d] : any[0];

		if (*at) {
			sb_addf(&sb, "%s @at_%s ",
			        dir == 0 || (dir == 2 && ad == 0) ? "iifname"
			                                          : "oifname", at);
			if (!c->gmark)
				strv_push(&c->used_at, at);
		}
		if (*sg) {
			sb_addf(&sb, "%s saddr @g%c_%s ", fam_l3[f],
			        f ? '6' : '4', sg);
			if (!c->gmark)
				strv_push(&c->used_groups, sg);
		}
		if (*dg) {
			sb_addf(&sb, "%s daddr @g%c_%s ", fam_l3[f],
			        f ? '6' : '4', dg);
			if (!c->gmark)
				strv_push(&c->used_groups, dg);
		}
		if (*frags.v[k])
			sb_addf(&sb, "%s ", frags.v[k]);
		if (r->log)
			sb_addf(&sb, "counter name \"rule_%" PRId64 "\"%s goto %s",
			        r->id, logbuf, verdict);
		else
			sb_addf(&sb, "counter name \"rule_%" PRId64 "\" goto "
			        "log_%" PRId64 "%s", r->id, r->id,
			        r->action == ACTION_REJECT && dir == 1 &&
			        r->id != c->o.refuse_rule ? "_egress" : "");
		add_line(ch, r->id, "%s", sb_str(&sb));
		sb_free(&sb);
	}
	strv_free(&frags);
	return 0;
}

/* ---- fixed parts ------------------------------------------------------- */

static void flow_sets(struct cc *c)
{
	static const char *const ff[2][2] = {
		{ "flow4_tcp", "flow4_udp" }, { "flow6_tcp", "flow6_udp" }
	};
	char size[32];

	snprintf(size, sizeof size, "size %d", c->o.flow_max);
	for (int f = 0; f < 2; f++) {
		const char *l3 = fam_l3[f];
		struct strbuf sb = STRBUF_INIT;

		for (int p = 0; p < 2; p++) {
			struct cset *s = add_set(c->rs, ff[f][p], CSET_FLOW,
				p ? NULL : "flow state: NIC . local addr . remote addr . local port . remote port");

			sb_reset(&sb);
			/* typed fields, written as nft lists them */
			sb_addf(&sb, "type iface_index . %s . %s . inet_service . inet_service",
			        f ? "ipv6_addr" : "ipv4_addr",
			        f ? "ipv6_addr" : "ipv4_addr");
			decl(s, sb_str(&sb));
			decl(s, size);
			decl(s, "flags dynamic,timeout");
		}
		for (int d = 0; d < 2; d++) {
			struct cset *s;
			char name[16];

			snprintf(name, sizeof name, "ping%c_%s", f ? '6' : '4',
			         d ? "in" : "out");
			s = add_set(c->rs, name, CSET_FLOW, d ? NULL :
				"echo state: NIC . local addr . remote addr . id (out: the workload pinged)");
			sb_reset(&sb);
			sb_addf(&sb, "typeof iif . %s saddr . %s daddr . %s id",
			        l3, l3, fam_icmp[f]);
			decl(s, sb_str(&sb));
			decl(s, size);
			decl(s, "flags dynamic,timeout");
		}
		{
			struct cset *s = add_set(c->rs, f ? "rel6" : "rel4",
				CSET_FLOW, f ? NULL :
				"packets that left a workload, raw, as ICMP errors quote them");

			sb_reset(&sb);
			if (f)
				sb_add(&sb, "typeof iif . @nh,64,128 . @nh,192,128 . @th,0,32");
			else
				sb_add(&sb, "typeof iif . @nh,96,32 . @nh,128,32 . @th,0,32");
			decl(s, sb_str(&sb));
			decl(s, size);
			decl(s, "flags dynamic,timeout");
		}
		{
			struct cset *s = add_set(c->rs, f ? "rej6" : "rej4",
				CSET_FLOW, f ? NULL :
				"TCP packets just rejected: their reset may pass egress");

			sb_reset(&sb);
			sb_addf(&sb, "type iface_index . %s . %s . inet_service . inet_service",
			        f ? "ipv6_addr" : "ipv4_addr",
			        f ? "ipv6_addr" : "ipv4_addr");
			decl(s, sb_str(&sb));
			decl(s, size);
			decl(s, "flags dynamic,timeout");
		}
		sb_free(&sb);
	}
}

/* Key expressions of the flow sets, by direction: the workload's side
 * first in both. */
static void flow_key(struct strbuf *sb, int dir, int f, int p)
{
	const char *l3 = fam_l3[f], *l4 = p ? "udp" : "tcp";

	/* `tcp sport` brings its own `meta l4proto tcp` dependency. */
	if (dir == 0)
		sb_addf(sb, "iif . %s saddr . %s daddr . %s sport . %s dport",
		        l3, l3, l4, l4);
	else
		sb_addf(sb, "oif . %s daddr . %s saddr . %s dport . %s sport",
		        l3, l3, l4, l4);
}

static const char *ping_key(int dir, int f)
{
	static const char *const k[2][2] = {
		{ "iif . ip saddr . ip daddr . icmp id",
		  "iif . ip6 saddr . ip6 daddr . icmpv6 id" },
		{ "oif . ip daddr . ip saddr . icmp id",
		  "oif . ip6 daddr . ip6 saddr . icmpv6 id" }
	};
	return k[dir][f];
}

static const char *rel_key(int f)
{
	return f ? "iif . @nh,64,128 . @nh,192,128 . @th,0,32"
	         : "iif . @nh,96,32 . @nh,128,32 . @th,0,32";
}

/* The statements that keep a flow alive, for an allowed or established
 * packet of protocol @p (0 tcp, 1 udp) in direction @dir. */
static void flow_update(struct cc *c, struct strbuf *sb, int dir, int f,
                        int p)
{
	char t[32];
	int64_t secs = p ? c->cfg->settings.timeout_udp
	                 : c->cfg->settings.timeout_tcp;

	nft_duration(secs, t, sizeof t);
	sb_addf(sb, "update @flow%c_%s { ", f ? '6' : '4', p ? "udp" : "tcp");
	flow_key(sb, dir, f, p);
	sb_addf(sb, " timeout %s }", t);
	if (dir == 0)
		sb_addf(sb, " update @rel%c { %s timeout %s }", f ? '6' : '4',
		        rel_key(f), t);
}

static void allow_chain(struct cc *c, int dir, int f)
{
	char name[32], t[32];
	struct cchain *ch;
	const char *ic = fam_icmp[f];

	snprintf(name, sizeof name, "%s_allow%c", dir ? "egress" : "ingress",
	         f ? '6' : '4');
	ch = add_chain(c->rs, name, dir || f ? NULL :
	               "allowed: remember the flow, then accept");
	for (int p = 0; p < 2; p++) {
		struct strbuf sb = STRBUF_INIT;

		flow_update(c, &sb, dir, f, p);
		add_line(ch, 0, "%s accept", sb_str(&sb));
		sb_free(&sb);
	}
	nft_duration(c->cfg->settings.timeout_icmp, t, sizeof t);
	add_line(ch, 0, "%s type echo-request update @ping%c_%s { %s timeout %s } accept",
	         ic, f ? '6' : '4', dir ? "in" : "out", ping_key(dir, f), t);
	add_line(ch, 0, "accept");
}

/* Established flows and ICMP errors, in direction @dir, family @f. */
static void established(struct cc *c, struct cchain *ch, int dir, int f)
{
	char t[32];
	char fc = f ? '6' : '4';
	const char *ic = fam_icmp[f];
	const char *errs = f ?
		"{ destination-unreachable, packet-too-big, time-exceeded, parameter-problem }" :
		"{ destination-unreachable, time-exceeded, parameter-problem }";

	for (int p = 0; p < 2; p++) {
		struct strbuf sb = STRBUF_INIT;

		flow_key(&sb, dir, f, p);
		sb_addf(&sb, " @flow%c_%s ", fc, p ? "udp" : "tcp");
		flow_update(c, &sb, dir, f, p);
		add_line(ch, 0, "%s accept", sb_str(&sb));
		sb_free(&sb);
	}
	nft_duration(c->cfg->settings.timeout_icmp, t, sizeof t);
	/* Ingress: a request continues the workload's own ping, a reply
	 * answers one made to it; egress the other way round. */
	add_line(ch, 0, "%s type echo-request %s @ping%c_%s update @ping%c_%s { %s timeout %s } accept",
	         ic, ping_key(dir, f), fc, dir ? "in" : "out", fc,
	         dir ? "in" : "out", ping_key(dir, f), t);
	add_line(ch, 0, "%s type echo-reply %s @ping%c_%s update @ping%c_%s { %s timeout %s } accept",
	         ic, ping_key(dir, f), fc, dir ? "out" : "in", fc,
	         dir ? "out" : "in", ping_key(dir, f), t);
	if (dir == 1)
		add_line(ch, 0, "tcp flags & rst == rst oif . %s daddr . %s saddr . tcp dport . tcp sport @rej%c accept",
		         fam_l3[f], fam_l3[f], fc);
	if (dir == 1) {
		/* Toward the workload: the quoted header must be a packet of a
		 * live flow that left this NIC (see the top of the file). */
		if (f)
			add_line(ch, 0, "icmpv6 type %s @th,64,8 & 0xf0 == 0x60 @th,112,8 { 0x6, 0x11 } oif . @th,128,128 . @th,256,128 . @th,384,32 @rel6 accept",
			         errs);
		else
			add_line(ch, 0, "icmp type %s @th,64,8 0x45 @th,136,8 { 0x6, 0x11 } oif . @th,160,32 . @th,192,32 . @th,224,32 @rel4 accept",
			         errs);
	} else {
		/* From the workload: about a packet addressed to it. */
		if (f)
			add_line(ch, 0, "icmpv6 type %s @th,64,8 & 0xf0 == 0x60 iifname . @th,256,128 @nic_raw6 accept",
			         errs);
		else
			add_line(ch, 0, "icmp type %s @th,64,8 0x45 iifname . @th,192,32 @nic_raw4 accept",
			         errs);
	}
}

/*
 * Quarantine.  The first line of every emergency chain sends the packets
 * of a NIC in set nic_quarantine here, ahead of the established-flow
 * lookup (which follows the emergency section), so live connections stop
 * at the next packet.  ARP, ND and DHCP are handled before the sections
 * and still pass: the remediation path needs them.
 *   DIR_quarantineF  leaving the workload: what the remediation allowance
 *                    (settings.quarantine_allow) lets it open goes to the
 *                    allow chain, which remembers the flow; the rest is
 *                    counted ("quarantine") and dropped.
 *                    Toward it: only packets from an allowed group that
 *                    continue a remembered flow (egress_qestF: the
 *                    established lookup alone); the enforcer removes the
 *                    NIC's flow entries as it quarantines, so the flows
 *                    left are the remediation's own.
 */
/* The flow log's record of a packet the quarantine drops (rate-limited
 * like every drop's). */
static void quarantine_log(struct cc *c, struct cchain *ch)
{
	add_line(ch, 0, "limit rate %d/second burst %d packets log prefix "
	         "\"bh:quarantine:drop \" group %d", COMPILE_LOG_RATE_DROP,
	         COMPILE_LOG_BURST_DROP, c->o.log_group);
}

static int quarantine_chains(struct cc *c)
{
	struct strv g = STRV_INIT, sv = STRV_INIT;
	int rc = 0;

	policy_quarantine_allow_parse(c->cfg->settings.quarantine_allow, &g,
	                              &sv);
	for (int f = 0; f < 2 && rc == 0; f++) {
		char fc = f ? '6' : '4', name[32];
		struct cchain *in, *out, *est;

		snprintf(name, sizeof name, "egress_qest%c", fc);
		est = add_chain(c->rs, name, f ? NULL :
		                "quarantine: remediation flows toward the workload");
		established(c, est, 1, f);
		quarantine_log(c, est);
		add_line(est, 0, "counter name \"quarantine\" goto egress_drop");
		snprintf(name, sizeof name, "ingress_quarantine%c", fc);
		add_chain(c->rs, name, f ? NULL :
		          "quarantine: leaving the workload, remediation only");
		snprintf(name, sizeof name, "egress_quarantine%c", fc);
		add_chain(c->rs, name, NULL);
		/* add_chain() may move the array: take the pointers after */
		out = &c->rs->chains[c->rs->nchains - 1];
		in = out - 1;
		for (size_t i = 0; i < g.n && rc == 0; i++) {
			long gi = cc_group(c, g.v[i]);
			struct strv names = STRV_INIT, frags = STRV_INIT;

			if (gi < 0) {
				rc = fail(c, "quarantine allow: group \"%s\" does "
				          "not exist", g.v[i]);
				break;
			}
			if (c->gmark)
				c->gmark[gi] |= 1;
			else
				strv_push(&c->used_groups, g.v[i]);
			strv_split_commas(&names, sv.v[i]);
			for (size_t k = 0; k < names.n && rc == 0; k++) {
				const struct service *s =
					policy_config_service(c->cfg, names.v[k]);

				if (!s)
					rc = fail(c, "quarantine allow %s: service "
					          "\"%s\" does not exist", g.v[i],
					          names.v[k]);
				else
					svc_frags(c, s, f, &frags);
			}
			for (size_t k = 0; k < frags.n && rc == 0; k++)
				add_line(in, 0, "%s daddr @g%c_%s %s goto ingress_allow%c",
				         fam_l3[f], fc, g.v[i], frags.v[k], fc);
			if (rc == 0)
				add_line(out, 0, "%s saddr @g%c_%s goto egress_qest%c",
				         fam_l3[f], fc, g.v[i], fc);
			strv_free(&names);
			strv_free(&frags);
		}
		quarantine_log(c, in);
		add_line(in, 0, "counter name \"quarantine\" goto ingress_drop");
		quarantine_log(c, out);
		add_line(out, 0, "counter name \"quarantine\" goto egress_drop");
	}
	strv_free(&g);
	strv_free(&sv);
	return rc;
}

/*
 * The flow log.  A rule line cannot both rate-limit its log and keep its
 * verdict (`limit` ends the line when over the rate), so each rule without
 * `log` sends its matches through a chain of its own, log_ID: a
 * rate-limited log statement, then the rule's verdict, picked by family
 * and direction as the rule line would have (`ether type ip`: only IPv4
 * and IPv6 frames reach the rules, the dispatch saw to that; `oif 0`:
 * hook ingress).  One chain a rule, whatever its lines, keeps the cost to
 * the kernel's load down.  Only packets that reach the rules pass there
 * (an established flow is accepted before), so for an allow rule that is
 * the first packet of each new flow; for drop and reject rules, every
 * dropped packet, which is why both are limited in the kernel, per rule.
 * The prefix "bh:ID:ACTION " names the rule; the default and the spoof
 * guard log as "bh:default:ACTION " and "bh:spoof:drop ".  Rules with
 * `log` keep their own unlimited log statement, with the same prefix.
 * The chains are made before the rule chains (add_chain() moves the
 * array; callees come first).
 */
static void log_chain(struct cc *c, const struct rule *r, int egress)
{
	char name[48];
	struct cchain *ch;
	int mon = policy_rule_monitored(c->cfg, r);

	snprintf(name, sizeof name, "log_%" PRId64 "%s", r->id,
	         egress ? "_egress" : "");
	ch = add_chain(c->rs, name, NULL);
	add_line(ch, 0, "limit rate %d/second burst %d packets log prefix "
	         "\"bh:%" PRId64 ":%s \" group %d",
	         r->action == ACTION_ALLOW ? COMPILE_LOG_RATE_NEW
	                                   : COMPILE_LOG_RATE_DROP,
	         r->action == ACTION_ALLOW ? COMPILE_LOG_BURST_NEW
	                                   : COMPILE_LOG_BURST_DROP,
	         r->id, mon ? "monitor" : policy_action_name(r->action),
	         c->o.log_group);
	/* monitor mode: logged as what it would drop, then allowed (also
	 * in hook egress: an allow is no reject) */
	switch (mon ? ACTION_ALLOW : r->action) {
	case ACTION_ALLOW:
		add_line(ch, 0, "ether type ip goto both_allow4");
		add_line(ch, 0, "goto both_allow6");
		break;
	case ACTION_REJECT:
		/* The kernel refuses reject in any chain a hook egress can
		 * reach, whatever guards it: log_ID for hook ingress,
		 * log_ID_egress (a drop) for hook egress. */
		if (egress) {
			add_line(ch, 0, "goto egress_drop");
			break;
		}
		add_line(ch, 0, "ether type ip goto ingress_reject4");
		add_line(ch, 0, "goto ingress_reject6");
		break;
	default:
		add_line(ch, 0, "goto both_drop");
		break;
	}
}

static int flow_log_chains(struct cc *c)
{
	const struct config *cfg = c->cfg;

	for (size_t i = 0; i < cfg->nrules; i++) {
		const struct rule *r = &cfg->rules[i];

		if (!r->enabled || r->log)
			continue;
		log_chain(c, r, 0);
		if (r->action == ACTION_REJECT)
			log_chain(c, r, 1);
	}
	return 0;
}

/*
 * The section chains.  A rule that cannot reject reads the same in both
 * directions once its verdict is a dispatching chain (allowF, drop: the
 * hook ingress has no output device, `oif 0`), so each run of such rules
 * in a section is one chain shared by the directions, rulesF_SECTION_ID
 * (ID: the run's first rule), and the per-direction section chains jump
 * into the runs in order, with reject rules written between them for
 * each direction (reject may not be reachable from hook egress).  First
 * match still wins: a run's chain ends in a verdict or returns.  The
 * shared runs halve the rule lines of a policy without rejects.
 */
static int rule_chains(struct cc *c)
{
	const struct config *cfg = c->cfg;

	for (size_t i = 0; i < cfg->nrules; i++) {
		const struct rule *r = &cfg->rules[i];

		if (r->enabled && (r->section < 0 || r->section >= SECTION_COUNT))
			return fail(c, "rule %" PRId64 ": unknown section %d",
			            r->id, r->section);
	}
	if (flow_log_chains(c) != 0)
		return -1;
	/* shared runs first: callees before their callers */
	for (int f = 0; f < 2; f++)
		for (int s = 0; s < SECTION_COUNT; s++) {
			struct cchain *ch = NULL;

			for (size_t i = 0; i < cfg->nrules; i++) {
				const struct rule *r = &cfg->rules[i];
				char name[64], cm[96];

				if (!r->enabled || r->section != s)
					continue;
				if (r->action == ACTION_REJECT) {
					ch = NULL;
					continue;
				}
				if (!ch) {
					snprintf(name, sizeof name, "rules%c_%s_%" PRId64,
					         f ? '6' : '4', sec_names[s], r->id);
					snprintf(cm, sizeof cm, "%s rules from %" PRId64
					         ", both directions", sec_names[s], r->id);
					ch = add_chain(c->rs, name, f ? NULL : cm);
				}
				if (emit_rule(c, r, 2, f, ch) != 0)
					return -1;
			}
		}
	for (int dir = 0; dir < 2; dir++)
		for (int f = 0; f < 2; f++)
			for (int s = 0; s < SECTION_COUNT; s++) {
				struct cchain *ch;
				char name[48];
				int in_run = 0;

				snprintf(name, sizeof name, "%s%c_%s",
				         dir ? "egress" : "ingress", f ? '6' : '4',
				         sec_names[s]);
				ch = add_chain(c->rs, name, NULL);
				/* Quarantine: the first emergency rule, a
				 * lookup of the NIC in one set. */
				if (s == SECTION_EMERGENCY)
					add_line(ch, 0, "%s @nic_quarantine goto %s_quarantine%c",
					         dir ? "oifname" : "iifname",
					         dir ? "egress" : "ingress",
					         f ? '6' : '4');
				for (size_t i = 0; i < cfg->nrules; i++) {
					const struct rule *r = &cfg->rules[i];

					if (!r->enabled || r->section != s)
						continue;
					if (r->action != ACTION_REJECT) {
						if (!in_run)
							add_line(ch, 0, "jump rules%c_%s_%" PRId64,
							         f ? '6' : '4', sec_names[s],
							         r->id);
						in_run = 1;
						continue;
					}
					in_run = 0;
					if (emit_rule(c, r, dir, f, ch) != 0)
						return -1;
				}
			}
	return 0;
}

/*
 * Packets of NICs learning their address go to the daemon (nflog.h
 * NFLOG_GROUP_LEARN).  One limit for all NICs: a NIC flooding ARP can
 * delay others' learning, never open anything (the packets pass or not by
 * the rules around this one).
 */
#define LEARN_LOG "limit rate 50/second burst 100 packets log prefix \"bh:learn \" group 101 queue-threshold 1"

static void family_chain(struct cc *c, int dir, int f)
{
	char name[32], sec[48];
	struct cchain *ch;
	const char *D = dir ? "egress" : "ingress";
	char fc = f ? '6' : '4';
	const char *defv;

	snprintf(name, sizeof name, "%s%c", D, fc);
	ch = add_chain(c->rs, name, dir == 0 ?
		(f ? "IPv6 leaving a workload" : "IPv4 leaving a workload") :
		(f ? "IPv6 toward a workload" : "IPv4 toward a workload"));
	if (dir == 0 && f == 0) {
		if (c->o.dhcp)
			add_line(ch, 0, "ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept");
		add_line(ch, 0, "iifname . ip saddr != @nic_addr4 goto spoof");
		add_line(ch, 0, "udp sport 67 udp dport 68 goto spoof");
		if (c->o.dhcp)
			add_line(ch, 0, "udp sport 68 udp dport 67 accept");
	} else if (dir == 0) {
		/* A NIC learning its address (nic_learn6): its DAD probes and
		 * its first neighbor solicitations and adverts go to the
		 * daemon, and pass whatever their source, until it has one. */
		add_line(ch, 0, "ip6 saddr :: icmpv6 type nd-neighbor-solicit iifname @nic_learn6 " LEARN_LOG);
		add_line(ch, 0, "ip6 saddr :: icmpv6 type { nd-router-solicit, nd-neighbor-solicit, mld2-listener-report } accept");
		add_line(ch, 0, "iifname @nic_learn6 icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } " LEARN_LOG);
		add_line(ch, 0, "iifname @nic_learn6 icmpv6 type { mld-listener-report, nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld2-listener-report } accept");
		add_line(ch, 0, "iifname . ip6 saddr != @nic_addr6 goto spoof");
		add_line(ch, 0, "icmpv6 type nd-neighbor-advert iifname . @th,64,128 != @nic_raw6 goto spoof");
		add_line(ch, 0, "icmpv6 type { nd-router-advert, nd-redirect } goto spoof");
		add_line(ch, 0, "udp sport 547 udp dport 546 goto spoof");
		add_line(ch, 0, "icmpv6 type { mld-listener-report, mld-listener-done, nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld2-listener-report } accept");
		if (c->o.dhcp)
			add_line(ch, 0, "udp sport 546 udp dport 547 accept");
	} else if (f == 0) {
		if (c->o.dhcp) {
			/* the server's answer to a NIC learning its address */
			add_line(ch, 0, "oifname @nic_learn4 udp sport 67 udp dport 68 " LEARN_LOG);
			add_line(ch, 0, "udp sport 67 udp dport 68 accept");
		}
	} else {
		add_line(ch, 0, "icmpv6 type { mld-listener-query, mld-listener-report, mld-listener-done, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect, mld2-listener-report } accept");
		if (c->o.dhcp)
			add_line(ch, 0, "udp sport 547 udp dport 546 accept");
	}
	snprintf(sec, sizeof sec, "%s%c_%s", D, fc, sec_names[0]);
	add_line(ch, 0, "jump %s", sec);
	established(c, ch, dir, f);
	for (int s = 1; s < SECTION_COUNT; s++) {
		snprintf(sec, sizeof sec, "%s%c_%s", D, fc, sec_names[s]);
		add_line(ch, 0, "jump %s", sec);
	}
	if (c->cfg->settings.default_action == ACTION_ALLOW)
		snprintf(sec, sizeof sec, "%s_allow%c", D, fc);
	else if (c->cfg->settings.default_monitor)
		snprintf(sec, sizeof sec, "%s_allow%c", D, fc);
	else
		snprintf(sec, sizeof sec, "%s_drop", D);
	defv = sec;
	{
		/* a monitored default drop logs as "monitor" (and passes:
		 * defv is the allow chain), under the drops' rate limit */
		int mon = c->cfg->settings.default_action == ACTION_DROP &&
		          c->cfg->settings.default_monitor;
		int allow = c->cfg->settings.default_action == ACTION_ALLOW;

		add_line(ch, 0, "limit rate %d/second burst %d packets log "
		         "prefix \"bh:default:%s \" group %d",
		         allow ? COMPILE_LOG_RATE_NEW : COMPILE_LOG_RATE_DROP,
		         allow ? COMPILE_LOG_BURST_NEW : COMPILE_LOG_BURST_DROP,
		         mon ? "monitor" :
		         policy_action_name(c->cfg->settings.default_action),
		         c->o.log_group);
	}
	add_line(ch, 0, "counter name \"default\" goto %s", defv);
}

/* ---- sets from the inventory and the policy ------------------------------ */

static void nic_sets(struct cc *c)
{
	/* add_set() may move the array: take the pointers after the last. */
	size_t first = c->rs->nsets;
	struct cset *a4, *a6, *r4, *r6, *mi, *mo, *mac, *nomac, *l4, *l6;
	struct cset *quar;

	add_set(c->rs, "nic_addr4", CSET_STATIC,
	        "addresses bound to each NIC (spoof guard)");
	add_set(c->rs, "nic_addr6", CSET_STATIC, NULL);
	add_set(c->rs, "nic_raw4", CSET_STATIC,
	        "the same, raw, for ICMP error and ND payloads");
	add_set(c->rs, "nic_raw6", CSET_STATIC, NULL);
	add_set(c->rs, "nic_drop_in", CSET_MAP, "per-NIC drop counters");
	add_set(c->rs, "nic_drop_out", CSET_MAP, NULL);
	add_set(c->rs, "nic_mac", CSET_STATIC,
	        "each NIC's MAC (spoof guard), and the NICs of unknown MAC");
	add_set(c->rs, "nic_nomac", CSET_STATIC, NULL);
	add_set(c->rs, "nic_learn4", CSET_STATIC,
	        "NICs learning their first IPv4 / IPv6 address (address.h)");
	add_set(c->rs, "nic_learn6", CSET_STATIC, NULL);
	add_set(c->rs, "nic_quarantine", CSET_STATIC,
	        "NICs of quarantined workloads (emergency section)");
	a4 = &c->rs->sets[first];
	a6 = a4 + 1;
	r4 = a4 + 2;
	r6 = a4 + 3;
	mi = a4 + 4;
	mo = a4 + 5;
	mac = a4 + 6;
	nomac = a4 + 7;
	l4 = a4 + 8;
	l6 = a4 + 9;
	quar = a4 + 10;

	decl(a4, "typeof iifname . ip saddr");
	decl(a6, "typeof iifname . ip6 saddr");
	decl(r4, "typeof iifname . @nh,96,32");
	decl(r6, "typeof iifname . @nh,64,128");
	decl(mi, "type ifname : counter");
	decl(mo, "type ifname : counter");
	decl(mac, "typeof iifname . ether saddr");
	decl(nomac, "typeof iifname");
	decl(l4, "typeof iifname");
	decl(l6, "typeof iifname");
	decl(quar, "typeof iifname");
	for (size_t i = 0; i < c->inv->n; i++) {
		const struct workload *w = &c->inv->w[i];

		/* By interface, not address: it holds for a NIC with no
		 * address, and whatever a packet claims to come from. */
		for (size_t k = 0; w->quarantined && k < w->nnics; k++) {
			char buf[40];

			snprintf(buf, sizeof buf, "\"%s\"", w->nics[k].ifname);
			strv_push(&quar->elems, buf);
		}

		for (size_t k = 0; k < w->nnics; k++) {
			const struct nic *n = &w->nics[k];
			struct strv addrs = STRV_INIT;
			char id[64], buf[160], ll[64];

			compile_nic_ident(n->ifname, id, sizeof id);
			snprintf(buf, sizeof buf, "\"%s\" : \"nic_%s_drop_in\"",
			         n->ifname, id);
			strv_push(&mi->elems, buf);
			snprintf(buf, sizeof buf, "\"%s\" : \"nic_%s_drop_out\"",
			         n->ifname, id);
			strv_push(&mo->elems, buf);
			snprintf(buf, sizeof buf, "nic_%s_drop_in", id);
			strv_push(&c->rs->counters, buf);
			snprintf(buf, sizeof buf, "nic_%s_drop_out", id);
			strv_push(&c->rs->counters, buf);
			if (n->mac[0])
				snprintf(buf, sizeof buf, "\"%s\" . %s", n->ifname,
				         n->mac);
			else
				snprintf(buf, sizeof buf, "\"%s\"", n->ifname);
			strv_push(n->mac[0] ? &mac->elems : &nomac->elems, buf);
			snprintf(buf, sizeof buf, "\"%s\"", n->ifname);
			if (policy_nic_learning(w, n, 4))
				strv_push(&l4->elems, buf);
			if (policy_nic_learning(w, n, 6))
				strv_push(&l6->elems, buf);
			strv_copy(&addrs, &n->addrs);
			if (n->mac[0] && mac_linklocal(n->mac, ll, sizeof ll) == 0)
				strv_push(&addrs, ll);
			for (size_t j = 0; j < addrs.n; j++) {
				struct addr a;
				char hex[48], canon[64];

				if (addr_parse(addrs.v[j], &a) != 0 ||
				    a.plen != (a.family == 4 ? 32 : 128))
					continue;
				addr_hex(&a, hex, sizeof hex);
				addr_canon(&a, canon, sizeof canon);
				snprintf(buf, sizeof buf, "\"%s\" . %s", n->ifname,
				         canon);
				strv_push(a.family == 4 ? &a4->elems : &a6->elems,
				          buf);
				snprintf(buf, sizeof buf, "\"%s\" . %s", n->ifname,
				         hex);
				strv_push(a.family == 4 ? &r4->elems : &r6->elems,
				          buf);
			}
			strv_free(&addrs);
		}
	}
	strv_uniq(&a4->elems);
	strv_uniq(&a6->elems);
	strv_uniq(&r4->elems);
	strv_uniq(&r6->elems);
	strv_uniq(&mi->elems);
	strv_uniq(&mo->elems);
	strv_uniq(&mac->elems);
	strv_uniq(&nomac->elems);
	strv_uniq(&l4->elems);
	strv_uniq(&l6->elems);
	strv_uniq(&quar->elems);
}

static void group_sets(struct cc *c)
{
	strv_uniq(&c->used_groups);
	for (size_t i = 0; i < c->used_groups.n; i++) {
		const struct group *g =
			policy_config_group(c->cfg, c->used_groups.v[i]);
		struct strbuf name = STRBUF_INIT, cm = STRBUF_INIT;
		struct cset *s4, *s6;

		sb_addf(&cm, "group \"%s\"", g->name);
		if (g->match)
			sb_addf(&cm, " match %s", g->match);
		sb_addf(&name, "g4_%s", g->name);
		add_set(c->rs, sb_str(&name), CSET_STATIC, sb_str(&cm));
		sb_reset(&name);
		sb_addf(&name, "g6_%s", g->name);
		s6 = add_set(c->rs, sb_str(&name), CSET_STATIC, NULL);
		s4 = s6 - 1;
		decl(s4, "typeof ip saddr");
		decl(s4, "flags interval");
		decl(s6, "typeof ip6 saddr");
		decl(s6, "flags interval");
		addr_split(&g->eff_addrs, &s4->elems, &s6->elems);
		sb_free(&name);
		sb_free(&cm);
	}
}

static void at_sets(struct cc *c)
{
	strv_uniq(&c->used_at);
	for (size_t i = 0; i < c->used_at.n; i++) {
		const struct group *g =
			policy_config_group(c->cfg, c->used_at.v[i]);
		struct strbuf name = STRBUF_INIT, cm = STRBUF_INIT;
		struct cset *s;

		sb_addf(&name, "at_%s", g->name);
		sb_addf(&cm, "NICs of group \"%s\" (applied-to)", g->name);
		s = add_set(c->rs, sb_str(&name), CSET_STATIC, sb_str(&cm));
		decl(s, "typeof iifname");
		for (size_t k = 0; k < g->eff_workloads.n; k++) {
			const struct workload *w =
				find_workload(c->inv, g->eff_workloads.v[k]);

			for (size_t j = 0; w && j < w->nnics; j++) {
				char buf[40];

				snprintf(buf, sizeof buf, "\"%s\"",
				         w->nics[j].ifname);
				strv_push(&s->elems, buf);
			}
		}
		strv_uniq(&s->elems);
		sb_free(&name);
		sb_free(&cm);
	}
}

static void svc_sets(struct cc *c)
{
	strv_uniq(&c->used_svcs);
	for (size_t i = 0; i < c->used_svcs.n; i++) {
		const struct service *sv =
			policy_config_service(c->cfg, c->used_svcs.v[i]);
		struct strbuf name = STRBUF_INIT, cm = STRBUF_INIT;
		struct cset *s;

		sb_addf(&name, "svc_%s", sv->name);
		sb_addf(&cm, "service \"%s\"", sv->name);
		s = add_set(c->rs, sb_str(&name), CSET_STATIC, sb_str(&cm));
		decl(s, "typeof meta l4proto . th dport");
		decl(s, "flags interval");
		for (size_t k = 0; k < sv->ne; k++) {
			const char *p = sv->e[k].proto;
			struct strv ports = STRV_INIT;

			if (strcmp(p, "tcp") && strcmp(p, "udp"))
				continue;
			if (!sv->e[k].ports[0])
				strv_push(&ports, "0-65535");
			else
				strv_split_commas(&ports, sv->e[k].ports);
			for (size_t j = 0; j < ports.n; j++) {
				char buf[64];

				snprintf(buf, sizeof buf, "%s . %s", p, ports.v[j]);
				strv_push(&s->elems, buf);
			}
			strv_free(&ports);
		}
		strv_uniq(&s->elems);
		sb_free(&name);
		sb_free(&cm);
	}
}

/* ---- per-NIC base chains ---------------------------------------------- */

static void nic_chains(struct cc *c)
{
	for (size_t i = 0; i < c->inv->n; i++) {
		const struct workload *w = &c->inv->w[i];

		for (size_t k = 0; k < w->nnics; k++) {
			const struct nic *n = &w->nics[k];
			char id[64], name[96], cm[160];
			struct cchain *in, *out;

			compile_nic_ident(n->ifname, id, sizeof id);
			snprintf(name, sizeof name, "nic_%s_ingress", id);
			snprintf(cm, sizeof cm, "workload \"%s\" NIC %s", w->name,
			         n->ifname);
			in = add_chain(c->rs, name, cm);
			in->hook = xstrdup("ingress");
			in->device = xstrdup(n->ifname);
			add_line(in, 0, "goto ingress");
			snprintf(name, sizeof name, "nic_%s_egress", id);
			out = add_chain(c->rs, name, NULL);
			out->hook = xstrdup("egress");
			out->device = xstrdup(n->ifname);
			add_line(out, 0, "goto egress");
		}
	}
}

/* ---- entry point ------------------------------------------------------- */

static void header(struct cc *c)
{
	struct strbuf sb = STRBUF_INIT;
	size_t nics = 0, enabled = 0;

	for (size_t i = 0; i < c->inv->n; i++)
		nics += c->inv->w[i].nnics;
	for (size_t i = 0; i < c->cfg->nrules; i++)
		enabled += c->cfg->rules[i].enabled != 0;
	sb_addf(&sb, "# bulkhead ruleset, config revision %" PRId64 ": %zu NIC%s, "
	        "%zu rule%s (%zu enabled), default %s\n",
	        c->cfg->revision, nics, nics == 1 ? "" : "s", c->cfg->nrules,
	        c->cfg->nrules == 1 ? "" : "s", enabled,
	        policy_action_name(c->cfg->settings.default_action));
	sb_add(&sb, "# ingress = traffic leaving a workload, egress = toward it\n");
	c->rs->header = xstrdup(sb_str(&sb));
	sb_free(&sb);
}

/*
 * A compiler context for @cfg over @inv, writing into @out (emptied): the
 * groups are a private copy in @copy carrying their membership, so @cfg
 * stays untouched.  cc_copy_free(@copy) frees that copy.
 */
static void cc_init(struct cc *c, struct config *copy,
                    const struct config *cfg, const struct inventory *inv,
                    const struct compile_opts *o, struct ruleset *out,
                    char *err, size_t errlen)
{
	struct group *groups = xcalloc(cfg->ngroups + 1, sizeof *groups);

	*copy = *cfg;
	for (size_t i = 0; i < cfg->ngroups; i++) {
		groups[i] = cfg->groups[i];
		memset(&groups[i].eff_workloads, 0, sizeof groups[i].eff_workloads);
		memset(&groups[i].eff_addrs, 0, sizeof groups[i].eff_addrs);
	}
	copy->groups = groups;
	policy_membership(copy, inv);
	memset(c, 0, sizeof *c);
	c->cfg = copy;
	c->inv = inv;
	if (o)
		c->o = *o;
	else
		compile_opts_default(&c->o);
	c->rs = out;
	c->err = err;
	c->errlen = errlen;
	memset(out, 0, sizeof *out);
}

static void cc_copy_free(struct config *copy)
{
	for (size_t i = 0; i < copy->ngroups; i++) {
		strv_free(&copy->groups[i].eff_workloads);
		strv_free(&copy->groups[i].eff_addrs);
	}
	free(copy->groups);
}

int compile_ruleset(const struct config *cfg, const struct inventory *inv,
                    const struct compile_opts *o, struct ruleset *out,
                    char *err, size_t errlen)
{
	struct config copy;
	struct cc c;
	int rc = 0;

	cc_init(&c, &copy, cfg, inv, o, out, err, errlen);
	c.gorder = xcalloc(copy.ngroups + 1, sizeof *c.gorder);
	c.gmark = xcalloc(copy.ngroups + 1, 1);
	c.smark = xcalloc(copy.nsvcs + 1, 1);
	for (size_t i = 0; i < copy.ngroups; i++)
		c.gorder[i] = i;
	sort_groups = copy.groups;
	qsort(c.gorder, copy.ngroups, sizeof *c.gorder, cmp_group_idx);
	sort_groups = NULL;

	header(&c);
	out->policy_hash = compile_policy_hash(cfg, &c.o);
	flow_sets(&c);
	nic_sets(&c);

	/* Counters: every rule (disabled ones too, so their count survives
	 * being switched off and on), the default, the spoof guard. */
	for (size_t i = 0; i < cfg->nrules; i++) {
		char buf[48];

		snprintf(buf, sizeof buf, "rule_%" PRId64, cfg->rules[i].id);
		strv_push(&out->counters, buf);
	}
	strv_push(&out->counters, "default");
	strv_push(&out->counters, "spoof");
	strv_push(&out->counters, "quarantine");

	/* Verdict chains. */
	{
		struct cchain *ch;

		ch = add_chain(out, "ingress_drop", "drops, counted per NIC");
		add_line(ch, 0, "counter name iifname map @nic_drop_in");
		add_line(ch, 0, "drop");
		ch = add_chain(out, "egress_drop", NULL);
		add_line(ch, 0, "counter name oifname map @nic_drop_out");
		add_line(ch, 0, "drop");
		/* The reset or ICMP error a reject makes leaves through the
		 * same NIC's hook egress, where it would meet the rules like
		 * any packet: remember the rejected packet for a few seconds
		 * (rejF for the reset, relF for the ICMP error) so egress
		 * lets exactly that answer through. */
		for (int f = 0; f < 2; f++) {
			char name[32];

			snprintf(name, sizeof name, "ingress_reject%c", f ? '6' : '4');
			ch = add_chain(out, name, f ? NULL :
			               "reject: only hook ingress may (egress drops)");
			add_line(ch, 0, "counter name iifname map @nic_drop_in");
			add_line(ch, 0, "update @rej%c { iif . %s saddr . %s daddr . tcp sport . tcp dport timeout 5s } reject with tcp reset",
			         f ? '6' : '4', fam_l3[f], fam_l3[f]);
			add_line(ch, 0, "update @rel%c { %s timeout 5s } reject with icmpx admin-prohibited",
			         f ? '6' : '4', rel_key(f));
			/* no transport header: nothing to answer, still drop */
			add_line(ch, 0, "drop");
		}
		ch = add_chain(out, "spoof", "spoof guard drops");
		add_line(ch, 0, "limit rate %d/second burst %d packets log "
		         "prefix \"bh:spoof:drop \" group %d",
		         COMPILE_LOG_RATE_DROP, COMPILE_LOG_BURST_DROP,
		         c.o.log_group);
		add_line(ch, 0, "counter name \"spoof\" goto ingress_drop");
		for (int d = 0; d < 2; d++)
			for (int f = 0; f < 2; f++)
				allow_chain(&c, d, f);
		/* Verdicts of the chains both directions share. */
		ch = add_chain(out, "both_allow4",
		               "shared chains: hook ingress has no output device");
		add_line(ch, 0, "oif 0 goto ingress_allow4");
		add_line(ch, 0, "goto egress_allow4");
		ch = add_chain(out, "both_allow6", NULL);
		add_line(ch, 0, "oif 0 goto ingress_allow6");
		add_line(ch, 0, "goto egress_allow6");
		ch = add_chain(out, "both_drop", NULL);
		add_line(ch, 0, "oif 0 goto ingress_drop");
		add_line(ch, 0, "goto egress_drop");
	}

	/* Quarantine chains (emergency section), then the rules. */
	rc = quarantine_chains(&c);
	if (rc == 0)
		rc = rule_chains(&c);
	if (rc == 0) {
		struct cchain *ch;

		for (int d = 0; d < 2; d++)
			for (int f = 0; f < 2; f++)
				family_chain(&c, d, f);
		ch = add_chain(out, "ingress_arp", "ARP leaving a workload");
		add_line(ch, 0, "arp hlen != 6 goto spoof");
		add_line(ch, 0, "arp plen != 4 goto spoof");
		add_line(ch, 0, "arp saddr ip 0.0.0.0 accept");
		/* a NIC learning its IPv4 address: its ARP goes to the daemon
		 * and passes whatever its sender address, until it has one */
		add_line(ch, 0, "iifname @nic_learn4 " LEARN_LOG);
		add_line(ch, 0, "iifname @nic_learn4 accept");
		add_line(ch, 0, "iifname . arp saddr ip != @nic_addr4 goto spoof");
		add_line(ch, 0, "accept");
		ch = add_chain(out, "ingress", "every NIC's ingress lands here");
		/* The MAC guard reads sets, so a MAC change is two elements
		 * and a NIC's chains never change: adding rules makes the
		 * kernel validate the whole table, O(rules). */
		add_line(ch, 0, "iifname != @nic_nomac iifname . ether saddr != @nic_mac goto spoof");
		add_line(ch, 0, "iifname != @nic_nomac iifname . arp saddr ether != @nic_mac goto spoof");
		add_line(ch, 0, "ether type vmap { ip : goto ingress4, arp : goto ingress_arp, ip6 : goto ingress6 }");
		add_line(ch, 0, "goto ingress_drop");
		ch = add_chain(out, "egress", "every NIC's egress lands here");
		add_line(ch, 0, "ether type vmap { ip : goto egress4, arp : accept, ip6 : goto egress6 }");
		add_line(ch, 0, "goto egress_drop");
		nic_chains(&c);
		for (size_t i = 0; i < copy.ngroups; i++) {
			if (c.gmark[i] & 1)
				strv_push(&c.used_groups, copy.groups[i].name);
			if (c.gmark[i] & 2)
				strv_push(&c.used_at, copy.groups[i].name);
		}
		for (size_t i = 0; i < copy.nsvcs; i++)
			if (c.smark[i])
				strv_push(&c.used_svcs, copy.svcs[i].name);
		group_sets(&c);
		at_sets(&c);
		svc_sets(&c);
		strv_uniq(&out->counters);
		strv_copy(&out->used_groups, &c.used_groups);
		strv_copy(&out->used_at, &c.used_at);
	}

	cc_copy_free(&copy);
	free(c.gorder);
	free(c.gmark);
	free(c.smark);
	strv_free(&c.used_groups);
	strv_free(&c.used_at);
	strv_free(&c.used_svcs);
	if (rc != 0)
		compile_free(out);
	return rc;
}

/* Groups the enabled rules name (src, dst; applied-to into @at), as
 * emit_rule() records them, without emitting anything. */
static int used_by_rules(struct cc *c)
{
	for (size_t i = 0; i < c->cfg->nrules; i++) {
		const struct rule *r = &c->cfg->rules[i];

		if (!r->enabled)
			continue;
		for (int l = 0; l < 3; l++) {
			const struct strv *gl = l == 0 ? &r->applied :
			                        l == 1 ? &r->src : &r->dst;

			for (size_t k = 0; k < gl->n; k++) {
				if (!policy_config_group(c->cfg, gl->v[k]))
					return fail(c, "rule %" PRId64 ": group \"%s\" "
					            "does not exist", r->id, gl->v[k]);
				strv_push(l == 0 ? &c->used_at : &c->used_groups,
				          gl->v[k]);
			}
		}
	}
	{
		/* the quarantine allowance's groups (quarantine_chains) */
		struct strv g = STRV_INIT, sv = STRV_INIT;

		policy_quarantine_allow_parse(c->cfg->settings.quarantine_allow,
		                              &g, &sv);
		for (size_t i = 0; i < g.n; i++)
			if (policy_config_group(c->cfg, g.v[i]))
				strv_push(&c->used_groups, g.v[i]);
		strv_free(&g);
		strv_free(&sv);
	}
	return 0;
}

static int inventory_part(const struct config *cfg,
                          const struct inventory *inv,
                          const struct compile_opts *o,
                          const struct ruleset *like, struct ruleset *out,
                          char *err, size_t errlen)
{
	struct config copy;
	struct cc c;
	int rc = 0;

	cc_init(&c, &copy, cfg, inv, o, out, err, errlen);
	out->policy_hash = like ? like->policy_hash
	                        : compile_policy_hash(cfg, &c.o);
	if (like) {
		strv_copy(&c.used_groups, &like->used_groups);
		strv_copy(&c.used_at, &like->used_at);
	} else {
		rc = used_by_rules(&c);
	}
	if (rc == 0) {
		nic_sets(&c);
		nic_chains(&c);
		group_sets(&c);
		at_sets(&c);
		strv_uniq(&out->counters);
		strv_copy(&out->used_groups, &c.used_groups);
		strv_copy(&out->used_at, &c.used_at);
	}
	cc_copy_free(&copy);
	strv_free(&c.used_groups);
	strv_free(&c.used_at);
	strv_free(&c.used_svcs);
	if (rc != 0)
		compile_free(out);
	return rc;
}

int compile_inventory(const struct config *cfg, const struct inventory *inv,
                      const struct compile_opts *o, struct ruleset *out,
                      char *err, size_t errlen)
{
	return inventory_part(cfg, inv, o, NULL, out, err, errlen);
}

int compile_inventory_like(const struct config *cfg,
                           const struct inventory *inv,
                           const struct compile_opts *o,
                           const struct ruleset *like, struct ruleset *out,
                           char *err, size_t errlen)
{
	return inventory_part(cfg, inv, o, like, out, err, errlen);
}

int compile_inventory_object(int kind, const char *name, int hooked)
{
	switch (kind) {
	case 's':
		return !strncmp(name, "nic_", 4) || !strncmp(name, "g4_", 3) ||
		       !strncmp(name, "g6_", 3) || !strncmp(name, "at_", 3);
	case 'c':
		return !strncmp(name, "nic_", 4);
	case 'h':
		return hooked;
	}
	return 0;
}

/* FNV-1a, fed field by field with separators, so ("ab","c") and
 * ("a","bc") differ. */
static void fnv(uint64_t *h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		*h ^= b[i];
		*h *= 1099511628211ULL;
	}
	*h ^= 0xff;
	*h *= 1099511628211ULL;
}

static void fnv_str(uint64_t *h, const char *s)
{
	fnv(h, s ? s : "", s ? strlen(s) : 0);
}

static void fnv_strv(uint64_t *h, const struct strv *sv)
{
	fnv(h, &sv->n, sizeof sv->n);
	for (size_t i = 0; i < sv->n; i++)
		fnv_str(h, sv->v[i]);
}

uint64_t compile_policy_hash(const struct config *cfg,
                             const struct compile_opts *o)
{
	uint64_t h = 14695981039346656037ULL;
	struct compile_opts d;

	if (!o) {
		compile_opts_default(&d);
		o = &d;
	}
	fnv(&h, &o->dhcp, sizeof o->dhcp);
	fnv(&h, &o->log_group, sizeof o->log_group);
	fnv(&h, &o->flow_max, sizeof o->flow_max);
	fnv(&h, &o->refuse_rule, sizeof o->refuse_rule);
	fnv(&h, &cfg->settings.default_action, sizeof cfg->settings.default_action);
	fnv(&h, &cfg->settings.timeout_tcp, sizeof cfg->settings.timeout_tcp);
	fnv(&h, &cfg->settings.timeout_udp, sizeof cfg->settings.timeout_udp);
	fnv(&h, &cfg->settings.timeout_icmp, sizeof cfg->settings.timeout_icmp);
	fnv_str(&h, cfg->settings.quarantine_allow);
	if (cfg->settings.default_monitor)
		fnv(&h, "m", 1);
	for (size_t i = 0; i < cfg->nsvcs; i++) {
		fnv_str(&h, cfg->svcs[i].name);
		for (size_t k = 0; k < cfg->svcs[i].ne; k++) {
			fnv_str(&h, cfg->svcs[i].e[k].proto);
			fnv_str(&h, cfg->svcs[i].e[k].ports);
		}
	}
	for (size_t i = 0; i < cfg->ngroups; i++) {
		fnv_str(&h, cfg->groups[i].name);
		fnv_str(&h, cfg->groups[i].match);
		fnv_strv(&h, &cfg->groups[i].members);
		fnv_strv(&h, &cfg->groups[i].addresses);
	}
	for (size_t i = 0; i < cfg->nrules; i++) {
		const struct rule *r = &cfg->rules[i];

		fnv(&h, &r->id, sizeof r->id);
		fnv(&h, &r->section, sizeof r->section);
		fnv(&h, &r->action, sizeof r->action);
		fnv(&h, &r->log, sizeof r->log);
		fnv(&h, &r->enabled, sizeof r->enabled);
		if (policy_rule_monitored(cfg, r))
			fnv(&h, "m", 1);
		fnv_strv(&h, &r->src);
		fnv_strv(&h, &r->dst);
		fnv_strv(&h, &r->services);
		fnv_strv(&h, &r->applied);
	}
	return h;
}

void compile_set_free(struct cset *s)
{
	free(s->name);
	strv_free(&s->decl);
	strv_free(&s->elems);
	free(s->comment);
}

void compile_chain_free(struct cchain *c)
{
	free(c->name);
	free(c->hook);
	free(c->device);
	strv_free(&c->rules);
	free(c->rule_ids);
	free(c->comment);
}

void compile_free(struct ruleset *rs)
{
	for (size_t i = 0; i < rs->nsets; i++)
		compile_set_free(&rs->sets[i]);
	free(rs->sets);
	for (size_t i = 0; i < rs->nchains; i++)
		compile_chain_free(&rs->chains[i]);
	free(rs->chains);
	strv_free(&rs->counters);
	strv_free(&rs->used_groups);
	strv_free(&rs->used_at);
	free(rs->header);
	memset(rs, 0, sizeof *rs);
}

/* ---- text ---------------------------------------------------------------- */

void compile_set_text(const struct cset *s, int with_elems,
                      struct strbuf *out)
{
	sb_addf(out, "\t%s %s {\n", s->kind == CSET_MAP ? "map" : "set", s->name);
	for (size_t i = 0; i < s->decl.n; i++)
		sb_addf(out, "\t\t%s\n", s->decl.v[i]);
	if (with_elems && s->elems.n) {
		sb_add(out, "\t\telements = { ");
		for (size_t i = 0; i < s->elems.n; i++)
			sb_addf(out, "%s%s", i ? ",\n\t\t\t     " : "", s->elems.v[i]);
		sb_add(out, " }\n");
	}
	sb_add(out, "\t}\n");
}

void compile_chain_head(const struct cchain *c, struct strbuf *out)
{
	sb_addf(out, "\tchain %s {\n", c->name);
	if (c->hook)
		sb_addf(out, "\t\ttype filter hook %s device \"%s\" priority filter; policy accept;\n",
		        c->hook, c->device);
}

void compile_text(const struct ruleset *rs, struct strbuf *out)
{
	sb_add(out, rs->header ? rs->header : "");
	sb_add(out, "table netdev " COMPILE_TABLE " {\n");
	/* nft lists objects in this order (counters, sets and maps, chains);
	 * keeping it makes the text read like `nft list table`. */
	for (size_t i = 0; i < rs->counters.n; i++)
		sb_addf(out, "\tcounter %s {\n\t}\n\n", rs->counters.v[i]);
	for (size_t i = 0; i < rs->nsets; i++) {
		if (rs->sets[i].comment)
			sb_addf(out, "\t# %s\n", rs->sets[i].comment);
		compile_set_text(&rs->sets[i], 1, out);
		sb_add(out, "\n");
	}
	for (size_t i = 0; i < rs->nchains; i++) {
		const struct cchain *c = &rs->chains[i];

		if (c->comment)
			sb_addf(out, "\t# %s\n", c->comment);
		compile_chain_head(c, out);
		for (size_t k = 0; k < c->rules.n; k++)
			sb_addf(out, "\t\t%s\n", c->rules.v[k]);
		sb_add(out, "\t}\n");
		if (i + 1 < rs->nchains)
			sb_add(out, "\n");
	}
	sb_add(out, "}\n");
}

const struct cset *compile_find_set(const struct ruleset *rs,
                                    const char *name)
{
	for (size_t i = 0; i < rs->nsets; i++)
		if (!strcmp(rs->sets[i].name, name))
			return &rs->sets[i];
	return NULL;
}

const struct cchain *compile_find_chain(const struct ruleset *rs,
                                        const char *name)
{
	for (size_t i = 0; i < rs->nchains; i++)
		if (!strcmp(rs->chains[i].name, name))
			return &rs->chains[i];
	return NULL;
}
