/*
 * nft.c - the enforcer layer: the compiler's ruleset into the kernel
 * through libnftables; counters and drift back out.
 *
 * Every apply is a difference: the kernel's table is read back into the
 * compiler's own structure (struct ruleset), or taken from what was
 * applied last when nothing has touched nftables since (below), and
 * compared object by object with the desired one; the commands that turn
 * one into the other go to
 * libnftables as ONE script, which nft sends as one netlink batch, so the
 * kernel takes all of it or none.  That gives, with no special cases:
 *   - flow sets are never flushed (they are only created when missing), so
 *     established connections survive any commit that keeps them allowed;
 *   - named counters are only created or deleted, so hit counts survive;
 *   - base chains of NICs that stay are never deleted, so no packet ever
 *     meets a NIC without its chain during an apply;
 *   - drift (someone edited or deleted the table) is the same difference,
 *     reported instead of applied.
 *
 * After a successful apply the handle keeps the ruleset it applied and the
 * inventory it was made from.  An inventory event (nft_sync) with the same
 * config then takes the fastest path that fits:
 *   delta    the workloads that changed are compiled alone, before and
 *            after (compile_inventory_like), and the difference -- set
 *            elements, NIC chains, NIC counters -- goes to the kernel as
 *            one raw nfnetlink batch on a socket kept open (libmnl), not
 *            through libnftables, whose per-run cache reload costs tens of
 *            milliseconds with 10,000 rule counters;
 *   part     many workloads changed: the whole inventory part is compiled
 *            and diffed against the kept copy;
 *   full     the config changed, or the kernel refused (it drifted):
 *            compile everything and diff against the kernel's own table.
 * Every path is one kernel transaction; a refused raw batch is retried
 * through libnftables so the error is worded as nft words it.
 *
 * Not reading the table back.  Listing 10,000 rules through libnftables
 * costs most of a re-apply, so what was applied is remembered, in the
 * handle and in a file beside the store (DB-nft), with the nftables
 * ruleset generation the kernel reached by our transaction (NFT_MSG_GETGEN
 * over libmnl) and the namespace it was in (boot id, SO_NETNS_COOKIE).
 * The kernel adds one to the generation at every committed transaction,
 * whoever sends it: when it still reads the remembered value, the table is
 * exactly the remembered ruleset and the diff is made against that; when
 * it moved (an admin's nft, another table, `commit check`), the table is
 * read back as before, which also finds drift.  The generation after our
 * own batch counts only if it is the one before plus one, so a transaction
 * that slipped in between is never taken for ours.  `status` (nft_drift)
 * always reads the kernel.  See "remembering the last apply" below.
 *
 * Script lines are counted while the script is written, so a refusal that
 * libnftables places ("<cmdline>:LINE:COL: Error: ...") is traced back to
 * the policy rule id of that line.  Errors the kernel finds only when the
 * batch commits (chain validation: hooks, loops, reject in hook egress)
 * come without a line; the rule is then found by loading growing prefixes
 * of the ruleset into a scratch table (find_refused: O(log lines) tries,
 * only after a refusal).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <net/if.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <nftables/libnftables.h>

#include "compile.h"
#include "nft.h"

#define T "netdev " COMPILE_TABLE

struct enforcer {
	struct nft_ctx *ctx;
	struct mnl_socket *nl;     /* element batches, opened on first use */
	uint32_t portid;
	uint32_t seq;
	struct compile_opts opts;
	struct ruleset last;       /* what the kernel got last; valid when */
	int have_last;             /* have_last is set */
	uint32_t last_gen;         /* the ruleset generation right after it */
	int gen_known;             /* last_gen is that generation */
	unsigned long sent;        /* batches sent so far */
	struct inventory prev;     /* the inventory @last was made from */
	int have_prev;
	const struct config *memo_cfg;  /* the config object hashed last */
	int64_t memo_rev;
	uint64_t memo_hash;
	struct strbuf script;      /* the last script sent */
	struct config running;     /* the running config, kept for inventory
	                              changes while it stays the newest
	                              revision; valid when have_running */
	int have_running;
	struct flowcut *cut;       /* flow entries to remove in the next
	                              batch (quarantine); see cut_plan() */
	size_t ncut;
};

static void running_forget(struct enforcer *e)
{
	if (e->have_running) {
		if (e->memo_cfg == &e->running)
			e->memo_cfg = NULL;
		policy_config_free(&e->running);
		e->have_running = 0;
	}
}

static struct enforcer *enf(struct bh *bh)
{
	return bh->enforcer;
}

struct flowcut {
	char set[16];
	unsigned char key[64];
	size_t len;
};
static void forget(struct enforcer *e);
static int strv_equal(const struct strv *a, const struct strv *b);
static void remember_inv(struct enforcer *e, const struct inventory *inv);
static void prev_update(struct enforcer *e, const struct inventory *inv);

/* ---- running nft -------------------------------------------------------- */

/*
 * Run @cmds; output in *out (caller frees), errors in bh->err with @what
 * as prefix.  @stateless omits counter values and timeouts from listings.
 */
static int run(struct bh *bh, const char *cmds, int stateless, char **out,
               const char *what)
{
	struct enforcer *e = enf(bh);
	const char *o, *er;
	int rc;

	nft_ctx_output_set_flags(e->ctx, stateless ? NFT_CTX_OUTPUT_STATELESS : 0);
	rc = nft_run_cmd_from_buffer(e->ctx, cmds);
	o = nft_ctx_get_output_buffer(e->ctx);
	er = nft_ctx_get_error_buffer(e->ctx);
	if (out)
		*out = xstrdup(o ? o : "");
	if (rc != 0) {
		char msg[512];
		size_t n;

		snprintf(msg, sizeof msg, "%s", er ? er : "");
		n = strlen(msg);
		while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
			msg[--n] = '\0';
		bh_error(bh, "%s: %s", what, msg[0] ? msg : "nft failed");
		if (out) {
			free(*out);
			*out = NULL;
		}
		return -1;
	}
	return 0;
}

int nft_attach(struct bh *bh)
{
	struct enforcer *e;

	if (bh->enforcer)
		return 0;
	e = xcalloc(1, sizeof *e);
	e->ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!e->ctx) {
		free(e);
		return bh_error(bh, "cannot start libnftables: out of memory");
	}
	if (nft_ctx_buffer_output(e->ctx) || nft_ctx_buffer_error(e->ctx)) {
		nft_ctx_free(e->ctx);
		free(e);
		return bh_error(bh, "cannot start libnftables: no output buffers");
	}
	compile_opts_default(&e->opts);
	/* Test hook: make the kernel refuse one rule (see compile.h). */
	if (getenv("BULKHEAD_TEST_REFUSE_RULE"))
		e->opts.refuse_rule = strtoll(getenv("BULKHEAD_TEST_REFUSE_RULE"),
		                              NULL, 10);
	bh->enforcer = e;
	bh->apply = nft_apply;
	bh->inventory_changed = nft_inventory_apply;
	return 0;
}

void nft_detach(struct bh *bh)
{
	struct enforcer *e = enf(bh);

	if (!e)
		return;
	if (e->have_last)
		compile_free(&e->last);
	if (e->have_prev)
		policy_inventory_free(&e->prev);
	running_forget(e);
	free(e->cut);
	sb_free(&e->script);
	if (e->nl)
		mnl_socket_close(e->nl);
	nft_ctx_unbuffer_output(e->ctx);
	nft_ctx_unbuffer_error(e->ctx);
	nft_ctx_free(e->ctx);
	free(e);
	bh->enforcer = NULL;
	bh->apply = NULL;
	bh->inventory_changed = NULL;
}

/* ---- reading the kernel's table back ------------------------------------ */

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n'))
		*--end = '\0';
	return s;
}

/* Split "a, b,\n c" (the inside of `elements = { ... }`) into @out. */
static void split_elems(const char *s, struct strv *out)
{
	char *copy = xstrdup(s), *p = copy, *item;

	while ((item = strsep(&p, ",")) != NULL) {
		item = trim(item);
		if (*item)
			strv_push(out, item);
	}
	free(copy);
	strv_uniq(out);
}

/*
 * Parse `nft -s list table netdev bulkhead` into @rs: counters by name,
 * sets and maps with their declaration lines and elements (not for dynamic
 * sets), chains with hook, device and rule lines.  Rule lines are kept as
 * nft prints them; see printed() for the few places that differs from what
 * the compiler writes.
 */
static void parse_listing(const char *text, struct ruleset *rs)
{
	char *copy = xstrdup(text), *p = copy, *line;
	struct cset *set = NULL;
	struct cchain *chain = NULL;
	struct strbuf elems = STRBUF_INIT;
	int in_elems = 0, in_counter = 0;

	memset(rs, 0, sizeof *rs);
	while ((line = strsep(&p, "\n")) != NULL) {
		char *t = trim(line);
		char kind[16], name[300];

		if (in_elems) {
			sb_add(&elems, t);
			sb_add(&elems, " ");
			if (t[0] && t[strlen(t) - 1] == '}') {
				char *s = xstrdup(sb_str(&elems)), *end;

				end = strrchr(s, '}');
				if (end)
					*end = '\0';
				if (set && set->kind != CSET_FLOW)
					split_elems(s, &set->elems);
				free(s);
				in_elems = 0;
			}
			continue;
		}
		if (!strcmp(t, "}")) {
			set = NULL;
			chain = NULL;
			in_counter = 0;
			continue;
		}
		if (!set && !chain && !in_counter &&
		    sscanf(t, "%15s %299s {", kind, name) == 2 &&
		    t[strlen(t) - 1] == '{') {
			if (!strcmp(kind, "counter")) {
				strv_push(&rs->counters, name);
				in_counter = 1;
			} else if (!strcmp(kind, "set") || !strcmp(kind, "map")) {
				rs->sets = xrealloc(rs->sets, (rs->nsets + 1) * sizeof *rs->sets);
				set = &rs->sets[rs->nsets++];
				memset(set, 0, sizeof *set);
				set->name = xstrdup(name);
				set->kind = !strcmp(kind, "map") ? CSET_MAP : CSET_STATIC;
			} else if (!strcmp(kind, "chain")) {
				rs->chains = xrealloc(rs->chains, (rs->nchains + 1) * sizeof *rs->chains);
				chain = &rs->chains[rs->nchains++];
				memset(chain, 0, sizeof *chain);
				chain->name = xstrdup(name);
			}
			continue;
		}
		if (set) {
			if (!strncmp(t, "elements = {", 12)) {
				sb_reset(&elems);
				sb_add(&elems, t + 12);
				sb_add(&elems, " ");
				if (t[strlen(t) - 1] == '}') {
					char *s = xstrdup(sb_str(&elems)), *end;

					end = strrchr(s, '}');
					if (end)
						*end = '\0';
					if (set->kind != CSET_FLOW)
						split_elems(s, &set->elems);
					free(s);
				} else {
					in_elems = 1;
				}
			} else if (*t) {
				strv_push(&set->decl, t);
				if (strstr(t, "flags") && strstr(t, "dynamic"))
					set->kind = CSET_FLOW;
			}
		} else if (chain && *t) {
			char hook[16], dev[64];

			if (sscanf(t, "type filter hook %15s device \"%63[^\"]\"",
			           hook, dev) == 2) {
				chain->hook = xstrdup(hook);
				chain->device = xstrdup(dev);
			} else if (strncmp(t, "type ", 5) != 0) {
				strv_push(&chain->rules, t);
			}
		}
	}
	strv_uniq(&rs->counters);
	sb_free(&elems);
	free(copy);
}

/*
 * Read the table.  *exists = 0 (and an empty @rs) when there is none.
 */
static int read_kernel(struct bh *bh, struct ruleset *rs, int *exists)
{
	char *out = NULL;

	memset(rs, 0, sizeof *rs);
	*exists = 0;
	if (run(bh, "list table " T, 1, &out, "reading the kernel") != 0) {
		/* No table is the normal state of a fresh machine. */
		if (strstr(bh->err, "No such file or directory")) {
			bh->err[0] = '\0';
			return 0;
		}
		return -1;
	}
	*exists = 1;
	parse_listing(out, rs);
	free(out);
	return 0;
}

/* ---- comparing ------------------------------------------------------------ */

/*
 * nft lists a few things differently from how they must be written: raw
 * payload fields of a dynset key print under their header names once the
 * rule has set the protocol context.  Compare in the printed form.
 */
static void printed(const char *line, struct strbuf *out)
{
	static const char *const rep[][2] = {
		{ "update @rel4 { iif . @nh,96,32 . @nh,128,32 .",
		  "update @rel4 { iif . ip saddr . ip daddr ." },
		{ "update @rel6 { iif . @nh,64,128 . @nh,192,128 .",
		  "update @rel6 { iif . ip6 saddr . ip6 daddr ." },
	};
	struct strbuf a = STRBUF_INIT;

	sb_add(&a, line);
	/* Only after a match that set the protocol context (the flow key's
	 * `tcp sport`); a rule that starts with the update prints raw. */
	for (size_t i = 0; i < sizeof rep / sizeof rep[0] &&
	     strncmp(line, "update @rel", 11) != 0; i++) {
		const char *hit;

		while ((hit = strstr(sb_str(&a), rep[i][0])) != NULL) {
			struct strbuf b = STRBUF_INIT;

			sb_addn(&b, a.s, (size_t)(hit - a.s));
			sb_add(&b, rep[i][1]);
			sb_add(&b, hit + strlen(rep[i][0]));
			sb_free(&a);
			a = b;
		}
	}
	sb_add(out, sb_str(&a));
	sb_free(&a);
}

