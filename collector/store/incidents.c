/* incidents.c: reading what the tracker stored (migrations/017_round_tracking.sql):
 * incidents, round runs and the rule a check was tracked with. Every reader
 * of incidents and global uptime goes through these; nothing here writes. */
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pk_error.h"

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
 * nparams and params are replaced). */
static int read_check_range(struct store *s, struct store_query q, const char *check, const char *scope, int64_t from,
                            int64_t until, void **out, size_t *n, char *err, size_t errlen)
{
    char a[24], b[24];
    snprintf(a, sizeof a, "%" PRId64, from);
    snprintf(b, sizeof b, "%" PRId64, until);
    const char *p[] = {check, scope, a, b};
    q.nparams = 4;
    q.params = p;
    return store_query_rows(s, &q, out, n, err, errlen);
}

int store_incidents_read(struct store *s, const char *check, const char *scope, int64_t since_us, int64_t until_us,
                         struct store_incident **out, size_t *n, char *err, size_t errlen)
{
    const struct store_query q = {
        "SELECT c.name AS check_name, i.scope, array_to_string(i.regions, ',') AS regions, i.start_round, "
        "i.opened_round, coalesce(i.end_round, -1) AS end_round, coalesce(i.closed_round, -1) AS closed_round, "
        "i.start_us, i.opened_us, coalesce(i.end_us, -1) AS end_us, coalesce(i.closed_us, -1) AS closed_us, "
        "i.interval_us, i.down_rounds, i.open_after, i.close_after, i.quorum, i.maintenance "
        "FROM incidents i JOIN checks c ON c.id = i.check_id "
        "WHERE ($1::text IS NULL OR c.name = $1) AND ($2::text IS NULL OR i.scope = $2) "
        "AND i.start_us < $4::bigint AND (i.end_us IS NULL OR i.end_us > $3::bigint) "
        "ORDER BY c.name COLLATE \"C\", i.scope COLLATE \"C\", i.start_round",
        0, NULL, "incidents: reading", "incidents", incident_cols, STORE_NCOLS(incident_cols), sizeof **out};
    return read_check_range(s, q, check, scope, since_us, until_us, (void **)out, n, err, errlen);
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
    const struct store_query q = {
        "SELECT r.scope, r.from_round, r.to_round, r.state, array_to_string(r.regions, ',') AS regions "
        "FROM round_runs r JOIN checks c ON c.id = r.check_id WHERE c.name = $1 AND "
        "(r.scope = $2 OR ($2::text IS NULL AND r.scope <> '*') OR $2 = '') AND r.to_round >= $3::bigint AND "
        "r.from_round < $4::bigint ORDER BY r.scope COLLATE \"C\", r.from_round",
        0, NULL, "round runs: reading", "round runs", run_cols, STORE_NCOLS(run_cols), sizeof **out};
    return read_check_range(s, q, check, scope, k_from, k_until, (void **)out, n, err, errlen);
}

#define RULE_COL(field, name, type) STORE_COL(struct store_track_rule, field, name, type)
static const struct store_col rule_cols[] = {
    RULE_COL(interval_us, "interval_us", STORE_COL_I64), RULE_COL(spread_us, "spread_us", STORE_COL_I64),
    RULE_COL(open_after, "open_after", STORE_COL_INT),   RULE_COL(close_after, "close_after", STORE_COL_INT),
    RULE_COL(quorum, "quorum", STORE_COL_INT),
};

int store_track_rule_read(struct store *s, const char *check, struct store_track_rule *out, char *err, size_t errlen)
{
    const char *p[] = {check};
    struct store_query q = {
        .sql = "SELECT t.interval_us, t.spread_us, t.open_after, t.close_after, t.quorum FROM round_trackers t "
        "JOIN checks c ON c.id = t.check_id WHERE c.name = $1",
        .nparams = 1,
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
}
