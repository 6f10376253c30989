/*
 * playbook.c - the playbooks' configuration (layer: policy model, with
 * the rows of its own table): steps per trigger in a config, edited in
 * the acting user's candidate like services, printed for `show config`
 * and `show diff`; and the path an operational event takes to bh->event
 * (held, with the batch's other events, until an all-or-nothing batch
 * has succeeded).  See playbook.h.
 *
 * The SQL over playbook_step lives here rather than in store.c so that
 * the playbooks stay one module; it follows store.c's habits (named
 * statements, everything inside the caller's store transaction).  A
 * config's steps are copied with it by store_config_copy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "playbook.h"
#include "quarantine.h"
#include "policy_internal.h"
#include "policy.h"
#include "store.h"
#include "util.h"

static const char SQL_STEP_ALL[] =
	"SELECT trigger, seq, action, arg, timeout_s FROM playbook_step "
	"WHERE config = ?1 ORDER BY trigger, seq";
static const char SQL_STEP_TRIGGER[] =
	"SELECT trigger, seq, action, arg, timeout_s FROM playbook_step "
	"WHERE config = ?1 AND trigger = ?2 ORDER BY seq";
static const char SQL_STEP_LAST[] =
	"SELECT coalesce(max(seq), 0) FROM playbook_step "
	"WHERE config = ?1 AND trigger = ?2";
static const char SQL_STEP_INSERT[] =
	"INSERT INTO playbook_step(config, trigger, seq, action, arg, timeout_s)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_STEP_DELETE[] =
	"DELETE FROM playbook_step WHERE config = ?1 AND trigger = ?2 "
	"AND (?3 = 0 OR seq = ?3)";
/* Closing the gap in two moves: the primary key is checked row by row,
 * so moving each step up by one in place could meet its neighbour. */
static const char SQL_STEP_SHIFT_OUT[] =
	"UPDATE playbook_step SET seq = seq + 1000000 "
	"WHERE config = ?1 AND trigger = ?2 AND seq > ?3";
static const char SQL_STEP_SHIFT_BACK[] =
	"UPDATE playbook_step SET seq = seq - 1000001 "
	"WHERE config = ?1 AND trigger = ?2 AND seq > 1000000";
static const char SQL_STEP_COMPARE[] =
	"SELECT count(*) FROM (SELECT trigger, seq, action, arg, timeout_s "
	"FROM playbook_step WHERE config = ?1 EXCEPT SELECT trigger, seq, "
	"action, arg, timeout_s FROM playbook_step WHERE config = ?2)";

static const char *const actions[] = { "snapshot", "shutdown", "pause",
                                       "resume", "run", "audit" };
#define NACTIONS (sizeof actions / sizeof actions[0])
static const char *const triggers[] = { "quarantine", "release", "tag-added",
                                        "tag-removed" };
#define NTRIGGERS (sizeof triggers / sizeof triggers[0])

/* ---- rows ---------------------------------------------------------------- */

/* Step @st to the end; 0, or -1 with bh->err. */
static int run(struct bh *bh, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return bh_error(bh, "store: %s", sqlite3_errmsg(bh->db));
	return 0;
}

void playbook_steps_free(struct playbook_step *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s[i].arg);
	free(s);
}

/* The rows of @st (bound) appended to *out. */
static int read_steps(struct bh *bh, sqlite3_stmt *st,
                      struct playbook_step **out, size_t *n)
{
	size_t cap = *n;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct playbook_step *s;

		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			*out = xrealloc(*out, cap * sizeof **out);
		}
		s = &(*out)[(*n)++];
		memset(s, 0, sizeof *s);
		snprintf(s->trigger, sizeof s->trigger, "%s",
		         (const char *)sqlite3_column_text(st, 0));
		s->seq = sqlite3_column_int(st, 1);
		snprintf(s->action, sizeof s->action, "%s",
		         (const char *)sqlite3_column_text(st, 2));
		s->arg = xstrdup((const char *)sqlite3_column_text(st, 3));
		s->timeout_s = sqlite3_column_int(st, 4);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return bh_error(bh, "store: %s", sqlite3_errmsg(bh->db));
	return 0;
}

static int load(struct bh *bh, int64_t config, const char *trigger,
                struct playbook_step **out, size_t *n)
{
	sqlite3_stmt *st = store_prep(bh, trigger ? SQL_STEP_TRIGGER : SQL_STEP_ALL);

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, config);
	if (trigger)
		sqlite3_bind_text(st, 2, trigger, -1, SQLITE_TRANSIENT);
	return read_steps(bh, st, out, n);
}

