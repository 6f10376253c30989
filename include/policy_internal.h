/*
 * policy_internal.h - helpers shared by the files of the policy layer
 * (policy.c, inventory_edit.c, commit.c, config.c) and by no one else.  Front ends
 * use policy.h only.
 */
#ifndef BH_POLICY_INTERNAL_H
#define BH_POLICY_INTERNAL_H

#include "bulkhead.h"
#include "policy.h"
#include "util.h"

/* The settings of revision 0, which `show config` does not print. */
extern const struct settings policy_settings_default;

/* `KIND "NAME" does not exist (did you mean "X"?)` into bh->err, the
 * suggestion taken from @cands (may be NULL); returns -1. */
int policy_not_found(struct bh *bh, const char *kind, const char *name,
                     const struct strv *cands);

/* `revision 9 does not exist (revisions are 0-5; see 'show history')`;
 * returns -1. */
int policy_no_revision(struct bh *bh, int64_t rev);

/* Refuse control characters in free text (comments, os, host): the config
 * is replayed line by line.  @what names the field in the message. */
int policy_text_check(struct bh *bh, const char *what, const char *s);

/* The groups @g's match refers to, sorted, deduplicated, appended to @out
 * (nothing when it has no match or the match does not parse). */
void policy_group_refs(const struct group *g, struct strv *out);

/* Every group, service and rule of @cfg consistent (references exist,
 * no group cycle, positions dense): what commit checks before anything
 * reaches the kernel.  Messages name the object: `rule 7: group "dbs"
 * does not exist`. */
int policy_config_check(struct bh *bh, const struct config *cfg);

#endif
