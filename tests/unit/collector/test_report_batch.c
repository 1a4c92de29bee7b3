/* test_report_batch.c: the report's trend and baseline columns read for every
 * check at once (collector/rpc_report_batch.c) against the per-check path
 * (rpc_trend_of, rpc_baseline_state) on a known history in a real PostgreSQL
 * (PICKET_TEST_PG_URL from tests/integration/pgharness.py; the test FAILS
 * without it). Seven checks in two regions over 31 days, one check stepping up
 * on its last day, the newest minutes left uncompacted; windows of 24 h, 3 days
 * on no hour edge and 30 days, all regions and one. The messages must be equal
 * byte for byte once packed, and the batch must have read in chunks (seven
 * checks do not fit one chunk of 30-day baselines). The baselines' summaries
 * kept in memory (rpc_baseline_cache.c) give the same bytes, and late results
 * in an hour that has ended make the batch read that check again; a span
 * moved on by an hour is served from the kept summaries, and so are one
 * region's (while the region's probes are the same). The window
 * read in parts for the report (rpc_report_window.c: the trends' clipped
 * edges read once, with the latency rows) gives the same trends and baselines,
 * and latency rows equal to one whole-window read's. The summaries of whole
 * ended days packed one row per (check, day) (migration 039) read as the same
 * rows, follow late results, and are filled by the migration. A window of
 * two days or more read in two halves at once (rpc_query_coarse.c) gives the
 * rows of one read. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pgtest.h"
#include "rollup.h"
#include "rpc_baseline.h"
#include "rpc_baseline_cache.h"
#include "rpc_query_arena.h"
#include "rpc_report_batch.h"
#include "rpc_report_window.h"
#include "rpc_trend.h"
#include "store.h"

#define MIN ROLLUP_MINUTE_US
#define HOUR ROLLUP_HOUR_US
#define DAY ROLLUP_DAY_US
#define N_CHECKS 7
#define STEP (20 * MIN) /* one result per check and probe every 20 minutes */

static struct store *S;
static int64_t probe_ids[2];
static struct store_check_meta metas[N_CHECKS];
static int64_t now;
static uint64_t rng = 11;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* 31 days of results up to now for every check and probe; check 3 is twice as
 * slow over its last 20 hours, check 5 fails for two hours on day 10. */
static void feed(void)
{
    char err[512];
    int64_t start = rollup_floor(now, MIN) - 31 * DAY;
    size_t per_probe = (size_t)((now - start) / STEP) * N_CHECKS;
    struct pk_result *rs = calloc(per_probe, sizeof *rs);
    assert_non_null(rs);
    int created = 0;
    assert_int_equal(store_make_partitions(S, start - DAY, now + DAY, &created, err, sizeof err), 0);
    for (int p = 0; p < 2; p++) {
        size_t n = 0;
        for (int64_t t = start; t + STEP <= now; t += STEP)
            for (int c = 0; c < N_CHECKS; c++) {
                uint64_t x = rnd() % 100;
                int down = c == 5 && t >= start + 10 * DAY && t < start + 10 * DAY + 2 * HOUR;
                double base = 20000.0 * (1 + c) * (1.0 + 0.3 * sin((double)(t % DAY) / (double)DAY * 6.283));
                if (c == 3 && t >= now - 20 * HOUR)
                    base *= 2;
                pgt_http_result(&rs[n], n + 1, metas[c].name, t + (int64_t)c * 7 * 1000000 + p * 3000000,
                                down ? PK_OUTCOME_FAILED : x < 90 ? PK_OUTCOME_OK : x < 96 ? PK_OUTCOME_DEGRADED
                                                                                      : PK_OUTCOME_FAILED,
                                (int64_t)(base * (0.8 + (double)(rnd() % 400) / 1000.0)));
                n++;
            }
        pgt_write_results(S, probe_ids[p], rs, n);
    }
    free(rs);
    uint64_t folded = 0; /* the newest minutes stay in rollup_partial */
    assert_int_equal(store_rollup_compact(S, now, 40 * MIN, &folded, err, sizeof err), 0);
    assert_true(folded > 0);
    assert_true(pgt_sql_int("SELECT count(*) FROM rollup_partial") > 0);
}

static int setup(void **state)
{
    (void)state;
    S = pgt_open_store();
    if (!S)
        return -1;
    now = now_us();
    probe_ids[0] = pgt_register_probe(S, "batch-eu-1", "eu");
    probe_ids[1] = pgt_register_probe(S, "batch-us-1", "us");
    for (int c = 0; c < N_CHECKS; c++) {
        snprintf(metas[c].name, sizeof metas[c].name, "batch-%c", 'g' - c); /* names not in id order */
        pk_strlcpy(metas[c].service, c % 2 ? "svc-a" : "", sizeof metas[c].service);
    }
    feed();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    store_close(S);
    return 0;
}

/* n results of check c from probe p, one a minute from at on, each total_us
 * long, arriving late (sequences from seq0), then compacted. */
static void send_late(int c, int p, uint64_t seq0, int64_t at, int n, int64_t total_us)
{
    char err[512];
    struct pk_result rs[8];
    assert_true(n > 0 && n <= 8);
    for (int k = 0; k < n; k++)
        pgt_http_result(&rs[k], seq0 + (uint64_t)k, metas[c].name, at + k * MIN, PK_OUTCOME_OK, total_us);
    struct store_batch b = {.probe_id = probe_ids[p], .results = rs, .n_results = (size_t)n};
    if (store_write_batches(S, &b, 1, err, sizeof err) != 0)
        fail_msg("write: %s", err);
    uint64_t folded = 0;
    assert_int_equal(store_rollup_compact(S, now, 40 * MIN, &folded, err, sizeof err), 0);
    assert_true(folded > 0);
}

