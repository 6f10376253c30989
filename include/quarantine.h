/*
 * quarantine.h - quarantine and release of workloads (layer: policy,
 * operational like the inventory), the records kept of them (layer:
 * store), and the queue of operational events that bh->event delivers.
 *
 * A quarantine acts at once: it is written to the store and, inside the
 * same transaction, the enforcer puts the workload's NICs into the kernel's
 * quarantine set (bh->inventory_changed: the workload's `quarantined` flag
 * changed) and drops that NIC's flow-set entries, so live connections are
 * cut too.  What stays reachable is the remediation allowance of the
 * running config (`set quarantine allow GROUP service SVC,...`).
 *
 * Triggers: the `quarantine` and `release` commands; the tag "quarantine"
 * on a workload, from any source (`add tag`, `virsh metadata`, a libvirt
 * event), which every inventory edit reconciles (policy_quarantine_tags);
 * the deadline of `quarantine ... for DURATION` (policy_quarantine_expire).
 */
#ifndef BH_QUARANTINE_H
#define BH_QUARANTINE_H

#include <stddef.h>
#include <stdint.h>

#include "bulkhead.h"
#include "policy.h"

/* The tag that quarantines a workload, whoever sets it. */
#define QUARANTINE_TAG "quarantine"

struct quarantine {
	int64_t id;
	int64_t workload_id;
	char workload[BH_NAME_MAX + 1];
	char *reason;            /* "" when none given; never NULL */
	char source[16];         /* "command" | "tag" */
	char by[64];             /* Unix user */
	char client[64];         /* SSH client, "" when local */
	int64_t since_ms;
	int64_t until_ms;        /* 0: until released */
	int64_t released_ms;     /* 0: in force */
	char released_by[64];
	char released_how[16];   /* "command" | "tag" | "expiry" | "deleted" */
};

/* ---- store (SQL lives in store_quarantine.c) ------------------------------ */
int store_quarantine_insert(struct bh *bh, const struct quarantine *q);
/* Mark the record in force for @workload_id released; 1 when there was
 * one, 0 when not. */
int store_quarantine_release(struct bh *bh, int64_t workload_id,
                             int64_t now_ms, const char *by,
                             const char *how);
/* The record in force for @workload_id: 1 (into @out), 0 when none. */
int store_quarantine_active(struct bh *bh, int64_t workload_id,
                            struct quarantine *out);
/* In force only (@history 0, by workload name) or every record, newest
 * first (@history 1).  Free with quarantine_list_free(). */
int store_quarantine_list(struct bh *bh, int history, struct quarantine **out,
                          size_t *n);
/* Ids of the workloads in force whose deadline is at or before @now_ms. */
int store_quarantine_due(struct bh *bh, int64_t now_ms, int64_t **ids,
                         size_t *n);
/* The nearest deadline in force (ms), 0 when none. */
int store_quarantine_next(struct bh *bh, int64_t *until_ms);
/* Set w->quarantined on the workloads of @inv with a record in force
 * (store_inventory_load calls it). */
int store_quarantine_mark(struct bh *bh, struct inventory *inv);

void quarantine_free(struct quarantine *q);
void quarantine_list_free(struct quarantine *q, size_t n);

/* ---- policy --------------------------------------------------------------- */
/*
 * Quarantine @workload: @reason may be NULL, @for_secs 0 = until released,
 * @source "command" or "tag".  Refuses an unknown workload (with the
 * closest name) and one already in quarantine.  Store and kernel change in
 * one go or not at all; the "quarantine" event is queued and fires once the
 * change has committed.
 */
int policy_quarantine(struct bh *bh, const char *workload, const char *reason,
                      int64_t for_secs, const char *source);
/*
 * Release @workload (@how: "command", "tag", "expiry").  Refuses a
 * workload not in quarantine.  A workload quarantined by its tag is
 * released only once the tag is gone: the command front end removes the
 * tag first (cmd.c), which releases it through policy_quarantine_tags.
 */
int policy_release(struct bh *bh, const char *workload, const char *how);
/*
 * Release every quarantine whose deadline has passed.  *n (may be NULL)
 * gets how many.  Each release reaches the kernel through
 * bh->inventory_changed; -1 on failure (the store as it was).
 */
int policy_quarantine_expire(struct bh *bh, int *n);
/* store_quarantine_list() for the front ends. */
int policy_quarantine_list(struct bh *bh, int history,
                           struct quarantine **out, size_t *n);
/* The nearest deadline in force, ms since the epoch; 0 when none. */
int policy_quarantine_next(struct bh *bh, int64_t *until_ms);
/*
 * For the inventory edits, inside their transaction, on the inventory
 * about to be handed to the enforcer: quarantine every workload of @inv
 * that carries the tag "quarantine" and is not in quarantine, release
 * those quarantined by the tag that no longer carry it, and set the
 * `quarantined` flags of @inv to match.  Returns 1 when it changed
 * anything, 0 when not, -1 on failure.
 */
int policy_quarantine_tags(struct bh *bh, struct inventory *inv);

/* ---- the remediation allowance (setting "quarantine-allow") ------------ */
/* Its text "GROUP svc,svc;GROUP svc" into parallel lists (services as the
 * comma text); malformed entries skipped. */
void policy_quarantine_allow_parse(const char *text, struct strv *groups,
                                   struct strv *services);
/* Groups and services it names exist in @cfg (commit checks it). */
int policy_quarantine_allow_check(struct bh *bh, const struct config *cfg);
/* `set quarantine allow GROUP service SVC,...` in the candidate; @services
 * NULL removes GROUP's allowance, @group NULL too removes all. */
int policy_quarantine_allow_set(struct bh *bh, const char *group,
                                const struct strv *services);

/* ---- operational events (bh->event) ----------------------------------- */
/*
 * Queue an event; it reaches bh->event after the change has committed:
 * policy_events_fire() (called when the outermost transaction of an edit
 * commits, or by policy_batch_end() when the batch succeeds) or is dropped
 * by policy_events_drop() (the change was rolled back).
 */
void policy_event_queue(struct bh *bh, const char *trigger,
                        const char *workload, const char *detail);
void policy_events_fire(struct bh *bh);
void policy_events_drop(struct bh *bh);
/* For an edit's transaction @tx that has just ended (@ok: committed):
 * fire or drop the queue when @tx was the outermost outside a batch. */
struct store_tx;
void policy_quarantine_tx_end(struct bh *bh, const struct store_tx *tx,
                              int ok);

/* ---- the daemon's service (quarantine_svc.c) ---------------------------- */
/* Ends quarantines at their deadline while the daemon runs (one timer);
 * a struct daemon_service's start, stop and resync. */
struct daemon_env;
void *quarantine_svc_start(const struct daemon_env *env, char *err,
                           size_t errlen);
void quarantine_svc_stop(void *state);
void quarantine_svc_resync(void *state);

#endif
