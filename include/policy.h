/*
 * policy.h - the policy model: inventory, groups, services, rules, the
 * candidate/running config life cycle, revisions and the audit log.
 *
 * This is the engine's interface for the front ends (cmd.c, shell, TUI,
 * testfixture) and the input of the compiler.  Every function validates
 * fully before it writes: on failure it returns -1, leaves the store as it
 * was and puts a message in bh->err naming the object, the fault and the
 * remedy, with the closest existing name suggested where one fits.
 *
 * Config and inventory
 *   Policy objects (services, groups, rules, the default action, settings)
 *   are edited in the acting user's candidate, made on the first edit as a
 *   copy of the running config.  policy_commit() turns the candidate into a
 *   new numbered revision, which is the running config.  Inventory
 *   (workloads, NICs, addresses, tags) is operational: it acts at once.
 *
 * Ownership
 *   Structs filled by the policy_*_get/load functions own their memory;
 *   release them with the matching *_free (which also accepts a zeroed
 *   struct).
 */
#ifndef BH_POLICY_H
#define BH_POLICY_H

#include <stdint.h>
#include "bulkhead.h"
#include "util.h"

/* ---- enumerations ------------------------------------------------------- */
enum section {
	SECTION_EMERGENCY,
	SECTION_INFRASTRUCTURE,
	SECTION_ENVIRONMENT,
	SECTION_APPLICATION,
	SECTION_COUNT
};
enum action {
	ACTION_ALLOW,
	ACTION_DROP,
	ACTION_REJECT
};
/* "emergency", ... ; -1 from the parsers when unknown */
const char *policy_section_name(int section);
int policy_section_parse(const char *s);
const char *policy_action_name(int action);
int policy_action_parse(const char *s);

/* ---- inventory -------------------------------------------------------- */
struct nic {
	char ifname[BH_IFNAME_MAX + 1];   /* host side: tap or veth end */
	char mac[18];                     /* "" when not known */
	struct strv addrs;                /* canonical, bound to this NIC */
};

struct workload {
	int64_t id;
	char name[BH_NAME_MAX + 1];
	char kind[16];        /* "vm" | "container" */
	char uuid[40];        /* libvirt domain uuid, "" otherwise */
	char os[128];         /* "" when unknown */
	char host[128];       /* "" means this host */
	char netns[64];       /* containers: network namespace, "" otherwise */
	char state[32];       /* "running", "shut off", "unknown", ... */
	char source[16];      /* "static" (added by hand) | "libvirt" */
	struct strv tags;     /* sorted */
	struct nic *nics;
	size_t nnics;
	struct strv groups;   /* running-config groups it belongs to (sorted);
	                         filled by policy_workload_get/list only */
	unsigned addressing;  /* ADDRESSING_* bits in effect (address.h):
	                         its own setting, else the default */
	int addressing_own;   /* 1: set for this workload, 0: the default */
	int quarantined;      /* a quarantine is in force (quarantine.h);
	                         filled by store_inventory_load */
};
void policy_workload_free(struct workload *w);

struct inventory {
	struct workload *w;   /* sorted by name */
	size_t n;
};
/* The whole inventory (groups field left empty).  Free with
 * policy_inventory_free(). */
int policy_inventory_load(struct bh *bh, struct inventory *out);
void policy_inventory_free(struct inventory *inv);
/*
 * Lookups in a loaded inventory; NULL when absent.  They scan (an
 * inventory patched in memory need not be sorted): O(workloads), or
 * O(NICs) by interface, fine at a few thousand.  By uuid: in any case.
 * by_nic also gives the NIC when @nic is not NULL; policy_workload_nic
 * takes a NULL workload.
 */
struct workload *policy_inventory_by_name(const struct inventory *inv,
                                          const char *name);
struct workload *policy_inventory_by_uuid(const struct inventory *inv,
                                          const char *uuid);
struct workload *policy_inventory_by_nic(const struct inventory *inv,
                                         const char *ifname,
                                         struct nic **nic);
struct nic *policy_workload_nic(const struct workload *w,
                                const char *ifname);

