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
#include <string.h>

#include "store_int.h"

#include "pk_error.h"
#include "rounds.h"
#include "store_dashboard.h"

#define BAR_COL(field, name, type) STORE_COL(struct store_bar_row, field, name, type)
static const struct store_col bar_cols[] = {
    BAR_COL(check_name, "name", STORE_COL_TEXT),  BAR_COL(bucket, "bucket", STORE_COL_INT),
    BAR_COL(round_us, "w", STORE_COL_I64),        BAR_COL(ok, "ok", STORE_COL_U64),
    BAR_COL(degraded, "degraded", STORE_COL_U64), BAR_COL(failed, "failed", STORE_COL_U64),
    BAR_COL(unknown, "unknown", STORE_COL_U64),   BAR_COL(last_us, "last_us", STORE_COL_I64),
    BAR_COL(tracked, "tracked", STORE_COL_INT),   BAR_COL(global_state, "gstate", STORE_COL_INT),
};

/* Tracked checks: their stored round runs (round_runs, per check and scope:
 * global '*' and every probe's region) that reach into the window of the
 * check's own grid (rounds k start at k * interval + spread; k_end is the round
 * holding now), down to the scope's newest run up to now however old (what
 * "stale" is judged by). One primary-key range per check and scope, from the run holding
 * the window's first round (ST_RUNS_REACHING's lookup), never a scan of the
 * check's whole history. The rounds themselves are spread out and counted in C
 * (tracked_bars): PostgreSQL sorting and grouping 60 rounds x 4 scopes x 1,000
 * checks cost 350-600 ms at full size, the runs alone about 60. */
#define RUNS_TRACKED_SQL                                                                                              \
    "WITH t AS (SELECT c.name, t.check_id, t.interval_us AS w, t.spread_us AS sp, "                                   \
    "floor(($2::bigint - t.spread_us)::numeric / t.interval_us)::bigint AS k_end "                                    \
    "FROM round_trackers t JOIN checks c ON c.id = t.check_id WHERE t.interval_us > 0) "                             \
    "SELECT t.name, t.w, t.sp, t.k_end, rr.scope = '*' AS glob, rr.from_round, rr.to_round, rr.state::int AS state "  \
    "FROM t CROSS JOIN (SELECT '*' AS scope UNION SELECT region FROM probes) sc CROSS JOIN LATERAL "                 \
    "(SELECT x.from_round, x.to_round, x.scope, x.state FROM round_runs x WHERE x.check_id = t.check_id "             \
    "AND x.scope = sc.scope AND x.from_round >= (SELECT coalesce(max(rr_k.from_round), t.k_end - $1::int + 1) "     \
    "FROM round_runs rr_k WHERE rr_k.check_id = t.check_id AND rr_k.scope = sc.scope "                               \
    "AND rr_k.from_round <= t.k_end - $1::int + 1) AND x.from_round <= t.k_end OFFSET 0) rr "

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
 * with every group keyed by it, which Citus runs on each shard; $3 (the widest
 * raw window, us) bounds the results read to the partitions it can touch. */
#define RUNS_TRACKED_CITUS_SQL                                                                                        \
    "SELECT t.name, t.w, t.sp, t.k_end, rr.scope = '*' AS glob, rr.from_round, rr.to_round, rr.state::int AS state " \
    "FROM (SELECT c.name, t.check_id, t.interval_us AS w, t.spread_us AS sp, "                                        \
    "floor(($2::bigint - t.spread_us)::numeric / t.interval_us)::bigint AS k_end "                                    \
    "FROM round_trackers t JOIN checks c ON c.id = t.check_id WHERE t.interval_us > 0) t JOIN round_runs rr "         \
    "ON rr.check_id = t.check_id AND rr.to_round >= t.k_end - $1::int + 1 AND rr.from_round <= t.k_end "              \
    "UNION ALL SELECT c.name, t.interval_us, t.spread_us, 0, false, l.k, l.k, -1 "                                    \
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
    "AND r.started_at >= $1::timestamptz - make_interval(secs => $3::bigint / 1000000.0) "                           \
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

/* One stored run of round states as RUNS_TRACKED_SQL reads it; state -1 (Citus
 * only): a row that carries the check's newest stored round, nothing else. */
struct bar_run {
    char check_name[PK_NAME_MAX];
    int64_t w, sp, k_end, from_round, to_round;
    int glob, state;
};
#define RUN_COL(field, name, type) STORE_COL(struct bar_run, field, name, type)
static const struct store_col run_cols[] = {
    RUN_COL(check_name, "name", STORE_COL_TEXT), RUN_COL(w, "w", STORE_COL_I64),
    RUN_COL(sp, "sp", STORE_COL_I64),            RUN_COL(k_end, "k_end", STORE_COL_I64),
    RUN_COL(glob, "glob", STORE_COL_BOOL),       RUN_COL(from_round, "from_round", STORE_COL_I64),
    RUN_COL(to_round, "to_round", STORE_COL_I64), RUN_COL(state, "state", STORE_COL_INT),
};

static int run_by_name(const void *a, const void *b)
{
    return strcmp(((const struct bar_run *)a)->check_name, ((const struct bar_run *)b)->check_name);
}

struct bar_out {
    struct store_bar_row *rows;
    size_t n, cap;
};

static struct store_bar_row *bar_add(struct bar_out *o)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        struct store_bar_row *p = realloc(o->rows, cap * sizeof *p);
        if (!p)
            return NULL;
        o->rows = p;
        o->cap = cap;
    }
    struct store_bar_row *b = &o->rows[o->n++];
    memset(b, 0, sizeof *b);
    return b;
}

