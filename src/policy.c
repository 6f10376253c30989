/*
 * policy.c - the policy model (policy layer): loading configs, group
 * membership, checking a whole config, and the candidate edits of
 * services, groups, rules and settings.  Inventory edits are in
 * inventory_edit.c; commit, confirm, discard, rollback and the audit log in
 * commit.c; the config as text and the diff in config.c.
 *
 * Every edit follows one pattern: open a transaction, load what it checks
 * against (the acting user's candidate view), validate everything, then make
 * the candidate if the user has none and write.  A failure at any step rolls
 * the transaction back, so nothing is left behind, not even a fresh empty
 * candidate.  No SQL here: the rows are store.c's business.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkhead.h"
#include "match.h"
#include "policy.h"
#include "policy_internal.h"
#include "quarantine.h"
#include "store.h"
#include "util.h"

/* ---- enumerations ------------------------------------------------------- */
static const char *const section_names[SECTION_COUNT] = {
	"emergency", "infrastructure", "environment", "application"
};
static const char *const action_names[] = { "allow", "drop", "reject" };
#define NACTIONS (sizeof action_names / sizeof action_names[0])

const char *policy_section_name(int section)
{
	if (section < 0 || section >= SECTION_COUNT)
		return "?";
	return section_names[section];
}

int policy_section_parse(const char *s)
{
	for (int i = 0; i < SECTION_COUNT; i++)
		if (strcmp(s, section_names[i]) == 0)
			return i;
	return -1;
}

const char *policy_action_name(int action)
{
	if (action < 0 || (size_t)action >= NACTIONS)
		return "?";
	return action_names[action];
}

int policy_action_parse(const char *s)
{
	for (size_t i = 0; i < NACTIONS; i++)
		if (strcmp(s, action_names[i]) == 0)
			return (int)i;
	return -1;
}

/* The values of revision 0 (sql/0001-initial.sql sets the same); `show
 * config` leaves settings equal to these out. */
const struct settings policy_settings_default = {
	.default_action = ACTION_ALLOW,
	.timeout_tcp = 7200,
	.timeout_udp = 60,
	.timeout_icmp = 30,
};

/* ---- freeing ------------------------------------------------------------- */
void policy_workload_free(struct workload *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->nnics; i++)
		strv_free(&w->nics[i].addrs);
	free(w->nics);
	w->nics = NULL;
	w->nnics = 0;
	strv_free(&w->tags);
	strv_free(&w->groups);
}

void policy_inventory_free(struct inventory *inv)
{
	if (!inv)
		return;
	for (size_t i = 0; i < inv->n; i++)
		policy_workload_free(&inv->w[i]);
	free(inv->w);
	inv->w = NULL;
	inv->n = 0;
}

static void group_free(struct group *g)
{
	free(g->match);
	g->match = NULL;
	strv_free(&g->members);
	strv_free(&g->addresses);
	strv_free(&g->eff_workloads);
	strv_free(&g->eff_addrs);
}

void policy_rule_free(struct rule *r)
{
	if (!r)
		return;
	strv_free(&r->src);
	strv_free(&r->dst);
	strv_free(&r->services);
	strv_free(&r->applied);
	free(r->comment);
	r->comment = NULL;
}

void policy_config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->nsvcs; i++)
		free(cfg->svcs[i].e);
	for (size_t i = 0; i < cfg->ngroups; i++)
		group_free(&cfg->groups[i]);
	for (size_t i = 0; i < cfg->nrules; i++)
		policy_rule_free(&cfg->rules[i]);
	free(cfg->svcs);
	free(cfg->groups);
	free(cfg->rules);
	memset(cfg, 0, sizeof *cfg);
}

void policy_history_free(struct revision *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++)
		free(r[i].comment);
	free(r);
}

void policy_audit_free(struct audit_entry *a, size_t n)
{
	for (size_t i = 0; a && i < n; i++) {
		free(a[i].command);
		free(a[i].detail);
	}
	free(a);
}

/* ---- messages -------------------------------------------------------------- */
int policy_not_found(struct bh *bh, const char *kind, const char *name,
                     const struct strv *cands)
{
	const char *s = cands ? util_suggest_strv(name, cands) : NULL;

	if (s)
		return bh_error(bh, "%s \"%s\" does not exist (did you mean "
		                "\"%s\"?)", kind, name, s);
	return bh_error(bh, "%s \"%s\" does not exist", kind, name);
}

int policy_text_check(struct bh *bh, const char *what, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return bh_error(bh, "%s: control characters (line "
			                "breaks, tabs) are not allowed", what);
	return 0;
}

/* `PREFIX: KIND "NAME" does not exist (did you mean ...)`: a reference
 * found broken while checking a whole config. */
static int missing_ref(struct bh *bh, const char *prefix, const char *kind,
                       const char *name, const struct strv *cands)
{
	policy_not_found(bh, kind, name, cands);
	return bh_error(bh, "%s: %s", prefix, bh->err);
}

/* "rules 3, 7" / "rule 3" into @sb. */
static void add_rule_ids(struct strbuf *sb, const int64_t *ids, size_t n)
{
	sb_add(sb, n == 1 ? "rule " : "rules ");
	for (size_t i = 0; i < n; i++)
		sb_addf(sb, "%s%lld", i ? ", " : "", (long long)ids[i]);
}

/* ---- loading configs ---------------------------------------------------- */
/* The config id behind the acting user's candidate view and the revision
 * it is (or is based on). */
static int view_id(struct bh *bh, int64_t *config, int64_t *rev)
{
	int64_t base;
	int found = store_candidate_find(bh, bh->user, config, &base, NULL);

	if (found < 0)
		return -1;
	if (found) {
		*rev = base;
		return 0;
	}
	return store_running(bh, rev, config);
}

int policy_config_load(struct bh *bh, enum config_which which,
                       struct config *out)
{
	int64_t config, rev;

	memset(out, 0, sizeof *out);
	if (which == CONFIG_CANDIDATE) {
		if (view_id(bh, &config, &rev))
			return -1;
	} else if (store_running(bh, &rev, &config)) {
		return -1;
	}
	if (store_config_load(bh, config, STORE_ALL, &policy_settings_default,
	                      out))
		return -1;
	out->revision = rev;
	return 0;
}

int policy_no_revision(struct bh *bh, int64_t rev)
{
	int64_t running;

	if (store_running(bh, &running, NULL))
		return -1;
	return bh_error(bh, "revision %lld does not exist (revisions are "
	                "0-%lld; see 'show history')", (long long)rev,
	                (long long)running);
}

int policy_revision_load(struct bh *bh, int64_t rev, struct config *out)
{
	int64_t config;
	int found;

	memset(out, 0, sizeof *out);
	found = store_revision_config(bh, rev, &config);
	if (found < 0)
		return -1;
	if (!found)
		return policy_no_revision(bh, rev);
	if (store_config_load(bh, config, STORE_ALL, &policy_settings_default,
	                      out))
		return -1;
	out->revision = rev;
	return 0;
}

