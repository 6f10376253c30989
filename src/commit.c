/*
 * commit.c - the config life cycle (policy layer): the candidate's state,
 * commit and `commit confirmed`, confirm, discard, rollback, the revision
 * history, and the audit log.
 *
 * A commit is one store transaction around three steps: check the whole
 * candidate, hand it to the enforcer (bh->apply), and turn the candidate
 * row into the next revision.  If the enforcer refuses, the transaction
 * rolls back and the candidate stays as it was.  An expired `commit
 * confirmed` is undone first, in a transaction of its own, so a commit
 * made after a missed deadline sees the restored config as running.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bulkhead.h"
#include "playbook.h"
#include "policy.h"
#include "policy_internal.h"
#include "quarantine.h"
#include "store.h"
#include "util.h"

struct batch;

/* ---- the life cycle -------------------------------------------------- */
int policy_candidate_state(struct bh *bh, struct candidate_state *st)
{
	int64_t config, base = 0, changes = 0;
	int found;

	memset(st, 0, sizeof *st);
	if (store_running(bh, &st->running_rev, NULL))
		return -1;
	found = store_candidate_find(bh, bh->user, &config, &base, &changes);
	if (found < 0)
		return -1;
	st->exists = found;
	st->changes = (int)changes;
	st->base_rev = found ? base : st->running_rev;
	return 0;
}

/* Hand @cfg, its membership worked out over the inventory as it is now,
 * to bh->apply, if any.  A refusal leaves its reason in bh->err. */
static int apply(struct bh *bh, struct config *cfg)
{
	struct inventory inv;
	int rc;

	if (!bh->apply)
		return 0;
	if (store_inventory_load(bh, &inv))
		return -1;
	policy_membership(cfg, &inv);
	bh->err[0] = '\0';
	rc = bh->apply(bh, cfg, &inv);
	if (rc && !bh->err[0])
		bh_error(bh, "the ruleset could not be applied; nothing was "
		         "changed");
	policy_inventory_free(&inv);
	return rc ? -1 : 0;
}

/* Hand the running config to bh->apply: a re-apply. */
static int apply_running(struct bh *bh)
{
	struct config cfg;
	int rc;

	if (!bh->apply)
		return 0;
	if (policy_config_load(bh, CONFIG_RUNNING, &cfg))
		return -1;
	rc = apply(bh, &cfg);
	policy_config_free(&cfg);
	return rc;
}

/*
 * Undo a `commit confirmed` whose deadline has passed, in a transaction of
 * its own (it stands even when what follows fails), and put the restored
 * config into the kernel.
 */
static int expire_confirms(struct bh *bh)
{
	int64_t rev;

	return policy_confirm_expire(bh, &rev) < 0 ? -1 : 0;
}

/* See policy.h: the step above, for the daemon's deadline timer. */
int policy_confirm_expire(struct bh *bh, int64_t *rev_out)
{
	struct store_tx tx;
	int64_t rev = 0, now = util_now_ms();
	int due = store_confirm_due(bh, now);

	*rev_out = 0;
	/* The common case, nothing pending, takes no write lock. */
	if (due <= 0)
		return due;
	if (store_tx_begin(bh, &tx))
		return -1;
	if (store_confirm_expire(bh, now, &rev) ||
	    (rev && apply_running(bh))) {
		store_tx_rollback(bh, &tx);
		return -1;
	}
	if (store_tx_commit(bh, &tx))
		return -1;
	*rev_out = rev;
	return rev ? 1 : 0;
}

/* See policy.h.  Only the running revision can be pending (a later commit
 * confirms it), so one row is read. */
int policy_confirm_pending(struct bh *bh, int64_t *deadline_ms)
{
	struct revision r;
	int64_t run_rev;
	int found;

	*deadline_ms = 0;
	if (store_running(bh, &run_rev, NULL))
		return -1;
	found = store_revision_get(bh, run_rev, &r, NULL);
	if (found < 0)
		return -1;
	if (found) {
		*deadline_ms = r.confirm_deadline;
		free(r.comment);
	}
	return 0;
}

/* "09:13", or "2026-11-26 09:13" when not today. */
static void short_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000), now = time(NULL);
	struct tm tm, today;

	localtime_r(&t, &tm);
	localtime_r(&now, &today);
	if (tm.tm_year == today.tm_year && tm.tm_yday == today.tm_yday)
		strftime(buf, len, "%H:%M", &tm);
	else
		strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
}

