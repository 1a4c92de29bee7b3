/* check_hour_days.c: the check-hour summaries of whole ended UTC days packed one
 * row per (check, day) (check_hour_days, migration 039), so that a report's
 * baseline reads 29 rows per check, not 696. The pack is built in SQL from
 * rollup_check_hour (CHD_PACK: int2send/int8send/float8send of the same columns
 * store_check_hours_read reads), so its numbers are those rows' exactly.
 *
 * Kept equal to rollup_check_hour by its only writers, which all hold the
 * compaction's lock (rollup_compact.c, rollup_backfill.c): st_check_hour_days_sweep
 * packs the days that ended over CHD_MARGIN ago and that the compaction has
 * passed, and moves check_hour_days_done past them, in the compaction's
 * transaction; st_check_hour_days_repack, in the
 * transaction that rewrites summaries, repacks the (check, day)s it touched that
 * are before that mark. A day after the mark is read from rollup_check_hour.
 * st_check_hour_days_read hands the packed days of a window over as rows. */
#include "store_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pk_error.h"

#define CHD_RECORD 50 /* int2 hour of the day, 5 x int8 counts, float8 p95 */
/* The UTC day of a timestamptz expression, as a timestamptz. */
#define CHD_DAY(t) "(date_trunc('day', (" t ") AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
/* One pack from the rollup_check_hour rows h of one (check, day). */
#define CHD_PACK                                                                                                   \
    "string_agg(int2send(extract(hour FROM h.hour AT TIME ZONE 'UTC')::int2) || int8send(h.ok) || "                 \
    "int8send(h.degraded) || int8send(h.failed) || int8send(h.unknown) || int8send(h.hist_count) || "               \
    "float8send(coalesce(h.p95_us, 'NaN'::float8)), ''::bytea ORDER BY h.hour)"
/* The days packed end this long before now: the compaction of a day's last
 * minutes is done by then (a later rewrite repacks). */
#define CHD_MARGIN "interval '1 hour'"
/* The same lock as rollup_compact.c's and rollup_backfill.c's (re-entrant). */
#define CHD_LOCK_SQL "SELECT pg_advisory_xact_lock(112410397255030)"
/* The end of what is packed: the UTC day of now - CHD_MARGIN, and not past the
 * day of $1 (the compaction's upto, NULL: none), so that a compaction catching
 * up does not pack days it has not folded yet. */
#define CHD_HI "least(" CHD_DAY("now() - " CHD_MARGIN) ", " CHD_DAY("coalesce($1::timestamptz, 'infinity')") ")"