static int chain_equal(const struct cchain *k, const struct cchain *d)
{
	if ((k->hook == NULL) != (d->hook == NULL))
		return 0;
	if (k->hook && (strcmp(k->hook, d->hook) || strcmp(k->device, d->device)))
		return 0;
	if (k->rules.n != d->rules.n)
		return 0;
	for (size_t i = 0; i < d->rules.n; i++) {
		struct strbuf sb = STRBUF_INIT, kb = STRBUF_INIT;
		int same;

		if (!strcmp(d->rules.v[i], k->rules.v[i]))
			continue;
		/* @k may be the kernel's listing or a remembered compiler
		 * ruleset: compare both in the printed form */
		printed(d->rules.v[i], &sb);
		printed(k->rules.v[i], &kb);
		same = !strcmp(sb_str(&sb), sb_str(&kb));
		sb_free(&sb);
		sb_free(&kb);
		if (!same)
			return 0;
	}
	return 1;
}

static int decl_equal(const struct cset *a, const struct cset *b)
{
	if (a->decl.n != b->decl.n || (a->kind == CSET_MAP) != (b->kind == CSET_MAP))
		return 0;
	for (size_t i = 0; i < a->decl.n; i++)
		if (strcmp(a->decl.v[i], b->decl.v[i]))
			return 0;
	return 1;
}

/* Elements of @a that @b lacks (both sorted), into @out. */
static void elems_minus(const struct strv *a, const struct strv *b,
                        struct strv *out)
{
	size_t i = 0, j = 0;

	while (i < a->n) {
		int c = j < b->n ? strcmp(a->v[i], b->v[j]) : -1;

		if (c == 0)
			i++, j++;
		else if (c < 0)
			strv_push(out, a->v[i++]);
		else
			j++;
	}
}

/* Counter names are kept sorted (strv_uniq): binary search, since a big
 * ruleset has one counter per rule. */