static int cmp_group_name(const void *key, const void *elem)
{
	return strcmp(key, ((const struct group *)elem)->name);
}

static int cmp_service_name(const void *key, const void *elem)
{
	return strcmp(key, ((const struct service *)elem)->name);
}

struct group *policy_config_group(const struct config *cfg, const char *name)
{
	if (!cfg->ngroups)
		return NULL;
	return bsearch(name, cfg->groups, cfg->ngroups, sizeof *cfg->groups,
	               cmp_group_name);
}

struct service *policy_config_service(const struct config *cfg,
                                      const char *name)
{
	if (!cfg->nsvcs)
		return NULL;
	return bsearch(name, cfg->svcs, cfg->nsvcs, sizeof *cfg->svcs,
	               cmp_service_name);
}

struct rule *policy_config_rule(const struct config *cfg, int64_t id)
{
	for (size_t i = 0; i < cfg->nrules; i++)
		if (cfg->rules[i].id == id)
			return &cfg->rules[i];
	return NULL;
}

static void group_names(const struct config *cfg, struct strv *out)
{
	for (size_t i = 0; i < cfg->ngroups; i++)
		strv_push(out, cfg->groups[i].name);
}

static void service_names(const struct config *cfg, struct strv *out)
{
	for (size_t i = 0; i < cfg->nsvcs; i++)
		strv_push(out, cfg->svcs[i].name);
}

/* ---- group references and membership ------------------------------------ */
void policy_group_refs(const struct group *g, struct strv *out)
{
	struct match *m;
	char err[256];

	if (!g->match)
		return;
	m = match_parse(g->match, err, sizeof err);
	if (!m)
		return;
	match_groups(m, out);
	match_free(m);
	strv_uniq(out);
}

struct member_ctx {
	const struct config *cfg;
	const struct inventory *inv;
	struct match **m;        /* per group; NULL: no expression */
	unsigned char *memo;     /* ngroups x nworkloads, see below */
	size_t w;                /* the workload being evaluated */
};
enum { MEMO_UNKNOWN, MEMO_BUSY, MEMO_OUT, MEMO_IN };

static int is_member(struct member_ctx *c, size_t gi);

static int in_group_cb(void *ctx, const char *name)
{
	struct member_ctx *c = ctx;
	const struct group *g = policy_config_group(c->cfg, name);

	if (!g)
		return 0;
	return is_member(c, (size_t)(g - c->cfg->groups));
}

/*
 * Is workload c->w in group @gi?  Memoized per (group, workload); a group
 * met again while it is being worked out (a cycle, refused on entry) counts
 * as "not a member" instead of recursing forever.
 */
static int is_member(struct member_ctx *c, size_t gi)
{
	unsigned char *slot = &c->memo[gi * c->inv->n + c->w];
	const struct group *g = &c->cfg->groups[gi];
	const struct workload *w = &c->inv->w[c->w];
	int in = 0;

	if (*slot == MEMO_BUSY)
		return 0;
	if (*slot != MEMO_UNKNOWN)
		return *slot == MEMO_IN;
	*slot = MEMO_BUSY;
	if (strv_contains(&g->members, w->name)) {
		in = 1;
	} else if (c->m[gi]) {
		struct match_subject s = {
			.name = w->name, .os = w->os, .host = w->host,
			.tags = &w->tags, .in_group = in_group_cb, .ctx = c,
		};

		in = match_eval(c->m[gi], &s);
	}
	*slot = in ? MEMO_IN : MEMO_OUT;
	return in;
}

void policy_membership(struct config *cfg, const struct inventory *inv)
{
	struct member_ctx c = { cfg, inv, NULL, NULL, 0 };
	char err[256];

	c.m = xcalloc(cfg->ngroups + 1, sizeof *c.m);
	c.memo = xcalloc(cfg->ngroups * inv->n + 1, 1);
	for (size_t gi = 0; gi < cfg->ngroups; gi++) {
		struct group *g = &cfg->groups[gi];

		strv_free(&g->eff_workloads);
		strv_free(&g->eff_addrs);
		if (g->match)
			c.m[gi] = match_parse(g->match, err, sizeof err);
	}
	for (size_t gi = 0; gi < cfg->ngroups; gi++) {
		struct group *g = &cfg->groups[gi];

		for (size_t wi = 0; wi < inv->n; wi++) {
			const struct workload *w = &inv->w[wi];

			c.w = wi;
			if (!is_member(&c, gi))
				continue;
			strv_push(&g->eff_workloads, w->name);
			for (size_t k = 0; k < w->nnics; k++)
				for (size_t a = 0; a < w->nics[k].addrs.n; a++)
					strv_push(&g->eff_addrs,
					          w->nics[k].addrs.v[a]);
		}
		for (size_t a = 0; a < g->addresses.n; a++)
			strv_push(&g->eff_addrs, g->addresses.v[a]);
		strv_uniq(&g->eff_workloads);
		strv_uniq(&g->eff_addrs);
	}
	for (size_t gi = 0; gi < cfg->ngroups; gi++)
		match_free(c.m[gi]);
	free(c.m);
	free(c.memo);
}

/*
 * Depth-first search for a way from group @at back to @start.  On success
 * @path holds the groups after @start up to @start again.  @seen marks
 * groups already searched from this start (each is tried once: O(groups +
 * references) per start).
 */
static int cycle_from(const struct config *cfg, const struct strv *refs,
                      size_t start, size_t at, unsigned char *seen,
                      struct strv *path)
{
	const struct strv *r = &refs[at];

	for (size_t i = 0; i < r->n; i++) {
		const struct group *g = policy_config_group(cfg, r->v[i]);
		size_t gi;

		if (!g)
			continue;
		gi = (size_t)(g - cfg->groups);
		if (gi == start) {
			strv_push(path, g->name);
			return 1;
		}
		if (seen[gi])
			continue;
		seen[gi] = 1;
		strv_push(path, g->name);
		if (cycle_from(cfg, refs, start, gi, seen, path))
			return 1;
		free(path->v[--path->n]);
	}
	return 0;
}

/*
 * A way from group @gi back to itself, as the message
 * `group "a": match refers back to itself through group "b" (a -> b -> a)`
 * in bh->err: returns -1 when there is one, else 0.  @refs: the groups each
 * group of @cfg refers to (policy_group_refs).
 */