/* The config id of the running config, or (CONFIG_CANDIDATE) of the
 * acting user's candidate when there is one. */
static int view(struct bh *bh, enum config_which which, int64_t *config)
{
	int64_t rev, base;

	if (which == CONFIG_CANDIDATE) {
		int found = store_candidate_find(bh, bh->user, config, &base,
		                                 NULL);
		if (found)
			return found < 0 ? -1 : 0;
	}
	return store_running(bh, &rev, config);
}

/* ---- validation ------------------------------------------------------------ */

int playbook_trigger_check(struct bh *bh, const char *trigger)
{
	const char *colon = strchr(trigger, ':');
	size_t len = colon ? (size_t)(colon - trigger) : strlen(trigger);
	const char *sugg;
	char err[256];

	for (size_t i = 0; i < NTRIGGERS; i++) {
		if (strlen(triggers[i]) != len ||
		    strncmp(trigger, triggers[i], len) != 0)
			continue;
		if (!colon)
			return 0;
		if (i < 2)
			return bh_error(bh, "playbook trigger \"%s\": only "
			                "tag-added and tag-removed take a tag",
			                trigger);
		if (util_tag_check(colon + 1, err, sizeof err))
			return bh_error(bh, "playbook trigger \"%s\": %s",
			                trigger, err);
		return 0;
	}
	sugg = util_suggest(trigger, triggers, NTRIGGERS);
	return bh_error(bh, "unknown playbook trigger \"%s\"%s%s%s: use "
	                "quarantine, release, tag-added[:TAG] or "
	                "tag-removed[:TAG]", trigger,
	                sugg ? " (did you mean \"" : "", sugg ? sugg : "",
	                sugg ? "\"?)" : "");
}

/* The step @action @args describe, checked, into @s (arg allocated). */
static int step_build(struct bh *bh, const char *trigger, const char *action,
                      const struct strv *args, struct playbook_step *s)
{
	const char *sugg;
	size_t i = 0;

	memset(s, 0, sizeof *s);
	for (size_t k = 0; k < NACTIONS; k++)
		if (strcmp(action, actions[k]) == 0)
			snprintf(s->action, sizeof s->action, "%s", action);
	if (!s->action[0]) {
		sugg = util_suggest(action, actions, NACTIONS);
		return bh_error(bh, "playbook %s: unknown action \"%s\"%s%s%s: "
		                "use snapshot, shutdown [force], pause, resume, "
		                "run COMMAND or audit", trigger, action,
		                sugg ? " (did you mean \"" : "", sugg ? sugg : "",
		                sugg ? "\"?)" : "");
	}
	snprintf(s->trigger, sizeof s->trigger, "%s", trigger);
	if (strcmp(action, "run") != 0) {
		int force = strcmp(action, "shutdown") == 0 && args->n == 1 &&
		            strcmp(args->v[0], "force") == 0;

		if (args->n && !force)
			return bh_error(bh, "playbook %s: %s takes %s, not \"%s\"",
			                trigger, action,
			                strcmp(action, "shutdown") == 0 ?
			                "only 'force'" : "no arguments",
			                args->v[0]);
		s->arg = xstrdup(force ? "force" : "");
		return 0;
	}
	s->timeout_s = PLAYBOOK_TIMEOUT_DEFAULT;
	if (args->n >= 2 && strcmp(args->v[0], "timeout") == 0) {
		char *end;
		long t = strtol(args->v[1], &end, 10);

		if (*end || t < 1 || t > PLAYBOOK_TIMEOUT_MAX)
			return bh_error(bh, "playbook %s: run timeout \"%s\": "
			                "give 1-%d seconds", trigger, args->v[1],
			                PLAYBOOK_TIMEOUT_MAX);
		s->timeout_s = (int)t;
		i = 2;
	}
	if (i >= args->n)
		return bh_error(bh, "playbook %s: run needs a command, e.g. "
		                "'run /usr/local/bin/ticket'", trigger);
	if (args->v[i][0] != '/')
		return bh_error(bh, "playbook %s: run \"%s\": give the "
		                "command's absolute path (the daemon runs it "
		                "without a shell or PATH)", trigger, args->v[i]);
	{
		struct strbuf sb = STRBUF_INIT;

		for (size_t k = i; k < args->n; k++) {
			if (policy_text_check(bh, "playbook command", args->v[k]) < 0) {
				sb_free(&sb);
				return -1;
			}
			if (k > i)
				sb_addc(&sb, ' ');
			sb_add_word(&sb, args->v[k]);
		}
		s->arg = xstrdup(sb_str(&sb));
		sb_free(&sb);
	}
	return 0;
}