static int has_counter(const struct strv *sv, const char *name)
{
	size_t lo = 0, hi = sv->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(sv->v[mid], name);

		if (c == 0)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Name indexes of a ruleset's chains and sets, so diff() finds objects
 * in O(log n): 2000 NIC chains make linear lookups quadratic. */
struct index {
	const char **names;
	size_t *pos;
	size_t n;
};

static const char *const *sort_names;

static int cmp_pos(const void *a, const void *b)
{
	return strcmp(sort_names[*(const size_t *)a], sort_names[*(const size_t *)b]);
}

static void index_build(struct index *ix, const char **names, size_t n)
{
	ix->names = names;
	ix->n = n;
	ix->pos = xcalloc(n + 1, sizeof *ix->pos);
	for (size_t i = 0; i < n; i++)
		ix->pos[i] = i;
	sort_names = names;
	qsort(ix->pos, n, sizeof *ix->pos, cmp_pos);
	sort_names = NULL;
}

/* Position of @name in the indexed array, or -1. */
static long index_find(const struct index *ix, const char *name)
{
	size_t lo = 0, hi = ix->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(ix->names[ix->pos[mid]], name);

		if (c == 0)
			return (long)ix->pos[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

struct rs_index {
	struct index sets, chains;
	const char **snames, **cnames;
	const struct ruleset *rs;
};

static void rs_index_build(struct rs_index *x, const struct ruleset *rs)
{
	x->rs = rs;
	x->snames = xcalloc(rs->nsets + 1, sizeof *x->snames);
	x->cnames = xcalloc(rs->nchains + 1, sizeof *x->cnames);
	for (size_t i = 0; i < rs->nsets; i++)
		x->snames[i] = rs->sets[i].name;
	for (size_t i = 0; i < rs->nchains; i++)
		x->cnames[i] = rs->chains[i].name;
	index_build(&x->sets, x->snames, rs->nsets);
	index_build(&x->chains, x->cnames, rs->nchains);
}

static void rs_index_free(struct rs_index *x)
{
	free(x->sets.pos);
	free(x->chains.pos);
	free(x->snames);
	free(x->cnames);
}

static const struct cset *ix_set(const struct rs_index *x, const char *n)
{
	long i = index_find(&x->sets, n);

	return i < 0 ? NULL : &x->rs->sets[i];
}

static const struct cchain *ix_chain(const struct rs_index *x, const char *n)
{
	long i = index_find(&x->chains, n);

	return i < 0 ? NULL : &x->rs->chains[i];
}

/* ---- the script ------------------------------------------------------------ */

/* One element change, kept beside the text so the fast path can send it
 * as a raw netlink batch. */
struct elemop {
	int add;                  /* 1 add, 0 delete */
	char *set;                /* owned */
	char *elem;               /* owned */
};

struct script {
	const char *table;        /* "netdev bulkhead" (or the check table) */
	struct strbuf sb;
	int line;                 /* lines written so far */
	int64_t *ids;             /* rule id per line (1-based index) */
	size_t cap;
	size_t changes;           /* commands other than the table itself */
	const char *device;       /* base chains hook this device instead
	                             (scratch tables: no traffic meets them) */
	int probe_order;          /* fill policy chains last (see probe()) */
	size_t other;             /* commands that are not element changes */
	struct elemop *ops;       /* the element changes, in order */
	size_t nops;
	long rule_limit;          /* emit at most this many rule lines
	                             (-1: all); for finding a refused rule */
	int64_t last_rule_id;     /* rule id of the last rule line emitted */
};

static void script_init(struct script *s);
static void emit(struct script *s, int64_t id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void emit(struct script *s, int64_t id, const char *fmt, ...)
{
	va_list ap;

	struct strbuf line = STRBUF_INIT;
	const char *at;

	va_start(ap, fmt);
	sb_vaddf(&line, fmt, ap);
	va_end(ap);
	/* "@T@" in a command stands for the table, so `commit check` can
	 * send the same commands to a scratch table. */
	at = strstr(sb_str(&line), "@T@");
	if (at) {
		sb_addn(&s->sb, line.s, (size_t)(at - line.s));
		sb_add(&s->sb, s->table ? s->table : T);
		sb_add(&s->sb, at + 3);
	} else {
		sb_add(&s->sb, sb_str(&line));
	}
	sb_free(&line);
	sb_addc(&s->sb, '\n');
	s->line++;
	s->other++;
	if ((size_t)s->line >= s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->ids = xrealloc(s->ids, s->cap * sizeof *s->ids);
	}
	s->ids[s->line] = id;
}

/* Elements in commands of bounded size: nft parses one long line slower
 * than several, and error positions stay readable. */
static void emit_elems(struct script *s, const char *verb, const char *set,
                       const struct strv *el)
{
	s->ops = xrealloc(s->ops, (s->nops + el->n + 1) * sizeof *s->ops);
	for (size_t i = 0; i < el->n; i++) {
		s->ops[s->nops].add = !strcmp(verb, "add");
		s->ops[s->nops].set = xstrdup(set);
		s->ops[s->nops].elem = xstrdup(el->v[i]);
		s->nops++;
	}
	for (size_t i = 0; i < el->n; i += 256) {
		struct strbuf sb = STRBUF_INIT;

		for (size_t k = i; k < el->n && k < i + 256; k++)
			sb_addf(&sb, "%s%s", k > i ? ", " : "", el->v[k]);
		emit(s, 0, "%s element @T@ %s { %s }", verb, set, sb_str(&sb));
		s->other--;     /* an element change, not an "other" command */
		sb_free(&sb);
		s->changes++;
	}
}

static void emit_chain_rules(struct script *s, const struct cchain *c)
{
	for (size_t i = 0; i < c->rules.n; i++) {
		if (s->rule_limit == 0)
			return;
		if (s->rule_limit > 0)
			s->rule_limit--;
		s->last_rule_id = c->rule_ids ? c->rule_ids[i] : 0;
		emit(s, s->last_rule_id, "add rule @T@ %s %s", c->name,
		     c->rules.v[i]);
		s->changes++;
	}
}

/*
 * The commands that turn @have (the kernel, or what it last got) into
 * @want.  Order matters inside the one transaction: objects are created
 * before rules refer to them, and deleted only after the rules and map
 * elements that refer to them are gone.  With @report set, a line per
 * difference is written there as well.
 */
static void diff(const struct ruleset *have, int table_exists,
                 const struct ruleset *want, struct script *s,
                 struct strbuf *report)
{
	struct rs_index H, W;

	rs_index_build(&H, have);
	rs_index_build(&W, want);
	if (!table_exists) {
		emit(s, 0, "add table @T@");
		s->changes++;
		if (report)
			sb_add(report, "table netdev " COMPILE_TABLE " missing\n");
	}
	/* 1. new counters */
	for (size_t i = 0; i < want->counters.n; i++)
		if (!has_counter(&have->counters, want->counters.v[i])) {
			emit(s, 0, "add counter @T@ %s", want->counters.v[i]);
			s->changes++;
			if (report && table_exists)
				sb_addf(report, "counter %s missing\n", want->counters.v[i]);
		}
	/* 2. sets: new ones, and ones whose declaration changed (deleted
	 *    and made again: only an upgrade of bulkhead does that) */
	for (size_t i = 0; i < want->nsets; i++) {
		const struct cset *w = &want->sets[i];
		const struct cset *h = ix_set(&H, w->name);
		struct strbuf d = STRBUF_INIT;

		if (h && decl_equal(h, w))
			continue;
		if (h) {
			/* Delete needs the rules that use the set gone first:
			 * flush every chain now (step 4 refills them). */
			for (size_t k = 0; k < have->nchains; k++)
				emit(s, 0, "flush chain @T@ %s", have->chains[k].name);
			emit(s, 0, "delete %s @T@ %s", h->kind == CSET_MAP ? "map" : "set",
			     h->name);
			if (report)
				sb_addf(report, "set %s: declaration differs\n", w->name);
		} else if (report && table_exists) {
			sb_addf(report, "set %s missing\n", w->name);
		}
		for (size_t k = 0; k < w->decl.n; k++)
			sb_addf(&d, "%s; ", w->decl.v[k]);
		emit(s, 0, "add %s @T@ %s { %s}", w->kind == CSET_MAP ? "map" : "set",
		     w->name, sb_str(&d));
		sb_free(&d);
		s->changes++;
		if (w->elems.n && w->kind != CSET_FLOW)
			emit_elems(s, "add", w->name, &w->elems);
	}
	/* 3. new chains, empty, so every jump target exists */
	for (size_t i = 0; i < want->nchains; i++) {
		const struct cchain *w = &want->chains[i];
		const struct cchain *h = ix_chain(&H, w->name);

		if (h && ((h->hook == NULL) == (w->hook == NULL)))
			continue;
		if (h) {
			emit(s, 0, "flush chain @T@ %s", h->name);
			emit(s, 0, "delete chain @T@ %s", h->name);
		}
		if (w->hook)
			emit(s, 0, "add chain @T@ %s { type filter hook %s device \"%s\" priority filter; policy accept; }",
			     w->name, w->hook, s->device ? s->device : w->device);
		else
			emit(s, 0, "add chain @T@ %s", w->name);
		s->changes++;
		if (report && table_exists)
			sb_addf(report, "chain %s missing\n", w->name);
	}
	/* 4. chains whose rules differ: flush, refill; new chains: fill.
	 * Probes fill the fixed chains first, callers before callees, so the
	 * line that first makes a refused path is a policy rule's. */
	for (size_t n = 0; n < want->nchains * (s->probe_order ? 2 : 1); n++) {
		size_t i = n;
		const struct cchain *w, *h;

		if (s->probe_order) {
			int pass = n >= want->nchains;
			int policy;

			i = pass ? n - want->nchains : want->nchains - 1 - n;
			policy = 0;
			for (size_t k = 0; k < want->chains[i].rules.n; k++)
				if (want->chains[i].rule_ids &&
				    want->chains[i].rule_ids[k] > 0)
					policy = 1;
			if (policy != pass)
				continue;
		}
		w = &want->chains[i];
		h = ix_chain(&H, w->name);

		if (h && ((h->hook == NULL) == (w->hook == NULL))) {
			if (chain_equal(h, w))
				continue;
			if (h->hook && strcmp(h->device, w->device)) {
				/* same name, other device: cannot happen with
				 * names made from devices; replace anyway */
				emit(s, 0, "delete chain @T@ %s", h->name);
				emit(s, 0, "add chain @T@ %s { type filter hook %s device \"%s\" priority filter; policy accept; }",
				     w->name, w->hook, w->device);
			}
			emit(s, 0, "flush chain @T@ %s", w->name);
			s->changes++;
			if (report)
				sb_addf(report, "chain %s: rules differ\n", w->name);
		}
		emit_chain_rules(s, w);
	}
	/* 5. chains to go: flush all first (they may jump to each other) */
	for (size_t i = 0; i < have->nchains; i++)
		if (!ix_chain(&W, have->chains[i].name))
			emit(s, 0, "flush chain @T@ %s", have->chains[i].name);
	/* 6. elements of sets and maps that stay */
	for (size_t i = 0; i < want->nsets; i++) {
		const struct cset *w = &want->sets[i];
		const struct cset *h = ix_set(&H, w->name);
		struct strv gone = STRV_INIT, added = STRV_INIT;

		if (!h || !decl_equal(h, w) || w->kind == CSET_FLOW)
			continue;
		elems_minus(&h->elems, &w->elems, &gone);
		elems_minus(&w->elems, &h->elems, &added);
		if (gone.n)
			emit_elems(s, "delete", w->name, &gone);
		if (added.n)
			emit_elems(s, "add", w->name, &added);
		if (report) {
			for (size_t k = 0; k < added.n; k++)
				sb_addf(report, "set %s: missing %s\n", w->name, added.v[k]);
			for (size_t k = 0; k < gone.n; k++)
				sb_addf(report, "set %s: extra %s\n", w->name, gone.v[k]);
		}
		strv_free(&gone);
		strv_free(&added);
	}
	/* 7. delete what is no longer wanted */
	for (size_t i = 0; i < have->nchains; i++)
		if (!ix_chain(&W, have->chains[i].name)) {
			emit(s, 0, "delete chain @T@ %s", have->chains[i].name);
			s->changes++;
			if (report)
				sb_addf(report, "chain %s: not in the ruleset\n",
				        have->chains[i].name);
		}
	for (size_t i = 0; i < have->nsets; i++)
		if (!ix_set(&W, have->sets[i].name)) {
			emit(s, 0, "delete %s @T@ %s",
			     have->sets[i].kind == CSET_MAP ? "map" : "set",
			     have->sets[i].name);
			s->changes++;
			if (report)
				sb_addf(report, "set %s: not in the ruleset\n",
				        have->sets[i].name);
		}
	for (size_t i = 0; i < have->counters.n; i++)
		if (!has_counter(&want->counters, have->counters.v[i])) {
			emit(s, 0, "delete counter @T@ %s", have->counters.v[i]);
			s->changes++;
			if (report)
				sb_addf(report, "counter %s: not in the ruleset\n",
				        have->counters.v[i]);
		}
	rs_index_free(&H);
	rs_index_free(&W);
}


/* ---- element changes as a raw netlink batch -------------------------------
 *
 * libnftables rebuilds its cache (every set, every counter object) for
 * each run: with a counter per rule that is tens of milliseconds at 10,000
 * rules, whatever the command.  An inventory change that only adds and
 * deletes set elements is sent here instead, as one nfnetlink batch on a
 * socket kept open: the same kernel transaction, without the cache.  Keys
 * are encoded from the element texts the compiler wrote, for the set kinds
 * of the inventory part only; anything else returns -1 and the caller
 * falls back to libnftables.
 */

struct rawkey {
	unsigned char b[64];
	size_t len;
	int end;                  /* NFT_SET_ELEM_INTERVAL_END */
};

/* "name" at *p -> 16 bytes, NUL padded, as the kernel keeps ifnames. */
static int raw_ifname(const char **p, struct rawkey *k)
{
	const char *q = *p, *e;

	if (*q != '"' || !(e = strchr(q + 1, '"')) || e - q - 1 > 15)
		return -1;
	memset(k->b + k->len, 0, 16);
	memcpy(k->b + k->len, q + 1, (size_t)(e - q - 1));
	k->len += 16;
	*p = e + 1;
	return 0;
}

static int raw_sep(const char **p, const char *sep)
{
	size_t n = strlen(sep);

	if (strncmp(*p, sep, n) != 0)
		return -1;
	*p += n;
	return 0;
}

static int raw_addr(const char *p, int fam, struct rawkey *k)
{
	if (inet_pton(fam == 4 ? AF_INET : AF_INET6, p, k->b + k->len) != 1)
		return -1;
	k->len += fam == 4 ? 4 : 16;
	return 0;
}

/* "0x..." -> @width bytes, big-endian (how a raw payload field reads). */
static int raw_hex(const char *p, size_t width, struct rawkey *k)
{
	size_t n;

	if (strncmp(p, "0x", 2) != 0)
		return -1;
	p += 2;
	n = strlen(p);
	if (n == 0 || n > width * 2)
		return -1;
	memset(k->b + k->len, 0, width);
	for (size_t i = 0; i < n; i++) {
		int c = p[n - 1 - i], v;

		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else
			return -1;
		k->b[k->len + width - 1 - i / 2] |= (unsigned char)(i % 2 ? v << 4 : v);
	}
	k->len += width;
	return 0;
}

/*
 * Encode element @text of set @set: one key, or two for an interval (its
 * start, and its end flagged INTERVAL_END, omitted when the interval runs
 * to the top of the address space).  *objref gets a map's counter name.
 */
static int raw_encode(const char *set, const char *text, struct rawkey k[2],
                      int *nk, char *objref, size_t objlen)
{
	const char *p = text;

	memset(k, 0, 2 * sizeof *k);
	*nk = 1;
	objref[0] = '\0';
	if (!strncmp(set, "g4_", 3) || !strncmp(set, "g6_", 3)) {
		int fam = set[1] == '4' ? 4 : 6, bits = fam == 4 ? 32 : 128;
		int plen = bits, carry = 1;
		char a[64];
		const char *slash = strchr(text, '/');
		size_t n = slash ? (size_t)(slash - text) : strlen(text);

		if (n >= sizeof a)
			return -1;
		memcpy(a, text, n);
		a[n] = '\0';
		if (slash)
			plen = atoi(slash + 1);
		if (plen < 0 || plen > bits || raw_addr(a, fam, &k[0]) != 0)
			return -1;
		/* end = start + 2^(bits - plen), big-endian; a carry out of
		 * the top byte means the interval runs to the end */
		k[1] = k[0];
		k[1].end = 1;
		if (plen > 0) {
			int pos = bits - plen;
			int byte = (bits - 1 - pos) / 8;
			unsigned v = k[1].b[byte] + (1u << (pos % 8));

			k[1].b[byte] = (unsigned char)v;
			carry = v > 0xff;
			for (int j = byte - 1; carry && j >= 0; j--) {
				v = k[1].b[j] + 1u;
				k[1].b[j] = (unsigned char)v;
				carry = v > 0xff;
			}
		}
		*nk = carry ? 1 : 2;
		return 0;
	}
	if (!strncmp(set, "at_", 3) || !strcmp(set, "nic_nomac") ||
	    !strcmp(set, "nic_quarantine"))
		return raw_ifname(&p, &k[0]) == 0 && !*p ? 0 : -1;
	if (!strcmp(set, "nic_mac")) {
		unsigned int m[6];
		char tail;

		/* a concatenation pads each field to 4 bytes: 6 + 2 */
		if (raw_ifname(&p, &k[0]) != 0 || raw_sep(&p, " . ") != 0 ||
		    sscanf(p, "%2x:%2x:%2x:%2x:%2x:%2x%c", &m[0], &m[1], &m[2],
		           &m[3], &m[4], &m[5], &tail) != 6)
			return -1;
		for (int i = 0; i < 6; i++)
			k[0].b[k[0].len + (size_t)i] = (unsigned char)m[i];
		k[0].len += 8;
		return 0;
	}
	if (!strcmp(set, "nic_addr4") || !strcmp(set, "nic_addr6"))
		return raw_ifname(&p, &k[0]) == 0 && raw_sep(&p, " . ") == 0 &&
		       raw_addr(p, set[8] == '4' ? 4 : 6, &k[0]) == 0 ? 0 : -1;
	if (!strcmp(set, "nic_raw4") || !strcmp(set, "nic_raw6"))
		return raw_ifname(&p, &k[0]) == 0 && raw_sep(&p, " . ") == 0 &&
		       raw_hex(p, set[7] == '4' ? 4 : 16, &k[0]) == 0 ? 0 : -1;
	if (!strcmp(set, "nic_drop_in") || !strcmp(set, "nic_drop_out")) {
		const char *e;

		if (raw_ifname(&p, &k[0]) != 0 || raw_sep(&p, " : \"") != 0 ||
		    !(e = strchr(p, '"')) || (size_t)(e - p) >= objlen)
			return -1;
		memcpy(objref, p, (size_t)(e - p));
		objref[e - p] = '\0';
		return 0;
	}
	return -1;
}

/* The netlink socket of the raw paths, opened on first use. */
static int nl_open(struct enforcer *e)
{
	if (e->nl)
		return 0;
	e->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!e->nl)
		return -1;
	if (mnl_socket_bind(e->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		mnl_socket_close(e->nl);
		e->nl = NULL;
		return -1;
	}
	e->portid = mnl_socket_get_portid(e->nl);
	e->seq = (uint32_t)time(NULL);
	return 0;
}

static int gen_attr(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == NFTA_GEN_ID &&
	    mnl_attr_validate(a, MNL_TYPE_U32) == 0)
		*(uint32_t *)data = ntohl(mnl_attr_get_u32(a));
	return MNL_CB_OK;
}

/*
 * The ruleset generation of this network namespace (NFT_MSG_GETGEN): the
 * kernel adds one at every committed nftables transaction, whoever sends
 * it, to any table.  -1 when it cannot be read.
 */
static int gen_get(struct enforcer *e, uint32_t *gen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;
	uint32_t seq, got[2] = { 0, 0 };
	ssize_t n;

	if (nl_open(e) != 0)
		return -1;
	seq = e->seq++;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	if (mnl_socket_sendto(e->nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	/* Messages of other sequence numbers (acks a refused batch left
	 * unread) are skipped. */
	while (!got[1] && (n = mnl_socket_recvfrom(e->nl, buf, sizeof buf)) > 0) {
		const struct nlmsghdr *nh = (const struct nlmsghdr *)buf;
		int left = (int)n;

		for (; mnl_nlmsg_ok(nh, left); nh = mnl_nlmsg_next(nh, &left)) {
			if (nh->nlmsg_seq != seq)
				continue;
			if (nh->nlmsg_type == NLMSG_ERROR)
				return -1;
			if (mnl_attr_parse(nh, sizeof(struct nfgenmsg), gen_attr,
			                   got) < 0)
				return -1;
			got[1] = 1;
		}
	}
	if (!got[1])
		return -1;
	*gen = got[0];
	return 0;
}

static struct nlmsghdr *raw_msg(struct mnl_nlmsg_batch *b, int type,
                                int flags, uint32_t seq, int family,
                                uint16_t res)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(mnl_nlmsg_batch_current(b));
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (uint16_t)type;
	nlh->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
	nfg->nfgen_family = (uint8_t)family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = htons(res);
	return nlh;
}

/* One nfnetlink batch under construction: every message acked. */
struct rawbatch {
	struct enforcer *e;
	struct mnl_nlmsg_batch *b;
	char *buf;
	uint32_t first;
	int nmsg;
};

static int rb_start(struct enforcer *e, struct rawbatch *rb, size_t size)
{
	if (nl_open(e) != 0)
		return -1;
	memset(rb, 0, sizeof *rb);
	rb->e = e;
	/* libmnl wants a buffer twice the batch limit */
	rb->buf = xmalloc(2 * size);
	rb->b = mnl_nlmsg_batch_start(rb->buf, size);
	rb->first = e->seq;
	raw_msg(rb->b, NFNL_MSG_BATCH_BEGIN, 0, e->seq++, AF_UNSPEC,
	        NFNL_SUBSYS_NFTABLES);
	mnl_nlmsg_batch_next(rb->b);
	return 0;
}

/* A message of the nftables subsystem, family netdev, acked. */
static struct nlmsghdr *rb_msg(struct rawbatch *rb, int msg, int flags)
{
	rb->nmsg++;
	return raw_msg(rb->b, (NFNL_SUBSYS_NFTABLES << 8) | msg,
	               NLM_F_ACK | flags, rb->e->seq++, NFPROTO_NETDEV, 0);
}

static void rb_next(struct rawbatch *rb)
{
	mnl_nlmsg_batch_next(rb->b);
}

/* Close, send, read one ack per message.  0 when the kernel took the
 * whole batch; -1 (nothing changed) otherwise, errno set.  @ok 0 sends
 * nothing (an encoding failed) and only frees. */
static int rb_finish(struct rawbatch *rb, int ok)
{
	struct enforcer *e = rb->e;
	char rbuf[MNL_SOCKET_BUFFER_SIZE];
	int rc = ok ? 0 : -1, nmsg = rb->nmsg;

	raw_msg(rb->b, NFNL_MSG_BATCH_END, 0, e->seq++, AF_UNSPEC,
	        NFNL_SUBSYS_NFTABLES);
	mnl_nlmsg_batch_next(rb->b);
	if (rc == 0)
		e->sent++;
	if (rc == 0 && mnl_socket_sendto(e->nl, mnl_nlmsg_batch_head(rb->b),
	                                 mnl_nlmsg_batch_size(rb->b)) < 0)
		rc = -1;
	/* the batch is done by the time sendto returns: acks are queued */
	while (rc == 0 && nmsg > 0) {
		ssize_t n = mnl_socket_recvfrom(e->nl, rbuf, sizeof rbuf);
		const struct nlmsghdr *nh = (const struct nlmsghdr *)rbuf;
		int left = (int)n;

		if (n < 0) {
			rc = -1;
			break;
		}
		for (; mnl_nlmsg_ok(nh, left); nh = mnl_nlmsg_next(nh, &left)) {
			const struct nlmsgerr *err;

			if (nh->nlmsg_type != NLMSG_ERROR || nh->nlmsg_seq < rb->first)
				continue;
			err = mnl_nlmsg_get_payload(nh);
			nmsg--;
			if (err->error != 0) {
				errno = -err->error;
				rc = -1;
			}
		}
	}
	mnl_nlmsg_batch_stop(rb->b);
	free(rb->buf);
	return rc;
}

/* The element changes of @s into @rb (consecutive changes of one set and
 * verb share a message).  -1 when an element cannot be encoded. */
static int rb_elems(struct rawbatch *rb, const struct script *s)
{
	for (size_t i = 0; i < s->nops; ) {
		const struct elemop *op = &s->ops[i];
		struct nlmsghdr *nlh = rb_msg(rb,
			op->add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
			op->add ? NLM_F_CREATE : 0);
		struct nlattr *list;

		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, COMPILE_TABLE);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, op->set);
		list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
		for (; i < s->nops && s->ops[i].add == op->add &&
		       !strcmp(s->ops[i].set, op->set); i++) {
			struct rawkey k[2];
			char objref[64];
			int nk;

			if (raw_encode(op->set, s->ops[i].elem, k, &nk, objref,
			               sizeof objref) != 0) {
				errno = EINVAL;
				return -1;
			}
			for (int j = 0; j < nk; j++) {
				struct nlattr *el = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
				struct nlattr *key;

				if (k[j].end)
					mnl_attr_put_u32(nlh, NFTA_SET_ELEM_FLAGS,
					                 htonl(NFT_SET_ELEM_INTERVAL_END));
				key = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
				mnl_attr_put(nlh, NFTA_DATA_VALUE, k[j].len, k[j].b);
				mnl_attr_nest_end(nlh, key);
				if (objref[0])
					mnl_attr_put_strz(nlh, NFTA_SET_ELEM_OBJREF, objref);
				mnl_attr_nest_end(nlh, el);
			}
		}
		mnl_attr_nest_end(nlh, list);
		rb_next(rb);
	}
	return 0;
}

/*
 * Send the element changes of @s as one batch.  0 when the kernel took
 * all of them; -1 (nothing changed: a batch is atomic) otherwise.
 */
static int raw_send(struct bh *bh, const struct script *s)
{
	struct rawbatch rb;

	if (s->nops == 0)
		return 0;
	if (rb_start(enf(bh), &rb, 8192 + s->nops * 256) != 0)
		return -1;
	return rb_finish(&rb, rb_elems(&rb, s) == 0);
}

/* ---- NIC chains and counters as raw messages ------------------------------
 * The per-NIC base chains hold three kinds of rule, written by the
 * compiler; they are encoded here as nft itself encodes them (checked
 * with `nft --debug=netlink`), so the kernel lists them as the same text
 * and drift checks stay exact.  Any other line: -1, libnftables does it.
 */

static struct nlattr *ex_begin(struct nlmsghdr *nlh, const char *name,
                               struct nlattr **data)
{
	struct nlattr *el = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);

	mnl_attr_put_strz(nlh, NFTA_EXPR_NAME, name);
	*data = mnl_attr_nest_start(nlh, NFTA_EXPR_DATA);
	return el;
}

static void ex_end(struct nlmsghdr *nlh, struct nlattr *el, struct nlattr *data)
{
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, el);
}