static int cycle_error(struct bh *bh, const struct config *cfg,
                       const struct strv *refs, size_t gi)
{
	const struct group *g = &cfg->groups[gi];
	unsigned char *seen = xcalloc(cfg->ngroups + 1, 1);
	struct strv path = STRV_INIT;
	struct strbuf sb = STRBUF_INIT;
	int rc = 0;

	if (cycle_from(cfg, refs, gi, gi, seen, &path)) {
		sb_add(&sb, g->name);
		for (size_t i = 0; i < path.n; i++)
			sb_addf(&sb, " -> %s", path.v[i]);
		if (path.n == 1)
			rc = bh_error(bh, "group \"%s\": match refers to itself "
			              "(%s)", g->name, sb_str(&sb));
		else
			rc = bh_error(bh, "group \"%s\": match refers back to "
			              "itself through group \"%s\" (%s)",
			              g->name, path.v[0], sb_str(&sb));
	}
	sb_free(&sb);
	strv_free(&path);
	free(seen);
	return rc;
}

/* The groups each group of @cfg refers to: an array of cfg->ngroups
 * vectors, freed with refs_free(). */
static struct strv *refs_load(const struct config *cfg)
{
	struct strv *refs = xcalloc(cfg->ngroups + 1, sizeof *refs);

	for (size_t gi = 0; gi < cfg->ngroups; gi++)
		policy_group_refs(&cfg->groups[gi], &refs[gi]);
	return refs;
}

static void refs_free(const struct config *cfg, struct strv *refs)
{
	for (size_t gi = 0; gi < cfg->ngroups; gi++)
		strv_free(&refs[gi]);
	free(refs);
}

/*
 * Refuse group references that do not exist or that lead back to the
 * group.  Checks every group of @cfg.
 */
static int check_group_refs(struct bh *bh, const struct config *cfg)
{
	struct strv *refs = refs_load(cfg);
	struct strv names = STRV_INIT;
	int rc = 0;

	group_names(cfg, &names);
	for (size_t gi = 0; gi < cfg->ngroups && rc == 0; gi++) {
		const struct group *g = &cfg->groups[gi];

		for (size_t i = 0; i < refs[gi].n && rc == 0; i++) {
			const char *ref = refs[gi].v[i];
			char prefix[BH_NAME_MAX + 32];

			if (policy_config_group(cfg, ref))
				continue;
			snprintf(prefix, sizeof prefix, "group \"%s\": match",
			         g->name);
			rc = missing_ref(bh, prefix, "group", ref, &names);
		}
	}
	for (size_t gi = 0; gi < cfg->ngroups && rc == 0; gi++)
		rc = cycle_error(bh, cfg, refs, gi);
	refs_free(cfg, refs);
	strv_free(&names);
	return rc;
}

int policy_config_check(struct bh *bh, const struct config *cfg)
{
	struct strv gnames = STRV_INIT, snames = STRV_INIT;
	int count[SECTION_COUNT] = { 0 };
	int rc = 0;

	for (size_t gi = 0; gi < cfg->ngroups && rc == 0; gi++) {
		const struct group *g = &cfg->groups[gi];
		struct match *m;
		char err[256];

		if (!g->match)
			continue;
		if (!(m = match_parse(g->match, err, sizeof err)))
			rc = bh_error(bh, "group \"%s\": match: %s", g->name,
			              err);
		match_free(m);
	}
	if (rc == 0)
		rc = check_group_refs(bh, cfg);
	if (rc == 0)
		rc = policy_quarantine_allow_check(bh, cfg);
	group_names(cfg, &gnames);
	service_names(cfg, &snames);
	for (size_t i = 0; i < cfg->nrules && rc == 0; i++) {
		const struct rule *r = &cfg->rules[i];
		const struct strv *lists[] = { &r->src, &r->dst, &r->applied };
		char prefix[32];

		snprintf(prefix, sizeof prefix, "rule %lld", (long long)r->id);
		if (r->section < 0 || r->section >= SECTION_COUNT ||
		    r->position != ++count[r->section]) {
			rc = bh_error(bh, "rule %lld: position %d in section "
			              "%s is out of order: the store is "
			              "damaged", (long long)r->id, r->position,
			              policy_section_name(r->section));
			break;
		}
		for (size_t l = 0; l < 3 && rc == 0; l++)
			for (size_t k = 0; k < lists[l]->n && rc == 0; k++)
				if (!policy_config_group(cfg, lists[l]->v[k]))
					rc = missing_ref(bh, prefix, "group",
					                 lists[l]->v[k], &gnames);
		for (size_t k = 0; k < r->services.n && rc == 0; k++)
			if (!policy_config_service(cfg, r->services.v[k]))
				rc = missing_ref(bh, prefix, "service",
				                 r->services.v[k], &snames);
	}
	strv_free(&gnames);
	strv_free(&snames);
	return rc;
}

/* ---- the edit pattern --------------------------------------------------- */
struct edit {
	struct store_tx tx;
	struct config cfg;    /* @parts of the candidate view before the edit */
	int64_t view;         /* its config id */
	int64_t config;       /* the candidate written to, once made */
};

/* Begin an edit: a transaction and the @parts (STORE_*) of the candidate
 * view it checks against. */
static int edit_begin(struct bh *bh, struct edit *e, int parts)
{
	int64_t rev;

	memset(e, 0, sizeof *e);
	if (store_tx_begin(bh, &e->tx))
		return -1;
	if (view_id(bh, &e->view, &rev) ||
	    store_config_load(bh, e->view, parts, &policy_settings_default,
	                      &e->cfg)) {
		store_tx_rollback(bh, &e->tx);
		return -1;
	}
	e->cfg.revision = rev;
	return 0;
}

/* The acting user's candidate, made as a copy of the running config on
 * the first edit; counts the edit. */
static int edit_target(struct bh *bh, struct edit *e)
{
	int64_t base, running, config;
	int found;

	found = store_candidate_find(bh, bh->user, &e->config, &base, NULL);
	if (found < 0)
		return -1;
	if (!found) {
		if (store_running(bh, &running, &config) ||
		    store_config_copy(bh, config, bh->user, running, 0,
		                      &e->config))
			return -1;
	}
	return store_config_touch(bh, e->config);
}

/* End an edit: commit when @rc is 0, else roll back.  Returns the result. */
static int edit_end(struct bh *bh, struct edit *e, int rc)
{
	if (rc == 0)
		rc = store_tx_commit(bh, &e->tx);
	else
		store_tx_rollback(bh, &e->tx);
	policy_config_free(&e->cfg);
	return rc;
}

/* ---- groups ------------------------------------------------------------- */
/* Copy @in to @out without duplicates, keeping the first of each. */
static void strv_dedupe_keep_order(struct strv *out, const struct strv *in)
{
	for (size_t i = 0; i < in->n; i++)
		if (!strv_contains(out, in->v[i]))
			strv_push(out, in->v[i]);
}

/*
 * The parts @what (GROUP_SET_*) of @g validated against @cfg and @bh's
 * inventory into @ng, canonical.  The other parts of @ng are left as they
 * are: an edit keeps them unchecked, so a kept static member whose
 * workload is gone (it matches nothing) does not block changing the match.
 */
