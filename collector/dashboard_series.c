/* dashboard_series.c: the dashboard's latency series (/api/latency-series, and
 * each region's series of a check's page) and the probes' table (/api/probes).
 * A series reads rollups per bucket (store_rollup_query) on the UTC grid of its
 * width and takes each bucket's quantiles with pk_hist_quantile, so the browser
 * never computes a figure. */
#include "dashboard_int.h"
#include "json_num.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "histogram.h"
#include "picket/v1/picket.pb-c.h"
#include "rollup.h"
#include "store.h"

#define MAX_SERIES_POINTS 1500

/* The series' check (its meta), window and bucket width for w: 0, or -1 with
 * *out the error (400, 404, 503). *meta is malloc'd on success. */
struct series_plan {
    struct store_check_meta *meta;
    size_t k; /* w's check in meta */
    int64_t since, until, width;
};

static int series_plan(struct store *st, const Picket__V1__QueryWindow *w, int64_t now_us, struct series_plan *sp,
                       struct pk_http_reply *out)
{
    char err[512];
    size_t nm = 0, k = 0;
    memset(sp, 0, sizeof *sp);
    if (!w->check_name[0]) {
        dash_reply_error(out, 400, "latency-series needs check=NAME");
        return -1;
    }
    if (store_check_meta(st, &sp->meta, &nm, err, sizeof err) < 0) {
        dash_reply_store_error(out, err);
        return -1;
    }
    while (k < nm && strcmp(sp->meta[k].name, w->check_name) != 0)
        k++;
    if (k == nm) {
        free(sp->meta);
        snprintf(err, sizeof err, "check '%.128s' is not known", w->check_name);
        dash_reply_error(out, 404, err);
        return -1;
    }
    sp->k = k;
    sp->until = rollup_floor(w->until_us, ROLLUP_MINUTE_US);
    sp->since = rollup_floor(w->since_us ? w->since_us : now_us - ROLLUP_DAY_US, ROLLUP_MINUTE_US);
    if (sp->until <= sp->since) {
        free(sp->meta);
        dash_reply_error(out, 400, "the window is empty: since must be at least a minute before until");
        return -1;
    }
    /* Points on the UTC grid of their width, so that a bucket of whole hours or
     * days is read from those levels (30 days: hourly points, 720 hour rows per
     * probe instead of 43,200 minute rows); from 15 minutes the next step is an hour. */
    static const int64_t steps_min[] = {1, 2, 5, 10, 15, 60, 120, 180, 360, 720, 1440};
    int64_t span = sp->until - sp->since;
    sp->width = ROLLUP_DAY_US;
    for (size_t i = 0; i < sizeof steps_min / sizeof steps_min[0]; i++)
        if (span / (steps_min[i] * ROLLUP_MINUTE_US) <= MAX_SERIES_POINTS) {
            sp->width = steps_min[i] * ROLLUP_MINUTE_US;
            break;
        }
    while (span / sp->width > MAX_SERIES_POINTS)
        sp->width += ROLLUP_DAY_US;
    return 0;
}

/* The answer of /api/latency-series from the rollup rows of one check (and region). */
static struct json_object *series_json(const struct series_plan *sp, const struct store_rollup_row *rows, size_t n)
{
    const struct store_check_meta *m = &sp->meta[sp->k];
    struct json_object *j = json_object_new_object();
    json_object_object_add(j, "check", json_object_new_string(m->name));
    json_object_object_add(j, "since_us", json_object_new_int64(sp->since));
    json_object_object_add(j, "until_us", json_object_new_int64(sp->until));
    json_object_object_add(j, "bucket_us", json_object_new_int64(sp->width));
    json_object_object_add(j, "budget_p50_us", json_object_new_int64(m->meta.budget_p50_ms * 1000));
    json_object_object_add(j, "budget_p95_us", json_object_new_int64(m->meta.budget_p95_ms * 1000));
    json_object_object_add(j, "budget_p99_us", json_object_new_int64(m->meta.budget_p99_ms * 1000));
    /* Column arrays, as uPlot takes them: t (Unix seconds), p50, p95, p99 (ms), failed. */
    struct json_object *t = json_object_new_array_ext((int)n), *q[3], *failed = json_object_new_array_ext((int)n);
    static const double qs[3] = {0.5, 0.95, 0.99};
    for (int i = 0; i < 3; i++)
        q[i] = json_object_new_array_ext((int)n);
    for (size_t i = 0; i < n; i++) {
        json_object_array_add(t, json_object_new_int64(rows[i].bucket_start_us / 1000000));
        for (int x = 0; x < 3; x++)
            json_object_array_add(
                q[x], rows[i].hist.count ? pk_json_num(pk_hist_quantile(&rows[i].hist, qs[x]) / 1000.0) : NULL);
        json_object_array_add(failed, json_object_new_int64((int64_t)rows[i].failed));
    }
    json_object_object_add(j, "t", t);
    json_object_object_add(j, "p50_ms", q[0]);
    json_object_object_add(j, "p95_ms", q[1]);
    json_object_object_add(j, "p99_ms", q[2]);
    json_object_object_add(j, "failed", failed);
    return j;
}

