/* incidents.c: reading what the tracker stored (migrations/017_round_tracking.sql):
 * incidents, round runs and the rule a check was tracked with. Every reader
 * of incidents and global uptime goes through these; nothing here writes. */
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pk_error.h"

/* On Citus, round_runs, incidents and round_trackers are distributed by check_id
 * (collector/store/citus.c): a read that names its check only by name (a join
 * with checks) goes to every shard. There the check's id is looked up first
 * (checks is a reference table, read on the coordinator) and the read names it,
 * so Citus sends it to the one shard that holds the check. *found 0: no such
 * check. Plain PostgreSQL keeps the single join. */
static int citus_check_id(struct store *s, const char *check, char *id, size_t idlen, int *found, char *err,
                          size_t errlen)
{
    const char *p[] = {check};
    PGresult *r = st_run(s, "SELECT id FROM checks WHERE name = $1", 1, p, PGRES_TUPLES_OK, "checks: reading an id",
                         err, errlen);
    if (!r)
        return -1;
    *found = PQntuples(r) == 1;
    snprintf(id, idlen, "%s", *found ? PQgetvalue(r, 0, 0) : "0");
    PQclear(r);
    return 0;
}

#define INC_COL(field, name, type) STORE_COL(struct store_incident, field, name, type)
static const struct store_col incident_cols[] = {
    INC_COL(check_name, "check_name", STORE_COL_TEXT),   INC_COL(scope, "scope", STORE_COL_TEXT),
    INC_COL(regions, "regions", STORE_COL_TEXT),         INC_COL(start_round, "start_round", STORE_COL_I64),
    INC_COL(opened_round, "opened_round", STORE_COL_I64), INC_COL(end_round, "end_round", STORE_COL_I64),
    INC_COL(closed_round, "closed_round", STORE_COL_I64), INC_COL(start_us, "start_us", STORE_COL_I64),
    INC_COL(opened_us, "opened_us", STORE_COL_I64),       INC_COL(end_us, "end_us", STORE_COL_I64),
    INC_COL(closed_us, "closed_us", STORE_COL_I64),       INC_COL(interval_us, "interval_us", STORE_COL_I64),
    INC_COL(down_rounds, "down_rounds", STORE_COL_I64),   INC_COL(open_after, "open_after", STORE_COL_INT),
    INC_COL(close_after, "close_after", STORE_COL_INT),   INC_COL(quorum, "quorum", STORE_COL_INT),
    INC_COL(maintenance, "maintenance", STORE_COL_BOOL),
};

/* Reads q's rows with $1 = check, $2 = scope and $3, $4 = the bounds from and
 * until (bigint text), the parameters both range readers below take (q's own
 * nparams and params are replaced). On Citus, with a check named, routed_sql
 * (the same with $5 = the check's id) is run instead, so the read goes to one
 * shard; an unknown check reads nothing. */
static int read_check_range(struct store *s, struct store_query q, const char *routed_sql, const char *check,
                            const char *scope, int64_t from, int64_t until, void **out, size_t *n, char *err,
                            size_t errlen)
{
    char a[24], b[24], id[24];
    snprintf(a, sizeof a, "%" PRId64, from);
    snprintf(b, sizeof b, "%" PRId64, until);
    int routed = check && st_is_citus(s), found = 1;
    if (routed && citus_check_id(s, check, id, sizeof id, &found, err, errlen) < 0)
        return -1;
    if (!found) {
        *out = NULL;
        *n = 0;
        return 0;
    }
    const char *p[] = {check, scope, a, b, id};
    q.nparams = routed ? 5 : 4;
    q.params = p;
    if (routed)
        q.sql = routed_sql;
    return store_query_rows(s, &q, out, n, err, errlen);
}

int store_incidents_read(struct store *s, const char *check, const char *scope, int64_t since_us, int64_t until_us,
                         struct store_incident **out, size_t *n, char *err, size_t errlen)
{
#define INCIDENTS_SQL(by_id)                                                                                         \
    "SELECT c.name AS check_name, i.scope, array_to_string(i.regions, ',') AS regions, i.start_round, "              \
    "i.opened_round, coalesce(i.end_round, -1) AS end_round, coalesce(i.closed_round, -1) AS closed_round, "         \
    "i.start_us, i.opened_us, coalesce(i.end_us, -1) AS end_us, coalesce(i.closed_us, -1) AS closed_us, "            \
    "i.interval_us, i.down_rounds, i.open_after, i.close_after, i.quorum, i.maintenance "                            \
    "FROM incidents i JOIN checks c ON c.id = i.check_id "                                                           \
    "WHERE ($1::text IS NULL OR c.name = $1) " by_id " AND ($2::text IS NULL OR i.scope = $2) "                      \
    "AND i.start_us < $4::bigint AND (i.end_us IS NULL OR i.end_us > $3::bigint) "                                   \
    "ORDER BY c.name COLLATE \"C\", i.scope COLLATE \"C\", i.start_round"
    int cached = st_tracked_cache_incidents(s, check, scope, since_us, until_us, out, n, err, errlen);
    if (cached)
        return cached < 0 ? -1 : 0;
    const struct store_query q = {
        INCIDENTS_SQL(""), 0, NULL, "incidents: reading", "incidents", incident_cols, STORE_NCOLS(incident_cols),
        sizeof **out};
    return read_check_range(s, q, INCIDENTS_SQL("AND i.check_id = $5::bigint"), check, scope, since_us, until_us,
                            (void **)out, n, err, errlen);
#undef INCIDENTS_SQL
}