static int group_build(struct bh *bh, const struct config *cfg,
                       const struct group *g, unsigned what,
                       struct group *ng)
{
	char err[512];
	struct strv names = STRV_INIT, refs = STRV_INIT;
	int rc = -1;

	snprintf(ng->name, sizeof ng->name, "%s", g->name);
	if (what & GROUP_SET_MATCH) {
		free(ng->match);
		ng->match = NULL;
	}
	if ((what & GROUP_SET_MATCH) && g->match && *g->match) {
		struct strbuf sb = STRBUF_INIT;
		struct match *m = match_parse(g->match, err, sizeof err);

		if (!m)
			return bh_error(bh, "group \"%s\": match: %s", g->name,
			                err);
		match_format(m, &sb);
		ng->match = xstrdup(sb_str(&sb));
		sb_free(&sb);
		match_groups(m, &refs);
		match_free(m);
		group_names(cfg, &names);
		for (size_t i = 0; i < refs.n; i++) {
			if (strcmp(refs.v[i], g->name) == 0) {
				bh_error(bh, "group \"%s\": match refers to "
				         "itself (%s -> %s)", g->name, g->name,
				         g->name);
				goto done;
			}
			if (!policy_config_group(cfg, refs.v[i])) {
				policy_not_found(bh, "group", refs.v[i], &names);
				goto done;
			}
		}
	}

	if (what & GROUP_SET_MEMBERS) {
		strv_free(&ng->members);
		if (g->members.n) {
			struct strv wnames = STRV_INIT;

			if (store_inventory_names(bh, NAME_WORKLOAD, &wnames))
				goto done;
			for (size_t i = 0; i < g->members.n; i++)
				if (!strv_contains(&wnames, g->members.v[i])) {
					policy_not_found(bh, "workload",
					                 g->members.v[i], &wnames);
					strv_free(&wnames);
					goto done;
				}
			strv_free(&wnames);
			strv_dedupe_keep_order(&ng->members, &g->members);
		}
	}

	if (what & GROUP_SET_ADDRESSES) {
		strv_free(&ng->addresses);
		for (size_t i = 0; i < g->addresses.n; i++) {
			char canon[64];

			if (util_addr_parse(g->addresses.v[i], 1, canon,
			                    sizeof canon, NULL, bh->err,
			                    sizeof bh->err))
				goto done;
			if (!strv_contains(&ng->addresses, canon))
				strv_push(&ng->addresses, canon);
		}
	}
	rc = 0;
done:
	strv_free(&names);
	strv_free(&refs);
	return rc;
}

int policy_group_add(struct bh *bh, const struct group *g)
{
	struct edit e;
	struct group ng;
	int rc = 0;

	memset(&ng, 0, sizeof ng);
	if (edit_begin(bh, &e, STORE_GROUPS))
		return -1;
	if (util_name_check("group", g->name, bh->err, sizeof bh->err))
		rc = -1;
	else if (policy_config_group(&e.cfg, g->name))
		rc = bh_error(bh, "group \"%s\" already exists", g->name);
	if (rc == 0)
		rc = group_build(bh, &e.cfg, g, GROUP_SET_MATCH |
		                 GROUP_SET_MEMBERS | GROUP_SET_ADDRESSES, &ng);
	if (rc == 0)
		rc = edit_target(bh, &e);
	if (rc == 0)
		rc = store_group_insert(bh, e.config, &ng);
	group_free(&ng);
	return edit_end(bh, &e, rc);
}

/* `KIND "NAME" does not exist (did you mean ...)` for a group of @cfg. */
static int no_group(struct bh *bh, const struct config *cfg, const char *name)
{
	struct strv names = STRV_INIT;

	group_names(cfg, &names);
	policy_not_found(bh, "group", name, &names);
	strv_free(&names);
	return -1;
}

int policy_group_set(struct bh *bh, const struct group *g, unsigned what)
{
	struct edit e;
	struct group ng, *old;
	struct strv *refs;
	int rc = 0;

	memset(&ng, 0, sizeof ng);
	if (edit_begin(bh, &e, STORE_GROUPS))
		return -1;
	old = policy_config_group(&e.cfg, g->name);
	if (!old)
		return edit_end(bh, &e, no_group(bh, &e.cfg, g->name));
	what &= GROUP_SET_MATCH | GROUP_SET_MEMBERS | GROUP_SET_ADDRESSES;
	if (!what)
		return edit_end(bh, &e, bh_error(bh, "group \"%s\": nothing to "
		                "change: give match, member or address",
		                g->name));
	ng.match = xstrdup(old->match);
	ng.monitor = old->monitor;
	strv_copy(&ng.members, &old->members);
	strv_copy(&ng.addresses, &old->addresses);
	if (group_build(bh, &e.cfg, g, what, &ng)) {
		group_free(&ng);
		return edit_end(bh, &e, -1);
	}
	/* The new group takes the old one's place in the view, so the
	 * check below sees the config as it would be.  The view was
	 * acyclic, so a new cycle runs through this group: look from it. */
	group_free(old);
	*old = ng;
	if (what & GROUP_SET_MATCH) {
		refs = refs_load(&e.cfg);
		rc = cycle_error(bh, &e.cfg, refs,
		                 (size_t)(old - e.cfg.groups));
		refs_free(&e.cfg, refs);
	}
	if (rc == 0)
		rc = edit_target(bh, &e);
	if (rc == 0)
		rc = store_group_delete(bh, e.config, g->name);
	if (rc == 0)
		rc = store_group_insert(bh, e.config, old);
	return edit_end(bh, &e, rc);
}

static int cmp_int64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Does the quarantine allowance of @cfg name group (@service 0) or
 * service (1) @name? */
static int quarantine_allow_uses(const struct config *cfg, const char *name,
                                 int service)
{
	struct strv g = STRV_INIT, sv = STRV_INIT;
	int used = 0;

	policy_quarantine_allow_parse(cfg->settings.quarantine_allow, &g, &sv);
	for (size_t i = 0; i < g.n && !used; i++) {
		if (!service) {
			used = strcmp(g.v[i], name) == 0;
		} else {
			struct strv names = STRV_INIT;

			strv_split_commas(&names, sv.v[i]);
			used = strv_contains(&names, name);
			strv_free(&names);
		}
	}
	strv_free(&g);
	strv_free(&sv);
	return used;
}