static int conflict(struct bh *bh, int64_t base, int64_t running)
{
	struct revision r;
	char when[32];
	int found = store_revision_get(bh, running, &r, NULL);

	if (found <= 0)
		return found < 0 ? -1 : bh_error(bh, "commit: the running "
		                                 "config moved; discard and "
		                                 "redo your changes");
	short_time(r.time_ms, when, sizeof when);
	bh_error(bh, "commit: revision %lld was committed by %s at %s after "
	         "your candidate was made from revision %lld: review 'show "
	         "diff', then 'discard' and redo your changes",
	         (long long)running, r.author, when, (long long)base);
	free(r.comment);
	return -1;
}

/* 1 when the policy lines of @a and @b are the same. */
static int same_config(const struct config *a, const struct config *b)
{
	struct strv la = STRV_INIT, lb = STRV_INIT;
	int same;

	policy_config_lines(a, &la);
	policy_config_lines(b, &lb);
	same = la.n == lb.n;
	for (size_t i = 0; same && i < la.n; i++)
		same = strcmp(la.v[i], lb.v[i]) == 0;
	strv_free(&la);
	strv_free(&lb);
	return same;
}

/* Longest `commit confirmed`: a week. */
#define CONFIRM_SECONDS_MAX (7 * 24 * 3600)

int policy_commit(struct bh *bh, const char *comment, int confirm_minutes,
                  int64_t *rev_out)
{
	if (confirm_minutes < 0 || confirm_minutes > CONFIRM_SECONDS_MAX / 60)
		return bh_error(bh, "commit confirmed %d: give 1-%d minutes",
		                confirm_minutes, CONFIRM_SECONDS_MAX / 60);
	return policy_commit_secs(bh, comment, confirm_minutes * 60, rev_out);
}

int policy_commit_secs(struct bh *bh, const char *comment,
                       int confirm_seconds, int64_t *rev_out)
{
	struct store_tx tx;
	struct config cand, running;
	struct revision r, cur;
	struct store_revinfo info;
	int64_t run_rev, run_cfg, cand_cfg, base, prev;
	int found, rc = -1;

	memset(&cand, 0, sizeof cand);
	memset(&running, 0, sizeof running);
	if (confirm_seconds < 0 || confirm_seconds > CONFIRM_SECONDS_MAX)
		return bh_error(bh, "commit confirmed %ds: give 1s to 7d",
		                confirm_seconds);
	if (comment && policy_text_check(bh, "commit comment", comment))
		return -1;
	if (expire_confirms(bh))
		return -1;
	if (store_tx_begin(bh, &tx))
		return -1;
	if (store_running(bh, &run_rev, &run_cfg))
		goto done;
	if (rev_out)
		*rev_out = run_rev;
	found = store_candidate_find(bh, bh->user, &cand_cfg, &base, NULL);
	if (found < 0)
		goto done;
	if (!found) {
		rc = apply_running(bh);
		goto done;
	}
	if (base != run_rev) {
		conflict(bh, base, run_rev);
		goto done;
	}
	if (policy_config_load(bh, CONFIG_CANDIDATE, &cand) ||
	    policy_config_load(bh, CONFIG_RUNNING, &running) ||
	    policy_config_check(bh, &cand))
		goto done;
	if (same_config(&cand, &running) &&
	    (found = playbook_config_same(bh, cand_cfg, run_cfg)) != 0) {
		if (found < 0)
			goto done;
		if (store_config_delete(bh, cand_cfg))
			goto done;
		rc = apply_running(bh);
		goto done;
	}
	/* Either side asking is enough: switching the rule off is a
	 * change that needs its reason as much as any other. */
	if ((cand.settings.comment_required ||
	     running.settings.comment_required) && !(comment && *comment)) {
		bh_error(bh, "commit: a comment is required (set commit-comment "
		         "required): commit comment \"WHY\"");
		goto done;
	}

	/* A commit on top of one still waiting for `confirm` confirms it,
	 * unless it is confirmed itself: then a missed deadline goes back to
	 * the config from before the first unconfirmed commit. */
	prev = run_rev;
	found = store_revision_get(bh, run_rev, &cur, &info);
	if (found < 0)
		goto done;
	if (found) {
		if (cur.confirm_deadline) {
			if (confirm_seconds > 0 && info.prev_rev >= 0)
				prev = info.prev_rev;
			if (store_revision_deadline_set(bh, run_rev, 0)) {
				free(cur.comment);
				goto done;
			}
		}
		free(cur.comment);
	}

	memset(&r, 0, sizeof r);
	r.rev = run_rev + 1;
	r.time_ms = util_now_ms();
	snprintf(r.author, sizeof r.author, "%s", bh->user);
	snprintf(r.client, sizeof r.client, "%s", bh->client);
	r.comment = comment && *comment ? (char *)comment : NULL;
	if (confirm_seconds > 0)
		r.confirm_deadline = r.time_ms + confirm_seconds * 1000LL;
	if (store_revision_add(bh, cand_cfg, &r, prev, -1))
		goto done;
	cand.revision = r.rev;
	if (apply(bh, &cand))
		goto done;
	if (rev_out)
		*rev_out = r.rev;
	rc = 0;
done:
	policy_config_free(&cand);
	policy_config_free(&running);
	if (rc == 0)
		return store_tx_commit(bh, &tx);
	store_tx_rollback(bh, &tx);
	return -1;
}

