/* rpc_report_batch.c: the report's trend and baseline columns for every check of
 * the answer from a few rollup reads, not two per check. The checks are taken in
 * chunks; each chunk is one store_rollup_query for the trends (points over the
 * window, at most RPC_TREND_POINTS) and one read for the baselines (hourly p95 of
 * the last 29 days): for all regions the check-hour summaries
 * (store_check_hours_read: counts and p95, no histogram; kept in memory while
 * their marks hold, rpc_baseline_cache.c), for one region a
 * rollup read (shared with the trend's when that is hourly and covers the 29
 * days), all filtered to the chunk's checks; each check's figures come from its
 * rows by the same code as the per-check path (rpc_trend_from_rows,
 * rpc_baseline_from_rows / rpc_baseline_from_hours). A chunk is bounded so that the merged rows of one read
 * stay near RPC_BATCH_ROWS (a row holds a histogram of about 9 KB). Never
 * includes gRPC or libpq. */
#include "rpc_report_batch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "baseline_exclude.h"
#include "pk_error.h"
#include "rollup.h"
#include "rpc_baseline.h"
#include "rpc_baseline_cache.h"
#include "rpc_report_window.h"
#include "rpc_trend.h"

#define RPC_BATCH_ROWS 4000 /* about 38 MB of merged rows per read */

/* The rows of one check in rows (sorted by check name, then bucket). */
static void rows_of(const struct store_rollup_row *rows, size_t n, const char *check, size_t *first, size_t *count)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(rows[mid].check_name, check) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < n && strcmp(rows[end].check_name, check) == 0)
        end++;
    *first = lo;
    *count = end - lo;
}

static size_t buckets_of(const struct store_rollup_filter *f)
{
    int64_t since = rollup_floor(f->since_us, ROLLUP_MINUTE_US), until = rollup_floor(f->until_us, ROLLUP_MINUTE_US);
    int64_t origin = f->align ? since - since % f->bucket_us : since;
    return until > origin ? (size_t)((until - origin + f->bucket_us - 1) / f->bucket_us) : 1;
}

/* The trend of a check read in parts (w->split): its clipped first point,
 * its whole points from rows (one per point) or from hour summaries, its
 * clipped last point. */
static Picket__V1__CheckTrend *trend_of_parts(struct rpc_query_arena *a, const struct store_check_meta *m,
                                              const struct report_window *w, const struct store_rollup_row *rows,
                                              size_t nr, const struct store_check_hour *h, size_t nh, char *err,
                                              size_t errlen)
{
    struct rpc_trend_point *p = calloc(nr + nh + 2, sizeof *p);
    if (!p) {
        pk_fail(err, errlen, "out of memory");
        return NULL;
    }
    size_t np = 0;
    const struct report_edge *e = report_window_edge(w, m->name);
    if (e && e->has_first)
        p[np++] = e->first;
    for (size_t i = 0; i < nr; i++) /* read with p95_only */
        p[np++] = (struct rpc_trend_point){rows[i].bucket_start_us, rows[i].p95_us, rows[i].ok + rows[i].degraded,
                                           rows[i].failed};
    for (size_t i = 0; i < nh; i++)
        if (h[i].hour_us >= w->inner_from_us && h[i].hour_us < w->inner_to_us)
            p[np++] = (struct rpc_trend_point){h[i].hour_us, h[i].hist_count ? h[i].p95_us : NAN,
                                               h[i].ok + h[i].degraded, h[i].failed};
    if (e && e->has_last)
        p[np++] = e->last;
    Picket__V1__CheckTrend *t = rpc_trend_from_points(a, m, p, np, err, errlen);
    free(p);
    return t;
}

/* The trends of checks[0..k) whose whole points are days over all regions,
 * from the check-day rows' p95s: 1 done, 0 not (days not compacted yet:
 * read the histograms), -1 with err. */