/*
 * Inventory edits.  They act at once (no commit), are validated first and
 * call bh->inventory_changed when set.
 *   workload_add: name unique; kind "vm" or "container" ("" = vm); source is
 *     taken from w->source ("" = static).  Fields of @w other than name,
 *     kind, os, host, netns, uuid, state, source are ignored.
 *   nic_add: ifname unique across the inventory; addresses unique across
 *     the inventory; mac optional.
 *   address_add: @nic may be NULL when the workload has exactly one NIC.
 *   delete_*: refuse what does not exist (with a suggestion).
 */
int policy_workload_add(struct bh *bh, const struct workload *w);
int policy_workload_delete(struct bh *bh, const char *name);
int policy_nic_add(struct bh *bh, const char *workload, const struct nic *nic);
int policy_nic_delete(struct bh *bh, const char *ifname);
int policy_address_add(struct bh *bh, const char *workload, const char *addr,
                       const char *nic);
int policy_address_delete(struct bh *bh, const char *workload,
                          const char *addr);
int policy_tag_add(struct bh *bh, const char *workload, const char *tag);
int policy_tag_delete(struct bh *bh, const char *workload, const char *tag);

/*
 * Discovery's writes (the libvirt provider): each is one transaction over
 * one loaded inventory, with at most one bh->inventory_changed call (the
 * inventory patched in memory, not loaded again), so an event costs
 * O(inventory) once instead of once per changed field, NIC or tag.
 *
 * policy_workload_put: make the workload of source w->source (a
 *   discovered source: "libvirt") whose uuid is w->uuid what @w says.
 *   None has that uuid: it is inserted.  Otherwise it is updated in place
 *   (it keeps its id): name, kind, os, host, state; NICs replaced by
 *   ifname, a NIC that stays keeping its bound addresses and getting its
 *   MAC updated in place; tags replaced by w->tags.  w->netns, w->groups
 *   and the NICs' addresses are ignored.  Another workload of the same
 *   source holding the name is replaced (a domain undefined and another
 *   defined under its name); one added by hand holding the name or the
 *   uuid is an error.  An interface held by another workload of the same
 *   source is taken from it (taps are reused); one held by a hand-added
 *   workload is left out, said in @left ("; "-separated), and the rest is
 *   written.  Returns 1 when it wrote, 0 when the store already said all
 *   that (nothing written, the enforcer not called), -1 on failure (the
 *   store as it was).  @what gets, "; "-separated, what changed, for the
 *   audit: "added: running, os debian12", "renamed from "a"",
 *   "state running", "interface vnet0 mac 52:54:...", "interface vnet1
 *   removed", "tag web", "tag db removed", "replaces workload ...".
 *   @what and @left may be NULL.
 * policy_workload_prune: delete the workloads of @source whose uuid is not
 *   in @keep (any order, any case; NULL or empty: all of them), and those
 *   of @source without a uuid.  Their names are appended to @removed (may
 *   be NULL).  Returns how many went, or -1 (the store as it was).
 */
int policy_workload_put(struct bh *bh, const struct workload *w,
                        struct strbuf *what, struct strbuf *left);
int policy_workload_prune(struct bh *bh, const char *source,
                          const struct strv *keep, struct strv *removed);

/* One workload with NICs, tags and running-config groups. */
int policy_workload_get(struct bh *bh, const char *name, struct workload *out);
/* All workloads, each with its groups filled. */
int policy_workload_list(struct bh *bh, struct inventory *out);

/* ---- config objects ---------------------------------------------------- */
struct service_entry {
	char proto[8];     /* "tcp" "udp" "icmp" "icmpv6" */
	char ports[128];   /* canonical ports for tcp/udp ("" = all), icmp type
	                      name for icmp/icmpv6 ("" = all types) */
};
struct service {
	char name[BH_NAME_MAX + 1];
	int builtin;
	struct service_entry *e;
	size_t ne;
};

struct group {
	char name[BH_NAME_MAX + 1];
	char *match;              /* canonical expression, NULL when none */
	struct strv members;      /* static member workload names */
	struct strv addresses;    /* static CIDRs, canonical */
	/* Computed by policy_membership() (left empty otherwise): */
	struct strv eff_workloads;  /* member workloads, sorted */
	struct strv eff_addrs;      /* static CIDRs + member NIC addresses,
	                               canonical, sorted, deduplicated */
	int monitor;                /* every rule applied to it monitors
	                               (`set group G monitor`) */
};