/* ---- edits ------------------------------------------------------------------- */

/* The acting user's candidate, made from the running config when it has
 * none; the edit counted.  Inside the caller's transaction. */
static int target(struct bh *bh, int64_t *config)
{
	int64_t base, running, from;
	int found = store_candidate_find(bh, bh->user, config, &base, NULL);

	if (found < 0)
		return -1;
	if (!found && (store_running(bh, &running, &from) ||
	               store_config_copy(bh, from, bh->user, running, 0,
	                                 config)))
		return -1;
	return store_config_touch(bh, *config);
}

int playbook_step_add(struct bh *bh, const char *trigger, const char *action,
                      const struct strv *args, int *seq_out)
{
	struct playbook_step s;
	struct store_tx tx;
	sqlite3_stmt *st;
	int64_t config;
	int seq = 0, rc = -1;

	memset(&s, 0, sizeof s);
	if (playbook_trigger_check(bh, trigger) ||
	    step_build(bh, trigger, action, args, &s)) {
		free(s.arg);
		return -1;
	}
	if (store_tx_begin(bh, &tx)) {
		free(s.arg);
		return -1;
	}
	if (target(bh, &config) || !(st = store_prep(bh, SQL_STEP_LAST)))
		goto done;
	sqlite3_bind_int64(st, 1, config);
	sqlite3_bind_text(st, 2, trigger, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		seq = sqlite3_column_int(st, 0) + 1;
	sqlite3_finalize(st);
	if (seq == 0) {
		bh_error(bh, "store: %s", sqlite3_errmsg(bh->db));
		goto done;
	}
	if (!(st = store_prep(bh, SQL_STEP_INSERT)))
		goto done;
	sqlite3_bind_int64(st, 1, config);
	sqlite3_bind_text(st, 2, trigger, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 3, seq);
	sqlite3_bind_text(st, 4, s.action, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, s.arg, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 6, s.timeout_s);
	rc = run(bh, st);
	if (rc == 0 && seq_out)
		*seq_out = seq;
done:
	free(s.arg);
	if (rc == 0)
		return store_tx_commit(bh, &tx);
	store_tx_rollback(bh, &tx);
	return -1;
}

int playbook_step_delete(struct bh *bh, const char *trigger, int seq)
{
	struct playbook_step *have = NULL;
	struct store_tx tx;
	sqlite3_stmt *st;
	int64_t config;
	size_t n = 0;
	int rc = -1;

	if (playbook_trigger_check(bh, trigger))
		return -1;
	if (store_tx_begin(bh, &tx))
		return -1;
	if (view(bh, CONFIG_CANDIDATE, &config) ||
	    load(bh, config, trigger, &have, &n))
		goto done;
	if (n == 0) {
		bh_error(bh, "playbook %s has no steps (see 'show playbooks')",
		         trigger);
		goto done;
	}
	if (seq < 0 || (size_t)seq > n) {
		bh_error(bh, "playbook %s has no step %d (its steps are 1-%zu; "
		         "see 'show playbooks')", trigger, seq, n);
		goto done;
	}
	if (target(bh, &config))
		goto done;
	if (!(st = store_prep(bh, SQL_STEP_DELETE)))
		goto done;
	sqlite3_bind_int64(st, 1, config);
	sqlite3_bind_text(st, 2, trigger, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 3, seq);
	if (run(bh, st))
		goto done;
	if (seq > 0) {
		if (!(st = store_prep(bh, SQL_STEP_SHIFT_OUT)))
			goto done;
		sqlite3_bind_int64(st, 1, config);
		sqlite3_bind_text(st, 2, trigger, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 3, seq);
		if (run(bh, st) || !(st = store_prep(bh, SQL_STEP_SHIFT_BACK)))
			goto done;
		sqlite3_bind_int64(st, 1, config);
		sqlite3_bind_text(st, 2, trigger, -1, SQLITE_TRANSIENT);
		if (run(bh, st))
			goto done;
	}
	rc = 0;
done:
	playbook_steps_free(have, n);
	if (rc == 0)
		return store_tx_commit(bh, &tx);
	store_tx_rollback(bh, &tx);
	return -1;
}

/* ---- reading ----------------------------------------------------------------- */

int playbook_list(struct bh *bh, enum config_which which,
                  struct playbook_step **out, size_t *n)
{
	int64_t config;

	*out = NULL;
	*n = 0;
	if (view(bh, which, &config))
		return -1;
	return load(bh, config, NULL, out, n);
}

int playbook_steps_for(struct bh *bh, const char *trigger, const char *tag,
                       struct playbook_step **out, size_t *n)
{
	char own[PLAYBOOK_TRIGGER_MAX + 1];
	int64_t config;

	*out = NULL;
	*n = 0;
	if (view(bh, CONFIG_RUNNING, &config) ||
	    load(bh, config, trigger, out, n))
		return -1;
	if (tag && *tag) {
		snprintf(own, sizeof own, "%s:%s", trigger, tag);
		if (load(bh, config, own, out, n)) {
			playbook_steps_free(*out, *n);
			*out = NULL;
			*n = 0;
			return -1;
		}
	}
	return 0;
}

void playbook_step_line(const struct playbook_step *s, struct strbuf *out)
{
	sb_addf(out, "add playbook %s %s", s->trigger, s->action);
	if (strcmp(s->action, "run") == 0 &&
	    s->timeout_s != PLAYBOOK_TIMEOUT_DEFAULT)
		sb_addf(out, " timeout %d", s->timeout_s);
	if (s->arg && *s->arg)
		sb_addf(out, " %s", s->arg);
}

int playbook_config_lines(struct bh *bh, int64_t rev, enum config_which which,
                          struct strv *lines)
{
	struct playbook_step *s = NULL;
	int64_t config;
	size_t n = 0;

	if (rev >= 0) {
		int found = store_revision_config(bh, rev, &config);

		if (found <= 0)
			return found < 0 ? -1 : 0;
	} else if (view(bh, which, &config)) {
		return -1;
	}
	if (load(bh, config, NULL, &s, &n))
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct strbuf sb = STRBUF_INIT;

		playbook_step_line(&s[i], &sb);
		strv_push(lines, sb_str(&sb));
		sb_free(&sb);
	}
	playbook_steps_free(s, n);
	return 0;
}

