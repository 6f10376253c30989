/*
 * show.c - the text and JSON printers behind every `show` command (front
 * end, called from the grammar table in cmd.c).
 *
 * Each printer loads its objects through the policy layer, never the store,
 * and appends either a table / `key: value` lines or one JSON document to
 * the caller's buffer; the shapes are fixed by SPEC.md "Output (text)" and
 * "Output (JSON, --json)".  Tables size their columns to the widest cell,
 * put two blanks between columns and print an empty cell as "-", so every
 * row splits on blanks the same way.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flowlog.h"
#include "json.h"
#include "policy.h"
#include "quarantine.h"
#include "compile.h"
#include "nft.h"
#include "show.h"
#include "address.h"
#include "store.h"

/* ---- tables --------------------------------------------------------------- */

/*
 * Cells are collected row-major (the header is row 0) and laid out only when
 * the whole table is known.  A row may carry a note: a line printed under
 * it, starting at a chosen column (the audit log's failure messages).
 */
struct table {
	size_t ncols;
	struct strv cells;
	struct strv notes;   /* one per row, "" when none */
};

static void table_init(struct table *t, const char *const *header,
                       size_t ncols)
{
	memset(t, 0, sizeof *t);
	t->ncols = ncols;
	for (size_t i = 0; i < ncols; i++)
		strv_push(&t->cells, header[i]);
	strv_push(&t->notes, "");
}

/* Append the next cell; NULL or "" prints as "-".  A new row starts every
 * ncols cells. */
static void table_add(struct table *t, const char *cell)
{
	if (t->cells.n % t->ncols == 0)
		strv_push(&t->notes, "");
	strv_push(&t->cells, cell && *cell ? cell : "-");
}

static void table_addf(struct table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void table_addf(struct table *t, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	sb_vaddf(&sb, fmt, ap);
	va_end(ap);
	table_add(t, sb_str(&sb));
	sb_free(&sb);
}

static void table_add_list(struct table *t, const struct strv *sv,
                           const char *empty)
{
	struct strbuf sb = STRBUF_INIT;

	strv_join(&sb, sv, ",");
	table_add(t, sv->n ? sb_str(&sb) : empty);
	sb_free(&sb);
}

/* A note under the row being filled. */
static void table_note(struct table *t, const char *note)
{
	size_t row = t->notes.n - 1;

	free(t->notes.v[row]);
	t->notes.v[row] = xstrdup(note ? note : "");
}

/* Display width: UTF-8 continuation bytes take no column. */
static size_t width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

/* Lay the table out into @out; notes start under column @note_col. */
static void table_print(struct table *t, struct strbuf *out,
                        size_t note_col)
{
	size_t nrows = t->cells.n / t->ncols;
	size_t *w = xcalloc(t->ncols, sizeof *w);
	size_t indent = 0;

	for (size_t i = 0; i < t->cells.n; i++) {
		size_t cw = width(t->cells.v[i]);
		if (cw > w[i % t->ncols])
			w[i % t->ncols] = cw;
	}
	for (size_t c = 0; c < note_col && c < t->ncols; c++)
		indent += w[c] + 2;
	for (size_t r = 0; r < nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *cell = t->cells.v[r * t->ncols + c];
			sb_add(out, cell);
			if (c + 1 == t->ncols)
				break;
			for (size_t k = width(cell); k < w[c] + 2; k++)
				sb_addc(out, ' ');
		}
		sb_addc(out, '\n');
		if (r < t->notes.n && *t->notes.v[r])
			sb_addf(out, "%*s%s\n", (int)indent, "", t->notes.v[r]);
	}
	free(w);
	strv_free(&t->cells);
	strv_free(&t->notes);
}

/* ---- small formatting helpers ------------------------------------------- */

/* "2026-11-27T09:13:22": the JSON form of a time. */
static void iso_time(int64_t ms, char *buf, size_t len)
{
	util_time_format(ms, buf, len);
	for (char *p = buf; *p; p++)
		if (*p == ' ')
			*p = 'T';
}

static void kv(struct strbuf *out, const char *key, const char *value)
{
	sb_addf(out, "%s: %s\n", key, value && *value ? value : "-");
}

static void kv_list(struct strbuf *out, const char *key,
                    const struct strv *sv)
{
	sb_addf(out, "%s: ", key);
	if (sv->n)
		strv_join(out, sv, ",");
	else
		sb_add(out, "-");
	sb_addc(out, '\n');
}

/* The user-facing form of a service: "udp 53 tcp 53". */
static void service_definition(const struct service *s, struct strbuf *sb)
{
	for (size_t i = 0; i < s->ne; i++) {
		if (i)
			sb_addc(sb, ' ');
		sb_add(sb, s->e[i].proto);
		if (s->e[i].ports[0])
			sb_addf(sb, " %s", s->e[i].ports);
	}
}

static void json_end_doc(struct json *j, struct strbuf *out)
{
	json_obj_end(j);
	sb_addc(out, '\n');
}

/* ---- workloads ---------------------------------------------------------- */

/* Where each bound address came from (address.h), for the views below. */
struct sources {
	struct bound_addr *b;
	size_t n;
};

static const struct bound_addr *source_of(const struct sources *s,
                                          const char *ifname,
                                          const char *addr)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (strcmp(s->b[i].addr, addr) == 0 &&
		    strcmp(s->b[i].ifname, ifname) == 0)
			return &s->b[i];
	return NULL;
}

/* "10.0.0.5", or "10.0.0.5(learned)", "10.0.0.5(learned,pinned)". */
static void addr_label(const struct sources *s, const char *ifname,
                       const char *addr, char *buf, size_t len)
{
	const struct bound_addr *b = source_of(s, ifname, addr);

	if (!b || strcmp(b->origin, "static") == 0)
		snprintf(buf, len, "%s", addr);
	else
		snprintf(buf, len, "%s(%s%s)", addr, b->origin,
		         b->pinned ? ",pinned" : "");
}

