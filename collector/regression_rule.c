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
#include "rollup.h"

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

struct windows_ctx {
    struct regression_series *s;
    int want_q;
    double q;
    uint64_t *totals;
};

static int on_window(void *ctx, const struct store_rollup_entry *e)
{
    struct windows_ctx *w = ctx;
    struct regression_series *s = w->s;
    int64_t k = (e->bucket_start_us - s->from) / s->width;
    if (k < 0 || (size_t)k >= s->n)
        return 0;
    if (w->want_q)
        s->y[k] = e->hist && e->hist->count ? pk_hist_quantile(e->hist, w->q) : NAN;
    s->excluded[k] = (unsigned char)pk_baseline_window_excluded(e->ok, e->degraded, e->failed);
    if (w->totals)
        w->totals[k] = e->ok + e->degraded + e->failed + e->unknown;
    return 0;
}

/* The windows of s in [lo, hi) (window edges) from the rollups, in chunks of
 * at most STORE_ROLLUP_MAX_BUCKETS windows, each merged histogram read in
 * place; with totals, each window's count of results too (totals[k] for window
 * k of s). */
static int windows_from_rollups(struct store *st, const char *check, const char *region, int want_q, double q,
                                struct regression_series *s, int64_t lo, int64_t hi, uint64_t *totals, char *err,
                                size_t errlen)
{
    const int64_t chunk = (int64_t)(STORE_ROLLUP_MAX_BUCKETS - 1) * s->width;
    struct windows_ctx w = {s, want_q, q, totals};
    for (int64_t c = lo; c < hi; c += chunk) {
        struct store_rollup_filter f = {.since_us = c, .until_us = c + chunk < hi ? c + chunk : hi, .check = check,
                                        .region = region, .group = STORE_ROLLUP_BY_CHECK, .bucket_us = s->width,
                                        .counts_only = !want_q};
        if (store_rollup_query_each(st, &f, on_window, &w, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* learn 0: the windows are only judged, so the stored incidents and
 * maintenance windows (which matter to learning only) are not looked up. */
static int read_rollups(struct store *st, const char *check, const char *region, int want_q, double q, int learn,
                        struct regression_series *s, char *err, size_t errlen)
{
    int64_t end = s->from + (int64_t)s->n * s->width;
    if (!region && s->width == REGRESSION_HOUR_US && (!want_q || q == 0.95) && store_tracked_batch_ok(st)) {
        if (read_check_hours(st, check, want_q, s, err, errlen) < 0)
            return -1;
    } else if (!region && want_q && q == 0.5 && s->width == PK_REGRESSION_FAST_WIDTH_US &&
               regression_fast_summaries && store_tracked_batch_ok(st)) {
        if (regression_fast_from_summaries(st, check, s, err, errlen) < 0)
            return -1;
    } else if (windows_from_rollups(st, check, region, want_q, q, s, s->from, end, NULL, err, errlen) < 0) {
        return -1;
    }
    if (!learn)
        return 0;
    return baseline_exclude_known(st, check, region, s->from, end, s->t, s->n, s->width, s->excluded, NULL, err,
                                  errlen);
}

/* ------------------------------------------------ the fast half's summaries */

int regression_fast_summaries = 1;

#define FAST_PER_HOUR (REGRESSION_HOUR_US / PK_REGRESSION_FAST_WIDTH_US) /* 12 */

/* Hours ending this close to now are not stored: the compaction still rewrites them. */
#define FAST_STORE_AFTER_US (INT64_C(5) * 60 * 1000000)

/* An hour's 12 windows of s from window k0: the excluded bits, then each median's
 * float8, big-endian (migration 043). */
static void fast_encode(const struct regression_series *s, size_t k0, uint8_t *out)
{
    unsigned mask = 0;
    for (int i = 0; i < FAST_PER_HOUR; i++)
        mask |= (unsigned)(s->excluded[k0 + (size_t)i] != 0) << i;
    out[0] = (uint8_t)(mask >> 8);
    out[1] = (uint8_t)mask;
    for (int i = 0; i < FAST_PER_HOUR; i++) {
        uint64_t b;
        memcpy(&b, &s->y[k0 + (size_t)i], sizeof b);
        for (int j = 0; j < 8; j++)
            out[2 + 8 * i + j] = (uint8_t)(b >> (56 - 8 * j));
    }
}

static void fast_decode(const uint8_t *in, struct regression_series *s, size_t k0)
{
    unsigned mask = (unsigned)in[0] << 8 | in[1];
    for (int i = 0; i < FAST_PER_HOUR; i++) {
        uint64_t b = 0;
        for (int j = 0; j < 8; j++)
            b = b << 8 | in[2 + 8 * i + j];
        memcpy(&s->y[k0 + (size_t)i], &b, sizeof b);
        s->excluded[k0 + (size_t)i] = (unsigned char)(mask >> i & 1);
    }
}

/* An hour read from the minute rows: no summary stored, and some result in it
 * (a summary row, or rows not compacted yet). */
static int needs_minutes(const struct store_check_fast *e)
{
    return !e->has && (e->row || e->dirty);
}

/* The ended hours of [h, h_end) (read from the minute rows into s, with each
 * window's count in totals) that have a summary row: their summaries stored
 * back (store_check_fast_write). */
static int fast_store_back(struct store *st, const char *check, const struct regression_series *s, int64_t h,
                           int64_t h_end, const struct store_check_fast *v, int64_t h0, const uint64_t *totals,
                           char *err, size_t errlen)
{
    size_t nh = (size_t)((h_end - h) / REGRESSION_HOUR_US), n = 0, written = 0;
    int64_t *hours = malloc(nh * sizeof *hours);
    uint64_t *sums = malloc(nh * sizeof *sums);
    uint8_t (*enc)[STORE_CHECK_FAST_LEN] = malloc(nh * sizeof *enc);
    int rc = hours && sums && enc ? 0 : pk_fail(err, errlen, "fast summaries of %.128s: out of memory", check);
    int64_t stable = pk_now_us() - FAST_STORE_AFTER_US;
    for (int64_t t = h; t < h_end && rc == 0; t += REGRESSION_HOUR_US) {
        const struct store_check_fast *e = &v[(t - h0) / REGRESSION_HOUR_US];
        if (!e->row || e->dirty || t + REGRESSION_HOUR_US > stable)
            continue;
        size_t k0 = (size_t)((t - s->from) / s->width);
        uint64_t sum = 0;
        for (size_t i = 0; i < FAST_PER_HOUR; i++)
            sum += totals[k0 + i];
        hours[n] = t;
        sums[n] = sum;
        fast_encode(s, k0, enc[n]);
        n++;
    }
    if (rc == 0 && n)
        rc = store_check_fast_write(st, check, hours, sums, (const uint8_t (*)[STORE_CHECK_FAST_LEN])enc, n, &written,
                                    err, errlen);
    free(hours);
    free(sums);
    free(enc);
    return rc;
}

static int fast_hours_from_minutes(struct store *st, const char *check, struct regression_series *s, int64_t h,
                                   int64_t h_end, const struct store_check_fast *v, int64_t h0, uint64_t *totals,
                                   char *err, size_t errlen)
{
    if (windows_from_rollups(st, check, NULL, 1, 0.5, s, h, h_end, totals, err, errlen) < 0)
        return -1;
    return fast_store_back(st, check, s, h, h_end, v, h0, totals, err, errlen);
}

int regression_fast_from_summaries(struct store *st, const char *check, struct regression_series *s, char *err,
                                   size_t errlen)
{
    int64_t end = s->from + (int64_t)s->n * s->width;
    int64_t h0 = rollup_floor(s->from + REGRESSION_HOUR_US - 1, REGRESSION_HOUR_US);
    int64_t h1 = rollup_floor(end, REGRESSION_HOUR_US);
    if (h1 <= h0) /* no whole hour: the minute rows */
        return windows_from_rollups(st, check, NULL, 1, 0.5, s, s->from, end, NULL, err, errlen);
    struct store_check_fast *v = NULL;
    uint64_t *totals = calloc(s->n ? s->n : 1, sizeof *totals);
    int rc = -1;
    if (!totals) {
        pk_fail(err, errlen, "fast summaries of %.128s: out of memory", check);
        goto out;
    }
    if (store_check_fast_read(st, check, h0, h1, &v, err, errlen) < 0 ||
        (s->from < h0 && windows_from_rollups(st, check, NULL, 1, 0.5, s, s->from, h0, NULL, err, errlen) < 0) ||
        (h1 < end && windows_from_rollups(st, check, NULL, 1, 0.5, s, h1, end, NULL, err, errlen) < 0))
        goto out;
    /* stored hours decoded; each run of the others read from the minutes at once */
    for (int64_t t = h0; t < h1;) {
        const struct store_check_fast *e = &v[(t - h0) / REGRESSION_HOUR_US];
        if (e->has) {
            fast_decode(e->fast, s, (size_t)((t - s->from) / s->width));
            t += REGRESSION_HOUR_US;
            continue;
        }
        if (!needs_minutes(e)) { /* nothing compacted, nothing pending: no result in the hour */
            t += REGRESSION_HOUR_US;
            continue;
        }
        int64_t u = t + REGRESSION_HOUR_US;
        while (u < h1 && needs_minutes(&v[(u - h0) / REGRESSION_HOUR_US]))
            u += REGRESSION_HOUR_US;
        if (fast_hours_from_minutes(st, check, s, t, u, v, h0, totals, err, errlen) < 0)
            goto out;
        t = u;
    }
    rc = 0;
out:
    free(v);
    free(totals);
    return rc;
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

static int hourly_read(struct store *st, const char *check, const char *region, const char *metric, int64_t from,
                       int64_t to, int learn, struct regression_series *s, char *err, size_t errlen)
{
    if (series_alloc(s, check, from, to, REGRESSION_HOUR_US, err, errlen) < 0)
        return -1;
    int is_metric = metric && metric[0];
    if (read_rollups(st, check, region, !is_metric, 0.95, learn, s, err, errlen) < 0)
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

static int fast_read(struct store *st, const char *check, const char *region, const char *metric, int64_t from,
                     int64_t to, int learn, struct regression_series *s, char *err, size_t errlen)
{
    if (series_alloc(s, check, from, to, PK_REGRESSION_FAST_WIDTH_US, err, errlen) < 0)
        return -1;
    int is_metric = metric && metric[0];
    if (read_rollups(st, check, region, !is_metric, 0.5, learn, s, err, errlen) < 0)
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

int regression_series_read(struct store *st, const char *check, const char *region, const char *metric, int64_t from,
                           int64_t to, struct regression_series *s, char *err, size_t errlen)
{
    return hourly_read(st, check, region, metric, from, to, 1, s, err, errlen);
}

int regression_fast_series_read(struct store *st, const char *check, const char *region, const char *metric,
                                int64_t from, int64_t to, struct regression_series *s, char *err, size_t errlen)
{
    return fast_read(st, check, region, metric, from, to, 1, s, err, errlen);
}

/* ------------------------------------------- several checks' judged windows */

/* Checks per read of the minute rows: each read merges a 9 kB histogram per
 * (check, window) it holds. */
#define MANY_CHECKS_PER_READ 256

struct named {
    const char *name;
    size_t i;
};

static int named_cmp(const void *x, const void *y)
{
    return strcmp(((const struct named *)x)->name, ((const struct named *)y)->name);
}

struct many_ctx {
    struct regression_series *s; /* per check */
    uint64_t *totals;            /* per check, s->n each, or NULL */
    const struct named *by_name; /* every check, in name order */
    size_t n;
};

static int on_window_many(void *ctx, const struct store_rollup_entry *e)
{
    struct many_ctx *m = ctx;
    const struct named key = {e->check_name, 0};
    const struct named *f = bsearch(&key, m->by_name, m->n, sizeof key, named_cmp);
    if (!f)
        return 0;
    struct windows_ctx one = {&m->s[f->i], 1, 0.5, m->totals ? m->totals + f->i * m->s[f->i].n : NULL};
    return on_window(&one, e);
}

/* windows_from_rollups (latency medians, every probe) for the checks
 * checks[idx[0..k)] at once, in parts of MANY_CHECKS_PER_READ checks. */
static int windows_many(struct store *st, const char *const *checks, const size_t *idx, size_t k, struct many_ctx *m,
                        int64_t lo, int64_t hi, char *err, size_t errlen)
{
    const int64_t width = m->s[0].width, chunk = (int64_t)(STORE_ROLLUP_MAX_BUCKETS - 1) * width;
    const char *names[MANY_CHECKS_PER_READ];
    for (size_t at = 0; at < k; at += MANY_CHECKS_PER_READ) {
        size_t part = k - at < MANY_CHECKS_PER_READ ? k - at : MANY_CHECKS_PER_READ;
        for (size_t j = 0; j < part; j++)
            names[j] = checks[idx[at + j]];
        for (int64_t c = lo; c < hi; c += chunk) {
            struct store_rollup_filter f = {.since_us = c, .until_us = c + chunk < hi ? c + chunk : hi,
                                            .checks = names, .n_checks = part, .group = STORE_ROLLUP_BY_CHECK,
                                            .bucket_us = width};
            if (store_rollup_query_each(st, &f, on_window_many, m, err, errlen) < 0)
                return -1;
        }
    }
    return 0;
}

/* regression_fast_from_summaries for every s[c] (same span) at once: one read
 * of the summaries, one of each edge and one per hour some check reads from
 * its minute rows, whatever the number of checks. */
static int fast_many(struct store *st, const char *const *checks, size_t n, struct regression_series *s,
                     const struct named *by_name, char *err, size_t errlen)
{
    const int64_t from = s[0].from, end = from + (int64_t)s[0].n * s[0].width;
    const int64_t h0 = rollup_floor(from + REGRESSION_HOUR_US - 1, REGRESSION_HOUR_US);
    const int64_t h1 = rollup_floor(end, REGRESSION_HOUR_US);
    const size_t nw = s[0].n, nh = h1 > h0 ? (size_t)((h1 - h0) / REGRESSION_HOUR_US) : 0;
    struct many_ctx m = {s, NULL, by_name, n};
    struct store_check_fast *v = NULL;
    size_t *all = malloc(n * sizeof *all), *sub = malloc(n * sizeof *sub);
    int rc = -1;
    if (!all || !sub || !(m.totals = calloc(n * (nw ? nw : 1), sizeof *m.totals))) {
        pk_fail(err, errlen, "fast summaries of %zu checks: out of memory", n);
        goto out;
    }
    for (size_t c = 0; c < n; c++)
        all[c] = c;
    if (nh == 0) { /* no whole hour: the minute rows */
        rc = windows_many(st, checks, all, n, &m, from, end, err, errlen);
        goto out;
    }
    if (store_check_fast_read_many(st, checks, n, h0, h1, &v, err, errlen) < 0 ||
        (from < h0 && windows_many(st, checks, all, n, &m, from, h0, err, errlen) < 0) ||
        (h1 < end && windows_many(st, checks, all, n, &m, h1, end, err, errlen) < 0))
        goto out;
    for (size_t k = 0; k < nh; k++) {
        int64_t t = h0 + (int64_t)k * REGRESSION_HOUR_US;
        size_t w0 = (size_t)((t - from) / s[0].width), k_sub = 0;
        for (size_t c = 0; c < n; c++) {
            const struct store_check_fast *e = &v[c * nh + k];
            if (e->has)
                fast_decode(e->fast, &s[c], w0);
            else if (needs_minutes(e))
                sub[k_sub++] = c;
        }
        if (k_sub && windows_many(st, checks, sub, k_sub, &m, t, t + REGRESSION_HOUR_US, err, errlen) < 0)
            goto out;
    }
    /* each check's runs of hours read from the minutes: their summaries stored back */
    for (size_t c = 0; c < n; c++)
        for (size_t k = 0; k < nh;) {
            if (!needs_minutes(&v[c * nh + k])) {
                k++;
                continue;
            }
            size_t u = k + 1;
            while (u < nh && needs_minutes(&v[c * nh + u]))
                u++;
            if (fast_store_back(st, checks[c], &s[c], h0 + (int64_t)k * REGRESSION_HOUR_US,
                                h0 + (int64_t)u * REGRESSION_HOUR_US, v + c * nh, h0, m.totals + c * nw, err,
                                errlen) < 0)
                goto out;
            k = u;
        }
    rc = 0;
out:
    free(v);
    free(all);
    free(sub);
    free(m.totals);
    return rc;
}

/* read_check_hours for every s[c] (same span) in one read. */
static int hours_many(struct store *st, const char *const *checks, size_t n, struct regression_series *s, char *err,
                      size_t errlen)
{
    struct store_check_hour *h = NULL;
    size_t nh = 0;
    int64_t end = s[0].from + (int64_t)s[0].n * s[0].width;
    if (store_check_hours_read(st, checks, n, s[0].from, end, &h, &nh, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < nh; i++) {
        int64_t k = (h[i].hour_us - s[0].from) / s[0].width;
        if (h[i].check < 0 || (size_t)h[i].check >= n || k < 0 || (size_t)k >= s[0].n)
            continue;
        struct regression_series *x = &s[h[i].check];
        x->y[k] = h[i].hist_count ? h[i].p95_us : NAN;
        x->excluded[k] = (unsigned char)pk_baseline_window_excluded(h[i].ok, h[i].degraded, h[i].failed);
    }
    free(h);
    return 0;
}

int regression_judged_many(struct store *st, int hourly, const char *const *checks, size_t n, int64_t from,
                           int64_t to, struct regression_series *out, char *err, size_t errlen)
{
    memset(out, 0, n * sizeof *out);
    const int64_t width = hourly ? REGRESSION_HOUR_US : PK_REGRESSION_FAST_WIDTH_US;
    int batch = store_tracked_batch_ok(st) && (hourly || regression_fast_summaries);
    struct named *by_name = batch && n ? malloc(n * sizeof *by_name) : NULL;
    int rc = -1;
    if (batch && n && !by_name) {
        pk_fail(err, errlen, "judged windows of %zu checks: out of memory", n);
        goto out;
    }
    for (size_t c = 0; c < n; c++) {
        if (!batch) {
            if (regression_half_read(st, hourly, 0, checks[c], NULL, from, to, &out[c], err, errlen) < 0)
                goto out;
            continue;
        }
        if (series_alloc(&out[c], checks[c], from, to, width, err, errlen) < 0)
            goto out;
        by_name[c] = (struct named){checks[c], c};
    }
    if (batch && n) {
        qsort(by_name, n, sizeof *by_name, named_cmp);
        if ((hourly ? hours_many(st, checks, n, out, err, errlen)
                    : fast_many(st, checks, n, out, by_name, err, errlen)) < 0)
            goto out;
    }
    rc = 0;
out:
    if (rc < 0)
        for (size_t c = 0; c < n; c++)
            regression_series_free(&out[c]);
    free(by_name);
    return rc;
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

int regression_half_read(struct store *st, int hourly, int learn, const char *check, const char *metric, int64_t from,
                         int64_t to, struct regression_series *s, char *err, size_t errlen)
{
    return hourly ? hourly_read(st, check, NULL, metric, from, to, learn, s, err, errlen)
                  : fast_read(st, check, NULL, metric, from, to, learn, s, err, errlen);
}