static int trends_from_days(struct store *store, struct rpc_query_arena *a,
                            const struct store_check_meta *const *checks, const char **names, size_t k,
                            const struct report_window *w, Picket__V1__CheckTrend **trends, char *err,
                            size_t errlen)
{
    struct store_check_hour *d = NULL;
    size_t nd = 0;
    int partial = 0;
    if (store_check_days_p95(store, names, k, w->inner_from_us, w->inner_to_us, &d, &nd, &partial, err, errlen) < 0)
        return -1;
    for (size_t i = 0, at = 0; !partial && i < k; i++) { /* rows by check index, then day */
        size_t end = at;
        while (end < nd && d[end].check == (int)i)
            end++;
        if (!(trends[i] = trend_of_parts(a, checks[i], w, NULL, 0, d + at, end - at, err, errlen))) {
            free(d);
            return -1;
        }
        at = end;
    }
    free(d);
    return partial ? 0 : 1;
}

/* The trends of checks[0..k) from the rows of tf (each check's in bucket
 * order): whole ones, or with w the whole points between w's edges. */
static int trends_from_rows(struct rpc_query_arena *a, const struct store_check_meta *const *checks,
                            const char **names, size_t k, const struct store_rollup_filter *tf,
                            const struct report_window *w, const struct store_rollup_row *rows, size_t n,
                            Picket__V1__CheckTrend **trends, char *err, size_t errlen)
{
    size_t first, count;
    for (size_t i = 0; i < k; i++) {
        rows_of(rows, n, names[i], &first, &count);
        trends[i] = w ? trend_of_parts(a, checks[i], w, rows + first, count, NULL, 0, err, errlen)
                      : rpc_trend_from_rows(a, checks[i], rows + first, count, tf->since_us, tf->until_us, err,
                                            errlen);
        if (!trends[i])
            return -1;
    }
    return 0;
}

/* The baselines (baselines not NULL) and, with w, the hourly trends of
 * checks[0..k) from their hour summaries over bf's span. */
static int from_hours(struct store *store, struct rpc_query_arena *a, const struct store_check_meta *const *checks,
                      const char **names, size_t k, const struct store_rollup_filter *bf, int64_t until_us,
                      const struct report_window *w, Picket__V1__CheckTrend **trends,
                      Picket__V1__BaselineState **baselines, char *err, size_t errlen)
{
    struct store_check_hour *h = NULL;
    size_t nh = 0;
    if (rpc_baseline_cache_hours(store, names, k, bf->since_us, bf->until_us, &h, &nh, err, errlen) < 0)
        return -1;
    for (size_t i = 0, at = 0; i < k; i++) { /* rows by check index, then hour */
        while (at < nh && h[at].check < (int)i)
            at++;
        size_t end = at;
        while (end < nh && h[end].check == (int)i)
            end++;
        if ((w && !(trends[i] = trend_of_parts(a, checks[i], w, NULL, 0, h + at, end - at, err, errlen))) ||
            (baselines &&
             !(baselines[i] = rpc_baseline_from_hours(store, a, checks[i], until_us, h + at, end - at, err, errlen)))) {
            free(h);
            return -1;
        }
    }
    free(h);
    return 0;
}

/* The rows of a chunk's reads, kept from one chunk to the next (store_rollup_query_into). */
struct row_buf {
    struct store_rollup_row *rows;
    size_t cap;
};

/* One chunk: checks[0..k) with names[0..k); w: the window read in parts, whose
 * whole points only are read here (tf is then their span). */