static void json_bound(struct json *j, const struct sources *s,
                       const struct nic *n)
{
	json_key(j, "bound");
	json_arr_begin(j);
	for (size_t a = 0; a < n->addrs.n; a++) {
		const struct bound_addr *b = source_of(s, n->ifname,
		                                       n->addrs.v[a]);

		json_obj_begin(j);
		json_kstr(j, "address", n->addrs.v[a]);
		json_kstr(j, "origin", b ? b->origin : "static");
		json_key(j, "pinned");
		json_bool(j, b && b->pinned);
		json_key(j, "since_ms");
		json_int(j, b ? b->since_ms : 0);
		json_obj_end(j);
	}
	json_arr_end(j);
}

static void json_workload(struct json *j, const struct workload *w,
                          const struct sources *s)
{
	json_obj_begin(j);
	json_kstr(j, "name", w->name);
	json_kstr(j, "kind", w->kind);
	json_kstr(j, "state", w->state);
	json_kstr(j, "uuid", w->uuid);
	json_kstr(j, "os", w->os);
	json_kstr(j, "host", w->host);
	json_kstr(j, "netns", w->netns);
	json_kstr(j, "source", w->source);
	json_kbool(j, "quarantined", w->quarantined);
	json_key(j, "tags");
	json_strv(j, &w->tags);
	json_key(j, "groups");
	json_strv(j, &w->groups);
	json_key(j, "nics");
	json_arr_begin(j);
	for (size_t i = 0; i < w->nnics; i++) {
		json_obj_begin(j);
		json_kstr(j, "ifname", w->nics[i].ifname);
		json_kstr(j, "mac", w->nics[i].mac);
		json_key(j, "addresses");
		json_strv(j, &w->nics[i].addrs);
		json_bound(j, s, &w->nics[i]);
		json_obj_end(j);
	}
	json_arr_end(j);
	json_kstr(j, "addressing", policy_addressing_name(w->addressing));
	json_key(j, "addressing_default");
	json_bool(j, !w->addressing_own);
	json_obj_end(j);
}

/* show workloads: NAME KIND STATE NICS ADDRESSES TAGS GROUPS. */
int show_workloads(struct bh *bh, const struct cmd_opts *o,
                   struct strbuf *out)
{
	static const char *const head[] = { "NAME", "KIND", "STATE", "NICS",
		"ADDRESSES", "TAGS", "GROUPS" };
	struct inventory inv = { 0 };
	struct sources src = { NULL, 0 };
	struct table t;
	struct json j;

	if (policy_workload_list(bh, &inv) < 0)
		return -1;
	if (policy_address_list(bh, NULL, &src.b, &src.n) < 0) {
		policy_inventory_free(&inv);
		return -1;
	}
	if (o->json) {
		json_init(&j, out);
		json_obj_begin(&j);
		json_key(&j, "workloads");
		json_arr_begin(&j);
		for (size_t i = 0; i < inv.n; i++)
			json_workload(&j, &inv.w[i], &src);
		json_arr_end(&j);
		json_end_doc(&j, out);
		policy_inventory_free(&inv);
		free(src.b);
		return 0;
	}
	if (inv.n == 0) {
		sb_add(out, "no workloads\n");
		policy_inventory_free(&inv);
		free(src.b);
		return 0;
	}
	table_init(&t, head, 7);
	for (size_t i = 0; i < inv.n; i++) {
		const struct workload *w = &inv.w[i];
		struct strv nics = STRV_INIT, addrs = STRV_INIT;

		for (size_t k = 0; k < w->nnics; k++) {
			strv_push(&nics, w->nics[k].ifname);
			for (size_t a = 0; a < w->nics[k].addrs.n; a++) {
				char lab[96];

				addr_label(&src, w->nics[k].ifname,
				           w->nics[k].addrs.v[a], lab, sizeof lab);
				strv_push(&addrs, lab);
			}
		}
		table_add(&t, w->name);
		table_add(&t, w->kind);
		if (w->quarantined) {
			char st[64];

			snprintf(st, sizeof st, "%s QUARANTINED", w->state);
			table_add(&t, st);
		} else {
			table_add(&t, w->state);
		}
		table_add_list(&t, &nics, "-");
		table_add_list(&t, &addrs, "-");
		table_add_list(&t, &w->tags, "-");
		table_add_list(&t, &w->groups, "-");
		strv_free(&nics);
		strv_free(&addrs);
	}
	table_print(&t, out, 0);
	policy_inventory_free(&inv);
	free(src.b);
	return 0;
}

/* The kernel's view of a NIC's interface as the daemon's links service
 * last recorded it (links.c); nothing when it never saw the NIC. */
static void link_line(struct bh *bh, struct strbuf *out, const char *ifname)
{
	struct nic_link l;
	char when[32];

	if (store_link_get(bh, ifname, &l) != 1)
		return;
	util_time_format(l.changed_ms, when, sizeof when);
	if (l.present)
		sb_addf(out, "link %s  present  ifindex %d  rebinds %" PRId64
		        "  since %s\n", ifname, l.ifindex, l.rebinds, when);
	else
		sb_addf(out, "link %s  absent  rebinds %" PRId64 "  since %s\n",
		        ifname, l.rebinds, when);
}

/* "links": [{ifname, present, ifindex, mac, rebinds, changed_ms}] of the
 * NICs the links service has seen. */