static void ex_meta(struct nlmsghdr *nlh, uint32_t key)
{
	struct nlattr *d, *el = ex_begin(nlh, "meta", &d);

	mnl_attr_put_u32(nlh, NFTA_META_KEY, htonl(key));
	mnl_attr_put_u32(nlh, NFTA_META_DREG, htonl(NFT_REG_1));
	ex_end(nlh, el, d);
}

static void ex_payload(struct nlmsghdr *nlh, uint32_t base, uint32_t off,
                       uint32_t len)
{
	struct nlattr *d, *el = ex_begin(nlh, "payload", &d);

	mnl_attr_put_u32(nlh, NFTA_PAYLOAD_DREG, htonl(NFT_REG_1));
	mnl_attr_put_u32(nlh, NFTA_PAYLOAD_BASE, htonl(base));
	mnl_attr_put_u32(nlh, NFTA_PAYLOAD_OFFSET, htonl(off));
	mnl_attr_put_u32(nlh, NFTA_PAYLOAD_LEN, htonl(len));
	ex_end(nlh, el, d);
}

static void ex_cmp(struct nlmsghdr *nlh, uint32_t op, const void *v,
                   size_t len)
{
	struct nlattr *d, *el = ex_begin(nlh, "cmp", &d), *data;

	mnl_attr_put_u32(nlh, NFTA_CMP_SREG, htonl(NFT_REG_1));
	mnl_attr_put_u32(nlh, NFTA_CMP_OP, htonl(op));
	data = mnl_attr_nest_start(nlh, NFTA_CMP_DATA);
	mnl_attr_put(nlh, NFTA_DATA_VALUE, len, v);
	mnl_attr_nest_end(nlh, data);
	ex_end(nlh, el, d);
}

static void ex_goto(struct nlmsghdr *nlh, const char *chain)
{
	struct nlattr *d, *el = ex_begin(nlh, "immediate", &d), *data, *v;

	mnl_attr_put_u32(nlh, NFTA_IMMEDIATE_DREG, htonl(NFT_REG_VERDICT));
	data = mnl_attr_nest_start(nlh, NFTA_IMMEDIATE_DATA);
	v = mnl_attr_nest_start(nlh, NFTA_DATA_VERDICT);
	mnl_attr_put_u32(nlh, NFTA_VERDICT_CODE, htonl((uint32_t)NFT_GOTO));
	mnl_attr_put_strz(nlh, NFTA_VERDICT_CHAIN, chain);
	mnl_attr_nest_end(nlh, v);
	mnl_attr_nest_end(nlh, data);
	ex_end(nlh, el, d);
}

/* One rule line of a NIC base chain appended to @chain. */
static int rb_nic_rule(struct rawbatch *rb, const char *chain,
                       const char *line)
{
	unsigned int m[6];
	unsigned char mac[6];
	char target[64];
	int arp = 0;
	struct nlmsghdr *nlh;
	struct nlattr *ex;

	if (sscanf(line, "ether saddr != %x:%x:%x:%x:%x:%x goto spoof",
	           &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) == 6)
		arp = 0;
	else if (sscanf(line, "arp saddr ether != %x:%x:%x:%x:%x:%x goto spoof",
	                &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) == 6)
		arp = 1;
	else if (sscanf(line, "goto %63s", target) == 1 &&
	         (!strcmp(target, "ingress") || !strcmp(target, "egress")))
		arp = -1;
	else
		return -1;
	nlh = rb_msg(rb, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, COMPILE_TABLE);
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, chain);
	ex = mnl_attr_nest_start(nlh, NFTA_RULE_EXPRESSIONS);
	if (arp >= 0) {
		for (int i = 0; i < 6; i++)
			mac[i] = (unsigned char)m[i];
		if (arp) {
			uint16_t proto = htons(0x0806);

			ex_meta(nlh, NFT_META_PROTOCOL);
			ex_cmp(nlh, NFT_CMP_EQ, &proto, sizeof proto);
			ex_payload(nlh, NFT_PAYLOAD_NETWORK_HEADER, 8, 6);
		} else {
			uint16_t ether = 1;    /* ARPHRD_ETHER, host order */

			ex_meta(nlh, NFT_META_IIFTYPE);
			ex_cmp(nlh, NFT_CMP_EQ, &ether, sizeof ether);
			ex_payload(nlh, NFT_PAYLOAD_LL_HEADER, 6, 6);
		}
		ex_cmp(nlh, NFT_CMP_NEQ, mac, 6);
		ex_goto(nlh, "spoof");
	} else {
		ex_goto(nlh, target);
	}
	mnl_attr_nest_end(nlh, ex);
	rb_next(rb);
	return 0;
}

static void rb_chain_new(struct rawbatch *rb, const struct cchain *c)
{
	struct nlmsghdr *nlh = rb_msg(rb, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
	struct nlattr *hook;

	mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, COMPILE_TABLE);
	mnl_attr_put_strz(nlh, NFTA_CHAIN_NAME, c->name);
	hook = mnl_attr_nest_start(nlh, NFTA_CHAIN_HOOK);
	mnl_attr_put_u32(nlh, NFTA_HOOK_HOOKNUM,
	                 htonl(!strcmp(c->hook, "egress") ? NF_NETDEV_EGRESS
	                                                 : NF_NETDEV_INGRESS));
	mnl_attr_put_u32(nlh, NFTA_HOOK_PRIORITY, htonl(0));
	mnl_attr_put_strz(nlh, NFTA_HOOK_DEV, c->device);
	mnl_attr_nest_end(nlh, hook);
	mnl_attr_put_u32(nlh, NFTA_CHAIN_POLICY, htonl(NF_ACCEPT));
	mnl_attr_put_strz(nlh, NFTA_CHAIN_TYPE, "filter");
	rb_next(rb);
}

/* Flush (no handle: every rule) and, with @del, delete the chain. */
static void rb_chain_flush(struct rawbatch *rb, const char *name, int del)
{
	struct nlmsghdr *nlh = rb_msg(rb, NFT_MSG_DELRULE, 0);

	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, COMPILE_TABLE);
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, name);
	rb_next(rb);
	if (!del)
		return;
	nlh = rb_msg(rb, NFT_MSG_DELCHAIN, 0);
	mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, COMPILE_TABLE);
	mnl_attr_put_strz(nlh, NFTA_CHAIN_NAME, name);
	rb_next(rb);
}

static void rb_counter(struct rawbatch *rb, const char *name, int add)
{
	struct nlmsghdr *nlh = rb_msg(rb, add ? NFT_MSG_NEWOBJ : NFT_MSG_DELOBJ,
	                              add ? NLM_F_CREATE : 0);

	mnl_attr_put_strz(nlh, NFTA_OBJ_TABLE, COMPILE_TABLE);
	mnl_attr_put_strz(nlh, NFTA_OBJ_NAME, name);
	mnl_attr_put_u32(nlh, NFTA_OBJ_TYPE, htonl(NFT_OBJECT_COUNTER));
	if (add) {
		struct nlattr *d = mnl_attr_nest_start(nlh, NFTA_OBJ_DATA);

		mnl_attr_put_u64(nlh, NFTA_COUNTER_BYTES, 0);
		mnl_attr_put_u64(nlh, NFTA_COUNTER_PACKETS, 0);
		mnl_attr_nest_end(nlh, d);
	}
	rb_next(rb);
}


/* ---- cutting a quarantined NIC's flows ------------------------------------
 * Quarantine must stop live connections, and the quarantine chains come
 * before the established-flow lookup, so they do; the entries of the NIC's
 * flows are removed too, so that nothing of them is left to resume on
 * release and the flows left are the remediation's own.  Every flow set is
 * keyed first by the NIC's interface index (4 bytes, host order), so the
 * entries are found by dumping the sets (NFT_MSG_GETSETELEM) and removed
 * by key in the same batch as the quarantine set's new element when the
 * raw path sends it, else in a batch right after.  The removal is a
 * DESTROYSETELEM, which does not fail on an entry that timed out in the
 * meantime (kernel 6.3 and later; older ones: DELSETELEM, retried once).
 */
#ifndef NFT_MSG_DESTROYSETELEM
#define NFT_MSG_DESTROYSETELEM 30
#endif

static const char *const flow_set_names[] = {
	"flow4_tcp", "flow4_udp", "flow6_tcp", "flow6_udp",
	"ping4_out", "ping4_in", "ping6_out", "ping6_in",
	"rel4", "rel6", "rej4", "rej6"
};

struct dumpctx {
	struct enforcer *e;
	const char *set;
	const uint32_t *idx;
	size_t nidx;
	struct strv *names;   /* not NULL: collect ifname keys, quoted */
};

static int dump_key(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int t = mnl_attr_get_type(a);

	if (t == NFTA_SET_ELEM_KEY)
		tb[0] = a;
	return MNL_CB_OK;
}