int policy_confirm(struct bh *bh)
{
	struct store_tx tx;
	struct revision cur;
	struct store_revinfo info;
	int64_t run_rev;
	int found, rc = -1;

	if (expire_confirms(bh))
		return -1;
	if (store_tx_begin(bh, &tx))
		return -1;
	if (store_running(bh, &run_rev, NULL))
		goto done;
	found = store_revision_get(bh, run_rev, &cur, &info);
	if (found <= 0) {
		rc = found < 0 ? -1 : 0;
		goto done;
	}
	if (cur.confirm_deadline) {
		rc = store_revision_deadline_set(bh, run_rev, 0);
	} else if (info.undoes >= 0) {
		struct store_revinfo undone;

		/* The revision that came back is the one the undone commit
		 * would have returned to. */
		if (store_revision_get(bh, info.undoes, NULL, &undone) > 0)
			bh_error(bh, "confirm: commit %lld was not confirmed in "
			         "time: revision %lld restored revision %lld; "
			         "commit again to bring it back",
			         (long long)info.undoes, (long long)run_rev,
			         (long long)undone.prev_rev);
	} else {
		rc = 0;   /* nothing waits for confirmation: nothing to do */
	}
	free(cur.comment);
done:
	if (rc == 0)
		return store_tx_commit(bh, &tx);
	store_tx_rollback(bh, &tx);
	return -1;
}

int policy_discard(struct bh *bh)
{
	struct store_tx tx;
	int64_t config;
	int found, rc = 0;

	if (store_tx_begin(bh, &tx))
		return -1;
	found = store_candidate_find(bh, bh->user, &config, NULL, NULL);
	if (found < 0)
		rc = -1;
	else if (found)
		rc = store_config_delete(bh, config);
	if (rc == 0)
		return store_tx_commit(bh, &tx);
	store_tx_rollback(bh, &tx);
	return -1;
}

int policy_rollback(struct bh *bh, int64_t rev)
{
	struct store_tx tx;
	int64_t from, config, running;
	int found, rc = -1;

	if (store_tx_begin(bh, &tx))
		return -1;
	found = store_revision_config(bh, rev, &from);
	if (found < 0)
		goto done;
	if (!found) {
		policy_no_revision(bh, rev);
		goto done;
	}
	found = store_candidate_find(bh, bh->user, &config, NULL, NULL);
	if (found < 0 || (found && store_config_delete(bh, config)))
		goto done;
	if (store_running(bh, &running, NULL) ||
	    store_config_copy(bh, from, bh->user, running, 1, &config))
		goto done;
	rc = 0;
done:
	if (rc == 0)
		return store_tx_commit(bh, &tx);
	store_tx_rollback(bh, &tx);
	return -1;
}

int policy_history(struct bh *bh, struct revision **out, size_t *n)
{
	return store_revision_list(bh, out, n);
}

/* ---- audit ---------------------------------------------------------------- */
static void batch_hold_audit(struct batch *b, const char *command, int ok,
                             const char *detail);

int policy_audit_record(struct bh *bh, const char *command, int ok,
                        const char *detail)
{
	if (bh->batch) {
		batch_hold_audit(bh->batch, command, ok, detail);
		return 0;
	}
	return store_audit_insert(bh, util_now_ms(), bh->user, bh->client,
	                          command, ok, detail);
}

int policy_audit_list(struct bh *bh, const struct audit_filter *f,
                      struct audit_entry **out, size_t *n)
{
	struct audit_filter none = { NULL, 0, NULL, 0, 0 };

	return store_audit_list(bh, f ? f : &none, out, n);
}

/* ---- all-or-nothing batches ------------------------------------------- */
struct held_audit {
	int64_t time_ms;
	char *command;
	int ok;
	char *detail;
};

struct batch {
	struct store_tx tx;
	struct held_audit *a;
	size_t n, cap;
	int touched_kernel;           /* an apply ran inside the batch */
	bh_apply_fn *apply;           /* the enforcer's hooks, wrapped */
	bh_inventory_fn *inventory_changed;
};

