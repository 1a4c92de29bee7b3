/* check_hours.c: rollup_check_hour (migrations/027_rollup_check_hour.sql), one
 * summary row per (check, hour) over every probe: the hour's counts and the
 * p95 of its histogram merged over the probes. Written whenever rollup_hour
 * rows are (st_check_hours_refresh, from st_write_level, in the same
 * transaction), filled for existing history by migration 027
 * (st_fill_check_hours), and read for many checks at once by the report's
 * baseline (store_check_hours_read). Hours with rows still in rollup_partial
 * are not summarised yet: the reader reads those through store_rollup_query,
 * so the answer is what the histograms give, exactly. A rewrite of an hour
 * that has ended raises the check's counter in check_hour_marks (migration
 * 028), which the collector's baseline cache compares (store_check_hours_marks).
 * Every rewrite clears the row's fast-half summary (migration 043,
 * check_fast.c): it was computed from the minute rows before. */
#include "store_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pk_error.h"

#define FILL_SPAN_US ROLLUP_DAY_US /* migration 027 reads rollup_hour a day at a time */

/* Merges r's rows (check_id, hour, ok, degraded, failed, unknown, hist; binary)
 * per (check, hour) and upserts their summaries; with mark, raises the
 * check_hour_marks counter of every check that had an hour rewritten that has
 * ended (migration 028: what the report's baseline cache checks). */
static int summarise(struct store *s, PGresult *r, int mark, const char *what, char *err, size_t errlen)
{
    struct rollup_merge *m = rollup_merge_new();
    struct pk_buf v[8];
    for (int k = 0; k < 8; k++)
        pk_buf_init(&v[k], (size_t)1 << 30);
    int rc = -1;
    if (!m)
        goto oom;
    for (int i = 0; i < PQntuples(r); i++) {
        struct rollup_counts c = {(uint64_t)st_bin_i64(r, i, 2), (uint64_t)st_bin_i64(r, i, 3),
                                  (uint64_t)st_bin_i64(r, i, 4), (uint64_t)st_bin_i64(r, i, 5)};
        if (rollup_merge_add(m, st_bin_i64(r, i, 0), 0, st_bin_ts(r, i, 1), &c, (const uint8_t *)PQgetvalue(r, i, 6),
                             (size_t)PQgetlength(r, i, 6)) < 0) {
            pk_fail(err, errlen, "%s: check id %" PRId64 ": stored histogram is not valid", what, st_bin_i64(r, i, 0));
            goto out;
        }
    }
    size_t n = rollup_merge_count(m);
    if (n == 0) {
        rc = 0;
        goto out;
    }
    for (int k = 0; k < 8; k++)
        pk_buf_addc(&v[k], '{');
    for (size_t i = 0; i < n; i++) {
        const struct rollup_entry *e = rollup_merge_entry(m, i);
        char ts[64];
        if (st_format_timestamp(ts, sizeof ts, e->t) < 0) {
            pk_fail(err, errlen, "%s: hour out of range", what);
            goto out;
        }
        const char *sep = i ? "," : "";
        pk_buf_addf(&v[0], "%s%" PRId64, sep, e->a);
        pk_buf_addf(&v[1], "%s\"%s\"", sep, ts);
        pk_buf_addf(&v[2], "%s%" PRIu64, sep, e->counts.ok);
        pk_buf_addf(&v[3], "%s%" PRIu64, sep, e->counts.degraded);
        pk_buf_addf(&v[4], "%s%" PRIu64, sep, e->counts.failed);
        pk_buf_addf(&v[5], "%s%" PRIu64, sep, e->counts.unknown);
        pk_buf_addf(&v[6], "%s%" PRIu64, sep, e->hist->count);
        if (e->hist->count)
            pk_buf_addf(&v[7], "%s%.17g", sep, pk_hist_quantile(e->hist, 0.95));
        else
            pk_buf_addf(&v[7], "%sNULL", sep);
    }
    for (int k = 0; k < 8; k++)
        if (pk_buf_addc(&v[k], '}') < 0)
            goto oom;
    const char *p[8];
    for (int k = 0; k < 8; k++)
        p[k] = v[k].data;
    /* A rewrite clears the fast-half summary (migration 043). Migration 027's
     * fill (mark 0) writes a table it has just made, before 043 may exist. */
#define UPSERT_SQL(clear)                                                                                           \
    "INSERT INTO rollup_check_hour (check_id, hour, ok, degraded, failed, unknown, hist_count, p95_us) "             \
    "SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::bigint[], $4::bigint[], $5::bigint[], "              \
    "$6::bigint[], $7::bigint[], $8::float8[]) "                                                                    \
    "ON CONFLICT (check_id, hour) DO UPDATE SET ok = EXCLUDED.ok, degraded = EXCLUDED.degraded, "                   \
    "failed = EXCLUDED.failed, unknown = EXCLUDED.unknown, hist_count = EXCLUDED.hist_count, "                      \
    "p95_us = EXCLUDED.p95_us" clear
    if (st_run_cmd(s, mark ? UPSERT_SQL(", fast = NULL") : UPSERT_SQL(""), 8, p, what, err, errlen) < 0)
        goto out;
    /* each raise with the earliest hour it is for (migration 038) */
    if (mark && st_run_cmd(s,
                           "WITH k AS (SELECT u.c, min(u.h) AS h FROM unnest($1::bigint[], $2::timestamptz[]) u(c, h) "
                           "WHERE u.h < date_trunc('hour', now()) GROUP BY u.c), "
                           "m AS (INSERT INTO check_hour_marks (check_id, seq) SELECT c, 1::bigint FROM k "
                           "ON CONFLICT (check_id) DO UPDATE SET seq = check_hour_marks.seq + 1 "
                           "RETURNING check_id, seq) "
                           "INSERT INTO check_hour_rewrites (check_id, seq, hour) "
                           "SELECT m.check_id, m.seq, k.h FROM m JOIN k ON k.c = m.check_id",
                           2, p, what, err, errlen) < 0)
        goto out;
    /* the packed days of those summaries (migration 039) */
    if (mark && st_check_hour_days_repack(s, p[0], p[1], err, errlen) < 0)
        goto out;
    rc = 0;
    goto out;
oom:
    pk_fail(err, errlen, "%s: out of memory", what);
out:
    rollup_merge_free(m);
    for (int k = 0; k < 8; k++)
        pk_buf_free(&v[k]);
    return rc;
}