static void assert_same(const ProtobufCMessage *x, const ProtobufCMessage *y, const char *what, const char *check)
{
    size_t nx = protobuf_c_message_get_packed_size(x), ny = protobuf_c_message_get_packed_size(y);
    uint8_t *bx = malloc(nx ? nx : 1), *by = malloc(ny ? ny : 1);
    assert_non_null(bx);
    assert_non_null(by);
    protobuf_c_message_pack(x, bx);
    protobuf_c_message_pack(y, by);
    if (nx != ny || memcmp(bx, by, nx) != 0)
        fail_msg("%s of %s: the batch differs from the per-check path (%zu against %zu bytes)", what, check, nx, ny);
    free(bx);
    free(by);
}

/* Rows y (what, sorted as x) equal to one read's x: the same keys, counts and
 * histogram buckets, count and sum (not the extremes: compare_window). */
static void assert_same_rows(const struct store_rollup_row *x, size_t nx, const struct store_rollup_row *y, size_t ny,
                             const char *what)
{
    assert_int_equal(nx, ny);
    assert_true(nx >= N_CHECKS);
    for (size_t i = 0; i < nx; i++, x++, y++) {
        assert_string_equal(x->check_name, y->check_name);
        assert_string_equal(x->group, y->group);
        assert_int_equal(x->bucket_start_us, y->bucket_start_us);
        assert_int_equal(x->ok, y->ok);
        assert_int_equal(x->degraded, y->degraded);
        assert_int_equal(x->failed, y->failed);
        assert_int_equal(x->unknown, y->unknown);
        assert_true(x->hist.count > 0);
        if (memcmp(x->hist.b, y->hist.b, sizeof x->hist.b) != 0 || x->hist.count != y->hist.count ||
            x->hist.clamped != y->hist.clamped || x->hist.sum_us != y->hist.sum_us)
            fail_msg("latency rows of %s/%s: %s differ from one read", x->check_name, x->group, what);
    }
}

/* The window read in parts: the same trends and baselines as the batch, and
 * the same rows per (check, region) as one read of the whole window. */
static void compare_window(int64_t since, int64_t until, const char *region)
{
    char err[512];
    struct rpc_query_arena *a = calloc(1, sizeof *a); /* freed by rpc_query_arena_free */
    assert_non_null(a);
    const struct store_check_meta *checks[N_CHECKS];
    Picket__V1__CheckTrend *trends[N_CHECKS];
    Picket__V1__BaselineState *baselines[N_CHECKS];
    for (int c = 0; c < N_CHECKS; c++)
        checks[c] = &metas[c];
    if (rpc_report_batch(S, a, checks, N_CHECKS, since, until, region, trends, baselines, err, sizeof err) != 0)
        fail_msg("batch: %s", err);
    struct report_window w;
    struct coarse_rows cr;
    Picket__V1__CheckTrend *wt[N_CHECKS];
    Picket__V1__BaselineState *wb[N_CHECKS];
    if (report_window_load(S, since, until, region, NULL, 1, &w, err, sizeof err) != 0)
        fail_msg("window: %s", err);
    assert_int_equal(w.split, 1);
    if (w.inner_from_us - rollup_floor(since, MIN) >= HOUR) /* an edge that long holds results */
        assert_true(w.n_edges > 0);
    if (rpc_report_batch_window(S, a, checks, N_CHECKS, since, until, region, &w, wt, wb, err, sizeof err) != 0)
        fail_msg("batch over the window: %s", err);
    for (int c = 0; c < N_CHECKS; c++) {
        assert_same(&trends[c]->base, &wt[c]->base, "trend (window in parts)", metas[c].name);
        assert_same(&baselines[c]->base, &wb[c]->base, "baseline (window in parts)", metas[c].name);
    }
    /* the trends alone (picketctl trend): the same, without any baseline */
    Picket__V1__CheckTrend *to[N_CHECKS];
    if (rpc_report_batch_window(S, a, checks, N_CHECKS, since, until, region, &w, to, NULL, err, sizeof err) != 0)
        fail_msg("trends over the window: %s", err);
    for (int c = 0; c < N_CHECKS; c++)
        assert_same(&trends[c]->base, &to[c]->base, "trend (window in parts, no baselines)", metas[c].name);
    if (coarse_load(S, since, until, region, NULL, 0, &cr, err, sizeof err) != 0)
        fail_msg("coarse: %s", err);
    /* The extremes are not compared: both reads may be signed sums (an edge
     * a coarser row less the finer rows outside the window), which keep the
     * added rows' extremes. Found 2026-12-07 at minutes :50 to :59 of an hour:
     * the parts' max of batch-e/eu over (3 days 17 min, 7 min) before now was
     * the hour before the window's (91,523 us), the one read's the window's own
     * (91,344, as the raw results give). Counts, buckets and sums are equal, and
     * a quantile stays within its bucket's bound either way. */
    assert_same_rows(cr.rows, cr.n, w.cr.rows, w.cr.n, "the window in parts");
    struct report_window one; /* without parts: one read, as coarse_load */
    if (report_window_load(S, since, until, region, NULL, 0, &one, err, sizeof err) != 0)
        fail_msg("window in one read: %s", err);
    assert_int_equal(one.split, 0);
    assert_int_equal(one.cr.n, cr.n);
    report_window_free(&one);
    coarse_free(&cr);
    report_window_free(&w);
    rpc_query_arena_free(a);
}

