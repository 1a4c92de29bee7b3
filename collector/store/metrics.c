/* metrics.c: hourly medians of the numeric metrics a check extracts
 * (results.metrics, a jsonb object name -> number), over the successful results
 * of one check, for the per-metric baselines of the report (store_metric_hourly)
 * and the metric regression rule (store_metric_hourly_of: one metric; and
 * store_metric_windows_of: one metric in windows of any width, the rule's fast
 * half). Reads raw results of one check in a bounded window; never writes. */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/pk_error.h"

/* Rows one call returns at most: 8 metrics x 29 days of hours is 5,568. */
#define METRIC_ROWS_MAX 20000

/* The rows of r as points, and clears r: (metric, hour, median) when metric
 * is NULL, else (window, median) of that metric. */
static int metric_points(PGresult *r, const char *metric, const char *check, struct store_metric_point **out,
                         size_t *n, char *err, size_t errlen)
{
    int rows = PQntuples(r), c = metric ? 0 : 1;
    if (rows > METRIC_ROWS_MAX)
        rows = METRIC_ROWS_MAX;
    struct store_metric_point *v = calloc(rows ? (size_t)rows : 1, sizeof *v);
    if (!v) {
        PQclear(r);
        return pk_fail(err, errlen, "metrics of check %.128s: out of memory", check);
    }
    for (int i = 0; i < rows; i++) {
        snprintf(v[i].metric, sizeof v[i].metric, "%s", metric ? metric : PQgetvalue(r, i, 0));
        v[i].hour_us = strtoll(PQgetvalue(r, i, c), NULL, 10);
        v[i].median = strtod(PQgetvalue(r, i, c + 1), NULL);
    }
    PQclear(r);
    *out = v;
    *n = (size_t)rows;
    return 0;
}

int store_metric_hourly(struct store *s, const char *check, const char *region, int64_t since_us, int64_t until_us,
                        struct store_metric_point **out, size_t *n, char *err, size_t errlen)
{
    return store_metric_hourly_of(s, check, region, NULL, since_us, until_us, out, n, err, errlen);
}

int store_metric_hourly_of(struct store *s, const char *check, const char *region, const char *metric,
                           int64_t since_us, int64_t until_us, struct store_metric_point **out, size_t *n, char *err,
                           size_t errlen)
{
    *out = NULL;
    *n = 0;
    char since[64], until[64];
    if (st_format_timestamp(since, sizeof since, since_us) < 0 || st_format_timestamp(until, sizeof until, until_us) < 0)
        return pk_fail(err, errlen, "metrics of check %.128s: window out of range", check);
    const char *params[5] = {check, since, until, region, metric};
    st_ensure_ready(s);
    PGresult *r = st_run(s,
                         "SELECT m.key, (extract(epoch FROM date_trunc('hour', r.started_at AT TIME ZONE 'UTC')) "
                         "* 1000000)::bigint, percentile_cont(0.5) WITHIN GROUP (ORDER BY (m.value)::text::float8) "
                         "FROM results r JOIN checks c ON c.id = r.check_id JOIN probes p ON p.id = r.probe_id "
                         "CROSS JOIN LATERAL jsonb_each(r.metrics) m "
                         "WHERE c.name = $1 AND r.started_at >= $2::timestamptz AND r.started_at < $3::timestamptz "
                         "AND r.metrics IS NOT NULL AND r.outcome IN (1, 2) AND jsonb_typeof(m.value) = 'number' "
                         "AND ($4::text IS NULL OR p.region = $4) AND ($5::text IS NULL OR m.key = $5) "
                         "GROUP BY 1, 2 ORDER BY m.key COLLATE \"C\", 2 LIMIT 20000",
                         5, params, PGRES_TUPLES_OK, "reading metrics", err, errlen);
    if (!r)
        return -1;
    return metric_points(r, NULL, check, out, n, err, errlen);
}

int store_metric_windows_of(struct store *s, const char *check, const char *region, const char *metric,
                            int64_t since_us, int64_t until_us, int64_t width_us, struct store_metric_point **out,
                            size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    char since[64], until[64], width[32];
    if (width_us <= 0 || !metric || !metric[0])
        return pk_fail(err, errlen, "metric windows of check %.128s: a metric and a width > 0 are needed", check);
    if (st_format_timestamp(since, sizeof since, since_us) < 0 || st_format_timestamp(until, sizeof until, until_us) < 0)
        return pk_fail(err, errlen, "metrics of check %.128s: window out of range", check);
    snprintf(width, sizeof width, "%lld", (long long)width_us);
    const char *params[6] = {check, since, until, region, metric, width};
    st_ensure_ready(s);
    /* a result's window: (microseconds since the epoch / width) x width, in integers */
    PGresult *r = st_run(s,
                         "SELECT w, percentile_cont(0.5) WITHIN GROUP (ORDER BY v) FROM ("
                         "SELECT ((extract(epoch FROM r.started_at) * 1000000)::bigint / $6::bigint) * $6::bigint AS w, "
                         "(r.metrics -> $5)::text::float8 AS v "
                         "FROM results r JOIN checks c ON c.id = r.check_id JOIN probes p ON p.id = r.probe_id "
                         "WHERE c.name = $1 AND r.started_at >= $2::timestamptz AND r.started_at < $3::timestamptz "
                         "AND r.outcome IN (1, 2) AND jsonb_typeof(r.metrics -> $5) = 'number' "
                         "AND ($4::text IS NULL OR p.region = $4)) x GROUP BY 1 ORDER BY 1 LIMIT 20000",
                         6, params, PGRES_TUPLES_OK, "reading metric windows", err, errlen);
    if (!r)
        return -1;
    return metric_points(r, metric, check, out, n, err, errlen);
}
