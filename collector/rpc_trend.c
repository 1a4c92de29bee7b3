/* rpc_trend.c: the trend figures of QueryService (Trend, and the report's trend
 * column): a check's hourly p95 and error rate over the window, on the UTC hour
 * grid, through Theil–Sen (docs/ANALYTICS.md, "Trend"). No gRPC: the answer is
 * built in the query's arena. */
#include "rpc_trend.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "analytics.h"
#include "pk_error.h"
#include "rollup.h"
#include "rpc_query_arena.h"

static Picket__V1__TrendFigure *trend_figure(struct rpc_query_arena *a, const int64_t *t, const double *y, size_t n)
{
    Picket__V1__TrendFigure *f = ralloc(a, sizeof *f);
    if (!f)
        return NULL;
    picket__v1__trend_figure__init(f);
    struct pk_trend tr;
    char why[200];
    size_t points = 0;
    for (size_t i = 0; i < n; i++)
        points += !isnan(y[i]);
    f->points = (int64_t)points;
    f->median = f->slope_per_day = f->lo_per_day = f->hi_per_day = NAN;
    f->pct_per_day = f->pct_lo = f->pct_hi = NAN;
    f->direction = (char *)"";
    if (pk_trend_theil_sen(t, y, n, 0.95, &tr, why, sizeof why) < 0)
        return f; /* too few points: no data */
    f->median = tr.median;
    f->slope_per_day = tr.slope_per_day;
    f->lo_per_day = tr.lo_per_day;
    f->hi_per_day = tr.hi_per_day;
    f->pct_per_day = tr.pct_per_day;
    f->pct_lo = tr.pct_lo;
    f->pct_hi = tr.pct_hi;
    if (!isnan(tr.lo_per_day) && !isnan(tr.hi_per_day))
        f->direction = (char *)(tr.lo_per_day > 0 ? "up" : tr.hi_per_day < 0 ? "down" : "flat");
    return f;
}

int64_t rpc_trend_width(int64_t since_us, int64_t until_us)
{
    int64_t width = ROLLUP_HOUR_US, window = until_us - since_us;
    while (window / width > PK_TREND_MAX_POINTS)
        width += ROLLUP_HOUR_US;
    if (window < width) /* under an hour: minutes */
        width = ROLLUP_MINUTE_US;
    return width;
}

void rpc_trend_filter(int64_t since_us, int64_t until_us, const char *region, struct store_rollup_filter *f)
{
    *f = (struct store_rollup_filter){.since_us = since_us, .until_us = until_us, .region = region,
                                      .group = STORE_ROLLUP_BY_CHECK, .bucket_us = rpc_trend_point_width(since_us, until_us),
                                      .align = 1}; /* whole hours and days: their levels, not minutes */
}

int64_t rpc_trend_point_width(int64_t since_us, int64_t until_us)
{
    int64_t read = rpc_trend_width(since_us, until_us), window = until_us - since_us;
    /* Under ten days: hours (at most 240); from ten days on: whole UTC days
     * (at least ten points, read from the day rows already merged over probes). */
    if (read < ROLLUP_HOUR_US ||
        (window < RPC_TREND_DAYS_FROM * ROLLUP_DAY_US && window / read <= RPC_TREND_POINTS))
        return read;
    int64_t unit = window >= RPC_TREND_DAYS_FROM * ROLLUP_DAY_US ? ROLLUP_DAY_US : ROLLUP_HOUR_US;
    int64_t k = (window / unit + RPC_TREND_POINTS - 1) / RPC_TREND_POINTS; /* units per point */
    return k * unit;
}