struct rule {
	int64_t id;           /* stable; 0 in policy_rule_add = allocate */
	int section;          /* enum section */
	int position;         /* 1-based within its section */
	int action;           /* enum action */
	struct strv src;      /* group names; empty = any */
	struct strv dst;      /* group names; empty = any */
	struct strv services; /* service names; empty = any */
	struct strv applied;  /* group names; empty = every managed NIC */
	int log;
	int enabled;
	char *comment;        /* NULL when none */
	int monitor;          /* monitor mode: would drop/reject, passes
	                         (see policy_rule_monitored) */
};

/* Settings with their defaults; the store keeps them per config. */
struct settings {
	int default_action;        /* ACTION_ALLOW until `set default drop` */
	int64_t timeout_tcp;       /* flow-set timeouts, seconds */
	int64_t timeout_udp;
	int64_t timeout_icmp;
	int comment_required;      /* `set commit-comment required`: a commit
	                              without a comment is refused */
	/* What a quarantined workload may still reach (quarantine.h):
	 * "GROUP svc,svc;GROUP svc", groups sorted; "" = nothing.  Key
	 * "quarantine-allow" of the store's settings. */
	char quarantine_allow[1024];
	int default_monitor;       /* `set default drop monitor`: the default
	                              drop is logged and counted, then passes */
};

/* A whole policy: what the compiler takes and what revisions hold. */
struct config {
	int64_t revision;      /* the revision it is or is based on */
	struct service *svcs;  /* sorted by name, built-ins included */
	size_t nsvcs;
	struct group *groups;  /* sorted by name */
	size_t ngroups;
	struct rule *rules;    /* by section, then position */
	size_t nrules;
	struct settings settings;
};

enum config_which {
	CONFIG_RUNNING,     /* the newest revision */
	CONFIG_CANDIDATE    /* the acting user's candidate, or the running
	                       config when the user has none */
};
int policy_config_load(struct bh *bh, enum config_which which,
                       struct config *out);
/* The config of revision @rev. */
int policy_revision_load(struct bh *bh, int64_t rev, struct config *out);
void policy_config_free(struct config *cfg);

/*
 * Compute every group's eff_workloads and eff_addrs from @inv.  Pure: no
 * store access.  Assumes group references were checked acyclic on entry
 * (a cycle met anyway is not followed).  O(groups x workloads).
 */
void policy_membership(struct config *cfg, const struct inventory *inv);

/* Lookups in a loaded config; NULL when absent. */
struct group *policy_config_group(const struct config *cfg, const char *name);
struct service *policy_config_service(const struct config *cfg,
                                      const char *name);
struct rule *policy_config_rule(const struct config *cfg, int64_t id);

/* ---- candidate edits ------------------------------------------------- */
/*
 * Group: name free among groups; match parsed and stored canonical;
 * static members must be existing workloads; addresses valid CIDRs; group
 * references must exist and form no cycle.
 */
int policy_group_add(struct bh *bh, const struct group *g);
/* Refused while a rule or another group's match refers to it. */
int policy_group_delete(struct bh *bh, const char *name);
/* Entries validated (proto known, ports well-formed, icmp type known). */
int policy_service_add(struct bh *bh, const struct service *s);
/* Refused for built-ins and while a rule uses it. */
int policy_service_delete(struct bh *bh, const char *name);
/*
 * Add @r to its section at r->position (0 = last; beyond the end is an
 * error), shifting the rules below.  r->id 0 allocates a new id (ids are
 * never reused); a given id is kept (replaying `show config`) and must be
 * free.  Every group and service named must exist.  *id_out gets the id.
 */
int policy_rule_add(struct bh *bh, const struct rule *r, int64_t *id_out);
int policy_rule_delete(struct bh *bh, int64_t id);
int policy_rule_set_enabled(struct bh *bh, int64_t id, int enabled);

/*
 * Editing objects in place.  Each replaces the parts of an existing object
 * that @what names and keeps the rest, validated as fully as the matching
 * add (references, addresses, ports, group cycles: `group "a": match
 * refers back to itself through group "b" (a -> b -> a)`).  The object
 * keeps its name (a rule its id), so the rules and groups that refer to it
 * need no change.  @what 0 is refused ("nothing to change").
 */
