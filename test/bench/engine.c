/*
 * engine.c - the in-process half of `make bench` (test/bench/run.sh): the
 * engine library driven directly, to build large stores fast and to time
 * what a long-lived bulkhead (the daemon) would pay, apart from process
 * start-up.  Linked with build/libbulkhead.a by the bench script only.
 *
 *   bhbench DB batch FILE
 *       run the commands of FILE as one all-or-nothing batch with no
 *       enforcer attached (store only): how the bench builds its stores
 *   bhbench DB commit
 *       commit the candidate with the enforcer attached (as `commit` does
 *       once the front end attaches it); prints "commit_ms T apply_ms A",
 *       A being the enforcer's part (bh->apply)
 *   bhbench DB ruleset
 *       the nft text of the running config (`show ruleset`)
 *   bhbench DB reapply N
 *       N times: delete the table, then nft_apply() the running config
 *       into the empty kernel; prints the apply times (ms), one a line
 *   bhbench DB incr N WORKLOAD TAG HOLDER IFNAME MAC ADDR
 *       with the running config applied by one long-lived handle, N times
 *       each change and its undo, timed (ms) three ways:
 *         edit   the policy call (store transaction + enforcer), e.g.
 *                policy_tag_add, as `add tag` runs it
 *         hook   the enforcer's part of it alone (bh->inventory_changed)
 *         sync   nft_sync() with the running config already in memory and
 *                the inventory changed in memory: the daemon's path
 *       changes: tag TAG added to / removed from WORKLOAD (it enters and
 *       leaves the groups matching the tag); NIC IFNAME (MAC, ADDR) added
 *       to / removed from workload HOLDER.  Prints lines
 *       "KIND WAY median_ms min_ms max_ms".
 *
 * Exit status 0, or 1 with the engine's message on standard error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bulkhead.h"
#include "cmd.h"
#include "nft.h"
#include "policy.h"
#include "util.h"

static struct bh *bh;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void fail(const char *what)
{
	fprintf(stderr, "bhbench: %s: %s\n", what, bh ? bh->err : "");
	exit(1);
}

/* ---- timing the enforcer's hook -------------------------------------- */

static bh_inventory_fn *inner_hook;
static double hook_ms;

static int timed_hook(struct bh *b, const struct inventory *inv)
{
	double t = now_ms();
	int rc = inner_hook(b, inv);

	hook_ms += now_ms() - t;
	return rc;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *kind, const char *way, double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	printf("%s %s %.3f %.3f %.3f\n", kind, way, v[n / 2], v[0], v[n - 1]);
}

static bh_apply_fn *inner_apply;
static double apply_ms;

static int timed_apply(struct bh *b, const struct config *cfg,
                       const struct inventory *inv)
{
	double t = now_ms();
	int rc = inner_apply(b, cfg, inv);

	apply_ms += now_ms() - t;
	return rc;
}

/* ---- batch ------------------------------------------------------------- */

static int run_batch(const char *file)
{
	FILE *f = fopen(file, "r");
	struct strbuf out = STRBUF_INIT;
	struct cmd_opts o = { 0 };
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, rc = 0;

	if (!f) {
		perror(file);
		return 1;
	}
	if (policy_batch_begin(bh))
		fail("batch");
	while (rc == 0 && getline(&line, &cap, f) > 0) {
		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (!line[0])
			continue;
		sb_reset(&out);
		if (cmd_exec(bh, &o, line, &out)) {
			fprintf(stderr, "bhbench: %s:%d: %s\n", file, lineno,
			        bh->err);
			rc = 1;
		}
	}
	free(line);
	fclose(f);
	sb_free(&out);
	if (policy_batch_end(bh, rc == 0, NULL) && rc == 0)
		fail("batch end");
	return rc;
}

/* ---- full applies --------------------------------------------------- */

