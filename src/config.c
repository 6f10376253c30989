/*
 * config.c - the config as text (policy layer): the commands that rebuild
 * a config (`show config`), and the line diff between two configs
 * (`show diff`).
 *
 * One object per line in a fixed order: services by name, groups with the
 * groups they refer to first, rules by section and position, then settings
 * that differ from revision 0.  Lines carry no position, so moving or adding
 * one rule changes one line of the diff, and replaying the lines in order
 * recreates the positions.  Words go through sb_add_word(), so whatever a
 * name, glob or comment holds, the tokenizer gives it back unchanged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead.h"
#include "playbook.h"
#include "policy.h"
#include "policy_internal.h"
#include "quarantine.h"
#include "store.h"
#include "address.h"
#include "util.h"

/* " KEYWORD a,b" for a non-empty list.  The commas stay bare: the
 * command language splits lists on them; names, addresses and ports never
 * need quotes, but each item is guarded anyway. */
static void add_list(struct strbuf *sb, const char *keyword,
                     const struct strv *sv)
{
	if (!sv->n)
		return;
	sb_addf(sb, " %s ", keyword);
	for (size_t i = 0; i < sv->n; i++) {
		if (i)
			sb_addc(sb, ',');
		sb_add_word(sb, sv->v[i]);
	}
}

static void service_line(const struct service *s, struct strv *lines)
{
	struct strbuf sb = STRBUF_INIT;

	sb_add(&sb, "add service ");
	sb_add_word(&sb, s->name);
	for (size_t i = 0; i < s->ne; i++) {
		sb_addf(&sb, " %s", s->e[i].proto);
		/* Canonical ports ("80,8000-8080") or an icmp type:
		 * digits, letters, '-' and ',' only. */
		if (s->e[i].ports[0])
			sb_addf(&sb, " %s", s->e[i].ports);
	}
	strv_push(lines, sb_str(&sb));
	sb_free(&sb);
}

static int cmp_workload_name(const void *key, const void *elem)
{
	return strcmp(key, ((const struct workload *)elem)->name);
}

/*
 * With @inv (the text to replay), static members that are no longer in the
 * inventory are left out, with a comment saying so: `add group` would
 * refuse them, and they match nothing anyway.  Without @inv (the lines the
 * diff compares) the group is printed as stored.
 */
static void group_line(const struct group *g, const struct inventory *inv,
                       struct strv *lines)
{
	struct strbuf sb = STRBUF_INIT;
	struct strv members = STRV_INIT;

	for (size_t i = 0; i < g->members.n; i++) {
		const char *m = g->members.v[i];

		if (!inv || (inv->n && bsearch(m, inv->w, inv->n,
		                                sizeof *inv->w,
		                                cmp_workload_name))) {
			strv_push(&members, m);
			continue;
		}
		sb_add(&sb, "# group ");
		sb_add_word(&sb, g->name);
		sb_add(&sb, ": member ");
		sb_add_word(&sb, m);
		sb_add(&sb, " left out: no such workload");
		strv_push(lines, sb_str(&sb));
		sb_reset(&sb);
	}
	sb_add(&sb, "add group ");
	sb_add_word(&sb, g->name);
	/* The canonical expression is already in command-language form. */
	if (g->match)
		sb_addf(&sb, " match %s", g->match);
	add_list(&sb, "member", &members);
	add_list(&sb, "address", &g->addresses);
	strv_push(lines, sb_str(&sb));
	if (g->monitor) {
		sb_reset(&sb);
		sb_add(&sb, "set group ");
		sb_add_word(&sb, g->name);
		sb_add(&sb, " monitor");
		strv_push(lines, sb_str(&sb));
	}
	strv_free(&members);
	sb_free(&sb);
}

/* Referenced groups first (depth first), else by name.  @state: 0 new,
 * 1 on the path (a cycle, refused on entry, is cut here), 2 printed. */
static void group_visit(const struct config *cfg, size_t gi,
                        const struct inventory *inv, unsigned char *state,
                        struct strv *lines)
{
	struct strv refs = STRV_INIT;

	if (state[gi])
		return;
	state[gi] = 1;
	policy_group_refs(&cfg->groups[gi], &refs);
	for (size_t i = 0; i < refs.n; i++) {
		const struct group *r = policy_config_group(cfg, refs.v[i]);

		if (r)
			group_visit(cfg, (size_t)(r - cfg->groups), inv,
			            state, lines);
	}
	strv_free(&refs);
	group_line(&cfg->groups[gi], inv, lines);
	state[gi] = 2;
}

