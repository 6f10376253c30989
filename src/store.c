/*
 * store.c - the store layer: the one SQLite connection of an engine, its
 * migrations, transactions, and the row-level reads and writes of the
 * inventory, configs, revisions and audit log.
 *
 * Every statement is a named constant below, bound with parameters, never
 * built from user text.  Nothing here validates what a user typed: that is
 * the policy layer's job, done before these run, inside a transaction the
 * policy layer opened, so a failure here rolls the whole edit back.
 * Statements are prepared per call; an edit runs a handful of them, which
 * costs far less than the fsync at commit.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sqlite3.h>

#include "bulkhead.h"
#include "policy.h"
#include "schema.h"
#include "quarantine.h"
#include "store.h"
#include "address.h"
#include "util.h"

/* ---- SQL --------------------------------------------------------------- */
static const char SQL_USER_VERSION[] = "PRAGMA user_version";
static const char SQL_WAL[] = "PRAGMA journal_mode=WAL";
static const char SQL_FOREIGN_KEYS[] = "PRAGMA foreign_keys=ON";
static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";
static const char SQL_SAVEPOINT[] = "SAVEPOINT edit";
static const char SQL_RELEASE[] = "RELEASE edit";
static const char SQL_ROLLBACK_TO[] = "ROLLBACK TO edit";

static const char SQL_META_GET[] = "SELECT value FROM meta WHERE key = ?1";
static const char SQL_META_SET[] =
	"INSERT INTO meta(key, value) VALUES (?1, ?2) "
	"ON CONFLICT(key) DO UPDATE SET value = excluded.value";

static const char SQL_WORKLOAD_ALL[] =
	"SELECT id, name, kind, uuid, os, host, netns, state, source "
	"FROM workload ORDER BY name";
static const char SQL_NIC_ALL[] =
	"SELECT workload, ifname, mac FROM nic ORDER BY workload, ifname";
static const char SQL_ADDRESS_ALL[] =
	"SELECT nic.workload, nic.ifname, address.addr "
	"FROM address JOIN nic ON nic.id = address.nic "
	"ORDER BY nic.workload, nic.ifname, address.addr";
static const char SQL_TAG_ALL[] =
	"SELECT workload, tag FROM tag ORDER BY workload, tag";
static const char SQL_WORKLOAD_INSERT[] =
	"INSERT INTO workload(name, kind, uuid, os, host, netns, state, source,"
	" created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char SQL_WORKLOAD_DELETE[] = "DELETE FROM workload WHERE id = ?1";
static const char SQL_WORKLOAD_UPDATE[] =
	"UPDATE workload SET name = ?2, kind = ?3, uuid = ?4, os = ?5, host = ?6,"
	" netns = ?7, state = ?8, source = ?9 WHERE id = ?1";
static const char SQL_NIC_INSERT[] =
	"INSERT INTO nic(workload, ifname, mac) VALUES (?1, ?2, ?3)";
static const char SQL_NIC_DELETE[] = "DELETE FROM nic WHERE ifname = ?1";
static const char SQL_NIC_MAC_SET[] = "UPDATE nic SET mac = ?2 WHERE ifname = ?1";
static const char SQL_ADDRESS_INSERT[] =
	"INSERT INTO address(nic, addr, family, origin, since_ms) "
	"SELECT id, ?2, ?3, ?4, "
	"CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) "
	"FROM nic WHERE ifname = ?1";
static const char SQL_ADDRESS_DELETE[] = "DELETE FROM address WHERE addr = ?1";
static const char SQL_TAG_INSERT[] =
	"INSERT INTO tag(workload, tag) VALUES (?1, ?2)";
static const char SQL_TAG_DELETE[] =
	"DELETE FROM tag WHERE workload = ?1 AND tag = ?2";
static const char SQL_WORKLOAD_NAMES[] =
	"SELECT name FROM workload ORDER BY name";
static const char SQL_NIC_NAMES[] = "SELECT ifname FROM nic ORDER BY ifname";
static const char SQL_TAG_NAMES[] =
	"SELECT DISTINCT tag FROM tag ORDER BY tag";

static const char SQL_RUNNING[] =
	"SELECT rev, config FROM revision ORDER BY rev DESC LIMIT 1";
static const char SQL_CANDIDATE_FIND[] =
	"SELECT id, base_rev, changes FROM config "
	"WHERE kind = 'candidate' AND owner = ?1";
static const char SQL_REVISION_CONFIG[] =
	"SELECT config FROM revision WHERE rev = ?1";
static const char SQL_CONFIG_INSERT[] =
	"INSERT INTO config(kind, owner, base_rev, changes, created_ms) "
	"VALUES (CASE WHEN ?1 IS NULL THEN 'revision' ELSE 'candidate' END,"
	" ?1, ?2, ?3, ?4)";
static const char SQL_CONFIG_DELETE[] = "DELETE FROM config WHERE id = ?1";
static const char SQL_CONFIG_TOUCH[] =
	"UPDATE config SET changes = changes + 1 WHERE id = ?1";
/* Copying a config: one statement per table, ?1 = from, ?2 = to. */
static const char *const SQL_CONFIG_COPY[] = {
	"INSERT INTO grp(config, name, match, monitor) "
	"SELECT ?2, name, match, monitor FROM grp WHERE config = ?1",
	"INSERT INTO grp_member(config, grp, seq, workload) "
	"SELECT ?2, grp, seq, workload FROM grp_member WHERE config = ?1",
	"INSERT INTO grp_address(config, grp, seq, cidr) "
	"SELECT ?2, grp, seq, cidr FROM grp_address WHERE config = ?1",
	"INSERT INTO service(config, name, builtin) "
	"SELECT ?2, name, builtin FROM service WHERE config = ?1",
	"INSERT INTO service_entry(config, service, seq, proto, ports) "
	"SELECT ?2, service, seq, proto, ports FROM service_entry "
	"WHERE config = ?1",
	"INSERT INTO rule(config, id, section, position, action, log, enabled,"
	" comment, monitor) SELECT ?2, id, section, position, action, log,"
	" enabled, comment, monitor FROM rule WHERE config = ?1",
	"INSERT INTO rule_ref(config, rule, role, seq, name) "
	"SELECT ?2, rule, role, seq, name FROM rule_ref WHERE config = ?1",
	"INSERT INTO setting(config, key, value) "
	"SELECT ?2, key, value FROM setting WHERE config = ?1",
	/* sql/0004-playbooks.sql */
	"INSERT INTO playbook_step(config, trigger, seq, action, arg,"
	" timeout_s) SELECT ?2, trigger, seq, action, arg, timeout_s "
	"FROM playbook_step WHERE config = ?1",
};

static const char SQL_SERVICE_ALL[] =
	"SELECT name, builtin FROM service WHERE config = ?1 ORDER BY name";
static const char SQL_SERVICE_ENTRY_ALL[] =
	"SELECT service, proto, ports FROM service_entry WHERE config = ?1 "
	"ORDER BY service, seq";
static const char SQL_GROUP_ALL[] =
	"SELECT name, match, monitor FROM grp WHERE config = ?1 ORDER BY name";
static const char SQL_GROUP_MEMBER_ALL[] =
	"SELECT grp, workload FROM grp_member WHERE config = ?1 "
	"ORDER BY grp, seq";
static const char SQL_GROUP_ADDRESS_ALL[] =
	"SELECT grp, cidr FROM grp_address WHERE config = ?1 ORDER BY grp, seq";
static const char SQL_RULE_ALL[] =
	"SELECT id, section, position, action, log, enabled, comment, monitor "
	"FROM rule WHERE config = ?1";
static const char SQL_RULE_REF_ALL[] =
	"SELECT rule, role, name FROM rule_ref WHERE config = ?1 "
	"ORDER BY rule, role, seq";
