/* dashboard_reads.c: the two reads only the dashboard makes. store_round_bars
 * reads the overview's last 60 rounds of every check from the tracker's stored
 * round runs (round_runs: the same round states incidents, availability and
 * SLOs are made of), on the check's own grid; only a check the tracker does not
 * follow (--no-tracking) has its rounds counted from results, in buckets of its
 * interval in whole minutes. 1,000 checks x 60 rounds is a small answer.
 * store_recent_results reads a check's last results with their messages (the
 * check page's "last results"). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "store_int.h"

#include "pk_error.h"
#include "store_dashboard.h"

#define BAR_COL(field, name, type) STORE_COL(struct store_bar_row, field, name, type)
static const struct store_col bar_cols[] = {
    BAR_COL(check_name, "name", STORE_COL_TEXT),  BAR_COL(bucket, "bucket", STORE_COL_INT),
    BAR_COL(round_us, "w", STORE_COL_I64),        BAR_COL(ok, "ok", STORE_COL_U64),
    BAR_COL(degraded, "degraded", STORE_COL_U64), BAR_COL(failed, "failed", STORE_COL_U64),
    BAR_COL(unknown, "unknown", STORE_COL_U64),   BAR_COL(last_us, "last_us", STORE_COL_I64),
    BAR_COL(tracked, "tracked", STORE_COL_INT),   BAR_COL(global_state, "gstate", STORE_COL_INT),
};

/* Tracked checks: the rounds k of the check's own grid (start k * interval +
 * spread) from round_runs (per check and scope, global and every probe's
 * region: a primary-key range from the run holding the window's first round
 * each, ST_RUNS_REACHING, never a scan of every stored run), k_end the round
 * holding now; per round the global state ('*') and the regions up (ok) and down (failed); and a row with
 * bucket -1 whose last_us is the start of the check's newest stored round
 * (however old: what "stale" is judged by; the newest of each scope, global
 * and every probe's region, one index lookup each, not a scan of the check's
 * whole history). */
#define BARS_TRACKED_SQL                                                                                              \
    "WITH t AS (SELECT c.name, t.check_id, t.interval_us AS w, t.spread_us AS sp, "                                   \
    "floor(($3::bigint - t.spread_us)::numeric / t.interval_us)::bigint AS k_end "                                    \
    "FROM round_trackers t JOIN checks c ON c.id = t.check_id WHERE t.interval_us > 0), "                             \
    "r AS (SELECT t.name, t.w, t.sp, t.k_end, k, rr.scope, rr.state FROM t "                                        \
    "CROSS JOIN (SELECT '*' AS scope UNION SELECT region FROM probes) sc CROSS JOIN LATERAL "                         \
    "(SELECT x.from_round, x.to_round, x.scope, x.state FROM round_runs x WHERE x.check_id = t.check_id "             \
    "AND x.scope = sc.scope AND " ST_RUNS_REACHING("x", "t.check_id", "sc.scope", "(t.k_end - $2::int + 1)")          \
    " AND x.from_round <= t.k_end OFFSET 0) rr "                                                                      \
    "CROSS JOIN LATERAL generate_series(greatest(rr.from_round, t.k_end - $2::int + 1), "                             \
    "least(rr.to_round, t.k_end)) k) "                                                                                \
    "SELECT name, w, ($2::int - 1 - (k_end - k))::int AS bucket, "                                                    \
    "count(*) FILTER (WHERE scope <> '*' AND state = 1) AS ok, 0::bigint AS degraded, "                              \
    "count(*) FILTER (WHERE scope <> '*' AND state = 2) AS failed, 0::bigint AS unknown, k * w + sp AS last_us, "    \
    "1 AS tracked, coalesce(max(state) FILTER (WHERE scope = '*'), 0)::int AS gstate "                               \
    "FROM r GROUP BY name, w, sp, k_end, k "                                                                          \
    "UNION ALL SELECT t.name, t.w, -1, 0, 0, 0, 0, l.k * t.w + t.sp, 1, 0 FROM t "                                   \
    "JOIN LATERAL (SELECT max((SELECT x.to_round FROM round_runs x WHERE x.check_id = t.check_id "                    \
    "AND x.scope = sc.scope ORDER BY x.from_round DESC LIMIT 1)) AS k "                                               \
    "FROM (SELECT '*' AS scope UNION SELECT region FROM probes) sc) l "                                               \
    "ON l.k IS NOT NULL "

/* Checks the tracker does not follow (--no-tracking, or not folded yet):
 * outcome counts per round-sized bucket straight from results. */