static int reapply(int n)
{
	struct config cfg;
	struct inventory inv;

	if (nft_attach(bh))
		fail("nft_attach");
	if (policy_config_load(bh, CONFIG_RUNNING, &cfg) ||
	    policy_inventory_load(bh, &inv))
		fail("load");
	for (int i = 0; i < n; i++) {
		double t;

		if (nft_remove(bh))
			fail("nft_remove");
		/* a fresh handle: nothing remembered of the last apply */
		nft_detach(bh);
		if (nft_attach(bh))
			fail("nft_attach");
		t = now_ms();
		if (nft_apply(bh, &cfg, &inv))
			fail("nft_apply");
		printf("%.3f\n", now_ms() - t);
	}
	policy_config_free(&cfg);
	policy_inventory_free(&inv);
	nft_detach(bh);
	return 0;
}

static int commit(void)
{
	int64_t rev;
	double t;

	if (nft_attach(bh))
		fail("nft_attach");
	inner_apply = bh->apply;
	bh->apply = timed_apply;
	t = now_ms();
	if (policy_commit(bh, "bench", 0, &rev))
		fail("commit");
	printf("commit_ms %.3f apply_ms %.3f\n", now_ms() - t, apply_ms);
	bh->apply = inner_apply;
	nft_detach(bh);
	return 0;
}

static int ruleset(void)
{
	struct config cfg;
	struct inventory inv;
	struct strbuf out = STRBUF_INIT;

	if (nft_attach(bh))
		fail("nft_attach");
	if (policy_config_load(bh, CONFIG_RUNNING, &cfg) ||
	    policy_inventory_load(bh, &inv))
		fail("load");
	if (nft_ruleset_text(bh, &cfg, &inv, &out))
		fail("ruleset");
	fputs(sb_str(&out), stdout);
	sb_free(&out);
	policy_config_free(&cfg);
	policy_inventory_free(&inv);
	nft_detach(bh);
	return 0;
}

/* ---- incremental changes ------------------------------------------------ */

static struct workload *find(struct inventory *inv, const char *name)
{
	for (size_t i = 0; i < inv->n; i++)
		if (strcmp(inv->w[i].name, name) == 0)
			return &inv->w[i];
	fprintf(stderr, "bhbench: no workload \"%s\"\n", name);
	exit(1);
}

static void tag_toggle(struct workload *w, const char *tag, int on)
{
	if (on) {
		strv_push(&w->tags, tag);
		strv_sort(&w->tags);
		return;
	}
	for (size_t i = 0; i < w->tags.n; i++)
		if (strcmp(w->tags.v[i], tag) == 0) {
			free(w->tags.v[i]);
			memmove(&w->tags.v[i], &w->tags.v[i + 1],
			        (w->tags.n - i - 1) * sizeof *w->tags.v);
			w->tags.n--;
			return;
		}
}

