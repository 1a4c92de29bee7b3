/* test_regression_store.c: the baseline regression rule's reads from a real
 * PostgreSQL (PICKET_TEST_PG_URL from tests/integration/pgharness.py; the test
 * FAILS without it). Two checks, two probes, ten days of a result every two
 * minutes, one check three times slower over its last ten hours, the newest
 * minutes left uncompacted:
 * - the fast half's 5-minute windows read through the stored summaries of
 *   ended hours (rollup_check_hour.fast, migration 043) are those the minute
 *   rows give, bit for bit: on the read that stores them and on the read that
 *   uses them;
 * - late results in an hour that has a summary clear it, and the next read
 *   gives the minute rows' windows with the late results in them;
 * - a summary is stored only while the row's counts are those it was
 *   computed from;
 * - the back-test (regression_replay) gives the same alarms with the memo of
 *   medians (pk_stats_memo) as without, and finds the step;
 * - the alert thread's cached models of both halves judge as one whole read
 *   does;
 * - both halves' judged windows read for both checks at once are the
 *   per-check reads'. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../support/test_rng.h"
#include "pgtest.h"
#include "regression_rule.h"
#include "result.h"
#include "rollup.h"
#include "store.h"

#define MIN ROLLUP_MINUTE_US
#define HOUR ROLLUP_HOUR_US
#define DAY ROLLUP_DAY_US
#define DAYS 10
#define STEP (2 * MIN)

static struct store *S;
static int64_t probe_ids[2];
static const char *const checks[2] = {"fast-steady", "fast-step"};
static int64_t now, start;
static uint64_t rng = 7;
static uint64_t rnd(void) { return test_rng_next(&rng); }

static void compact(void)
{
    char err[512];
    uint64_t folded = 0; /* the newest minutes stay in rollup_partial */
    assert_int_equal(store_rollup_compact(S, now, 30 * MIN, &folded, err, sizeof err), 0);
    assert_true(folded > 0);
}

static void feed(void)
{
    char err[512];
    size_t per_probe = (size_t)((now - start) / STEP) * 2;
    struct pk_result *rs = calloc(per_probe, sizeof *rs);
    assert_non_null(rs);
    int created = 0;
    assert_int_equal(store_make_partitions(S, start - DAY, now + DAY, &created, err, sizeof err), 0);
    for (int p = 0; p < 2; p++) {
        size_t n = 0;
        for (int64_t t = start; t + STEP <= now; t += STEP)
            for (int c = 0; c < 2; c++) {
                uint64_t x = rnd() % 100;
                double base = 30000.0 * (1.0 + 0.4 * sin((double)(t % DAY) / (double)DAY * 6.283));
                if (c == 1 && t >= now - 10 * HOUR)
                    base *= 3;
                pgt_http_result(&rs[n], n + 1, checks[c], t + (int64_t)c * 5 * 1000000 + p * 11000000,
                                x < 93 ? PK_OUTCOME_OK : x < 97 ? PK_OUTCOME_DEGRADED : PK_OUTCOME_FAILED,
                                (int64_t)(base * (0.85 + (double)(rnd() % 300) / 1000.0)));
                n++;
            }
        pgt_write_results(S, probe_ids[p], rs, n);
    }
    free(rs);
    compact();
    assert_true(pgt_sql_int("SELECT count(*) FROM rollup_partial") > 0);
}

static int setup(void **state)
{
    (void)state;
    S = pgt_open_store();
    if (!S)
        return -1;
    now = pk_now_us();
    start = rollup_floor(now, HOUR) - DAYS * DAY;
    probe_ids[0] = pgt_register_probe(S, "fast-eu-1", "eu");
    probe_ids[1] = pgt_register_probe(S, "fast-us-1", "us");
    feed();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    store_close(S);
    return 0;
}

/* The fast series of check over [start, the newest whole 5 minutes), with the
 * summaries (1) or from the minute rows alone (0). */
