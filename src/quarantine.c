/*
 * quarantine.c - quarantine and release (layer: policy, operational), the
 * tag trigger, deadlines, the remediation allowance setting and the queue
 * of operational events.  See quarantine.h.
 *
 * A quarantine is a row of table quarantine plus the `quarantined` flag it
 * gives the workload in every loaded inventory (store_inventory_load).  The
 * enforcer compiles the flag into the kernel's quarantine set, so each
 * change here follows the inventory edits' pattern: one store transaction,
 * the enforcer called inside it with the inventory as it will be, a kernel
 * refusal rolling the store back.  The events are queued and handed to
 * bh->event only after the outermost transaction (or the batch) commits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "policy_internal.h"
#include "quarantine.h"
#include "store.h"

/* ---- events ----------------------------------------------------------------- */
struct event {
	char *trigger, *workload, *detail;
};
struct evq {
	struct event *v;
	size_t n;
};

void policy_event_queue(struct bh *bh, const char *trigger,
                        const char *workload, const char *detail)
{
	struct evq *q = bh->events_pending;

	if (!q)
		q = bh->events_pending = xcalloc(1, sizeof *q);
	q->v = xrealloc(q->v, (q->n + 1) * sizeof *q->v);
	q->v[q->n].trigger = xstrdup(trigger);
	q->v[q->n].workload = xstrdup(workload);
	q->v[q->n].detail = xstrdup(detail);
	q->n++;
}

static void evq_free(struct evq *q)
{
	for (size_t i = 0; i < q->n; i++) {
		free(q->v[i].trigger);
		free(q->v[i].workload);
		free(q->v[i].detail);
	}
	free(q->v);
	free(q);
}

void policy_events_fire(struct bh *bh)
{
	struct evq *q = bh->events_pending;

	if (!q)
		return;
	/* Detached first: a handler may make changes that queue more. */
	bh->events_pending = NULL;
	for (size_t i = 0; i < q->n && bh->event; i++)
		bh->event(bh, q->v[i].trigger, q->v[i].workload, q->v[i].detail);
	evq_free(q);
}

void policy_events_drop(struct bh *bh)
{
	struct evq *q = bh->events_pending;

	bh->events_pending = NULL;
	if (q)
		evq_free(q);
}

/* After the transaction @tx ended: fire when it was the outermost and no
 * batch holds the events back, drop when it was undone. */
static void events_after(struct bh *bh, const struct store_tx *tx, int ok)
{
	if (bh->batch || !tx->outer)
		return;
	if (ok)
		policy_events_fire(bh);
	else
		policy_events_drop(bh);
}

/* Queue the @trigger event of @q: by @by, from @source ("command", "tag",
 * "expiry"...); a quarantine's also names the client it came from. */
/* Commit @tx when @rc is 0, else roll it back; its events go out or are
 * dropped accordingly (events_after).  0, or -1 when anything failed. */
static int tx_end(struct bh *bh, struct store_tx *tx, int rc)
{
	if (rc == 0 && store_tx_commit(bh, tx) == 0) {
		events_after(bh, tx, 1);
		return 0;
	}
	if (rc != 0)
		store_tx_rollback(bh, tx);
	events_after(bh, tx, 0);
	return -1;
}

static void event_queue(struct bh *bh, const char *trigger,
                        const struct quarantine *q, const char *by,
                        const char *source, const char *client)
{
	struct strbuf sb = STRBUF_INIT;
	struct json j;

	json_init(&j, &sb);
	json_obj_begin(&j);
	json_kstr(&j, "workload", q->workload);
	json_kstr(&j, "reason", q->reason);
	json_kstr(&j, "by", by);
	if (client)
		json_kstr(&j, "client", client);
	json_kstr(&j, "source", source);
	json_kint(&j, "since", q->since_ms);
	json_key(&j, "until");
	if (q->until_ms)
		json_int(&j, q->until_ms);
	else
		json_null(&j);
	json_obj_end(&j);
	policy_event_queue(bh, trigger, q->workload, sb_str(&sb));
	sb_free(&sb);
}

