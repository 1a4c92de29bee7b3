/* citus.c: `picket-collector migrate --citus` (store_citus_distribute). After the
 * numbered migrations, on a database with the citus extension and workers:
 * results and the rollup tables become distributed tables with check_id as the
 * distribution column, all co-located with results (a check's raw results and
 * its rollups sit on the same node), and so do the tracker's round_runs,
 * incidents and round_trackers, the writers' round_cells and the check-hour
 * summaries; probes, checks and credentials become
 * reference tables (a copy on every node); every other table stays an ordinary
 * table on the coordinator (the tables that reference probes or checks by a
 * foreign key become Citus local tables, which Citus requires for such keys).
 * results stays partitioned by day inside each shard. The partition functions of
 * migration 005 are replaced by versions that run their row moves and DDL over
 * one connection per node (Citus refuses DDL after a parallel multi-shard write
 * in the same transaction). Idempotent: a table already in Citus's metadata is
 * left as it is. docs/SCALING-citus.md. */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pk_error.h"

enum citus_kind { CITUS_DISTRIBUTED, CITUS_REFERENCE, CITUS_LOCAL };

struct citus_table {
    const char *name;
    enum citus_kind kind;
};

/* Order matters: reference tables before the tables whose foreign keys point at
 * them; results before the tables co-located with it. */
static const struct citus_table citus_tables[] = {
    {"probes", CITUS_REFERENCE},
    {"checks", CITUS_REFERENCE},
    {"credentials", CITUS_REFERENCE},
    /* Central assignment's versions: written by `apply` only, and joined with
     * checks in UPDATEs of checks, which Citus allows only between its tables. */
    {"check_versions", CITUS_REFERENCE},
    {"check_version_files", CITUS_REFERENCE},
    {"check_version_checks", CITUS_REFERENCE},
    {"probe_checks", CITUS_LOCAL},
    {"probe_check_history", CITUS_LOCAL},
    {"results", CITUS_DISTRIBUTED},
    {"rollup_minute", CITUS_DISTRIBUTED},
    {"rollup_hour", CITUS_DISTRIBUTED},
    {"rollup_day", CITUS_DISTRIBUTED},
    {"rollup_check_day", CITUS_DISTRIBUTED},
    /* The tracker's tables (migration 017): every statement of the tracker names
     * one check_id, so on Citus each is a single-shard statement on the node that
     * holds the check's results and rollups. */
    {"round_runs", CITUS_DISTRIBUTED},
    {"incidents", CITUS_DISTRIBUTED},
    {"round_trackers", CITUS_DISTRIBUTED},
    /* The writers' per-round counts (migration 024), written in the ingest
     * transaction beside the results, read by the tracker one check at a time;
     * and the check-hour summaries (migration 027), written by the compaction
     * beside rollup_hour. */
    {"round_cells", CITUS_DISTRIBUTED},
    {"rollup_check_hour", CITUS_DISTRIBUTED},
};

/* picket_make_partition and picket_drop_partitions (migration 005) for Citus: the
 * same contract, with citus.multi_shard_modify_mode sequential and one
 * connection per node for reads too, so the row moves out of results_default
 * and the CREATE/DROP of partitions (which Citus propagates to every shard)
 * share one connection per node. */
