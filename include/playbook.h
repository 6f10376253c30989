/*
 * playbook.h - playbooks (issue 5): per trigger, an ordered list of steps
 * the daemon runs when an operational event happens.
 *
 * Two halves.  The configuration (src/playbook.c, layer: policy model,
 * with its own SQL over the playbook_step table of
 * sql/0004-playbooks.sql) is part of a config like services: `add
 * playbook` edits the acting user's candidate, `commit` makes it running,
 * `show config` and `show diff` print it.  The runner (src/playbook_run.c,
 * layer: daemon) is a daemon service: it takes bh->event, looks up the
 * running config's steps for the event and runs them in order from the
 * loop, auditing each step's outcome.  A failing step is audited and the
 * next one runs; nothing a playbook does can undo or delay the event
 * itself (the quarantine is in force before the first step starts).
 *
 * Triggers: "quarantine", "release", "tag-added", "tag-removed", and
 * "tag-added:TAG" / "tag-removed:TAG" for one tag.  For a tag event the
 * steps of the plain trigger run first, then those of the tag's own.
 * Actions: snapshot, shutdown (arg "force": power off), pause, resume,
 * run (arg: the command's words; timeout_s), audit.
 */
#ifndef BH_PLAYBOOK_H
#define BH_PLAYBOOK_H

#include <stddef.h>
#include <stdint.h>

#include "bulkhead.h"
#include "policy.h"
#include "util.h"

/* A `run` step's default and largest timeout, seconds. */
#define PLAYBOOK_TIMEOUT_DEFAULT 30
#define PLAYBOOK_TIMEOUT_MAX 3600
#define PLAYBOOK_TRIGGER_MAX (BH_NAME_MAX + 16)

struct playbook_step {
	char trigger[PLAYBOOK_TRIGGER_MAX + 1];
	int seq;                  /* 1.. within its trigger */
	char action[16];          /* snapshot shutdown pause resume run audit */
	char *arg;                /* owned; "" when none */
	int timeout_s;            /* run: seconds; else 0 */
};
void playbook_steps_free(struct playbook_step *s, size_t n);

/* ---- configuration ------------------------------------------------------ */
/* 0 when @trigger is one of the forms above, else -1 with bh->err. */
int playbook_trigger_check(struct bh *bh, const char *trigger);
/*
 * Append a step to @trigger's playbook in the acting user's candidate.
 * @action and @args are what follows the trigger in `add playbook`:
 * "snapshot", "shutdown" [force], "pause", "resume", "audit", or "run"
 * [timeout SECONDS] COMMAND [ARG...].  Validated fully first; *seq_out
 * (may be NULL) gets the step's number.  -1 with bh->err, nothing
 * changed.
 */
int playbook_step_add(struct bh *bh, const char *trigger, const char *action,
                      const struct strv *args, int *seq_out);
/* Delete step @seq (0: every step) of @trigger in the candidate; the steps
 * after it move up.  -1 with bh->err when there is no such step. */
int playbook_step_delete(struct bh *bh, const char *trigger, int seq);
/* The steps of config @which, by trigger then seq.  *out malloc'ed (free
 * with playbook_steps_free); *n may be 0. */
int playbook_list(struct bh *bh, enum config_which which,
                  struct playbook_step **out, size_t *n);
/* The running config's steps for an event: @trigger's, then, with @tag,
 * those of "@trigger:@tag".  Same ownership as playbook_list. */
int playbook_steps_for(struct bh *bh, const char *trigger, const char *tag,
                       struct playbook_step **out, size_t *n);
/* "add playbook TRIGGER ACTION ARGS" of @s, as `show config` prints it. */
void playbook_step_line(const struct playbook_step *s, struct strbuf *out);
/*
 * The config lines of the playbooks of revision @rev (-1: the running
 * config for CONFIG_RUNNING, the candidate view for CONFIG_CANDIDATE),
 * appended to @lines: what `show config` and `show diff` add to the
 * policy's lines.
 */
int playbook_config_lines(struct bh *bh, int64_t rev, enum config_which which,
                          struct strv *lines);
/* 1 when configs @a and @b have the same playbooks, 0 when not, -1. */
int playbook_config_same(struct bh *bh, int64_t a, int64_t b);

/* ---- events ------------------------------------------------------------- */
/*
 * Report an operational event through bh->event (bulkhead.h).  Inside an
 * all-or-nothing batch (bh->batch set) the event is queued with the
 * batch's others (policy_event_queue, quarantine.h) and sent only if the
 * batch succeeds.  @detail is a JSON object (NULL: {}).
 */
void playbook_emit(struct bh *bh, const char *trigger, const char *workload,
                   const char *detail);
/*
 * bh->event for engines without the daemon (engine_open sets it): when the
 * running config has steps for the event it audits that they were not
 * run ("no daemon") instead of running them in the shell's process.
 */
void playbook_event_nodaemon(struct bh *bh, const char *trigger,
                             const char *workload, const char *detail);

/* ---- the front end (src/show_playbook.c) --------------------------------- */
/* `show playbooks` of the candidate view: per trigger its numbered steps,
 * or with @json one object {"playbooks": [{trigger, step, action, arg,
 * timeout}...]}. */
int playbook_show(struct bh *bh, int json, struct strbuf *out);

/* ---- the runner (daemon service) --------------------------------------- */
struct daemon_env;
void *playbook_service_start(const struct daemon_env *env, char *err,
                             size_t errlen);
void playbook_service_stop(void *state);

#endif