static void rule_line(const struct rule *r, struct strv *lines)
{
	struct strbuf sb = STRBUF_INIT;
	struct strv any = STRV_INIT;

	strv_push(&any, "any");
	sb_addf(&sb, "add rule %s %s", policy_section_name(r->section),
	        policy_action_name(r->action));
	add_list(&sb, "from", r->src.n ? &r->src : &any);
	add_list(&sb, "to", r->dst.n ? &r->dst : &any);
	add_list(&sb, "service", &r->services);
	add_list(&sb, "applied-to", &r->applied);
	if (r->log)
		sb_add(&sb, " log");
	if (!r->enabled)
		sb_add(&sb, " disabled");
	if (r->monitor)
		sb_add(&sb, " monitor");
	if (r->comment) {
		sb_add(&sb, " comment ");
		sb_add_word(&sb, r->comment);
	}
	sb_addf(&sb, " id %lld", (long long)r->id);
	strv_push(lines, sb_str(&sb));
	strv_free(&any);
	sb_free(&sb);
}

static void timeout_line(const char *proto, int64_t secs, int64_t def,
                         struct strv *lines)
{
	char buf[32], line[64];

	if (secs == def)
		return;
	util_duration_format(secs, buf, sizeof buf);
	snprintf(line, sizeof line, "set timeout %s %s", proto, buf);
	strv_push(lines, line);
}

/* `set quarantine allow GROUP service SVC,...`, one per group. */
static void quarantine_lines(const struct settings *s, struct strv *lines)
{
	struct strv g = STRV_INIT, sv = STRV_INIT;

	policy_quarantine_allow_parse(s->quarantine_allow, &g, &sv);
	for (size_t i = 0; i < g.n; i++) {
		struct strbuf sb = STRBUF_INIT;

		sb_add(&sb, "set quarantine allow ");
		sb_add_word(&sb, g.v[i]);
		sb_addf(&sb, " service %s", sv.v[i]);
		strv_push(lines, sb_str(&sb));
		sb_free(&sb);
	}
	strv_free(&g);
	strv_free(&sv);
}

/* The policy lines of @cfg; @inv: see group_line(). */
static void config_lines(const struct config *cfg,
                         const struct inventory *inv, struct strv *lines)
{
	const struct settings *d = &policy_settings_default;
	const struct settings *s = &cfg->settings;
	unsigned char *state;

	for (size_t i = 0; i < cfg->nsvcs; i++)
		if (!cfg->svcs[i].builtin)
			service_line(&cfg->svcs[i], lines);
	state = xcalloc(cfg->ngroups + 1, 1);
	for (size_t i = 0; i < cfg->ngroups; i++)
		group_visit(cfg, i, inv, state, lines);
	free(state);
	for (size_t i = 0; i < cfg->nrules; i++)
		rule_line(&cfg->rules[i], lines);
	if (s->default_action != d->default_action ||
	    s->default_monitor != d->default_monitor) {
		char line[64];

		snprintf(line, sizeof line, "set default %s%s",
		         policy_action_name(s->default_action),
		         s->default_monitor &&
		         s->default_action == ACTION_DROP ? " monitor" : "");
		strv_push(lines, line);
	}
	timeout_line("tcp", s->timeout_tcp, d->timeout_tcp, lines);
	timeout_line("udp", s->timeout_udp, d->timeout_udp, lines);
	timeout_line("icmp", s->timeout_icmp, d->timeout_icmp, lines);
	if (s->comment_required != d->comment_required)
		strv_push(lines, s->comment_required ?
		          "set commit-comment required" :
		          "set commit-comment optional");
	quarantine_lines(s, lines);
}

void policy_config_lines(const struct config *cfg, struct strv *lines)
{
	config_lines(cfg, NULL, lines);
}

/* The hand-added (static) workloads with their NICs and tags: discovered
 * ones come back from libvirt by themselves. */
static void inventory_text(const struct inventory *inv, struct strbuf *out)
{
	for (size_t i = 0; i < inv->n; i++) {
		const struct workload *w = &inv->w[i];

		if (strcmp(w->source, "static") != 0)
			continue;
		sb_add(out, "add workload ");
		sb_add_word(out, w->name);
		sb_addf(out, " kind %s", w->kind);
		if (w->os[0]) {
			sb_add(out, " os ");
			sb_add_word(out, w->os);
		}
		if (w->netns[0]) {
			sb_add(out, " netns ");
			sb_add_word(out, w->netns);
		}
		if (w->host[0]) {
			sb_add(out, " host ");
			sb_add_word(out, w->host);
		}
		if (w->uuid[0]) {
			sb_add(out, " uuid ");
			sb_add_word(out, w->uuid);
		}
		sb_addc(out, '\n');
		for (size_t k = 0; k < w->nnics; k++) {
			const struct nic *n = &w->nics[k];
			struct strbuf line = STRBUF_INIT;

			sb_add(&line, "add nic ");
			sb_add_word(&line, w->name);
			sb_addc(&line, ' ');
			sb_add_word(&line, n->ifname);
			if (n->mac[0])
				sb_addf(&line, " mac %s", n->mac);
			add_list(&line, "address", &n->addrs);
			sb_addf(out, "%s\n", sb_str(&line));
			sb_free(&line);
		}
		for (size_t k = 0; k < w->tags.n; k++) {
			sb_add(out, "add tag ");
			sb_add_word(out, w->name);
			sb_addc(out, ' ');
			sb_add_word(out, w->tags.v[k]);
			sb_addc(out, '\n');
		}
	}
}

