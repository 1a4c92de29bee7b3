/* regression_rule.c: the baseline regression rule on one check's hourly series
 * (the p95 of its results, or the median of one metric it extracts), shared by
 * the alert thread (collector/alerts.c, eval_baseline) and the back-test
 * (collector/rpc_backtest.c) so that both decide alike. Reads rollups, raw
 * results for a metric (store_metric_hourly_of, store_metric_windows_of), and the
 * check's stored incidents and maintenance windows (left out of learning); owns
 * the series it returns and frees scratch memory before return. */
#include "regression_rule.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baseline_exclude.h"
#include "pk_error.h"

void regression_series_free(struct regression_series *s)
{
    free(s->t);
    free(s->y);
    free(s->excluded);
    memset(s, 0, sizeof *s);
}

/* The windows the rule leaves out of learning: those whose failed share marks them
 * as inside an incident (pk_baseline_window_excluded), and those overlapping a
 * stored incident or a maintenance window (baseline_exclude_known). With want_q also y, the
 * quantile q of the window's latencies. Read in chunks of at most
 * STORE_ROLLUP_MAX_BUCKETS windows. */
/* A whole check's hourly windows from its per-(check, hour) summaries
 * (store_check_hours_read: the counts and p95 the hourly histograms give),
 * without decoding a 9 KB histogram per hour. */