static const char SQL_RULE_GET[] =
	"SELECT id, section, position, action, log, enabled, comment, monitor "
	"FROM rule WHERE config = ?1 AND id = ?2";
static const char SQL_RULE_REF_GET[] =
	"SELECT role, name FROM rule_ref WHERE config = ?1 AND rule = ?2 "
	"ORDER BY role, seq";
static const char SQL_RULE_UPDATE[] =
	"UPDATE rule SET action = ?3, log = ?4, enabled = ?5, comment = ?6, "
	"monitor = ?7 WHERE config = ?1 AND id = ?2";
static const char SQL_RULE_REF_DELETE[] =
	"DELETE FROM rule_ref WHERE config = ?1 AND rule = ?2";
static const char SQL_SETTING_ALL[] =
	"SELECT key, value FROM setting WHERE config = ?1";

static const char SQL_GROUP_INSERT[] =
	"INSERT INTO grp(config, name, match, monitor) VALUES (?1, ?2, ?3, ?4)";
static const char SQL_GROUP_MONITOR[] =
	"UPDATE grp SET monitor = ?3 WHERE config = ?1 AND name = ?2";
static const char SQL_GROUP_MEMBER_INSERT[] =
	"INSERT INTO grp_member(config, grp, seq, workload) "
	"VALUES (?1, ?2, ?3, ?4)";
static const char SQL_GROUP_ADDRESS_INSERT[] =
	"INSERT INTO grp_address(config, grp, seq, cidr) VALUES (?1, ?2, ?3, ?4)";
static const char SQL_GROUP_DELETE[] =
	"DELETE FROM grp WHERE config = ?1 AND name = ?2";
static const char SQL_SERVICE_INSERT[] =
	"INSERT INTO service(config, name, builtin) VALUES (?1, ?2, ?3)";
static const char SQL_SERVICE_ENTRY_INSERT[] =
	"INSERT INTO service_entry(config, service, seq, proto, ports) "
	"VALUES (?1, ?2, ?3, ?4, ?5)";
static const char SQL_SERVICE_DELETE[] =
	"DELETE FROM service WHERE config = ?1 AND name = ?2";
static const char SQL_RULE_SHIFT_DOWN[] =
	"UPDATE rule SET position = position + 1 "
	"WHERE config = ?1 AND section = ?2 AND position >= ?3";
static const char SQL_RULE_SHIFT_UP[] =
	"UPDATE rule SET position = position - 1 "
	"WHERE config = ?1 AND section = ?2 AND position > ?3";
static const char SQL_RULE_INSERT[] =
	"INSERT INTO rule(config, id, section, position, action, log, enabled,"
	" comment, monitor) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char SQL_RULE_REF_INSERT[] =
	"INSERT INTO rule_ref(config, rule, role, seq, name) "
	"VALUES (?1, ?2, ?3, ?4, ?5)";
static const char SQL_RULE_WHERE[] =
	"SELECT section, position FROM rule WHERE config = ?1 AND id = ?2";
static const char SQL_RULE_DELETE[] =
	"DELETE FROM rule WHERE config = ?1 AND id = ?2";
static const char SQL_RULE_ENABLE[] =
	"UPDATE rule SET enabled = ?3 WHERE config = ?1 AND id = ?2";
static const char SQL_RULE_COUNT[] =
	"SELECT count(*) FROM rule WHERE config = ?1 AND section = ?2";
static const char SQL_RULE_EXISTS[] =
	"SELECT count(*) FROM rule WHERE config = ?1 AND id = ?2";
static const char SQL_RULES_USING_GROUP[] =
	"SELECT DISTINCT rule FROM rule_ref WHERE config = ?1 AND name = ?2"
	" AND role IN ('src', 'dst', 'applied') ORDER BY rule";
static const char SQL_RULES_USING_SERVICE[] =
	"SELECT DISTINCT rule FROM rule_ref WHERE config = ?1 AND name = ?2"
	" AND role = 'service' ORDER BY rule";
static const char SQL_SETTING_SET[] =
	"INSERT INTO setting(config, key, value) VALUES (?1, ?2, ?3) "
	"ON CONFLICT(config, key) DO UPDATE SET value = excluded.value";

static const char SQL_CONFIG_TO_REVISION[] =
	"UPDATE config SET kind = 'revision', owner = NULL WHERE id = ?1";
static const char SQL_REVISION_INSERT[] =
	"INSERT INTO revision(rev, config, time_ms, author, client, comment,"
	" confirm_deadline_ms, prev_rev, undoes) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char SQL_REVISION_GET[] =
	"SELECT rev, time_ms, author, client, comment, confirm_deadline_ms,"
	" config, prev_rev, undoes FROM revision WHERE rev = ?1";
static const char SQL_REVISION_LIST[] =
	"SELECT rev, time_ms, author, client, comment, confirm_deadline_ms "
	"FROM revision ORDER BY rev DESC";
static const char SQL_REVISION_DEADLINE[] =
	"UPDATE revision SET confirm_deadline_ms = ?2 WHERE rev = ?1";
static const char SQL_REVISION_EXPIRED[] =
	"SELECT rev, prev_rev FROM revision WHERE confirm_deadline_ms <= ?1 "
	"ORDER BY rev DESC LIMIT 1";
static const char SQL_REVISION_DUE[] =
	"SELECT 1 FROM revision WHERE confirm_deadline_ms <= ?1 LIMIT 1";
static const char SQL_REVISION_CLEAR_DEADLINES[] =
	"UPDATE revision SET confirm_deadline_ms = NULL "
	"WHERE confirm_deadline_ms IS NOT NULL";

static const char SQL_AUDIT_INSERT[] =
	"INSERT INTO audit(time_ms, user, client, command, ok, detail) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
/* The newest ?5 entries that pass the filter; the caller reverses them. */
static const char SQL_AUDIT_LIST[] =
	"SELECT id, time_ms, user, client, command, ok, detail FROM audit "
	"WHERE (?1 IS NULL OR user = ?1) AND time_ms >= ?2"
	" AND (?3 IS NULL OR instr(command, ?3) > 0) AND (?4 = 0 OR ok = 0) "
	"ORDER BY id DESC LIMIT ?5";

/* ---- statement helpers --------------------------------------------------- */
int store_fail(struct bh *bh)
{
	int code = sqlite3_errcode(bh->db);

	if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
		return bh_error(bh, "store %s is busy: another bulkhead holds "
		                "it; try again", bh->db_path);
	if (code == SQLITE_READONLY)
		return bh_error(bh, "store %s is read-only: run as a user who "
		                "may write it", bh->db_path);
	return bh_error(bh, "store %s: %s", bh->db_path,
	                sqlite3_errmsg(bh->db));
}

sqlite3_stmt *store_prep(struct bh *bh, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(bh->db, sql, -1, &st, NULL) != SQLITE_OK) {
		store_fail(bh);
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

/* NULL binds SQL NULL. */
static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

const char *store_col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? (const char *)s : "";
}

static char *col_dup_or_null(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return NULL;
	return xstrdup(store_col_text(st, i));
}

static void copy_text(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src);
}

