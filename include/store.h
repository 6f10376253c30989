/*
 * store.h - the store layer: the SQLite file that holds the inventory, the
 * configs (revisions and candidates) and the audit log.
 *
 * Only this layer speaks SQL.  Its functions read and write rows and check
 * nothing a user typed: the policy layer (policy.c) validates first and
 * calls these inside a transaction (store_tx_begin), so a failure anywhere
 * rolls everything back.  Each returns 0, or -1 with bh->err set to a
 * "store: ..." message; finders return 1 (found), 0 (absent) or -1.
 *
 * Configs are named by their row id ("config id"), revisions by number.
 */
#ifndef BH_STORE_H
#define BH_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "bulkhead.h"
#include "policy.h"

/* ---- connection ------------------------------------------------------- */
/*
 * Open @path (its parent directory made 0700 when missing), switch to WAL,
 * foreign keys on, 5 s busy timeout, and run the migrations above the
 * store's user_version.  Sets bh->db and bh->db_path.  On failure returns
 * -1 with "store PATH: reason" in @err and bh->db NULL.
 */
int store_open(struct bh *bh, const char *path, char *err, size_t errlen);
void store_close(struct bh *bh);

/* ---- transactions ----------------------------------------------------- */
/*
 * The outermost begin takes the write lock at once (BEGIN IMMEDIATE, so two
 * engines never deadlock upgrading a read); a nested one is a SAVEPOINT.
 * Every begun tx ends in exactly one commit or rollback.  Rollback keeps
 * bh->err as it is (it holds the reason).
 */
struct store_tx {
	int outer;      /* this tx began the SQLite transaction */
	int open;
};
int store_tx_begin(struct bh *bh, struct store_tx *tx);
int store_tx_commit(struct bh *bh, struct store_tx *tx);
void store_tx_rollback(struct bh *bh, struct store_tx *tx);

/* ---- rule ids ------------------------------------------------------------ */
/* Take the next id from the global counter. */
int store_rule_id_alloc(struct bh *bh, int64_t *id);
/* Make sure the counter never hands out @id (a kept id being replayed). */
int store_rule_id_reserve(struct bh *bh, int64_t id);

/* ---- inventory ---------------------------------------------------------- */
/* Everything, workloads by name, NICs by interface name, addresses and
 * tags sorted; groups left empty.  Free with policy_inventory_free(). */
int store_inventory_load(struct bh *bh, struct inventory *out);
/* Row of @w (name, kind, uuid, os, host, netns, state, source), all given
 * and valid; *id gets the new workload id. */
int store_workload_insert(struct bh *bh, const struct workload *w,
                          int64_t *id);
/* Deletes its NICs, addresses and tags with it. */
int store_workload_delete(struct bh *bh, int64_t id);
/* Row w->id gets @w's name, kind, uuid, os, host, netns, state and source
 * (all given and valid); its NICs, addresses and tags stay. */
int store_workload_update(struct bh *bh, const struct workload *w);
int store_nic_insert(struct bh *bh, int64_t workload, const char *ifname,
                     const char *mac);
int store_nic_delete(struct bh *bh, const char *ifname);
/* NIC @ifname gets @mac ("" or NULL: unknown); its addresses stay. */
int store_nic_mac_set(struct bh *bh, const char *ifname, const char *mac);
/* @origin: "static", "libvirt" or "learned". */
int store_address_insert(struct bh *bh, const char *ifname, const char *addr,
                         int family, const char *origin);
int store_address_delete(struct bh *bh, const char *addr);
int store_tag_insert(struct bh *bh, int64_t workload, const char *tag);
int store_tag_delete(struct bh *bh, int64_t workload, const char *tag);

/* ---- configs ------------------------------------------------------------ */
/* The newest revision and its config id. */
int store_running(struct bh *bh, int64_t *rev, int64_t *config);
/* @owner's candidate: 1 with its id, base revision and edit count. */
int store_candidate_find(struct bh *bh, const char *owner, int64_t *config,
                         int64_t *base_rev, int64_t *changes);