static void compare(int64_t since, int64_t until, const char *region)
{
    char err[512];
    struct rpc_query_arena *a = calloc(1, sizeof *a); /* freed by rpc_query_arena_free */
    assert_non_null(a);
    const struct store_check_meta *checks[N_CHECKS];
    Picket__V1__CheckTrend *trends[N_CHECKS];
    Picket__V1__BaselineState *baselines[N_CHECKS];
    for (int c = 0; c < N_CHECKS; c++)
        checks[c] = &metas[c];
    if (rpc_report_batch(S, a, checks, N_CHECKS, since, until, region, trends, baselines, err, sizeof err) != 0)
        fail_msg("batch: %s", err);
    int with_points = 0, judged = 0;
    for (int c = 0; c < N_CHECKS; c++) {
        Picket__V1__CheckTrend *t = rpc_trend_of(S, a, &metas[c], since, until, region, err, sizeof err);
        Picket__V1__BaselineState *b = rpc_baseline_state(S, a, &metas[c], region, until, 0, err, sizeof err);
        assert_non_null(t);
        assert_non_null(b);
        assert_same(&t->base, &trends[c]->base, "trend", metas[c].name);
        assert_same(&b->base, &baselines[c]->base, "baseline", metas[c].name);
        with_points += t->p95_us->points > 0 && !isnan(t->p95_us->slope_per_day);
        judged += b->history_points > 0;
    }
    /* the comparison is of real figures, not of empty ones */
    assert_int_equal(with_points, N_CHECKS);
    assert_int_equal(judged, N_CHECKS);
    assert_true(baselines[3]->regression);
    assert_false(baselines[2]->regression);
    rpc_query_arena_free(a);
}

static void batch_equals_per_check(void **state)
{
    (void)state;
    int64_t until = rollup_floor(now, MIN);
    compare(until - DAY, until, NULL);
    compare(until - 3 * DAY - 17 * MIN, until - 7 * MIN, NULL);
    compare(until - 30 * DAY, until, NULL);
    compare(until - 30 * DAY, until, "us");
    compare_window(until - DAY, until, NULL);
    compare_window(until - 3 * DAY - 17 * MIN, until - 7 * MIN, NULL);
    compare_window(until - 30 * DAY, until, NULL);
    compare_window(until - 30 * DAY, until, "us");
    /* a week and nine days: hourly points (240 at most, rpc_trend.h), days from 10 */
    assert_int_equal(rpc_trend_point_width(until - 9 * DAY - 23 * HOUR, until), HOUR);
    assert_int_equal(rpc_trend_point_width(until - 10 * DAY, until), DAY);
    assert_int_equal(rpc_trend_point_width(until - 300 * DAY, until), 2 * DAY);
    compare(until - 7 * DAY - 13 * MIN, until, NULL);
    compare_window(until - 7 * DAY - 13 * MIN, until, NULL);
    compare_window(until - 9 * DAY - 23 * HOUR, until - 5 * MIN, "us");
}

/* coarse_load over two days or more reads two halves at once, the later one
 * on the store's side connection (read_beside.h): the same rows as one read
 * of the whole window (store_rollup_query). The extremes may differ, as
 * between any two signed sums (compare_window). */
static void halves_equal_one_read(int64_t since, int64_t until, const char *region)
{
    char err[512];
    struct coarse_rows cr;
    if (coarse_load(S, since, until, region, NULL, 0, &cr, err, sizeof err) != 0)
        fail_msg("coarse: %s", err);
    struct store_rollup_filter f = {.since_us = since, .until_us = until, .region = region,
                                    .group = STORE_ROLLUP_BY_REGION};
    struct store_rollup_row *rows = NULL;
    size_t n = 0;
    if (store_rollup_query(S, &f, &rows, &n, err, sizeof err) != 0)
        fail_msg("one read: %s", err);
    assert_same_rows(rows, n, cr.rows, cr.n, "the halves");
    free(rows);
    coarse_free(&cr);
}

static void split_read_equals_one_read(void **state)
{
    (void)state;
    int64_t until = rollup_floor(now, MIN);
    halves_equal_one_read(until - 30 * DAY, until, NULL);
    halves_equal_one_read(until - 30 * DAY, until, "us");
    halves_equal_one_read(until - 2 * DAY - 7 * MIN, until - 3 * MIN, NULL);
    halves_equal_one_read(rollup_floor(until, DAY) - 4 * DAY, rollup_floor(until, DAY), NULL);
    /* the later half was read on a second backend of this store */
    assert_true(pgt_sql_int("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE '%% side'") >= 1);
}

/* A read with p95_only (one row's histogram read in place, never decoded:
 * rollup_query.c's lazy entries) gives each row the p95 and count of the
 * same read with histograms: hourly over a baseline's span, one region and
 * all, and minute buckets (rows of one probe, and merged over two). */
