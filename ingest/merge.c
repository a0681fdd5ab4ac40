/* merge.c — merging part databases into one (see merge.h). The part is ATTACHed; everything of it
 * is copied in one transaction: sources matched by path (counts added), shard rows with paths made
 * relative to the root, samples with their ids, states and remapped source/shard ids, rejects. */
#include "ingest/merge.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/progress.h"

void ovs_relpath(const char *target, const char *base, char *out, size_t n) {
    /* longest common prefix ending at a component boundary */
    size_t i = 0, common = 0;
    while (target[i] && base[i] && target[i] == base[i]) {
        i++;
        if (target[i - 1] == '/') common = i;
    }
    if ((!target[i] || target[i] == '/') && !base[i]) common = i; /* base is a prefix of target */
    if (!strcmp(base, "/")) common = 1;
    out[0] = 0;
    size_t len = 0;
    for (const char *p = base + common; *p;) { /* one ".." per remaining component of base */
        const char *slash = strchr(p, '/');
        if (slash != p) len += (size_t)snprintf(out + len, len < n ? n - len : 0, "%s..", len ? "/" : "");
        if (!slash) break;
        p = slash + 1;
    }
    const char *rest = target + common;
    while (*rest == '/') rest++;
    if (*rest) len += (size_t)snprintf(out + len, len < n ? n - len : 0, "%s%s", len ? "/" : "", rest);
    if (!len) snprintf(out, n, ".");
}

static int sqlerr(ovs_db *db, ovs_err *e, const char *what) {
    return ovs_errf(e, ovs_db_rc(db), "%s: %s: %s", db->path, what, sqlite3_errmsg(db->h));
}

