/* db.h — the SQLite handle: open (WAL, busy timeout, foreign keys), schema creation and
 * migrations (PRAGMA user_version), transactions, the runs log, and small query helpers. */
#ifndef OVS_DB_H
#define OVS_DB_H

#include <sqlite3.h>
#include <stdint.h>

#include "util/err.h"

typedef struct ovs_db {
    sqlite3 *h;
    char path[4096];
    int64_t run_id; /* the runs row of this command, 0 if none */
} ovs_db;

/* ovs_db_open flags: OVS_DB_CREATE creates a new database (init); OVS_DB_KEEP_INDEXES leaves
 * missing samples indexes missing (ingest, which rebuilds them itself; see ovs_db_ensure_indexes);
 * OVS_DB_ONE_THREAD: the handle is used by one thread at a time (SQLITE_OPEN_NOMUTEX, ~3% faster). */
enum { OVS_DB_CREATE = 1, OVS_DB_KEEP_INDEXES = 2, OVS_DB_ONE_THREAD = 4 };

/* Opens path. Without OVS_DB_CREATE the file must exist and be an ovseg database; with it, the file
 * must not exist yet... or be an ovseg database already (then init is a no-op). Applies migrations. */
int ovs_db_open(ovs_db *db, const char *path, int flags, ovs_err *e);
void ovs_db_close(ovs_db *db);

/* Creates the indexes of samples (samples_url_hash UNIQUE, samples_state) that are missing: a bulk
 * ingest drops them and rebuilds them at its end; one killed in between leaves them missing, and
 * every ovs_db_open (without OVS_DB_KEEP_INDEXES) calls this. *created (may be NULL) = how many. */
int ovs_db_ensure_indexes(ovs_db *db, int *created, ovs_err *e);
/* 1 when samples lacks one of those indexes. */
int ovs_db_indexes_missing(ovs_db *db);

/* Schema version this binary writes, and the version of an open database. */
int ovs_db_schema_version(void);
int ovs_db_user_version(ovs_db *db);

/* The exit code of the handle's last SQLite error: OVS_EUSER when the environment is at fault (disk
 * full, read-only file or folder, I/O error, locked by another process), else OVS_EINTERNAL. */
int ovs_db_rc(ovs_db *db);

int ovs_db_exec(ovs_db *db, const char *sql, ovs_err *e);
int ovs_db_begin(ovs_db *db, ovs_err *e);   /* BEGIN IMMEDIATE */
int ovs_db_commit(ovs_db *db, ovs_err *e);
void ovs_db_rollback(ovs_db *db);

/* Prepares sql; the message names the statement on failure. */
int ovs_db_prepare(ovs_db *db, sqlite3_stmt **st, const char *sql, ovs_err *e);
/* Runs a query returning one integer (e.g. SELECT count(*)); *out = 0 when no row. */
int ovs_db_int(ovs_db *db, const char *sql, int64_t *out, ovs_err *e);

/* The runs log: start records verb and the command line; end sets status and counts (JSON). */
int ovs_db_run_start(ovs_db *db, const char *verb, int argc, char **argv, ovs_err *e);
int ovs_db_run_end(ovs_db *db, int ok, const char *counts_json, ovs_err *e);

/* Prints the rows of one query as an aligned table to stdout (used by `ovseg stats`). */
int ovs_db_print_query(ovs_db *db, const char *sql, ovs_err *e);

#endif
