/* regression_rule.c: the baseline regression rule on one check's hourly series
 * (the p95 of its results, or the median of one metric it extracts), shared by
 * the alert thread (collector/alerts.c, eval_baseline) and the back-test
 * (collector/rpc_backtest.c) so that both decide alike. Reads rollups, and raw
 * results for a metric (store_metric_hourly_of); owns the series it returns and
 * frees scratch memory before return. */
#include "regression_rule.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pk_error.h"

void regression_series_free(struct regression_series *s)
{
    free(s->t);
    free(s->y);
    free(s->excluded);
    memset(s, 0, sizeof *s);
}

/* The hours the rule leaves out of learning: the hour's failed share marks it as
 * inside an incident (pk_baseline_window_excluded). With want_p95 also y. */
static int read_rollups(struct store *st, const char *check, const char *region, int want_p95,
                        struct regression_series *s, char *err, size_t errlen)
{
    struct store_rollup_filter f = {.since_us = s->from, .until_us = s->from + (int64_t)s->n * REGRESSION_HOUR_US,
                                    .check = check, .region = region, .group = STORE_ROLLUP_BY_CHECK,
                                    .bucket_us = REGRESSION_HOUR_US};
    struct store_rollup_row *rows = NULL;
    size_t n = 0;
    if (store_rollup_query(st, &f, &rows, &n, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int64_t k = (rows[i].bucket_start_us - s->from) / REGRESSION_HOUR_US;
        if (k < 0 || (size_t)k >= s->n)
            continue;
        if (want_p95)
            s->y[k] = rows[i].hist.count ? pk_hist_quantile(&rows[i].hist, 0.95) : NAN;
        s->excluded[k] = (unsigned char)pk_baseline_window_excluded(rows[i].ok, rows[i].degraded, rows[i].failed);
    }
    free(rows);
    return 0;
}

int regression_series_read(struct store *st, const char *check, const char *region, const char *metric, int64_t from,
                           int64_t to, struct regression_series *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    if (to < from || from % REGRESSION_HOUR_US || to % REGRESSION_HOUR_US)
        return pk_fail(err, errlen, "regression series of %.128s: [%lld, %lld) is not whole hours", check,
                       (long long)from, (long long)to);
    s->from = from;
    s->n = (size_t)((to - from) / REGRESSION_HOUR_US);
    s->t = malloc((s->n ? s->n : 1) * sizeof *s->t);
    s->y = malloc((s->n ? s->n : 1) * sizeof *s->y);
    s->excluded = calloc(s->n ? s->n : 1, 1);
    if (!s->t || !s->y || !s->excluded) {
        regression_series_free(s);
        return pk_fail(err, errlen, "regression series of %.128s: out of memory for %zu hours", check,
                       (size_t)((to - from) / REGRESSION_HOUR_US));
    }
    for (size_t i = 0; i < s->n; i++) {
        s->t[i] = from + (int64_t)i * REGRESSION_HOUR_US;
        s->y[i] = NAN;
    }
    int is_metric = metric && metric[0];
    if (read_rollups(st, check, region, !is_metric, s, err, errlen) < 0)
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

void regression_rule_opts(double threshold, int k, int metric, struct pk_regression_opts *o)
{
    pk_regression_opts_default(o);
    if (threshold > 0)
        o->det.threshold = threshold;
    if (k > 0)
        o->det.k_raise = o->det.k_clear = k;
    o->det.direction = metric ? PK_DIR_BOTH : PK_DIR_UP;
}

int regression_rule_at(const struct regression_series *s, int64_t end, const struct pk_regression_opts *o,
                       struct pk_regression *out, char *err, size_t errlen)
{
    const size_t n_hist = (size_t)(REGRESSION_HISTORY_US / REGRESSION_HOUR_US);
    const size_t n_all = (size_t)((REGRESSION_HISTORY_US + REGRESSION_RECENT_US) / REGRESSION_HOUR_US);
    int64_t start = end - REGRESSION_RECENT_US - REGRESSION_HISTORY_US;
    if (end % REGRESSION_HOUR_US)
        return pk_fail(err, errlen, "regression rule: end %lld is not a whole hour", (long long)end);
    /* the common case: the whole span inside the series, judged in place */
    if (start >= s->from && end <= s->from + (int64_t)s->n * REGRESSION_HOUR_US) {
        size_t off = (size_t)((start - s->from) / REGRESSION_HOUR_US);
        return pk_regression_judge(o, s->t + off, s->y + off, s->excluded + off, n_hist, n_all, out, NULL, NULL, err,
                                   errlen);
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
        t[i] = start + (int64_t)i * REGRESSION_HOUR_US;
        int64_t k = (t[i] - s->from) / REGRESSION_HOUR_US;
        int inside = t[i] >= s->from && (size_t)k < s->n;
        y[i] = inside ? s->y[k] : NAN;
        ex[i] = inside ? s->excluded[k] : 0;
    }
    rc = pk_regression_judge(o, t, y, ex, n_hist, n_all, out, NULL, NULL, err, errlen);
out:
    free(t);
    free(y);
    free(ex);
    return rc;
}
