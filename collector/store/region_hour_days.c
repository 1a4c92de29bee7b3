/* region_hour_days.c: the hour summaries of each region, of whole ended UTC
 * days, packed one row per (check, region, day) (region_hour_days, migration
 * 044) in check_hour_days' records, so that a one-region report's baseline
 * reads 29 small rows per check instead of 696 rollup_hour rows spread over
 * the whole table (8 to 11 s from disk after a restart at 1,000 checks).
 *
 * A region's hour is the rollup_hour rows of the region's probes merged in C
 * (counts summed, histograms merged, the p95 of the merge), the numbers
 * store_rollup_query gives with .region and hourly buckets, exactly. The packs
 * cover the days check_hour_days covers (before check_hour_days_done.until):
 * written by the same writers in the same transactions under the
 * compaction's lock (st_check_hour_days_sweep and _repack call in here), and
 * by migration 044 for the days packed before it. A probe that registers in
 * another region marks both regions stale (region_hour_days_stale,
 * store_upsert_probe); a stale region's packs are not read, and the next
 * compaction packs its days again (st_region_hour_days_mend).
 *
 * store_region_hours_read gives a region's summaries for a window: the packed
 * days, the hours with rows not compacted yet and the rest of the window from
 * store_rollup_query. */
#include "store_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pk_error.h"

#define RHD_RECORD 50 /* as check_hour_days.c's: int2 hour of the day, 5 x int8, float8 p95 */

/* A rollup_hour row of the day read (index into the result) and its key. */
struct rkey {
    int64_t check;
    int region;
    int64_t hour;
    int row;
};

static int rkey_cmp(const void *x, const void *y)
{
    const struct rkey *a = x, *b = y;
    if (a->check != b->check)
        return a->check < b->check ? -1 : 1;
    if (a->region != b->region)
        return a->region < b->region ? -1 : 1;
    if (a->hour != b->hour)
        return a->hour < b->hour ? -1 : 1;
    return a->row - b->row;
}

static void put_be(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)(v & 0xff);
}

/* The record of one (check, region, hour): rows keys[from..to) of r merged. */
static int hour_record(const PGresult *r, const struct rkey *keys, size_t from, size_t to, int64_t day_us,
                       struct pk_hist *h, unsigned char *rec)
{
    uint64_t n[4] = {0, 0, 0, 0}, count = 0;
    double p95 = NAN;
    for (size_t i = from; i < to; i++)
        for (int k = 0; k < 4; k++)
            n[k] += (uint64_t)st_bin_i64(r, keys[i].row, 3 + k);
    if (to - from == 1) { /* one probe's row: read in place, as store_rollup_query does */
        int row = keys[from].row;
        size_t len = (size_t)PQgetlength(r, row, 7);
        if (len > 0) {
            p95 = pk_hist_encoded_quantile((const uint8_t *)PQgetvalue(r, row, 7), len, 0.95, &count);
            if (count == 0)
                p95 = NAN;
            else if (isnan(p95))
                return -1;
        }
    } else {
        pk_hist_init(h);
        for (size_t i = from; i < to; i++) {
            int row = keys[i].row;
            size_t len = (size_t)PQgetlength(r, row, 7);
            if (len > 0 && pk_hist_decode_merge((const uint8_t *)PQgetvalue(r, row, 7), len, h) < 0)
                return -1;
        }
        count = h->count;
        p95 = count ? pk_hist_quantile(h, 0.95) : NAN;
    }
    uint64_t bits;
    memcpy(&bits, &p95, sizeof bits);
    put_be(rec, (uint64_t)((keys[from].hour - day_us) / ROLLUP_HOUR_US), 2);
    for (int k = 0; k < 4; k++)
        put_be(rec + 2 + 8 * k, n[k], 8);
    put_be(rec + 34, count, 8);
    put_be(rec + 42, bits, 8);
    return 0;
}