static void read_series(const char *check, int summaries, struct regression_series *s)
{
    char err[512];
    regression_fast_summaries = summaries;
    int rc = regression_fast_series_read(S, check, NULL, NULL, start, rollup_floor(now, PK_REGRESSION_FAST_WIDTH_US),
                                         s, err, sizeof err);
    regression_fast_summaries = 1;
    if (rc != 0)
        fail_msg("fast series of %s: %s", check, err);
}

static void assert_same_series(const struct regression_series *a, const struct regression_series *b, const char *what)
{
    assert_int_equal(a->n, b->n);
    assert_true(a->from == b->from);
    size_t present = 0, excluded = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (memcmp(&a->y[i], &b->y[i], sizeof a->y[i]) != 0 || a->excluded[i] != b->excluded[i])
            fail_msg("%s: window %zu differs: %.17g/%d against %.17g/%d", what, i, a->y[i], a->excluded[i], b->y[i],
                     b->excluded[i]);
        present += !isnan(a->y[i]);
        excluded += a->excluded[i] != 0;
    }
    assert_true(present > a->n * 9 / 10); /* a window is 5 minutes: 2 to 3 results of each probe */
    (void)excluded;
}

static int64_t stored(const char *check)
{
    return pgt_sql_int("SELECT count(*) FROM rollup_check_hour h JOIN checks c ON c.id = h.check_id "
                       "WHERE c.name = '%s' AND h.fast IS NOT NULL", check);
}

static void test_summaries_exact(void **state)
{
    (void)state;
    for (int c = 0; c < 2; c++) {
        struct regression_series minutes, first, again;
        read_series(checks[c], 0, &minutes);
        assert_int_equal(stored(checks[c]), 0);
        read_series(checks[c], 1, &first);
        /* every ended hour but the newest (the last 5 minutes of now and the
         * uncompacted ones are read from the minute rows) */
        int64_t n = stored(checks[c]);
        assert_true(n >= DAYS * 24 - 2);
        assert_true(n <= DAYS * 24);
        read_series(checks[c], 1, &again);
        assert_int_equal(stored(checks[c]), n);
        assert_same_series(&minutes, &first, "the read that stored the summaries");
        assert_same_series(&minutes, &again, "the read from the summaries");
        regression_series_free(&minutes);
        regression_series_free(&first);
        regression_series_free(&again);
    }
}

