/*
 * bulkhead.h - the engine context shared by every layer.
 *
 * One struct bh is made per process (shell, batch run, daemon, testfixture
 * engine).  It owns the store connection, knows who is acting (for the audit
 * log and the candidate owner) and carries the error slot: a layer function
 * that fails returns -1 (or NULL) and leaves a message in bh->err, written as
 * STYLE.md asks (names the object, says what is wrong and what to do,
 * lowercase, no final period).  Library layers never print.
 */
#ifndef BULKHEAD_H
#define BULKHEAD_H

#include <stddef.h>
#include <stdint.h>
#include <limits.h>

#define BH_VERSION "0.1.0"

/* Object names (workloads, groups, services): 1..63 characters. */
#define BH_NAME_MAX 63
/* Host-side interface names: the kernel's IFNAMSIZ less the NUL. */
#define BH_IFNAME_MAX 15
#define BH_ERR_MAX 1024

struct sqlite3;
struct bh;
struct config;
struct inventory;

/*
 * Called by policy_commit() inside the store transaction, after the
 * candidate has validated and before the store commits: the enforcer applies
 * @cfg over @inv to the kernel here.  A non-zero return (message in bh->err)
 * rolls the store back, so store and kernel never disagree.  NULL: no kernel
 * (store-only engines, as the fast tests use).
 */
typedef int bh_apply_fn(struct bh *bh, const struct config *cfg,
                        const struct inventory *inv);

/*
 * Called after an operational inventory change (workload, NIC, address, tag)
 * has been written, still inside its transaction; same contract as above.
 */
typedef int bh_inventory_fn(struct bh *bh, const struct inventory *inv);

/*
 * Add (@add 1) or remove (@add 0) @tag of @workload where the workload's
 * tags really live: for a libvirt VM, the domain's metadata (live and
 * persistent), after which the store follows from libvirt; for any other
 * workload, the store (policy_tag_add/delete).  What `add tag` and
 * `delete tag` call when set (cmd.c); NULL: the store only.  Set by the
 * daemon to its libvirt provider and by engine_open() for in-process root
 * engines.  Returns 0, or -1 with bh->err and nothing changed.  Only the
 * front end's tag commands may call it: the provider's own sync writes the
 * store with policy_tag_* directly, so a sync never comes back here.
 */
typedef int bh_tag_fn(struct bh *bh, const char *workload, const char *tag,
                      int add);

/*
 * An operational event has happened and is in the store: @trigger is
 * "quarantine", "release", "tag-added" or "tag-removed", @workload the
 * workload's name, @detail a JSON object with the event's facts (tag,
 * reason, by, until...).  Called after the change has committed, never
 * inside its transaction (in an all-or-nothing batch: once the batch has
 * succeeded), whoever made it: a command, a libvirt event, an expiry.
 * The daemon sets it to run its playbooks; NULL: nothing happens.
 */
typedef void bh_event_fn(struct bh *bh, const char *trigger,
                         const char *workload, const char *detail);

struct bh {
	struct sqlite3 *db;
	char db_path[PATH_MAX];
	char err[BH_ERR_MAX];
	char user[64];     /* Unix user acting: audit author, candidate owner */
	char client[64];   /* SSH client address, "" when local */
	char ssh[128];     /* the acting session's SSH_CONNECTION ("CADDR
	                      CPORT SADDR SPORT"), "" when none: what the
	                      commit's management-access check looks at
	                      (src/safeops.c) */
	bh_apply_fn *apply;          /* NULL: store only */
	bh_apply_fn *check;          /* like apply, but only asks the kernel
	                                whether it would take the config
	                                (`commit check`); NULL: no kernel */
	bh_inventory_fn *inventory_changed;
	void *enforcer;              /* the enforcer's handle, owned by it */
	void *batch;                 /* policy_batch_begin()'s state; NULL
	                                outside an all-or-nothing batch */
	int64_t expired_rev;         /* bh_open undid an unconfirmed commit
	                                with this revision; the kernel has
	                                still to follow (engine_open) */
	bh_tag_fn *tag_write;        /* NULL: tags in the store only */
	void *tag_handle;            /* tag_write's state (the libvirt
	                                provider, struct virt), owned by
	                                whoever set tag_write */
	bh_event_fn *event;          /* NULL: events go nowhere */
	void *event_handle;          /* event's state, owned by its setter */
	void *events_pending;        /* events queued until their change
	                                commits (quarantine.h) */
	void *flowlog;               /* the daemon's flow log (flowlog.h),
	                                owned by its service; NULL outside
	                                the daemon */
};

/*
 * Open (creating and migrating when needed) the store at @path, or at the
 * default path when @path is NULL.  Fills user/client from the environment.
 * Returns NULL on failure with the reason in @err.  Free with bh_close().
 */
struct bh *bh_open(const char *path, char *err, size_t errlen);
void bh_close(struct bh *bh);

/* Format a message into bh->err; always returns -1 so callers can
 * `return bh_error(bh, ...)`. */
int bh_error(struct bh *bh, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * The default store path: /var/lib/bulkhead/bulkhead.db for root,
 * $XDG_DATA_HOME/bulkhead/bulkhead.db (or ~/.local/share/...) otherwise.
 * Writes into @buf; returns @buf.
 */
const char *bh_default_db_path(char *buf, size_t len);

#endif