static const char citus_functions_sql[] =
    "CREATE OR REPLACE FUNCTION picket_make_partition(day date) RETURNS boolean LANGUAGE plpgsql AS $$\n"
    "DECLARE\n"
    "    part text := 'results_' || to_char(day, 'YYYYMMDD');\n"
    "    lo timestamptz := day::timestamp AT TIME ZONE 'UTC';\n"
    "    hi timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';\n"
    "    moved bigint;\n"
    "BEGIN\n"
    "    PERFORM pg_advisory_xact_lock(112410397255029);\n"
    "    IF to_regclass(part) IS NOT NULL THEN\n"
    "        RETURN false;\n"
    "    END IF;\n"
    "    SET LOCAL citus.multi_shard_modify_mode TO 'sequential';\n"
    "    SET LOCAL citus.max_adaptive_executor_pool_size TO 1;\n"
    "    CREATE TEMP TABLE picket_moved_results ON COMMIT DROP AS\n"
    "        SELECT * FROM results_default WHERE started_at >= lo AND started_at < hi;\n"
    "    GET DIAGNOSTICS moved = ROW_COUNT;\n"
    "    IF moved > 0 THEN\n"
    "        DELETE FROM results_default WHERE started_at >= lo AND started_at < hi;\n"
    "    END IF;\n"
    "    EXECUTE format('CREATE TABLE %I PARTITION OF results FOR VALUES FROM (%L) TO (%L)', part, lo, hi);\n"
    "    IF moved > 0 THEN\n"
    "        INSERT INTO results SELECT * FROM picket_moved_results;\n"
    "        RAISE NOTICE 'partition % took % rows from results_default', part, moved;\n"
    "    END IF;\n"
    "    DROP TABLE picket_moved_results;\n"
    "    RETURN true;\n"
    "END $$;\n"
    "CREATE OR REPLACE FUNCTION picket_drop_partitions(before timestamptz) RETURNS int LANGUAGE plpgsql AS $$\n"
    "DECLARE\n"
    "    rec record;\n"
    "    dropped int := 0;\n"
    "BEGIN\n"
    "    PERFORM pg_advisory_xact_lock(112410397255029);\n"
    "    SET LOCAL citus.multi_shard_modify_mode TO 'sequential';\n"
    "    FOR rec IN\n"
    "        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid\n"
    "        WHERE i.inhparent = 'results'::regclass AND c.relname ~ '^results_[0-9]{8}$'\n"
    "    LOOP\n"
    "        IF (to_date(substr(rec.relname, 9), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC' <= before THEN\n"
    "            EXECUTE format('DROP TABLE %I', rec.relname);\n"
    "            dropped := dropped + 1;\n"
    "        END IF;\n"
    "    END LOOP;\n"
    "    DELETE FROM results_default WHERE started_at < before;\n"
    "    RETURN dropped;\n"
    "END $$;\n"
    /* The last result of every check. On plain PostgreSQL it is a LATERAL
     * subquery on results per check (store_status); Citus refuses that correlated
     * join between the checks (a reference table) and results, but runs it
     * between round_trackers and results, co-located by check: one statement
     * that each shard runs for its own checks (the last two days' partitions
     * first, every partition only for a check with nothing there, as on plain
     * PostgreSQL). A check without a tracker row (no interval) is read with one
     * single-shard query of its own. One query per check for every check, the
     * earlier body, cost 1,000 round trips through the coordinator at 1,000
     * checks (docs/SCALING-citus.md). */
    "CREATE OR REPLACE FUNCTION picket_last_results() RETURNS TABLE (check_id bigint, started_at timestamptz,\n"
    "    outcome smallint, message text, total_us bigint, status_code int, probe_id bigint, metrics jsonb)\n"
    "    LANGUAGE plpgsql STABLE AS $$\n"
    "DECLARE\n"
    "    k bigint;\n"
    "    tracked bigint[];\n"
    "BEGIN\n"
    "    RETURN QUERY SELECT t.check_id, lr.started_at, lr.outcome, lr.message, lr.total_us, lr.status_code,\n"
    "        lr.probe_id, lr.metrics FROM round_trackers t JOIN LATERAL (SELECT * FROM (\n"
    "        (SELECT r.started_at, r.outcome, r.message, r.total_us, r.status_code, r.probe_id, r.metrics\n"
    "         FROM results r WHERE r.check_id = t.check_id AND r.started_at > now() - interval '2 days'\n"
    "         ORDER BY r.started_at DESC LIMIT 1) UNION ALL\n"
    "        (SELECT r.started_at, r.outcome, r.message, r.total_us, r.status_code, r.probe_id, r.metrics\n"
    "         FROM results r WHERE r.check_id = t.check_id ORDER BY r.started_at DESC LIMIT 1)) u LIMIT 1) lr\n"
    "        ON true;\n"
    "    SELECT coalesce(array_agg(t.check_id), '{}') INTO tracked FROM round_trackers t;\n"
    "    FOR k IN SELECT id FROM checks WHERE id <> ALL (tracked) ORDER BY id LOOP\n"
    "        RETURN QUERY SELECT r.check_id, r.started_at, r.outcome, r.message, r.total_us, r.status_code,\n"
    "            r.probe_id, r.metrics FROM results r WHERE r.check_id = k ORDER BY r.started_at DESC LIMIT 1;\n"
    "    END LOOP;\n"
    "END $$;\n";