/* Step a statement that returns no rows, then finalize it. */
static int run(struct bh *bh, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		store_fail(bh);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

static int exec_sql(struct bh *bh, const char *sql)
{
	sqlite3_stmt *st = store_prep(bh, sql);

	return st ? run(bh, st) : -1;
}

/* After the last sqlite3_step: SQLITE_DONE is fine, anything else fails. */
static int finish(struct bh *bh, sqlite3_stmt *st, int rc)
{
	if (rc != SQLITE_DONE) {
		store_fail(bh);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

/* ---- connection -------------------------------------------------------- */
/* mkdir -p of @path's parent, new directories 0700 (the store holds the
 * whole policy and audit trail). */
static int make_parent(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	char *slash;
	struct stat sb;

	snprintf(dir, sizeof dir, "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (stat(dir, &sb) == 0)
		return 0;
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "store %s: cannot create directory %s: %s",
	         path, dir, strerror(errno));
	return -1;
}

static int user_version(struct bh *bh, int *v)
{
	sqlite3_stmt *st = store_prep(bh, SQL_USER_VERSION);
	int rc;

	if (!st)
		return -1;
	*v = 0;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return finish(bh, st, rc);
	*v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

/*
 * Run each migration above user_version in its own transaction.  The
 * version is read again under the write lock: two engines opening a new
 * store together must not both run migration 1.
 */
static int migrate(struct bh *bh)
{
	int known = 0, v;

	for (size_t i = 0; i < schema_migration_count; i++)
		if (schema_migrations[i].version > known)
			known = schema_migrations[i].version;
	if (user_version(bh, &v))
		return -1;
	if (v > known)
		return bh_error(bh, "store %s: schema version %d is newer than "
		                "this bulkhead (knows %d): upgrade bulkhead",
		                bh->db_path, v, known);
	for (size_t i = 0; i < schema_migration_count; i++) {
		const struct schema_migration *m = &schema_migrations[i];
		char *msg = NULL;
		char pragma[64];

		if (m->version <= v)
			continue;
		if (exec_sql(bh, SQL_BEGIN))
			return -1;
		if (user_version(bh, &v))
			goto fail;
		if (m->version <= v) {
			if (exec_sql(bh, SQL_COMMIT))
				goto fail;
			continue;
		}
		if (sqlite3_exec(bh->db, m->sql, NULL, NULL, &msg) != SQLITE_OK) {
			bh_error(bh, "store %s: migration %s failed: %s",
			         bh->db_path, m->name, msg ? msg : "?");
			sqlite3_free(msg);
			goto fail;
		}
		/* PRAGMA takes no parameters; the value is our own integer. */
		snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d",
		         m->version);
		if (exec_sql(bh, pragma) || exec_sql(bh, SQL_COMMIT))
			goto fail;
		v = m->version;
	}
	return 0;
fail:
	sqlite3_exec(bh->db, SQL_ROLLBACK, NULL, NULL, NULL);
	return -1;
}

int store_open(struct bh *bh, const char *path, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	struct stat sb;
	int rc;

	bh->db = NULL;
	if (strlen(path) >= sizeof bh->db_path) {
		snprintf(err, errlen, "store %s: path too long", path);
		return -1;
	}
	copy_text(bh->db_path, sizeof bh->db_path, path);
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "store %s: is a directory: give the path "
		         "of a file", path);
		return -1;
	}
	if (make_parent(path, err, errlen))
		return -1;
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	                     SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "store %s: %s", path,
		         db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return -1;
	}
	bh->db = db;
	sqlite3_busy_timeout(db, 5000);
	sqlite3_extended_result_codes(db, 0);
	if (exec_sql(bh, SQL_WAL) || exec_sql(bh, SQL_FOREIGN_KEYS) ||
	    migrate(bh)) {
		snprintf(err, errlen, "%s", bh->err);
		sqlite3_close(db);
		bh->db = NULL;
		return -1;
	}
	return 0;
}

void store_close(struct bh *bh)
{
	if (bh->db)
		sqlite3_close(bh->db);
	bh->db = NULL;
}

/* ---- transactions -------------------------------------------------------- */
int store_tx_begin(struct bh *bh, struct store_tx *tx)
{
	tx->outer = sqlite3_get_autocommit(bh->db);
	tx->open = 0;
	if (exec_sql(bh, tx->outer ? SQL_BEGIN : SQL_SAVEPOINT))
		return -1;
	tx->open = 1;
	return 0;
}

int store_tx_commit(struct bh *bh, struct store_tx *tx)
{
	assert(tx->open);
	if (exec_sql(bh, tx->outer ? SQL_COMMIT : SQL_RELEASE)) {
		store_tx_rollback(bh, tx);
		return -1;
	}
	tx->open = 0;
	return 0;
}

void store_tx_rollback(struct bh *bh, struct store_tx *tx)
{
	if (!tx->open)
		return;
	tx->open = 0;
	/* sqlite3_exec directly: a failure here must not replace the reason
	 * already in bh->err. */
	if (tx->outer) {
		if (!sqlite3_get_autocommit(bh->db))
			sqlite3_exec(bh->db, SQL_ROLLBACK, NULL, NULL, NULL);
	} else {
		sqlite3_exec(bh->db, SQL_ROLLBACK_TO, NULL, NULL, NULL);
		sqlite3_exec(bh->db, SQL_RELEASE, NULL, NULL, NULL);
	}
}

/* ---- rule ids ------------------------------------------------------------ */
static int meta_get_int(struct bh *bh, const char *key, int64_t *v)
{
	sqlite3_stmt *st = store_prep(bh, SQL_META_GET);
	int rc;

	if (!st)
		return -1;
	bind_text(st, 1, key);
	rc = sqlite3_step(st);
	*v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	if (rc == SQLITE_ROW)
		rc = sqlite3_step(st);
	return finish(bh, st, rc);
}

static int meta_set_int(struct bh *bh, const char *key, int64_t v)
{
	sqlite3_stmt *st = store_prep(bh, SQL_META_SET);
	char buf[32];

	if (!st)
		return -1;
	snprintf(buf, sizeof buf, "%lld", (long long)v);
	bind_text(st, 1, key);
	bind_text(st, 2, buf);
	return run(bh, st);
}

int store_rule_id_alloc(struct bh *bh, int64_t *id)
{
	int64_t next;

	if (meta_get_int(bh, "next_rule_id", &next))
		return -1;
	if (next < 1)
		next = 1;
	*id = next;
	return meta_set_int(bh, "next_rule_id", next + 1);
}

int store_rule_id_reserve(struct bh *bh, int64_t id)
{
	int64_t next;

	if (meta_get_int(bh, "next_rule_id", &next))
		return -1;
	if (id < next)
		return 0;
	return meta_set_int(bh, "next_rule_id", id + 1);
}

/* ---- inventory ------------------------------------------------------------ */
static struct nic *nic_of(struct workload *w, const char *ifname)
{
	for (size_t i = 0; i < w->nnics; i++)
		if (strcmp(w->nics[i].ifname, ifname) == 0)
			return &w->nics[i];
	return NULL;
}

/* Workload id -> index in the name-ordered array. */
struct id_index {
	int64_t id;
	size_t idx;
};

static int cmp_id_index(const void *a, const void *b)
{
	int64_t x = ((const struct id_index *)a)->id;
	int64_t y = ((const struct id_index *)b)->id;

	return (x > y) - (x < y);
}

/* Workload @id of @inv through @map (sorted by id); NULL when absent. */
static struct workload *by_id(struct inventory *inv,
                              const struct id_index *map, int64_t id)
{
	struct id_index key = { id, 0 };
	const struct id_index *hit;

	if (!inv->n)
		return NULL;
	hit = bsearch(&key, map, inv->n, sizeof *map, cmp_id_index);
	return hit ? &inv->w[hit->idx] : NULL;
}

