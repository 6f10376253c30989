/*
 * store_address.c - the store layer's rows for address sources (migration
 * 0002): each binding's origin, pin and time, each workload's addressing
 * mode and the default one.  Rows only: the policy layer (address.c)
 * checks and holds the transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "address.h"
#include "bulkhead.h"
#include "store.h"
#include "util.h"

static const char SQL_MODE_ALL[] =
	"SELECT id, addressing FROM workload";
static const char SQL_MODE_DEFAULT[] =
	"SELECT value FROM inventory_setting WHERE key = 'addressing'";
static const char SQL_MODE_DEFAULT_SET[] =
	"INSERT INTO inventory_setting(key, value) VALUES ('addressing', ?1) "
	"ON CONFLICT(key) DO UPDATE SET value = excluded.value";
static const char SQL_MODE_SET[] =
	"UPDATE workload SET addressing = ?2 WHERE id = ?1";
static const char SQL_BIND[] =
	"INSERT INTO address(nic, addr, family, origin, pinned, since_ms) "
	"SELECT id, ?2, ?3, ?4, 0, ?5 FROM nic WHERE ifname = ?1";
static const char SQL_PIN[] =
	"UPDATE address SET pinned = 1 WHERE addr = ?1";
static const char SQL_CLEAR[] =
	"DELETE FROM address WHERE origin <> 'static' AND pinned = 0 AND "
	"(?1 = 0 OR nic IN (SELECT id FROM nic WHERE workload = ?1))";
static const char SQL_LIST[] =
	"SELECT workload.name, nic.ifname, address.addr, address.family, "
	"address.origin, address.pinned, address.since_ms "
	"FROM address JOIN nic ON nic.id = address.nic "
	"JOIN workload ON workload.id = nic.workload "
	"WHERE ?1 = 0 OR workload.id = ?1 "
	"ORDER BY workload.name, nic.ifname, address.family, address.addr";

static int fail(struct bh *bh, sqlite3_stmt *st)
{
	bh_error(bh, "store %s: %s", bh->db_path, sqlite3_errmsg(bh->db));
	sqlite3_finalize(st);
	return -1;
}

/* Step a statement that returns no rows, and finalize it. */
static int run(struct bh *bh, sqlite3_stmt *st)
{
	if (sqlite3_step(st) != SQLITE_DONE)
		return fail(bh, st);
	sqlite3_finalize(st);
	return 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

static const char *col(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? (const char *)s : "";
}

int store_addressing_default(struct bh *bh, unsigned *bits)
{
	sqlite3_stmt *st = store_prep(bh, SQL_MODE_DEFAULT);
	int rc, m = 0;

	if (!st)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		m = policy_addressing_parse(col(st, 0));
	else if (rc != SQLITE_DONE)
		return fail(bh, st);
	sqlite3_finalize(st);
	*bits = m < 0 ? 0 : (unsigned)m;
	return 0;
}

int store_addressing_fill(struct bh *bh, struct inventory *inv)
{
	sqlite3_stmt *st;
	unsigned def;
	int rc;

	if (store_addressing_default(bh, &def))
		return -1;
	for (size_t i = 0; i < inv->n; i++) {
		inv->w[i].addressing = def;
		inv->w[i].addressing_own = 0;
	}
	if (!(st = store_prep(bh, SQL_MODE_ALL)))
		return -1;
	/* O(workloads) with a scan per row would be quadratic: most
	 * workloads follow the default, so only the others are looked up. */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		int m = policy_addressing_parse(col(st, 1));

		if (m < 0)
			continue;
		for (size_t i = 0; i < inv->n; i++)
			if (inv->w[i].id == id) {
				inv->w[i].addressing = (unsigned)m;
				inv->w[i].addressing_own = 1;
				break;
			}
	}
	if (rc != SQLITE_DONE)
		return fail(bh, st);
	sqlite3_finalize(st);
	return 0;
}

int store_addressing_default_set(struct bh *bh, const char *mode)
{
	sqlite3_stmt *st = store_prep(bh, SQL_MODE_DEFAULT_SET);

	if (!st)
		return -1;
	bind_text(st, 1, mode);
	return run(bh, st);
}

int store_addressing_set(struct bh *bh, int64_t workload, const char *mode)
{
	sqlite3_stmt *st = store_prep(bh, SQL_MODE_SET);

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, workload);
	bind_text(st, 2, mode);
	return run(bh, st);
}

int store_address_bind(struct bh *bh, const char *ifname, const char *addr,
                       int family, const char *origin, int64_t since_ms)
{
	sqlite3_stmt *st = store_prep(bh, SQL_BIND);

	if (!st)
		return -1;
	bind_text(st, 1, ifname);
	bind_text(st, 2, addr);
	sqlite3_bind_int(st, 3, family);
	bind_text(st, 4, origin);
	sqlite3_bind_int64(st, 5, since_ms);
	return run(bh, st);
}

int store_address_pin(struct bh *bh, const char *addr)
{
	sqlite3_stmt *st = store_prep(bh, SQL_PIN);

	if (!st)
		return -1;
	bind_text(st, 1, addr);
	return run(bh, st);
}

int store_address_clear(struct bh *bh, int64_t workload, size_t *n)
{
	sqlite3_stmt *st = store_prep(bh, SQL_CLEAR);

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, workload);
	if (run(bh, st))
		return -1;
	*n = (size_t)sqlite3_changes(bh->db);
	return 0;
}

int store_address_list(struct bh *bh, int64_t workload,
                       struct bound_addr **out, size_t *n)
{
	sqlite3_stmt *st = store_prep(bh, SQL_LIST);
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, workload);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct bound_addr *b;

		if (*n == cap) {
			cap = cap ? 2 * cap : 8;
			*out = xrealloc(*out, cap * sizeof **out);
		}
		b = &(*out)[(*n)++];
		memset(b, 0, sizeof *b);
		snprintf(b->workload, sizeof b->workload, "%s", col(st, 0));
		snprintf(b->ifname, sizeof b->ifname, "%s", col(st, 1));
		snprintf(b->addr, sizeof b->addr, "%s", col(st, 2));
		b->family = sqlite3_column_int(st, 3);
		snprintf(b->origin, sizeof b->origin, "%s", col(st, 4));
		b->pinned = sqlite3_column_int(st, 5);
		b->since_ms = sqlite3_column_int64(st, 6);
	}
	if (rc != SQLITE_DONE) {
		free(*out);
		*out = NULL;
		*n = 0;
		return fail(bh, st);
	}
	sqlite3_finalize(st);
	return 0;
}