int policy_group_delete(struct bh *bh, const char *name)
{
	struct edit e;
	struct strv users = STRV_INIT;
	int64_t *ids;
	size_t nids;
	int rc = 0;

	if (edit_begin(bh, &e, STORE_GROUPS | STORE_SETTINGS))
		return -1;
	if (!policy_config_group(&e.cfg, name)) {
		struct strv names = STRV_INIT;

		group_names(&e.cfg, &names);
		policy_not_found(bh, "group", name, &names);
		strv_free(&names);
		return edit_end(bh, &e, -1);
	}
	if (quarantine_allow_uses(&e.cfg, name, 0))
		return edit_end(bh, &e, bh_error(bh, "group \"%s\" is used by "
		                "the quarantine allowance: 'set quarantine allow "
		                "%s service none' first", name, name));
	if (store_rules_using(bh, e.view, name, 0, &ids, &nids))
		return edit_end(bh, &e, -1);
	for (size_t i = 0; i < e.cfg.ngroups; i++) {
		struct strv refs = STRV_INIT;

		policy_group_refs(&e.cfg.groups[i], &refs);
		if (strv_contains(&refs, name) &&
		    strcmp(e.cfg.groups[i].name, name) != 0)
			strv_push(&users, e.cfg.groups[i].name);
		strv_free(&refs);
	}
	if (nids || users.n) {
		struct strbuf sb = STRBUF_INIT;

		if (nids)
			add_rule_ids(&sb, ids, nids);
		if (nids && users.n)
			sb_add(&sb, " and ");
		if (users.n)
			sb_add(&sb, users.n == 1 ? "group " : "groups ");
		for (size_t i = 0; i < users.n; i++)
			sb_addf(&sb, "%s\"%s\"", i ? ", " : "", users.v[i]);
		rc = bh_error(bh, "group \"%s\" is used by %s: delete or "
		              "change %s first", name, sb_str(&sb),
		              nids + users.n == 1 ? "it" : "them");
		sb_free(&sb);
	}
	free(ids);
	strv_free(&users);
	if (rc == 0)
		rc = edit_target(bh, &e);
	if (rc == 0)
		rc = store_group_delete(bh, e.config, name);
	return edit_end(bh, &e, rc);
}

/* ---- services ---------------------------------------------------------- */
struct icmp_type {
	const char *name;
	int v4, v6;           /* type numbers; -1: not in that family */
};
static const struct icmp_type icmp_types[] = {
	{ "echo-reply", 0, 129 },
	{ "destination-unreachable", 3, 1 },
	{ "echo-request", 8, 128 },
	{ "time-exceeded", 11, 3 },
	{ "parameter-problem", 12, 4 },
	{ "packet-too-big", -1, 2 },
};
#define NICMP (sizeof icmp_types / sizeof icmp_types[0])

/* An icmp/icmpv6 type by name or number into its canonical text: the name
 * when it has one, else the number. */
static int icmp_type_parse(struct bh *bh, const char *svc, int v6,
                           const char *text, char *canon, size_t len)
{
	struct strv names = STRV_INIT;
	const char *s;

	if (text[0] && strspn(text, "0123456789") == strlen(text) &&
	    strlen(text) <= 3) {
		int n = atoi(text);

		if (n > 255)
			return bh_error(bh, "service \"%s\": icmp type %d out "
			                "of range 0-255", svc, n);
		for (size_t i = 0; i < NICMP; i++)
			if ((v6 ? icmp_types[i].v6 : icmp_types[i].v4) == n) {
				snprintf(canon, len, "%s", icmp_types[i].name);
				return 0;
			}
		snprintf(canon, len, "%d", n);
		return 0;
	}
	for (size_t i = 0; i < NICMP; i++) {
		if ((v6 ? icmp_types[i].v6 : icmp_types[i].v4) < 0)
			continue;
		if (strcmp(text, icmp_types[i].name) == 0) {
			snprintf(canon, len, "%s", text);
			return 0;
		}
	}
	for (size_t i = 0; i < NICMP; i++)
		if ((v6 ? icmp_types[i].v6 : icmp_types[i].v4) >= 0)
			strv_push(&names, icmp_types[i].name);
	s = util_suggest_strv(text, &names);
	if (s) {
		bh_error(bh, "service \"%s\": unknown %s type \"%s\" (did you "
		         "mean \"%s\"?)", svc, v6 ? "icmpv6" : "icmp", text, s);
		strv_free(&names);
		return -1;
	}
	strv_free(&names);
	return bh_error(bh, "service \"%s\": unknown %s type \"%s\": use a "
	                "number 0-255 or one of echo-request, echo-reply, "
	                "destination-unreachable, time-exceeded, "
	                "parameter-problem%s", svc, v6 ? "icmpv6" : "icmp",
	                text, v6 ? ", packet-too-big" : "");
}

/* The entries of @s checked into @ns (canonical).  Free ns->e after a
 * failure too. */
static int service_build(struct bh *bh, const struct service *s,
                         struct service *ns)
{
	static const char *const protos[] = { "tcp", "udp", "icmp", "icmpv6" };
	char err[256];

	if (s->ne == 0)
		return bh_error(bh, "service \"%s\": give a protocol and "
		                "ports, e.g. tcp 443", s->name);
	snprintf(ns->name, sizeof ns->name, "%s", s->name);
	ns->e = xcalloc(s->ne, sizeof *ns->e);
	for (size_t i = 0; i < s->ne; i++) {
		const struct service_entry *in = &s->e[i];
		struct service_entry *out = &ns->e[i];
		int p = -1;

		for (int k = 0; k < 4; k++)
			if (strcmp(in->proto, protos[k]) == 0)
				p = k;
		if (p < 0) {
			const char *sug = util_suggest(in->proto, protos, 4);

			if (sug)
				return bh_error(bh, "service \"%s\": unknown "
				                "protocol \"%s\" (did you mean "
				                "\"%s\"?)", s->name, in->proto,
				                sug);
			return bh_error(bh, "service \"%s\": unknown protocol "
			                "\"%s\": use tcp, udp, icmp or icmpv6",
			                s->name, in->proto);
		}
		snprintf(out->proto, sizeof out->proto, "%s", protos[p]);
		if (!in->ports[0]) {
			out->ports[0] = '\0';
		} else if (p < 2) {
			if (util_ports_parse(in->ports, out->ports,
			                     sizeof out->ports, err, sizeof err))
				return bh_error(bh, "service \"%s\": %s",
				                s->name, err);
		} else if (icmp_type_parse(bh, s->name, p == 3, in->ports,
		                           out->ports, sizeof out->ports)) {
			return -1;
		}
		for (size_t k = 0; k < i; k++) {
			const struct service_entry *o = &ns->e[k];

			if (strcmp(o->proto, out->proto) != 0)
				continue;
			if (p < 2)
				return bh_error(bh, "service \"%s\": %s is given "
				                "twice: list its ports once, "
				                "comma-separated", s->name,
				                out->proto);
			if (strcmp(o->ports, out->ports) == 0)
				return bh_error(bh, "service \"%s\": %s %s is "
				                "given twice", s->name,
				                out->proto, out->ports[0] ?
				                out->ports : "(all types)");
		}
		ns->ne++;
	}
	return 0;
}