/* The arrays of the packs' INSERT: check ids, regions, hex packs. */
struct pack_params {
    struct pk_buf checks, regions, hours;
    int any;
};

static void pack_params_add(struct pack_params *pp, int64_t check, const char *region, const unsigned char *pack,
                            size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const char *sep = pp->any ? "," : "";
    pk_buf_addf(&pp->checks, "%s%" PRId64, sep, check);
    st_array_add_text(&pp->regions, region, !pp->any);
    pk_buf_adds(&pp->hours, sep);
    for (size_t i = 0; i < len; i++) {
        char two[2] = {hex[pack[i] >> 4], hex[pack[i] & 15]};
        pk_buf_add(&pp->hours, two, 2);
    }
    pp->any = 1;
}

/* The packs of one day from r (check_id, region, hour, ok, degraded, failed,
 * unknown, hist; binary), inserted. */
static int pack_rows(struct store *s, const PGresult *r, int64_t day_us, const char *day, char *err, size_t errlen)
{
    const char *what = "packing region-hour days";
    int n = PQntuples(r), rc = -1;
    const char **regions = NULL; /* into r: each region's name once */
    size_t n_regions = 0;
    struct rkey *keys = malloc((size_t)(n ? n : 1) * sizeof *keys);
    struct pk_hist *h = malloc(sizeof *h);
    unsigned char *pack = malloc(24 * RHD_RECORD);
    struct pack_params pp = {.any = 0};
    pk_buf_init(&pp.checks, (size_t)1 << 30);
    pk_buf_init(&pp.regions, (size_t)1 << 30);
    pk_buf_init(&pp.hours, (size_t)1 << 30);
    if (!keys || !h || !pack || !(regions = calloc((size_t)(n ? n : 1), sizeof *regions)))
        goto oom;
    for (int i = 0; i < n; i++) {
        const char *g = PQgetvalue(r, i, 1);
        size_t k = n_regions;
        while (k > 0 && strcmp(regions[k - 1], g) != 0) /* a few regions: a short scan */
            k--;
        if (k == 0) {
            regions[n_regions++] = g;
            k = n_regions;
        }
        keys[i] = (struct rkey){st_bin_i64(r, i, 0), (int)k - 1, st_bin_ts(r, i, 2), i};
    }
    qsort(keys, (size_t)n, sizeof *keys, rkey_cmp);
    pk_buf_addc(&pp.checks, '{');
    pk_buf_addc(&pp.regions, '{');
    pk_buf_addc(&pp.hours, '{');
    for (size_t i = 0, g; i < (size_t)n; i = g) { /* one (check, region): keys[i..g) */
        g = i + 1;
        while (g < (size_t)n && keys[g].check == keys[i].check && keys[g].region == keys[i].region)
            g++;
        size_t len = 0;
        for (size_t j = i, e; j < g; j = e) { /* one hour: keys[j..e) */
            e = j + 1;
            while (e < g && keys[e].hour == keys[j].hour)
                e++;
            if (keys[j].hour < day_us || keys[j].hour >= day_us + ROLLUP_DAY_US || len >= 24 * RHD_RECORD) {
                pk_fail(err, errlen, "%s: check id %" PRId64 ": an hour outside its day", what, keys[j].check);
                goto out;
            }
            if (hour_record(r, keys, j, e, day_us, h, pack + len) < 0) {
                pk_fail(err, errlen, "%s: check id %" PRId64 ": stored histogram is not valid", what, keys[j].check);
                goto out;
            }
            len += RHD_RECORD;
        }
        pack_params_add(&pp, keys[i].check, regions[keys[i].region], pack, len);
    }
    if (pk_buf_addc(&pp.checks, '}') < 0 || pk_buf_addc(&pp.regions, '}') < 0 || pk_buf_addc(&pp.hours, '}') < 0)
        goto oom;
    if (!pp.any) {
        rc = 0;
        goto out;
    }
    const char *p[] = {pp.checks.data, pp.regions.data, day, pp.hours.data};
    rc = st_run_cmd(s,
                    "INSERT INTO region_hour_days (check_id, region, day, hours) "
                    "SELECT c, g, $3::timestamptz, decode(h, 'hex') FROM unnest($1::bigint[], $2::text[], $4::text[]) "
                    "AS u(c, g, h) ON CONFLICT (check_id, region, day) DO UPDATE SET hours = EXCLUDED.hours",
                    4, p, what, err, errlen);
    goto out;
oom:
    pk_fail(err, errlen, "%s: out of memory", what);
out:
    pk_buf_free(&pp.checks);
    pk_buf_free(&pp.regions);
    pk_buf_free(&pp.hours);
    free(regions);
    free(keys);
    free(h);
    free(pack);
    return rc;
}