static void p95_only_equals_histograms(void **state)
{
    (void)state;
    int64_t until = rollup_floor(now, MIN);
    const struct {
        int64_t since, until, bucket;
        const char *region;
        enum store_rollup_group group;
    } reads[] = {
        {until - 29 * DAY, until, HOUR, "us", STORE_ROLLUP_BY_CHECK},
        {until - 29 * DAY, until, HOUR, NULL, STORE_ROLLUP_BY_CHECK},
        {until - 2 * DAY - 7 * MIN, until, HOUR, NULL, STORE_ROLLUP_BY_REGION},
        {until - 3 * HOUR, until, MIN * 20, NULL, STORE_ROLLUP_BY_CHECK},
    };
    char err[512];
    for (size_t k = 0; k < sizeof reads / sizeof reads[0]; k++) {
        struct store_rollup_filter f = {.since_us = reads[k].since, .until_us = reads[k].until,
                                        .bucket_us = reads[k].bucket, .region = reads[k].region,
                                        .group = reads[k].group, .align = 1};
        struct store_rollup_row *full = NULL, *p95 = NULL;
        size_t nf = 0, np = 0, with = 0;
        if (store_rollup_query(S, &f, &full, &nf, err, sizeof err) != 0)
            fail_msg("histograms: %s", err);
        f.p95_only = 1;
        if (store_rollup_query(S, &f, &p95, &np, err, sizeof err) != 0)
            fail_msg("p95 only: %s", err);
        assert_int_equal(nf, np);
        for (size_t i = 0; i < nf; i++) {
            assert_string_equal(full[i].check_name, p95[i].check_name);
            assert_string_equal(full[i].group, p95[i].group);
            assert_int_equal(full[i].bucket_start_us, p95[i].bucket_start_us);
            assert_int_equal(full[i].ok + full[i].degraded + full[i].failed,
                             p95[i].ok + p95[i].degraded + p95[i].failed);
            assert_int_equal(full[i].hist.count, p95[i].hist.count);
            double want = full[i].hist.count ? pk_hist_quantile(&full[i].hist, 0.95) : NAN;
            if (!(want == p95[i].p95_us || (isnan(want) && isnan(p95[i].p95_us))))
                fail_msg("read %zu, %s/%s at %lld: p95 %g read in place, %g from the histogram", k,
                         full[i].check_name, full[i].group, (long long)full[i].bucket_start_us, p95[i].p95_us, want);
            with += full[i].hist.count > 0;
        }
        assert_true(with > 0);
        free(full);
        free(p95);
    }
}

/* A database that had hour rows before migration 027: the migration fills the
 * check-hour summaries from the stored hour rows, and the report's baselines
 * read from them equal the ones decoded from the histograms again. A migration
 * missing from picket_schema below the highest applied one (019 here, which
 * can run again) is applied too, and serve refuses the schema until it is. */
static void summaries_filled_by_migration(void **state)
{
    (void)state;
    char out[64], err[512];
    int64_t before = pgt_sql_int("SELECT count(*) FROM rollup_check_hour");
    assert_true(before > 0);
    pgt_sql(out, sizeof out, "DROP TABLE rollup_check_hour; DELETE FROM picket_schema WHERE version IN (19, 27, 43)");
    assert_true(pgt_sql_int("SELECT max(version) FROM picket_schema") > 19);
    assert_int_not_equal(store_check_schema(S, err, sizeof err), 0); /* serve refuses the schema meanwhile */
    int applied = 0;
    if (store_migrate(S, &applied, err, sizeof err) != 0)
        fail_msg("migrate: %s", err);
    assert_int_equal(applied, 3); /* 043 adds the fast-half summaries' column again */
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM picket_schema WHERE version IN (19, 27, 43)"), 3);
    assert_int_equal(store_check_schema(S, err, sizeof err), 0);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM rollup_check_hour"), before);
    int64_t until = rollup_floor(now, MIN);
    compare(until - DAY, until, NULL);
    compare(until - 30 * DAY, until, NULL);
}

/* The baselines from memory: a second report of the same span reads no
 * summary and gives the same bytes; late results in the span's last hour
 * (compacted: their check's mark rises, and the raise records that hour) make
 * that check, and only it, read again from that hour on, and its baseline
 * follows them. */
