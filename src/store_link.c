/*
 * store_link.c - the store layer's part for link state (table nic_link of
 * sql/0007-links.sql): what the kernel last said about each NIC's host-side
 * interface.  The daemon's links service (links.c) writes it from
 * rtnetlink events; `show workload` reads it.  One small statement each,
 * indexed, so a link event costs no inventory load.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "store.h"

static const char SQL_LINK_GET[] =
	"SELECT present, ifindex, mac, rebinds, changed_ms FROM nic_link "
	"WHERE ifname = ?1";
static const char SQL_LINK_PUT[] =
	"INSERT OR REPLACE INTO nic_link(ifname, present, ifindex, mac, "
	"rebinds, changed_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_LINK_OWNER[] =
	"SELECT w.name FROM nic n JOIN workload w ON w.id = n.workload "
	"WHERE n.ifname = ?1";
static const char SQL_LINK_BY_INDEX[] =
	"SELECT ifname FROM nic_link WHERE present = 1 AND ifindex = ?1";
static const char SQL_LINK_PRUNE[] =
	"DELETE FROM nic_link WHERE ifname NOT IN (SELECT ifname FROM nic)";
static const char SQL_LINK_KNOWN[] =
	"SELECT ifname FROM nic ORDER BY ifname";

static int fail(struct bh *bh, sqlite3_stmt *st)
{
	bh_error(bh, "store %s: %s", bh->db_path, sqlite3_errmsg(bh->db));
	sqlite3_finalize(st);
	return -1;
}

int store_link_get(struct bh *bh, const char *ifname, struct nic_link *out)
{
	sqlite3_stmt *st = store_prep(bh, SQL_LINK_GET);
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, ifname, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_finalize(st);
		return 0;
	}
	if (rc != SQLITE_ROW)
		return fail(bh, st);
	memset(out, 0, sizeof *out);
	snprintf(out->ifname, sizeof out->ifname, "%s", ifname);
	out->present = sqlite3_column_int(st, 0);
	out->ifindex = sqlite3_column_int(st, 1);
	snprintf(out->mac, sizeof out->mac, "%s", store_col_text(st, 2));
	out->rebinds = sqlite3_column_int64(st, 3);
	out->changed_ms = sqlite3_column_int64(st, 4);
	sqlite3_finalize(st);
	return 1;
}

int store_link_put(struct bh *bh, const struct nic_link *l)
{
	sqlite3_stmt *st = store_prep(bh, SQL_LINK_PUT);

	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, l->ifname, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, l->present);
	sqlite3_bind_int(st, 3, l->ifindex);
	sqlite3_bind_text(st, 4, l->mac, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, l->rebinds);
	sqlite3_bind_int64(st, 6, l->changed_ms);
	if (sqlite3_step(st) != SQLITE_DONE)
		return fail(bh, st);
	sqlite3_finalize(st);
	return 0;
}

int store_link_owner(struct bh *bh, const char *ifname, char *workload,
                     size_t len)
{
	sqlite3_stmt *st = store_prep(bh, SQL_LINK_OWNER);
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, ifname, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_finalize(st);
		return 0;
	}
	if (rc != SQLITE_ROW)
		return fail(bh, st);
	snprintf(workload, len, "%s", store_col_text(st, 0));
	sqlite3_finalize(st);
	return 1;
}

int store_link_by_index(struct bh *bh, int ifindex, char *ifname,
                        size_t len)
{
	sqlite3_stmt *st = store_prep(bh, SQL_LINK_BY_INDEX);
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int(st, 1, ifindex);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_finalize(st);
		return 0;
	}
	if (rc != SQLITE_ROW)
		return fail(bh, st);
	snprintf(ifname, len, "%s", store_col_text(st, 0));
	sqlite3_finalize(st);
	return 1;
}

int store_link_known(struct bh *bh, struct strv *out)
{
	sqlite3_stmt *st = store_prep(bh, SQL_LINK_PRUNE);
	int rc;

	if (!st)
		return -1;
	if (sqlite3_step(st) != SQLITE_DONE)
		return fail(bh, st);
	sqlite3_finalize(st);
	if (!(st = store_prep(bh, SQL_LINK_KNOWN)))
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		strv_push(out, store_col_text(st, 0));
	if (rc != SQLITE_DONE)
		return fail(bh, st);
	sqlite3_finalize(st);
	return 0;
}

/* ---- the inventory's generation (inventory_gen, sql/0007-links.sql) ---- */

static const char SQL_INVENTORY_GEN[] =
	"SELECT n, uid FROM inventory_gen WHERE id = 1";

int store_inventory_gen(struct bh *bh, int64_t *n, char *uid, size_t len)
{
	sqlite3_stmt *st = store_prep(bh, SQL_INVENTORY_GEN);
	int rc;

	if (!st)
		return -1;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE) {
			sqlite3_finalize(st);
			return bh_error(bh, "store %s: no inventory generation",
			                bh->db_path);
		}
		return fail(bh, st);
	}
	*n = sqlite3_column_int64(st, 0);
	snprintf(uid, len, "%s", store_col_text(st, 1));
	sqlite3_finalize(st);
	return 0;
}