#define BARS_RAW_SQL                                                                                                  \
    "SELECT c.name, c.w, $2::int - 1 - floor((extract(epoch FROM $1::timestamptz - r.started_at) * 1000000) "         \
    "/ c.w)::int AS bucket, count(*) FILTER (WHERE r.outcome = 1) AS ok, "                                             \
    "count(*) FILTER (WHERE r.outcome = 2) AS degraded, count(*) FILTER (WHERE r.outcome = 3) AS failed, "            \
    "count(*) FILTER (WHERE r.outcome NOT IN (1, 2, 3)) AS unknown, "                                                  \
    "(extract(epoch FROM max(r.started_at)) * 1000000)::bigint AS last_us, 0 AS tracked, 0 AS gstate "                \
    "FROM (SELECT id, name, greatest(1, coalesce(interval_ms, 0) / 60000) * 60000000::bigint AS w FROM checks "      \
    "WHERE id NOT IN (SELECT check_id FROM round_trackers WHERE interval_us > 0)) c "                                 \
    "JOIN LATERAL (SELECT started_at, outcome FROM results WHERE check_id = c.id "                                    \
    "AND started_at >= $1::timestamptz - make_interval(secs => c.w / 1000000.0 * $2::int) "                          \
    "AND started_at < $1::timestamptz OFFSET 0) r ON true GROUP BY c.name, c.w, 3 "

/* On Citus (results, round_runs and round_trackers distributed by check_id and
 * co-located, checks a reference table) the two reads above are refused
 * ("cannot push down this subquery": a CTE or a reference table correlated
 * with a distributed one). The same rows there come from joins on check_id
 * with every group keyed by it, which Citus runs on each shard; $4 (the widest
 * raw window, us) bounds the results read to the partitions it can touch. */
#define BARS_TRACKED_CITUS_SQL                                                                                        \
    "SELECT t.name, t.w, ($2::int - 1 - (t.k_end - k))::int AS bucket, "                                              \
    "count(*) FILTER (WHERE rr.scope <> '*' AND rr.state = 1) AS ok, 0::bigint AS degraded, "                        \
    "count(*) FILTER (WHERE rr.scope <> '*' AND rr.state = 2) AS failed, 0::bigint AS unknown, "                     \
    "k * t.w + t.sp AS last_us, 1 AS tracked, "                                                                       \
    "coalesce(max(rr.state) FILTER (WHERE rr.scope = '*'), 0)::int AS gstate "                                       \
    "FROM (SELECT c.name, t.check_id, t.interval_us AS w, t.spread_us AS sp, "                                        \
    "floor(($3::bigint - t.spread_us)::numeric / t.interval_us)::bigint AS k_end "                                    \
    "FROM round_trackers t JOIN checks c ON c.id = t.check_id WHERE t.interval_us > 0) t JOIN round_runs rr "         \
    "ON rr.check_id = t.check_id AND rr.to_round >= t.k_end - $2::int + 1 AND rr.from_round <= t.k_end "              \
    "CROSS JOIN LATERAL generate_series(greatest(rr.from_round, t.k_end - $2::int + 1), "                             \
    "least(rr.to_round, t.k_end)) k GROUP BY t.check_id, t.name, t.w, t.sp, t.k_end, k "                              \
    "UNION ALL SELECT c.name, t.interval_us, -1, 0, 0, 0, 0, l.k * t.interval_us + t.spread_us, 1, 0 "                \
    "FROM round_trackers t JOIN checks c ON c.id = t.check_id JOIN (SELECT check_id, max(to_round) AS k "             \
    "FROM round_runs GROUP BY check_id) l ON l.check_id = t.check_id WHERE t.interval_us > 0 "
#define BARS_RAW_CITUS_SQL                                                                                            \
    "SELECT c.name, c.w, $2::int - 1 - floor((extract(epoch FROM $1::timestamptz - r.started_at) * 1000000) "         \
    "/ c.w)::int AS bucket, count(*) FILTER (WHERE r.outcome = 1) AS ok, "                                             \
    "count(*) FILTER (WHERE r.outcome = 2) AS degraded, count(*) FILTER (WHERE r.outcome = 3) AS failed, "            \
    "count(*) FILTER (WHERE r.outcome NOT IN (1, 2, 3)) AS unknown, "                                                  \
    "(extract(epoch FROM max(r.started_at)) * 1000000)::bigint AS last_us, 0 AS tracked, 0 AS gstate "                \
    "FROM results r JOIN (SELECT id, name, greatest(1, coalesce(interval_ms, 0) / 60000) * 60000000::bigint AS w "   \
    "FROM checks) c ON c.id = r.check_id LEFT JOIN round_trackers t ON t.check_id = r.check_id "                     \
    "AND t.interval_us > 0 WHERE t.check_id IS NULL "                                                                  \
    "AND r.started_at >= $1::timestamptz - make_interval(secs => $4::bigint / 1000000.0) "                           \
    "AND r.started_at >= $1::timestamptz - make_interval(secs => c.w / 1000000.0 * $2::int) "                        \
    "AND r.started_at < $1::timestamptz GROUP BY r.check_id, c.name, c.w, 3 "

