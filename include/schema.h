/*
 * schema.h - the store's migrations, embedded from sql/NNNN-*.sql by
 * sql/embed.sh at build time.  store.c runs, in one transaction each, every
 * migration whose version is above the store's PRAGMA user_version.
 */
#ifndef BH_SCHEMA_H
#define BH_SCHEMA_H

#include <stddef.h>

struct schema_migration {
	int version;        /* PRAGMA user_version after it ran */
	const char *name;   /* file name without .sql */
	const char *sql;    /* statements, run with sqlite3_exec */
};
extern const struct schema_migration schema_migrations[];
extern const size_t schema_migration_count;

#endif