static void cached_baselines_follow_marks(void **state)
{
    (void)state;
    char err[512];
    rpc_baseline_cache_clear();
    rpc_baseline_memo_clear();
    int64_t until = rollup_floor(now, HOUR) - 2 * HOUR; /* ended long ago, nothing uncompacted */
    uint64_t hits, misses, mhits0, mmisses0, mhits, mmisses;
    rpc_baseline_memo_counts(&mhits0, &mmisses0);
    compare(until - DAY, until, NULL);
    rpc_baseline_memo_counts(&mhits, &mmisses);
    assert_int_equal(mmisses - mmisses0, N_CHECKS); /* each verdict judged once */
    assert_int_equal(mhits - mhits0, 0);
    rpc_baseline_cache_counts(&hits, &misses);
    assert_int_equal(hits, 0);
    assert_int_equal(misses, N_CHECKS);
    compare(until - DAY, until, NULL);
    rpc_baseline_cache_counts(&hits, &misses);
    assert_int_equal(hits, N_CHECKS);
    assert_int_equal(misses, N_CHECKS);
    struct rpc_query_arena *a = calloc(1, sizeof *a); /* freed by rpc_query_arena_free */
    assert_non_null(a);
    const struct store_check_meta *checks[N_CHECKS];
    Picket__V1__CheckTrend *trends[N_CHECKS];
    Picket__V1__BaselineState *before[N_CHECKS], *after[N_CHECKS];
    for (int c = 0; c < N_CHECKS; c++)
        checks[c] = &metas[c];
    if (rpc_report_batch(S, a, checks, N_CHECKS, until - DAY, until, NULL, trends, before, err, sizeof err) != 0)
        fail_msg("batch: %s", err);
    /* four 9 s results of check 4 in the span's last hour, arriving late */
    struct pk_result rs[2][2];
    for (int p = 0; p < 2; p++) {
        for (int k = 0; k < 2; k++) {
            struct pk_result *r = &rs[p][k];
            memset(r, 0, sizeof *r);
            r->seq = 100000000 + (uint64_t)k;
            pk_strlcpy(r->check_name, metas[4].name, sizeof r->check_name);
            pk_strlcpy(r->check_type, "http", sizeof r->check_type);
            r->started_at_us = until - 30 * MIN + k * MIN;
            r->outcome = PK_OUTCOME_OK;
            r->total_us = 9000000;
            r->dns_us = r->connect_us = r->tls_us = r->ttfb_us = -1;
        }
        struct store_batch b = {.probe_id = probe_ids[p], .results = rs[p], .n_results = 2};
        if (store_write_batches(S, &b, 1, err, sizeof err) != 0)
            fail_msg("write: %s", err);
    }
    uint64_t folded = 0;
    assert_int_equal(store_rollup_compact(S, now, 40 * MIN, &folded, err, sizeof err), 0);
    assert_true(folded > 0);
    assert_true(pgt_sql_int("SELECT m.seq FROM check_hour_marks m JOIN checks c ON c.id = m.check_id "
                            "WHERE c.name = '%s'", metas[4].name) > 0);
    /* the raise records its hour (migration 038) */
    assert_int_equal(pgt_sql_int("SELECT (extract(epoch FROM r.hour) * 1000000)::bigint FROM check_hour_rewrites r "
                                 "JOIN checks c ON c.id = r.check_id JOIN check_hour_marks m ON m.check_id = c.id "
                                 "AND m.seq = r.seq WHERE c.name = '%s'", metas[4].name),
                     until - HOUR);
    uint64_t partial0, read0, partial1, read1, mmiss0, mhits1, mmiss1;
    rpc_baseline_cache_reads(&partial0, &read0);
    rpc_baseline_memo_counts(&mhits0, &mmiss0);
    compare(until - DAY, until, NULL); /* the same bytes as the per-check path, which reads everything */
    /* the verdicts: check 4's inputs changed and it is judged again; the
     * others' are the same and come from memory */
    rpc_baseline_memo_counts(&mhits1, &mmiss1);
    assert_int_equal(mhits1 - mhits0, N_CHECKS - 1);
    assert_int_equal(mmiss1 - mmiss0, 1);
    rpc_baseline_cache_counts(&hits, &misses);
    rpc_baseline_cache_reads(&partial1, &read1);
    /* check 4 kept up to the rewritten hour: that hour alone read again, not
     * its 29 days (696 hours) */
    assert_int_equal(misses, N_CHECKS);
    assert_int_equal(hits, 3 * N_CHECKS);
    assert_int_equal(partial1 - partial0, 1);
    assert_int_equal(read1 - read0, 1);
    if (rpc_report_batch(S, a, checks, N_CHECKS, until - DAY, until, NULL, trends, after, err, sizeof err) != 0)
        fail_msg("batch: %s", err);
    assert_true(after[4]->last_p95_us > before[4]->last_p95_us);
    assert_true(after[4]->last_p95_us >= 9000000.0 * 0.99);
    assert_true(after[0]->last_p95_us == before[0]->last_p95_us);
    rpc_query_arena_free(a);
}

/* The cache stays within its byte bound: with room for about three of the
 * seven checks' entries a report keeps at most that, sweeps the rest out, and
 * every answer is still the per-check path's; the entries it keeps serve the
 * next report. */
static void cached_baselines_within_bound(void **state)
{
    (void)state;
    size_t bytes, entries;
    uint64_t evicted, hits, misses;
    rpc_baseline_cache_clear();
    int64_t until = rollup_floor(now, HOUR) - 2 * HOUR;
    compare(until - DAY, until, NULL);
    rpc_baseline_cache_size(&bytes, &entries, &evicted);
    assert_int_equal(entries, N_CHECKS);
    assert_int_equal(evicted, 0);
    size_t each = bytes / entries, limit = each * 7 / 2; /* three and a half entries */
    rpc_baseline_cache_clear();
    rpc_baseline_cache_set_limit(limit);
    for (int round = 0; round < 3; round++) {
        compare(until - DAY, until, NULL);
        compare(until - DAY, until, "us");
        rpc_baseline_cache_size(&bytes, &entries, &evicted);
        if (bytes > limit || entries > 3)
            fail_msg("round %d: %zu bytes in %zu entries kept, bound %zu", round, bytes, entries, limit);
    }
    assert_true(evicted >= 2 * N_CHECKS); /* 14 entries asked each round, at most 3 kept */
    rpc_baseline_cache_counts(&hits, &misses);
    assert_true(misses > 2 * N_CHECKS);
    /* a bound lowered under what is kept sweeps at once */
    rpc_baseline_cache_set_limit(each);
    rpc_baseline_cache_size(&bytes, &entries, &evicted);
    assert_true(bytes <= each);
    rpc_baseline_cache_set_limit((size_t)RPC_BASELINE_CACHE_DEFAULT_MB << 20);
    rpc_baseline_cache_clear();
    compare(until - DAY, until, NULL);
    compare(until - DAY, until, NULL);
    rpc_baseline_cache_counts(&hits, &misses);
    assert_int_equal(hits, N_CHECKS);
    assert_int_equal(misses, N_CHECKS);
}

/* One region's baselines are kept too, apart from every region's: a second
 * report of the region is served from memory with the same bytes, late
 * results in the region read only their hour again, and a probe that moves
 * into the region (its past rows now count there) makes every check read
 * again: the per-check path, which keeps nothing, must agree each time. */