int st_check_hour_days_sweep(struct store *s, const char *upto, int with_regions, char *err, size_t errlen)
{
    const char *what = "packing check-hour days";
    PGresult *r = st_run(s, CHD_LOCK_SQL, 0, NULL, PGRES_TUPLES_OK, what, err, errlen);
    if (!r)
        return -1;
    PQclear(r);
    if (with_regions && st_region_hour_days_mend(s, err, errlen) < 0)
        return -1;
    if (!upto) {
        /* migration 039: with no summary yet, the mark stays NULL and the first
         * compaction sets it at the day of what it folds. Set at today's day
         * here, a history written afterwards with older times (a restore, the
         * bench generator) would repack each of its days on every pass. */
        r = st_run(s, "SELECT EXISTS (SELECT 1 FROM rollup_check_hour)", 0, NULL, PGRES_TUPLES_OK, what, err, errlen);
        if (!r)
            return -1;
        int any = PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
        if (!any)
            return 0;
    }
    const char *p[] = {upto};
    r = st_run(s, "SELECT until IS NULL OR until < " CHD_HI " FROM check_hour_days_done", 1, p, PGRES_TUPLES_OK,
               what, err, errlen);
    if (!r)
        return -1;
    int due = PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!due)
        return 0;
    /* once a day too: rewrite records over two days old go (migration 038) */
    if (st_run_cmd(s,
                   "WITH d AS (DELETE FROM check_hour_rewrites WHERE at < now() - interval '2 days' "
                   "RETURNING check_id, seq) "
                   "UPDATE check_hour_marks m SET pruned = x.s FROM (SELECT check_id, max(seq) AS s FROM d "
                   "GROUP BY check_id) x WHERE m.check_id = x.check_id AND m.pruned < x.s",
                   0, NULL, "pruning check-hour rewrites", err, errlen) < 0)
        return -1;
    /* the regions' summaries of the same days (migration 044) */
    if (with_regions) {
        r = st_run(s,
                   "SELECT (extract(epoch FROM coalesce(until, (SELECT min(hour) FROM rollup_hour))) * 1000000)::bigint, "
                   "(extract(epoch FROM " CHD_HI ") * 1000000)::bigint FROM check_hour_days_done",
                   1, p, PGRES_TUPLES_OK, what, err, errlen);
        if (!r)
            return -1;
        int rc = 0;
        if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) && !PQgetisnull(r, 0, 1))
            rc = st_region_hour_days_pack(s, strtoll(PQgetvalue(r, 0, 0), NULL, 10),
                                          strtoll(PQgetvalue(r, 0, 1), NULL, 10), NULL, err, errlen);
        PQclear(r);
        if (rc < 0)
            return -1;
    }
    return st_run_cmd(s,
                      "WITH c AS (SELECT until AS lo, " CHD_HI " AS hi "
                      "FROM check_hour_days_done), "
                      "p AS (INSERT INTO check_hour_days (check_id, day, hours) "
                      "SELECT h.check_id, " CHD_DAY("h.hour") ", " CHD_PACK " FROM rollup_check_hour h, c "
                      "WHERE (c.lo IS NULL OR h.hour >= c.lo) AND h.hour < c.hi GROUP BY 1, 2 "
                      "ON CONFLICT (check_id, day) DO UPDATE SET hours = EXCLUDED.hours) "
                      "UPDATE check_hour_days_done SET until = (SELECT hi FROM c)",
                      1, p, what, err, errlen);
}

int st_check_hour_days_repack(struct store *s, const char *check_ids, const char *hours, char *err, size_t errlen)
{
    const char *p[] = {check_ids, hours};
    /* the regions' packs of those days first: both read the mark as it is */
    if (st_region_hour_days_repack(s, check_ids, hours, err, errlen) < 0)
        return -1;
    return st_run_cmd(s,
                      "INSERT INTO check_hour_days (check_id, day, hours) "
                      "SELECT h.check_id, k.d, " CHD_PACK " FROM "
                      "(SELECT DISTINCT u.c, " CHD_DAY("u.t") " AS d "
                      "FROM unnest($1::bigint[], $2::timestamptz[]) u(c, t)) k "
                      "JOIN rollup_check_hour h ON h.check_id = k.c AND h.hour >= k.d "
                      "AND h.hour < k.d + interval '24 hours' "
                      "WHERE k.d < (SELECT until FROM check_hour_days_done) GROUP BY h.check_id, k.d "
                      "ON CONFLICT (check_id, day) DO UPDATE SET hours = EXCLUDED.hours",
                      2, p, "repacking check-hour days", err, errlen);
}

static uint64_t be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