/* Packs one day again from rollup_hour: of the checks in check_ids (a bigint[]
 * literal; NULL: every check) and of region (NULL: every region), replacing
 * what was packed for them. */
static int pack_day(struct store *s, int64_t day_us, const char *check_ids, const char *region, char *err,
                    size_t errlen)
{
    char day[64];
    if (st_format_timestamp(day, sizeof day, day_us) < 0)
        return pk_fail(err, errlen, "packing region-hour days: day out of range");
    const char *p[] = {day, check_ids, region};
    if (st_run_cmd(s,
                   "DELETE FROM region_hour_days WHERE day = $1::timestamptz "
                   "AND ($2::bigint[] IS NULL OR check_id = ANY ($2::bigint[])) AND ($3::text IS NULL OR region = $3)",
                   3, p, "packing region-hour days", err, errlen) < 0)
        return -1;
    PGresult *r = PQexecParams(s->conn,
                               "SELECT r.check_id, p.region, r.hour, r.ok, r.degraded, r.failed, r.unknown, r.hist "
                               "FROM rollup_hour r JOIN probes p ON p.id = r.probe_id "
                               "WHERE r.hour >= $1::timestamptz AND r.hour < $1::timestamptz + interval '1 day' "
                               "AND ($2::bigint[] IS NULL OR r.check_id = ANY ($2::bigint[])) "
                               "AND ($3::text IS NULL OR p.region = $3)",
                               3, NULL, p, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        st_pg_err(s, r, "packing region-hour days: reading rollup_hour", err, errlen);
        PQclear(r);
        return -1;
    }
    int rc = pack_rows(s, r, day_us, day, err, errlen);
    PQclear(r);
    return rc;
}

int st_region_hour_days_pack(struct store *s, int64_t from_us, int64_t to_us, const char *region, char *err,
                             size_t errlen)
{
    for (int64_t d = rollup_floor(from_us, ROLLUP_DAY_US); d < to_us; d += ROLLUP_DAY_US)
        if (pack_day(s, d, NULL, region, err, errlen) < 0)
            return -1;
    return 0;
}

int st_region_hour_days_fill(struct store *s, char *err, size_t errlen)
{
    PGresult *r = st_run(s,
                         "SELECT (extract(epoch FROM (SELECT min(hour) FROM rollup_hour)) * 1000000)::bigint, "
                         "(extract(epoch FROM until) * 1000000)::bigint FROM check_hour_days_done",
                         0, NULL, PGRES_TUPLES_OK, "migration 044: packing region-hour days", err, errlen);
    if (!r)
        return -1;
    int rc = 0;
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) && !PQgetisnull(r, 0, 1))
        rc = st_region_hour_days_pack(s, strtoll(PQgetvalue(r, 0, 0), NULL, 10), strtoll(PQgetvalue(r, 0, 1), NULL, 10),
                                      NULL, err, errlen);
    PQclear(r);
    return rc;
}