enum {
	GROUP_SET_MATCH = 1,       /* g->match; NULL or "": no expression */
	GROUP_SET_MEMBERS = 2,     /* g->members; empty: none */
	GROUP_SET_ADDRESSES = 4    /* g->addresses; empty: none */
};
int policy_group_set(struct bh *bh, const struct group *g, unsigned what);
/* Every entry of @s replaces the old ones; refused for built-ins. */
int policy_service_set(struct bh *bh, const struct service *s);
/*
 * Rule r->id gets the fields @what names from @r.  Empty lists mean any; a
 * NULL or empty comment removes it.  RULE_SET_SECTION without
 * RULE_SET_POSITION puts the rule last in its new section; a position is
 * one the rule can take in its (new) section.
 */
enum {
	RULE_SET_ACTION = 1,
	RULE_SET_SRC = 2,
	RULE_SET_DST = 4,
	RULE_SET_SERVICES = 8,
	RULE_SET_APPLIED = 16,
	RULE_SET_LOG = 32,
	RULE_SET_ENABLED = 64,
	RULE_SET_COMMENT = 128,
	RULE_SET_POSITION = 256,
	RULE_SET_SECTION = 512,
	RULE_SET_MONITOR = 1024    /* r->monitor: monitor (1) or enforce (0) */
};
int policy_rule_set(struct bh *bh, const struct rule *r, unsigned what);

/* Rule @id of the candidate view into @out (free it with
 * policy_rule_free); `rule 12 does not exist` when it is not there. */
int policy_rule_get(struct bh *bh, int64_t id, struct rule *out);
void policy_rule_free(struct rule *r);
int policy_default_set(struct bh *bh, int action);

/*
 * Monitor mode (issue 5).  A monitored rule whose action is drop or reject
 * does not stop what it matches: the packet is counted on the rule's
 * counter, logged (nflog, prefix "bh:ID:monitor"), then allowed and
 * remembered as a flow, as an allow rule would.  Later rules are not
 * consulted: the rule still decides, it only stops short of dropping.
 * Allow rules are unaffected.
 *   policy_group_monitor_set: every rule applied to group @name monitors
 *     (@monitor 1) or enforces as its own flag says (0).
 *   policy_default_set_mode: the default action with its monitor flag in
 *     one edit; a monitored default must be drop.
 *   policy_rule_monitored: 1 when @r, in @cfg, only monitors: its own
 *     flag, or one of its applied-to groups monitors, and it does not
 *     allow.  Pure.
 */
int policy_group_monitor_set(struct bh *bh, const char *name, int monitor);
int policy_default_set_mode(struct bh *bh, int action, int monitor);
int policy_rule_monitored(const struct config *cfg, const struct rule *r);
/* "timeout-tcp" etc.  Value checked per key. */
int policy_setting_set(struct bh *bh, const char *key, const char *value);

/* ---- config life cycle ------------------------------------------------ */
struct candidate_state {
	int exists;          /* the user has a candidate */
	int changes;         /* edits made to it */
	int64_t base_rev;    /* revision it was copied from */
	int64_t running_rev; /* the newest revision now */
};
int policy_candidate_state(struct bh *bh, struct candidate_state *st);

/*
 * Make the candidate the running config: refuse when the running config
 * moved since the candidate was made (another user committed: the message
 * says who and what to do), validate the whole candidate, call bh->apply,
 * record the revision.  No candidate, or one equal to the running config:
 * calls bh->apply with the running config (a re-apply) and records nothing;
 * *rev_out is then the running revision.  @confirm_minutes > 0 records a
 * deadline after which the previous revision comes back (policy_confirm
 * clears it).  @comment may be NULL.
 */
int policy_commit(struct bh *bh, const char *comment, int confirm_minutes,
                  int64_t *rev_out);
/* The same with the `commit confirmed` time in seconds (0: none; at most
 * a week): `commit confirmed 30s`. */
int policy_commit_secs(struct bh *bh, const char *comment,
                       int confirm_seconds, int64_t *rev_out);
int policy_confirm(struct bh *bh);
/*
 * `commit check`: everything a commit would check, the candidate (or the
 * running config when there is none) whole and, through bh->check, the
 * kernel's own verdict on the ruleset, without changing the store or the
 * kernel.  *kernel_checked tells whether the kernel was asked.
 */