/* The widest window of a check without tracking: $2 rounds of its whole minutes. */
static int bars_citus_window(struct store *s, int n_rounds, char *out, size_t outlen, char *err, size_t errlen)
{
    PGresult *r = st_run(s,
                         "SELECT coalesce(max(greatest(1, coalesce(interval_ms, 0) / 60000)), 1) * 60000000::bigint "
                         "FROM checks",
                         0, NULL, PGRES_TUPLES_OK, "dashboard: reading round bars", err, errlen);
    if (!r)
        return -1;
    snprintf(out, outlen, "%lld", strtoll(PQgetvalue(r, 0, 0), NULL, 10) * (long long)n_rounds);
    PQclear(r);
    return 0;
}

int store_round_bars(struct store *s, int64_t end_us, int64_t now_us, int n_rounds, struct store_bar_row **rows,
                     size_t *n, char *err, size_t errlen)
{
    char end[40], nr[16], end_num[24];
    if (n_rounds <= 0 || n_rounds > 1000) {
        pk_fail(err, errlen, "round bars: %d rounds is not a window", n_rounds);
        return -1;
    }
    if (st_format_timestamp(end, sizeof end, end_us) < 0) {
        pk_fail(err, errlen, "round bars: time out of range");
        return -1;
    }
    snprintf(nr, sizeof nr, "%d", n_rounds);
    snprintf(end_num, sizeof end_num, "%" PRId64, now_us);
    char window[32] = "0";
    const char *params[] = {end, nr, end_num, window};
    int citus = st_is_citus(s);
    if (citus && bars_citus_window(s, n_rounds, window, sizeof window, err, errlen) < 0)
        return -1;
    const struct store_query q = {
        citus ? "SELECT * FROM (" BARS_TRACKED_CITUS_SQL "UNION ALL " BARS_RAW_CITUS_SQL
                ") b ORDER BY name COLLATE \"C\", bucket"
              : "SELECT * FROM (" BARS_TRACKED_SQL "UNION ALL " BARS_RAW_SQL ") b ORDER BY name COLLATE \"C\", bucket",
        citus ? 4 : 3,
        params,
        "dashboard: reading round bars",
        "dashboard: round bars",
        bar_cols,
        STORE_NCOLS(bar_cols),
        sizeof **rows};
    return store_query_rows(s, &q, (void **)rows, n, err, errlen);
}

#define RECENT_COL(field, name, type) STORE_COL(struct store_recent_result, field, name, type)
static const struct store_col recent_cols[] = {
    RECENT_COL(started_at_us, "started_us", STORE_COL_I64), RECENT_COL(probe, "probe", STORE_COL_TEXT),
    RECENT_COL(region, "region", STORE_COL_TEXT),           RECENT_COL(outcome, "outcome", STORE_COL_INT),
    RECENT_COL(error_class, "error_class", STORE_COL_INT),  RECENT_COL(status_code, "status_code", STORE_COL_INT),
    RECENT_COL(total_us, "total_us", STORE_COL_I64),        RECENT_COL(message, "message", STORE_COL_TEXT),
};

int store_recent_results(struct store *s, const char *check, int64_t until_us, int limit,
                         struct store_recent_result **rows, size_t *n, char *err, size_t errlen)
{
    char until[40], lim[16];
    if (st_format_timestamp(until, sizeof until, until_us) < 0) {
        pk_fail(err, errlen, "recent results: time out of range");
        return -1;
    }
    snprintf(lim, sizeof lim, "%d", limit < 1 ? 1 : limit > 500 ? 500 : limit);
    const char *params[] = {check, until, lim};
    /* The check's id as a constant (an init plan), so each day's partition is read
     * backwards on (check_id, started_at) and the LIMIT stops early: a join on the
     * name read every partition (2.3 s over 90 days of one result a minute). */
    const struct store_query q = {
        "SELECT (extract(epoch FROM r.started_at) * 1000000)::bigint AS started_us, p.name AS probe, p.region, "
        "r.outcome, r.error_class, coalesce(r.status_code, 0) AS status_code, coalesce(r.total_us, -1) AS total_us, "
        "r.message FROM (SELECT * FROM results WHERE check_id = (SELECT id FROM checks WHERE name = $1) "
        "AND started_at < $2::timestamptz ORDER BY started_at DESC LIMIT $3::int) r "
        "JOIN probes p ON p.id = r.probe_id ORDER BY r.started_at DESC",
        3, params, "dashboard: reading recent results", "dashboard: recent results", recent_cols,
        STORE_NCOLS(recent_cols), sizeof **rows};
    return store_query_rows(s, &q, (void **)rows, n, err, errlen);
}