static void event_quarantine(struct bh *bh, const struct quarantine *q)
{
	event_queue(bh, "quarantine", q, q->by, q->source, q->client);
}

static void event_release(struct bh *bh, const struct quarantine *q,
                          const char *by, const char *how)
{
	event_queue(bh, "release", q, by, how, NULL);
}

/* ---- the edit pattern -------------------------------------------------------- */
/* Hand @inv (flags already as they will be) to the enforcer. */
static int enforce(struct bh *bh, const struct inventory *inv)
{
	if (!bh->inventory_changed)
		return 0;
	bh->err[0] = '\0';
	if (bh->inventory_changed(bh, inv)) {
		if (!bh->err[0])
			bh_error(bh, "the quarantine could not be applied; "
			         "nothing was changed");
		return -1;
	}
	return 0;
}

static int no_workload(struct bh *bh, const struct inventory *inv,
                       const char *name)
{
	struct strv names = STRV_INIT;
	int rc;

	for (size_t i = 0; i < inv->n; i++)
		strv_push(&names, inv->w[i].name);
	rc = policy_not_found(bh, "workload", name, &names);
	strv_free(&names);
	return rc;
}

static void fill(struct bh *bh, struct quarantine *q, const struct workload *w,
                 const char *reason, const char *source, int64_t now,
                 int64_t for_secs)
{
	memset(q, 0, sizeof *q);
	q->workload_id = w->id;
	snprintf(q->workload, sizeof q->workload, "%s", w->name);
	q->reason = (char *)(reason ? reason : "");
	snprintf(q->source, sizeof q->source, "%s", source);
	snprintf(q->by, sizeof q->by, "%s", bh->user);
	snprintf(q->client, sizeof q->client, "%s", bh->client);
	q->since_ms = now;
	q->until_ms = for_secs > 0 ? now + for_secs * 1000 : 0;
}

int policy_quarantine(struct bh *bh, const char *workload, const char *reason,
                      int64_t for_secs, const char *source)
{
	struct store_tx tx;
	struct inventory inv;
	struct workload *w;
	struct quarantine q, cur;
	int rc = 0, f;

	if (reason && strlen(reason) > 1000)
		return bh_error(bh, "quarantine: the reason is longer than 1000 "
		                "characters");
	if (reason && policy_text_check(bh, "reason", reason))
		return -1;
	if (store_tx_begin(bh, &tx))
		return -1;
	if (store_inventory_load(bh, &inv)) {
		store_tx_rollback(bh, &tx);
		return -1;
	}
	if (!(w = policy_inventory_by_name(&inv, workload))) {
		rc = no_workload(bh, &inv, workload);
	} else if ((f = store_quarantine_active(bh, w->id, &cur)) != 0) {
		if (f > 0) {
			char t[32];

			util_time_format(cur.since_ms, t, sizeof t);
			rc = bh_error(bh, "workload \"%s\" is already in "
			              "quarantine since %s (by %s%s%s); 'release "
			              "%s' first to quarantine it again", workload,
			              t, cur.by, cur.reason[0] ? ": " : "",
			              cur.reason, workload);
			quarantine_free(&cur);
		}
		rc = -1;
	} else {
		fill(bh, &q, w, reason, source, util_now_ms(), for_secs);
		rc = store_quarantine_insert(bh, &q);
		if (rc == 0) {
			w->quarantined = 1;
			rc = enforce(bh, &inv);
		}
		if (rc == 0)
			event_quarantine(bh, &q);
	}
	policy_inventory_free(&inv);
	return tx_end(bh, &tx, rc);
}

/* Release workload @w of @inv (in force: checked by the caller) inside
 * the caller's transaction; the enforcer is the caller's business. */
static int release_one(struct bh *bh, struct workload *w, const char *by,
                       const char *how)
{
	struct quarantine cur;
	int f = store_quarantine_active(bh, w->id, &cur);

	if (f <= 0)
		return f;
	if (store_quarantine_release(bh, w->id, util_now_ms(), by, how) < 0) {
		quarantine_free(&cur);
		return -1;
	}
	w->quarantined = 0;
	event_release(bh, &cur, by, how);
	quarantine_free(&cur);
	return 1;
}