int store_inventory_load(struct bh *bh, struct inventory *out)
{
	struct inventory inv = { NULL, 0 };
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	struct id_index *map = NULL;
	int rc;

	memset(out, 0, sizeof *out);
	if (!(st = store_prep(bh, SQL_WORKLOAD_ALL)))
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct workload *w;

		if (inv.n == cap) {
			cap = cap ? 2 * cap : 16;
			inv.w = xrealloc(inv.w, cap * sizeof *inv.w);
		}
		w = &inv.w[inv.n++];
		memset(w, 0, sizeof *w);
		w->id = sqlite3_column_int64(st, 0);
		copy_text(w->name, sizeof w->name, store_col_text(st, 1));
		copy_text(w->kind, sizeof w->kind, store_col_text(st, 2));
		copy_text(w->uuid, sizeof w->uuid, store_col_text(st, 3));
		copy_text(w->os, sizeof w->os, store_col_text(st, 4));
		copy_text(w->host, sizeof w->host, store_col_text(st, 5));
		copy_text(w->netns, sizeof w->netns, store_col_text(st, 6));
		copy_text(w->state, sizeof w->state, store_col_text(st, 7));
		copy_text(w->source, sizeof w->source, store_col_text(st, 8));
	}
	if (finish(bh, st, rc))
		goto fail;

	/* id -> index, for attaching NICs, addresses and tags. */
	map = xcalloc(inv.n + 1, sizeof *map);
	for (size_t i = 0; i < inv.n; i++) {
		map[i].id = inv.w[i].id;
		map[i].idx = i;
	}
	qsort(map, inv.n, sizeof *map, cmp_id_index);

	if (!(st = store_prep(bh, SQL_NIC_ALL)))
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct workload *w = by_id(&inv, map,
		                           sqlite3_column_int64(st, 0));
		struct nic *n;

		if (!w)
			continue;
		w->nics = xrealloc(w->nics, (w->nnics + 1) * sizeof *w->nics);
		n = &w->nics[w->nnics++];
		memset(n, 0, sizeof *n);
		copy_text(n->ifname, sizeof n->ifname, store_col_text(st, 1));
		copy_text(n->mac, sizeof n->mac, store_col_text(st, 2));
	}
	if (finish(bh, st, rc))
		goto fail;

	if (!(st = store_prep(bh, SQL_ADDRESS_ALL)))
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct workload *w = by_id(&inv, map,
		                           sqlite3_column_int64(st, 0));
		struct nic *n = w ? nic_of(w, store_col_text(st, 1)) : NULL;

		if (n)
			strv_push(&n->addrs, store_col_text(st, 2));
	}
	if (finish(bh, st, rc))
		goto fail;

	if (!(st = store_prep(bh, SQL_TAG_ALL)))
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct workload *w = by_id(&inv, map,
		                           sqlite3_column_int64(st, 0));

		if (w)
			strv_push(&w->tags, store_col_text(st, 1));
	}
	if (finish(bh, st, rc))
		goto fail;
	if (store_addressing_fill(bh, &inv) ||    /* address.h */
	    store_quarantine_mark(bh, &inv))
		goto fail;

	free(map);
	*out = inv;
	return 0;
fail:
	free(map);
	policy_inventory_free(&inv);
	return -1;
}

int store_workload_insert(struct bh *bh, const struct workload *w,
                          int64_t *id)
{
	sqlite3_stmt *st = store_prep(bh, SQL_WORKLOAD_INSERT);

	if (!st)
		return -1;
	bind_text(st, 1, w->name);
	bind_text(st, 2, w->kind);
	bind_text(st, 3, w->uuid);
	bind_text(st, 4, w->os);
	bind_text(st, 5, w->host);
	bind_text(st, 6, w->netns);
	bind_text(st, 7, w->state);
	bind_text(st, 8, w->source);
	sqlite3_bind_int64(st, 9, util_now_ms());
	if (run(bh, st))
		return -1;
	if (id)
		*id = sqlite3_last_insert_rowid(bh->db);
	return 0;
}

int store_workload_delete(struct bh *bh, int64_t id)
{
	sqlite3_stmt *st = store_prep(bh, SQL_WORKLOAD_DELETE);

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return run(bh, st);
}

int store_workload_update(struct bh *bh, const struct workload *w)
{
	sqlite3_stmt *st = store_prep(bh, SQL_WORKLOAD_UPDATE);

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, w->id);
	bind_text(st, 2, w->name);
	bind_text(st, 3, w->kind);
	bind_text(st, 4, w->uuid);
	bind_text(st, 5, w->os);
	bind_text(st, 6, w->host);
	bind_text(st, 7, w->netns);
	bind_text(st, 8, w->state);
	bind_text(st, 9, w->source);
	if (run(bh, st))
		return -1;
	if (sqlite3_changes(bh->db) != 1)
		return bh_error(bh, "store: workload \"%s\" vanished", w->name);
	return 0;
}

int store_nic_insert(struct bh *bh, int64_t workload, const char *ifname,
                     const char *mac)
{
	sqlite3_stmt *st = store_prep(bh, SQL_NIC_INSERT);

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, workload);
	bind_text(st, 2, ifname);
	bind_text(st, 3, mac ? mac : "");
	return run(bh, st);
}

int store_nic_delete(struct bh *bh, const char *ifname)
{
	sqlite3_stmt *st = store_prep(bh, SQL_NIC_DELETE);

	if (!st)
		return -1;
	bind_text(st, 1, ifname);
	return run(bh, st);
}

int store_nic_mac_set(struct bh *bh, const char *ifname, const char *mac)
{
	sqlite3_stmt *st = store_prep(bh, SQL_NIC_MAC_SET);

	if (!st)
		return -1;
	bind_text(st, 1, ifname);
	bind_text(st, 2, mac ? mac : "");
	if (run(bh, st))
		return -1;
	if (sqlite3_changes(bh->db) != 1)
		return bh_error(bh, "store: interface \"%s\" vanished", ifname);
	return 0;
}

int store_address_insert(struct bh *bh, const char *ifname, const char *addr,
                         int family, const char *origin)
{
	sqlite3_stmt *st = store_prep(bh, SQL_ADDRESS_INSERT);

	if (!st)
		return -1;
	bind_text(st, 1, ifname);
	bind_text(st, 2, addr);
	sqlite3_bind_int(st, 3, family);
	bind_text(st, 4, origin ? origin : "static");
	if (run(bh, st))
		return -1;
	if (sqlite3_changes(bh->db) != 1)
		return bh_error(bh, "store: interface \"%s\" vanished", ifname);
	return 0;
}

int store_address_delete(struct bh *bh, const char *addr)
{
	sqlite3_stmt *st = store_prep(bh, SQL_ADDRESS_DELETE);

	if (!st)
		return -1;
	bind_text(st, 1, addr);
	return run(bh, st);
}

int store_tag_insert(struct bh *bh, int64_t workload, const char *tag)
{
	sqlite3_stmt *st = store_prep(bh, SQL_TAG_INSERT);

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, workload);
	bind_text(st, 2, tag);
	return run(bh, st);
}

int store_tag_delete(struct bh *bh, int64_t workload, const char *tag)
{
	sqlite3_stmt *st = store_prep(bh, SQL_TAG_DELETE);

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, workload);
	bind_text(st, 2, tag);
	return run(bh, st);
}

static int column_strv(struct bh *bh, const char *sql, struct strv *out)
{
	sqlite3_stmt *st = store_prep(bh, sql);
	int rc;

	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		strv_push(out, store_col_text(st, 0));
	return finish(bh, st, rc);
}

int store_inventory_names(struct bh *bh, enum name_kind kind,
                          struct strv *out)
{
	switch (kind) {
	case NAME_WORKLOAD:
		return column_strv(bh, SQL_WORKLOAD_NAMES, out);
	case NAME_NIC:
		return column_strv(bh, SQL_NIC_NAMES, out);
	case NAME_TAG:
		return column_strv(bh, SQL_TAG_NAMES, out);
	default:
		return bh_error(bh, "store: no inventory names of kind %d",
		                (int)kind);
	}
}