/* Config id of revision @rev: 1, or 0 when there is no such revision. */
int store_revision_config(struct bh *bh, int64_t rev, int64_t *config);
/*
 * Copy config @from, all its objects, into a new config: a candidate of
 * @owner based on @base_rev, or (owner NULL) a config for a revision about
 * to be recorded with store_revision_add().  *out gets the new id.
 */
int store_config_copy(struct bh *bh, int64_t from, const char *owner,
                      int64_t base_rev, int64_t changes, int64_t *out);
int store_config_delete(struct bh *bh, int64_t config);
/* Count one more edit on a candidate. */
int store_config_touch(struct bh *bh, int64_t config);
/*
 * The @parts (STORE_* bits) of config @config: services, groups (members
 * and addresses in typed order), rules (by section, then position),
 * settings (@defaults for keys absent).  Parts not asked for stay empty:
 * an edit loads only what it checks against, so one edit costs O(what it
 * touches), not O(config).  out->revision is left 0 for the caller.
 */
enum {
	STORE_SERVICES = 1,
	STORE_GROUPS = 2,
	STORE_RULES = 4,
	STORE_SETTINGS = 8,
	STORE_ALL = 15
};
int store_config_load(struct bh *bh, int64_t config, int parts,
                      const struct settings *defaults, struct config *out);
/* Rules in @section of @config, or -1. */
int store_rule_count(struct bh *bh, int64_t config, int section);
/* Rule @id of @config into @out (free it with policy_rule_free): 1, or
 * 0 when @config has no such rule. */
int store_rule_get(struct bh *bh, int64_t config, int64_t id,
                   struct rule *out);
/* 1 when rule @id is in @config. */
int store_rule_exists(struct bh *bh, int64_t config, int64_t id);
/* Ids (ascending) of the rules of @config naming @name as a service
 * (@service 1) or as a group in src, dst or applied-to (@service 0).
 * *ids is malloc'ed (free it), NULL when none. */
int store_rules_using(struct bh *bh, int64_t config, const char *name,
                      int service, int64_t **ids, size_t *n);

int store_group_insert(struct bh *bh, int64_t config, const struct group *g);
/* Group @name of @config gets monitor flag @monitor (0 rows: no error). */
int store_group_monitor_set(struct bh *bh, int64_t config, const char *name,
                            int monitor);
int store_group_delete(struct bh *bh, int64_t config, const char *name);
int store_service_insert(struct bh *bh, int64_t config,
                         const struct service *s);
int store_service_delete(struct bh *bh, int64_t config, const char *name);
/* Insert @r at r->position (1..count+1 of its section, checked by the
 * caller), moving the rules at and below it down by one. */
int store_rule_insert(struct bh *bh, int64_t config, const struct rule *r);
/* Rule r->id of @config gets r's action, flags, comment and lists where
 * it is: section and position stay (move a rule with delete and insert). */
int store_rule_update(struct bh *bh, int64_t config, const struct rule *r);
/* Delete rule @id and close the gap in its section. */
int store_rule_delete(struct bh *bh, int64_t config, int64_t id);
int store_rule_set_enabled(struct bh *bh, int64_t config, int64_t id,
                           int enabled);
int store_setting_set(struct bh *bh, int64_t config, const char *key,
                      const char *value);

/* ---- revisions ----------------------------------------------------------- */
/* What the store knows of a revision beyond struct revision. */
struct store_revinfo {
	int64_t config;
	int64_t prev_rev;   /* what a missed confirm restores; -1: none */
	int64_t undoes;     /* automatic rollback of this revision; -1: none */
};
/*
 * Turn config @config (a candidate, or a fresh copy) into revision r->rev
 * with r's time, author, client, comment and deadline (0: none).
 */
int store_revision_add(struct bh *bh, int64_t config,
                       const struct revision *r, int64_t prev_rev,
                       int64_t undoes);
/* 1 and the revision, or 0 when absent.  out->comment is owned by the
 * caller (free()). */
int store_revision_get(struct bh *bh, int64_t rev, struct revision *out,
                       struct store_revinfo *info);
