/*
 * show.h - the printers behind every `show` command (front end).
 *
 * Each function loads what it shows through the policy layer and appends
 * either the text form or, with o->json, exactly one JSON document and a
 * newline to @out (SPEC.md "Output").  They never print.  On failure they
 * return -1 with the message in bh->err and @out holds whatever was
 * appended before the failure (callers discard it).
 */
#ifndef BH_SHOW_H
#define BH_SHOW_H

#include <stdint.h>
#include "bulkhead.h"
#include "cmd.h"
#include "policy.h"
#include "util.h"

int show_workloads(struct bh *bh, const struct cmd_opts *o,
                   struct strbuf *out);
/* Unknown @name: `workload "x" does not exist (did you mean "y"?)`. */
int show_workload(struct bh *bh, const struct cmd_opts *o, const char *name,
                  struct strbuf *out);
/* Groups, services and rules of the candidate view. */
/* show quarantine [history]: the quarantines in force, or all of them. */
int show_quarantine(struct bh *bh, const struct cmd_opts *o, int history,
                    struct strbuf *out);
int show_groups(struct bh *bh, const struct cmd_opts *o, struct strbuf *out);
int show_group(struct bh *bh, const struct cmd_opts *o, const char *name,
               struct strbuf *out);
int show_services(struct bh *bh, const struct cmd_opts *o,
                  struct strbuf *out);
int show_rules(struct bh *bh, const struct cmd_opts *o, struct strbuf *out);
/* The running config as commands, or the candidate's with @candidate. */
int show_config(struct bh *bh, const struct cmd_opts *o, int candidate,
                struct strbuf *out);
/* Revision @from (-1: running) against @to (-1: candidate). */
int show_diff(struct bh *bh, const struct cmd_opts *o, int64_t from,
              int64_t to, struct strbuf *out);
int show_history(struct bh *bh, const struct cmd_opts *o,
                 struct strbuf *out);
int show_audit(struct bh *bh, const struct cmd_opts *o,
               const struct audit_filter *f, struct strbuf *out);

/* ---- enforcement ------------------------------------------------------ */
/* The compiled nft ruleset of the running config (or the candidate) over
 * the inventory as it is; needs no kernel. */
int show_ruleset(struct bh *bh, const struct cmd_opts *o, int candidate,
                 struct strbuf *out);
/* Rule, default, spoof and per-NIC counters from the kernel; needs the
 * enforcer (root). */
int show_counters(struct bh *bh, const struct cmd_opts *o,
                  struct strbuf *out);
/* The live flows the kernel remembers, by NIC; needs the enforcer. */
int show_flows(struct bh *bh, const struct cmd_opts *o, struct strbuf *out);
/* Running revision, enforcer, and drift between kernel and config. */
int show_status(struct bh *bh, const struct cmd_opts *o, struct strbuf *out);

#endif