int st_is_citus(struct store *s)
{
    if (!s->citus_known) {
        PGresult *r = PQexec(s->conn, "SELECT to_regprocedure('picket_last_results()') IS NOT NULL");
        if (PQresultStatus(r) == PGRES_TUPLES_OK) {
            s->citus = PQgetvalue(r, 0, 0)[0] == 't';
            s->citus_known = 1;
        }
        PQclear(r);
    }
    return s->citus;
}

static const char *kind_name(enum citus_kind k)
{
    return k == CITUS_DISTRIBUTED ? "distributed by check_id" : k == CITUS_REFERENCE ? "reference table" : "local";
}

/* The extension and at least one active worker, or -1 + err naming what is missing. */
static int check_cluster(struct store *s, int *workers, char *err, size_t errlen)
{
    PGresult *r = st_run(s, "SELECT extversion FROM pg_extension WHERE extname = 'citus'", 0, NULL, PGRES_TUPLES_OK,
                         "citus: reading the extension", err, errlen);
    if (!r)
        return -1;
    int has = PQntuples(r) == 1;
    PQclear(r);
    if (!has)
        return pk_fail(err, errlen,
                       "citus: the citus extension is not installed in this database (a superuser runs "
                       "CREATE EXTENSION citus on the coordinator and every worker; scripts/citus start does)");
    r = st_run(s, "SELECT count(*) FROM pg_dist_node WHERE groupid <> 0 AND isactive AND noderole = 'primary'", 0,
               NULL, PGRES_TUPLES_OK, "citus: reading the nodes", err, errlen);
    if (!r)
        return -1;
    *workers = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (*workers == 0)
        return pk_fail(err, errlen,
                       "citus: the coordinator has no active worker (add them with SELECT citus_add_node(host, port) "
                       "as a superuser; scripts/citus start does)");
    return 0;
}

/* What the table is in Citus's metadata now: *kind, or *known 0 when not there. */
static int current_kind(struct store *s, const char *table, int *known, enum citus_kind *kind, char *err,
                        size_t errlen)
{
    const char *params[] = {table};
    PGresult *r = st_run(s,
                         "SELECT partmethod, repmodel FROM pg_dist_partition WHERE logicalrelid = to_regclass($1)",
                         1, params, PGRES_TUPLES_OK, "citus: reading pg_dist_partition", err, errlen);
    if (!r)
        return -1;
    *known = PQntuples(r) > 0;
    if (*known) {
        const char *method = PQgetvalue(r, 0, 0), *rep = PQgetvalue(r, 0, 1);
        *kind = method[0] == 'h' ? CITUS_DISTRIBUTED : rep[0] == 't' ? CITUS_REFERENCE : CITUS_LOCAL;
    }
    PQclear(r);
    return 0;
}

/* Run once a table was distributed by this call, in its transaction. Before
 * round_cells and rollup_check_hour were distributed, a collector on Citus
 * wrote neither: an installation that ran on Citus before has results without
 * their round cells, and hour rows without their summaries. The tracker then
 * must read results for the rounds before now (round_cells_since moves past
 * them, as migration 024 does on a database with results), and the summaries
 * are made from rollup_hour (as migration 027 does). On a database that had
 * them all along (moved from one PostgreSQL) both find nothing to do. */