static int by_check_hour(const void *x, const void *y)
{
    const int64_t *a = x, *b = y;
    if (a[0] != b[0])
        return a[0] < b[0] ? -1 : 1;
    return (a[1] > b[1]) - (a[1] < b[1]);
}

int st_check_hours_refresh(struct store *s, const struct lrow *rows, size_t n, char *err, size_t errlen)
{
    const char *what = "summarising rollup_check_hour";
    if (n == 0)
        return 0;
    int64_t *keys = malloc(n * 2 * sizeof *keys);
    char *ids = NULL, *hours = NULL;
    struct pk_buf hb;
    pk_buf_init(&hb, (size_t)1 << 30);
    int rc = -1;
    if (!keys)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        keys[2 * i] = rows[i].c;
        keys[2 * i + 1] = rows[i].t;
    }
    qsort(keys, n, 2 * sizeof *keys, by_check_hour);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || by_check_hour(&keys[2 * i], &keys[2 * (k - 1)]) != 0) {
            keys[2 * k] = keys[2 * i];
            keys[2 * k + 1] = keys[2 * i + 1];
            k++;
        }
    int64_t *cid = malloc(k * sizeof *cid);
    if (!cid)
        goto oom;
    pk_buf_addc(&hb, '{');
    for (size_t i = 0; i < k; i++) {
        char ts[64];
        cid[i] = keys[2 * i];
        if (st_format_timestamp(ts, sizeof ts, keys[2 * i + 1]) < 0) {
            free(cid);
            pk_fail(err, errlen, "%s: hour out of range", what);
            goto out;
        }
        pk_buf_addf(&hb, "%s\"%s\"", i ? "," : "", ts);
    }
    ids = st_bigint_array(cid, k);
    free(cid);
    if (pk_buf_addc(&hb, '}') < 0 || !ids)
        goto oom;
    hours = hb.data;
    const char *p[] = {ids, hours};
    PGresult *r = PQexecParams(s->conn,
                               "SELECT r.check_id, r.hour, r.ok, r.degraded, r.failed, r.unknown, r.hist "
                               "FROM unnest($1::bigint[], $2::timestamptz[]) k(c, t) "
                               "JOIN rollup_hour r ON r.check_id = k.c AND r.hour = k.t",
                               2, NULL, p, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        st_pg_err(s, r, what, err, errlen);
        PQclear(r);
        goto out;
    }
    rc = summarise(s, r, 1, what, err, errlen);
    PQclear(r);
    goto out;
oom:
    pk_fail(err, errlen, "%s: out of memory", what);
out:
    free(keys);
    free(ids);
    pk_buf_free(&hb);
    return rc;
}

