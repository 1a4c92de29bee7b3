/* migrate.c: the schema version and the compiled-in migrations (store_migrate,
 * store_check_schema). Each migration runs in its own transaction under an
 * advisory lock, so collectors that start together migrate one at a time; never
 * applies anything to a schema newer than this binary knows. */
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "migrations.h"
#include "pk_error.h"

/* pg_advisory_xact_lock key shared by every collector that migrates: "picket". */
#define MIGRATION_LOCK_SQL "SELECT pg_advisory_xact_lock(112410397255028)"

static int schema_version(struct store *s, int *version, char *err, size_t errlen)
{
    PGresult *r = st_run(s, "SELECT to_regclass('picket_schema') IS NOT NULL", 0, NULL, PGRES_TUPLES_OK,
                         "reading the schema version", err, errlen);
    if (!r)
        return -1;
    int exists = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    *version = 0;
    if (!exists)
        return 0;
    r = st_run(s, "SELECT coalesce(max(version), 0) FROM picket_schema", 0, NULL, PGRES_TUPLES_OK,
               "reading the schema version", err, errlen);
    if (!r)
        return -1;
    *version = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

int store_schema_version(struct store *s, int *version, char *err, size_t errlen)
{
    st_ensure_ready(s);
    return schema_version(s, version, err, errlen);
}

int store_latest_schema_version(void)
{
    int latest = 0;
    for (size_t i = 0; i < pk_migrations_count; i++)
        if (pk_migrations[i].version > latest)
            latest = pk_migrations[i].version;
    return latest;
}

/* Whether migration `version` is recorded in picket_schema (*yes). Migrations
 * are numbered per line of work, so one may land after a higher number was
 * applied: each is applied when it is missing, not when it is above the highest. */
static int is_applied(struct store *s, int version, int *yes, char *err, size_t errlen)
{
    char v[16];
    snprintf(v, sizeof v, "%d", version);
    const char *p[] = {v};
    PGresult *r = st_run(s,
                         "SELECT to_regclass('picket_schema') IS NOT NULL AND "
                         "EXISTS (SELECT 1 FROM picket_schema WHERE version = $1::int)",
                         1, p, PGRES_TUPLES_OK, "reading the applied migrations", err, errlen);
    if (!r)
        return -1;
    *yes = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return 0;
}

static int newer_error(int current, int latest, char *err, size_t errlen)
{
    pk_fail(err, errlen, "database schema version %d is newer than this binary knows (%d)", current, latest);
    return -1;
}

/* BEGIN plus the migration lock, which serializes collectors migrating at once
 * (CREATE TABLE IF NOT EXISTS alone races on the catalog). */
static int begin_migration(struct store *s, char *err, size_t errlen)
{
    if (st_run_cmd(s, "BEGIN", 0, NULL, "migrate: BEGIN", err, errlen) < 0)
        return -1;
    PGresult *r = st_run(s, MIGRATION_LOCK_SQL, 0, NULL, PGRES_TUPLES_OK, "migrate: taking the migration lock", err,
                         errlen);
    PQclear(r);
    return r ? 0 : -1;
}

int store_migrate(struct store *s, int *applied, char *err, size_t errlen)
{
    int rc = -1, current = 0, latest = store_latest_schema_version(), count = 0;
    char what[160];
    st_ensure_ready(s);
    if (begin_migration(s, err, errlen) < 0)
        goto out;
    if (st_run_cmd(s,
                   "CREATE TABLE IF NOT EXISTS picket_schema (version int PRIMARY KEY, name text NOT NULL, "
                   "applied_at timestamptz NOT NULL DEFAULT now())",
                   0, NULL, "migrate: creating picket_schema", err, errlen) < 0)
        goto out;
    if (schema_version(s, &current, err, errlen) < 0)
        goto out;
    if (current > latest) {
        newer_error(current, latest, err, errlen);
        goto out;
    }
    if (st_commit(s, "migrate: creating picket_schema", err, errlen) < 0)
        goto out;

    for (size_t i = 0; i < pk_migrations_count; i++) {
        const struct pk_migration *m = &pk_migrations[i];
        if (begin_migration(s, err, errlen) < 0)
            goto out;
        /* Read under the lock: another collector may have migrated meanwhile. */
        if (schema_version(s, &current, err, errlen) < 0)
            goto out;
        if (current > latest) {
            newer_error(current, latest, err, errlen);
            goto out;
        }
        int done = 0;
        if (is_applied(s, m->version, &done, err, errlen) < 0)
            goto out;
        if (done) {
            st_rollback(s);
            continue;
        }
        snprintf(what, sizeof what, "migration %s", m->name);
        if (st_run_cmd(s, m->sql, 0, NULL, what, err, errlen) < 0)
            goto out;
        /* 010 adds a rollup level merged over probes; what older day rows hold is
         * merged into it here, in C like all merging, in the same transaction. */
        if (m->version == 10 && st_fill_check_days(s, err, errlen) < 0)
            goto out;
        /* 027 summarises each check-hour over its probes; existing hours here. */
        if (m->version == 27 && st_fill_check_hours(s, err, errlen) < 0)
            goto out;
        /* 039 packs the check-hour summaries of ended days; those stored here. */
        if (m->version == 39 && st_check_hour_days_sweep(s, NULL, 0, err, errlen) < 0)
            goto out;
        /* 044 packs the regions' summaries of the days 039's packs cover. */
        if (m->version == 44 && st_region_hour_days_fill(s, err, errlen) < 0)
            goto out;
        /* 029 adds running totals to round_runs; stored runs get theirs here. */
        if (m->version == 29 && st_fill_run_totals(s, err, errlen) < 0)
            goto out;
        /* 011 packs partial rows; rows of the old shape are packed here. */
        if (m->version == 11 && st_pack_old_partials(s, err, errlen) < 0)
            goto out;
        char version[16];
        snprintf(version, sizeof version, "%d", m->version);
        const char *params[] = {version, m->name};
        if (st_run_cmd(s, "INSERT INTO picket_schema (version, name) VALUES ($1, $2)", 2, params, what, err,
                       errlen) < 0 ||
            st_commit(s, what, err, errlen) < 0)
            goto out;
        count++;
        pk_log(PK_LOG_INFO, "store", "migration applied", "version=%d file=%s", m->version, m->name);
    }
    rc = 0;
out:
    if (rc < 0)
        st_rollback(s);
    if (applied)
        *applied = count;
    return rc;
}

int store_check_schema(struct store *s, char *err, size_t errlen)
{
    int current = 0, latest = store_latest_schema_version();
    if (store_schema_version(s, &current, err, errlen) < 0)
        return -1;
    if (current > latest)
        return newer_error(current, latest, err, errlen);
    if (current < latest) {
        pk_fail(err, errlen,
                "database schema version %d is older than this binary knows (%d): run `picket-collector migrate`",
                current, latest);
        return -1;
    }
    for (size_t i = 0; i < pk_migrations_count; i++) {
        int done = 0;
        if (is_applied(s, pk_migrations[i].version, &done, err, errlen) < 0)
            return -1;
        if (!done)
            return pk_fail(err, errlen, "database schema lacks migration %s: run `picket-collector migrate`",
                           pk_migrations[i].name);
    }
    return 0;
}
