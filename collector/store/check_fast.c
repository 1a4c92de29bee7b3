/* check_fast.c: the fast-half summaries of ended hours, rollup_check_hour.fast
 * (migration 043): read the hours of one check or of several at once with the row's counts and
 * whether the hour still has partial rows (store_check_fast_read), and stored
 * back by the reader that computed them from the minute rows while the row's
 * counts are still those rows' (store_check_fast_write). The compaction's
 * rewrite of a summary row sets fast to NULL in the same statement
 * (check_hours.c), so a value present is what the minute rows give. */
#include "store_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pk_error.h"

int store_check_fast_read_many(struct store *s, const char *const *checks, size_t n_checks, int64_t from_us,
                               int64_t to_us, struct store_check_fast **out, char *err, size_t errlen)
{
    *out = NULL;
    const char *what = n_checks == 1 ? checks[0] : "several checks";
    if (to_us < from_us || from_us % ROLLUP_HOUR_US || to_us % ROLLUP_HOUR_US)
        return pk_fail(err, errlen, "fast summaries of %.128s: the span is not whole hours", what);
    size_t n = (size_t)((to_us - from_us) / ROLLUP_HOUR_US);
    char a[64], b[64];
    if (st_format_timestamp(a, sizeof a, from_us) < 0 || st_format_timestamp(b, sizeof b, to_us) < 0)
        return pk_fail(err, errlen, "fast summaries of %.128s: span out of range", what);
    struct store_check_fast *v = calloc(n > 0 && n_checks > 0 ? n * n_checks : 1, sizeof *v);
    char *names = st_strings_json((char *const *)checks, n_checks);
    if (!v || !names) {
        free(v);
        free(names);
        return pk_fail(err, errlen, "fast summaries of %.128s: out of memory", what);
    }
    st_ensure_ready(s);
    char cnt[24];
    const char *p[] = {names, a, b, st_count(cnt, n_checks)};
    /* the partial hours first: a row compacted after this read is then either
     * seen dirty or read with its new counts */
    PGresult *r = PQexecParams(s->conn,
                               "SELECT DISTINCT date_trunc('hour', minute) FROM rollup_partial "
                               "WHERE minute >= $1::timestamptz AND minute < $2::timestamptz",
                               2, NULL, p + 1, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        goto pg_fail;
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t k = (st_bin_ts(r, i, 0) - from_us) / ROLLUP_HOUR_US;
        for (size_t c = 0; k >= 0 && (size_t)k < n && c < n_checks; c++)
            v[c * n + (size_t)k].dirty = 1;
    }
    PQclear(r);
    r = PQexecParams(s->conn,
                     "WITH w AS (SELECT (w.ord - 1)::bigint AS k, c.id FROM " ST_NAMES_ROWS("$1", "$4") " "
                     "JOIN checks c ON c.name = w.name) "
                     "SELECT w.k, h.hour, h.ok + h.degraded + h.failed + h.unknown, h.fast FROM w "
                     "JOIN rollup_check_hour h ON h.check_id = w.id AND h.hour >= $2::timestamptz "
                     "AND h.hour < $3::timestamptz",
                     4, NULL, p, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        goto pg_fail;
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t c = st_bin_i64(r, i, 0), k = (st_bin_ts(r, i, 1) - from_us) / ROLLUP_HOUR_US;
        if (c < 0 || (size_t)c >= n_checks || k < 0 || (size_t)k >= n)
            continue;
        struct store_check_fast *e = &v[(size_t)c * n + (size_t)k];
        e->row = 1;
        e->total = (uint64_t)st_bin_i64(r, i, 2);
        e->has = !e->dirty && !PQgetisnull(r, i, 3) && PQgetlength(r, i, 3) == STORE_CHECK_FAST_LEN;
        if (e->has)
            memcpy(e->fast, PQgetvalue(r, i, 3), STORE_CHECK_FAST_LEN);
    }
    PQclear(r);
    free(names);
    *out = v;
    return 0;
pg_fail:
    st_pg_err(s, r, "fast summaries: reading", err, errlen);
    PQclear(r);
    free(v);
    free(names);
    return -1;
}

int store_check_fast_read(struct store *s, const char *check, int64_t from_us, int64_t to_us,
                          struct store_check_fast **out, char *err, size_t errlen)
{
    return store_check_fast_read_many(s, &check, 1, from_us, to_us, out, err, errlen);
}

int store_check_fast_write(struct store *s, const char *check, const int64_t *hours, const uint64_t *totals,
                           const uint8_t (*v)[STORE_CHECK_FAST_LEN], size_t n, size_t *written, char *err,
                           size_t errlen)
{
    *written = 0;
    if (n == 0)
        return 0;
    struct pk_buf h, t, f;
    pk_buf_init(&h, (size_t)1 << 30);
    pk_buf_init(&t, (size_t)1 << 30);
    pk_buf_init(&f, (size_t)1 << 30);
    int rc = -1;
    pk_buf_addc(&h, '{');
    pk_buf_addc(&t, '{');
    pk_buf_addc(&f, '{');
    for (size_t i = 0; i < n; i++) {
        char ts[64], hex[2 * STORE_CHECK_FAST_LEN + 1];
        if (st_format_timestamp(ts, sizeof ts, hours[i]) < 0) {
            pk_fail(err, errlen, "fast summaries of %.128s: hour out of range", check);
            goto out;
        }
        for (size_t k = 0; k < STORE_CHECK_FAST_LEN; k++) {
            hex[2 * k] = st_hex_digits[v[i][k] >> 4];
            hex[2 * k + 1] = st_hex_digits[v[i][k] & 15];
        }
        hex[2 * STORE_CHECK_FAST_LEN] = '\0';
        const char *sep = i ? "," : "";
        pk_buf_addf(&h, "%s\"%s\"", sep, ts);
        pk_buf_addf(&t, "%s%" PRIu64, sep, totals[i]);
        pk_buf_addf(&f, "%s%s", sep, hex);
    }
    pk_buf_addc(&h, '}');
    pk_buf_addc(&t, '}');
    if (pk_buf_addc(&f, '}') < 0) {
        pk_fail(err, errlen, "fast summaries of %.128s: out of memory", check);
        goto out;
    }
    const char *p[] = {check, h.data, t.data, f.data};
    PGresult *r = st_run(s,
                         "UPDATE rollup_check_hour h SET fast = decode(v.f, 'hex') "
                         "FROM checks c, unnest($2::timestamptz[], $3::bigint[], $4::text[]) v(t, n, f) "
                         "WHERE c.name = $1 AND h.check_id = c.id AND h.hour = v.t AND h.fast IS NULL "
                         "AND h.ok + h.degraded + h.failed + h.unknown = v.n",
                         4, p, PGRES_COMMAND_OK, "fast summaries: storing", err, errlen);
    if (!r)
        goto out;
    *written = (size_t)strtoull(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    rc = 0;
out:
    pk_buf_free(&h);
    pk_buf_free(&t);
    pk_buf_free(&f);
    return rc;
}