int policy_service_add(struct bh *bh, const struct service *s)
{
	struct edit e;
	struct service ns;
	int rc;

	memset(&ns, 0, sizeof ns);
	if (edit_begin(bh, &e, STORE_SERVICES))
		return -1;
	if (util_name_check("service", s->name, bh->err, sizeof bh->err))
		rc = -1;
	else if (policy_config_service(&e.cfg, s->name))
		rc = bh_error(bh, "service \"%s\" already exists", s->name);
	else
		rc = service_build(bh, s, &ns);
	if (rc == 0)
		rc = edit_target(bh, &e);
	if (rc == 0)
		rc = store_service_insert(bh, e.config, &ns);
	free(ns.e);
	return edit_end(bh, &e, rc);
}

/* `service "x" does not exist (did you mean ...)` for @cfg; -1. */
static int no_service(struct bh *bh, const struct config *cfg,
                      const char *name)
{
	struct strv names = STRV_INIT;

	service_names(cfg, &names);
	policy_not_found(bh, "service", name, &names);
	strv_free(&names);
	return -1;
}

int policy_service_set(struct bh *bh, const struct service *s)
{
	struct edit e;
	const struct service *old;
	struct service ns;
	int rc;

	memset(&ns, 0, sizeof ns);
	if (edit_begin(bh, &e, STORE_SERVICES))
		return -1;
	old = policy_config_service(&e.cfg, s->name);
	if (!old)
		return edit_end(bh, &e, no_service(bh, &e.cfg, s->name));
	/* Built-ins are the same in every config: a changed "https" would
	 * mean something else on the next host. */
	if (old->builtin)
		return edit_end(bh, &e, bh_error(bh, "service \"%s\" is built "
		                "in and cannot be changed: add a service of your "
		                "own under another name", s->name));
	rc = service_build(bh, s, &ns);
	if (rc == 0)
		rc = edit_target(bh, &e);
	/* Rules name services, so the new rows under the same name are
	 * what those rules now mean. */
	if (rc == 0)
		rc = store_service_delete(bh, e.config, s->name);
	if (rc == 0)
		rc = store_service_insert(bh, e.config, &ns);
	free(ns.e);
	return edit_end(bh, &e, rc);
}

int policy_service_delete(struct bh *bh, const char *name)
{
	struct edit e;
	const struct service *s;
	int64_t *ids;
	size_t nids = 0;
	int rc = 0;

	if (edit_begin(bh, &e, STORE_SERVICES | STORE_SETTINGS))
		return -1;
	s = policy_config_service(&e.cfg, name);
	if (!s) {
		struct strv names = STRV_INIT;

		service_names(&e.cfg, &names);
		policy_not_found(bh, "service", name, &names);
		strv_free(&names);
		return edit_end(bh, &e, -1);
	}
	if (s->builtin)
		return edit_end(bh, &e, bh_error(bh, "service \"%s\" is built "
		                "in and cannot be deleted", name));
	if (quarantine_allow_uses(&e.cfg, name, 1))
		return edit_end(bh, &e, bh_error(bh, "service \"%s\" is used "
		                "by the quarantine allowance ('show config' "
		                "lists it): change that first", name));
	if (store_rules_using(bh, e.view, name, 1, &ids, &nids))
		return edit_end(bh, &e, -1);
	if (nids) {
		struct strbuf sb = STRBUF_INIT;

		add_rule_ids(&sb, ids, nids);
		rc = bh_error(bh, "service \"%s\" is used by %s: delete or "
		              "change %s first", name, sb_str(&sb),
		              nids == 1 ? "it" : "them");
		sb_free(&sb);
	}
	free(ids);
	if (rc == 0)
		rc = edit_target(bh, &e);
	if (rc == 0)
		rc = store_service_delete(bh, e.config, name);
	return edit_end(bh, &e, rc);
}

/* ---- rules ---------------------------------------------------------------- */
/*
 * A rule's name list into @out: duplicates dropped, a lone "any" (what the
 * command language calls the empty list) made empty, names checked against
 * the groups or services of @cfg.
 */
static int ref_list(struct bh *bh, const struct config *cfg,
                    const char *clause, int services, const struct strv *in,
                    struct strv *out)
{
	struct strv names = STRV_INIT;
	int rc = 0;

	if (in->n == 1 && strcmp(in->v[0], "any") == 0)
		return 0;
	if (services)
		service_names(cfg, &names);
	else
		group_names(cfg, &names);
	for (size_t i = 0; i < in->n && rc == 0; i++) {
		const char *n = in->v[i];

		if (strcmp(n, "any") == 0)
			rc = bh_error(bh, "%s: \"any\" cannot be combined with "
			              "%s names: give either", clause,
			              services ? "service" : "group");
		else if (!strv_contains(&names, n))
			rc = policy_not_found(bh, services ? "service" :
			                      "group", n, &names);
		else if (!strv_contains(out, n))
			strv_push(out, n);
	}
	strv_free(&names);
	return rc;
}

/* `position 9 is out of range: section application has 1 rule (use
 * 1-2)`: @count rules in @section, places 1..@max free for the rule. */
static int bad_position(struct bh *bh, int position, int section, int count,
                        int max)
{
	char use[32];

	if (max == 1)
		snprintf(use, sizeof use, "use 1");
	else
		snprintf(use, sizeof use, "use 1-%d", max);
	return bh_error(bh, "position %d is out of range: section %s has %d "
	                "rule%s (%s)", position, policy_section_name(section),
	                count, count == 1 ? "" : "s", use);
}

/* @r checked against the groups and services of @e's view into @nr. */
static int rule_build(struct bh *bh, const struct edit *e,
                      const struct rule *r, struct rule *nr)
{
	const struct config *cfg = &e->cfg;
	int count, found;

	if (r->section < 0 || r->section >= SECTION_COUNT)
		return bh_error(bh, "rule: unknown section %d: use emergency, "
		                "infrastructure, environment or application",
		                r->section);
	if (r->action < 0 || (size_t)r->action >= NACTIONS)
		return bh_error(bh, "rule: unknown action %d: use allow, drop "
		                "or reject", r->action);
	nr->section = r->section;
	nr->action = r->action;
	nr->log = r->log ? 1 : 0;
	nr->enabled = r->enabled ? 1 : 0;
	nr->monitor = r->monitor ? 1 : 0;
	if (ref_list(bh, cfg, "from", 0, &r->src, &nr->src) ||
	    ref_list(bh, cfg, "to", 0, &r->dst, &nr->dst) ||
	    ref_list(bh, cfg, "service", 1, &r->services, &nr->services) ||
	    ref_list(bh, cfg, "applied-to", 0, &r->applied, &nr->applied))
		return -1;
	if (r->comment && *r->comment) {
		if (policy_text_check(bh, "rule comment", r->comment))
			return -1;
		nr->comment = xstrdup(r->comment);
	}
	if ((count = store_rule_count(bh, e->view, r->section)) < 0)
		return -1;
	if (r->position == 0) {
		nr->position = count + 1;
	} else if (r->position < 1 || r->position > count + 1) {
		return bad_position(bh, r->position, r->section, count,
		                    count + 1);
	} else {
		nr->position = r->position;
	}
	if (r->id < 0)
		return bh_error(bh, "rule id %lld: ids are positive numbers",
		                (long long)r->id);
	found = r->id > 0 ? store_rule_exists(bh, e->view, r->id) : 0;
	if (found < 0)
		return -1;
	if (found)
		return bh_error(bh, "rule %lld already exists",
		                (long long)r->id);
	nr->id = r->id;
	return 0;
}