static void cached_region_baselines(void **state)
{
    (void)state;
    uint64_t hits, misses, partial0, read0, partial1, read1;
    rpc_baseline_cache_clear();
    int64_t until = rollup_floor(now, HOUR) - 2 * HOUR; /* ended long ago, nothing uncompacted */
    compare(until - DAY, until, "us");
    rpc_baseline_cache_counts(&hits, &misses);
    assert_int_equal(hits, 0);
    assert_int_equal(misses, N_CHECKS);
    compare(until - DAY, until, "us");
    rpc_baseline_cache_counts(&hits, &misses);
    assert_int_equal(hits, N_CHECKS);
    compare(until - DAY, until, NULL); /* every region: entries of their own */
    compare(until - DAY, until, "eu");
    rpc_baseline_cache_counts(&hits, &misses);
    assert_int_equal(hits, N_CHECKS);
    assert_int_equal(misses, 3 * N_CHECKS);
    send_late(6, 1, 200000000, until - 50 * MIN, 2, 9000000); /* two 9 s results from the "us" probe */
    rpc_baseline_cache_reads(&partial0, &read0);
    compare(until - DAY, until, "us");
    rpc_baseline_cache_counts(&hits, &misses);
    rpc_baseline_cache_reads(&partial1, &read1);
    assert_int_equal(hits, 2 * N_CHECKS);
    assert_int_equal(partial1 - partial0, 1); /* check 6: its rewritten hour read again, not 29 days */
    assert_int_equal(read1 - read0, 1);
    /* the "eu" probe moves to "us": the region's past sums change */
    assert_int_equal(pgt_register_probe(S, "batch-eu-1", "us"), probe_ids[0]);
    compare(until - DAY, until, "us");
    rpc_baseline_cache_counts(&hits, &misses);
    assert_int_equal(hits, 2 * N_CHECKS);
    assert_int_equal(misses, 4 * N_CHECKS);
    assert_int_equal(pgt_register_probe(S, "batch-eu-1", "eu"), probe_ids[0]);
    compare(until - DAY, until, "eu");
    compare(until - DAY, until, "us");
}

/* The span moved on by an hour (the next hour's reports): every check's
 * kept summaries serve it, and only the new hour is read; the baselines are
 * the same bytes as the per-check path's. */
static void cached_baselines_slide(void **state)
{
    (void)state;
    uint64_t hits, misses;
    rpc_baseline_cache_clear();
    int64_t until = rollup_floor(now, HOUR) - 3 * HOUR; /* ended long ago, nothing uncompacted */
    compare(until - DAY, until, NULL);
    rpc_baseline_cache_counts(&hits, &misses);
    assert_int_equal(hits, 0);
    assert_int_equal(misses, N_CHECKS);
    compare(until + HOUR - DAY, until + HOUR, NULL);
    rpc_baseline_cache_counts(&hits, &misses);
    assert_int_equal(hits, N_CHECKS);
    assert_int_equal(misses, N_CHECKS);
    compare(until + HOUR - DAY, until + HOUR, NULL); /* kept at the new span */
    rpc_baseline_cache_counts(&hits, &misses);
    assert_int_equal(hits, 2 * N_CHECKS);
    assert_int_equal(misses, N_CHECKS);
}

/* Two reports that come together on a cold cache (a collector's first
 * minutes: the dashboard's first pass and a command) read the summaries once:
 * one fills the cache, the other waits for it and takes them from memory, and
 * both get the same rows. */
struct cold_call {
    pthread_barrier_t *go;
    int64_t since, until;
    struct store_check_hour *rows;
    size_t n;
    int rc;
};

static void *cold_call_main(void *arg)
{
    struct cold_call *c = arg;
    char err[512];
    struct store *s = store_open(pgt_url(), err, sizeof err);
    const char *names[N_CHECKS];
    for (int i = 0; i < N_CHECKS; i++)
        names[i] = metas[i].name;
    pthread_barrier_wait(c->go);
    c->rc = s ? rpc_baseline_cache_hours(s, names, N_CHECKS, NULL, c->since, c->until, &c->rows, &c->n, err, sizeof err)
              : -1;
    if (c->rc < 0)
        fprintf(stderr, "cold call: %s\n", err);
    store_close(s);
    return NULL;
}