static int dump_elem(const struct nlattr *a, void *data)
{
	struct dumpctx *d = data;
	const struct nlattr *key = NULL, *val;
	const unsigned char *b;
	uint32_t ifx;
	size_t len;

	if (mnl_attr_get_type(a) != NFTA_LIST_ELEM)
		return MNL_CB_OK;
	mnl_attr_parse_nested(a, dump_key, &key);
	if (!key)
		return MNL_CB_OK;
	val = mnl_attr_get_payload(key);
	if (mnl_attr_get_type(val) != NFTA_DATA_VALUE)
		return MNL_CB_OK;
	len = mnl_attr_get_payload_len(val);
	b = mnl_attr_get_payload(val);
	if (d->names) {
		char q[24];

		snprintf(q, sizeof q, "\"%.*s\"", (int)strnlen((const char *)b,
		         len < 16 ? len : 16), (const char *)b);
		strv_push(d->names, q);
		return MNL_CB_OK;
	}
	if (len < 4 || len > sizeof d->e->cut->key)
		return MNL_CB_OK;
	memcpy(&ifx, b, 4);
	for (size_t i = 0; i < d->nidx; i++) {
		struct flowcut *c;

		if (d->idx[i] != ifx)
			continue;
		d->e->cut = xrealloc(d->e->cut, (d->e->ncut + 1) * sizeof *c);
		c = &d->e->cut[d->e->ncut++];
		snprintf(c->set, sizeof c->set, "%s", d->set);
		memcpy(c->key, b, len);
		c->len = len;
		break;
	}
	return MNL_CB_OK;
}

static int dump_attr(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == NFTA_SET_ELEM_LIST_ELEMENTS)
		mnl_attr_parse_nested(a, dump_elem, data);
	return MNL_CB_OK;
}

static int dump_msg(const struct nlmsghdr *nlh, void *data)
{
	return mnl_attr_parse(nlh, sizeof(struct nfgenmsg), dump_attr, data) < 0
	       ? MNL_CB_ERROR : MNL_CB_OK;
}

/* The entries of set @set keyed by one of @idx into e->cut. */
static int dump_set(struct enforcer *e, const char *set, const uint32_t *idx,
                    size_t nidx, struct strv *names)
{
	char *buf = xmalloc(MNL_SOCKET_BUFFER_SIZE);
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;
	struct dumpctx d = { e, set, idx, nidx, names };
	uint32_t seq;
	ssize_t n;
	int rc = 0;

	if (nl_open(e) != 0) {
		free(buf);
		return -1;
	}
	seq = e->seq++;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETSETELEM;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
	nfg->nfgen_family = NFPROTO_NETDEV;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, COMPILE_TABLE);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	if (mnl_socket_sendto(e->nl, nlh, nlh->nlmsg_len) < 0) {
		free(buf);
		return -1;
	}
	while ((n = mnl_socket_recvfrom(e->nl, buf, MNL_SOCKET_BUFFER_SIZE)) > 0) {
		rc = mnl_cb_run(buf, (size_t)n, seq, e->portid, dump_msg, &d);
		if (rc <= MNL_CB_STOP)
			break;
	}
	free(buf);
	/* a set that is not there (no table yet) has no flows */
	return rc == MNL_CB_ERROR && errno != ENOENT ? -1 : 0;
}

/*
 * Plan the removal of the flow entries of the NICs of @inv's quarantined
 * workloads that were not quarantined in the state applied last, or, with
 * none kept, in the kernel's quarantine set (all of them when even that
 * cannot be read).  O(flow entries) for the dumps, and only
 * when a NIC has just been quarantined.
 */
static void cut_plan(struct enforcer *e, const struct inventory *inv)
{
	const struct cset *last = e->have_last ?
		compile_find_set(&e->last, "nic_quarantine") : NULL;
	struct strv kernel = STRV_INIT;
	const struct strv *was = last ? &last->elems : NULL;
	uint32_t *idx = NULL;
	size_t nidx = 0;

	e->ncut = 0;
	/* No ruleset kept (a process that just started): the kernel's own
	 * set says who was quarantined already, so their remediation flows
	 * stay. */
	if (!was && dump_set(e, "nic_quarantine", NULL, 0, &kernel) == 0)
		was = &kernel;
	for (size_t i = 0; i < inv->n; i++) {
		const struct workload *w = &inv->w[i];

		for (size_t k = 0; w->quarantined && k < w->nnics; k++) {
			char q[40];
			unsigned x;

			snprintf(q, sizeof q, "\"%s\"", w->nics[k].ifname);
			if (was && strv_contains(was, q))
				continue;
			if ((x = if_nametoindex(w->nics[k].ifname)) == 0)
				continue;   /* no device: no flows */
			idx = xrealloc(idx, (nidx + 1) * sizeof *idx);
			idx[nidx++] = x;
		}
	}
	for (size_t i = 0; nidx && i < sizeof flow_set_names /
	                                sizeof flow_set_names[0]; i++)
		dump_set(e, flow_set_names[i], idx, nidx, NULL);
	free(idx);
	strv_free(&kernel);
}

static void cut_done(struct enforcer *e)
{
	e->ncut = 0;
}

/* The planned removals into @rb. */
static void rb_cuts(struct rawbatch *rb)
{
	struct enforcer *e = rb->e;

	for (size_t i = 0; i < e->ncut; ) {
		struct nlmsghdr *nlh = rb_msg(rb, NFT_MSG_DESTROYSETELEM, 0);
		struct nlattr *list;
		const char *set = e->cut[i].set;

		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, COMPILE_TABLE);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
		list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
		for (; i < e->ncut && !strcmp(e->cut[i].set, set); i++) {
			struct nlattr *el = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
			struct nlattr *key = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);

			mnl_attr_put(nlh, NFTA_DATA_VALUE, e->cut[i].len,
			             e->cut[i].key);
			mnl_attr_nest_end(nlh, key);
			mnl_attr_nest_end(nlh, el);
		}
		mnl_attr_nest_end(nlh, list);
		rb_next(rb);
	}
}

/* The planned removals not sent with the elements: a batch of their own.
 * The generation our last ruleset is known at moves with it. */
static void cut_send(struct enforcer *e)
{
	struct rawbatch rb;
	uint32_t g0 = 0, g1 = 0;
	int track;

	if (e->ncut == 0)
		return;
	track = e->gen_known && gen_get(e, &g0) == 0 && g0 == e->last_gen;
	if (rb_start(e, &rb, 8192 + e->ncut * 128) == 0) {
		rb_cuts(&rb);
		rb_finish(&rb, 1);
	}
	if (track && gen_get(e, &g1) == 0 && g1 == g0 + 1)
		e->last_gen = g1;
	e->ncut = 0;
}


/*
 * The whole change from inventory part @a to @b (element changes already
 * in @s) as one raw batch: new counters, new or changed NIC chains with
 * their rules, element changes, then removed chains and counters, in an
 * order where nothing is used before it exists or deleted while used.
 * -1 when something cannot be encoded (nothing sent).
 */
static int raw_send_part(struct bh *bh, const struct ruleset *a,
                         const struct ruleset *b, const struct script *s)
{
	struct rawbatch rb;
	struct strv cadd = STRV_INIT, cdel = STRV_INIT;
	size_t size = 16384 + s->nops * 256;
	int ok = 1;

	for (size_t i = 0; i < b->nchains; i++)
		size += 1024 + b->chains[i].rules.n * 512;
	for (size_t i = 0; i < a->nchains; i++)
		size += 512;
	elems_minus(&b->counters, &a->counters, &cadd);
	elems_minus(&a->counters, &b->counters, &cdel);
	size += (cadd.n + cdel.n) * 256 + enf(bh)->ncut * 128;
	if (rb_start(enf(bh), &rb, size) != 0) {
		strv_free(&cadd);
		strv_free(&cdel);
		return -1;
	}
	for (size_t i = 0; i < cadd.n; i++)
		rb_counter(&rb, cadd.v[i], 1);
	for (size_t i = 0; ok && i < b->nchains; i++) {
		const struct cchain *w = &b->chains[i];
		const struct cchain *h = compile_find_chain(a, w->name);

		if (!w->hook) {
			ok = 0;
			break;
		}
		if (h && strv_equal(&h->rules, &w->rules))
			continue;
		if (h)
			rb_chain_flush(&rb, w->name, 0);
		else
			rb_chain_new(&rb, w);
		for (size_t k = 0; ok && k < w->rules.n; k++)
			ok = rb_nic_rule(&rb, w->name, w->rules.v[k]) == 0;
	}
	if (ok)
		ok = rb_elems(&rb, s) == 0;
	if (ok)
		rb_cuts(&rb);
	for (size_t i = 0; ok && i < a->nchains; i++)
		if (!compile_find_chain(b, a->chains[i].name))
			rb_chain_flush(&rb, a->chains[i].name, 1);
	for (size_t i = 0; ok && i < cdel.n; i++)
		rb_counter(&rb, cdel.v[i], 0);
	strv_free(&cadd);
	strv_free(&cdel);
	if (rb_finish(&rb, ok) != 0)
		return -1;
	cut_done(enf(bh));
	return 0;
}

/*
 * Send @s.  On a refusal, find the script line libnftables names
 * ("<cmdline>:LINE:COL-COL: Error: ...") and say which rule it was.
 */
static int find_refused(struct bh *bh, const struct ruleset *want,
                        int64_t *rule_id);

static int send_script(struct bh *bh, struct script *s, const char *what,
                       const struct ruleset *want)
{
	struct enforcer *e = enf(bh);
	char *err;
	int line = 0;

	sb_reset(&e->script);
	sb_add(&e->script, sb_str(&s->sb));
	if (s->changes == 0)
		return 0;
	e->sent++;
	if (run(bh, sb_str(&s->sb), 0, NULL, what) == 0)
		return 0;
	err = xstrdup(bh->err);
	for (const char *p = err; (p = strchr(p, ':')) != NULL; p++)
		if (isdigit((unsigned char)p[1])) {
			line = atoi(p + 1);
			break;
		}
	{
		/* Chain validation (hooks, loops, reject in egress) runs when
		 * the batch commits, and nft then points at the batch's first
		 * command: find the rule by trying prefixes of the ruleset in
		 * a scratch table. */
		int64_t id = 0;
		char *saved = xstrdup(err);

		if (!(line > 0 && line <= s->line && s->ids[line] > 0) && want &&
		    find_refused(bh, want, &id) == 0 && id > 0) {
			line = 1;
			s->ids[line] = id;
		}
		snprintf(bh->err, sizeof bh->err, "%s", saved);
		free(saved);
	}
	if (line > 0 && line <= s->line && s->ids[line] > 0) {
		const char *msg = strstr(err, "Error: ");

		bh_error(bh, "%s: the kernel refused rule %" PRId64 ": %.300s; "
		         "nothing was changed", what, s->ids[line],
		         msg ? msg + 7 : err);
	} else {
		const char *msg = strstr(err, "Error: ");

		bh_error(bh, "%s: the kernel refused the ruleset: %.400s; "
		         "nothing was changed", what, msg ? msg + 7 : err);
	}
	/* Keep only the first line of nft's message (it quotes the line). */
	{
		char *nl = strchr(bh->err, '\n');

		if (nl) {
			char *semi = strstr(bh->err, "; nothing was changed");

			if (!semi || semi > nl) {
				*nl = '\0';
				strncat(bh->err, "; nothing was changed",
				        sizeof bh->err - strlen(bh->err) - 1);
			}
		}
	}
	free(err);
	return -1;
}

static void script_init(struct script *s)
{
	memset(s, 0, sizeof *s);
	s->rule_limit = -1;
}

static void script_free(struct script *s)
{
	sb_free(&s->sb);
	free(s->ids);
	for (size_t i = 0; i < s->nops; i++) {
		free(s->ops[i].set);
		free(s->ops[i].elem);
	}
	free(s->ops);
}

/*
 * Load the first @k rule lines of @want (with every set, counter and
 * chain) into a scratch table that the same transaction deletes.
 * 0 when the kernel takes it.
 */
static int probe(struct bh *bh, const struct ruleset *want, long k,
                 int64_t *last_id)
{
	struct ruleset empty;
	struct script s;
	int rc;

	/* The kernel skips validating a table that the same transaction
	 * deletes, so the scratch table is committed for real and deleted
	 * by a second transaction.  Its base chains hook a device name that
	 * does not exist, so no packet ever meets them. */
	run(bh, "delete table netdev " COMPILE_TABLE "_check", 0, NULL, "probe");
	memset(&empty, 0, sizeof empty);
	script_init(&s);
	s.table = "netdev " COMPILE_TABLE "_check";
	s.device = "bh-check-none";
	s.probe_order = 1;
	s.rule_limit = k;
	diff(&empty, 0, want, &s, NULL);
	*last_id = s.last_rule_id;
	rc = run(bh, sb_str(&s.sb), 0, NULL, "probe");
	script_free(&s);
	if (rc == 0) {
		char saved[BH_ERR_MAX];

		memcpy(saved, bh->err, sizeof saved);
		run(bh, "delete table netdev " COMPILE_TABLE "_check", 0, NULL,
		    "probe");
		memcpy(bh->err, saved, sizeof saved);
	}
	return rc;
}

/* Bisect for the first rule line the kernel refuses: O(log lines)
 * scratch transactions, run only after a refusal. */