int st_fill_check_hours(struct store *s, char *err, size_t errlen)
{
    const char *what = "migration 027: summarising rollup_hour";
    PGresult *span = st_run(s,
                            "SELECT (extract(epoch FROM min(hour)) * 1000000)::bigint, "
                            "(extract(epoch FROM max(hour)) * 1000000)::bigint FROM rollup_hour",
                            0, NULL, PGRES_TUPLES_OK, what, err, errlen);
    if (!span)
        return -1;
    int rc = 0;
    if (!PQgetisnull(span, 0, 0)) {
        int64_t lo = rollup_floor(strtoll(PQgetvalue(span, 0, 0), NULL, 10), FILL_SPAN_US);
        int64_t hi = strtoll(PQgetvalue(span, 0, 1), NULL, 10);
        for (int64_t t = lo; t <= hi && rc == 0; t += FILL_SPAN_US) {
            char a[64], b[64];
            if (st_format_timestamp(a, sizeof a, t) < 0 || st_format_timestamp(b, sizeof b, t + FILL_SPAN_US) < 0) {
                rc = pk_fail(err, errlen, "%s: hour out of range", what);
                break;
            }
            const char *p[] = {a, b};
            PGresult *r = PQexecParams(s->conn,
                                       "SELECT check_id, hour, ok, degraded, failed, unknown, hist FROM rollup_hour "
                                       "WHERE hour >= $1::timestamptz AND hour < $2::timestamptz",
                                       2, NULL, p, NULL, NULL, 1);
            if (PQresultStatus(r) != PGRES_TUPLES_OK) {
                st_pg_err(s, r, what, err, errlen);
                rc = -1;
            } else {
                rc = summarise(s, r, 0, what, err, errlen);
            }
            PQclear(r);
        }
    }
    PQclear(span);
    return rc;
}

/* ---- the reader */

#define HOUR_COL(field, kind) STORE_FIELD(struct store_check_hour, field, kind)
static const struct store_col hour_cols[] = {
    HOUR_COL(check, INT),       HOUR_COL(hour_us, I64),   HOUR_COL(ok, U64),         HOUR_COL(degraded, U64),
    HOUR_COL(failed, U64),      HOUR_COL(unknown, U64),   HOUR_COL(hist_count, U64), HOUR_COL(p95_us, DOUBLE),
};

int st_check_hour_cmp(const void *x, const void *y)
{
    const struct store_check_hour *a = x, *b = y;
    if (a->check != b->check)
        return a->check < b->check ? -1 : 1;
    return (a->hour_us > b->hour_us) - (a->hour_us < b->hour_us);
}

/* Checks per rollup read: their merged entries stay near 4,000
 * (rpc_report_batch.c's bound). */
#define HOURS_READ_ROWS 4000

int st_hours_from_rollups(struct store *s, const char *const *checks, size_t n, const char *region, int64_t from,
                          int64_t to, struct store_check_hour **rows, size_t *nrows, size_t *cap, char *err,
                          size_t errlen)
{
    if (to <= from)
        return 0;
    size_t kept = 0; /* the summaries outside [from, to) */
    for (size_t i = 0; i < *nrows; i++)
        if ((*rows)[i].hour_us < from || (*rows)[i].hour_us >= to)
            (*rows)[kept++] = (*rows)[i];
    *nrows = kept;
    struct store_rollup_filter f = {.since_us = from, .until_us = to, .region = region,
                                    .group = STORE_ROLLUP_BY_CHECK, .bucket_us = ROLLUP_HOUR_US, .align = 1,
                                    .p95_only = 1};
    size_t hours = (size_t)((to - from + ROLLUP_HOUR_US - 1) / ROLLUP_HOUR_US) + 1;
    size_t chunk = HOURS_READ_ROWS / hours ? HOURS_READ_ROWS / hours : 1, nr = 0, cap_rows = 0;
    struct store_rollup_row *rr = NULL;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i += chunk) {
        f.checks = checks + i;
        f.n_checks = n - i < chunk ? n - i : chunk;
        if ((rc = store_rollup_query_into(s, &f, &rr, &nr, &cap_rows, err, errlen)) < 0)
            break;
        struct store_check_hour *v = pk_grow(*rows, cap, *nrows + nr, sizeof *v, 0);
        if (!v) {
            rc = pk_fail(err, errlen, "check hours: out of memory");
            break;
        }
        *rows = v;
        for (size_t k = 0; k < nr; k++) {
            int c = -1;
            for (size_t j = 0; j < f.n_checks && c < 0; j++) /* the chunk's checks: a short scan */
                if (strcmp(f.checks[j], rr[k].check_name) == 0)
                    c = (int)(i + j);
            if (c >= 0)
                v[(*nrows)++] = (struct store_check_hour){c, rr[k].bucket_start_us, rr[k].ok, rr[k].degraded,
                                                          rr[k].failed, rr[k].unknown, rr[k].hist.count,
                                                          rr[k].p95_us};
        }
    }
    free(rr);
    return rc;
}