static int incr(int n, char **a)
{
	const char *wname = a[0], *tag = a[1], *holder = a[2];
	struct nic nic;
	struct config cfg;
	struct inventory inv;
	double *v[12];
	int k = 0;

	for (int i = 0; i < 12; i++)
		v[i] = xcalloc((size_t)n, sizeof *v[i]);
	memset(&nic, 0, sizeof nic);
	snprintf(nic.ifname, sizeof nic.ifname, "%s", a[3]);
	snprintf(nic.mac, sizeof nic.mac, "%s", a[4]);
	strv_push(&nic.addrs, a[5]);

	if (nft_attach(bh))
		fail("nft_attach");
	inner_hook = bh->inventory_changed;
	bh->inventory_changed = timed_hook;
	if (policy_config_load(bh, CONFIG_RUNNING, &cfg) ||
	    policy_inventory_load(bh, &inv))
		fail("load");
	/* The kernel holds the running config already; this apply sends
	 * nothing and leaves the handle remembering it. */
	if (nft_apply(bh, &cfg, &inv))
		fail("nft_apply");

	/* edit and hook: through the policy layer, as a command would */
	for (int i = 0; i < n; i++) {
		double t;

		hook_ms = 0;
		t = now_ms();
		if (policy_tag_add(bh, wname, tag))
			fail("policy_tag_add");
		v[0][i] = now_ms() - t;
		v[1][i] = hook_ms;
		hook_ms = 0;
		t = now_ms();
		if (policy_tag_delete(bh, wname, tag))
			fail("policy_tag_delete");
		v[2][i] = now_ms() - t;
		v[3][i] = hook_ms;
		hook_ms = 0;
		t = now_ms();
		if (policy_nic_add(bh, holder, &nic))
			fail("policy_nic_add");
		v[4][i] = now_ms() - t;
		v[5][i] = hook_ms;
		hook_ms = 0;
		t = now_ms();
		if (policy_nic_delete(bh, nic.ifname))
			fail("policy_nic_delete");
		v[6][i] = now_ms() - t;
		v[7][i] = hook_ms;
	}

	/* sync: the config in memory, the inventory changed in memory */
	for (int i = 0; i < n; i++) {
		struct workload *w = find(&inv, wname), *h;
		double t;

		tag_toggle(w, tag, 1);
		t = now_ms();
		if (nft_sync(bh, &cfg, &inv))
			fail("nft_sync (tag added)");
		v[8][i] = now_ms() - t;
		tag_toggle(w, tag, 0);
		t = now_ms();
		if (nft_sync(bh, &cfg, &inv))
			fail("nft_sync (tag removed)");
		v[9][i] = now_ms() - t;

		h = find(&inv, holder);
		h->nics = xrealloc(h->nics, (h->nnics + 1) * sizeof *h->nics);
		h->nics[h->nnics] = nic;
		memset(&h->nics[h->nnics].addrs, 0, sizeof nic.addrs);
		strv_copy(&h->nics[h->nnics].addrs, &nic.addrs);
		h->nnics++;
		t = now_ms();
		if (nft_sync(bh, &cfg, &inv))
			fail("nft_sync (NIC added)");
		v[10][i] = now_ms() - t;
		h->nnics--;
		strv_free(&h->nics[h->nnics].addrs);
		t = now_ms();
		if (nft_sync(bh, &cfg, &inv))
			fail("nft_sync (NIC removed)");
		v[11][i] = now_ms() - t;
	}

	report("tag-add", "edit", v[k++], n);
	report("tag-add", "hook", v[k++], n);
	report("tag-del", "edit", v[k++], n);
	report("tag-del", "hook", v[k++], n);
	report("nic-add", "edit", v[k++], n);
	report("nic-add", "hook", v[k++], n);
	report("nic-del", "edit", v[k++], n);
	report("nic-del", "hook", v[k++], n);
	report("tag-add", "sync", v[k++], n);
	report("tag-del", "sync", v[k++], n);
	report("nic-add", "sync", v[k++], n);
	report("nic-del", "sync", v[k++], n);
	for (int i = 0; i < 12; i++)
		free(v[i]);
	strv_free(&nic.addrs);
	policy_config_free(&cfg);
	policy_inventory_free(&inv);
	bh->inventory_changed = inner_hook;
	nft_detach(bh);
	return 0;
}

int main(int argc, char **argv)
{
	char err[BH_ERR_MAX];
	int rc;

	if (argc < 3) {
		fprintf(stderr, "usage: bhbench DB batch FILE | commit | ruleset | "
		        "reapply N\n       | incr N WORKLOAD TAG HOLDER IFNAME MAC "
		        "ADDR\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	bh = bh_open(argv[1], err, sizeof err);
	if (!bh) {
		fprintf(stderr, "bhbench: %s\n", err);
		return 1;
	}
	if (!strcmp(argv[2], "batch") && argc == 4)
		rc = run_batch(argv[3]);
	else if (!strcmp(argv[2], "commit") && argc == 3)
		rc = commit();
	else if (!strcmp(argv[2], "ruleset") && argc == 3)
		rc = ruleset();
	else if (!strcmp(argv[2], "reapply") && argc == 4)
		rc = reapply(atoi(argv[3]));
	else if (!strcmp(argv[2], "incr") && argc == 10)
		rc = incr(atoi(argv[3]), argv + 4);
	else {
		fprintf(stderr, "bhbench: bad arguments (see test/bench/engine.c)\n");
		rc = 2;
	}
	bh_close(bh);
	return rc;
}