int policy_config_text(struct bh *bh, enum config_which which,
                       struct strbuf *out)
{
	struct inventory inv;
	struct config cfg;
	struct strv lines = STRV_INIT;

	if (store_inventory_load(bh, &inv))
		return -1;
	if (policy_config_load(bh, which, &cfg)) {
		policy_inventory_free(&inv);
		return -1;
	}
	/* Found addresses that are not pinned are found again, not
	 * replayed as static ones; addressing modes follow the inventory
	 * (address.h). */
	if (policy_address_found_drop(bh, &inv)) {
		policy_config_free(&cfg);
		policy_inventory_free(&inv);
		return -1;
	}
	inventory_text(&inv, out);
	policy_addressing_text(bh, &inv, out);
	config_lines(&cfg, &inv, &lines);
	if (playbook_config_lines(bh, -1, which, &lines)) {
		strv_free(&lines);
		policy_config_free(&cfg);
		policy_inventory_free(&inv);
		return -1;
	}
	for (size_t i = 0; i < lines.n; i++)
		sb_addf(out, "%s\n", lines.v[i]);
	sb_add(out, "commit\n");
	strv_free(&lines);
	policy_config_free(&cfg);
	policy_inventory_free(&inv);
	return 0;
}

/* ---- diff ------------------------------------------------------------------ */
/* Above this many cells the LCS table is skipped: the middle part is shown
 * as all removed, then all added (still a true diff, only not minimal). */
#define DIFF_CELLS_MAX (16u * 1024 * 1024)

static void diff_line(struct strbuf *out, char sign, const char *line)
{
	sb_addf(out, "%c %s\n", sign, line);
}

/*
 * Lines of @a against @b: the common head and tail are skipped, the middle
 * is aligned on a longest common subsequence (O(n*m) time and memory, for
 * the few hundred lines an edit touches), removals before additions at
 * each point of difference.
 */
static void diff_lines(const struct strv *a, const struct strv *b,
                       struct strbuf *out)
{
	size_t head = 0, tail = 0, n, m;
	uint32_t *t;

	while (head < a->n && head < b->n &&
	       strcmp(a->v[head], b->v[head]) == 0)
		head++;
	while (tail < a->n - head && tail < b->n - head &&
	       strcmp(a->v[a->n - 1 - tail], b->v[b->n - 1 - tail]) == 0)
		tail++;
	n = a->n - head - tail;
	m = b->n - head - tail;
	if (n == 0 && m == 0)
		return;
	if ((n + 1) * (m + 1) > DIFF_CELLS_MAX) {
		for (size_t i = 0; i < n; i++)
			diff_line(out, '-', a->v[head + i]);
		for (size_t j = 0; j < m; j++)
			diff_line(out, '+', b->v[head + j]);
		return;
	}
	/* t[i][j]: LCS length of a[head+i..] and b[head+j..]. */
	t = xcalloc((n + 1) * (m + 1), sizeof *t);
#define T(i, j) t[(i) * (m + 1) + (j)]
	for (size_t i = n; i-- > 0;)
		for (size_t j = m; j-- > 0;) {
			if (strcmp(a->v[head + i], b->v[head + j]) == 0)
				T(i, j) = T(i + 1, j + 1) + 1;
			else
				T(i, j) = T(i + 1, j) > T(i, j + 1) ?
				          T(i + 1, j) : T(i, j + 1);
		}
	for (size_t i = 0, j = 0; i < n || j < m;) {
		if (i < n && j < m &&
		    strcmp(a->v[head + i], b->v[head + j]) == 0) {
			i++;
			j++;
		} else if (i < n && (j == m || T(i + 1, j) >= T(i, j + 1))) {
			diff_line(out, '-', a->v[head + i++]);
		} else {
			diff_line(out, '+', b->v[head + j++]);
		}
	}
#undef T
	free(t);
}

/* @rev -1: the running config (as @from) or the candidate view (as @to). */
static int diff_side(struct bh *bh, int64_t rev, enum config_which which,
                     struct strv *lines)
{
	struct config cfg;

	if (rev < 0 ? policy_config_load(bh, which, &cfg)
	            : policy_revision_load(bh, rev, &cfg))
		return -1;
	policy_config_lines(&cfg, lines);
	policy_config_free(&cfg);
	return playbook_config_lines(bh, rev, which, lines);
}

int policy_diff(struct bh *bh, int64_t from, int64_t to, struct strbuf *out)
{
	struct strv a = STRV_INIT, b = STRV_INIT;
	int rc = -1;

	if (diff_side(bh, from, CONFIG_RUNNING, &a) == 0 &&
	    diff_side(bh, to, CONFIG_CANDIDATE, &b) == 0) {
		diff_lines(&a, &b, out);
		rc = 0;
	}
	strv_free(&a);
	strv_free(&b);
	return rc;
}
