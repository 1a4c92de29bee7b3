/* rpc_baseline.c: the report's baseline column (BaselineState): the check's
 * hourly p95 judged by pk_regression_judge, the rule the alert thread and
 * back-testing run, and, for a report of one check, the same rule on every
 * numeric metric the check extracts, both ways (a drop in answer quality is a
 * regression like a rise in latency). Reads rollups, and raw results for the
 * metrics of one check (store_metric_hourly), and the check's stored incidents and
 * maintenance windows (left out of learning, baseline_exclude.h); never includes gRPC; answers live
 * in the caller's arena. */
#include "rpc_baseline.h"

#include <math.h>
#include <pthread.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "baseline_exclude.h"
#include "rollup.h"

#define BASELINE_HISTORY_US (28 * ROLLUP_DAY_US)
#define BASELINE_RECENT_US ROLLUP_DAY_US

static const char *const state_names[] = {"no_history", "learning", "normal", "regression"};

#define MAX_METRICS 8 /* PK_MAX_METRICS: a result carries at most this many */

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
    pk_regression_kind(&ro, PK_REGRESSION_METRIC_DIR); /* as a metric rule judges it by default */
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

/* Hourly medians of check's metrics over [split - history, split + recent): the
 * hours before split learn, the rest are judged (a drop is deviant, as for a
 * metric rule's default direction); hours
 * whose start is in excluded_hours are left out of learning. Fills bs->metrics. */