int policy_release(struct bh *bh, const char *workload, const char *how)
{
	struct store_tx tx;
	struct inventory inv;
	struct workload *w;
	int rc = 0;

	if (store_tx_begin(bh, &tx))
		return -1;
	if (store_inventory_load(bh, &inv)) {
		store_tx_rollback(bh, &tx);
		return -1;
	}
	if (!(w = policy_inventory_by_name(&inv, workload))) {
		rc = no_workload(bh, &inv, workload);
	} else if (!w->quarantined) {
		rc = bh_error(bh, "workload \"%s\" is not in quarantine "
		              "('show quarantine' lists those that are)",
		              workload);
	} else if (strv_contains(&w->tags, QUARANTINE_TAG)) {
		/* Released, the tag would quarantine it again at the next
		 * inventory change. */
		rc = bh_error(bh, "workload \"%s\" carries the tag \"%s\": "
		              "remove it ('delete tag %s %s'), which releases "
		              "it", workload, QUARANTINE_TAG, workload,
		              QUARANTINE_TAG);
	} else {
		rc = release_one(bh, w, bh->user, how) < 0 ? -1 : 0;
		if (rc == 0)
			rc = enforce(bh, &inv);
	}
	policy_inventory_free(&inv);
	return tx_end(bh, &tx, rc);
}

int policy_quarantine_expire(struct bh *bh, int *n)
{
	struct store_tx tx;
	struct inventory inv;
	int64_t *ids, now = util_now_ms();
	size_t nids;
	int rc = 0, count = 0;
	struct strbuf names = STRBUF_INIT;

	if (n)
		*n = 0;
	/* A read first: no write lock unless something is due. */
	if (store_quarantine_due(bh, now, &ids, &nids))
		return -1;
	free(ids);
	if (nids == 0)
		return 0;
	if (store_tx_begin(bh, &tx))
		return -1;
	if (store_quarantine_due(bh, now, &ids, &nids)) {
		store_tx_rollback(bh, &tx);
		return -1;
	}
	if (store_inventory_load(bh, &inv)) {
		free(ids);
		store_tx_rollback(bh, &tx);
		return -1;
	}
	for (size_t i = 0; i < nids && rc == 0; i++) {
		struct workload *w = NULL;
		int f;

		for (size_t k = 0; k < inv.n; k++)
			if (inv.w[k].id == ids[i])
				w = &inv.w[k];
		if (!w) {
			/* the workload is gone: close its record */
			rc = store_quarantine_release(bh, ids[i], now,
			                              "bulkhead", "deleted") < 0;
			continue;
		}
		f = release_one(bh, w, "bulkhead", "expiry");
		if (f < 0)
			rc = -1;
		else if (f > 0) {
			sb_addf(&names, "%s%s", count ? ", " : "", w->name);
			count++;
		}
	}
	free(ids);
	if (rc == 0 && count)
		rc = enforce(bh, &inv);
	policy_inventory_free(&inv);
	if (rc == 0 && store_tx_commit(bh, &tx) == 0) {
		char detail[600];

		if (count) {
			snprintf(detail, sizeof detail, "released at the end of "
			         "its time: %.500s", sb_str(&names));
			policy_audit_record(bh, "quarantine expiry", 1, detail);
		}
		sb_free(&names);
		events_after(bh, &tx, 1);
		if (n)
			*n = count;
		return 0;
	}
	if (rc != 0)
		store_tx_rollback(bh, &tx);
	sb_free(&names);
	events_after(bh, &tx, 0);
	return -1;
}

int policy_quarantine_list(struct bh *bh, int history,
                           struct quarantine **out, size_t *n)
{
	return store_quarantine_list(bh, history, out, n);
}

int policy_quarantine_next(struct bh *bh, int64_t *until_ms)
{
	return store_quarantine_next(bh, until_ms);
}