/* One tracked check's rows from its runs run[0..nr): a row with bucket -1
 * whose last_us starts the newest stored round of any scope up to the round
 * of now (what "stale" is judged by), then per round of
 * the window that a run reaches, the regions up (ok) and down (failed) and the
 * global state. 0, or -1 when out of memory. */
static int tracked_bars(const struct bar_run *run, size_t nr, int n_rounds, struct bar_out *o)
{
    int64_t w = 0, sp = 0, k_end = 0, last = INT64_MIN;
    int have_grid = 0;
    for (size_t i = 0; i < nr; i++) {
        if (run[i].to_round > last)
            last = run[i].to_round;
        if (run[i].state >= 0 && !have_grid) {
            w = run[i].w, sp = run[i].sp, k_end = run[i].k_end;
            have_grid = 1;
        }
    }
    if (have_grid && last > k_end) /* a run still open (or a skewed probe's future): the round of now */
        last = k_end;
    struct store_bar_row *head = bar_add(o);
    if (!head)
        return -1;
    snprintf(head->check_name, sizeof head->check_name, "%s", run[0].check_name);
    head->bucket = -1;
    head->round_us = run[0].w;
    head->last_us = last * run[0].w + run[0].sp;
    head->tracked = 1;
    if (!have_grid)
        return 0;
    uint32_t ok[1000], failed[1000];
    int gstate[1000];
    unsigned char any[1000];
    memset(ok, 0, sizeof ok), memset(failed, 0, sizeof failed), memset(gstate, 0, sizeof gstate);
    memset(any, 0, sizeof any);
    int64_t k_start = k_end - n_rounds + 1;
    for (size_t i = 0; i < nr; i++) {
        if (run[i].state < 0)
            continue;
        int64_t a = run[i].from_round > k_start ? run[i].from_round : k_start;
        int64_t b = run[i].to_round < k_end ? run[i].to_round : k_end;
        for (int64_t k = a; k <= b; k++) {
            size_t x = (size_t)(k - k_start);
            any[x] = 1;
            if (run[i].glob)
                gstate[x] = run[i].state > gstate[x] ? run[i].state : gstate[x];
            else if (run[i].state == PK_ROUND_UP)
                ok[x]++;
            else if (run[i].state == PK_ROUND_DOWN)
                failed[x]++;
        }
    }
    for (int x = 0; x < n_rounds; x++) {
        if (!any[x])
            continue;
        struct store_bar_row *r = bar_add(o);
        if (!r)
            return -1;
        snprintf(r->check_name, sizeof r->check_name, "%s", run[0].check_name);
        r->bucket = x;
        r->round_us = w;
        r->ok = ok[x];
        r->failed = failed[x];
        r->last_us = (k_start + x) * w + sp;
        r->tracked = 1;
        r->global_state = gstate[x];
    }
    return 0;
}

int store_round_bars(struct store *s, int64_t end_us, int64_t now_us, int n_rounds, struct store_bar_row **rows,
                     size_t *n, char *err, size_t errlen)
{
    char end[40], nr[16], end_num[24];
    *rows = NULL;
    *n = 0;
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
    const char *params[] = {end, nr, end_num};
    const char *citus_raw[] = {end, nr, window};
    int citus = st_is_citus(s);
    if (citus && bars_citus_window(s, n_rounds, window, sizeof window, err, errlen) < 0)
        return -1;
    const struct store_query qr = {citus ? RUNS_TRACKED_CITUS_SQL : RUNS_TRACKED_SQL,
                                   2,
                                   params + 1,
                                   "dashboard: reading round runs",
                                   "dashboard: round runs",
                                   run_cols,
                                   STORE_NCOLS(run_cols),
                                   sizeof(struct bar_run)};
    const struct store_query qb = {
        citus ? "SELECT * FROM (" BARS_RAW_CITUS_SQL ") b ORDER BY name COLLATE \"C\", bucket"
              : BARS_RAW_SQL "ORDER BY c.name COLLATE \"C\", 3",
        citus ? 3 : 2,
        citus ? citus_raw : params,
        "dashboard: reading round bars",
        "dashboard: round bars",
        bar_cols,
        STORE_NCOLS(bar_cols),
        sizeof **rows};
    struct bar_run *runs = NULL;
    struct store_bar_row *raw = NULL;
    size_t nruns = 0, nraw = 0;
    struct bar_out o = {0};
    if (store_query_rows(s, &qr, (void **)&runs, &nruns, err, errlen) < 0)
        return -1;
    if (store_query_rows(s, &qb, (void **)&raw, &nraw, err, errlen) < 0) {
        free(runs);
        return -1;
    }
    qsort(runs, nruns, sizeof *runs, run_by_name);
    /* Tracked checks' rows per check in name order, merged with the raw rows
     * (in name order from PostgreSQL; a check is one or the other). */
    size_t i = 0, j = 0;
    while (i < nruns || j < nraw) {
        if (j < nraw && (i == nruns || strcmp(raw[j].check_name, runs[i].check_name) < 0)) {
            struct store_bar_row *r = bar_add(&o);
            if (!r)
                goto oom;
            *r = raw[j++];
            continue;
        }
        size_t e = i + 1;
        while (e < nruns && !strcmp(runs[e].check_name, runs[i].check_name))
            e++;
        if (tracked_bars(runs + i, e - i, n_rounds, &o) < 0)
            goto oom;
        i = e;
    }
    free(runs);
    free(raw);
    *rows = o.rows;
    *n = o.n;
    return 0;
oom:
    free(runs);
    free(raw);
    free(o.rows);
    pk_fail(err, errlen, "round bars: out of memory");
    return -1;
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