static int metric_baselines(struct store *s, struct rpc_query_arena *a, const char *check, const char *region,
                            int64_t split, const int64_t *excluded_hours, size_t n_excluded,
                            Picket__V1__BaselineState *bs, char *err, size_t errlen)
{
    const int64_t history_us = BASELINE_HISTORY_US, recent_us = BASELINE_RECENT_US;
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

void rpc_baseline_filter(int64_t until_us, const char *region, struct store_rollup_filter *f)
{
    int64_t split = rollup_floor(until_us, ROLLUP_HOUR_US) - BASELINE_RECENT_US;
    *f = (struct store_rollup_filter){.since_us = split - BASELINE_HISTORY_US, .until_us = split + BASELINE_RECENT_US,
                                      .region = region, .group = STORE_ROLLUP_BY_CHECK, .bucket_us = ROLLUP_HOUR_US,
                                      .p95_only = 1}; /* each hour's p95 is all a baseline needs */
}

/* One hour of the baseline's series: its start, p95 (NaN: no latency) and counts. */
struct hour_point {
    int64_t t;
    double p95;
    uint64_t ok, degraded, failed;
};

/* The all-regions verdicts of the batch report remembered per check with the
 * inputs they were judged from (hours, p95s, exclusions), so that the next
 * report with the same inputs (the dashboard's refresh, the next command in the
 * same hour) reuses the verdict instead of learning the 28 days' medians again.
 * The inputs are compared whole, not by a digest: a hit is the same verdict
 * pk_regression_judge would give. A check's entry holds its last inputs only. */
struct verdict_memo {
    char name[PK_NAME_MAX + 130]; /* the check's name, or name and region (memo_key) */
    int64_t split;
    size_t n, n_hist;
    int64_t *t;
    double *y;
    unsigned char *ex;
    int rc;
    struct pk_regression reg;
};
#define VERDICT_MEMO_MAX 20000 /* entries kept before all are dropped (retired checks) */
static pthread_mutex_t memo_mu = PTHREAD_MUTEX_INITIALIZER;
static void *memo_root;
static size_t memo_n;
static uint64_t memo_hits, memo_misses;

static int memo_cmp(const void *a, const void *b)
{
    return strcmp(((const struct verdict_memo *)a)->name, ((const struct verdict_memo *)b)->name);
}

static void memo_free(void *p)
{
    struct verdict_memo *e = p;
    free(e->t);
    free(e);
}

/* 1 and *reg, rc filled when name's remembered inputs equal these. */
static int memo_get(const char *name, int64_t split, const int64_t *t, const double *y, const unsigned char *ex,
                    size_t n_hist, size_t n, struct pk_regression *reg, int *rc)
{
    struct verdict_memo key;
    snprintf(key.name, sizeof key.name, "%s", name);
    int hit = 0;
    pthread_mutex_lock(&memo_mu);
    void *const *f = tfind(&key, &memo_root, memo_cmp);
    const struct verdict_memo *e = f ? *f : NULL;
    if (e && e->split == split && e->n == n && e->n_hist == n_hist && !memcmp(e->t, t, n * sizeof *t) &&
        !memcmp(e->y, y, n * sizeof *y) && !memcmp(e->ex, ex, n)) {
        *reg = e->reg;
        *rc = e->rc;
        hit = 1;
    }
    if (hit)
        memo_hits++;
    else
        memo_misses++;
    pthread_mutex_unlock(&memo_mu);
    return hit;
}

/* Remembers the verdict; out of memory only forgets. */
static void memo_put(const char *name, int64_t split, const int64_t *t, const double *y, const unsigned char *ex,
                     size_t n_hist, size_t n, const struct pk_regression *reg, int rc)
{
    struct verdict_memo *e = calloc(1, sizeof *e);
    size_t bytes = n * (sizeof *t + sizeof *y + 1);
    void *block = malloc(bytes ? bytes : 1);
    if (!e || !block) {
        free(e);
        free(block);
        return;
    }
    snprintf(e->name, sizeof e->name, "%s", name);
    e->split = split, e->n = n, e->n_hist = n_hist, e->rc = rc, e->reg = *reg;
    e->t = block;
    e->y = (double *)(e->t + n);
    e->ex = (unsigned char *)(e->y + n);
    memcpy(e->t, t, n * sizeof *t);
    memcpy(e->y, y, n * sizeof *y);
    memcpy(e->ex, ex, n);
    pthread_mutex_lock(&memo_mu);
    if (memo_n >= VERDICT_MEMO_MAX) {
        tdestroy(memo_root, memo_free);
        memo_root = NULL;
        memo_n = 0;
    }
    void *const *f = tfind(e, &memo_root, memo_cmp);
    if (f) { /* replace the older inputs in place */
        struct verdict_memo *old = *f, tmp = *old;
        *old = *e;
        *e = tmp;
    } else if (tsearch(e, &memo_root, memo_cmp)) {
        e = NULL;
        memo_n++;
    }
    pthread_mutex_unlock(&memo_mu);
    if (e)
        memo_free(e);
}

void rpc_baseline_memo_counts(uint64_t *hits, uint64_t *misses)
{
    pthread_mutex_lock(&memo_mu);
    *hits = memo_hits;
    *misses = memo_misses;
    pthread_mutex_unlock(&memo_mu);
}

void rpc_baseline_memo_clear(void)
{
    pthread_mutex_lock(&memo_mu);
    tdestroy(memo_root, memo_free);
    memo_root = NULL;
    memo_n = 0;
    pthread_mutex_unlock(&memo_mu);
}

/* Hourly p95 of the 28 days before the last 24 hours (ending at the window's
 * until) is the history; the last 24 hourly p95s are judged by
 * pk_regression_judge, the rule the alert thread runs too. Hours whose failed
 * share marks them as inside an incident, and hours overlapping a stored
 * incident or a maintenance window, are left out of learning. memo: the
 * all-regions verdict may come from, and goes to, the verdict memo (the batch
 * report's; the per-check path judges every time). */
static Picket__V1__BaselineState *baseline_from_points(struct store *store, struct rpc_query_arena *a,
                                                       const struct store_check_meta *m, const char *region,
                                                       int64_t until_us, int with_metrics, int memo,
                                                       const struct hour_point *pts, size_t n, char *err,
                                                       size_t errlen)
{
    Picket__V1__BaselineState *bs = rpc_query_alloc(a, sizeof *bs);
    int64_t *t = NULL;
    double *y = NULL;
    unsigned char *excluded = NULL;
    if (!bs)
        goto oom;
    picket__v1__baseline_state__init(bs);
    bs->last_score = bs->expected_p95_us = bs->last_p95_us = NAN;
    int64_t split = rollup_floor(until_us, ROLLUP_HOUR_US) - BASELINE_RECENT_US;
    t = calloc(n ? n : 1, sizeof *t);
    y = calloc(n ? n : 1, sizeof *y);
    excluded = calloc(n ? n : 1, 1);
    if (!t || !y || !excluded)
        goto oom;
    size_t n_hist = 0;
    for (size_t i = 0; i < n; i++) {
        t[i] = pts[i].t;
        y[i] = pts[i].p95;
        /* inside an incident as far as the hour's counts tell; stored incidents and
         * maintenance windows below */
        excluded[i] = (unsigned char)pk_baseline_window_excluded(pts[i].ok, pts[i].degraded, pts[i].failed);
        if (t[i] < split)
            n_hist++;
    }
    if (baseline_exclude_known(store, m->name, region, split - BASELINE_HISTORY_US, split + BASELINE_RECENT_US, t, n,
                               ROLLUP_HOUR_US, excluded, NULL, err, errlen) < 0) {
        bs = NULL;
        goto out;
    }
    struct pk_regression_opts ro;
    pk_regression_opts_default(&ro);
    struct pk_regression reg;
    char why[200];
    int rc;
    char key[sizeof ((struct verdict_memo *)0)->name];
    if (region)
        snprintf(key, sizeof key, "%s\x1f%s", m->name, region);
    else
        snprintf(key, sizeof key, "%s", m->name);
    if (!memo || !memo_get(key, split, t, y, excluded, n_hist, n, &reg, &rc)) {
        rc = pk_regression_judge(&ro, t, y, excluded, n_hist, n, &reg, NULL, NULL, why, sizeof why);
        if (memo)
            memo_put(key, split, t, y, excluded, n_hist, n, &reg, rc);
    }
    if (rc == 0) {
        bs->history_points = (int64_t)reg.history_points;
        bs->windows = (int64_t)reg.windows;
        bs->last_score = reg.last_score;
        bs->last_p95_us = reg.last_value;
        bs->expected_p95_us = reg.expected;
        bs->regression = reg.state == PK_REG_RAISED;
        bs->since_us = reg.state == PK_REG_RAISED ? reg.since_us : 0;
        bs->excluded_points = (int64_t)reg.excluded_points;
        bs->state = (char *)state_names[reg.state];
    }
    /* Metrics come from raw results: only when the report is for one check. */
    if (with_metrics) {
        size_t n_ex = 0;
        for (size_t i = 0; i < n; i++)
            if (excluded[i])
                t[n_ex++] = t[i]; /* t is not needed any more: reuse it for the excluded hours */
        if (metric_baselines(store, a, m->name, region, split, t, n_ex, bs, err, errlen) < 0)
            bs = NULL;
    }
out:
    free(t);
    free(y);
    free(excluded);
    return bs;
oom:
    free(t);
    free(y);
    free(excluded);
    snprintf(err, errlen, "out of memory");
    return NULL;
}

Picket__V1__BaselineState *rpc_baseline_from_rows(struct store *store, struct rpc_query_arena *a,
                                                  const struct store_check_meta *m, const char *region,
                                                  int64_t until_us, int with_metrics,
                                                  const struct store_rollup_row *rows, size_t n, char *err,
                                                  size_t errlen)
{
    struct hour_point *pts = calloc(n ? n : 1, sizeof *pts);
    if (!pts) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) { /* rows read with p95_only carry their p95, the others their histogram */
        double p95 = !rows[i].hist.count ? NAN : !isnan(rows[i].p95_us) ? rows[i].p95_us
                                                                          : pk_hist_quantile(&rows[i].hist, 0.95);
        pts[i] = (struct hour_point){rows[i].bucket_start_us, p95, rows[i].ok, rows[i].degraded, rows[i].failed};
    }
    Picket__V1__BaselineState *bs =
        baseline_from_points(store, a, m, region, until_us, with_metrics, 0, pts, n, err, errlen);
    free(pts);
    return bs;
}