static void cold_cache_filled_once(void **state)
{
    (void)state;
    rpc_baseline_cache_clear();
    int64_t until = rollup_floor(now, HOUR) - 2 * HOUR; /* ended long ago, nothing uncompacted */
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 2);
    struct cold_call calls[2] = {{&go, until - 29 * DAY, until, NULL, 0, 0}, {&go, until - 29 * DAY, until, NULL, 0, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, cold_call_main, &calls[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    uint64_t hits, misses;
    rpc_baseline_cache_counts(&hits, &misses);
    assert_int_equal(calls[0].rc, 0);
    assert_int_equal(calls[1].rc, 0);
    assert_int_equal(misses, N_CHECKS); /* read once */
    assert_int_equal(hits, N_CHECKS);   /* and taken from memory by the other */
    assert_true(calls[0].n > (size_t)N_CHECKS * 24);
    assert_int_equal(calls[0].n, calls[1].n);
    for (size_t i = 0; i < calls[0].n; i++) { /* field by field: the struct has padding */
        const struct store_check_hour *a = &calls[0].rows[i], *b = &calls[1].rows[i];
        assert_int_equal(a->check, b->check);
        assert_int_equal(a->hour_us, b->hour_us);
        assert_int_equal(a->ok, b->ok);
        assert_int_equal(a->degraded, b->degraded);
        assert_int_equal(a->failed, b->failed);
        assert_int_equal(a->unknown, b->unknown);
        assert_int_equal(a->hist_count, b->hist_count);
        assert_memory_equal(&a->p95_us, &b->p95_us, sizeof a->p95_us); /* NaN included */
    }
    free(calls[0].rows);
    free(calls[1].rows);
}

/* All checks' summaries over [since, until) into *out (n rows). */
static size_t read_hours(int64_t since, int64_t until, struct store_check_hour **out)
{
    char err[512];
    const char *names[N_CHECKS];
    for (int c = 0; c < N_CHECKS; c++)
        names[c] = metas[c].name;
    size_t n = 0;
    if (store_check_hours_read(S, names, N_CHECKS, since, until, out, &n, err, sizeof err) != 0)
        fail_msg("check hours: %s", err);
    return n;
}

/* Every field of n summaries equal. */
static void assert_hours_equal(const struct store_check_hour *a, const struct store_check_hour *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(a[i].check, b[i].check);
        assert_int_equal(a[i].hour_us, b[i].hour_us);
        assert_int_equal(a[i].ok, b[i].ok);
        assert_int_equal(a[i].degraded, b[i].degraded);
        assert_int_equal(a[i].failed, b[i].failed);
        assert_int_equal(a[i].unknown, b[i].unknown);
        assert_int_equal(a[i].hist_count, b[i].hist_count);
        assert_memory_equal(&a[i].p95_us, &b[i].p95_us, sizeof a[i].p95_us);
    }
}

/* The summaries read with the packed days (migration 039) equal those read
 * from rollup_check_hour alone (the packs ignored: no day marked done). */
static void assert_packs_equal_rows(int64_t since, int64_t until)
{
    char out[64];
    struct store_check_hour *a = NULL, *b = NULL;
    size_t na = read_hours(since, until, &a);
    pgt_sql(out, sizeof out, "CREATE TABLE chd_saved AS SELECT until FROM check_hour_days_done; "
                             "UPDATE check_hour_days_done SET until = NULL");
    size_t nb = read_hours(since, until, &b);
    pgt_sql(out, sizeof out, "UPDATE check_hour_days_done SET until = (SELECT until FROM chd_saved); "
                             "DROP TABLE chd_saved");
    assert_true(na > (size_t)N_CHECKS * 24);
    assert_int_equal(na, nb);
    assert_hours_equal(a, b, na);
    free(a);
    free(b);
}

/* Whole days that ended over an hour ago are packed one row per (check, day)
 * by the compaction (check_hour_days.c), and read as the same summaries; late
 * results in a packed day repack it in the compaction's transaction; migration
 * 039 packs an existing history. */
static void packed_days_equal_summaries(void **state)
{
    (void)state;
    char out[64], err[512];
    int64_t until = rollup_floor(now, HOUR) - 2 * HOUR;
    assert_true(pgt_sql_int("SELECT count(*) FROM check_hour_days") >= 29 * N_CHECKS);
    assert_int_equal(pgt_sql_int("SELECT (extract(epoch FROM until) * 1000000)::bigint FROM check_hour_days_done"),
                     rollup_floor(now - HOUR, DAY));
    assert_packs_equal_rows(until - 29 * DAY, until);
    assert_packs_equal_rows(until - DAY - 7 * HOUR, until - 5 * HOUR); /* a day at most: edges only */

    /* three late 7 s results of check 2 in a packed day, compacted */
    int64_t day = rollup_floor(now, DAY) - 5 * DAY, hour = day + 3 * HOUR;
    int64_t ok_before = pgt_sql_int("SELECT h.ok FROM rollup_check_hour h JOIN checks c ON c.id = h.check_id "
                                    "WHERE c.name = '%s' AND h.hour = to_timestamp(%lld)",
                                    metas[2].name, (long long)(hour / 1000000));
    send_late(2, 0, 300000000, hour + 7 * MIN, 3, 7000000);
    struct store_check_hour *h = NULL;
    size_t n = read_hours(day, day + DAY, &h);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        if (h[i].check == 2 && h[i].hour_us == hour) {
            assert_int_equal(h[i].ok, ok_before + 3); /* from the repacked day */
            found = 1;
        }
    free(h);
    assert_true(found);
    assert_packs_equal_rows(until - 29 * DAY, until);

    /* migration 039 on a history without packs packs the same days */
    int64_t packs = pgt_sql_int("SELECT count(*) FROM check_hour_days");
    pgt_sql(out, sizeof out, "DROP TABLE check_hour_days, check_hour_days_done; "
                             "DELETE FROM picket_schema WHERE version = 39");
    int applied = 0;
    if (store_migrate(S, &applied, err, sizeof err) != 0)
        fail_msg("migrate: %s", err);
    assert_int_equal(applied, 1);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM check_hour_days"), packs);
    assert_packs_equal_rows(until - 29 * DAY, until);
}

static size_t read_region_hours(const char *region, int64_t since, int64_t until, struct store_check_hour **out)
{
    char err[512];
    const char *names[N_CHECKS];
    for (int c = 0; c < N_CHECKS; c++)
        names[c] = metas[c].name;
    size_t n = 0;
    if (rpc_region_hours_read(S, names, N_CHECKS, region, since, until, out, &n, err, sizeof err) != 0)
        fail_msg("region hours: %s", err);
    return n;
}

/* A region's summaries read with its packed days (migration 044) equal those
 * read from the rollups alone (the region marked stale: its packs not read). */
static void assert_region_packs_equal_rows(const char *region, int64_t since, int64_t until)
{
    char out[64];
    struct store_check_hour *a = NULL, *b = NULL;
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM region_hour_days_stale"), 0);
    size_t na = read_region_hours(region, since, until, &a);
    pgt_sql(out, sizeof out, "INSERT INTO region_hour_days_stale VALUES ('%s')", region);
    size_t nb = read_region_hours(region, since, until, &b);
    pgt_sql(out, sizeof out, "DELETE FROM region_hour_days_stale");
    assert_true(na >= (size_t)N_CHECKS * ((until - since) / HOUR - 1));
    assert_int_equal(na, nb);
    assert_hours_equal(a, b, na);
    free(a);
    free(b);
}

static int64_t region_packs(const char *region)
{
    return pgt_sql_int("SELECT count(*) FROM region_hour_days WHERE region = '%s'", region);
}

/* Each region's summaries of the packed days are packed one row per (check,
 * region, day) beside check_hour_days, and read as the rollups give them: with
 * one probe in the region and, after a probe moves (which marks both regions
 * until the compaction packs them again), with two; late results repack their
 * day; migration 044 packs an existing history the same way. */
static void packed_region_days_equal_rows(void **state)
{
    (void)state;
    char out[64], err[512];
    uint64_t folded = 0;
    int64_t until = rollup_floor(now, HOUR) - 2 * HOUR;
    assert_true(region_packs("eu") >= 29 * N_CHECKS);
    assert_int_equal(region_packs("us"), region_packs("eu"));
    for (int k = 0; k < 2; k++) {
        const char *region = k ? "us" : "eu";
        assert_region_packs_equal_rows(region, until - 29 * DAY, until);
        assert_region_packs_equal_rows(region, until - DAY - 7 * HOUR, until - 5 * HOUR);
        assert_region_packs_equal_rows(region, rollup_floor(until, DAY) - 3 * DAY, rollup_floor(until, DAY) - DAY);
    }

    /* three late 8 s results of check 4 from the "us" probe in a packed day */
    int64_t day = rollup_floor(now, DAY) - 6 * DAY, hour = day + 5 * HOUR;
    struct store_check_hour *h = NULL;
    size_t n = read_region_hours("us", day, day + DAY, &h);
    uint64_t ok_before = 0;
    for (size_t i = 0; i < n; i++)
        if (h[i].check == 4 && h[i].hour_us == hour)
            ok_before = h[i].ok;
    free(h);
    send_late(4, 1, 400000000, hour + 9 * MIN, 3, 8000000);
    n = read_region_hours("us", day, day + DAY, &h);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        if (h[i].check == 4 && h[i].hour_us == hour) {
            assert_int_equal(h[i].ok, ok_before + 3); /* from the repacked day */
            found = 1;
        }
    free(h);
    assert_true(found);
    assert_region_packs_equal_rows("us", until - 29 * DAY, until);
    assert_region_packs_equal_rows("eu", until - 29 * DAY, until);

    /* the "eu" probe moves to "us": both marked, then packed again */
    assert_int_equal(pgt_register_probe(S, "batch-eu-1", "us"), probe_ids[0]);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM region_hour_days_stale"), 2);
    assert_int_equal(store_rollup_compact(S, now, 40 * MIN, &folded, err, sizeof err), 0);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM region_hour_days_stale"), 0);
    assert_int_equal(region_packs("eu"), 0);
    assert_region_packs_equal_rows("us", until - 29 * DAY, until); /* two probes' hours merged */
    assert_int_equal(pgt_register_probe(S, "batch-eu-1", "eu"), probe_ids[0]);
    assert_int_equal(store_rollup_compact(S, now, 40 * MIN, &folded, err, sizeof err), 0);
    assert_region_packs_equal_rows("eu", until - 29 * DAY, until);
    assert_region_packs_equal_rows("us", until - 29 * DAY, until);

    /* migration 044 on a history without region packs packs the same days */
    int64_t packs = pgt_sql_int("SELECT count(*) FROM region_hour_days");
    pgt_sql(out, sizeof out, "DROP TABLE region_hour_days, region_hour_days_stale; "
                             "DELETE FROM picket_schema WHERE version = 44");
    int applied = 0;
    if (store_migrate(S, &applied, err, sizeof err) != 0)
        fail_msg("migrate: %s", err);
    assert_int_equal(applied, 1);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM region_hour_days"), packs);
    assert_region_packs_equal_rows("eu", until - 29 * DAY, until);
    assert_region_packs_equal_rows("us", until - 29 * DAY, until);
}

/* Checks with no rows at all get empty figures, as on the per-check path. */
static void checks_without_rows(void **state)
{
    (void)state;
    char err[512];
    struct rpc_query_arena *a = calloc(1, sizeof *a); /* freed by rpc_query_arena_free */
    assert_non_null(a);
    struct store_check_meta ghost = {0};
    pk_strlcpy(ghost.name, "batch-nothing-stored", sizeof ghost.name);
    const struct store_check_meta *checks[2] = {&ghost, &metas[0]};
    Picket__V1__CheckTrend *trends[2];
    Picket__V1__BaselineState *baselines[2];
    int64_t until = rollup_floor(now, MIN);
    if (rpc_report_batch(S, a, checks, 2, until - DAY, until, NULL, trends, baselines, err, sizeof err) != 0)
        fail_msg("batch: %s", err);
    assert_int_equal(trends[0]->p95_us->points, 0);
    assert_int_equal(baselines[0]->history_points, 0);
    assert_true(trends[1]->p95_us->points > 0);
    rpc_query_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batch_equals_per_check),
        cmocka_unit_test(split_read_equals_one_read),
        cmocka_unit_test(p95_only_equals_histograms),
        cmocka_unit_test(checks_without_rows),
        cmocka_unit_test(cached_baselines_follow_marks),
        cmocka_unit_test(cached_baselines_slide),
        cmocka_unit_test(cached_region_baselines),
        cmocka_unit_test(cached_baselines_within_bound),
        cmocka_unit_test(cold_cache_filled_once),
        cmocka_unit_test(packed_days_equal_summaries),
        cmocka_unit_test(packed_region_days_equal_rows),
        cmocka_unit_test(summaries_filled_by_migration),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