/* The wrappers note that the kernel moved, so a rollback re-applies. */
static int batch_apply(struct bh *bh, const struct config *cfg,
                       const struct inventory *inv)
{
	struct batch *b = bh->batch;

	b->touched_kernel = 1;
	return b->apply(bh, cfg, inv);
}

static int batch_inventory_changed(struct bh *bh, const struct inventory *inv)
{
	struct batch *b = bh->batch;

	b->touched_kernel = 1;
	return b->inventory_changed(bh, inv);
}

int policy_batch_begin(struct bh *bh)
{
	struct batch *b;

	if (bh->batch)
		return bh_error(bh, "a batch is already running");
	if (expire_confirms(bh))
		return -1;
	b = xcalloc(1, sizeof *b);
	if (store_tx_begin(bh, &b->tx)) {
		free(b);
		return -1;
	}
	b->apply = bh->apply;
	b->inventory_changed = bh->inventory_changed;
	if (bh->apply)
		bh->apply = batch_apply;
	if (bh->inventory_changed)
		bh->inventory_changed = batch_inventory_changed;
	bh->batch = b;
	return 0;
}

/* Keep one audit record until the batch ends (policy_audit_record). */
static void batch_hold_audit(struct batch *b, const char *command, int ok,
                             const char *detail)
{
	struct held_audit *h;

	if (b->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 16;
		b->a = xrealloc(b->a, b->cap * sizeof *b->a);
	}
	h = &b->a[b->n++];
	h->time_ms = util_now_ms();
	h->command = xstrdup(command ? command : "");
	h->ok = ok;
	h->detail = xstrdup(detail);
}

int policy_batch_end(struct bh *bh, int ok, int *changed)
{
	struct batch *b = bh->batch;
	char reason[BH_ERR_MAX];
	int rc = 0, any = 0;

	if (!b)
		return bh_error(bh, "no batch is running");
	snprintf(reason, sizeof reason, "%s", bh->err);
	bh->apply = b->apply;
	bh->inventory_changed = b->inventory_changed;
	bh->batch = NULL;
	if (ok) {
		if (store_tx_commit(bh, &b->tx))
			ok = 0, rc = -1, snprintf(reason, sizeof reason, "%s",
			                          bh->err);
	}
	if (!ok) {
		store_tx_rollback(bh, &b->tx);
		/* The kernel saw part of the batch: give it back the config
		 * the store now holds again. */
		if (b->touched_kernel && apply_running(bh)) {
			size_t used = strlen(reason);
			snprintf(reason + used, sizeof reason - used,
			         "; restoring the running config in the kernel "
			         "failed too: %.400s", bh->err);
		}
		rc = -1;
	}
	for (size_t i = 0; i < b->n; i++) {
		struct held_audit *h = &b->a[i];
		const char *detail = h->detail;
		char undone[BH_ERR_MAX];

		if (!ok && h->ok) {
			snprintf(undone, sizeof undone, "undone: a later command "
			         "of its batch failed%s%s", detail ? "; " : "",
			         detail ? detail : "");
			detail = undone;
			any = 1;
		}
		store_audit_insert(bh, h->time_ms, bh->user, bh->client,
		                   h->command, h->ok && ok, detail);
		free(h->command);
		free(h->detail);
	}
	free(b->a);
	free(b);
	if (changed)
		*changed = any;
	/* Operational events of the batch happen only if it did. */
	if (rc)
		policy_events_drop(bh);
	else
		policy_events_fire(bh);
	if (rc)
		snprintf(bh->err, sizeof bh->err, "%s", reason);
	return rc;
}

int policy_apply_running(struct bh *bh)
{
	return apply_running(bh);
}

int policy_commit_check(struct bh *bh, int *kernel_checked)
{
	struct candidate_state st;
	struct config cfg;
	struct inventory inv;
	int rc = -1;

	*kernel_checked = 0;
	if (policy_candidate_state(bh, &st))
		return -1;
	if (st.exists && st.base_rev != st.running_rev)
		return conflict(bh, st.base_rev, st.running_rev);
	if (policy_config_load(bh, CONFIG_CANDIDATE, &cfg))
		return -1;
	if (policy_config_check(bh, &cfg))
		goto done;
	if (!bh->check) {
		rc = 0;
		goto done;
	}
	if (store_inventory_load(bh, &inv))
		goto done;
	policy_membership(&cfg, &inv);
	bh->err[0] = '\0';
	rc = bh->check(bh, &cfg, &inv) ? -1 : 0;
	if (rc && !bh->err[0])
		bh_error(bh, "the kernel would refuse the ruleset");
	*kernel_checked = 1;
	policy_inventory_free(&inv);
done:
	policy_config_free(&cfg);
	return rc;
}