static int find_refused(struct bh *bh, const struct ruleset *want,
                        int64_t *rule_id)
{
	long lo = 0, hi = 0;
	int64_t id;

	for (size_t i = 0; i < want->nchains; i++)
		hi += (long)want->chains[i].rules.n;
	if (probe(bh, want, hi, &id) == 0 || probe(bh, want, 0, &id) != 0)
		return -1;
	/* invariant: lo rule lines load, hi do not */
	while (hi - lo > 1) {
		long mid = lo + (hi - lo) / 2;

		if (probe(bh, want, mid, &id) == 0)
			lo = mid;
		else
			hi = mid;
	}
	probe(bh, want, hi, &id);
	*rule_id = id;
	return 0;
}

/* ---- public ------------------------------------------------------------- */

static int compile_for(struct bh *bh, const struct config *cfg,
                       const struct inventory *inv, struct ruleset *rs)
{
	struct enforcer *e = enf(bh);
	char err[512];
	struct compile_opts o;

	if (e)
		o = e->opts;
	else
		compile_opts_default(&o);
	if (compile_ruleset(cfg, inv, &o, rs, err, sizeof err) != 0)
		return bh_error(bh, "%s", err);
	return 0;
}

static void keep_last(struct enforcer *e, struct ruleset *want)
{
	if (e->have_last)
		compile_free(&e->last);
	e->last = *want;
	e->have_last = 1;
	memset(want, 0, sizeof *want);
}


/* ---- remembering the last apply across processes ---------------------------
 *
 * Reading the kernel's table back costs most of a re-apply at 10,000 rules
 * (libnftables lists and parses every rule).  So after an apply the ruleset
 * that was sent is written beside the store (DB-nft, one object a line),
 * stamped with the network namespace (boot id and SO_NETNS_COOKIE: never
 * reused while the machine runs) and the ruleset generation the kernel
 * reached with that transaction.  The next apply, in this process or
 * another one, diffs against that file instead of the kernel's listing
 * when the generation is still the same: nothing at all has been
 * committed to nftables in this namespace since, so the table is exactly
 * what the file says.  A transaction of anybody else (an admin's `nft`,
 * another table, `commit check`'s scratch table) moves the generation:
 * the next apply reads the kernel back, as before, and writes the file
 * anew.  The generation after our own batch is trusted only when it is
 * the one before it plus one (no other transaction slipped in between).
 */

static int ns_key(struct enforcer *e, char *buf, size_t len)
{
	char boot[64] = "";
	uint64_t cookie = 0;
	socklen_t cl = sizeof cookie;
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif
	if (!f)
		return -1;
	if (!fgets(boot, sizeof boot, f))
		boot[0] = '\0';
	fclose(f);
	boot[strcspn(boot, "\n")] = '\0';
	if (!boot[0] || nl_open(e) != 0 ||
	    getsockopt(mnl_socket_get_fd(e->nl), SOL_SOCKET, SO_NETNS_COOKIE,
	               &cookie, &cl) != 0)
		return -1;
	snprintf(buf, len, "%s:%" PRIu64, boot, cookie);
	return 0;
}

static void state_path(struct bh *bh, char *buf, size_t len)
{
	snprintf(buf, len, "%s-nft", bh->db_path);
}

static void state_forget(struct bh *bh)
{
	char path[PATH_MAX + 8];

	if (!bh->db_path[0])
		return;
	state_path(bh, path, sizeof path);
	unlink(path);
}

/* Write @rs as applied at generation @gen (temporary file, then rename:
 * a reader sees the old file or the new one).  Failing is harmless: the
 * next apply reads the kernel back. */
static void state_save(struct bh *bh, const struct ruleset *rs, uint32_t gen)
{
	char path[PATH_MAX + 8], tmp[PATH_MAX + 32], key[128];
	FILE *f;
	int ok;

	if (!bh->db_path[0] || ns_key(enf(bh), key, sizeof key) != 0)
		return;
	state_path(bh, path, sizeof path);
	snprintf(tmp, sizeof tmp, "%s.%ld", path, (long)getpid());
	f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "bulkhead-nft-state 1\nkey %s\ngen %" PRIu32 "\n", key, gen);
	for (size_t i = 0; i < rs->counters.n; i++)
		fprintf(f, "c %s\n", rs->counters.v[i]);
	for (size_t i = 0; i < rs->nsets; i++) {
		const struct cset *st = &rs->sets[i];

		fprintf(f, "s %d %s\n", st->kind, st->name);
		for (size_t k = 0; k < st->decl.n; k++)
			fprintf(f, "d %s\n", st->decl.v[k]);
		for (size_t k = 0; st->kind != CSET_FLOW && k < st->elems.n; k++)
			fprintf(f, "e %s\n", st->elems.v[k]);
	}
	for (size_t i = 0; i < rs->nchains; i++) {
		const struct cchain *c = &rs->chains[i];

		fprintf(f, "h %s %s %s\n", c->name, c->hook ? c->hook : "-",
		        c->hook ? c->device : "-");
		for (size_t k = 0; k < c->rules.n; k++)
			fprintf(f, "r %s\n", c->rules.v[k]);
	}
	fprintf(f, "end\n");
	ok = fflush(f) == 0 && !ferror(f);
	if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) {
		unlink(tmp);
		state_forget(bh);
	}
}

/* Read the file into @rs when it was written in this namespace at
 * generation @gen; -1 (and @rs empty) otherwise. */
static int state_load(struct bh *bh, uint32_t gen, struct ruleset *rs)
{
	char path[PATH_MAX + 8], key[128], want[160];
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int lineno = 0, done = 0, bad = 0;
	struct cset *set = NULL;
	struct cchain *chain = NULL;

	memset(rs, 0, sizeof *rs);
	if (!bh->db_path[0] || ns_key(enf(bh), key, sizeof key) != 0)
		return -1;
	state_path(bh, path, sizeof path);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (!done && !bad && (n = getline(&line, &cap, f)) > 0) {
		char *t = line, *arg;

		if (line[n - 1] == '\n')
			line[--n] = '\0';
		lineno++;
		arg = strchr(t, ' ');
		arg = arg ? arg + 1 : t + n;
		if (lineno == 1) {
			bad = strcmp(t, "bulkhead-nft-state 1") != 0;
		} else if (lineno == 2) {
			snprintf(want, sizeof want, "key %s", key);
			bad = strcmp(t, want) != 0;
		} else if (lineno == 3) {
			snprintf(want, sizeof want, "gen %" PRIu32, gen);
			bad = strcmp(t, want) != 0;
		} else if (!strcmp(t, "end")) {
			done = 1;
		} else if (t[0] == 'c' && t[1] == ' ') {
			strv_push(&rs->counters, arg);
		} else if (t[0] == 's' && t[1] == ' ') {
			char *name = strchr(arg, ' ');

			bad = !name;
			if (bad)
				break;
			rs->sets = xrealloc(rs->sets, (rs->nsets + 1) * sizeof *rs->sets);
			set = &rs->sets[rs->nsets++];
			memset(set, 0, sizeof *set);
			set->kind = atoi(arg);
			set->name = xstrdup(name + 1);
			chain = NULL;
		} else if (t[0] == 'd' && t[1] == ' ' && set) {
			strv_push(&set->decl, arg);
		} else if (t[0] == 'e' && t[1] == ' ' && set) {
			strv_push(&set->elems, arg);
		} else if (t[0] == 'h' && t[1] == ' ') {
			char name[300], hook[16], dev[64];

			bad = sscanf(arg, "%299s %15s %63s", name, hook, dev) != 3;
			if (bad)
				break;
			rs->chains = xrealloc(rs->chains, (rs->nchains + 1) * sizeof *rs->chains);
			chain = &rs->chains[rs->nchains++];
			memset(chain, 0, sizeof *chain);
			chain->name = xstrdup(name);
			if (strcmp(hook, "-") != 0) {
				chain->hook = xstrdup(hook);
				chain->device = xstrdup(dev);
			}
			set = NULL;
		} else if (t[0] == 'r' && t[1] == ' ' && chain) {
			strv_push(&chain->rules, arg);
		} else {
			bad = 1;
		}
	}
	free(line);
	fclose(f);
	if (bad || !done) {
		compile_free(rs);
		return -1;
	}
	return 0;
}

/*
 * After a successful apply of @want from a state known at generation @g0
 * (@g0_ok): keep it as the last ruleset, and remember it across processes
 * when the generation it made is known.  @sent: a batch went out.
 */
static void settle(struct bh *bh, struct ruleset *want, int g0_ok,
                   uint32_t g0, int sent)
{
	struct enforcer *e = enf(bh);
	uint32_t g1 = g0;
	int known = g0_ok;

	if (known && sent)
		known = gen_get(e, &g1) == 0 && g1 == g0 + 1;
	keep_last(e, want);
	e->gen_known = known;
	e->last_gen = g1;
	if (known)
		state_save(bh, &e->last, g1);
	else
		state_forget(bh);
}

/*
 * Apply @want.  The state to diff against is, in this order: what this
 * handle applied last, or the file of the last apply (see above), when
 * the generation says nothing has happened since; else the kernel's
 * table read back.  A refusal of a diff against a remembered state (it
 * should not happen) also falls back to reading the kernel.
 */
static int apply_ruleset(struct bh *bh, struct ruleset *want, const char *what)
{
	struct enforcer *e = enf(bh);
	struct ruleset have;
	struct script s;
	int exists, rc, g0_ok;
	uint32_t g0 = 0, gx = 0;

	if (!e)
		return bh_error(bh, "%s: no enforcer attached", what);
	g0_ok = gen_get(e, &g0) == 0;
	if (e->have_last && !(g0_ok && e->gen_known && e->last_gen == g0)) {
		compile_free(&e->last);
		e->have_last = 0;
	}
	if (!e->have_last && g0_ok && state_load(bh, g0, &e->last) == 0) {
		e->have_last = 1;
		e->gen_known = 1;
		e->last_gen = g0;
	}
	if (e->have_last) {
		script_init(&s);
		diff(&e->last, 1, want, &s, NULL);
		rc = send_script(bh, &s, what, want);
		if (rc == 0) {
			settle(bh, want, g0_ok, g0, s.changes > 0);
			script_free(&s);
			return 0;
		}
		script_free(&s);
		compile_free(&e->last);
		e->have_last = 0;
		e->gen_known = 0;
		g0_ok = gen_get(e, &g0) == 0;
	}
	if (read_kernel(bh, &have, &exists) != 0)
		return -1;
	/* the listing is of generation g0 only if it had not moved */
	if (g0_ok && (gen_get(e, &gx) != 0 || gx != g0))
		g0_ok = 0;
	script_init(&s);
	diff(&have, exists, want, &s, NULL);
	rc = send_script(bh, &s, what, want);
	compile_free(&have);
	if (rc == 0)
		settle(bh, want, g0_ok, g0, s.changes > 0);
	else
		state_forget(bh);
	script_free(&s);
	return rc;
}

int nft_apply(struct bh *bh, const struct config *cfg,
              const struct inventory *inv)
{
	struct ruleset want;
	int rc;

	if (compile_for(bh, cfg, inv, &want) != 0)
		return -1;
	/* A commit reconciles with the kernel itself, so it also repairs
	 * drift, unless the generation proves nothing changed since the
	 * last apply (see apply_ruleset()). */
	if (!enf(bh)) {
		compile_free(&want);
		return bh_error(bh, "commit: no enforcer attached");
	}
	/* A full apply may be of a revision that is undone later: drop the
	 * running config kept for inventory changes (nft_inventory_apply). */
	running_forget(enf(bh));
	rc = apply_ruleset(bh, &want, "commit");
	compile_free(&want);
	if (rc == 0)
		remember_inv(enf(bh), inv);
	else
		forget(enf(bh));
	return rc;
}

/*
 * The view of @last's inventory part (see compile_inventory()): shallow
 * copies that share @last's strings; free with view_free().
 */
static void view_build(const struct ruleset *last, struct ruleset *v)
{
	memset(v, 0, sizeof *v);
	v->sets = xcalloc(last->nsets + 1, sizeof *v->sets);
	v->chains = xcalloc(last->nchains + 1, sizeof *v->chains);
	v->counters.v = xcalloc(last->counters.n + 1, sizeof *v->counters.v);
	for (size_t i = 0; i < last->nsets; i++)
		if (compile_inventory_object('s', last->sets[i].name, 0))
			v->sets[v->nsets++] = last->sets[i];
	for (size_t i = 0; i < last->nchains; i++)
		if (compile_inventory_object('h', last->chains[i].name,
		                             last->chains[i].hook != NULL))
			v->chains[v->nchains++] = last->chains[i];
	for (size_t i = 0; i < last->counters.n; i++)
		if (compile_inventory_object('c', last->counters.v[i], 0))
			v->counters.v[v->counters.n++] = last->counters.v[i];
}

static void view_free(struct ruleset *v)
{
	free(v->sets);
	free(v->chains);
	free(v->counters.v);
	memset(v, 0, sizeof *v);
}

/* Replace the inventory part of @last by @part (whose objects move into
 * @last; @part is left empty). */