int policy_quarantine_tags(struct bh *bh, struct inventory *inv)
{
	int64_t now = util_now_ms();
	int changed = 0;
	struct quarantine *act;
	size_t nact;

	/* The flags from the store: an inventory patched in memory (the
	 * libvirt provider's) carries workloads rebuilt from libvirt, which
	 * know nothing of quarantine, and the enforcer must not take that
	 * for a release. */
	if (store_quarantine_mark(bh, inv))
		return -1;
	/* A workload that went (deleted, its domain undefined) ends its
	 * quarantine: the record says so, the history keeps it. */
	if (store_quarantine_list(bh, 0, &act, &nact))
		return -1;
	for (size_t i = 0; i < nact; i++) {
		int found = 0;

		for (size_t k = 0; k < inv->n && !found; k++)
			found = inv->w[k].id == act[i].workload_id;
		if (found)
			continue;
		if (store_quarantine_release(bh, act[i].workload_id, now,
		                             bh->user, "deleted") < 0) {
			quarantine_list_free(act, nact);
			return -1;
		}
		event_release(bh, &act[i], bh->user, "deleted");
	}
	quarantine_list_free(act, nact);

	for (size_t i = 0; i < inv->n; i++) {
		struct workload *w = &inv->w[i];
		int tagged = strv_contains(&w->tags, QUARANTINE_TAG);

		if (tagged && !w->quarantined) {
			struct quarantine q;

			fill(bh, &q, w, "tag " QUARANTINE_TAG, "tag", now, 0);
			if (store_quarantine_insert(bh, &q))
				return -1;
			w->quarantined = 1;
			event_quarantine(bh, &q);
			changed = 1;
		} else if (!tagged && w->quarantined) {
			struct quarantine cur;
			int f = store_quarantine_active(bh, w->id, &cur);

			if (f < 0)
				return -1;
			if (f == 0)
				continue;
			/* Only what the tag started ends with the tag. */
			if (strcmp(cur.source, "tag") == 0) {
				if (release_one(bh, w, bh->user, "tag") < 0) {
					quarantine_free(&cur);
					return -1;
				}
				changed = 1;
			}
			quarantine_free(&cur);
		}
	}
	return changed;
}

void policy_quarantine_tx_end(struct bh *bh, const struct store_tx *tx,
                              int ok)
{
	events_after(bh, tx, ok);
}

/* ---- the remediation allowance ---------------------------------------------- */
/*
 * The setting's text "GROUP svc,svc;GROUP svc" into its entries.  Parsing
 * is forgiving (the store wrote it); a malformed entry is skipped.
 */
void policy_quarantine_allow_parse(const char *text, struct strv *groups,
                                   struct strv *services)
{
	const char *p = text ? text : "";

	while (*p) {
		const char *e = strchr(p, ';');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		char *ent = xmalloc(len + 1);
		char *sp;

		memcpy(ent, p, len);
		ent[len] = '\0';
		sp = strchr(ent, ' ');
		if (sp && sp != ent && sp[1]) {
			*sp = '\0';
			strv_push(groups, ent);
			strv_push(services, sp + 1);
		}
		free(ent);
		p = e ? e + 1 : p + len;
	}
}

/*
 * Check that the groups and services the allowance names exist in @cfg;
 * -1 with the message otherwise.
 */
int policy_quarantine_allow_check(struct bh *bh, const struct config *cfg)
{
	struct strv g = STRV_INIT, s = STRV_INIT;
	int rc = 0;

	policy_quarantine_allow_parse(cfg->settings.quarantine_allow, &g, &s);
	for (size_t i = 0; i < g.n && rc == 0; i++) {
		struct strv svcs = STRV_INIT;

		if (!policy_config_group(cfg, g.v[i]))
			rc = bh_error(bh, "quarantine allow: group \"%s\" does "
			              "not exist: add it, or 'set quarantine "
			              "allow %s service none'", g.v[i], g.v[i]);
		strv_split_commas(&svcs, s.v[i]);
		for (size_t k = 0; k < svcs.n && rc == 0; k++)
			if (!policy_config_service(cfg, svcs.v[k]))
				rc = bh_error(bh, "quarantine allow %s: service "
				              "\"%s\" does not exist", g.v[i],
				              svcs.v[k]);
		strv_free(&svcs);
	}
	strv_free(&g);
	strv_free(&s);
	return rc;
}