static void json_links(struct bh *bh, struct json *j, const struct workload *w)
{
	json_key(j, "links");
	json_arr_begin(j);
	for (size_t i = 0; i < w->nnics; i++) {
		struct nic_link l;

		if (store_link_get(bh, w->nics[i].ifname, &l) != 1)
			continue;
		json_obj_begin(j);
		json_kstr(j, "ifname", l.ifname);
		json_kbool(j, "present", l.present);
		json_kint(j, "ifindex", l.ifindex);
		json_kstr(j, "mac", l.mac);
		json_kint(j, "rebinds", l.rebinds);
		json_kint(j, "changed_ms", l.changed_ms);
		json_obj_end(j);
	}
	json_arr_end(j);
}

/* show workload NAME: key: value lines, then one line per NIC. */
int show_workload(struct bh *bh, const struct cmd_opts *o, const char *name,
                  struct strbuf *out)
{
	struct workload w;
	struct sources src = { NULL, 0 };
	struct json j;

	memset(&w, 0, sizeof w);
	if (policy_workload_get(bh, name, &w) < 0)
		return -1;
	if (policy_address_list(bh, name, &src.b, &src.n) < 0) {
		policy_workload_free(&w);
		return -1;
	}
	if (o->json) {
		json_init(&j, out);
		json_obj_begin(&j);
		json_key(&j, "workload");
		json_workload(&j, &w, &src);
		json_links(bh, &j, &w);
		json_end_doc(&j, out);
		policy_workload_free(&w);
		free(src.b);
		return 0;
	}
	kv(out, "name", w.name);
	kv(out, "kind", w.kind);
	kv(out, "uuid", w.uuid);
	kv(out, "os", w.os);
	if (w.quarantined)
		kv(out, "quarantined", "yes ('show quarantine' says why)");
	kv(out, "host", w.host);
	kv(out, "netns", w.netns);
	kv(out, "state", w.state);
	kv(out, "source", w.source);
	kv_list(out, "tags", &w.tags);
	kv_list(out, "groups", &w.groups);
	for (size_t i = 0; i < w.nnics; i++) {
		const struct nic *n = &w.nics[i];
		sb_addf(out, "nic %s  mac %s  address ", n->ifname,
		        n->mac[0] ? n->mac : "-");
		if (n->addrs.n)
			strv_join(out, &n->addrs, ",");
		else
			sb_add(out, "-");
		sb_addc(out, '\n');
		link_line(bh, out, n->ifname);
	}
	/* Where the addresses came from (address.h), after the NIC lines
	 * so the lines above keep their form. */
	sb_addf(out, "addressing: %s%s\n",
	        policy_addressing_name(w.addressing),
	        w.addressing_own ? "" : " (the default)");
	for (size_t i = 0; i < src.n; i++) {
		char when[64] = "-";

		if (src.b[i].since_ms)
			util_time_format(src.b[i].since_ms, when, sizeof when);
		sb_addf(out, "address %s  nic %s  %s%s  since %s\n",
		        src.b[i].addr, src.b[i].ifname, src.b[i].origin,
		        src.b[i].pinned ? " pinned" : "", when);
	}
	for (size_t i = 0; i < w.nnics; i++)
		if (policy_nic_learning(&w, &w.nics[i], 4) ||
		    policy_nic_learning(&w, &w.nics[i], 6))
			sb_addf(out, "learning: nic %s%s%s\n", w.nics[i].ifname,
			        policy_nic_learning(&w, &w.nics[i], 4) ?
			        " ipv4" : "",
			        policy_nic_learning(&w, &w.nics[i], 6) ?
			        " ipv6" : "");
	policy_workload_free(&w);
	free(src.b);
	return 0;
}

/* ---- groups ------------------------------------------------------------- */

/* The candidate view with every group's effective members computed. */
static int load_with_membership(struct bh *bh, struct config *cfg)
{
	struct inventory inv = { 0 };

	memset(cfg, 0, sizeof *cfg);
	if (policy_config_load(bh, CONFIG_CANDIDATE, cfg) < 0)
		return -1;
	if (policy_inventory_load(bh, &inv) < 0) {
		policy_config_free(cfg);
		return -1;
	}
	policy_membership(cfg, &inv);
	policy_inventory_free(&inv);
	return 0;
}

static void json_group(struct json *j, const struct group *g)
{
	json_kstr(j, "name", g->name);
	json_kstr(j, "match", g->match);
	json_key(j, "members");
	json_strv(j, &g->members);
	json_key(j, "addresses");
	json_strv(j, &g->addresses);
	json_key(j, "effective_members");
	json_strv(j, &g->eff_workloads);
	json_key(j, "effective_addresses");
	json_strv(j, &g->eff_addrs);
}