#define RUN_COL(field, name, type) STORE_COL(struct store_round_run, field, name, type)
static const struct store_col run_cols[] = {
    RUN_COL(scope, "scope", STORE_COL_TEXT),
    RUN_COL(from, "from_round", STORE_COL_I64),
    RUN_COL(to, "to_round", STORE_COL_I64),
    RUN_COL(state, "state", STORE_COL_INT),
    RUN_COL(regions, "regions", STORE_COL_TEXT),
};

int store_round_runs_read(struct store *s, const char *check, const char *scope, int64_t k_from, int64_t k_until,
                          struct store_round_run **out, size_t *n, char *err, size_t errlen)
{
/* Scope by scope (the check's scopes found by a skip scan of the primary key,
 * one lookup each), each an index range from the run holding k_from: never the
 * check's older history. On Citus (routed to the check's shard) one filter. */
#define RUNS_COLS "SELECT r.scope, r.from_round, r.to_round, r.state, array_to_string(r.regions, ',') AS regions "
#define RUNS_SCOPE(col) "(" col " = $2 OR ($2::text IS NULL AND " col " <> '*') OR $2 = '') "
    static const char runs_sql[] =
        RUNS_COLS "FROM checks c CROSS JOIN LATERAL (WITH RECURSIVE s(scope) AS (SELECT min(scope) FROM round_runs "
        "WHERE check_id = c.id UNION ALL SELECT (SELECT min(q.scope) FROM round_runs q WHERE q.check_id = c.id AND "
        "q.scope > s.scope) FROM s WHERE s.scope IS NOT NULL) SELECT scope FROM s WHERE scope IS NOT NULL) sc "
        "CROSS JOIN LATERAL (SELECT * FROM round_runs r WHERE r.check_id = c.id AND r.scope = sc.scope AND "
        ST_RUNS_REACHING("r", "c.id", "sc.scope", "$3::bigint") " AND r.from_round < $4::bigint OFFSET 0) r "
        "WHERE c.name = $1 AND " RUNS_SCOPE("sc.scope") "ORDER BY r.scope COLLATE \"C\", r.from_round";
    static const char runs_routed_sql[] =
        RUNS_COLS "FROM round_runs r JOIN checks c ON c.id = r.check_id WHERE c.name = $1 AND r.check_id = $5::bigint "
        "AND " RUNS_SCOPE("r.scope") "AND r.to_round >= $3::bigint AND r.from_round < $4::bigint "
        "ORDER BY r.scope COLLATE \"C\", r.from_round";
#undef RUNS_COLS
#undef RUNS_SCOPE
    const struct store_query q = {
        runs_sql, 0, NULL, "round runs: reading", "round runs", run_cols, STORE_NCOLS(run_cols), sizeof **out};
    return read_check_range(s, q, runs_routed_sql, check, scope, k_from, k_until, (void **)out, n, err, errlen);
}

#define RULE_COL(field, name, type) STORE_COL(struct store_track_rule, field, name, type)
static const struct store_col rule_cols[] = {
    RULE_COL(interval_us, "interval_us", STORE_COL_I64), RULE_COL(spread_us, "spread_us", STORE_COL_I64),
    RULE_COL(open_after, "open_after", STORE_COL_INT),   RULE_COL(close_after, "close_after", STORE_COL_INT),
    RULE_COL(quorum, "quorum", STORE_COL_INT),
};

int store_track_rule_read(struct store *s, const char *check, struct store_track_rule *out, char *err, size_t errlen)
{
    int cached = st_tracked_cache_rule(s, check, out);
    if (cached >= 0)
        return cached;
    char id[24];
    int citus = st_is_citus(s), found = 1;
    if (citus && citus_check_id(s, check, id, sizeof id, &found, err, errlen) < 0)
        return -1;
    if (!found)
        return 0;
    const char *p[] = {check, id};
#define RULE_SQL(by_id)                                                                                              \
    "SELECT t.interval_us, t.spread_us, t.open_after, t.close_after, t.quorum FROM round_trackers t "                \
    "JOIN checks c ON c.id = t.check_id WHERE c.name = $1" by_id
    struct store_query q = {
        .sql = citus ? RULE_SQL(" AND t.check_id = $2::bigint") : RULE_SQL(""),
        .nparams = citus ? 2 : 1,
        .params = p,
        .what_run = "tracker rule: reading",
        .what_read = "tracker rule",
        .cols = rule_cols,
        .ncols = STORE_NCOLS(rule_cols),
        .row_size = sizeof *out,
    };
    struct store_track_rule *rows = NULL;
    size_t n = 0;
    if (store_query_rows(s, &q, (void **)&rows, &n, err, errlen) < 0)
        return -1;
    if (n)
        *out = rows[0];
    free(rows);
    return n ? 1 : 0;
#undef RULE_SQL
}