Picket__V1__BaselineState *rpc_baseline_from_hours(struct store *store, struct rpc_query_arena *a,
                                                   const struct store_check_meta *m, const char *region,
                                                   int64_t until_us, const struct store_check_hour *h, size_t n,
                                                   char *err, size_t errlen)
{
    struct hour_point *pts = calloc(n ? n : 1, sizeof *pts);
    if (!pts) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        pts[i] = (struct hour_point){h[i].hour_us, h[i].hist_count ? h[i].p95_us : NAN, h[i].ok, h[i].degraded,
                                     h[i].failed};
    Picket__V1__BaselineState *bs = baseline_from_points(store, a, m, region, until_us, 0, 1, pts, n, err, errlen);
    free(pts);
    return bs;
}

Picket__V1__BaselineState *rpc_baseline_state(struct store *store, struct rpc_query_arena *a,
                                              const struct store_check_meta *m, const char *region, int64_t until_us,
                                              int with_metrics, char *err, size_t errlen)
{
    struct store_rollup_row *rows = NULL;
    size_t n = 0;
    struct store_rollup_filter f;
    rpc_baseline_filter(until_us, region, &f);
    f.check = m->name;
    if (store_rollup_query(store, &f, &rows, &n, err, errlen) < 0)
        return NULL;
    Picket__V1__BaselineState *bs =
        rpc_baseline_from_rows(store, a, m, region, until_us, with_metrics, rows, n, err, errlen);
    free(rows);
    return bs;
}