static int meta_get(ovs_db *db, const char *schema, const char *key, char *out, size_t n) {
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT value FROM %s.meta WHERE key = ?", schema);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db->h, sql, -1, &s, NULL) != SQLITE_OK) return 0;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int found = sqlite3_step(s) == SQLITE_ROW;
    if (found) snprintf(out, n, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return found;
}

static int meta_set(ovs_db *db, const char *key, const char *value, ovs_err *e) {
    sqlite3_stmt *s;
    if (ovs_db_prepare(db, &s, "INSERT OR REPLACE INTO main.meta(key, value) VALUES(?, ?)", e)) return e->code;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : sqlerr(db, e, "writing meta");
    sqlite3_finalize(s);
    return rc;
}

/* Runs one statement with up to two text parameters; *changes gets the rows changed. */
static int run(ovs_db *db, const char *sql, const char *a, const char *b, int64_t *changes, ovs_err *e) {
    sqlite3_stmt *s;
    if (ovs_db_prepare(db, &s, sql, e)) return e->code;
    if (a) sqlite3_bind_text(s, 1, a, -1, SQLITE_STATIC);
    if (b) sqlite3_bind_text(s, 2, b, -1, SQLITE_STATIC);
    int st = sqlite3_step(s), rc = 0;
    if (st != SQLITE_DONE && st != SQLITE_ROW) rc = sqlerr(db, e, sql);
    sqlite3_finalize(s);
    if (changes) *changes = sqlite3_changes(db->h);
    return rc;
}

/* Sources matched by path (counts of both parts added), else inserted; fills temp.merge_src. */
static int merge_sources(ovs_db *db, ovs_err *e) {
    if (run(db, "INSERT INTO main.sources(path, columns, part) SELECT path, columns, NULL FROM part.sources"
                " WHERE path NOT IN (SELECT path FROM main.sources)", NULL, NULL, NULL, e) ||
        run(db, "UPDATE main.sources SET lines_done = main.sources.lines_done + p.lines_done, inserted = main.sources.inserted +"
                " p.inserted, duplicates = main.sources.duplicates + p.duplicates, rejected = main.sources.rejected +"
                " p.rejected, part = CASE WHEN main.sources.part IS NULL THEN p.part WHEN p.part IS NULL THEN"
                " main.sources.part ELSE main.sources.part || ',' || p.part END"
                " FROM part.sources p WHERE p.path = main.sources.path", NULL, NULL, NULL, e) ||
        run(db, "INSERT INTO temp.merge_src(old, new) SELECT p.id, m.id FROM part.sources p JOIN main.sources m"
                " ON m.path = p.path", NULL, NULL, NULL, e))
        return e->code;
    return 0;
}

/* Shard rows with their paths prefixed; fills temp.merge_shard. */
static int merge_shards(ovs_db *db, const char *prefix, ovs_merge_stats *st, ovs_err *e) {
    int64_t n = 0, clash = 0;
    sqlite3_stmt *s;
    if (ovs_db_prepare(db, &s, "SELECT count(*) FROM part.shards p JOIN main.shards m ON m.path = ?1 || p.path", e))
        return e->code;
    sqlite3_bind_text(s, 1, prefix, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) clash = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (clash) return ovs_errf(e, OVS_EUSER, "%lld shard paths of the part are already in %s (under prefix '%s')",
                               (long long)clash, db->path, prefix);
    /* new ids follow the part's order: max(main) + rank of the part's id */
    if (run(db, "INSERT INTO temp.merge_shard(old, new) SELECT id, (SELECT coalesce(max(id), 0) FROM main.shards) +"
                " row_number() OVER (ORDER BY id) FROM part.shards", NULL, NULL, NULL, e))
        return e->code;
    if (run(db, "INSERT INTO main.shards(id, kind, path, samples, bytes, sha256, run_id, created_at, stats)"
                " SELECT t.new, p.kind, ?1 || p.path, p.samples, p.bytes, p.sha256, NULL, p.created_at, p.stats"
                " FROM part.shards p JOIN temp.merge_shard t ON t.old = p.id ORDER BY t.new", prefix, NULL, &n, e))
        return e->code;
    st->shards += n;
    return 0;
}

static const char SAMPLE_COLS[] = "state, reason, http_status, attempts, last_error, bytes, orig_width, orig_height,"
                                  " width, height, sha256";

/* Maps every sample of the part to its id in main (temp.merge_sample): a URL main already has keeps
 * main's id (existing = 1); the others keep their own id, unless one of those ids is taken in main
 * (parts ingested separately both count from 1): then all of them are numbered on from max(id). */
static int map_samples(ovs_db *db, ovs_merge_stats *st, ovs_err *e) {
    int64_t taken = 0;
    if (run(db, "INSERT INTO temp.merge_sample(old, new, existing) SELECT p.id, m.id, 1 FROM part.samples p"
                " JOIN main.samples m ON m.url_hash = p.url_hash", NULL, NULL, NULL, e) ||
        ovs_db_int(db, "SELECT count(*) FROM part.samples p WHERE p.id NOT IN (SELECT old FROM temp.merge_sample)"
                       " AND p.id IN (SELECT id FROM main.samples)", &taken, e))
        return e->code;
    const char *sql = taken ? "INSERT INTO temp.merge_sample(old, new, existing) SELECT id, (SELECT coalesce(max(id), 0)"
                              " FROM main.samples) + row_number() OVER (ORDER BY id), 0 FROM part.samples"
                              " WHERE id NOT IN (SELECT old FROM temp.merge_sample)"
                            : "INSERT INTO temp.merge_sample(old, new, existing) SELECT id, id, 0 FROM part.samples"
                              " WHERE id NOT IN (SELECT old FROM temp.merge_sample)";
    if (run(db, sql, NULL, NULL, NULL, e)) return e->code;
    st->renumbered += taken ? 1 : 0;
    return 0;
}

/* Samples: new ones inserted under their mapped id; ones main has already take the part's outcome
 * when it knows more (main pending, or part ok and main not). shard_key keeps the key the sample
 * has in its raw shard when that differs from its id. */
static int merge_samples(ovs_db *db, ovs_merge_stats *st, ovs_err *e) {
    int64_t n = 0;
    if (map_samples(db, st, e)) return e->code;
    char sql[2000];
    snprintf(sql, sizeof sql,
             "UPDATE main.samples SET (%s, shard_id, member_offset, shard_key) = (SELECT %s, t.new, p.member_offset,"
             " CASE WHEN p.shard_id IS NOT NULL AND coalesce(p.shard_key, p.id) != ms.new THEN coalesce(p.shard_key, p.id) END"
             " FROM part.samples p JOIN temp.merge_sample ms ON ms.old = p.id LEFT JOIN temp.merge_shard t ON t.old = p.shard_id"
             " WHERE ms.new = main.samples.id)"
             " WHERE id IN (SELECT ms.new FROM temp.merge_sample ms JOIN part.samples p ON p.id = ms.old"
             " JOIN main.samples m ON m.id = ms.new WHERE ms.existing AND p.state != 'pending'"
             " AND (m.state = 'pending' OR (m.state != 'ok' AND p.state = 'ok')))", SAMPLE_COLS, SAMPLE_COLS);
    if (run(db, sql, NULL, NULL, &n, e)) return e->code;
    st->updated += n;
    if (ovs_db_int(db, "SELECT count(*) FROM temp.merge_sample WHERE existing", &n, e)) return e->code;
    st->duplicates += n;
    snprintf(sql, sizeof sql,
             "INSERT INTO main.samples(id, url, url_hash, caption, source_id, line, %s, shard_id, member_offset, shard_key)"
             " SELECT ms.new, p.url, p.url_hash, p.caption, s.new, p.line, p.state, p.reason, p.http_status, p.attempts,"
             " p.last_error, p.bytes, p.orig_width, p.orig_height, p.width, p.height, p.sha256, t.new, p.member_offset,"
             " CASE WHEN p.shard_id IS NOT NULL AND coalesce(p.shard_key, p.id) != ms.new THEN coalesce(p.shard_key, p.id) END"
             " FROM part.samples p JOIN temp.merge_sample ms ON ms.old = p.id AND NOT ms.existing"
             " JOIN temp.merge_src s ON s.old = p.source_id LEFT JOIN temp.merge_shard t ON t.old = p.shard_id"
             " ORDER BY ms.new", SAMPLE_COLS);
    if (run(db, sql, NULL, NULL, &n, e)) return e->code;
    st->samples += n;
    if (run(db, "INSERT OR IGNORE INTO main.rejects(source_id, line, reason, excerpt) SELECT s.new, r.line, r.reason,"
                " r.excerpt FROM part.rejects r JOIN temp.merge_src s ON s.old = r.source_id", NULL, NULL, &n, e))
        return e->code;
    st->rejects += n;
    return 0;
}

/* The prefix (with a trailing slash, or empty) that makes the part's shard paths relative to root. */
static int shard_prefix(ovs_db *db, const char *root, char *prefix, size_t n) {
    char out[PATH_MAX], rel[PATH_MAX];
    prefix[0] = 0;
    if (!meta_get(db, "part", "fetch_root", out, sizeof out)) return 0;
    ovs_relpath(out, root, rel, sizeof rel);
    size_t l = strlen(rel);
    if (!strcmp(rel, ".") || l + 2 > n) return 0;
    memcpy(prefix, rel, l);
    prefix[l] = '/', prefix[l + 1] = 0;
    return 0;
}

static int merge_in_tx(ovs_db *db, const char *real, const char *root, ovs_merge_stats *st,
                       ovs_err *e) {
    char key[PATH_MAX + 16], prefix[PATH_MAX], now[32];
    snprintf(key, sizeof key, "merged:%s", real);
    if (meta_get(db, "main", key, now, sizeof now)) {
        st->skipped_parts++;
        return 0;
    }
    shard_prefix(db, root, prefix, sizeof prefix);
    if (run(db, "CREATE TEMP TABLE IF NOT EXISTS merge_src(old INTEGER PRIMARY KEY, new INTEGER)", NULL, NULL, NULL, e) ||
        run(db, "CREATE TEMP TABLE IF NOT EXISTS merge_shard(old INTEGER PRIMARY KEY, new INTEGER)", NULL, NULL, NULL, e) ||
        run(db, "CREATE TEMP TABLE IF NOT EXISTS merge_sample(old INTEGER PRIMARY KEY, new INTEGER, existing INTEGER)",
            NULL, NULL, NULL, e) ||
        run(db, "DELETE FROM temp.merge_sample", NULL, NULL, NULL, e) ||
        run(db, "DELETE FROM temp.merge_src", NULL, NULL, NULL, e) || run(db, "DELETE FROM temp.merge_shard", NULL, NULL, NULL, e))
        return e->code;
    int rc = merge_sources(db, e);
    if (!rc) rc = merge_shards(db, prefix, st, e);
    if (!rc) rc = merge_samples(db, st, e);
    ovs_iso_time(now);
    if (!rc) rc = meta_set(db, key, now, e);
    if (!rc) st->parts++;
    return rc;
}

int ovs_merge_part(ovs_db *db, const char *part_path, const char *root, ovs_merge_stats *st, ovs_err *e) {
    char real[PATH_MAX], self[PATH_MAX];
    if (!realpath(part_path, real)) return ovs_errno(e, OVS_EUSER, "%s", part_path);
    if (realpath(db->path, self) && !strcmp(self, real))
        return ovs_errf(e, OVS_EUSER, "%s: cannot merge a database into itself", part_path);
    { /* opening it checks that it is an ovseg database, and applies migrations */
        ovs_db p;
        if (ovs_db_open(&p, part_path, 0, e)) return e->code;
        int v = ovs_db_user_version(&p);
        ovs_db_close(&p);
        if (v != ovs_db_user_version(db))
            return ovs_errf(e, OVS_EUSER, "%s: schema version %d differs from %s (%d)", part_path, v, db->path,
                            ovs_db_user_version(db));
    }
    if (run(db, "ATTACH DATABASE ? AS part", real, NULL, NULL, e)) return ovs_errctx(e, "%s", part_path);
    int rc = ovs_db_begin(db, e);
    if (!rc) {
        rc = merge_in_tx(db, real, root, st, e);
        if (!rc) rc = ovs_db_commit(db, e);
        if (rc) ovs_db_rollback(db);
    }
    sqlite3_exec(db->h, "DETACH DATABASE part", NULL, NULL, NULL);
    return rc;
}