int policy_commit_check(struct bh *bh, int *kernel_checked);
/*
 * For the daemon's deadline timer.  policy_confirm_pending: *deadline_ms
 * gets the deadline of the `commit confirmed` still waiting for `confirm`
 * (ms since the epoch), 0 when none; a read only.  policy_confirm_expire:
 * when that deadline has passed, roll back as bh_open() and
 * policy_commit() do (a new revision restoring the config from before,
 * put into the kernel through bh->apply, audited); returns 1 with the
 * revision recorded in *rev_out, 0 when nothing was due, -1 on failure
 * (the store as it was).
 */
int policy_confirm_pending(struct bh *bh, int64_t *deadline_ms);
int policy_confirm_expire(struct bh *bh, int64_t *rev_out);
/* Hand the running config, over the inventory as it is, to bh->apply: a
 * re-apply (an engine that just attached its enforcer, a restarted
 * daemon).  Nothing to do without bh->apply.  -1 with bh->err when the
 * kernel refuses; the kernel then stays as it was. */
int policy_apply_running(struct bh *bh);
int policy_discard(struct bh *bh);
/* Replace the candidate with a copy of revision @rev (commit to apply). */
int policy_rollback(struct bh *bh, int64_t rev);

/*
 * The config as commands that rebuild it when replayed with `-f`: the
 * hand-added inventory first, then services, groups (referenced groups
 * first), rules (section, position; with their ids), settings that differ
 * from the defaults, and a final `commit`.
 */
int policy_config_text(struct bh *bh, enum config_which which,
                       struct strbuf *out);
/* Same, policy part only, for one loaded config (no inventory, no commit):
 * one command per line, the unit the diff compares. */
void policy_config_lines(const struct config *cfg, struct strv *lines);

/*
 * What a commit would change: the config lines of revision @from (-1: the
 * running config) against @to (-1: the acting user's candidate), as
 * "- line" / "+ line" in config order; empty when they are equal.
 */
int policy_diff(struct bh *bh, int64_t from, int64_t to, struct strbuf *out);

struct revision {
	int64_t rev;
	int64_t time_ms;
	char author[64];
	char client[64];
	char *comment;             /* NULL when none */
	int64_t confirm_deadline;  /* ms; 0 when not pending */
};
/* Newest first.  Free with policy_history_free(). */
int policy_history(struct bh *bh, struct revision **out, size_t *n);
void policy_history_free(struct revision *r, size_t n);

/* ---- all-or-nothing batches ----------------------------------------- */
/*
 * A batch (`-c`, `-f`) changes everything it names or nothing: begin holds
 * one store transaction around its commands and keeps their audit records
 * aside; end(ok=1) commits the transaction and writes the records; end(ok=0)
 * rolls the store back, re-applies the running config to the kernel when a
 * command of the batch had reached it (so store and kernel agree again),
 * and writes the records with the earlier successes marked as undone.
 * Batches do not nest.  *changed (may be NULL) tells whether an undone
 * command had changed anything.
 */
int policy_batch_begin(struct bh *bh);
int policy_batch_end(struct bh *bh, int ok, int *changed);

/* ---- names, for completion and suggestions ----------------------------- */
enum name_kind {
	NAME_WORKLOAD,
	NAME_GROUP,       /* of the candidate view */
	NAME_SERVICE,     /* of the candidate view, built-ins included */
	NAME_RULE,        /* rule ids as text */
	NAME_NIC,         /* interface names */
	NAME_TAG,         /* every tag in use */
	NAME_SERVICE_OWN  /* services of the candidate view, not built in */
};
int policy_names(struct bh *bh, enum name_kind kind, struct strv *out);

/* ---- audit ------------------------------------------------------------ */
struct audit_entry {
	int64_t id;
	int64_t time_ms;
	char user[64];
	char client[64];
	char *command;
	int ok;
	char *detail;        /* error message or result summary; may be NULL */
};
struct audit_filter {
	const char *user;      /* NULL: anyone */
	int64_t since_ms;      /* 0: from the start */
	const char *contains;  /* substring of the command; NULL: any */
	int failed_only;
	int limit;             /* newest N; 0: 50 */
};
/* Record one command and its outcome (outside any edit's transaction, so
 * failures are kept too). */
int policy_audit_record(struct bh *bh, const char *command, int ok,
                        const char *detail);
/* Oldest first among the newest @limit.  Free with policy_audit_free(). */
int policy_audit_list(struct bh *bh, const struct audit_filter *f,
                      struct audit_entry **out, size_t *n);
void policy_audit_free(struct audit_entry *a, size_t n);

#endif
