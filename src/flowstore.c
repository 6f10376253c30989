/*
 * flowstore.c - the store's part of the flow log (layer: store): hourly
 * flow aggregates (flow_hour) and the rules' last hits (rule_hit), both
 * from sql/0008-flows.sql.  Statements are named constants, as in store.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "flowlog.h"
#include "store.h"

static const char SQL_FLOW_ADD[] =
	"INSERT INTO flow_hour(hour_ms, src_group, dst_group, proto, port, "
	"verdict, rule, count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
	"ON CONFLICT DO UPDATE SET count = count + excluded.count";
static const char SQL_FLOW_PRUNE[] =
	"DELETE FROM flow_hour WHERE hour_ms < ?1";
static const char SQL_FLOW_LIST[] =
	"SELECT hour_ms, src_group, dst_group, proto, port, verdict, rule, "
	"count FROM flow_hour WHERE hour_ms >= ?1 "
	"ORDER BY hour_ms, count DESC, src_group, dst_group, proto, port";
static const char SQL_HIT_SET[] =
	"INSERT INTO rule_hit(rule, last_hit_ms, packets) VALUES (?1, ?2, ?3) "
	"ON CONFLICT DO UPDATE SET last_hit_ms = excluded.last_hit_ms, "
	"packets = excluded.packets";
static const char SQL_HIT_ALL[] =
	"SELECT rule, last_hit_ms FROM rule_hit ORDER BY rule";

static int step_done(struct bh *bh, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return bh_error(bh, "store %s: %s", bh->db_path,
		                sqlite3_errmsg(bh->db));
	return 0;
}

int store_flow_add(struct bh *bh, const struct flow_agg *a, size_t n,
                   int64_t keep_from_ms)
{
	struct store_tx tx;
	sqlite3_stmt *st = NULL, *pr = NULL;
	int rc = -1;

	if (store_tx_begin(bh, &tx))
		return -1;
	st = store_prep(bh, SQL_FLOW_ADD);
	pr = store_prep(bh, SQL_FLOW_PRUNE);
	if (!st || !pr)
		goto out;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, a[i].hour_ms);
		sqlite3_bind_text(st, 2, a[i].src_group, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, a[i].dst_group, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, a[i].proto, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 5, a[i].port);
		sqlite3_bind_text(st, 6, a[i].verdict, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, a[i].rule);
		sqlite3_bind_int64(st, 8, a[i].count);
		if (step_done(bh, st))
			goto out;
	}
	/* the hour that holds @keep_from_ms stays whole */
	sqlite3_bind_int64(pr, 1, keep_from_ms - keep_from_ms % 3600000);
	if (step_done(bh, pr))
		goto out;
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_finalize(pr);
	if (rc == 0)
		return store_tx_commit(bh, &tx);
	store_tx_rollback(bh, &tx);
	return -1;
}

int store_flow_list(struct bh *bh, int64_t since_ms, struct flow_agg **out,
                    size_t *n)
{
	sqlite3_stmt *st = store_prep(bh, SQL_FLOW_LIST);
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, since_ms - since_ms % 3600000);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct flow_agg *a;

		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*out = xrealloc(*out, cap * sizeof **out);
		}
		a = &(*out)[(*n)++];
		memset(a, 0, sizeof *a);
		a->hour_ms = sqlite3_column_int64(st, 0);
		snprintf(a->src_group, sizeof a->src_group, "%s",
		         (const char *)sqlite3_column_text(st, 1));
		snprintf(a->dst_group, sizeof a->dst_group, "%s",
		         (const char *)sqlite3_column_text(st, 2));
		snprintf(a->proto, sizeof a->proto, "%s",
		         (const char *)sqlite3_column_text(st, 3));
		a->port = sqlite3_column_int(st, 4);
		snprintf(a->verdict, sizeof a->verdict, "%s",
		         (const char *)sqlite3_column_text(st, 5));
		a->rule = sqlite3_column_int64(st, 6);
		a->count = sqlite3_column_int64(st, 7);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(*out);
		*out = NULL;
		*n = 0;
		return bh_error(bh, "store %s: %s", bh->db_path,
		                sqlite3_errmsg(bh->db));
	}
	return 0;
}

int store_rule_hit_set(struct bh *bh, const int64_t *rules,
                       const uint64_t *packets, size_t n, int64_t now_ms)
{
	struct store_tx tx;
	sqlite3_stmt *st;
	int rc = 0;

	if (store_tx_begin(bh, &tx))
		return -1;
	st = store_prep(bh, SQL_HIT_SET);
	for (size_t i = 0; st && i < n && rc == 0; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, rules[i]);
		sqlite3_bind_int64(st, 2, now_ms);
		sqlite3_bind_int64(st, 3, (int64_t)packets[i]);
		rc = step_done(bh, st);
	}
	if (!st)
		rc = -1;
	sqlite3_finalize(st);
	if (rc == 0)
		return store_tx_commit(bh, &tx);
	store_tx_rollback(bh, &tx);
	return -1;
}

int store_rule_hit_all(struct bh *bh, int64_t **rules, int64_t **times,
                       size_t *n)
{
	sqlite3_stmt *st = store_prep(bh, SQL_HIT_ALL);
	size_t cap = 0;
	int rc;

	*rules = NULL;
	*times = NULL;
	*n = 0;
	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 256;
			*rules = xrealloc(*rules, cap * sizeof **rules);
			*times = xrealloc(*times, cap * sizeof **times);
		}
		(*rules)[*n] = sqlite3_column_int64(st, 0);
		(*times)[(*n)++] = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(*rules);
		free(*times);
		*rules = *times = NULL;
		*n = 0;
		return bh_error(bh, "store %s: %s", bh->db_path,
		                sqlite3_errmsg(bh->db));
	}
	return 0;
}

int64_t flowlog_hit_find(const int64_t *rules, const int64_t *times,
                         size_t n, int64_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rules[mid] == id)
			return times[mid];
		if (rules[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}