/* show groups: NAME MATCH MEMBERS ADDRESSES (effective members). */
int show_groups(struct bh *bh, const struct cmd_opts *o, struct strbuf *out)
{
	static const char *const head[] = { "NAME", "MATCH", "MEMBERS",
		"ADDRESSES" };
	struct config cfg;
	struct table t;
	struct json j;

	if (load_with_membership(bh, &cfg) < 0)
		return -1;
	if (o->json) {
		json_init(&j, out);
		json_obj_begin(&j);
		json_key(&j, "groups");
		json_arr_begin(&j);
		for (size_t i = 0; i < cfg.ngroups; i++) {
			json_obj_begin(&j);
			json_group(&j, &cfg.groups[i]);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_end_doc(&j, out);
	} else if (cfg.ngroups == 0) {
		sb_add(out, "no groups\n");
	} else {
		table_init(&t, head, 4);
		for (size_t i = 0; i < cfg.ngroups; i++) {
			const struct group *g = &cfg.groups[i];
			table_add(&t, g->name);
			table_add(&t, g->match);
			table_add_list(&t, &g->eff_workloads, "-");
			table_add_list(&t, &g->eff_addrs, "-");
		}
		table_print(&t, out, 0);
	}
	policy_config_free(&cfg);
	return 0;
}

/* `group "dbs" does not exist (did you mean "db"?)` over @cfg's groups. */
static int no_group(struct bh *bh, const struct config *cfg,
                    const char *name)
{
	struct strv names = STRV_INIT;
	const char *s;

	for (size_t i = 0; i < cfg->ngroups; i++)
		strv_push(&names, cfg->groups[i].name);
	s = util_suggest_strv(name, &names);
	bh_error(bh, "group \"%s\" does not exist%s%s%s", name,
	         s ? " (did you mean \"" : "", s ? s : "", s ? "\"?)" : "");
	strv_free(&names);
	return -1;
}

/* show group NAME: static and effective members, and the rules using it. */
int show_group(struct bh *bh, const struct cmd_opts *o, const char *name,
               struct strbuf *out)
{
	struct config cfg;
	const struct group *g;
	struct strv used = STRV_INIT;
	struct json j;

	if (load_with_membership(bh, &cfg) < 0)
		return -1;
	g = policy_config_group(&cfg, name);
	if (!g) {
		no_group(bh, &cfg, name);
		policy_config_free(&cfg);
		return -1;
	}
	for (size_t i = 0; i < cfg.nrules; i++) {
		const struct rule *r = &cfg.rules[i];
		if (strv_contains(&r->src, name) ||
		    strv_contains(&r->dst, name) ||
		    strv_contains(&r->applied, name)) {
			char id[24];
			snprintf(id, sizeof id, "%" PRId64, r->id);
			strv_push(&used, id);
		}
	}
	if (o->json) {
		json_init(&j, out);
		json_obj_begin(&j);
		json_key(&j, "group");
		json_obj_begin(&j);
		json_group(&j, g);
		json_key(&j, "used_by");
		json_arr_begin(&j);
		for (size_t i = 0; i < used.n; i++)
			json_int(&j, strtoll(used.v[i], NULL, 10));
		json_arr_end(&j);
		json_obj_end(&j);
		json_end_doc(&j, out);
	} else {
		kv(out, "name", g->name);
		kv(out, "match", g->match);
		kv_list(out, "members", &g->members);
		kv_list(out, "addresses", &g->addresses);
		kv_list(out, "effective members", &g->eff_workloads);
		kv_list(out, "effective addresses", &g->eff_addrs);
		kv_list(out, "used by rules", &used);
	}
	strv_free(&used);
	policy_config_free(&cfg);
	return 0;
}

/* ---- services ----------------------------------------------------------- */

/* show services: NAME DEFINITION BUILTIN. */
int show_services(struct bh *bh, const struct cmd_opts *o,
                  struct strbuf *out)
{
	static const char *const head[] = { "NAME", "DEFINITION", "BUILTIN" };
	struct config cfg;
	struct table t;
	struct json j;

	memset(&cfg, 0, sizeof cfg);
	if (policy_config_load(bh, CONFIG_CANDIDATE, &cfg) < 0)
		return -1;
	if (o->json) {
		json_init(&j, out);
		json_obj_begin(&j);
		json_key(&j, "services");
		json_arr_begin(&j);
		for (size_t i = 0; i < cfg.nsvcs; i++) {
			const struct service *s = &cfg.svcs[i];
			json_obj_begin(&j);
			json_kstr(&j, "name", s->name);
			json_kbool(&j, "builtin", s->builtin);
			json_key(&j, "entries");
			json_arr_begin(&j);
			for (size_t k = 0; k < s->ne; k++) {
				json_obj_begin(&j);
				json_kstr(&j, "proto", s->e[k].proto);
				json_kstr(&j, "ports", s->e[k].ports);
				json_obj_end(&j);
			}
			json_arr_end(&j);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_end_doc(&j, out);
	} else if (cfg.nsvcs == 0) {
		sb_add(out, "no services\n");
	} else {
		table_init(&t, head, 3);
		for (size_t i = 0; i < cfg.nsvcs; i++) {
			struct strbuf def = STRBUF_INIT;
			service_definition(&cfg.svcs[i], &def);
			table_add(&t, cfg.svcs[i].name);
			table_add(&t, sb_str(&def));
			table_add(&t, cfg.svcs[i].builtin ? "yes" : "no");
			sb_free(&def);
		}
		table_print(&t, out, 0);
	}
	policy_config_free(&cfg);
	return 0;
}

/* ---- rules -------------------------------------------------------------- */

static void json_list_key(struct json *j, const char *key,
                          const struct strv *sv)
{
	json_key(j, key);
	json_strv(j, sv);
}

/* The FLAGS column: log, disabled, monitor (the rule's own flag) or
 * monitor:G (group G monitors the rules applied to it). */
static void rule_flags(const struct config *cfg, const struct rule *r,
                       struct strbuf *sb)
{
	if (r->log)
		sb_add(sb, "log");
	if (!r->enabled)
		sb_addf(sb, "%sdisabled", sb->len ? "," : "");
	if (r->monitor) {
		sb_addf(sb, "%smonitor", sb->len ? "," : "");
	} else {
		for (size_t i = 0; i < r->applied.n; i++) {
			const struct group *g =
				policy_config_group(cfg, r->applied.v[i]);

			if (g && g->monitor) {
				sb_addf(sb, "%smonitor:%s", sb->len ? "," : "",
				        g->name);
				break;
			}
		}
	}
}

/* show rules: every section in evaluation order, then the default. */
int show_rules(struct bh *bh, const struct cmd_opts *o, struct strbuf *out)
{
	static const char *const head[] = { "ID", "SECTION", "POS", "ACTION",
		"FROM", "TO", "SERVICES", "APPLIED-TO", "FLAGS", "COMMENT" };
	struct config cfg;
	const char *dflt;
	struct table t;
	struct json j;

	memset(&cfg, 0, sizeof cfg);
	if (policy_config_load(bh, CONFIG_CANDIDATE, &cfg) < 0)
		return -1;
	dflt = policy_action_name(cfg.settings.default_action);
	if (o->json) {
		json_init(&j, out);
		json_obj_begin(&j);
		json_kstr(&j, "default", dflt);
		json_kbool(&j, "default_monitor",
		           cfg.settings.default_monitor &&
		           cfg.settings.default_action == ACTION_DROP);
		json_key(&j, "rules");
		json_arr_begin(&j);
		for (size_t i = 0; i < cfg.nrules; i++) {
			const struct rule *r = &cfg.rules[i];
			json_obj_begin(&j);
			json_kint(&j, "id", r->id);
			json_kstr(&j, "section", policy_section_name(r->section));
			json_kint(&j, "position", r->position);
			json_kstr(&j, "action", policy_action_name(r->action));
			json_list_key(&j, "from", &r->src);
			json_list_key(&j, "to", &r->dst);
			json_list_key(&j, "services", &r->services);
			json_list_key(&j, "applied_to", &r->applied);
			json_kbool(&j, "log", r->log);
			json_kbool(&j, "enabled", r->enabled);
			json_kbool(&j, "monitor", r->monitor);
			json_kbool(&j, "monitored",
			           policy_rule_monitored(&cfg, r));
			json_kstr(&j, "comment", r->comment);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_end_doc(&j, out);
		policy_config_free(&cfg);
		return 0;
	}
	if (cfg.nrules == 0) {
		sb_add(out, "no rules\n");
	} else {
		table_init(&t, head, 10);
		for (size_t i = 0; i < cfg.nrules; i++) {
			const struct rule *r = &cfg.rules[i];
			table_addf(&t, "%" PRId64, r->id);
			table_add(&t, policy_section_name(r->section));
			table_addf(&t, "%d", r->position);
			table_add(&t, policy_action_name(r->action));
			table_add_list(&t, &r->src, "any");
			table_add_list(&t, &r->dst, "any");
			table_add_list(&t, &r->services, "any");
			table_add_list(&t, &r->applied, "any");
			{
				struct strbuf fl = STRBUF_INIT;

				rule_flags(&cfg, r, &fl);
				table_add(&t, sb_str(&fl));
				sb_free(&fl);
			}
			table_add(&t, r->comment);
		}
		table_print(&t, out, 0);
	}
	sb_addf(out, "default: %s%s\n", dflt,
	        cfg.settings.default_monitor &&
	        cfg.settings.default_action == ACTION_DROP ?
	        " (monitor: logged and counted, not dropped)" : "");
	policy_config_free(&cfg);
	return 0;
}

/* ---- config, diff ------------------------------------------------------- */

/* show config [candidate]: the commands that rebuild it. */
int show_config(struct bh *bh, const struct cmd_opts *o, int candidate,
                struct strbuf *out)
{
	struct strbuf text = STRBUF_INIT;
	struct json j;

	if (policy_config_text(bh, candidate ? CONFIG_CANDIDATE :
	                       CONFIG_RUNNING, &text) < 0) {
		sb_free(&text);
		return -1;
	}
	if (o->json) {
		json_init(&j, out);
		json_obj_begin(&j);
		json_kstr(&j, "config", sb_str(&text));
		json_end_doc(&j, out);
	} else {
		sb_add(out, sb_str(&text));
		if (text.len && text.s[text.len - 1] != '\n')
			sb_addc(out, '\n');
	}
	sb_free(&text);
	return 0;
}

/* show diff: "- line" / "+ line", or "no changes". */
int show_diff(struct bh *bh, const struct cmd_opts *o, int64_t from,
              int64_t to, struct strbuf *out)
{
	struct strbuf diff = STRBUF_INIT;
	struct json j;

	if (policy_diff(bh, from, to, &diff) < 0) {
		sb_free(&diff);
		return -1;
	}
	if (o->json) {
		const char *p = sb_str(&diff);
		json_init(&j, out);
		json_obj_begin(&j);
		json_key(&j, "diff");
		json_arr_begin(&j);
		while (*p) {
			const char *nl = strchr(p, '\n');
			size_t len = nl ? (size_t)(nl - p) : strlen(p);
			char *line = xmalloc(len + 1);
			memcpy(line, p, len);
			line[len] = '\0';
			json_str(&j, line);
			free(line);
			p += len + (nl ? 1 : 0);
		}
		json_arr_end(&j);
		json_end_doc(&j, out);
	} else if (diff.len == 0) {
		sb_add(out, "no changes\n");
	} else {
		sb_add(out, sb_str(&diff));
		if (diff.s[diff.len - 1] != '\n')
			sb_addc(out, '\n');
	}
	sb_free(&diff);
	return 0;
}

/* ---- history, audit ----------------------------------------------------- */

/* show history: REV TIME AUTHOR CLIENT COMMENT, newest first. */
int show_history(struct bh *bh, const struct cmd_opts *o,
                 struct strbuf *out)
{
	static const char *const head[] = { "REV", "TIME", "AUTHOR", "CLIENT",
		"COMMENT" };
	struct revision *rv = NULL;
	size_t n = 0;
	char when[64], by[64];
	struct table t;
	struct json j;

	if (policy_history(bh, &rv, &n) < 0)
		return -1;
	if (o->json) {
		json_init(&j, out);
		json_obj_begin(&j);
		json_key(&j, "history");
		json_arr_begin(&j);
		for (size_t i = 0; i < n; i++) {
			json_obj_begin(&j);
			json_kint(&j, "revision", rv[i].rev);
			iso_time(rv[i].time_ms, when, sizeof when);
			json_kstr(&j, "time", when);
			json_kstr(&j, "author", rv[i].author);
			json_kstr(&j, "client", rv[i].client);
			json_kstr(&j, "comment", rv[i].comment);
			json_key(&j, "confirm_deadline");
			if (rv[i].confirm_deadline) {
				iso_time(rv[i].confirm_deadline, by, sizeof by);
				json_str(&j, by);
			} else {
				json_null(&j);
			}
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_end_doc(&j, out);
		policy_history_free(rv, n);
		return 0;
	}
	table_init(&t, head, 5);
	for (size_t i = 0; i < n; i++) {
		struct strbuf c = STRBUF_INIT;

		util_time_format(rv[i].time_ms, when, sizeof when);
		if (rv[i].comment)
			sb_add(&c, rv[i].comment);
		if (rv[i].confirm_deadline) {
			/* HH:MM out of "YYYY-MM-DD HH:MM:SS" */
			util_time_format(rv[i].confirm_deadline, by, sizeof by);
			sb_addf(&c, "%s(confirm by %.5s)", c.len ? " " : "",
			        strlen(by) > 11 ? by + 11 : by);
		}
		table_addf(&t, "%" PRId64, rv[i].rev);
		table_add(&t, when);
		table_add(&t, rv[i].author);
		table_add(&t, rv[i].client);
		table_add(&t, sb_str(&c));
		sb_free(&c);
	}
	table_print(&t, out, 0);
	policy_history_free(rv, n);
	return 0;
}

/* show audit: TIME USER CLIENT RESULT COMMAND, oldest first, each failure's
 * message under its command. */
int show_audit(struct bh *bh, const struct cmd_opts *o,
               const struct audit_filter *f, struct strbuf *out)
{
	static const char *const head[] = { "TIME", "USER", "CLIENT", "RESULT",
		"COMMAND" };
	struct audit_entry *a = NULL;
	size_t n = 0;
	char when[64];
	struct table t;
	struct json j;

	if (policy_audit_list(bh, f, &a, &n) < 0)
		return -1;
	if (o->json) {
		json_init(&j, out);
		json_obj_begin(&j);
		json_key(&j, "audit");
		json_arr_begin(&j);
		for (size_t i = 0; i < n; i++) {
			json_obj_begin(&j);
			json_kint(&j, "id", a[i].id);
			iso_time(a[i].time_ms, when, sizeof when);
			json_kstr(&j, "time", when);
			json_kstr(&j, "user", a[i].user);
			json_kstr(&j, "client", a[i].client);
			json_kstr(&j, "command", a[i].command);
			json_kbool(&j, "ok", a[i].ok);
			json_kstr(&j, "detail", a[i].detail);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_end_doc(&j, out);
	} else if (n == 0) {
		sb_add(out, "no audit records\n");
	} else {
		table_init(&t, head, 5);
		for (size_t i = 0; i < n; i++) {
			util_time_format(a[i].time_ms, when, sizeof when);
			table_add(&t, when);
			table_add(&t, a[i].user);
			table_add(&t, a[i].client);
			table_add(&t, a[i].ok ? "ok" : "failed");
			table_add(&t, a[i].command);
			if (!a[i].ok && a[i].detail)
				table_note(&t, a[i].detail);
		}
		table_print(&t, out, 4);
	}
	policy_audit_free(a, n);
	return 0;
}

/* ---- enforcement --------------------------------------------------------- */

/* The config to enforce and the inventory, membership worked out. */
static int load_enforced(struct bh *bh, int candidate, struct config *cfg,
                         struct inventory *inv)
{
	if (policy_config_load(bh, candidate ? CONFIG_CANDIDATE :
	                       CONFIG_RUNNING, cfg))
		return -1;
	if (policy_inventory_load(bh, inv)) {
		policy_config_free(cfg);
		return -1;
	}
	policy_membership(cfg, inv);
	return 0;
}

int show_ruleset(struct bh *bh, const struct cmd_opts *o, int candidate,
                 struct strbuf *out)
{
	struct config cfg;
	struct inventory inv;
	struct ruleset rs;
	struct strbuf text = STRBUF_INIT;
	char err[BH_ERR_MAX];
	struct json j;
	int rc;

	if (load_enforced(bh, candidate, &cfg, &inv))
		return -1;
	memset(&rs, 0, sizeof rs);
	rc = compile_ruleset(&cfg, &inv, NULL, &rs, err, sizeof err);
	policy_config_free(&cfg);
	policy_inventory_free(&inv);
	if (rc)
		return bh_error(bh, "show ruleset: %s", err);
	compile_text(&rs, &text);
	compile_free(&rs);
	if (o->json) {
		json_init(&j, out);
		json_obj_begin(&j);
		json_kstr(&j, "ruleset", sb_str(&text));
		json_end_doc(&j, out);
	} else {
		sb_add(out, sb_str(&text));
	}
	sb_free(&text);
	return 0;
}

int show_counters(struct bh *bh, const struct cmd_opts *o,
                  struct strbuf *out)
{
	static const char *const head[] = { "COUNTER", "RULE", "SECTION",
		"ACTION", "PACKETS", "BYTES", "RATE", "LAST HIT" };
	struct nft_counter *c = NULL;
	struct config cfg;
	size_t n = 0, nh = 0;
	int64_t *hr = NULL, *ht = NULL;
	struct table t;
	struct json j;

	if (flowlog_counters_load(bh, &cfg, &c, &n, &hr, &ht, &nh))
		return -1;
	if (o->json) {
		json_init(&j, out);
		json_obj_begin(&j);
		json_key(&j, "counters");
		json_arr_begin(&j);
	} else {
		table_init(&t, head, 8);
	}
	for (size_t i = 0; i < n; i++) {
		double pps = 0;
		int64_t last = 0;
		const struct rule *r = c[i].rule_id ?
			policy_config_rule(&cfg, c[i].rule_id) : NULL;
		const char *sec = r ? policy_section_name(r->section) : NULL;
		const char *act = r ? policy_action_name(r->action) : NULL;
		/* a monitored rule counts what it would drop and lets pass */
		int mon = r ? policy_rule_monitored(&cfg, r) :
		          !strcmp(c[i].name, "default") &&
		          cfg.settings.default_action == ACTION_DROP &&
		          cfg.settings.default_monitor;

		if (!o->json && mon)
			act = r && r->action == ACTION_REJECT ? "reject,monitor"
			                                      : "drop,monitor";
		/* rate and last hit: the daemon's samples; in-process, the
		 * last hit it recorded for rules */
		if (!bh->flowlog ||
		    flowlog_counter_stat(bh->flowlog, c[i].name, &pps, &last))
			if (c[i].rule_id)
				last = flowlog_hit_find(hr, ht, nh,
				                        c[i].rule_id);
		if (o->json) {
			json_obj_begin(&j);
			json_kstr(&j, "name", c[i].name);
			json_kbool(&j, "monitor", mon);
			json_key(&j, "rule");
			if (c[i].rule_id)
				json_int(&j, c[i].rule_id);
			else
				json_null(&j);
			json_kstr(&j, "section", sec);
			json_kstr(&j, "action", act);
			json_kint(&j, "packets", (int64_t)c[i].packets);
			json_kint(&j, "bytes", (int64_t)c[i].bytes);
			json_key(&j, "rate_pps");
			/* a number with a fraction: json.h has none */
			sb_addf(out, "%.1f", pps);
			j.after_key = 0;
			json_key(&j, "last_hit_ms");
			if (last)
				json_int(&j, last);
			else
				json_null(&j);
			json_obj_end(&j);
			continue;
		}
		table_add(&t, c[i].name);
		if (c[i].rule_id)
			table_addf(&t, "%lld", (long long)c[i].rule_id);
		else
			table_add(&t, NULL);
		table_add(&t, sec);
		table_add(&t, act);
		table_addf(&t, "%llu", (unsigned long long)c[i].packets);
		table_addf(&t, "%llu", (unsigned long long)c[i].bytes);
		table_addf(&t, "%.1f/s", pps);
		if (last) {
			char tb[64];

			util_time_format(last, tb, sizeof tb);
			table_add(&t, tb);
		} else {
			table_add(&t, NULL);
		}
	}
	if (o->json) {
		json_arr_end(&j);
		json_end_doc(&j, out);
	} else if (n) {
		table_print(&t, out, 0);
	} else {
		strv_free(&t.cells);
		strv_free(&t.notes);
		sb_add(out, "no counters: nothing is loaded yet ('commit' "
		       "loads the running config)\n");
	}
	free(hr);
	free(ht);
	free(c);
	policy_config_free(&cfg);
	return 0;
}

int show_status(struct bh *bh, const struct cmd_opts *o, struct strbuf *out)
{
	struct candidate_state st;
	struct config cfg;
	struct inventory inv;
	struct strbuf report = STRBUF_INIT;
	struct strv lines = STRV_INIT;
	int drift = -1;
	struct json j;

	if (policy_candidate_state(bh, &st) < 0)
		return -1;
	if (bh->enforcer) {
		if (load_enforced(bh, 0, &cfg, &inv))
			return -1;
		drift = nft_drift(bh, &cfg, &inv, &report);
		policy_config_free(&cfg);
		policy_inventory_free(&inv);
		if (drift < 0) {
			sb_free(&report);
			return -1;
		}
		for (char *line = report.s, *nl; line && *line; line = nl) {
			nl = strchr(line, '\n');
			if (nl)
				*nl++ = '\0';
			if (*line)
				strv_push(&lines, line);
			if (!nl)
				break;
		}
	}
	if (o->json) {
		json_init(&j, out);
		json_obj_begin(&j);
		json_kint(&j, "running", st.running_rev);
		json_kint(&j, "uncommitted_changes", st.exists ? st.changes : 0);
		json_kbool(&j, "enforcer", bh->enforcer != NULL);
		json_key(&j, "in_sync");
		if (drift < 0)
			json_null(&j);
		else
			json_bool(&j, drift == 0);
		json_key(&j, "drift");
		json_strv(&j, &lines);
		json_end_doc(&j, out);
	} else {
		sb_addf(out, "running: revision %lld\n",
		        (long long)st.running_rev);
		if (st.exists && st.changes)
			sb_addf(out, "candidate: %d uncommitted change%s\n",
			        st.changes, st.changes == 1 ? "" : "s");
		if (drift < 0) {
			sb_add(out, "enforcer: not attached (not root): the kernel "
			       "was not read\n");
		} else if (drift == 0) {
			sb_add(out, "enforcer: attached; kernel in sync with the "
			       "running config\n");
		} else {
			sb_addf(out, "enforcer: attached; DRIFT: the kernel differs "
			        "from the running config (%zu difference%s); "
			        "'commit' repairs it\n", lines.n,
			        lines.n == 1 ? "" : "s");
			for (size_t i = 0; i < lines.n; i++)
				sb_addf(out, "  %s\n", lines.v[i]);
		}
	}
	strv_free(&lines);
	sb_free(&report);
	return 0;
}

int show_flows(struct bh *bh, const struct cmd_opts *o, struct strbuf *out)
{
	static const char *const head[] = { "WORKLOAD", "NIC", "PROTO", "LOCAL",
		"REMOTE", "EXPIRES" };
	struct nft_flow *f = NULL;
	struct inventory inv;
	size_t n = 0;
	struct table t;
	struct json j;

	if (!bh->enforcer)
		return bh_error(bh, "show flows: the flows are in the kernel, "
		                "which only root may read: run as root");
	if (policy_inventory_load(bh, &inv))
		return -1;
	if (nft_flows(bh, &f, &n) < 0) {
		policy_inventory_free(&inv);
		return -1;
	}
	if (o->json) {
		json_init(&j, out);
		json_obj_begin(&j);
		json_key(&j, "flows");
		json_arr_begin(&j);
	} else {
		table_init(&t, head, 6);
	}
	for (size_t i = 0; i < n; i++) {
		const char *wl = NULL;
		char local[72], remote[112];
		int icmp = strncmp(f[i].proto, "icmp", 4) == 0;

		/* O(workloads x NICs) a flow: fine for a listing. */
		for (size_t w = 0; w < inv.n && !wl; w++)
			for (size_t k = 0; k < inv.w[w].nnics; k++)
				if (!strcmp(inv.w[w].nics[k].ifname, f[i].nic))
					wl = inv.w[w].name;
		if (icmp) {
			snprintf(local, sizeof local, "%s", f[i].local);
			snprintf(remote, sizeof remote, "%s (echo id %d, %s)",
			         f[i].remote, f[i].lport,
			         f[i].outbound ? "out" : "in");
		} else {
			snprintf(local, sizeof local, strchr(f[i].local, ':') ?
			         "[%s]:%d" : "%s:%d", f[i].local, f[i].lport);
			snprintf(remote, sizeof remote, strchr(f[i].remote, ':') ?
			         "[%s]:%d" : "%s:%d", f[i].remote, f[i].rport);
		}
		if (o->json) {
			json_obj_begin(&j);
			json_kstr(&j, "workload", wl);
			json_kstr(&j, "nic", f[i].nic);
			json_kstr(&j, "proto", f[i].proto);
			json_kstr(&j, "local", f[i].local);
			json_kstr(&j, "remote", f[i].remote);
			json_kint(&j, "local_port", f[i].lport);
			json_kint(&j, "remote_port", f[i].rport);
			if (icmp)
				json_kbool(&j, "outbound", f[i].outbound);
			json_kint(&j, "expires_ms", f[i].expires_ms);
			json_obj_end(&j);
			continue;
		}
		table_add(&t, wl);
		table_add(&t, f[i].nic);
		table_add(&t, f[i].proto);
		table_add(&t, local);
		table_add(&t, remote);
		table_addf(&t, "%llds", (long long)(f[i].expires_ms + 999) / 1000);
	}
	if (o->json) {
		json_arr_end(&j);
		json_end_doc(&j, out);
	} else if (n) {
		table_print(&t, out, 0);
	} else {
		strv_free(&t.cells);
		strv_free(&t.notes);
		sb_add(out, "no live flows\n");
	}
	free(f);
	policy_inventory_free(&inv);
	return 0;
}

/* ---- quarantine ------------------------------------------------------------ */

static void json_time_or_null(struct json *j, const char *key, int64_t ms)
{
	char buf[64];

	json_key(j, key);
	if (ms) {
		iso_time(ms, buf, sizeof buf);
		json_str(j, buf);
	} else {
		json_null(j);
	}
}

/* show quarantine [history]: WORKLOAD SINCE UNTIL BY SOURCE REASON, and
 * with history RELEASED and how. */
int show_quarantine(struct bh *bh, const struct cmd_opts *o, int history,
                    struct strbuf *out)
{
	static const char *const head[] = { "WORKLOAD", "SINCE", "UNTIL", "BY",
		"SOURCE", "RELEASED", "REASON" };
	struct quarantine *q = NULL;
	size_t n = 0;
	struct table t;
	struct json j;

	if (policy_quarantine_list(bh, history, &q, &n) < 0)
		return -1;
	if (o->json) {
		json_init(&j, out);
		json_obj_begin(&j);
		json_key(&j, "quarantine");
		json_arr_begin(&j);
		for (size_t i = 0; i < n; i++) {
			json_obj_begin(&j);
			json_kstr(&j, "workload", q[i].workload);
			json_kstr(&j, "reason", q[i].reason);
			json_kstr(&j, "source", q[i].source);
			json_kstr(&j, "by", q[i].by);
			json_kstr(&j, "client", q[i].client);
			json_time_or_null(&j, "since", q[i].since_ms);
			json_time_or_null(&j, "until", q[i].until_ms);
			json_time_or_null(&j, "released", q[i].released_ms);
			json_key(&j, "released_by");
			json_str(&j, q[i].released_ms ? q[i].released_by : NULL);
			json_key(&j, "released_how");
			json_str(&j, q[i].released_ms ? q[i].released_how : NULL);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_end_doc(&j, out);
		quarantine_list_free(q, n);
		return 0;
	}
	if (n == 0) {
		sb_add(out, history ? "no quarantine has been made\n"
		                    : "no workload is in quarantine\n");
		return 0;
	}
	table_init(&t, history ? head : (const char *const[]){ "WORKLOAD",
	           "SINCE", "UNTIL", "BY", "SOURCE", "REASON" },
	           history ? 7 : 6);
	for (size_t i = 0; i < n; i++) {
		char since[64], until[64], rel[160], by[160];

		util_time_format(q[i].since_ms, since, sizeof since);
		if (q[i].until_ms)
			util_time_format(q[i].until_ms, until, sizeof until);
		else
			snprintf(until, sizeof until, "-");
		if (q[i].client[0])
			snprintf(by, sizeof by, "%s@%s", q[i].by, q[i].client);
		else
			snprintf(by, sizeof by, "%s", q[i].by);
		table_add(&t, q[i].workload);
		table_add(&t, since);
		table_add(&t, until);
		table_add(&t, by);
		table_add(&t, q[i].source);
		if (history) {
			if (q[i].released_ms) {
				char when[64];

				util_time_format(q[i].released_ms, when,
				                 sizeof when);
				snprintf(rel, sizeof rel, "%s (%s, %s)", when,
				         q[i].released_how, q[i].released_by);
			} else {
				snprintf(rel, sizeof rel, "in force");
			}
			table_add(&t, rel);
		}
		table_add(&t, q[i].reason[0] ? q[i].reason : "-");
	}
	table_print(&t, out, 0);
	quarantine_list_free(q, n);
	return 0;
}