int policy_rule_add(struct bh *bh, const struct rule *r, int64_t *id_out)
{
	struct edit e;
	struct rule nr;
	int rc;

	memset(&nr, 0, sizeof nr);
	if (edit_begin(bh, &e, STORE_GROUPS | STORE_SERVICES))
		return -1;
	rc = rule_build(bh, &e, r, &nr);
	if (rc == 0)
		rc = nr.id ? store_rule_id_reserve(bh, nr.id)
		           : store_rule_id_alloc(bh, &nr.id);
	if (rc == 0)
		rc = edit_target(bh, &e);
	if (rc == 0)
		rc = store_rule_insert(bh, e.config, &nr);
	if (rc == 0 && id_out)
		*id_out = nr.id;
	policy_rule_free(&nr);
	return edit_end(bh, &e, rc);
}

static int no_rule(struct bh *bh, int64_t id)
{
	return bh_error(bh, "rule %lld does not exist", (long long)id);
}

int policy_rule_delete(struct bh *bh, int64_t id)
{
	struct edit e;
	int rc = 0;

	if (edit_begin(bh, &e, 0))
		return -1;
	rc = store_rule_exists(bh, e.view, id);
	rc = rc < 0 ? -1 : rc == 0 ? no_rule(bh, id) : 0;
	if (rc == 0)
		rc = edit_target(bh, &e);
	if (rc == 0)
		rc = store_rule_delete(bh, e.config, id);
	return edit_end(bh, &e, rc);
}

int policy_rule_set_enabled(struct bh *bh, int64_t id, int enabled)
{
	struct edit e;
	int rc = 0;

	if (edit_begin(bh, &e, 0))
		return -1;
	rc = store_rule_exists(bh, e.view, id);
	rc = rc < 0 ? -1 : rc == 0 ? no_rule(bh, id) : 0;
	if (rc == 0)
		rc = edit_target(bh, &e);
	if (rc == 0)
		rc = store_rule_set_enabled(bh, e.config, id, enabled);
	return edit_end(bh, &e, rc);
}

/* Rule @id of config @config into @out: 1 found, 0 absent, -1 error. */
static int rule_fetch(struct bh *bh, int64_t config, int64_t id,
                      struct rule *out)
{
	return store_rule_get(bh, config, id, out);
}

int policy_rule_get(struct bh *bh, int64_t id, struct rule *out)
{
	int64_t config, rev;
	int found;

	memset(out, 0, sizeof *out);
	if (view_id(bh, &config, &rev))
		return -1;
	found = rule_fetch(bh, config, id, out);
	if (found < 0)
		return -1;
	return found ? 0 : no_rule(bh, id);
}

/* A list of @old, or (when @what has @bit) @in checked as ref_list does. */
static int list_set(struct bh *bh, const struct config *cfg, unsigned what,
                    unsigned bit, const char *clause, int services,
                    const struct strv *in, const struct strv *old,
                    struct strv *out)
{
	if (!(what & bit)) {
		strv_copy(out, old);
		return 0;
	}
	return ref_list(bh, cfg, clause, services, in, out);
}

/* @old changed by the parts @what of @r, checked against the groups and
 * services of @e's view, into @nr. */
static int rule_set_build(struct bh *bh, const struct edit *e,
                          const struct rule *old, const struct rule *r,
                          unsigned what, struct rule *nr)
{
	const struct config *cfg = &e->cfg;
	int count, max;

	nr->id = old->id;
	nr->section = (what & RULE_SET_SECTION) ? r->section : old->section;
	nr->action = (what & RULE_SET_ACTION) ? r->action : old->action;
	if (nr->section < 0 || nr->section >= SECTION_COUNT)
		return bh_error(bh, "rule %lld: unknown section %d: use "
		                "emergency, infrastructure, environment or "
		                "application", (long long)old->id, nr->section);
	if (nr->action < 0 || (size_t)nr->action >= NACTIONS)
		return bh_error(bh, "rule %lld: unknown action %d: use allow, "
		                "drop or reject", (long long)old->id, nr->action);
	nr->log = (what & RULE_SET_LOG) ? !!r->log : old->log;
	nr->enabled = (what & RULE_SET_ENABLED) ? !!r->enabled : old->enabled;
	nr->monitor = (what & RULE_SET_MONITOR) ? !!r->monitor : old->monitor;
	if (list_set(bh, cfg, what, RULE_SET_SRC, "from", 0, &r->src,
	             &old->src, &nr->src) ||
	    list_set(bh, cfg, what, RULE_SET_DST, "to", 0, &r->dst,
	             &old->dst, &nr->dst) ||
	    list_set(bh, cfg, what, RULE_SET_SERVICES, "service", 1,
	             &r->services, &old->services, &nr->services) ||
	    list_set(bh, cfg, what, RULE_SET_APPLIED, "applied-to", 0,
	             &r->applied, &old->applied, &nr->applied))
		return -1;
	if (!(what & RULE_SET_COMMENT)) {
		nr->comment = xstrdup(old->comment);
	} else if (r->comment && *r->comment) {
		if (policy_text_check(bh, "rule comment", r->comment))
			return -1;
		nr->comment = xstrdup(r->comment);
	}
	/* Places the rule can take: in its own section it only moves, so
	 * the count stays; into another one it is one more there. */
	if ((count = store_rule_count(bh, e->view, nr->section)) < 0)
		return -1;
	max = nr->section == old->section ? count : count + 1;
	if (!(what & RULE_SET_POSITION)) {
		nr->position = nr->section == old->section ? old->position : max;
	} else if (r->position < 1 || r->position > max) {
		return bad_position(bh, r->position, nr->section, count, max);
	} else {
		nr->position = r->position;
	}
	return 0;
}

/*
 * Write @nr over @old in @config.  In place when it stays where it is;
 * else out of its place and back in at the new one: the rules between the
 * two places shift by one, as a delete and an add would move them, and the
 * id stays.
 */
static int rule_replace(struct bh *bh, int64_t config, const struct rule *old,
                        const struct rule *nr)
{
	if (nr->section == old->section && nr->position == old->position)
		return store_rule_update(bh, config, nr);
	if (store_rule_delete(bh, config, nr->id))
		return -1;
	return store_rule_insert(bh, config, nr);
}