Picket__V1__CheckTrend *rpc_trend_from_points(struct rpc_query_arena *a, const struct store_check_meta *m,
                                              const struct rpc_trend_point *p, size_t n, char *err, size_t errlen)
{
    Picket__V1__CheckTrend *ct = ralloc(a, sizeof *ct), *ret = NULL;
    int64_t *t = calloc(n ? n : 1, sizeof *t);
    double *p95 = calloc(n ? n : 1, sizeof *p95), *er = calloc(n ? n : 1, sizeof *er);
    if (!ct || !t || !p95 || !er)
        goto oom;
    picket__v1__check_trend__init(ct);
    ct->check_name = rstrdup(a, m->name);
    ct->service = rstrdup(a, m->service);
    for (size_t i = 0; i < n; i++) {
        t[i] = p[i].t;
        p95[i] = p[i].p95_us;
        er[i] = p[i].good + p[i].bad ? (double)p[i].bad / (double)(p[i].good + p[i].bad) : NAN;
    }
    ct->p95_us = trend_figure(a, t, p95, n);
    ct->error_rate = trend_figure(a, t, er, n);
    if (!ct->check_name || !ct->service || !ct->p95_us || !ct->error_rate)
        goto oom;
    ret = ct;
    goto out;
oom:
    pk_fail(err, errlen, "out of memory");
out:
    free(t);
    free(p95);
    free(er);
    return ret;
}

void rpc_trend_point_of(int64_t t, const struct pk_hist *h, uint64_t ok, uint64_t degraded, uint64_t failed,
                        struct rpc_trend_point *p)
{
    p->t = t;
    p->p95_us = h->count ? pk_hist_quantile(h, 0.95) : NAN;
    p->good = ok + degraded;
    p->bad = failed;
}

Picket__V1__CheckTrend *rpc_trend_from_rows(struct rpc_query_arena *a, const struct store_check_meta *m,
                                            const struct store_rollup_row *rows, size_t n, int64_t since_us,
                                            int64_t until_us, char *err, size_t errlen)
{
    struct rpc_trend_point *p = calloc(n ? n : 1, sizeof *p);
    struct pk_hist *h = malloc(sizeof *h);
    Picket__V1__CheckTrend *ret = NULL;
    if (!p || !h) {
        pk_fail(err, errlen, "out of memory");
        goto out;
    }
    /* The read's buckets (hours) merged into points of the point width, on its
     * UTC grid, the first labelled with the window's start (as the read labels
     * a clipped bucket); with no widening each bucket is its own point. */
    int64_t width = rpc_trend_point_width(since_us, until_us), first = rollup_floor(since_us, ROLLUP_MINUTE_US);
    size_t np = 0;
    for (size_t i = 0; i < n;) {
        int64_t key = rollup_floor(rows[i].bucket_start_us, width);
        size_t j = i;
        uint64_t ok = 0, degraded = 0, failed = 0;
        for (; j < n && rollup_floor(rows[j].bucket_start_us, width) == key; j++) {
            ok += rows[j].ok;
            degraded += rows[j].degraded;
            failed += rows[j].failed;
        }
        if (j > i + 1) {
            pk_hist_init(h);
            for (size_t k = i; k < j; k++)
                pk_hist_merge(h, &rows[k].hist);
        }
        const struct pk_hist *one = j == i + 1 ? &rows[i].hist : h; /* a point of one bucket: no copy */
        rpc_trend_point_of(key > first ? key : first, one, ok, degraded, failed, &p[np++]);
        i = j;
    }
    (void)until_us;
    ret = rpc_trend_from_points(a, m, p, np, err, errlen);
out:
    free(p);
    free(h);
    return ret;
}

/* Hourly p95 and error rate over the window (wider points for windows over
 * RPC_TREND_POINTS hours), through Theil–Sen. */
Picket__V1__CheckTrend *rpc_trend_of(struct store *store, struct rpc_query_arena *a, const struct store_check_meta *m,
                                     int64_t since_us, int64_t until_us, const char *region, char *err, size_t errlen)
{
    struct store_rollup_row *rows = NULL;
    size_t n = 0;
    struct store_rollup_filter f;
    rpc_trend_filter(since_us, until_us, region, &f);
    f.check = m->name;
    if (store_rollup_query(store, &f, &rows, &n, err, errlen) < 0)
        return NULL;
    Picket__V1__CheckTrend *ct = rpc_trend_from_rows(a, m, rows, n, since_us, until_us, err, errlen);
    free(rows);
    return ct;
}
