/*
 * store_quarantine.c - the store layer's part of quarantine: the rows of
 * table quarantine (sql/0003-quarantine.sql).  Checks nothing a user typed
 * (policy_quarantine does); runs inside the caller's transaction.  Each
 * function returns 0 (finders 1 or 0), or -1 with "store ...: reason" in
 * bh->err.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "quarantine.h"
#include "store.h"

static const char SQL_Q_INSERT[] =
	"INSERT INTO quarantine(workload_id, workload, reason, source, by_user, "
	"by_client, since_ms, until_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
static const char SQL_Q_RELEASE[] =
	"UPDATE quarantine SET released_ms = ?2, released_by = ?3, "
	"released_how = ?4 WHERE workload_id = ?1 AND released_ms IS NULL";
#define Q_COLS "id, workload_id, workload, reason, source, by_user, " \
	"by_client, since_ms, until_ms, released_ms, released_by, released_how"
static const char SQL_Q_ACTIVE[] =
	"SELECT " Q_COLS " FROM quarantine "
	"WHERE workload_id = ?1 AND released_ms IS NULL";
static const char SQL_Q_LIST_ACTIVE[] =
	"SELECT " Q_COLS " FROM quarantine WHERE released_ms IS NULL "
	"ORDER BY workload";
static const char SQL_Q_LIST_ALL[] =
	"SELECT " Q_COLS " FROM quarantine ORDER BY since_ms DESC, id DESC";
static const char SQL_Q_DUE[] =
	"SELECT workload_id FROM quarantine WHERE released_ms IS NULL "
	"AND until_ms IS NOT NULL AND until_ms <= ?1 ORDER BY until_ms";
static const char SQL_Q_NEXT[] =
	"SELECT min(until_ms) FROM quarantine WHERE released_ms IS NULL "
	"AND until_ms IS NOT NULL";
static const char SQL_Q_ACTIVE_IDS[] =
	"SELECT workload_id FROM quarantine WHERE released_ms IS NULL";

/* Step to the end and finalize: 0, or -1 when SQLite failed. */
static int done(struct bh *bh, sqlite3_stmt *st, int rc)
{
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		store_fail(bh);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

static void row(sqlite3_stmt *st, struct quarantine *q)
{
	memset(q, 0, sizeof *q);
	q->id = sqlite3_column_int64(st, 0);
	q->workload_id = sqlite3_column_int64(st, 1);
	snprintf(q->workload, sizeof q->workload, "%s", store_col_text(st, 2));
	q->reason = xstrdup(store_col_text(st, 3));
	snprintf(q->source, sizeof q->source, "%s", store_col_text(st, 4));
	snprintf(q->by, sizeof q->by, "%s", store_col_text(st, 5));
	snprintf(q->client, sizeof q->client, "%s", store_col_text(st, 6));
	q->since_ms = sqlite3_column_int64(st, 7);
	q->until_ms = sqlite3_column_int64(st, 8);
	q->released_ms = sqlite3_column_int64(st, 9);
	snprintf(q->released_by, sizeof q->released_by, "%s", store_col_text(st, 10));
	snprintf(q->released_how, sizeof q->released_how, "%s",
	         store_col_text(st, 11));
}

int store_quarantine_insert(struct bh *bh, const struct quarantine *q)
{
	sqlite3_stmt *st = store_prep(bh, SQL_Q_INSERT);

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, q->workload_id);
	sqlite3_bind_text(st, 2, q->workload, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, q->reason ? q->reason : "", -1,
	                  SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, q->source, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, q->by, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, q->client, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 7, q->since_ms);
	if (q->until_ms > 0)
		sqlite3_bind_int64(st, 8, q->until_ms);
	else
		sqlite3_bind_null(st, 8);
	return done(bh, st, sqlite3_step(st));
}

int store_quarantine_release(struct bh *bh, int64_t workload_id,
                             int64_t now_ms, const char *by,
                             const char *how)
{
	sqlite3_stmt *st = store_prep(bh, SQL_Q_RELEASE);

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, workload_id);
	sqlite3_bind_int64(st, 2, now_ms);
	sqlite3_bind_text(st, 3, by, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, how, -1, SQLITE_TRANSIENT);
	if (done(bh, st, sqlite3_step(st)))
		return -1;
	return sqlite3_changes(bh->db) > 0;
}

int store_quarantine_active(struct bh *bh, int64_t workload_id,
                            struct quarantine *out)
{
	sqlite3_stmt *st = store_prep(bh, SQL_Q_ACTIVE);
	int rc, found = 0;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, workload_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row(st, out);
		found = 1;
		rc = SQLITE_DONE;
	}
	if (done(bh, st, rc)) {
		if (found)
			quarantine_free(out);
		return -1;
	}
	return found;
}

int store_quarantine_list(struct bh *bh, int history, struct quarantine **out,
                          size_t *n)
{
	sqlite3_stmt *st = store_prep(bh, history ? SQL_Q_LIST_ALL : SQL_Q_LIST_ACTIVE);
	struct quarantine *v = NULL;
	size_t cnt = 0, cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cnt == cap) {
			cap = cap ? 2 * cap : 16;
			v = xrealloc(v, cap * sizeof *v);
		}
		row(st, &v[cnt++]);
	}
	if (rc != SQLITE_DONE) {
		done(bh, st, rc);
		quarantine_list_free(v, cnt);
		return -1;
	}
	sqlite3_finalize(st);
	*out = v;
	*n = cnt;
	return 0;
}

static int ids(struct bh *bh, const char *sql, int64_t now_ms, int64_t **out,
               size_t *n)
{
	sqlite3_stmt *st = store_prep(bh, sql);
	int64_t *v = NULL;
	size_t cnt = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (!st)
		return -1;
	if (now_ms)
		sqlite3_bind_int64(st, 1, now_ms);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v = xrealloc(v, (cnt + 1) * sizeof *v);
		v[cnt++] = sqlite3_column_int64(st, 0);
	}
	if (rc != SQLITE_DONE) {
		done(bh, st, rc);
		free(v);
		return -1;
	}
	sqlite3_finalize(st);
	*out = v;
	*n = cnt;
	return 0;
}

int store_quarantine_due(struct bh *bh, int64_t now_ms, int64_t **out,
                         size_t *n)
{
	return ids(bh, SQL_Q_DUE, now_ms, out, n);
}

int store_quarantine_next(struct bh *bh, int64_t *until_ms)
{
	sqlite3_stmt *st = store_prep(bh, SQL_Q_NEXT);
	int rc;

	*until_ms = 0;
	if (!st)
		return -1;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*until_ms = sqlite3_column_int64(st, 0);
		rc = SQLITE_DONE;
	}
	return done(bh, st, rc);
}

int store_quarantine_mark(struct bh *bh, struct inventory *inv)
{
	int64_t *v;
	size_t n;

	if (ids(bh, SQL_Q_ACTIVE_IDS, 0, &v, &n))
		return -1;
	for (size_t i = 0; i < inv->n; i++) {
		inv->w[i].quarantined = 0;
		for (size_t k = 0; k < n; k++)
			if (v[k] == inv->w[i].id)
				inv->w[i].quarantined = 1;
	}
	free(v);
	return 0;
}

void quarantine_free(struct quarantine *q)
{
	if (q) {
		free(q->reason);
		q->reason = NULL;
	}
}

void quarantine_list_free(struct quarantine *q, size_t n)
{
	for (size_t i = 0; i < n; i++)
		quarantine_free(&q[i]);
	free(q);
}