/* ---- configs ------------------------------------------------------------ */
int store_running(struct bh *bh, int64_t *rev, int64_t *config)
{
	sqlite3_stmt *st = store_prep(bh, SQL_RUNNING);
	int rc;

	if (!st)
		return -1;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE) {
			sqlite3_finalize(st);
			return bh_error(bh, "store %s: no revision at all: the "
			                "store is damaged", bh->db_path);
		}
		return finish(bh, st, rc);
	}
	if (rev)
		*rev = sqlite3_column_int64(st, 0);
	if (config)
		*config = sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	return 0;
}

int store_candidate_find(struct bh *bh, const char *owner, int64_t *config,
                         int64_t *base_rev, int64_t *changes)
{
	sqlite3_stmt *st = store_prep(bh, SQL_CANDIDATE_FIND);
	int rc, found = 0;

	if (!st)
		return -1;
	bind_text(st, 1, owner);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		found = 1;
		if (config)
			*config = sqlite3_column_int64(st, 0);
		if (base_rev)
			*base_rev = sqlite3_column_int64(st, 1);
		if (changes)
			*changes = sqlite3_column_int64(st, 2);
		rc = sqlite3_step(st);
	}
	if (finish(bh, st, rc))
		return -1;
	return found;
}

int store_revision_config(struct bh *bh, int64_t rev, int64_t *config)
{
	sqlite3_stmt *st = store_prep(bh, SQL_REVISION_CONFIG);
	int rc, found = 0;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, rev);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		found = 1;
		*config = sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
	}
	if (finish(bh, st, rc))
		return -1;
	return found;
}

int store_config_copy(struct bh *bh, int64_t from, const char *owner,
                      int64_t base_rev, int64_t changes, int64_t *out)
{
	sqlite3_stmt *st = store_prep(bh, SQL_CONFIG_INSERT);
	int64_t to;

	if (!st)
		return -1;
	bind_text(st, 1, owner);
	sqlite3_bind_int64(st, 2, base_rev);
	sqlite3_bind_int64(st, 3, changes);
	sqlite3_bind_int64(st, 4, util_now_ms());
	if (run(bh, st))
		return -1;
	to = sqlite3_last_insert_rowid(bh->db);
	for (size_t i = 0; i < sizeof SQL_CONFIG_COPY /
	     sizeof SQL_CONFIG_COPY[0]; i++) {
		if (!(st = store_prep(bh, SQL_CONFIG_COPY[i])))
			return -1;
		sqlite3_bind_int64(st, 1, from);
		sqlite3_bind_int64(st, 2, to);
		if (run(bh, st))
			return -1;
	}
	*out = to;
	return 0;
}

static int run_config_id(struct bh *bh, const char *sql, int64_t config)
{
	sqlite3_stmt *st = store_prep(bh, sql);

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, config);
	return run(bh, st);
}

int store_config_delete(struct bh *bh, int64_t config)
{
	return run_config_id(bh, SQL_CONFIG_DELETE, config);
}

int store_config_touch(struct bh *bh, int64_t config)
{
	return run_config_id(bh, SQL_CONFIG_TOUCH, config);
}

static int cmp_service(const void *a, const void *b)
{
	return strcmp(((const struct service *)a)->name,
	              ((const struct service *)b)->name);
}

static int cmp_group(const void *a, const void *b)
{
	return strcmp(((const struct group *)a)->name,
	              ((const struct group *)b)->name);
}

static int cmp_rule_place(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;

	if (x->section != y->section)
		return x->section - y->section;
	if (x->position != y->position)
		return x->position - y->position;
	return (x->id > y->id) - (x->id < y->id);
}

static struct service *find_service(struct config *c, const char *name)
{
	struct service key;

	copy_text(key.name, sizeof key.name, name);
	if (!c->nsvcs)
		return NULL;
	return bsearch(&key, c->svcs, c->nsvcs, sizeof *c->svcs, cmp_service);
}

static struct group *find_group(struct config *c, const char *name)
{
	struct group key;

	copy_text(key.name, sizeof key.name, name);
	if (!c->ngroups)
		return NULL;
	return bsearch(&key, c->groups, c->ngroups, sizeof *c->groups,
	               cmp_group);
}

static int load_services(struct bh *bh, int64_t config, struct config *c)
{
	sqlite3_stmt *st = store_prep(bh, SQL_SERVICE_ALL);
	size_t cap = 0;
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, config);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct service *s;

		if (c->nsvcs == cap) {
			cap = cap ? 2 * cap : 32;
			c->svcs = xrealloc(c->svcs, cap * sizeof *c->svcs);
		}
		s = &c->svcs[c->nsvcs++];
		memset(s, 0, sizeof *s);
		copy_text(s->name, sizeof s->name, store_col_text(st, 0));
		s->builtin = sqlite3_column_int(st, 1);
	}
	if (finish(bh, st, rc))
		return -1;
	/* SQLite's BINARY order is memcmp order; make sure bsearch agrees. */
	if (c->nsvcs)
		qsort(c->svcs, c->nsvcs, sizeof *c->svcs, cmp_service);

	if (!(st = store_prep(bh, SQL_SERVICE_ENTRY_ALL)))
		return -1;
	sqlite3_bind_int64(st, 1, config);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct service *s = find_service(c, store_col_text(st, 0));
		struct service_entry *e;

		if (!s)
			continue;
		s->e = xrealloc(s->e, (s->ne + 1) * sizeof *s->e);
		e = &s->e[s->ne++];
		memset(e, 0, sizeof *e);
		copy_text(e->proto, sizeof e->proto, store_col_text(st, 1));
		copy_text(e->ports, sizeof e->ports, store_col_text(st, 2));
	}
	return finish(bh, st, rc);
}

static int load_groups(struct bh *bh, int64_t config, struct config *c)
{
	sqlite3_stmt *st = store_prep(bh, SQL_GROUP_ALL);
	size_t cap = 0;
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, config);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct group *g;

		if (c->ngroups == cap) {
			cap = cap ? 2 * cap : 16;
			c->groups = xrealloc(c->groups, cap * sizeof *c->groups);
		}
		g = &c->groups[c->ngroups++];
		memset(g, 0, sizeof *g);
		copy_text(g->name, sizeof g->name, store_col_text(st, 0));
		g->match = col_dup_or_null(st, 1);
		g->monitor = sqlite3_column_int(st, 2);
	}
	if (finish(bh, st, rc))
		return -1;
	if (c->ngroups)
		qsort(c->groups, c->ngroups, sizeof *c->groups, cmp_group);

	if (!(st = store_prep(bh, SQL_GROUP_MEMBER_ALL)))
		return -1;
	sqlite3_bind_int64(st, 1, config);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct group *g = find_group(c, store_col_text(st, 0));

		if (g)
			strv_push(&g->members, store_col_text(st, 1));
	}
	if (finish(bh, st, rc))
		return -1;

	if (!(st = store_prep(bh, SQL_GROUP_ADDRESS_ALL)))
		return -1;
	sqlite3_bind_int64(st, 1, config);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct group *g = find_group(c, store_col_text(st, 0));

		if (g)
			strv_push(&g->addresses, store_col_text(st, 1));
	}
	return finish(bh, st, rc);
}

static int cmp_rule_ptr_id(const void *a, const void *b)
{
	const struct rule *x = *(struct rule *const *)a;
	const struct rule *y = *(struct rule *const *)b;

	return (x->id > y->id) - (x->id < y->id);
}