void dash_latency_series(struct store *st, const Picket__V1__QueryWindow *w, int64_t now_us, struct pk_http_reply *out)
{
    char err[512];
    struct series_plan sp;
    if (series_plan(st, w, now_us, &sp, out) < 0)
        return;
    struct store_rollup_filter f = {.since_us = sp.since, .until_us = sp.until, .check = w->check_name,
                                    .region = w->region[0] ? w->region : NULL, .group = STORE_ROLLUP_BY_CHECK,
                                    .bucket_us = sp.width, .align = 1};
    struct store_rollup_row *rows = NULL;
    size_t n = 0;
    if (store_rollup_query(st, &f, &rows, &n, err, sizeof err) < 0) {
        free(sp.meta);
        dash_reply_store_error(out, err);
        return;
    }
    dash_reply_json(out, 200, series_json(&sp, rows, n));
    free(rows);
    free(sp.meta);
}

int dash_region_series(struct store *st, const Picket__V1__QueryWindow *w, int64_t now_us,
                       const char (*regions)[PK_NAME_MAX], size_t n_regions, struct pk_buf *b,
                       struct pk_http_reply *out)
{
    char err[512];
    struct series_plan sp;
    if (series_plan(st, w, now_us, &sp, out) < 0)
        return -1;
    struct store_rollup_filter f = {.since_us = sp.since, .until_us = sp.until, .check = w->check_name,
                                    .group = STORE_ROLLUP_BY_REGION, .bucket_us = sp.width, .align = 1};
    struct store_rollup_row *rows = NULL;
    size_t n = 0;
    if (store_rollup_query(st, &f, &rows, &n, err, sizeof err) < 0) {
        free(sp.meta);
        dash_reply_store_error(out, err);
        return -1;
    }
    for (size_t r = 0; r < n_regions; r++) { /* rows come sorted by region, then bucket */
        size_t first = 0, count = 0;
        while (first < n && strcmp(rows[first].group, regions[r]) != 0)
            first++;
        while (first + count < n && strcmp(rows[first + count].group, regions[r]) == 0)
            count++;
        struct json_object *j = series_json(&sp, rows + first, count);
        const char *s = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (r)
            pk_buf_addc(b, ',');
        pk_buf_add_json_string(b, regions[r], strlen(regions[r]));
        pk_buf_addc(b, ':');
        pk_buf_adds(b, s ? s : "null");
        json_object_put(j);
    }
    free(rows);
    free(sp.meta);
    return 0;
}

void dash_probes(struct store *st, int64_t now_us, struct pk_http_reply *out)
{
    char err[512];
    struct store_probe_row *rows = NULL;
    size_t n = 0;
    if (store_probe_status(st, &rows, &n, err, sizeof err) < 0) {
        dash_reply_store_error(out, err);
        return;
    }
    struct json_object *j = json_object_new_object(), *a = json_object_new_array_ext((int)n);
    json_object_object_add(j, "now_us", json_object_new_int64(now_us));
    for (size_t i = 0; i < n; i++) {
        struct json_object *p = json_object_new_object();
        json_object_object_add(p, "name", json_object_new_string(rows[i].name));
        json_object_object_add(p, "region", json_object_new_string(rows[i].region));
        json_object_object_add(p, "last_seen_us", json_object_new_int64(rows[i].last_seen_us));
        json_object_object_add(p, "pending", json_object_new_int64((int64_t)rows[i].pending));
        json_object_object_add(p, "dropped", json_object_new_int64((int64_t)rows[i].dropped));
        json_object_object_add(p, "checks_version", json_object_new_int64(rows[i].checks_version));
        json_object_object_add(p, "checks_refused_version", json_object_new_int64(rows[i].checks_refused_version));
        json_object_object_add(p, "checks_error",
                               rows[i].checks_error[0] ? json_object_new_string(rows[i].checks_error) : NULL);
        json_object_array_add(a, p);
    }
    json_object_object_add(j, "probes", a);
    free(rows);
    dash_reply_json(out, 200, j);
}