PGresult *st_dirty_hours(struct store *s, int64_t since_us, int64_t until_us, char *err, size_t errlen)
{
    char a[64], b[64];
    if (st_format_timestamp(a, sizeof a, since_us) < 0 || st_format_timestamp(b, sizeof b, until_us) < 0) {
        pk_fail(err, errlen, "partial rows: window out of range");
        return NULL;
    }
    const char *p[] = {a, b};
    return st_run(s,
                  "SELECT DISTINCT (extract(epoch FROM date_trunc('hour', minute)) * 1000000)::bigint AS h "
                  "FROM rollup_partial WHERE minute >= $1::timestamptz AND minute < $2::timestamptz ORDER BY 1",
                  2, p, PGRES_TUPLES_OK, "partial rows: reading their hours", err, errlen);
}

int store_check_hours_read(struct store *s, const char *const *checks, size_t n, int64_t since_us, int64_t until_us,
                           struct store_check_hour **out, size_t *nout, char *err, size_t errlen)
{
    *out = NULL;
    *nout = 0;
    char *names = NULL, a[64], b[64];
    PGresult *dirty = NULL;
    int rc = -1;
    size_t cap = 0;
    if (n == 0)
        return 0;
    if (st_format_timestamp(a, sizeof a, since_us) < 0 || st_format_timestamp(b, sizeof b, until_us) < 0)
        return pk_fail(err, errlen, "check hours: window out of range");
    if (!(names = st_strings_json((char *const *)checks, n)))
        return pk_fail(err, errlen, "check hours: out of memory");
    /* Whole ended days packed (migration 039) first; the rest of the window
     * from the summaries, so that each hour comes from one of the two. */
    struct store_check_hour *packed = NULL;
    size_t npacked = 0, cap_packed = 0;
    int64_t pa, pb;
    char ta[64], tb[64];
    if (st_check_hour_days_read(s, names, n, NULL, since_us, until_us, &packed, &npacked, &cap_packed, &pa, &pb, err,
                                errlen) < 0) {
        free(packed);
        goto out;
    }
    if (st_format_timestamp(ta, sizeof ta, pa) < 0 || st_format_timestamp(tb, sizeof tb, pb) < 0) {
        free(packed);
        pk_fail(err, errlen, "check hours: window out of range");
        goto out;
    }
    char cnt[24];
    const char *p[] = {names, a, b, ta, tb, st_count(cnt, n)};
    const struct store_query q = {
        /* Two ranges around the packed days, each an index range per check
         * (one range with the days filtered out reads every hour of them). */
        "WITH w AS (SELECT (w.ord - 1)::int AS k, c.id FROM " ST_NAMES_ROWS("$1", "$6") " "
        "JOIN checks c ON c.name = w.name) "
        "SELECT w.k AS \"check\", (extract(epoch FROM h.hour) * 1000000)::bigint AS hour_us, h.ok, h.degraded, "
        "h.failed, h.unknown, h.hist_count, coalesce(h.p95_us, 'NaN'::float8) AS p95_us "
        "FROM w JOIN rollup_check_hour h ON h.check_id = w.id AND h.hour >= $2::timestamptz "
        "AND h.hour < $4::timestamptz "
        "UNION ALL SELECT w.k, (extract(epoch FROM h.hour) * 1000000)::bigint, h.ok, h.degraded, h.failed, "
        "h.unknown, h.hist_count, coalesce(h.p95_us, 'NaN'::float8) "
        "FROM w JOIN rollup_check_hour h ON h.check_id = w.id AND h.hour >= $5::timestamptz "
        "AND h.hour < $3::timestamptz",
        6,
        p,
        "check hours: reading",
        "check hours",
        hour_cols,
        STORE_NCOLS(hour_cols),
        sizeof **out};
    if (store_query_rows(s, &q, (void **)out, nout, err, errlen) < 0) {
        free(packed);
        goto out;
    }
    cap = *nout;
    if (npacked) {
        struct store_check_hour *v = pk_grow(*out, &cap, *nout + npacked, sizeof *v, 0);
        if (!v) {
            free(packed);
            pk_fail(err, errlen, "check hours: out of memory");
            goto out;
        }
        memcpy(v + *nout, packed, npacked * sizeof *v);
        *out = v;
        *nout += npacked;
    }
    free(packed);
    /* Hours that still have partial rows (not compacted yet, or late results)
     * are read from the histograms, with those rows. */
    if (!(dirty = st_dirty_hours(s, since_us, until_us, err, errlen)))
        goto out;
    for (int i = 0; i < PQntuples(dirty); i++) {
        int64_t h = strtoll(PQgetvalue(dirty, i, 0), NULL, 10);
        int64_t from = h > since_us ? h : since_us, to = h + ROLLUP_HOUR_US < until_us ? h + ROLLUP_HOUR_US : until_us;
        if (st_hours_from_rollups(s, checks, n, NULL, from, to, out, nout, &cap, err, errlen) < 0)
            goto out;
    }
    qsort(*out, *nout, sizeof **out, st_check_hour_cmp);
    rc = 0;
out:
    if (rc < 0) {
        free(*out);
        *out = NULL;
        *nout = 0;
    }
    PQclear(dirty);
    free(names);
    return rc;
}