static int load_rules(struct bh *bh, int64_t config, struct config *c)
{
	sqlite3_stmt *st = store_prep(bh, SQL_RULE_ALL);
	struct rule **byid = NULL;
	size_t cap = 0;
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, config);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct rule *r;
		int section = policy_section_parse(store_col_text(st, 1));
		int action = policy_action_parse(store_col_text(st, 3));

		if (section < 0 || action < 0) {
			long long id = sqlite3_column_int64(st, 0);

			sqlite3_finalize(st);
			return bh_error(bh, "store %s: rule %lld has a bad "
			                "section or action: the store is "
			                "damaged", bh->db_path, id);
		}
		if (c->nrules == cap) {
			cap = cap ? 2 * cap : 16;
			c->rules = xrealloc(c->rules, cap * sizeof *c->rules);
		}
		r = &c->rules[c->nrules++];
		memset(r, 0, sizeof *r);
		r->id = sqlite3_column_int64(st, 0);
		r->section = section;
		r->position = sqlite3_column_int(st, 2);
		r->action = action;
		r->log = sqlite3_column_int(st, 4);
		r->enabled = sqlite3_column_int(st, 5);
		r->comment = col_dup_or_null(st, 6);
		r->monitor = sqlite3_column_int(st, 7);
	}
	if (finish(bh, st, rc))
		return -1;
	if (c->nrules)
		qsort(c->rules, c->nrules, sizeof *c->rules, cmp_rule_place);

	byid = xcalloc(c->nrules + 1, sizeof *byid);
	for (size_t i = 0; i < c->nrules; i++)
		byid[i] = &c->rules[i];
	qsort(byid, c->nrules, sizeof *byid, cmp_rule_ptr_id);
	if (!(st = store_prep(bh, SQL_RULE_REF_ALL))) {
		free(byid);
		return -1;
	}
	sqlite3_bind_int64(st, 1, config);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct rule key = { .id = sqlite3_column_int64(st, 0) };
		struct rule *kp = &key, **found;
		const char *role = store_col_text(st, 1);
		struct strv *list;

		found = bsearch(&kp, byid, c->nrules, sizeof *byid,
		                cmp_rule_ptr_id);
		if (!found)
			continue;
		if (strcmp(role, "src") == 0)
			list = &(*found)->src;
		else if (strcmp(role, "dst") == 0)
			list = &(*found)->dst;
		else if (strcmp(role, "service") == 0)
			list = &(*found)->services;
		else
			list = &(*found)->applied;
		strv_push(list, store_col_text(st, 2));
	}
	free(byid);
	return finish(bh, st, rc);
}

static int load_settings(struct bh *bh, int64_t config, struct config *c)
{
	sqlite3_stmt *st = store_prep(bh, SQL_SETTING_ALL);
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, config);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = store_col_text(st, 0);
		const char *val = store_col_text(st, 1);
		int64_t n = strtoll(val, NULL, 10);

		if (strcmp(key, "default") == 0) {
			int a = policy_action_parse(val);

			if (a >= 0)
				c->settings.default_action = a;
		} else if (n > 0 && strcmp(key, "timeout-tcp") == 0) {
			c->settings.timeout_tcp = n;
		} else if (n > 0 && strcmp(key, "timeout-udp") == 0) {
			c->settings.timeout_udp = n;
		} else if (n > 0 && strcmp(key, "timeout-icmp") == 0) {
			c->settings.timeout_icmp = n;
		} else if (strcmp(key, "commit-comment") == 0) {
			c->settings.comment_required =
				strcmp(val, "required") == 0;
		} else if (strcmp(key, "quarantine-allow") == 0) {
			snprintf(c->settings.quarantine_allow,
			         sizeof c->settings.quarantine_allow, "%s", val);
		} else if (strcmp(key, "default-monitor") == 0) {
			c->settings.default_monitor = n > 0;
		}
	}
	return finish(bh, st, rc);
}

int store_config_load(struct bh *bh, int64_t config, int parts,
                      const struct settings *defaults, struct config *out)
{
	memset(out, 0, sizeof *out);
	out->settings = *defaults;
	if (((parts & STORE_SERVICES) && load_services(bh, config, out)) ||
	    ((parts & STORE_GROUPS) && load_groups(bh, config, out)) ||
	    ((parts & STORE_RULES) && load_rules(bh, config, out)) ||
	    ((parts & STORE_SETTINGS) && load_settings(bh, config, out))) {
		policy_config_free(out);
		return -1;
	}
	return 0;
}

int store_rule_get(struct bh *bh, int64_t config, int64_t id,
                   struct rule *out)
{
	sqlite3_stmt *st = store_prep(bh, SQL_RULE_GET);
	int rc, section, action;

	memset(out, 0, sizeof *out);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, config);
	sqlite3_bind_int64(st, 2, id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return finish(bh, st, rc) ? -1 : 0;
	section = policy_section_parse(store_col_text(st, 1));
	action = policy_action_parse(store_col_text(st, 3));
	if (section < 0 || action < 0) {
		sqlite3_finalize(st);
		return bh_error(bh, "store %s: rule %lld has a bad section or "
		                "action: the store is damaged", bh->db_path,
		                (long long)id);
	}
	out->id = id;
	out->section = section;
	out->position = sqlite3_column_int(st, 2);
	out->action = action;
	out->log = sqlite3_column_int(st, 4);
	out->enabled = sqlite3_column_int(st, 5);
	out->comment = col_dup_or_null(st, 6);
	out->monitor = sqlite3_column_int(st, 7);
	sqlite3_finalize(st);

	if (!(st = store_prep(bh, SQL_RULE_REF_GET)))
		goto fail;
	sqlite3_bind_int64(st, 1, config);
	sqlite3_bind_int64(st, 2, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *role = store_col_text(st, 0);
		struct strv *list = strcmp(role, "src") == 0 ? &out->src :
		                    strcmp(role, "dst") == 0 ? &out->dst :
		                    strcmp(role, "service") == 0 ?
		                    &out->services : &out->applied;

		strv_push(list, store_col_text(st, 1));
	}
	if (finish(bh, st, rc) == 0)
		return 1;
fail:
	policy_rule_free(out);
	return -1;
}

/* One integer from a query on (config, ?2): -1 on error. */
static int64_t count_query(struct bh *bh, const char *sql, int64_t config,
                           const char *text, int64_t num)
{
	sqlite3_stmt *st = store_prep(bh, sql);
	int64_t v = 0;
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, config);
	if (text)
		bind_text(st, 2, text);
	else
		sqlite3_bind_int64(st, 2, num);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		v = sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
	}
	if (finish(bh, st, rc))
		return -1;
	return v;
}

int store_rule_count(struct bh *bh, int64_t config, int section)
{
	return (int)count_query(bh, SQL_RULE_COUNT, config,
	                        policy_section_name(section), 0);
}

int store_rule_exists(struct bh *bh, int64_t config, int64_t id)
{
	return (int)count_query(bh, SQL_RULE_EXISTS, config, NULL, id);
}

int store_rules_using(struct bh *bh, int64_t config, const char *name,
                      int service, int64_t **ids, size_t *n)
{
	sqlite3_stmt *st = store_prep(bh, service ? SQL_RULES_USING_SERVICE
	                                    : SQL_RULES_USING_GROUP);
	size_t cnt = 0;
	int rc;

	*ids = NULL;
	*n = 0;
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, config);
	bind_text(st, 2, name);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*ids = xrealloc(*ids, (cnt + 1) * sizeof **ids);
		(*ids)[cnt++] = sqlite3_column_int64(st, 0);
	}
	if (finish(bh, st, rc)) {
		free(*ids);
		*ids = NULL;
		return -1;
	}
	*n = cnt;
	return 0;
}