/*
 * `set quarantine allow GROUP service SVC[,...]` (@services NULL: `none`,
 * the group's allowance removed; @group NULL with @services NULL: all of
 * them), in the candidate.
 */
int policy_quarantine_allow_set(struct bh *bh, const char *group,
                                const struct strv *services)
{
	struct config cfg;
	struct strv g = STRV_INIT, s = STRV_INIT, ng = STRV_INIT, ns = STRV_INIT;
	struct strbuf out = STRBUF_INIT;
	int rc = 0, found = 0;

	if (policy_config_load(bh, CONFIG_CANDIDATE, &cfg))
		return -1;
	if (group && services) {
		struct strv names = STRV_INIT;

		if (!policy_config_group(&cfg, group)) {
			for (size_t i = 0; i < cfg.ngroups; i++)
				strv_push(&names, cfg.groups[i].name);
			rc = policy_not_found(bh, "group", group, &names);
		}
		strv_free(&names);
		for (size_t i = 0; i < services->n && rc == 0; i++)
			if (!policy_config_service(&cfg, services->v[i])) {
				for (size_t k = 0; k < cfg.nsvcs; k++)
					strv_push(&names, cfg.svcs[k].name);
				rc = policy_not_found(bh, "service",
				                      services->v[i], &names);
				strv_free(&names);
			}
		if (rc == 0 && services->n == 0)
			rc = bh_error(bh, "set quarantine allow %s: name at "
			              "least one service", group);
	}
	if (rc == 0) {
		policy_quarantine_allow_parse(cfg.settings.quarantine_allow,
		                              &g, &s);
		for (size_t i = 0; i < g.n; i++) {
			if (!group || strcmp(g.v[i], group) == 0) {
				found = 1;
				continue;
			}
			strv_push(&ng, g.v[i]);
			strv_push(&ns, s.v[i]);
		}
		if (group && !services && !found)
			rc = bh_error(bh, "group \"%s\" has no quarantine "
			              "allowance ('show config' lists them)",
			              group);
	}
	if (rc == 0 && group && services) {
		struct strv sv = STRV_INIT;
		struct strbuf j = STRBUF_INIT;
		size_t at = 0;

		strv_copy(&sv, services);
		strv_uniq(&sv);
		for (size_t k = 0; k < sv.n; k++)
			sb_addf(&j, "%s%s", k ? "," : "", sv.v[k]);
		/* keep the entries sorted by group */
		while (at < ng.n && strcmp(ng.v[at], group) < 0)
			at++;
		strv_push(&ng, "");
		strv_push(&ns, "");
		for (size_t k = ng.n - 1; k > at; k--) {
			char *t;

			t = ng.v[k], ng.v[k] = ng.v[k - 1], ng.v[k - 1] = t;
			t = ns.v[k], ns.v[k] = ns.v[k - 1], ns.v[k - 1] = t;
		}
		free(ng.v[at]);
		free(ns.v[at]);
		ng.v[at] = xstrdup(group);
		ns.v[at] = xstrdup(sb_str(&j));
		strv_free(&sv);
		sb_free(&j);
	}
	if (rc == 0) {
		for (size_t i = 0; i < ng.n; i++)
			sb_addf(&out, "%s%s %s", i ? ";" : "", ng.v[i], ns.v[i]);
		if (out.len >= sizeof cfg.settings.quarantine_allow)
			rc = bh_error(bh, "set quarantine allow: too many "
			              "allowances (at most %zu characters)",
			              sizeof cfg.settings.quarantine_allow - 1);
	}
	if (rc == 0)
		rc = policy_setting_set(bh, "quarantine-allow", sb_str(&out));
	sb_free(&out);
	strv_free(&g);
	strv_free(&s);
	strv_free(&ng);
	strv_free(&ns);
	policy_config_free(&cfg);
	return rc;
}