int st_hour_days_unpack(int k, int64_t day_us, const unsigned char *p, size_t len, struct store_check_hour **rows,
                        size_t *nrows, size_t *cap, char *err, size_t errlen)
{
    if (len % CHD_RECORD != 0)
        return pk_fail(err, errlen, "check hour days: a pack of %zu bytes is not whole records", len);
    size_t m = len / CHD_RECORD;
    struct store_check_hour *v = pk_grow(*rows, cap, *nrows + m, sizeof *v, 0);
    if (!v)
        return pk_fail(err, errlen, "check hour days: out of memory");
    *rows = v;
    for (size_t i = 0; i < m; i++, p += CHD_RECORD) {
        int off = (int)(int16_t)(uint16_t)(p[0] << 8 | p[1]);
        if (off < 0 || off > 23)
            return pk_fail(err, errlen, "check hour days: a record's hour %d is not of a day", off);
        uint64_t bits = be64(p + 42);
        double p95;
        memcpy(&p95, &bits, sizeof p95);
        v[(*nrows)++] = (struct store_check_hour){.check = k,
                                                  .hour_us = day_us + off * ROLLUP_HOUR_US,
                                                  .ok = be64(p + 2),
                                                  .degraded = be64(p + 10),
                                                  .failed = be64(p + 18),
                                                  .unknown = be64(p + 26),
                                                  .hist_count = be64(p + 34),
                                                  .p95_us = p95};
    }
    return 0;
}

int st_check_hour_days_read(struct store *s, const char *names_json, size_t n, const char *region, int64_t since_us,
                            int64_t until_us, struct store_check_hour **rows, size_t *nrows, size_t *cap,
                            int64_t *from_us, int64_t *to_us, char *err, size_t errlen)
{
    *from_us = *to_us = since_us;
    const char *pr[] = {region};
    /* a region's packs hold unless a probe moved in or out (region_hour_days.c) */
    PGresult *r = st_run(s,
                         "SELECT (extract(epoch FROM until) * 1000000)::bigint, "
                         "$1::text IS NOT NULL AND EXISTS (SELECT 1 FROM region_hour_days_stale WHERE region = $1) "
                         "FROM check_hour_days_done",
                         1, pr, PGRES_TUPLES_OK, "hour days: reading the mark", err, errlen);
    if (!r)
        return -1;
    int64_t done = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) && PQgetvalue(r, 0, 1)[0] == 'f'
                       ? strtoll(PQgetvalue(r, 0, 0), NULL, 10)
                       : INT64_MIN;
    PQclear(r);
    if (done == INT64_MIN)
        return 0;
    int64_t a = rollup_floor(since_us + ROLLUP_DAY_US - 1, ROLLUP_DAY_US);
    int64_t b = rollup_floor(until_us, ROLLUP_DAY_US);
    if (done < b)
        b = rollup_floor(done, ROLLUP_DAY_US);
    if (b <= a)
        return 0;
    char ta[64], tb[64];
    if (st_format_timestamp(ta, sizeof ta, a) < 0 || st_format_timestamp(tb, sizeof tb, b) < 0)
        return pk_fail(err, errlen, "hour days: window out of range");
    char cnt[24];
    const char *p[] = {names_json, ta, tb, st_count(cnt, n), region};
    r = PQexecParams(s->conn,
                     region ? "SELECT (w.ord - 1)::int4, d.day, d.hours "
                              "FROM " ST_NAMES_ROWS("$1", "$4") " "
                              "JOIN checks c ON c.name = w.name JOIN region_hour_days d ON d.check_id = c.id "
                              "AND d.region = $5 AND d.day >= $2::timestamptz AND d.day < $3::timestamptz"
                            : "SELECT (w.ord - 1)::int4, d.day, d.hours "
                              "FROM " ST_NAMES_ROWS("$1", "$4") " "
                              "JOIN checks c ON c.name = w.name JOIN check_hour_days d ON d.check_id = c.id "
                              "AND d.day >= $2::timestamptz AND d.day < $3::timestamptz",
                     region ? 5 : 4, NULL, p, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        st_pg_err(s, r, "hour days: reading", err, errlen);
        PQclear(r);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        int k = (int)st_bin_i32(r, i, 0);
        if (k < 0 || (size_t)k >= n)
            continue;
        rc = st_hour_days_unpack(k, st_bin_ts(r, i, 1), (const unsigned char *)PQgetvalue(r, i, 2),
                                 (size_t)PQgetlength(r, i, 2), rows, nrows, cap, err, errlen);
    }
    PQclear(r);
    if (rc == 0) {
        *from_us = a;
        *to_us = b;
    }
    return rc;
}