/* Newest first.  Free with policy_history_free(). */
int store_revision_list(struct bh *bh, struct revision **out, size_t *n);
/* Set (ms) or clear (0) the confirm deadline of @rev. */
int store_revision_deadline_set(struct bh *bh, int64_t rev,
                                int64_t deadline_ms);
/* 1 when a `commit confirmed` deadline passed before @now_ms (a read
 * only: no write lock unless there is work to do). */
int store_confirm_due(struct bh *bh, int64_t now_ms);
/*
 * A `commit confirmed` whose deadline passed before @now_ms: record a new
 * revision that restores the config before it (author "bulkhead", comment
 * "rollback: commit N not confirmed"), clear the deadline and audit it.
 * *new_rev gets the revision recorded, 0 when nothing had expired.  Call it
 * inside a transaction; it does not apply anything to the kernel.
 */
int store_confirm_expire(struct bh *bh, int64_t now_ms, int64_t *new_rev);

/* ---- names, audit --------------------------------------------------------- */
/* Workload, interface or tag names (NAME_WORKLOAD/NIC/TAG), sorted. */
int store_inventory_names(struct bh *bh, enum name_kind kind,
                          struct strv *out);
int store_audit_insert(struct bh *bh, int64_t time_ms, const char *user,
                       const char *client, const char *command, int ok,
                       const char *detail);
/* Oldest first among the newest f->limit matching entries. */
int store_audit_list(struct bh *bh, const struct audit_filter *f,
                     struct audit_entry **out, size_t *n);

/* ---- link state (store_link.c) ---------------------------------------- */
/* A NIC's host-side interface as the kernel last reported it (table
 * nic_link, written by the daemon's links service, links.c). */
struct nic_link {
	char ifname[BH_IFNAME_MAX + 1];
	int present;            /* the interface exists */
	int ifindex;            /* 0 when absent */
	char mac[18];           /* the host end's own MAC, "" when unknown */
	int64_t rebinds;        /* came back under a new ifindex */
	int64_t changed_ms;     /* present/ifindex last changed (epoch ms) */
};
/* Row of @ifname into @out: 1 found, 0 none, -1 error. */
int store_link_get(struct bh *bh, const char *ifname, struct nic_link *out);
/* Insert or replace the row of l->ifname. */
int store_link_put(struct bh *bh, const struct nic_link *l);
/* The workload holding NIC @ifname into @workload (BH_NAME_MAX + 1):
 * 1 found, 0 no NIC has that name, -1 error.  One indexed read. */
int store_link_owner(struct bh *bh, const char *ifname, char *workload,
                     size_t len);
/* The interface a present row says has index @ifindex into @ifname
 * (IFNAMSIZ): 1 found, 0 none, -1 error. */
int store_link_by_index(struct bh *bh, int ifindex, char *ifname,
                        size_t len);
/*
 * The inventory's generation: *n moves with every write to the tables
 * store_inventory_load() reads (triggers, in the writing transaction);
 * @uid (17 bytes) names the store.  Equal (n, uid) read at two times mean
 * the same inventory.  (store_link.c)
 */
int store_inventory_gen(struct bh *bh, int64_t *n, char *uid, size_t len);
/* Every NIC's interface name, sorted; rows of nic_link for names no NIC
 * holds any more are deleted first. */
int store_link_known(struct bh *bh, struct strv *out);

/* ---- statement helpers, for the store's other files -------------------------
 * (store_address.c, store_link.c, store_quarantine.c, flowstore.c,
 * playbook.c write their own SQL over the same connection.)
 */
struct sqlite3_stmt;
/* The last SQLite error as the message in bh->err (a busy or read-only
 * store said so, with what to do); returns -1. */
int store_fail(struct bh *bh);
/* A prepared statement for @sql, or NULL with bh->err set. */
struct sqlite3_stmt *store_prep(struct bh *bh, const char *sql);
/* Column @i's text, "" for NULL (valid until the next step). */
const char *store_col_text(struct sqlite3_stmt *st, int i);

#endif