static int one_chunk(struct store *store, struct rpc_query_arena *a, const struct store_check_meta *const *checks,
                     const char **names, size_t k, struct store_rollup_filter *tf, struct store_rollup_filter *bf,
                     int use_hours, int64_t until_us, const char *region, const struct report_window *w,
                     Picket__V1__CheckTrend **trends, Picket__V1__BaselineState **baselines,
                     struct row_buf *rb, char *err, size_t errlen)
{
    size_t n = 0, first, count;
    tf->checks = bf->checks = names;
    tf->n_checks = bf->n_checks = k;
    /* whole hourly points inside the baselines' span: from its hour summaries */
    int hours_trend = w && use_hours && w->width_us == ROLLUP_HOUR_US && w->inner_from_us >= bf->since_us &&
                      w->inner_to_us <= bf->until_us;
    int read_trend = !w || (!hours_trend && w->inner_to_us > w->inner_from_us), trends_done = 0;
    if (read_trend && w && w->width_us == ROLLUP_DAY_US && use_hours) { /* whole days: their p95s as stored */
        int got = trends_from_days(store, a, checks, names, k, w, trends, err, errlen);
        if (got < 0)
            return -1;
        trends_done = got == 1;
        read_trend = !trends_done;
    }
    if (read_trend && store_rollup_query_into(store, tf, &rb->rows, &n, &rb->cap, err, errlen) < 0)
        return -1;
    const struct store_rollup_row *rows = rb->rows;
    if (!hours_trend && !trends_done &&
        trends_from_rows(a, checks, names, k, tf, w, rows, n, trends, err, errlen) < 0)
        return -1;
    if (!baselines && !hours_trend) /* trends only, and done */
        return 0;
    if (use_hours) /* the baselines from the hour summaries: no histogram */
        return from_hours(store, a, checks, names, k, bf, until_us, hours_trend ? w : NULL, trends, baselines, err,
                          errlen);
    /* Hourly trend points from at or before the baseline's first hour hold the
     * baseline's rows already (whole hours on the same grid): no second read. */
    int shared = !tf->p95_only && tf->bucket_us == ROLLUP_HOUR_US &&
                 rollup_floor(tf->since_us, ROLLUP_MINUTE_US) <= bf->since_us &&
                 rollup_floor(tf->until_us, ROLLUP_MINUTE_US) >= bf->until_us;
    if (!shared) {
        if (store_rollup_query_into(store, bf, &rb->rows, &n, &rb->cap, err, errlen) < 0)
            return -1;
        rows = rb->rows;
    }
    for (size_t i = 0; i < k; i++) {
        rows_of(rows, n, names[i], &first, &count);
        while (shared && count > 0 && rows[first].bucket_start_us < bf->since_us) {
            first++;
            count--;
        }
        while (shared && count > 0 && rows[first + count - 1].bucket_start_us >= bf->until_us)
            count--;
        if (!(baselines[i] = rpc_baseline_from_rows(store, a, checks[i], region, until_us, 0, rows + first, count,
                                                    err, errlen)))
            return -1;
    }
    return 0;
}

int rpc_report_batch(struct store *store, struct rpc_query_arena *a, const struct store_check_meta *const *checks, size_t n,
                     int64_t since_us, int64_t until_us, const char *region, Picket__V1__CheckTrend **trends,
                     Picket__V1__BaselineState **baselines, char *err, size_t errlen)
{
    return rpc_report_batch_window(store, a, checks, n, since_us, until_us, region, NULL, trends, baselines, err,
                                   errlen);
}

int rpc_report_batch_window(struct store *store, struct rpc_query_arena *a,
                            const struct store_check_meta *const *checks, size_t n, int64_t since_us,
                            int64_t until_us, const char *region, const struct report_window *w,
                            Picket__V1__CheckTrend **trends, Picket__V1__BaselineState **baselines, char *err,
                            size_t errlen)
{
    struct store_rollup_filter tf, bf;
    rpc_trend_filter(since_us, until_us, region, &tf);
    rpc_baseline_filter(until_us, region, &bf);
    if (w && !w->split)
        w = NULL;
    if (w) { /* the whole points only, each a p95: the edges were read with the window */
        tf.since_us = w->inner_from_us;
        tf.until_us = w->inner_to_us;
        tf.p95_only = 1;
    }
    /* All regions: the baselines read the check-hour summaries (rollup_check_hour),
     * not histograms; the read of a chunk is then the trend's. */
    int use_hours = !region;
    size_t per_check = buckets_of(&tf) > buckets_of(&bf) || use_hours ? buckets_of(&tf) : buckets_of(&bf);
    size_t chunk = RPC_BATCH_ROWS / per_check;
    if (chunk < 1)
        chunk = 1;
    const char **names = calloc(chunk, sizeof *names);
    if (!names)
        return pk_fail(err, errlen, "out of memory");
    int rc = baseline_exclude_hold(store, err, errlen); /* the maintenance windows once, not per check */
    struct row_buf rb = {NULL, 0};
    for (size_t i = 0; i < n && rc == 0; i += chunk) {
        size_t k = n - i < chunk ? n - i : chunk;
        for (size_t j = 0; j < k; j++)
            names[j] = checks[i + j]->name;
        rc = one_chunk(store, a, checks + i, names, k, &tf, &bf, use_hours, until_us, region, w, trends + i,
                       baselines ? baselines + i : NULL, &rb, err, errlen);
    }
    baseline_exclude_release();
    free(rb.rows);
    free(names);
    return rc;
}