/* ---- the marks (migration 028) */

int store_check_hours_marks(struct store *s, const char *const *checks, size_t n, int64_t since_us, int64_t until_us,
                            struct store_check_mark *marks, int *dirty, char *err, size_t errlen)
{
    char *names = NULL, a[64], b[64];
    PGresult *r = NULL;
    int rc = -1;
    *dirty = 0;
    memset(marks, 0, n * sizeof *marks);
    if (n == 0)
        return 0;
    if (st_format_timestamp(a, sizeof a, since_us) < 0 || st_format_timestamp(b, sizeof b, until_us) < 0)
        return pk_fail(err, errlen, "check hour marks: window out of range");
    if (!(names = st_strings_json((char *const *)checks, n)))
        return pk_fail(err, errlen, "check hour marks: out of memory");
    st_ensure_ready(s);
    /* Marks first, then the summaries (the caller's next read): a rewrite that
     * commits in between leaves a mark older than the rows, never newer. */
    const char *p[] = {names, a, b};
    r = st_run(s,
               "SELECT (w.ord - 1)::int, c.id, coalesce(m.seq, 0), "
               "EXISTS (SELECT 1 FROM rollup_partial WHERE minute >= $2::timestamptz AND minute < $3::timestamptz), "
               "coalesce(m.pruned, 0) "
               "FROM jsonb_array_elements_text($1::jsonb) WITH ORDINALITY AS w(name, ord) "
               "JOIN checks c ON c.name = w.name LEFT JOIN check_hour_marks m ON m.check_id = c.id",
               3, p, PGRES_TUPLES_OK, "check hour marks: reading", err, errlen);
    if (!r)
        goto out;
    for (int i = 0; i < PQntuples(r); i++) {
        long k = strtol(PQgetvalue(r, i, 0), NULL, 10);
        if (k < 0 || (size_t)k >= n)
            continue;
        marks[k].check_id = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        marks[k].seq = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        *dirty = PQgetvalue(r, i, 3)[0] == 't';
        marks[k].pruned = strtoll(PQgetvalue(r, i, 4), NULL, 10);
    }
    rc = 0;
out:
    PQclear(r);
    free(names);
    return rc;
}

int store_check_hours_rewritten(struct store *s, const int64_t *check_ids, const int64_t *since_seq, size_t n,
                                int64_t *from_us, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        from_us[i] = INT64_MAX;
    if (n == 0)
        return 0;
    char *ids = st_bigint_array(check_ids, n), *seqs = st_bigint_array(since_seq, n);
    int rc = -1;
    if (!ids || !seqs) {
        pk_fail(err, errlen, "check hour rewrites: out of memory");
        goto out;
    }
    const char *p[] = {ids, seqs};
    PGresult *r = st_run(s,
                         "SELECT u.i::int, (extract(epoch FROM min(r.hour)) * 1000000)::bigint "
                         "FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS u(c, s, i) "
                         "JOIN check_hour_rewrites r ON r.check_id = u.c AND r.seq > u.s GROUP BY u.i",
                         2, p, PGRES_TUPLES_OK, "check hour rewrites: reading", err, errlen);
    if (!r)
        goto out;
    for (int i = 0; i < PQntuples(r); i++) {
        long k = strtol(PQgetvalue(r, i, 0), NULL, 10) - 1;
        if (k >= 0 && (size_t)k < n)
            from_us[k] = strtoll(PQgetvalue(r, i, 1), NULL, 10);
    }
    PQclear(r);
    rc = 0;
out:
    free(ids);
    free(seqs);
    return rc;
}