static void test_late_results_clear(void **state)
{
    (void)state;
    const char *check = checks[0];
    struct regression_series s;
    read_series(check, 1, &s); /* every summary stored */
    regression_series_free(&s);
    int64_t hour = rollup_floor(now, HOUR) - 3 * DAY + 5 * HOUR;
    char ts[64];
    time_t secs = (time_t)(hour / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S+00", &tm);
#define ROW_STORED "SELECT count(*) FROM rollup_check_hour h JOIN checks c ON c.id = h.check_id " \
                   "WHERE c.name = '%s' AND h.hour = '%s' AND h.fast IS NOT NULL"
    assert_int_equal(pgt_sql_int(ROW_STORED, check, ts), 1);
    /* eight 9 s results inside one window of that hour, late */
    char err[512];
    struct pk_result rs[8];
    for (int k = 0; k < 8; k++)
        pgt_http_result(&rs[k], 900000000 + (uint64_t)k, check, hour + 15 * MIN + k * 30 * 1000000, PK_OUTCOME_OK,
                        9000000);
    struct store_batch b = {.probe_id = probe_ids[1], .results = rs, .n_results = 8};
    if (store_write_batches(S, &b, 1, err, sizeof err) != 0)
        fail_msg("write: %s", err);
    compact();
    assert_int_equal(pgt_sql_int(ROW_STORED, check, ts), 0);
    struct regression_series minutes, after;
    read_series(check, 0, &minutes);
    read_series(check, 1, &after);
    assert_same_series(&minutes, &after, "after late results");
    /* the window of the late results moved: 2 or 3 results of each probe and eight of 9 s */
    size_t k = (size_t)((hour + 15 * MIN - start) / PK_REGRESSION_FAST_WIDTH_US);
    assert_true(after.y[k] > 1000000.0);
    assert_int_equal(pgt_sql_int(ROW_STORED, check, ts), 1);
    regression_series_free(&minutes);
    regression_series_free(&after);
}

static void test_write_guard(void **state)
{
    (void)state;
    char err[512];
    const char *check = checks[1];
    int64_t hour = rollup_floor(now, HOUR) - 2 * DAY;
    pgt_sql(err, sizeof err,
            "UPDATE rollup_check_hour h SET fast = NULL FROM checks c WHERE c.id = h.check_id AND c.name = '%s' "
            "AND h.hour = to_timestamp(%lld)",
            check, (long long)(hour / 1000000));
    int64_t total = pgt_sql_int("SELECT h.ok + h.degraded + h.failed + h.unknown FROM rollup_check_hour h "
                                "JOIN checks c ON c.id = h.check_id WHERE c.name = '%s' AND h.hour = to_timestamp(%lld)",
                                check, (long long)(hour / 1000000));
    assert_true(total > 0);
    uint8_t v[1][STORE_CHECK_FAST_LEN];
    memset(v, 0x11, sizeof v);
    uint64_t wrong = (uint64_t)total + 1, right = (uint64_t)total;
    size_t written = 9;
    assert_int_equal(store_check_fast_write(S, check, &hour, &wrong, (const uint8_t (*)[STORE_CHECK_FAST_LEN])v, 1,
                                            &written, err, sizeof err), 0);
    assert_int_equal(written, 0);
    assert_int_equal(store_check_fast_write(S, check, &hour, &right, (const uint8_t (*)[STORE_CHECK_FAST_LEN])v, 1,
                                            &written, err, sizeof err), 0);
    assert_int_equal(written, 1);
    /* a row with a summary keeps it */
    assert_int_equal(store_check_fast_write(S, check, &hour, &right, (const uint8_t (*)[STORE_CHECK_FAST_LEN])v, 1,
                                            &written, err, sizeof err), 0);
    assert_int_equal(written, 0);
    /* put the true one back for the tests after */
    pgt_sql(err, sizeof err,
            "UPDATE rollup_check_hour h SET fast = NULL FROM checks c WHERE c.id = h.check_id AND c.name = '%s'", check);
}

static void replay(const char *check, struct pk_stats_memo *memo, struct regression_alarms *out, int *learning)
{
    char err[512];
    struct pk_regression_opts o;
    regression_rule_opts(0, 0, 0, &o);
    o.base.memo = memo;
    memset(out, 0, sizeof *out);
    int64_t until = rollup_floor(now, MIN);
    if (regression_replay(S, check, NULL, NULL, 1, &o, until - DAY, until, out, learning, err, sizeof err) != 0)
        fail_msg("back-test of %s: %s", check, err);
}

static void test_memo_same_alarms(void **state)
{
    (void)state;
    for (int c = 0; c < 2; c++) {
        struct regression_alarms plain, memo;
        int l1 = -1, l2 = -1;
        struct pk_stats_memo *m = pk_stats_memo_new();
        assert_non_null(m);
        replay(checks[c], NULL, &plain, &l1);
        replay(checks[c], m, &memo, &l2);
        uint64_t hits = 0, misses = 0;
        pk_stats_memo_counts(m, &hits, &misses);
        assert_true(hits > misses); /* the hours of a day share most of their history */
        assert_int_equal(l1, l2);
        assert_int_equal(plain.n, memo.n);
        for (size_t i = 0; i < plain.n; i++) {
            const struct regression_alarm *a = &plain.v[i], *b = &memo.v[i];
            assert_true(a->fired == b->fired && a->since == b->since && a->cleared == b->cleared);
            assert_true(memcmp(&a->score, &b->score, sizeof a->score) == 0);
            assert_true(memcmp(&a->value, &b->value, sizeof a->value) == 0);
            assert_true(memcmp(&a->expected, &b->expected, sizeof a->expected) == 0);
            assert_int_equal(a->fast, b->fast);
        }
        if (c == 1) { /* the step ten hours before now, raised and not cleared */
            assert_true(plain.n >= 1);
            assert_true(plain.v[0].since >= now - 10 * HOUR - HOUR);
            assert_true(plain.v[plain.n - 1].cleared == 0);
        }
        free(plain.v);
        free(memo.v);
        pk_stats_memo_free(m);
    }
}

/* The alert thread's cached halves (regression_hourly_cached,
 * regression_fast_cached) give what one whole read and regression_rule_at or
 * regression_fast_at give, at every hour of the step and again from the cache. */
static void test_cached_halves(void **state)
{
    (void)state;
    char err[512];
    struct regression_cache c = {0};
    struct pk_regression_opts o, fo;
    regression_rule_opts(0, 0, 0, &o);
    regression_fast_opts(0, &fo);
    int raised = 0;
    for (int64_t end = rollup_floor(now, HOUR) - 12 * HOUR; end <= rollup_floor(now, HOUR); end += HOUR) {
        for (int again = 0; again < 2; again++) {
            struct regression_series sr;
            struct pk_regression want, got, fwant, fgot;
            if (regression_series_read(S, checks[1], NULL, NULL, end - REGRESSION_RECENT_US - REGRESSION_HISTORY_US, end,
                                       &sr, err, sizeof err) != 0 ||
                regression_rule_at(&sr, end, &o, &want, err, sizeof err) != 0 ||
                regression_hourly_cached(&c, S, 0, checks[1], NULL, end, &o, &got, err, sizeof err) != 0)
                fail_msg("hourly half at %lld: %s", (long long)end, err);
            regression_series_free(&sr);
            assert_int_equal(got.state, want.state);
            assert_true(got.since_us == want.since_us && got.windows == want.windows && got.judged == want.judged);
            assert_true(memcmp(&got.last_score, &want.last_score, sizeof got.last_score) == 0);
            assert_true(memcmp(&got.expected, &want.expected, sizeof got.expected) == 0);
            raised += got.state == PK_REG_RAISED;
            int64_t fend = end - 10 * MIN;
            if (regression_fast_series_read(S, checks[1], NULL, NULL, regression_fast_split(fend) - REGRESSION_HISTORY_US,
                                            fend, &sr, err, sizeof err) != 0 ||
                regression_fast_at(&sr, fend, &fo, &fwant, NULL, NULL, err, sizeof err) != 0 ||
                regression_fast_cached(&c, S, 0, checks[1], NULL, fend, &fo, &fgot, err, sizeof err) != 0)
                fail_msg("fast half at %lld: %s", (long long)fend, err);
            regression_series_free(&sr);
            assert_int_equal(fgot.state, fwant.state);
            assert_true(fgot.since_us == fwant.since_us && fgot.judged == fwant.judged);
            assert_true(memcmp(&fgot.last_score, &fwant.last_score, sizeof fgot.last_score) == 0);
        }
    }
    assert_true(raised >= 2); /* the step raised the hourly half in its last hours */
    regression_cache_free(&c);
}

/* Both checks' judged windows read at once (regression_judged_many, what the
 * alert thread reads for a rule on many checks) are the per-check reads' bit
 * for bit: the fast half against the minute rows alone, on the read that
 * stores the summaries back (one check's cleared for some hours, the other's
 * kept) and on the read that uses them, at an end with uncompacted minutes
 * and at older ends; the hourly half against its per-check read. */
static void compare_many(int hourly, int64_t from, int64_t to, const char *what)
{
    char err[512];
    struct regression_series many[2], one;
    if (regression_judged_many(S, hourly, checks, 2, from, to, many, err, sizeof err) != 0)
        fail_msg("%s: many: %s", what, err);
    for (int c = 0; c < 2; c++) {
        regression_fast_summaries = 0; /* the reference: the minute rows alone */
        int rc = regression_half_read(S, hourly, 0, checks[c], NULL, from, to, &one, err, sizeof err);
        regression_fast_summaries = 1;
        if (rc != 0)
            fail_msg("%s: %s: %s", what, checks[c], err);
        assert_int_equal(many[c].n, one.n);
        assert_true(many[c].from == one.from && many[c].width == one.width);
        size_t present = 0;
        for (size_t i = 0; i < one.n; i++) {
            if (memcmp(&many[c].y[i], &one.y[i], sizeof one.y[i]) != 0 || many[c].excluded[i] != one.excluded[i] ||
                many[c].t[i] != one.t[i])
                fail_msg("%s: %s window %zu: %.17g/%d at once against %.17g/%d alone", what, checks[c], i,
                         many[c].y[i], many[c].excluded[i], one.y[i], one.excluded[i]);
            present += !isnan(one.y[i]);
        }
        assert_true(present > one.n / 2);
        regression_series_free(&one);
        regression_series_free(&many[c]);
    }
}

static void test_judged_many(void **state)
{
    (void)state;
    char out[64];
    int64_t fend = rollup_floor(now, PK_REGRESSION_FAST_WIDTH_US);
    pgt_sql(out, sizeof out,
            "UPDATE rollup_check_hour h SET fast = NULL FROM checks c WHERE c.id = h.check_id AND c.name = '%s' "
            "AND h.hour >= now() - interval '5 hours'", checks[0]);
    int64_t before = stored(checks[0]);
    compare_many(0, regression_fast_split(fend), fend, "fast half now, some summaries cleared");
    assert_true(stored(checks[0]) > before); /* stored back by the read at once */
    compare_many(0, regression_fast_split(fend), fend, "fast half now, from the summaries");
    compare_many(0, regression_fast_split(fend - 7 * HOUR), fend - 7 * HOUR, "fast half 7 hours ago");
    compare_many(0, fend - 20 * MIN, fend, "fast half, no whole hour");
    int64_t end = rollup_floor(now, HOUR) + HOUR;
    compare_many(1, end - REGRESSION_RECENT_US, end, "hourly half now");
    compare_many(1, end - 3 * DAY, end - 2 * DAY, "hourly half two days ago");
    /* the alert cache's prefetch over 300 names (its table grows twice; 298
     * checks without rows) serves each check its own windows: both halves judge
     * as a cache that read them check by check */
    enum { N_NAMES = 300 };
    static char other[N_NAMES][32];
    const char *names[N_NAMES];
    for (int i = 0; i < N_NAMES; i++) {
        snprintf(other[i], sizeof other[i], "no-such-check-%03d", i);
        names[i] = i == 17 ? checks[0] : i == 201 ? checks[1] : other[i];
    }
    char err[512];
    struct regression_cache pre = {0}, plain = {0};
    struct pk_regression_opts o, fo;
    regression_rule_opts(0, 0, 0, &o);
    regression_fast_opts(0, &fo);
    if (regression_cache_prefetch(&pre, S, 0, 1, names, N_NAMES, end, err, sizeof err) != 0 ||
        regression_cache_prefetch(&pre, S, 0, 0, names, N_NAMES, fend, err, sizeof err) != 0)
        fail_msg("prefetch: %s", err);
    for (int c = 0; c < 2; c++) {
        struct pk_regression a, b, fa, fb;
        if (regression_hourly_cached(&pre, S, 0, checks[c], NULL, end, &o, &a, err, sizeof err) != 0 ||
            regression_hourly_cached(&plain, S, 0, checks[c], NULL, end, &o, &b, err, sizeof err) != 0 ||
            regression_fast_cached(&pre, S, 0, checks[c], NULL, fend, &fo, &fa, err, sizeof err) != 0 ||
            regression_fast_cached(&plain, S, 0, checks[c], NULL, fend, &fo, &fb, err, sizeof err) != 0)
            fail_msg("%s: %s", checks[c], err);
        assert_int_equal(a.state, b.state);
        assert_true(a.windows == b.windows && a.judged == b.judged && a.judged > 0);
        assert_true(memcmp(&a.last_score, &b.last_score, sizeof a.last_score) == 0);
        assert_int_equal(fa.state, fb.state);
        assert_true(fa.judged == fb.judged && fa.judged > 0);
        assert_true(memcmp(&fa.last_score, &fb.last_score, sizeof fa.last_score) == 0);
    }
    regression_cache_free(&pre);
    regression_cache_free(&plain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summaries_exact),
        cmocka_unit_test(test_late_results_clear),
        cmocka_unit_test(test_write_guard),
        cmocka_unit_test(test_memo_same_alarms),
        cmocka_unit_test(test_cached_halves),
        cmocka_unit_test(test_judged_many),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