static int read_check_hours(struct store *st, const char *check, int want_q, struct regression_series *s,
                            char *err, size_t errlen)
{
    struct store_check_hour *h = NULL;
    size_t n = 0;
    int64_t end = s->from + (int64_t)s->n * s->width;
    if (store_check_hours_read(st, &check, 1, s->from, end, &h, &n, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int64_t k = (h[i].hour_us - s->from) / s->width;
        if (k < 0 || (size_t)k >= s->n)
            continue;
        if (want_q)
            s->y[k] = h[i].hist_count ? h[i].p95_us : NAN;
        s->excluded[k] = (unsigned char)pk_baseline_window_excluded(h[i].ok, h[i].degraded, h[i].failed);
    }
    free(h);
    return 0;
}

static int read_rollups(struct store *st, const char *check, const char *region, int want_q, double q,
                        struct regression_series *s, char *err, size_t errlen)
{
    if (!region && s->width == REGRESSION_HOUR_US && (!want_q || q == 0.95) && store_tracked_batch_ok(st)) {
        if (read_check_hours(st, check, want_q, s, err, errlen) < 0)
            return -1;
        return baseline_exclude_known(st, check, NULL, s->from, s->from + (int64_t)s->n * s->width, s->t, s->n,
                                      s->width, s->excluded, NULL, err, errlen);
    }
    const int64_t chunk = (int64_t)(STORE_ROLLUP_MAX_BUCKETS - 1) * s->width;
    int64_t end = s->from + (int64_t)s->n * s->width;
    for (int64_t c = s->from; c < end; c += chunk) {
        struct store_rollup_filter f = {.since_us = c, .until_us = c + chunk < end ? c + chunk : end, .check = check,
                                        .region = region, .group = STORE_ROLLUP_BY_CHECK, .bucket_us = s->width};
        struct store_rollup_row *rows = NULL;
        size_t n = 0;
        if (store_rollup_query(st, &f, &rows, &n, err, errlen) < 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            int64_t k = (rows[i].bucket_start_us - s->from) / s->width;
            if (k < 0 || (size_t)k >= s->n)
                continue;
            if (want_q)
                s->y[k] = rows[i].hist.count ? pk_hist_quantile(&rows[i].hist, q) : NAN;
            s->excluded[k] = (unsigned char)pk_baseline_window_excluded(rows[i].ok, rows[i].degraded, rows[i].failed);
        }
        free(rows);
    }
    return baseline_exclude_known(st, check, region, s->from, end, s->t, s->n, s->width, s->excluded, NULL, err,
                                  errlen);
}

static int series_alloc(struct regression_series *s, const char *check, int64_t from, int64_t to, int64_t width,
                        char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    if (to < from || from % width || to % width)
        return pk_fail(err, errlen, "regression series of %.128s: [%lld, %lld) is not whole windows", check,
                       (long long)from, (long long)to);
    s->from = from;
    s->width = width;
    s->n = (size_t)((to - from) / width);
    s->t = malloc((s->n ? s->n : 1) * sizeof *s->t);
    s->y = malloc((s->n ? s->n : 1) * sizeof *s->y);
    s->excluded = calloc(s->n ? s->n : 1, 1);
    if (!s->t || !s->y || !s->excluded) {
        regression_series_free(s);
        return pk_fail(err, errlen, "regression series of %.128s: out of memory for %lld windows", check,
                       (long long)((to - from) / width));
    }
    for (size_t i = 0; i < s->n; i++) {
        s->t[i] = from + (int64_t)i * width;
        s->y[i] = NAN;
    }
    return 0;
}

int regression_series_read(struct store *st, const char *check, const char *region, const char *metric, int64_t from,
                           int64_t to, struct regression_series *s, char *err, size_t errlen)
{
    if (series_alloc(s, check, from, to, REGRESSION_HOUR_US, err, errlen) < 0)
        return -1;
    int is_metric = metric && metric[0];
    if (read_rollups(st, check, region, !is_metric, 0.95, s, err, errlen) < 0)
        goto fail;
    if (is_metric) {
        struct store_metric_point *v = NULL;
        size_t n = 0;
        if (store_metric_hourly_of(st, check, region, metric, from, to, &v, &n, err, errlen) < 0)
            goto fail;
        for (size_t i = 0; i < n; i++) {
            int64_t k = (v[i].hour_us - from) / REGRESSION_HOUR_US;
            if (k >= 0 && (size_t)k < s->n && strcmp(v[i].metric, metric) == 0)
                s->y[k] = v[i].median;
        }
        free(v);
    }
    return 0;
fail:
    regression_series_free(s);
    return -1;
}

int regression_fast_series_read(struct store *st, const char *check, const char *region, const char *metric,
                                int64_t from, int64_t to, struct regression_series *s, char *err, size_t errlen)
{
    if (series_alloc(s, check, from, to, PK_REGRESSION_FAST_WIDTH_US, err, errlen) < 0)
        return -1;
    int is_metric = metric && metric[0];
    if (read_rollups(st, check, region, !is_metric, 0.5, s, err, errlen) < 0)
        goto fail;
    if (is_metric) {
        struct store_metric_point *v = NULL;
        size_t n = 0;
        if (store_metric_windows_of(st, check, region, metric, from, to, PK_REGRESSION_FAST_WIDTH_US, &v, &n, err,
                                    errlen) < 0)
            goto fail;
        for (size_t i = 0; i < n; i++) {
            int64_t k = (v[i].hour_us - from) / PK_REGRESSION_FAST_WIDTH_US;
            if (k >= 0 && (size_t)k < s->n)
                s->y[k] = v[i].median;
        }
        free(v);
    }
    return 0;
fail:
    regression_series_free(s);
    return -1;
}

void regression_rule_opts(double threshold, int k, int metric_dir, struct pk_regression_opts *o)
{
    pk_regression_opts_default(o);
    if (threshold > 0)
        o->det.threshold = threshold;
    if (k > 0)
        o->det.k_raise = o->det.k_clear = k;
    pk_regression_kind(o, metric_dir);
}

/* pk_regression_judge over the series' windows [split - history, end), the
 * windows before split learning; windows outside the series count as missing. */
static int judge_span(const struct regression_series *s, int64_t split, int64_t end, int64_t history,
                      const struct pk_regression_opts *o, struct pk_regression *out, pk_regression_event_fn on_event,
                      void *user, char *err, size_t errlen)
{
    const int64_t w = s->width;
    const size_t n_hist = (size_t)(history / w), n_all = (size_t)((end - split + history) / w);
    int64_t start = split - history;
    if (start % w || end % w || end < split)
        return pk_fail(err, errlen, "regression rule: [%lld, %lld) is not whole windows", (long long)start,
                       (long long)end);
    /* the common case: the whole span inside the series, judged in place */
    if (start >= s->from && end <= s->from + (int64_t)s->n * w) {
        size_t off = (size_t)((start - s->from) / w);
        return pk_regression_judge(o, s->t + off, s->y + off, s->excluded + off, n_hist, n_all, out, on_event, user,
                                   err, errlen);
    }
    int64_t *t = malloc(n_all * sizeof *t);
    double *y = malloc(n_all * sizeof *y);
    unsigned char *ex = calloc(n_all, 1);
    int rc = -1;
    if (!t || !y || !ex) {
        pk_fail(err, errlen, "regression rule: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_all; i++) {
        t[i] = start + (int64_t)i * w;
        int64_t k = (t[i] - s->from) / w;
        int inside = t[i] >= s->from && (size_t)k < s->n;
        y[i] = inside ? s->y[k] : NAN;
        ex[i] = inside ? s->excluded[k] : 0;
    }
    rc = pk_regression_judge(o, t, y, ex, n_hist, n_all, out, on_event, user, err, errlen);
out:
    free(t);
    free(y);
    free(ex);
    return rc;
}

int regression_rule_at(const struct regression_series *s, int64_t end, const struct pk_regression_opts *o,
                       struct pk_regression *out, char *err, size_t errlen)
{
    return judge_span(s, end - REGRESSION_RECENT_US, end, REGRESSION_HISTORY_US, o, out, NULL, NULL, err, errlen);
}

void regression_fast_opts(int metric_dir, struct pk_regression_opts *o)
{
    pk_regression_fast_opts(metric_dir, o);
}

int64_t regression_fast_split(int64_t end)
{
    int64_t hour = end - ((end % REGRESSION_HOUR_US) + REGRESSION_HOUR_US) % REGRESSION_HOUR_US;
    return hour - REGRESSION_FAST_RECENT_US;
}

int regression_fast_at(const struct regression_series *s, int64_t end, const struct pk_regression_opts *o,
                       struct pk_regression *out, pk_regression_event_fn on_event, void *user, char *err,
                       size_t errlen)
{
    return judge_span(s, regression_fast_split(end), end, REGRESSION_HISTORY_US, o, out, on_event, user, err, errlen);
}