static int catch_up(struct store *s, const char *table, char *err, size_t errlen)
{
    if (strcmp(table, "round_cells") == 0)
        return st_run_cmd(s,
                          "UPDATE round_cells_since SET since_us = greatest(since_us, "
                          "(extract(epoch FROM now()) * 1000000)::bigint + 3600000000) "
                          "WHERE NOT EXISTS (SELECT 1 FROM round_cells) AND EXISTS (SELECT 1 FROM results)",
                          0, NULL, "citus: round_cells_since", err, errlen);
    if (strcmp(table, "rollup_check_hour") == 0) {
        PGresult *r = st_run(s, "SELECT NOT EXISTS (SELECT 1 FROM rollup_check_hour)", 0, NULL, PGRES_TUPLES_OK,
                             "citus: reading rollup_check_hour", err, errlen);
        if (!r)
            return -1;
        int empty = PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
        return empty ? st_fill_check_hours(s, err, errlen) : 0;
    }
    return 0;
}

static int convert_table(struct store *s, const struct citus_table *t, int shards, char *err, size_t errlen)
{
    char sql[256], what[128], count[16];
    snprintf(what, sizeof what, "citus: making %s a %s", t->name,
             t->kind == CITUS_DISTRIBUTED ? "distributed table" : t->kind == CITUS_REFERENCE ? "reference table"
                                                                                             : "Citus local table");
    snprintf(count, sizeof count, "%d", shards);
    const char *params[] = {t->name, count};
    if (t->kind == CITUS_REFERENCE)
        snprintf(sql, sizeof sql, "SELECT create_reference_table($1::regclass)");
    else if (t->kind == CITUS_LOCAL)
        snprintf(sql, sizeof sql, "SELECT citus_add_local_table_to_metadata($1::regclass)");
    else if (strcmp(t->name, "results") == 0)
        snprintf(sql, sizeof sql,
                 "SELECT create_distributed_table($1::regclass, 'check_id', colocate_with => 'none', "
                 "shard_count => $2::int)");
    else
        snprintf(sql, sizeof sql,
                 "SELECT create_distributed_table($1::regclass, 'check_id', colocate_with => 'results')");
    PGresult *r = st_run(s, sql, t->kind == CITUS_DISTRIBUTED && strcmp(t->name, "results") == 0 ? 2 : 1, params,
                         PGRES_TUPLES_OK, what, err, errlen);
    PQclear(r);
    return r ? 0 : -1;
}

int store_citus_distribute(struct store *s, int shards, store_citus_note_fn note, void *user, int *converted,
                           int *workers, char *err, size_t errlen)
{
    int rc = -1;
    *converted = *workers = 0;
    st_ensure_ready(s);
    if (check_cluster(s, workers, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < sizeof citus_tables / sizeof citus_tables[0]; i++) {
        const struct citus_table *t = &citus_tables[i];
        int known = 0;
        enum citus_kind kind = CITUS_LOCAL;
        if (current_kind(s, t->name, &known, &kind, err, errlen) < 0)
            return -1;
        /* A table whose foreign key meets a reference table is pulled into the
         * metadata as a Citus local table, with the tables it references: such a
         * table becomes a reference table below (Citus converts it in place). A
         * table wanted local but already a reference table stays so. */
        if (known && (kind == t->kind || (t->kind == CITUS_LOCAL && kind == CITUS_REFERENCE))) {
            note(user, t->name, "already", kind_name(kind));
            continue;
        }
        if (known && t->kind == CITUS_DISTRIBUTED)
            return pk_fail(err, errlen, "citus: %s is a %s; picket needs it distributed by check_id", t->name,
                           kind_name(kind));
        /* create_distributed_table copies the rows; one transaction per table, so
         * a failure leaves every table either as it was or converted. */
        if (st_run_cmd(s, "BEGIN", 0, NULL, "citus: BEGIN", err, errlen) < 0 ||
            convert_table(s, t, shards, err, errlen) < 0 || catch_up(s, t->name, err, errlen) < 0 ||
            st_commit(s, "citus: COMMIT", err, errlen) < 0)
            goto out;
        note(user, t->name, "now", kind_name(t->kind));
        (*converted)++;
    }
    if (st_run_cmd(s, citus_functions_sql, 0, NULL, "citus: replacing the partition functions", err, errlen) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0)
        st_rollback(s);
    return rc;
}