static void merge_part(struct ruleset *last, struct ruleset *part)
{
	struct ruleset old = *last;
	size_t ns = 0, nc = 0;
	struct strv counters = STRV_INIT;

	last->sets = xcalloc(old.nsets + part->nsets + 1, sizeof *last->sets);
	last->chains = xcalloc(old.nchains + part->nchains + 1, sizeof *last->chains);
	for (size_t i = 0; i < old.nsets; i++) {
		if (compile_inventory_object('s', old.sets[i].name, 0)) {
			compile_set_free(&old.sets[i]);
			continue;
		}
		last->sets[ns++] = old.sets[i];
	}
	for (size_t i = 0; i < part->nsets; i++)
		last->sets[ns++] = part->sets[i];
	last->nsets = ns;
	for (size_t i = 0; i < old.nchains; i++) {
		struct cchain *c = &old.chains[i];

		if (compile_inventory_object('h', c->name, c->hook != NULL)) {
			compile_chain_free(c);
			continue;
		}
		last->chains[nc++] = *c;
	}
	for (size_t i = 0; i < part->nchains; i++)
		last->chains[nc++] = part->chains[i];
	last->nchains = nc;
	for (size_t i = 0; i < old.counters.n; i++)
		if (!compile_inventory_object('c', old.counters.v[i], 0))
			strv_push(&counters, old.counters.v[i]);
	for (size_t i = 0; i < part->counters.n; i++)
		strv_push(&counters, part->counters.v[i]);
	strv_uniq(&counters);
	strv_free(&old.counters);
	last->counters = counters;
	free(old.sets);
	free(old.chains);
	free(part->sets);
	free(part->chains);
	strv_free(&part->counters);
	strv_free(&part->used_groups);
	strv_free(&part->used_at);
	free(part->header);
	memset(part, 0, sizeof *part);
}


/* ---- inventory deltas ---------------------------------------------------- */

static void inv_copy(struct inventory *dst, const struct inventory *src)
{
	dst->n = src->n;
	dst->w = xcalloc(src->n + 1, sizeof *dst->w);
	for (size_t i = 0; i < src->n; i++) {
		const struct workload *a = &src->w[i];
		struct workload *b = &dst->w[i];

		*b = *a;
		memset(&b->tags, 0, sizeof b->tags);
		memset(&b->groups, 0, sizeof b->groups);
		strv_copy(&b->tags, &a->tags);
		b->nics = xcalloc(a->nnics + 1, sizeof *b->nics);
		for (size_t k = 0; k < a->nnics; k++) {
			b->nics[k] = a->nics[k];
			memset(&b->nics[k].addrs, 0, sizeof b->nics[k].addrs);
			strv_copy(&b->nics[k].addrs, &a->nics[k].addrs);
		}
	}
}

static void remember_inv(struct enforcer *e, const struct inventory *inv)
{
	if (e->have_prev)
		policy_inventory_free(&e->prev);
	inv_copy(&e->prev, inv);
	e->have_prev = 1;
}

static void forget(struct enforcer *e)
{
	if (e->have_last)
		compile_free(&e->last);
	e->have_last = 0;
	if (e->have_prev)
		policy_inventory_free(&e->prev);
	e->have_prev = 0;
	e->gen_known = 0;
	e->memo_cfg = NULL;
}

static int strv_equal(const struct strv *a, const struct strv *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]))
			return 0;
	return 1;
}

/* Equal in everything the compiler reads. */
static int workload_same(const struct workload *a, const struct workload *b)
{
	if (strcmp(a->name, b->name) || strcmp(a->kind, b->kind) ||
	    strcmp(a->os, b->os) || strcmp(a->host, b->host) ||
	    !strv_equal(&a->tags, &b->tags) || a->nnics != b->nnics ||
	    a->addressing != b->addressing ||
	    a->quarantined != b->quarantined)
		return 0;
	for (size_t k = 0; k < a->nnics; k++)
		if (strcmp(a->nics[k].ifname, b->nics[k].ifname) ||
		    strcmp(a->nics[k].mac, b->nics[k].mac) ||
		    !strv_equal(&a->nics[k].addrs, &b->nics[k].addrs))
			return 0;
	return 1;
}

/* A shallow inventory (structs copied, memory shared: never freed with
 * policy_inventory_free) of the workloads that differ. */
struct sub {
	struct inventory old, new_;
};

/*
 * The workloads that changed between @a and @b (both sorted by name):
 * their old versions in d->old, new ones in d->new_.  -1 when the lists
 * are not sorted (then the caller compiles the whole inventory part).
 */
static int inv_delta(const struct inventory *a, const struct inventory *b,
                     struct sub *d)
{
	size_t i = 0, j = 0;

	memset(d, 0, sizeof *d);
	d->old.w = xcalloc(a->n + 1, sizeof *d->old.w);
	d->new_.w = xcalloc(b->n + 1, sizeof *d->new_.w);
	for (size_t k = 1; k < a->n; k++)
		if (strcmp(a->w[k - 1].name, a->w[k].name) >= 0)
			return -1;
	for (size_t k = 1; k < b->n; k++)
		if (strcmp(b->w[k - 1].name, b->w[k].name) >= 0)
			return -1;
	while (i < a->n || j < b->n) {
		int c = i == a->n ? 1 : j == b->n ? -1 :
		        strcmp(a->w[i].name, b->w[j].name);

		if (c < 0) {
			d->old.w[d->old.n++] = a->w[i++];
		} else if (c > 0) {
			d->new_.w[d->new_.n++] = b->w[j++];
		} else {
			if (!workload_same(&a->w[i], &b->w[j])) {
				d->old.w[d->old.n++] = a->w[i];
				d->new_.w[d->new_.n++] = b->w[j];
			}
			i++, j++;
		}
	}
	return 0;
}

static void sub_free(struct sub *d)
{
	free(d->old.w);
	free(d->new_.w);
}