int policy_rule_set(struct bh *bh, const struct rule *r, unsigned what)
{
	struct edit e;
	struct rule old, nr;
	int rc;

	memset(&nr, 0, sizeof nr);
	if (edit_begin(bh, &e, STORE_GROUPS | STORE_SERVICES))
		return -1;
	rc = rule_fetch(bh, e.view, r->id, &old);
	if (rc <= 0)
		return edit_end(bh, &e, rc < 0 ? -1 : no_rule(bh, r->id));
	rc = 0;
	if (!(what & ((unsigned)RULE_SET_MONITOR * 2 - 1)))
		rc = bh_error(bh, "rule %lld: nothing to change",
		              (long long)r->id);
	if (rc == 0)
		rc = rule_set_build(bh, &e, &old, r, what, &nr);
	if (rc == 0)
		rc = edit_target(bh, &e);
	if (rc == 0)
		rc = rule_replace(bh, e.config, &old, &nr);
	policy_rule_free(&old);
	policy_rule_free(&nr);
	return edit_end(bh, &e, rc);
}

/* ---- settings ---------------------------------------------------------- */
static const char *const setting_keys[] = {
	"default", "timeout-tcp", "timeout-udp", "timeout-icmp",
	"commit-comment", "quarantine-allow"
};

/* @key and @value checked; the stored text into @canon. */
static int setting_build(struct bh *bh, const char *key, const char *value,
                         char *canon, size_t len)
{
	size_t nkeys = sizeof setting_keys / sizeof setting_keys[0];
	size_t k;

	for (k = 0; k < nkeys; k++)
		if (strcmp(key, setting_keys[k]) == 0)
			break;
	if (k == nkeys) {
		const char *s = util_suggest(key, setting_keys, nkeys);

		if (s)
			return bh_error(bh, "unknown setting \"%s\" (did you "
			                "mean \"%s\"?)", key, s);
		return bh_error(bh, "unknown setting \"%s\": use default, "
		                "timeout-tcp, timeout-udp, timeout-icmp or "
		                "commit-comment", key);
	}
	if (strcmp(key, "quarantine-allow") == 0) {
		/* built and checked by policy_quarantine_allow_set() */
		if (strlen(value) >= len)
			return bh_error(bh, "quarantine allow: too long");
		snprintf(canon, len, "%s", value);
	} else if (k == 0) {
		int a = policy_action_parse(value);

		if (a != ACTION_ALLOW && a != ACTION_DROP)
			return bh_error(bh, "default action \"%s\": use allow "
			                "or drop", value);
		snprintf(canon, len, "%s", value);
	} else if (strcmp(key, "commit-comment") == 0) {
		if (strcmp(value, "required") && strcmp(value, "optional"))
			return bh_error(bh, "commit-comment \"%s\": use "
			                "required or optional", value);
		snprintf(canon, len, "%s", value);
	} else {
		int64_t secs;
		char err[256];

		if (util_duration_parse(value, &secs, err, sizeof err))
			return bh_error(bh, "timeout %s: %s", key + 8, err);
		snprintf(canon, len, "%lld", (long long)secs);
	}
	return 0;
}

int policy_setting_set(struct bh *bh, const char *key, const char *value)
{
	struct edit e;
	char canon[1024];
	int rc;

	if (edit_begin(bh, &e, 0))
		return -1;
	rc = setting_build(bh, key, value, canon, sizeof canon);
	if (rc == 0)
		rc = edit_target(bh, &e);
	if (rc == 0)
		rc = store_setting_set(bh, e.config, key, canon);
	return edit_end(bh, &e, rc);
}

/* Enforcing: a plain `set default drop` ends a monitored roll-out. */
int policy_default_set(struct bh *bh, int action)
{
	return policy_default_set_mode(bh, action, 0);
}

/* ---- monitor mode ------------------------------------------------------- */
int policy_group_monitor_set(struct bh *bh, const char *name, int monitor)
{
	struct edit e;
	int rc = 0;

	if (edit_begin(bh, &e, STORE_GROUPS))
		return -1;
	if (!policy_config_group(&e.cfg, name))
		return edit_end(bh, &e, no_group(bh, &e.cfg, name));
	rc = edit_target(bh, &e);
	if (rc == 0)
		rc = store_group_monitor_set(bh, e.config, name, monitor);
	return edit_end(bh, &e, rc);
}

int policy_default_set_mode(struct bh *bh, int action, int monitor)
{
	struct edit e;
	int rc = 0;

	if (action != ACTION_ALLOW && action != ACTION_DROP)
		return bh_error(bh, "default action \"%s\": use allow or drop",
		                policy_action_name(action));
	if (monitor && action != ACTION_DROP)
		return bh_error(bh, "default allow cannot be monitored: only "
		                "a drop can be (set default drop monitor)");
	if (edit_begin(bh, &e, 0))
		return -1;
	rc = edit_target(bh, &e);
	if (rc == 0)
		rc = store_setting_set(bh, e.config, "default",
		                       policy_action_name(action));
	if (rc == 0)
		rc = store_setting_set(bh, e.config, "default-monitor",
		                       monitor ? "1" : "0");
	return edit_end(bh, &e, rc);
}

int policy_rule_monitored(const struct config *cfg, const struct rule *r)
{
	if (r->action == ACTION_ALLOW)
		return 0;
	if (r->monitor)
		return 1;
	for (size_t i = 0; i < r->applied.n; i++) {
		const struct group *g = policy_config_group(cfg, r->applied.v[i]);

		if (g && g->monitor)
			return 1;
	}
	return 0;
}

/* ---- names ------------------------------------------------------------- */
int policy_names(struct bh *bh, enum name_kind kind, struct strv *out)
{
	struct config cfg;

	if (kind == NAME_WORKLOAD || kind == NAME_NIC || kind == NAME_TAG)
		return store_inventory_names(bh, kind, out);
	if (policy_config_load(bh, CONFIG_CANDIDATE, &cfg))
		return -1;
	if (kind == NAME_GROUP) {
		group_names(&cfg, out);
	} else if (kind == NAME_SERVICE) {
		service_names(&cfg, out);
	} else if (kind == NAME_SERVICE_OWN) {
		for (size_t i = 0; i < cfg.nsvcs; i++)
			if (!cfg.svcs[i].builtin)
				strv_push(out, cfg.svcs[i].name);
	} else {
		int64_t *ids = xcalloc(cfg.nrules + 1, sizeof *ids);

		for (size_t i = 0; i < cfg.nrules; i++)
			ids[i] = cfg.rules[i].id;
		qsort(ids, cfg.nrules, sizeof *ids, cmp_int64);
		for (size_t i = 0; i < cfg.nrules; i++) {
			char buf[32];

			snprintf(buf, sizeof buf, "%lld", (long long)ids[i]);
			strv_push(out, buf);
		}
		free(ids);
	}
	policy_config_free(&cfg);
	return 0;
}