static int insert_strv(struct bh *bh, const char *sql, int64_t config,
                       const char *owner, const struct strv *sv)
{
	for (size_t i = 0; i < sv->n; i++) {
		sqlite3_stmt *st = store_prep(bh, sql);

		if (!st)
			return -1;
		sqlite3_bind_int64(st, 1, config);
		bind_text(st, 2, owner);
		sqlite3_bind_int64(st, 3, (int64_t)i + 1);
		bind_text(st, 4, sv->v[i]);
		if (run(bh, st))
			return -1;
	}
	return 0;
}

int store_group_insert(struct bh *bh, int64_t config, const struct group *g)
{
	sqlite3_stmt *st = store_prep(bh, SQL_GROUP_INSERT);

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, config);
	bind_text(st, 2, g->name);
	bind_text(st, 3, g->match);
	sqlite3_bind_int(st, 4, g->monitor ? 1 : 0);
	if (run(bh, st))
		return -1;
	if (insert_strv(bh, SQL_GROUP_MEMBER_INSERT, config, g->name,
	                &g->members) ||
	    insert_strv(bh, SQL_GROUP_ADDRESS_INSERT, config, g->name,
	                &g->addresses))
		return -1;
	return 0;
}

int store_group_monitor_set(struct bh *bh, int64_t config, const char *name,
                            int monitor)
{
	sqlite3_stmt *st = store_prep(bh, SQL_GROUP_MONITOR);

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, config);
	bind_text(st, 2, name);
	sqlite3_bind_int(st, 3, monitor ? 1 : 0);
	return run(bh, st);
}

static int delete_named(struct bh *bh, const char *sql, int64_t config,
                        const char *name)
{
	sqlite3_stmt *st = store_prep(bh, sql);

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, config);
	bind_text(st, 2, name);
	return run(bh, st);
}

int store_group_delete(struct bh *bh, int64_t config, const char *name)
{
	return delete_named(bh, SQL_GROUP_DELETE, config, name);
}

int store_service_insert(struct bh *bh, int64_t config,
                         const struct service *s)
{
	sqlite3_stmt *st = store_prep(bh, SQL_SERVICE_INSERT);

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, config);
	bind_text(st, 2, s->name);
	sqlite3_bind_int(st, 3, s->builtin ? 1 : 0);
	if (run(bh, st))
		return -1;
	for (size_t i = 0; i < s->ne; i++) {
		if (!(st = store_prep(bh, SQL_SERVICE_ENTRY_INSERT)))
			return -1;
		sqlite3_bind_int64(st, 1, config);
		bind_text(st, 2, s->name);
		sqlite3_bind_int64(st, 3, (int64_t)i + 1);
		bind_text(st, 4, s->e[i].proto);
		bind_text(st, 5, s->e[i].ports);
		if (run(bh, st))
			return -1;
	}
	return 0;
}

int store_service_delete(struct bh *bh, int64_t config, const char *name)
{
	return delete_named(bh, SQL_SERVICE_DELETE, config, name);
}

static int insert_refs(struct bh *bh, int64_t config, int64_t rule,
                       const char *role, const struct strv *sv)
{
	for (size_t i = 0; i < sv->n; i++) {
		sqlite3_stmt *st = store_prep(bh, SQL_RULE_REF_INSERT);

		if (!st)
			return -1;
		sqlite3_bind_int64(st, 1, config);
		sqlite3_bind_int64(st, 2, rule);
		bind_text(st, 3, role);
		sqlite3_bind_int64(st, 4, (int64_t)i + 1);
		bind_text(st, 5, sv->v[i]);
		if (run(bh, st))
			return -1;
	}
	return 0;
}

int store_rule_insert(struct bh *bh, int64_t config, const struct rule *r)
{
	const char *section = policy_section_name(r->section);
	sqlite3_stmt *st = store_prep(bh, SQL_RULE_SHIFT_DOWN);

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, config);
	bind_text(st, 2, section);
	sqlite3_bind_int(st, 3, r->position);
	if (run(bh, st))
		return -1;
	if (!(st = store_prep(bh, SQL_RULE_INSERT)))
		return -1;
	sqlite3_bind_int64(st, 1, config);
	sqlite3_bind_int64(st, 2, r->id);
	bind_text(st, 3, section);
	sqlite3_bind_int(st, 4, r->position);
	bind_text(st, 5, policy_action_name(r->action));
	sqlite3_bind_int(st, 6, r->log ? 1 : 0);
	sqlite3_bind_int(st, 7, r->enabled ? 1 : 0);
	bind_text(st, 8, r->comment);
	sqlite3_bind_int(st, 9, r->monitor ? 1 : 0);
	if (run(bh, st))
		return -1;
	if (insert_refs(bh, config, r->id, "src", &r->src) ||
	    insert_refs(bh, config, r->id, "dst", &r->dst) ||
	    insert_refs(bh, config, r->id, "service", &r->services) ||
	    insert_refs(bh, config, r->id, "applied", &r->applied))
		return -1;
	return 0;
}

int store_rule_update(struct bh *bh, int64_t config, const struct rule *r)
{
	sqlite3_stmt *st = store_prep(bh, SQL_RULE_UPDATE);

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, config);
	sqlite3_bind_int64(st, 2, r->id);
	bind_text(st, 3, policy_action_name(r->action));
	sqlite3_bind_int(st, 4, r->log ? 1 : 0);
	sqlite3_bind_int(st, 5, r->enabled ? 1 : 0);
	bind_text(st, 6, r->comment);
	sqlite3_bind_int(st, 7, r->monitor ? 1 : 0);
	if (run(bh, st))
		return -1;
	if (!(st = store_prep(bh, SQL_RULE_REF_DELETE)))
		return -1;
	sqlite3_bind_int64(st, 1, config);
	sqlite3_bind_int64(st, 2, r->id);
	if (run(bh, st))
		return -1;
	if (insert_refs(bh, config, r->id, "src", &r->src) ||
	    insert_refs(bh, config, r->id, "dst", &r->dst) ||
	    insert_refs(bh, config, r->id, "service", &r->services) ||
	    insert_refs(bh, config, r->id, "applied", &r->applied))
		return -1;
	return 0;
}

int store_rule_delete(struct bh *bh, int64_t config, int64_t id)
{
	sqlite3_stmt *st = store_prep(bh, SQL_RULE_WHERE);
	char section[32];
	int position, rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, config);
	sqlite3_bind_int64(st, 2, id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE) {
			sqlite3_finalize(st);
			return bh_error(bh, "rule %lld does not exist",
			                (long long)id);
		}
		return finish(bh, st, rc);
	}
	copy_text(section, sizeof section, store_col_text(st, 0));
	position = sqlite3_column_int(st, 1);
	sqlite3_finalize(st);

	if (!(st = store_prep(bh, SQL_RULE_DELETE)))
		return -1;
	sqlite3_bind_int64(st, 1, config);
	sqlite3_bind_int64(st, 2, id);
	if (run(bh, st))
		return -1;
	if (!(st = store_prep(bh, SQL_RULE_SHIFT_UP)))
		return -1;
	sqlite3_bind_int64(st, 1, config);
	bind_text(st, 2, section);
	sqlite3_bind_int(st, 3, position);
	return run(bh, st);
}

int store_rule_set_enabled(struct bh *bh, int64_t config, int64_t id,
                           int enabled)
{
	sqlite3_stmt *st = store_prep(bh, SQL_RULE_ENABLE);

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, config);
	sqlite3_bind_int64(st, 2, id);
	sqlite3_bind_int(st, 3, enabled ? 1 : 0);
	return run(bh, st);
}

int store_setting_set(struct bh *bh, int64_t config, const char *key,
                      const char *value)
{
	sqlite3_stmt *st = store_prep(bh, SQL_SETTING_SET);

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, config);
	bind_text(st, 2, key);
	bind_text(st, 3, value);
	return run(bh, st);
}