static int count_except(struct bh *bh, int64_t a, int64_t b)
{
	sqlite3_stmt *st = store_prep(bh, SQL_STEP_COMPARE);
	int n = -1;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_int64(st, 2, b);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	else
		bh_error(bh, "store: %s", sqlite3_errmsg(bh->db));
	sqlite3_finalize(st);
	return n;
}

int playbook_config_same(struct bh *bh, int64_t a, int64_t b)
{
	int x = count_except(bh, a, b), y;

	if (x < 0)
		return -1;
	if (x > 0)
		return 0;
	y = count_except(bh, b, a);
	return y < 0 ? -1 : y == 0;
}

/* ---- events ---------------------------------------------------------------------- */

void playbook_emit(struct bh *bh, const char *trigger, const char *workload,
                   const char *detail)
{
	if (!bh->event)
		return;
	if (!detail || !*detail)
		detail = "{}";
	/* in a batch, the batch's end fires or drops it (quarantine.h) */
	if (bh->batch)
		policy_event_queue(bh, trigger, workload, detail);
	else
		bh->event(bh, trigger, workload, detail);
}

/* The value of "tag" in the event's detail object, into @buf ("" when
 * absent).  Tags are [A-Za-z0-9._:=/-]: no escapes to undo. */
static void detail_tag(const char *detail, char *buf, size_t len)
{
	const char *p = detail ? strstr(detail, "\"tag\":\"") : NULL;
	size_t n;

	buf[0] = '\0';
	if (!p)
		return;
	p += 7;
	n = strcspn(p, "\"");
	if (n >= len)
		n = len - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
}

void playbook_event_nodaemon(struct bh *bh, const char *trigger,
                             const char *workload, const char *detail)
{
	struct playbook_step *s = NULL;
	struct strbuf cmd = STRBUF_INIT;
	char tag[BH_NAME_MAX + 1];
	size_t n = 0;

	tag[0] = '\0';
	if (strncmp(trigger, "tag-", 4) == 0)
		detail_tag(detail, tag, sizeof tag);
	if (playbook_steps_for(bh, trigger, tag, &s, &n) || n == 0) {
		playbook_steps_free(s, n);
		return;
	}
	sb_addf(&cmd, "playbook %s%s%s workload %s", trigger, tag[0] ? ":" : "",
	        tag, workload);
	policy_audit_record(bh, sb_str(&cmd), 0, "not run: no daemon "
	                    "(playbooks run only inside 'bulkhead daemon')");
	sb_free(&cmd);
	playbook_steps_free(s, n);
}