int st_region_hour_days_repack(struct store *s, const char *check_ids, const char *hours, char *err, size_t errlen)
{
    const char *p[] = {check_ids, hours};
    PGresult *r = st_run(s,
                         "SELECT (extract(epoch FROM k.d) * 1000000)::bigint, '{' || string_agg(DISTINCT k.c::text, ',') "
                         "|| '}' FROM (SELECT u.c, date_trunc('day', u.t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS d "
                         "FROM unnest($1::bigint[], $2::timestamptz[]) u(c, t)) k "
                         "WHERE k.d < (SELECT until FROM check_hour_days_done) GROUP BY k.d ORDER BY 1",
                         2, p, PGRES_TUPLES_OK, "repacking region-hour days", err, errlen);
    if (!r)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++)
        rc = pack_day(s, strtoll(PQgetvalue(r, i, 0), NULL, 10), PQgetvalue(r, i, 1), NULL, err, errlen);
    PQclear(r);
    return rc;
}

int st_region_hour_days_mend(struct store *s, char *err, size_t errlen)
{
    const char *what = "packing stale regions' hour days";
    /* The marks locked until this transaction ends: a probe that moves
     * meanwhile waits to mark its regions (store_upsert_probe's upsert) and
     * marks them again after these are deleted, so its move is packed by the
     * next compaction even if these packs read the probes before it. */
    PGresult *r = st_run(s,
                         "SELECT g.region, (extract(epoch FROM (SELECT min(hour) FROM rollup_hour)) * 1000000)::bigint, "
                         "(extract(epoch FROM d.until) * 1000000)::bigint "
                         "FROM region_hour_days_stale g, check_hour_days_done d ORDER BY 1 FOR UPDATE OF g",
                         0, NULL, PGRES_TUPLES_OK, what, err, errlen);
    if (!r)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        const char *region = PQgetvalue(r, i, 0);
        const char *p[] = {region};
        rc = st_run_cmd(s, "DELETE FROM region_hour_days WHERE region = $1", 1, p, what, err, errlen);
        if (rc == 0 && !PQgetisnull(r, i, 1) && !PQgetisnull(r, i, 2))
            rc = st_region_hour_days_pack(s, strtoll(PQgetvalue(r, i, 1), NULL, 10),
                                          strtoll(PQgetvalue(r, i, 2), NULL, 10), region, err, errlen);
        if (rc == 0)
            rc = st_run_cmd(s, "DELETE FROM region_hour_days_stale WHERE region = $1", 1, p, what, err, errlen);
    }
    PQclear(r);
    return rc;
}

/* ---- reading */

int store_region_hours_read(struct store *s, const char *const *checks, size_t n, const char *region,
                            int64_t since_us, int64_t until_us, struct store_check_hour **out, size_t *nout,
                            char *err, size_t errlen)
{
    *out = NULL;
    *nout = 0;
    size_t cap = 0;
    char *names = NULL;
    PGresult *dirty = NULL;
    int rc = -1;
    int64_t a, b;
    if (n == 0)
        return 0;
    if (!(names = st_strings_json((char *const *)checks, n)))
        return pk_fail(err, errlen, "region hours: out of memory");
    st_ensure_ready(s);
    if (st_check_hour_days_read(s, names, n, region, since_us, until_us, out, nout, &cap, &a, &b, err, errlen) < 0)
        goto out;
    if (b > a) {
        /* Hours of packed days that still have rows not compacted (late
         * results) are read from the rollups, with those rows. */
        if (!(dirty = st_dirty_hours(s, a, b, err, errlen)))
            goto out;
        for (int k = 0; k < PQntuples(dirty); k++) {
            int64_t h = strtoll(PQgetvalue(dirty, k, 0), NULL, 10);
            if (st_hours_from_rollups(s, checks, n, region, h, h + ROLLUP_HOUR_US, out, nout, &cap, err, errlen) < 0)
                goto out;
        }
    }
    /* the rest of the window (all of it when no day was packed: a = b = since) */
    if (st_hours_from_rollups(s, checks, n, region, since_us, a, out, nout, &cap, err, errlen) < 0 ||
        st_hours_from_rollups(s, checks, n, region, b, until_us, out, nout, &cap, err, errlen) < 0)
        goto out;
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
