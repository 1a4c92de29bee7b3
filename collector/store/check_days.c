/* check_days.c: store_check_days_p95, the counts and p95 of whole days of many
 * checks over every probe (rollup_check_day, migration 010) for a trend's
 * daily points. The p95 is taken from each stored histogram where it lies
 * (pk_hist_encoded_quantile), so 30 days of 1,000 checks are 30,000 short
 * rows and no decoded histogram. Days that still have rows in rollup_partial,
 * or are not closed (rollup_days.c: no day rows yet), are not whole: the
 * caller is told and reads through store_rollup_query, which adds them. One
 * snapshot for both reads. */
#include "store_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "histogram.h"
#include "pk_error.h"

static int rows_of(PGresult *r, struct store_check_hour **out, size_t *nout, char *err, size_t errlen)
{
    size_t n = (size_t)PQntuples(r);
    struct store_check_hour *v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return pk_fail(err, errlen, "check days: out of memory");
    for (size_t i = 0; i < n; i++) {
        struct store_check_hour *h = &v[i];
        h->check = (int)st_bin_i64(r, (int)i, 0);
        h->hour_us = st_bin_ts(r, (int)i, 1);
        h->ok = (uint64_t)st_bin_i64(r, (int)i, 2);
        h->degraded = (uint64_t)st_bin_i64(r, (int)i, 3);
        h->failed = (uint64_t)st_bin_i64(r, (int)i, 4);
        h->unknown = (uint64_t)st_bin_i64(r, (int)i, 5);
        h->p95_us = pk_hist_encoded_quantile((const uint8_t *)PQgetvalue(r, (int)i, 6),
                                             (size_t)PQgetlength(r, (int)i, 6), 0.95, &h->hist_count);
        if (isnan(h->p95_us)) {
            free(v);
            return pk_fail(err, errlen, "check days: row %zu: stored histogram is not valid", i);
        }
        if (h->hist_count == 0)
            h->p95_us = NAN;
    }
    *out = v;
    *nout = n;
    return 0;
}

int store_check_days_p95(struct store *s, const char *const *checks, size_t n, int64_t since_us, int64_t until_us,
                         struct store_check_hour **out, size_t *nout, int *partial, char *err, size_t errlen)
{
    char *names = NULL, a[64], b[64];
    PGresult *r = NULL;
    int rc = -1;
    *out = NULL;
    *nout = 0;
    *partial = 0;
    if (n == 0)
        return 0;
    if (st_format_timestamp(a, sizeof a, since_us) < 0 || st_format_timestamp(b, sizeof b, until_us) < 0)
        return pk_fail(err, errlen, "check days: window out of range");
    if (!(names = st_strings_json((char *const *)checks, n)))
        return pk_fail(err, errlen, "check days: out of memory");
    st_ensure_ready(s);
    if (st_run_cmd(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, "check days: BEGIN", err, errlen) <
        0)
        goto out;
    const char *pp[] = {a, b};
    r = st_run(s,
               "SELECT EXISTS (SELECT 1 FROM rollup_partial WHERE minute >= $1::timestamptz "
               "AND minute < $2::timestamptz) OR $2::timestamptz > "
               "(SELECT upto FROM rollup_watermark WHERE name = 'days')",
               2, pp, PGRES_TUPLES_OK, "check days: partial rows", err, errlen);
    if (!r)
        goto out;
    *partial = PQgetisnull(r, 0, 0) || PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    r = NULL;
    if (*partial) {
        rc = 0;
        goto out;
    }
    char cnt[24];
    const char *p[] = {names, a, b, st_count(cnt, n)};
    r = PQexecParams(s->conn,
                     "SELECT (w.ord - 1)::bigint, d.day, d.ok, d.degraded, d.failed, d.unknown, d.hist "
                     "FROM " ST_NAMES_ROWS("$1", "$4") " "
                     "JOIN checks c ON c.name = w.name JOIN rollup_check_day d ON d.check_id = c.id "
                     "AND d.day >= $2::timestamptz AND d.day < $3::timestamptz ORDER BY 1, 2",
                     4, NULL, p, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        st_pg_err(s, r, "check days: reading", err, errlen);
        goto out;
    }
    rc = rows_of(r, out, nout, err, errlen);
out:
    st_rollback(s); /* read only */
    PQclear(r);
    free(names);
    return rc;
}
