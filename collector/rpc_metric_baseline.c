/* rpc_metric_baseline.c: per-metric baselines for the report. A drop in answer
 * quality (a shorter answer, fewer sources) is a regression like a rise in
 * latency: each numeric metric a check extracts gets its hourly median judged
 * by pk_regression_judge, the rule the latency baseline uses, in both
 * directions. Reads raw results of one check (store_metric_hourly); never
 * includes gRPC; answers live in the caller's arena. */
#include "rpc_metric_baseline.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "rollup.h"

#define MAX_METRICS 8 /* PK_MAX_METRICS: a result carries at most this many */

static const char *const state_names[] = {"no_history", "learning", "normal", "regression"};

static char *astrdup(struct rpc_query_arena *a, const char *s)
{
    size_t n = strlen(s);
    char *p = rpc_query_alloc(a, n + 1);
    if (p)
        memcpy(p, s, n + 1);
    return p;
}

/* One metric's points v[0..n) (one metric, by hour) judged into mb. */
static int judge_metric(const struct store_metric_point *v, size_t n, int64_t from, size_t hours, size_t n_hist,
                        const int64_t *excluded_hours, size_t n_excluded, int64_t *t, double *y,
                        unsigned char *ex, Picket__V1__MetricBaseline *mb, char *err, size_t errlen)
{
    for (size_t i = 0; i < hours; i++) {
        t[i] = from + (int64_t)i * ROLLUP_HOUR_US;
        y[i] = NAN;
        ex[i] = 0;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t k = (v[i].hour_us - from) / ROLLUP_HOUR_US;
        if (k >= 0 && (size_t)k < hours)
            y[k] = v[i].median;
    }
    for (size_t i = 0; i < n_excluded; i++) {
        int64_t k = (excluded_hours[i] - from) / ROLLUP_HOUR_US;
        if (k >= 0 && (size_t)k < hours)
            ex[k] = 1;
    }
    struct pk_regression_opts ro;
    pk_regression_opts_default(&ro);
    ro.det.direction = PK_DIR_BOTH;
    struct pk_regression r;
    if (pk_regression_judge(&ro, t, y, ex, n_hist, hours, &r, NULL, NULL, err, errlen) < 0)
        return -1;
    mb->state = (char *)state_names[r.state];
    mb->history_points = (int64_t)r.history_points;
    mb->last_score = r.last_score;
    mb->last_value = r.last_value;
    mb->expected = r.expected;
    mb->regression = r.state == PK_REG_RAISED;
    mb->since_us = r.state == PK_REG_RAISED ? r.since_us : 0;
    return 0;
}

int rpc_metric_baselines(struct store *s, struct rpc_query_arena *a, const char *check, const char *region,
                         int64_t split, int64_t history_us, int64_t recent_us, const int64_t *excluded_hours,
                         size_t n_excluded, Picket__V1__BaselineState *bs, char *err, size_t errlen)
{
    int64_t from = split - history_us;
    size_t hours = (size_t)((history_us + recent_us) / ROLLUP_HOUR_US), n_hist = (size_t)(history_us / ROLLUP_HOUR_US);
    struct store_metric_point *v = NULL;
    size_t n = 0;
    if (store_metric_hourly(s, check, region, from, split + recent_us, &v, &n, err, errlen) < 0)
        return -1;
    int64_t *t = calloc(hours, sizeof *t);
    double *y = calloc(hours, sizeof *y);
    unsigned char *ex = calloc(hours, 1);
    size_t n_metrics = 0;
    for (size_t i = 0; i < n; i++)
        n_metrics += i == 0 || strcmp(v[i].metric, v[i - 1].metric) != 0;
    if (n_metrics > MAX_METRICS)
        n_metrics = MAX_METRICS;
    Picket__V1__MetricBaseline *items = rpc_query_alloc(a, (n_metrics ? n_metrics : 1) * sizeof *items);
    Picket__V1__MetricBaseline **ptrs = rpc_query_alloc(a, (n_metrics ? n_metrics : 1) * sizeof *ptrs);
    int rc = -1;
    if (!t || !y || !ex || !items || !ptrs) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < n && k < n_metrics;) {
        size_t j = i;
        while (j < n && strcmp(v[j].metric, v[i].metric) == 0)
            j++;
        picket__v1__metric_baseline__init(&items[k]);
        if (!(items[k].metric = astrdup(a, v[i].metric))) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        if (judge_metric(v + i, j - i, from, hours, n_hist, excluded_hours, n_excluded, t, y, ex, &items[k], err,
                         errlen) < 0)
            goto out;
        ptrs[k] = &items[k];
        k++;
        i = j;
    }
    bs->metrics = ptrs;
    bs->n_metrics = k;
    rc = 0;
out:
    free(v);
    free(t);
    free(y);
    free(ex);
    return rc;
}