/* ---- revisions ----------------------------------------------------------- */
static void bind_opt_int(sqlite3_stmt *st, int i, int64_t v, int64_t none)
{
	if (v == none)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int64(st, i, v);
}

int store_revision_add(struct bh *bh, int64_t config,
                       const struct revision *r, int64_t prev_rev,
                       int64_t undoes)
{
	sqlite3_stmt *st;

	if (run_config_id(bh, SQL_CONFIG_TO_REVISION, config))
		return -1;
	if (!(st = store_prep(bh, SQL_REVISION_INSERT)))
		return -1;
	sqlite3_bind_int64(st, 1, r->rev);
	sqlite3_bind_int64(st, 2, config);
	sqlite3_bind_int64(st, 3, r->time_ms);
	bind_text(st, 4, r->author);
	bind_text(st, 5, r->client);
	bind_text(st, 6, r->comment);
	bind_opt_int(st, 7, r->confirm_deadline, 0);
	bind_opt_int(st, 8, prev_rev, -1);
	bind_opt_int(st, 9, undoes, -1);
	return run(bh, st);
}

static void revision_row(sqlite3_stmt *st, struct revision *r)
{
	memset(r, 0, sizeof *r);
	r->rev = sqlite3_column_int64(st, 0);
	r->time_ms = sqlite3_column_int64(st, 1);
	copy_text(r->author, sizeof r->author, store_col_text(st, 2));
	copy_text(r->client, sizeof r->client, store_col_text(st, 3));
	r->comment = col_dup_or_null(st, 4);
	r->confirm_deadline = sqlite3_column_int64(st, 5);
}

static int64_t col_opt_int(sqlite3_stmt *st, int i, int64_t none)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return none;
	return sqlite3_column_int64(st, i);
}

int store_revision_get(struct bh *bh, int64_t rev, struct revision *out,
                       struct store_revinfo *info)
{
	sqlite3_stmt *st = store_prep(bh, SQL_REVISION_GET);
	struct revision r;
	int rc;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, rev);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE) {
			sqlite3_finalize(st);
			return 0;
		}
		return finish(bh, st, rc);
	}
	revision_row(st, &r);
	if (info) {
		info->config = sqlite3_column_int64(st, 6);
		info->prev_rev = col_opt_int(st, 7, -1);
		info->undoes = col_opt_int(st, 8, -1);
	}
	sqlite3_finalize(st);
	if (out)
		*out = r;
	else
		free(r.comment);
	return 1;
}

int store_revision_list(struct bh *bh, struct revision **out, size_t *n)
{
	sqlite3_stmt *st = store_prep(bh, SQL_REVISION_LIST);
	struct revision *v = NULL;
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
		revision_row(st, &v[cnt++]);
	}
	if (finish(bh, st, rc)) {
		policy_history_free(v, cnt);
		return -1;
	}
	*out = v;
	*n = cnt;
	return 0;
}

int store_revision_deadline_set(struct bh *bh, int64_t rev,
                                int64_t deadline_ms)
{
	sqlite3_stmt *st = store_prep(bh, SQL_REVISION_DEADLINE);

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, rev);
	bind_opt_int(st, 2, deadline_ms, 0);
	return run(bh, st);
}

int store_confirm_due(struct bh *bh, int64_t now_ms)
{
	sqlite3_stmt *st = store_prep(bh, SQL_REVISION_DUE);
	int rc, due = 0;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, now_ms);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		due = 1;
		rc = sqlite3_step(st);
	}
	if (finish(bh, st, rc))
		return -1;
	return due;
}

int store_confirm_expire(struct bh *bh, int64_t now_ms, int64_t *new_rev)
{
	sqlite3_stmt *st = store_prep(bh, SQL_REVISION_EXPIRED);
	int64_t rev, prev, running = -1, prev_config, copy;
	struct revision r;
	char comment[96], command[64], detail[160];
	int rc;

	*new_rev = 0;
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, now_ms);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return finish(bh, st, rc);
	rev = sqlite3_column_int64(st, 0);
	prev = col_opt_int(st, 1, -1);
	sqlite3_finalize(st);

	/* Only the running revision can be pending (a later commit confirms
	 * it), but clear every deadline so a damaged store cannot loop. */
	if (exec_sql(bh, SQL_REVISION_CLEAR_DEADLINES))
		return -1;
	if (store_running(bh, &running, NULL))
		return -1;
	if (prev < 0 || running != rev)
		return 0;
	rc = store_revision_config(bh, prev, &prev_config);
	if (rc <= 0)
		return rc < 0 ? -1 : 0;
	if (store_config_copy(bh, prev_config, NULL, prev, 0, &copy))
		return -1;
	snprintf(comment, sizeof comment, "rollback: commit %lld not "
	         "confirmed", (long long)rev);
	memset(&r, 0, sizeof r);
	r.rev = running + 1;
	r.time_ms = now_ms;
	copy_text(r.author, sizeof r.author, "bulkhead");
	r.comment = comment;
	if (store_revision_add(bh, copy, &r, running, rev))
		return -1;
	snprintf(command, sizeof command, "rollback %lld", (long long)prev);
	snprintf(detail, sizeof detail, "commit %lld not confirmed by its "
	         "deadline: revision %lld restores revision %lld",
	         (long long)rev, (long long)r.rev, (long long)prev);
	if (store_audit_insert(bh, now_ms, "bulkhead", "", command, 1, detail))
		return -1;
	*new_rev = r.rev;
	return 0;
}

/* ---- audit ------------------------------------------------------------ */
int store_audit_insert(struct bh *bh, int64_t time_ms, const char *user,
                       const char *client, const char *command, int ok,
                       const char *detail)
{
	sqlite3_stmt *st = store_prep(bh, SQL_AUDIT_INSERT);

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, time_ms);
	bind_text(st, 2, user ? user : "");
	bind_text(st, 3, client ? client : "");
	bind_text(st, 4, command ? command : "");
	sqlite3_bind_int(st, 5, ok ? 1 : 0);
	bind_text(st, 6, detail);
	return run(bh, st);
}

int store_audit_list(struct bh *bh, const struct audit_filter *f,
                     struct audit_entry **out, size_t *n)
{
	sqlite3_stmt *st = store_prep(bh, SQL_AUDIT_LIST);
	struct audit_entry *v = NULL;
	size_t cnt = 0, cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (!st)
		return -1;
	bind_text(st, 1, f->user);
	sqlite3_bind_int64(st, 2, f->since_ms);
	bind_text(st, 3, f->contains && *f->contains ? f->contains : NULL);
	sqlite3_bind_int(st, 4, f->failed_only ? 1 : 0);
	sqlite3_bind_int(st, 5, f->limit > 0 ? f->limit : 50);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct audit_entry *a;

		if (cnt == cap) {
			cap = cap ? 2 * cap : 32;
			v = xrealloc(v, cap * sizeof *v);
		}
		a = &v[cnt++];
		memset(a, 0, sizeof *a);
		a->id = sqlite3_column_int64(st, 0);
		a->time_ms = sqlite3_column_int64(st, 1);
		copy_text(a->user, sizeof a->user, store_col_text(st, 2));
		copy_text(a->client, sizeof a->client, store_col_text(st, 3));
		a->command = xstrdup(store_col_text(st, 4));
		a->ok = sqlite3_column_int(st, 5);
		a->detail = col_dup_or_null(st, 6);
	}
	if (finish(bh, st, rc)) {
		policy_audit_free(v, cnt);
		return -1;
	}
	/* Newest first from SQL; the caller wants oldest first. */
	for (size_t i = 0; i < cnt / 2; i++) {
		struct audit_entry t = v[i];

		v[i] = v[cnt - 1 - i];
		v[cnt - 1 - i] = t;
	}
	*out = v;
	*n = cnt;
	return 0;
}