/* Position of @s in sorted @sv, or where it would go (*found 0). */
static size_t sorted_find(const struct strv *sv, const char *s, int *found)
{
	size_t lo = 0, hi = sv->n;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(sv->v[mid], s);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Sorted @sv loses the strings of @del and gains those of @add, in
 * O((del + add) log n) compares: a change of one NIC must not sort the
 * thousands of elements and counters of all the others. */
static void sorted_update(struct strv *sv, const struct strv *del,
                          const struct strv *add)
{
	int found;

	for (size_t i = 0; del && i < del->n; i++) {
		size_t at = sorted_find(sv, del->v[i], &found);

		if (!found)
			continue;
		free(sv->v[at]);
		memmove(&sv->v[at], &sv->v[at + 1],
		        (sv->n - at - 1) * sizeof *sv->v);
		sv->n--;
	}
	for (size_t i = 0; add && i < add->n; i++) {
		size_t at = sorted_find(sv, add->v[i], &found);

		if (found)
			continue;
		{
			char *copy;

			strv_push(sv, add->v[i]);    /* grows the array */
			copy = sv->v[sv->n - 1];
			memmove(&sv->v[at + 1], &sv->v[at],
			        (sv->n - 1 - at) * sizeof *sv->v);
			sv->v[at] = copy;
		}
	}
}

/* @last := @last - @a + @b, object by object, for the inventory part
 * (sets' elements, NIC chains, NIC counters).  @b's objects are copied. */
static void last_apply_delta(struct ruleset *last, const struct ruleset *a,
                             const struct ruleset *b)
{
	int chains_same = a->nchains == b->nchains;

	for (size_t i = 0; i < b->nsets; i++) {
		const struct cset *as = i < a->nsets &&
			!strcmp(a->sets[i].name, b->sets[i].name) ? &a->sets[i] :
			compile_find_set(a, b->sets[i].name);
		struct cset *ls;

		/* most sets do not change: the same elements before and after */
		if (as && strv_equal(&as->elems, &b->sets[i].elems))
			continue;
		ls = (struct cset *)compile_find_set(last, b->sets[i].name);
		if (!ls)
			continue;    /* not in last: cannot happen, same hash */
		sorted_update(&ls->elems, as ? &as->elems : NULL,
		              &b->sets[i].elems);
	}
	for (size_t i = 0; chains_same && i < b->nchains; i++)
		chains_same = !strcmp(a->chains[i].name, b->chains[i].name) &&
		              strv_equal(&a->chains[i].rules, &b->chains[i].rules) &&
		              !strcmp(a->chains[i].device ? a->chains[i].device : "",
		                      b->chains[i].device ? b->chains[i].device : "");
	/* chains: drop a's, then add b's (replacing same names) */
	if (!chains_same) {
		size_t n = 0;
		struct cchain *v = xcalloc(last->nchains + b->nchains + 1, sizeof *v);

		for (size_t i = 0; i < last->nchains; i++) {
			struct cchain *c = &last->chains[i];

			if (compile_find_chain(a, c->name) || compile_find_chain(b, c->name)) {
				compile_chain_free(c);
				continue;
			}
			v[n++] = *c;
		}
		for (size_t i = 0; i < b->nchains; i++) {
			const struct cchain *c = &b->chains[i];
			struct cchain *d = &v[n++];

			memset(d, 0, sizeof *d);
			d->name = xstrdup(c->name);
			d->hook = xstrdup(c->hook);
			d->device = xstrdup(c->device);
			d->comment = xstrdup(c->comment);
			strv_copy(&d->rules, &c->rules);
			if (c->rules.n) {
				d->rule_ids = xcalloc(c->rules.n, sizeof *d->rule_ids);
				if (c->rule_ids)
					memcpy(d->rule_ids, c->rule_ids,
					       c->rules.n * sizeof *d->rule_ids);
			}
		}
		free(last->chains);
		last->chains = v;
		last->nchains = n;
	}
	if (!strv_equal(&a->counters, &b->counters))
		sorted_update(&last->counters, &a->counters, &b->counters);
}

/*
 * The delta path: compile the inventory part of just the workloads that
 * changed, before and after, and send the difference.  Cost: O(changed
 * workloads x groups) to compile, plus one raw batch for element changes.
 * Returns 1 when it does not apply (too many changes, unsorted input),
 * else 0 or -1.
 */
static int sync_delta(struct bh *bh, const struct config *cfg,
                      const struct inventory *inv)
{
	struct enforcer *e = enf(bh);
	struct sub d;
	struct ruleset a, b;
	struct script s;
	char err[512];
	int rc;

	if (inv_delta(&e->prev, inv, &d) != 0 ||
	    d.old.n + d.new_.n > 16 + inv->n / 20) {
		sub_free(&d);
		return 1;
	}
	if (d.old.n == 0 && d.new_.n == 0) {
		sub_free(&d);
		return 0;
	}
	if (compile_inventory_like(cfg, &d.old, &e->opts, &e->last, &a, err,
	                           sizeof err) != 0 ||
	    compile_inventory_like(cfg, &d.new_, &e->opts, &e->last, &b, err,
	                           sizeof err) != 0) {
		sub_free(&d);
		return bh_error(bh, "%s", err);
	}
	sub_free(&d);
	script_init(&s);
	diff(&a, 1, &b, &s, NULL);
	/* Elements, NIC chains and counters: one raw batch; a refusal (or
	 * anything else) goes through libnftables, which words the error. */
	if (raw_send_part(bh, &a, &b, &s) == 0)
		rc = 0;
	else
		rc = send_script(bh, &s, "inventory", NULL);
	script_free(&s);
	if (rc == 0) {
		last_apply_delta(&e->last, &a, &b);
		prev_update(e, inv);
	}
	compile_free(&a);
	compile_free(&b);
	return rc;
}

/*
 * compile_policy_hash() is O(rules); an event loop passes the same config
 * object for every event, so the hash is kept for that object (and its
 * revision).  A config object must not be edited in place between calls:
 * the store hands out a fresh one per load.
 */
static uint64_t policy_hash(struct enforcer *e, const struct config *cfg)
{
	if (cfg != e->memo_cfg || cfg->revision != e->memo_rev) {
		e->memo_hash = compile_policy_hash(cfg, &e->opts);
		e->memo_cfg = cfg;
		e->memo_rev = cfg->revision;
	}
	return e->memo_hash;
}

/* After a delta: @e->prev takes the new versions of the changed workloads
 * without copying the others (O(workloads) moves, no allocation for
 * them). */
static void prev_update(struct enforcer *e, const struct inventory *inv)
{
	struct inventory *p = &e->prev, n;
	size_t i = 0, j = 0;

	n.n = 0;
	n.w = xcalloc(inv->n + 1, sizeof *n.w);
	while (i < p->n || j < inv->n) {
		int c = i == p->n ? 1 : j == inv->n ? -1 :
		        strcmp(p->w[i].name, inv->w[j].name);

		if (c < 0) {
			policy_workload_free(&p->w[i++]);
		} else if (c > 0 || !workload_same(&p->w[i], &inv->w[j])) {
			struct inventory one = { (struct workload *)&inv->w[j], 1 }, cp;

			inv_copy(&cp, &one);
			n.w[n.n++] = cp.w[0];
			free(cp.w);
			if (c == 0)
				policy_workload_free(&p->w[i++]);
			j++;
		} else {
			n.w[n.n++] = p->w[i++];
			j++;
		}
	}
	free(p->w);
	*p = n;
}

/* After an inventory change sent from the kept ruleset: it is known at
 * the new generation when it was at @g0 and the generation moved by our
 * batch alone (@sent) or not at all.  The file of the last apply is not
 * rewritten (too slow for one change): its generation is behind now, so
 * another process reads the kernel back once. */
static void gen_track(struct enforcer *e, int g0_ok, uint32_t g0, int sent)
{
	uint32_t g1 = 0;

	e->gen_known = g0_ok && gen_get(e, &g1) == 0 &&
	               g1 == g0 + (sent ? 1 : 0);
	e->last_gen = g1;
}

static int sync_paths(struct bh *bh, const struct config *cfg,
                      const struct inventory *inv);

int nft_sync(struct bh *bh, const struct config *cfg,
             const struct inventory *inv)
{
	struct enforcer *e = enf(bh);
	int rc;

	if (!e)
		return bh_error(bh, "inventory: no enforcer attached");
	/* A workload just quarantined: its flow entries go in the same
	 * batch as its NICs' quarantine elements when the delta path sends
	 * them, else right after (see cut_plan()). */
	cut_plan(e, inv);
	rc = sync_paths(bh, cfg, inv);
	if (rc == 0)
		cut_send(e);
	e->ncut = 0;
	return rc;
}

static int sync_paths(struct bh *bh, const struct config *cfg,
                      const struct inventory *inv)
{
	struct enforcer *e = enf(bh);
	struct ruleset want;
	int rc;

	uint32_t g0 = 0;
	int g0_ok;
	unsigned long sent = e ? e->sent : 0;

	if (!e)
		return bh_error(bh, "inventory: no enforcer attached");
	/* Whether the last ruleset stays known at the generation after this
	 * change (see apply_ruleset()): only if it was known before. */
	g0_ok = e->have_last && e->gen_known && gen_get(e, &g0) == 0 &&
	        g0 == e->last_gen;
	/* Fast path: the config part is what the kernel got last, so only
	 * the inventory part is compiled and compared. */
	if (e->have_last && e->have_prev &&
	    e->last.policy_hash == policy_hash(e, cfg)) {
		rc = sync_delta(bh, cfg, inv);
		if (rc == 0) {
			gen_track(e, g0_ok, g0, e->sent != sent);
			return 0;
		}
		if (rc < 0)
			forget(e);    /* then compile everything below */
	}
	if (e->have_last && e->last.policy_hash == policy_hash(e, cfg)) {
		struct ruleset part, view;
		struct script s;
		char err[512];

		if (compile_inventory_like(cfg, inv, &e->opts, &e->last, &part,
		                           err, sizeof err) != 0)
			return bh_error(bh, "%s", err);
		view_build(&e->last, &view);
		script_init(&s);
		diff(&view, 1, &part, &s, NULL);
		view_free(&view);
		/* Only element changes (a tag, an address): the raw batch;
		 * NIC chains or a refusal: libnftables, which also words the
		 * kernel's error. */
		if (s.other == 0 && raw_send(bh, &s) == 0)
			rc = 0;
		else
			rc = send_script(bh, &s, "inventory", NULL);
		script_free(&s);
		if (rc == 0) {
			merge_part(&e->last, &part);
			remember_inv(e, inv);
			gen_track(e, g0_ok, g0, e->sent != sent);
			return 0;
		}
		compile_free(&part);
		forget(e);
	}
	if (compile_for(bh, cfg, inv, &want) != 0)
		return -1;
	rc = apply_ruleset(bh, &want, "inventory");
	compile_free(&want);
	if (rc == 0)
		remember_inv(e, inv);
	return rc;
}

/*
 * The running config is kept between inventory changes, keyed by its
 * revision: loading it costs more than the change itself at 10,000 rules
 * (~15 ms against ~1 ms).  Revisions never change once committed; the one
 * way a number can come back with other content is a commit undone with
 * its batch, and every full apply (the commit, then the re-apply that
 * undoes it) drops the kept copy, so it is never used across that.
 */
int nft_inventory_apply(struct bh *bh, const struct inventory *inv)
{
	struct enforcer *e = enf(bh);
	struct candidate_state st;

	if (!e)
		return bh_error(bh, "inventory: no enforcer attached");
	if (policy_candidate_state(bh, &st) != 0)
		return -1;
	if (e->have_running && e->running.revision != st.running_rev)
		running_forget(e);
	if (!e->have_running) {
		memset(&e->running, 0, sizeof e->running);
		if (policy_config_load(bh, CONFIG_RUNNING, &e->running) != 0)
			return -1;
		e->have_running = 1;
	}
	return nft_sync(bh, &e->running, inv);
}

int nft_check(struct bh *bh, const struct config *cfg,
              const struct inventory *inv)
{
	struct ruleset want;
	int64_t id;
	int rc;

	if (!enf(bh))
		return bh_error(bh, "commit check: no enforcer attached");
	if (compile_for(bh, cfg, inv, &want) != 0)
		return -1;
	/* The whole ruleset into a scratch table (see probe()): the kernel
	 * validates every rule and keeps nothing. */
	rc = probe(bh, &want, -1, &id);
	if (rc != 0) {
		char err[BH_ERR_MAX];
		const char *msg;

		snprintf(err, sizeof err, "%s", bh->err);
		msg = strstr(err, "Error: ");
		if (find_refused(bh, &want, &id) == 0 && id > 0)
			bh_error(bh, "commit check: the kernel would refuse rule %"
			         PRId64 ": %.300s", id, msg ? msg + 7 : err);
		else
			bh_error(bh, "commit check: the kernel would refuse the "
			         "ruleset: %.400s", msg ? msg + 7 : err);
		{
			char *nl = strchr(bh->err, '\n');

			if (nl)
				*nl = '\0';
		}
	}
	compile_free(&want);
	return rc;
}

int nft_ruleset_text(struct bh *bh, const struct config *cfg,
                     const struct inventory *inv, struct strbuf *out)
{
	struct ruleset rs;

	if (compile_for(bh, cfg, inv, &rs) != 0)
		return -1;
	compile_text(&rs, out);
	compile_free(&rs);
	return 0;
}

static int cmp_counter(const void *a, const void *b)
{
	return strcmp(((const struct nft_counter *)a)->name,
	              ((const struct nft_counter *)b)->name);
}

int nft_counters(struct bh *bh, struct nft_counter **out, size_t *n)
{
	char *text = NULL, *p, *line;
	struct nft_counter *v = NULL, *cur = NULL;
	size_t cnt = 0;

	*out = NULL;
	*n = 0;
	if (!enf(bh))
		return bh_error(bh, "show counters: no enforcer attached");
	if (run(bh, "list counters table " T, 0, &text, "show counters") != 0) {
		if (strstr(bh->err, "No such file or directory"))
			return bh_error(bh, "show counters: no ruleset in the kernel; "
			                "run 'commit' to apply the running config");
		return -1;
	}
	p = text;
	while ((line = strsep(&p, "\n")) != NULL) {
		char *t = trim(line);
		char name[64];
		unsigned long long pk, by;

		if (sscanf(t, "counter %63s {", name) == 1) {
			v = xrealloc(v, (cnt + 1) * sizeof *v);
			cur = &v[cnt++];
			memset(cur, 0, sizeof *cur);
			snprintf(cur->name, sizeof cur->name, "%s", name);
			if (!strncmp(name, "rule_", 5))
				cur->rule_id = strtoll(name + 5, NULL, 10);
		} else if (cur && sscanf(t, "packets %llu bytes %llu", &pk, &by) == 2) {
			cur->packets = pk;
			cur->bytes = by;
		}
	}
	free(text);
	if (cnt)
		qsort(v, cnt, sizeof *v, cmp_counter);
	*out = v;
	*n = cnt;
	return 0;
}

/* "1h59m30s64ms" -> milliseconds */
static int64_t parse_duration_ms(const char *s)
{
	int64_t total = 0;

	while (*s) {
		char *end;
		long long v = strtoll(s, &end, 10);

		if (end == s)
			break;
		if (!strncmp(end, "ms", 2))
			total += v, end += 2;
		else if (*end == 'd')
			total += v * 86400000LL, end++;
		else if (*end == 'h')
			total += v * 3600000LL, end++;
		else if (*end == 'm')
			total += v * 60000LL, end++;
		else if (*end == 's')
			total += v * 1000LL, end++;
		else
			break;
		s = end;
	}
	return total;
}

static int cmp_flow(const void *a, const void *b)
{
	const struct nft_flow *x = a, *y = b;
	int c;

	if ((c = strcmp(x->nic, y->nic)) || (c = strcmp(x->proto, y->proto)) ||
	    (c = strcmp(x->local, y->local)) || (c = strcmp(x->remote, y->remote)))
		return c;
	if (x->lport != y->lport)
		return x->lport < y->lport ? -1 : 1;
	return x->rport < y->rport ? -1 : x->rport > y->rport;
}

int nft_flows(struct bh *bh, struct nft_flow **out, size_t *n)
{
	static const struct { const char *set, *proto; int ping, out; } fs[] = {
		{ "flow4_tcp", "tcp", 0, 0 }, { "flow4_udp", "udp", 0, 0 },
		{ "flow6_tcp", "tcp", 0, 0 }, { "flow6_udp", "udp", 0, 0 },
		{ "ping4_out", "icmp", 1, 1 }, { "ping4_in", "icmp", 1, 0 },
		{ "ping6_out", "icmpv6", 1, 1 }, { "ping6_in", "icmpv6", 1, 0 },
	};
	struct nft_flow *v = NULL;
	size_t cnt = 0;

	*out = NULL;
	*n = 0;
	if (!enf(bh))
		return bh_error(bh, "show flows: no enforcer attached");
	for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) {
		char cmd[128], *text = NULL;
		const char *p;

		snprintf(cmd, sizeof cmd, "list set " T " %s", fs[i].set);
		if (run(bh, cmd, 0, &text, "show flows") != 0) {
			free(v);
			if (strstr(bh->err, "No such file or directory"))
				return bh_error(bh, "show flows: no ruleset in the "
				                "kernel; run 'commit' to apply the "
				                "running config");
			return -1;
		}
		/* Elements are "NIC . local . remote . lport . rport timeout T
		 * expires E" (ping: ". id"), comma-separated over lines. */
		p = strstr(text, "elements = {");
		if (p) {
			char *body = xstrdup(p + 12), *q = body, *item, *end;

			end = strrchr(body, '}');
			if (end)
				*end = '\0';
			while ((item = strsep(&q, ",")) != NULL) {
				struct nft_flow f;
				char nic[64], a[64], b[64], rest[128];
				int x = 0, y = 0, got;
				const char *ex;

				item = trim(item);
				if (!*item)
					continue;
				memset(&f, 0, sizeof f);
				if (fs[i].ping)
					got = sscanf(item, "%63s . %63s . %63s . %d %127[^\n]",
					             nic, a, b, &x, rest) >= 4;
				else
					got = sscanf(item, "%63s . %63s . %63s . %d . %d %127[^\n]",
					             nic, a, b, &x, &y, rest) >= 5;
				if (!got)
					continue;
				snprintf(f.nic, sizeof f.nic, "%.*s",
				         (int)strcspn(nic[0] == '"' ? nic + 1 : nic, "\""),
				         nic[0] == '"' ? nic + 1 : nic);
				snprintf(f.proto, sizeof f.proto, "%s", fs[i].proto);
				snprintf(f.local, sizeof f.local, "%.47s", a);
				snprintf(f.remote, sizeof f.remote, "%.47s", b);
				f.lport = x;
				f.rport = y;
				f.outbound = fs[i].out;
				ex = strstr(item, "expires ");
				f.expires_ms = ex ? parse_duration_ms(ex + 8) : 0;
				v = xrealloc(v, (cnt + 1) * sizeof *v);
				v[cnt++] = f;
			}
			free(body);
		}
		free(text);
	}
	if (cnt)
		qsort(v, cnt, sizeof *v, cmp_flow);
	*out = v;
	*n = cnt;
	return 0;
}

int nft_drift(struct bh *bh, const struct config *cfg,
              const struct inventory *inv, struct strbuf *report)
{
	struct ruleset want, have;
	struct script s;
	int exists;
	size_t before = report->len;

	if (!enf(bh))
		return bh_error(bh, "drift: no enforcer attached");
	if (compile_for(bh, cfg, inv, &want) != 0)
		return -1;
	if (read_kernel(bh, &have, &exists) != 0) {
		compile_free(&want);
		return -1;
	}
	script_init(&s);
	diff(&have, exists, &want, &s, report);
	script_free(&s);
	compile_free(&have);
	compile_free(&want);
	return report->len > before ? 1 : 0;
}

int nft_remove(struct bh *bh)
{
	struct enforcer *e = enf(bh);

	if (!e)
		return bh_error(bh, "no enforcer attached");
	forget(e);
	state_forget(bh);
	if (run(bh, "delete table " T, 0, NULL, "removing the ruleset") != 0) {
		if (strstr(bh->err, "No such file or directory")) {
			bh->err[0] = '\0';
			return 0;
		}
		return -1;
	}
	return 0;
}

const char *nft_last_script(struct bh *bh)
{
	return enf(bh) ? sb_str(&enf(bh)->script) : "";
}
