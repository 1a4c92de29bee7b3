/* rpc_report_batch.c: the report's trend and baseline columns for every check of
 * the answer from a few rollup reads, not two per check. The checks are taken in
 * chunks; each chunk is one store_rollup_query for the trends (points over the
 * window, at most RPC_TREND_POINTS) and one read for the baselines (hourly p95 of
 * the last 29 days): for all regions the check-hour summaries
 * (store_check_hours_read: counts and p95, no histogram; kept in memory while
 * their marks hold, rpc_baseline_cache.c), for one region the region's
 * summaries (store_region_hours_read: its packed days, migration 044, and the
 * rest from the rollups), all filtered to the chunk's checks; each check's figures come from its
 * rows by the same code as the per-check path (rpc_trend_from_rows,
 * rpc_baseline_from_rows / rpc_baseline_from_hours). A chunk is bounded so that the merged rows of one read
 * stay near RPC_BATCH_ROWS (a row holds a histogram of about 9 KB). Never
 * includes gRPC or libpq. */
#include "rpc_report_batch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "baseline_exclude.h"
#include "buf.h"
#include "pk_error.h"
#include "read_beside.h"
#include "rollup.h"
#include "rpc_baseline.h"
#include "rpc_baseline_cache.h"
#include "rpc_report_window.h"
#include "rpc_trend.h"

#define RPC_BATCH_ROWS 4000 /* about 38 MB of merged rows per read */
#define RPC_REGION_SPLIT_MIN 2 /* checks per half, at least, before a region's hours are read in two halves */

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

/* The hour summaries of checks[0..n) in region (their indexes from first on):
 * rpc_region_hours_read's work on one connection. */
struct region_part {
    const char *const *checks;
    size_t n;
    int first;
    const char *region;
    int64_t since_us, until_us;
    struct store_check_hour *out;
    size_t nout;
};

static int region_part_read(struct store *store, void *arg, char *err, size_t errlen)
{
    struct region_part *p = arg;
    if (store_region_hours_read(store, p->checks, p->n, p->region, p->since_us, p->until_us, &p->out, &p->nout, err,
                                errlen) < 0)
        return -1;
    for (size_t i = 0; i < p->nout; i++)
        p->out[i].check += p->first;
    return 0;
}

int rpc_region_hours_read(struct store *store, const char *const *checks, size_t n, const char *region,
                          int64_t since_us, int64_t until_us, struct store_check_hour **out, size_t *nout, char *err,
                          size_t errlen)
{
    *out = NULL;
    *nout = 0;
    /* Many checks: the later half read on the store's side connection at once
     * (read_beside.h; each half its own consistent read of its own checks, as
     * chunks are). */
    size_t half = n >= 2 * RPC_REGION_SPLIT_MIN ? n / 2 : n;
    struct region_part a = {checks, half, 0, region, since_us, until_us, NULL, 0};
    struct region_part b = {checks + half, n - half, (int)half, region, since_us, until_us, NULL, 0};
    struct read_beside rb;
    if (b.n)
        read_beside_start(&rb, store, region_part_read, &b);
    int rc = region_part_read(store, &a, err, errlen);
    if (b.n)
        rc = read_beside_finish(&rb, store, rc, err, errlen);
    size_t cap = 0; /* a.out's rows, then b.out's */
    struct store_check_hour *v = rc == 0 ? pk_grow(a.out, &cap, a.nout + b.nout, sizeof *v, 0) : NULL;
    if (!v) {
        free(a.out);
        free(b.out);
        return rc < 0 ? -1 : pk_fail(err, errlen, "out of memory");
    }
    if (b.nout)
        memcpy(v + a.nout, b.out, b.nout * sizeof *v);
    free(b.out);
    *out = v;
    *nout = a.nout + b.nout;
    return 0;
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
    if (rpc_baseline_cache_hours(store, names, k, bf->region, bf->since_us, bf->until_us, &h, &nh, err, errlen) < 0)
        return -1;
    for (size_t i = 0, at = 0; i < k; i++) { /* rows by check index, then hour */
        while (at < nh && h[at].check < (int)i)
            at++;
        size_t end = at;
        while (end < nh && h[end].check == (int)i)
            end++;
        if ((w && !(trends[i] = trend_of_parts(a, checks[i], w, NULL, 0, h + at, end - at, err, errlen))) ||
            (baselines &&
             !(baselines[i] =
                   rpc_baseline_from_hours(store, a, checks[i], bf->region, until_us, h + at, end - at, err, errlen)))) {
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
 * whole points only are read here (tf is then their span). The baselines, and
 * hourly trend points inside their span, come from the hour summaries (over
 * every probe, or the region's: rpc_baseline_cache_hours). */
static int one_chunk(struct store *store, struct rpc_query_arena *a, const struct store_check_meta *const *checks,
                     const char **names, size_t k, struct store_rollup_filter *tf, struct store_rollup_filter *bf,
                     int64_t until_us, const struct report_window *w, Picket__V1__CheckTrend **trends,
                     Picket__V1__BaselineState **baselines, struct row_buf *rb, char *err, size_t errlen)
{
    size_t n = 0;
    tf->checks = bf->checks = names;
    tf->n_checks = bf->n_checks = k;
    int hours_trend = w && w->width_us == ROLLUP_HOUR_US && w->inner_from_us >= bf->since_us &&
                      w->inner_to_us <= bf->until_us;
    int read_trend = !w || (!hours_trend && w->inner_to_us > w->inner_from_us), trends_done = 0;
    if (read_trend && w && w->width_us == ROLLUP_DAY_US && !bf->region) { /* whole days: their p95s as stored */
        int got = trends_from_days(store, a, checks, names, k, w, trends, err, errlen);
        if (got < 0)
            return -1;
        trends_done = got == 1;
        read_trend = !trends_done;
    }
    if (read_trend && store_rollup_query_into(store, tf, &rb->rows, &n, &rb->cap, err, errlen) < 0)
        return -1;
    if (!hours_trend && !trends_done &&
        trends_from_rows(a, checks, names, k, tf, w, rb->rows, n, trends, err, errlen) < 0)
        return -1;
    if (!baselines && !hours_trend) /* trends only, and done */
        return 0;
    return from_hours(store, a, checks, names, k, bf, until_us, hours_trend ? w : NULL, trends, baselines, err,
                      errlen);
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
    /* The baselines read hour summaries (kept in memory), not histograms: the
     * read of a chunk is the trend's. */
    size_t chunk = RPC_BATCH_ROWS / buckets_of(&tf);
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
        rc = one_chunk(store, a, checks + i, names, k, &tf, &bf, until_us, w, trends + i,
                       baselines ? baselines + i : NULL, &rb, err, errlen);
    }
    baseline_exclude_release();
    free(rb.rows);
    free(names);
    return rc;
}
