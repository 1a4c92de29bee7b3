/* dashboard_reads.c: the two reads only the dashboard makes. store_round_bars
 * counts outcomes per check per round-sized bucket straight from results (a
 * short window: the overview's last 60 rounds), without latency histograms, so
 * 1,000 checks x 60 buckets is a small answer. store_recent_results reads a
 * check's last results with their messages (the check page's "last results").
 * Both are plain aggregations over results: when round states are stored at
 * ingest, store_round_bars is the one place to re-point. */
#include <inttypes.h>
#include <stdio.h>

#include "store_int.h"

#include "pk_error.h"
#include "store_dashboard.h"

#define BAR_COL(field, name, type) STORE_COL(struct store_bar_row, field, name, type)
static const struct store_col bar_cols[] = {
    BAR_COL(check_name, "name", STORE_COL_TEXT),  BAR_COL(bucket, "bucket", STORE_COL_INT),
    BAR_COL(round_us, "w", STORE_COL_I64),        BAR_COL(ok, "ok", STORE_COL_U64),
    BAR_COL(degraded, "degraded", STORE_COL_U64), BAR_COL(failed, "failed", STORE_COL_U64),
    BAR_COL(unknown, "unknown", STORE_COL_U64),   BAR_COL(last_us, "last_us", STORE_COL_I64),
};

int store_round_bars(struct store *s, int64_t end_us, int n_rounds, struct store_bar_row **rows, size_t *n, char *err,
                     size_t errlen)
{
    char end[40], nr[16];
    if (n_rounds <= 0 || n_rounds > 1000) {
        pk_fail(err, errlen, "round bars: %d rounds is not a window", n_rounds);
        return -1;
    }
    if (st_format_timestamp(end, sizeof end, end_us) < 0) {
        pk_fail(err, errlen, "round bars: time out of range");
        return -1;
    }
    snprintf(nr, sizeof nr, "%d", n_rounds);
    const char *params[] = {end, nr};
    /* The round: the check's interval in whole minutes, at least one (as the
     * Query API's rounds); one index range scan per check. */
    const struct store_query q = {
        "WITH c AS (SELECT id, name, greatest(1, coalesce(interval_ms, 0) / 60000) * 60000000::bigint AS w "
        "FROM checks) "
        "SELECT c.name, c.w, $2::int - 1 - floor((extract(epoch FROM $1::timestamptz - r.started_at) * 1000000) "
        "/ c.w)::int AS bucket, count(*) FILTER (WHERE r.outcome = 1) AS ok, "
        "count(*) FILTER (WHERE r.outcome = 2) AS degraded, count(*) FILTER (WHERE r.outcome = 3) AS failed, "
        "count(*) FILTER (WHERE r.outcome NOT IN (1, 2, 3)) AS unknown, "
        "(extract(epoch FROM max(r.started_at)) * 1000000)::bigint AS last_us "
        "FROM c JOIN LATERAL (SELECT started_at, outcome FROM results WHERE check_id = c.id "
        "AND started_at >= $1::timestamptz - make_interval(secs => c.w / 1000000.0 * $2::int) "
        "AND started_at < $1::timestamptz) r ON true "
        "GROUP BY c.name, c.w, 3 ORDER BY c.name COLLATE \"C\", 3",
        2, params, "dashboard: reading round bars", "dashboard: round bars", bar_cols, STORE_NCOLS(bar_cols),
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
