/* test_analytics.c: availability from buckets and from rounds (region quorum, no
 * data), SLO error budget and burn-rate alerts, and the median/MAD helpers, each on
 * a hand-made series whose answer is worked out in the comments. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analytics.h"
#include "result.h"

#define MIN_US (60LL * 1000000)
#define T0 (1704067200LL * 1000000) /* Monday 2024-01-01 00:00 UTC */

static struct pk_an_bucket bucket(int minute, uint64_t ok, uint64_t degraded, uint64_t failed, uint64_t unknown)
{
    return (struct pk_an_bucket){T0 + minute * MIN_US, MIN_US, {ok, degraded, failed, unknown}, NULL};
}

static void test_buckets_success_and_uptime(void **state)
{
    (void)state;
    struct pk_an_bucket b[] = {
        bucket(0, 1, 0, 0, 0), bucket(1, 1, 0, 0, 0), bucket(2, 0, 0, 1, 0),
        bucket(3, 0, 0, 0, 0), /* no data */
        bucket(4, 0, 1, 0, 0), bucket(5, 0, 0, 0, 1), /* unknown only: no data */
        bucket(6, 3, 0, 2, 0), /* up: 2 of 5 bad */
        bucket(7, 2, 0, 3, 0), /* down: 3 of 5 bad */
        bucket(8, 2, 0, 2, 0), /* up: a tie is not a majority */
    };
    struct pk_avail a;
    /* minutes 0..5: good 3 (ok 2 + degraded 1), bad 1; covered 4 min, up 3 min */
    pk_avail_buckets(b, 9, T0, T0 + 6 * MIN_US, PK_DEGRADED_UP, &a);
    assert_int_equal(a.n.ok, 2);
    assert_int_equal(a.n.degraded, 1);
    assert_int_equal(a.n.failed, 1);
    assert_int_equal(a.n.unknown, 1);
    assert_true(fabs(a.success_ratio - 0.75) < 1e-12);
    assert_int_equal(a.covered_us, 4 * MIN_US);
    assert_int_equal(a.up_us, 3 * MIN_US);
    assert_true(fabs(a.uptime - 0.75) < 1e-12);
    /* degraded counted as down: good 2, bad 2; minute 4 is down */
    pk_avail_buckets(b, 9, T0, T0 + 6 * MIN_US, PK_DEGRADED_DOWN, &a);
    assert_true(fabs(a.success_ratio - 0.5) < 1e-12);
    assert_true(fabs(a.uptime - 0.5) < 1e-12);
    /* minutes 6..8: good 7, bad 7 -> 0.5; two of three minutes up */
    pk_avail_buckets(b, 9, T0 + 6 * MIN_US, T0 + 9 * MIN_US, PK_DEGRADED_UP, &a);
    assert_true(fabs(a.success_ratio - 0.5) < 1e-12);
    assert_true(fabs(a.uptime - 2.0 / 3.0) < 1e-12);
    /* a window ending half-way through minute 8 covers half of it */
    pk_avail_buckets(b, 9, T0 + 6 * MIN_US, T0 + 8 * MIN_US + MIN_US / 2, PK_DEGRADED_UP, &a);
    assert_int_equal(a.covered_us, 2 * MIN_US + MIN_US / 2);
    assert_int_equal(a.up_us, MIN_US + MIN_US / 2);
}

static void test_buckets_no_data_is_not_down(void **state)
{
    (void)state;
    struct pk_an_bucket b[] = {bucket(0, 0, 0, 0, 0), bucket(1, 0, 0, 0, 4)};
    struct pk_avail a;
    pk_avail_buckets(b, 2, T0, T0 + 2 * MIN_US, PK_DEGRADED_UP, &a);
    assert_true(isnan(a.success_ratio));
    assert_true(isnan(a.uptime));
    assert_int_equal(a.covered_us, 0);
    pk_avail_buckets(NULL, 0, T0, T0 + 2 * MIN_US, PK_DEGRADED_UP, &a);
    assert_true(isnan(a.success_ratio));
    assert_true(isnan(a.uptime));
}

/* Three regions, interval 60 s, quorum 2; results land 7 s into their round (jitter).
 *   round 0: ok ok ok          -> up
 *   round 1: F  ok ok          -> up (1 region down)
 *   round 2: F  F  ok          -> down
 *   round 3: F  F  -           -> down (region 2 without data)
 *   round 4: F  -  -           -> up: one region down, the others have no data
 *   round 5: -  -  -           -> no data
 *   round 6: F  F  F           -> down
 * Global: 6 rounds with data, 3 down -> uptime 0.5; results 15, failed 9 -> 0.4.
 * Region 0: 6 rounds with data, 5 down -> 1/6; results 6, failed 5. */
static const char *const quorum_rounds[] = {"ooo", "Foo", "FFo", "FF-", "F--", "---", "FFF"};

static size_t make_rounds(struct pk_an_round *r)
{
    size_t n = 0;
    for (int k = 0; k < 7; k++)
        for (int g = 0; g < 3; g++) {
            char c = quorum_rounds[k][g];
            if (c == '-')
                continue;
            r[n++] = (struct pk_an_round){T0 + k * MIN_US + 7000000, g,
                                          c == 'F' ? PK_OUTCOME_FAILED : PK_OUTCOME_OK, 1000};
        }
    return n;
}

static void test_rounds_quorum(void **state)
{
    (void)state;
    struct pk_an_round r[32];
    size_t n = make_rounds(r);
    struct pk_round_opts o = {.interval_us = MIN_US, .quorum = 2};
    char err[256];
    struct pk_slot *s;
    size_t ns;
    assert_int_equal(pk_rounds_slots(r, n, -1, T0, T0 + 7 * MIN_US, &o, &s, &ns, err, sizeof err), 0);
    assert_int_equal(ns, 7);
    const int want[] = {PK_SLOT_UP, PK_SLOT_UP, PK_SLOT_DOWN, PK_SLOT_DOWN, PK_SLOT_UP, PK_SLOT_NO_DATA, PK_SLOT_DOWN};
    for (int k = 0; k < 7; k++) {
        assert_int_equal(s[k].state, want[k]);
        assert_int_equal(s[k].start_us, T0 + k * MIN_US);
    }
    assert_int_equal(s[3].regions_data, 3);
    assert_int_equal(s[3].regions_down, 3);
    assert_int_equal(s[4].regions_down, 1);
    free(s);

    struct pk_avail a;
    assert_int_equal(pk_avail_rounds(r, n, -1, T0, T0 + 7 * MIN_US, &o, &a, err, sizeof err), 0);
    assert_int_equal(a.covered_us, 6 * MIN_US);
    assert_int_equal(a.up_us, 3 * MIN_US);
    assert_true(fabs(a.uptime - 0.5) < 1e-12);
    assert_int_equal(a.n.failed, 9);
    assert_int_equal(a.n.ok, 6);
    assert_true(fabs(a.success_ratio - 0.4) < 1e-12);

    /* quorum 1: any region down is global down -> rounds 1,2,3,4,6 down */
    o.quorum = 1;
    assert_int_equal(pk_avail_rounds(r, n, -1, T0, T0 + 7 * MIN_US, &o, &a, err, sizeof err), 0);
    assert_true(fabs(a.uptime - 1.0 / 6.0) < 1e-12);
    /* quorum 3: only round 6 */
    o.quorum = 3;
    assert_int_equal(pk_avail_rounds(r, n, -1, T0, T0 + 7 * MIN_US, &o, &a, err, sizeof err), 0);
    assert_true(fabs(a.uptime - 5.0 / 6.0) < 1e-12);

    /* region 0 alone */
    assert_int_equal(pk_avail_rounds(r, n, 0, T0, T0 + 7 * MIN_US, &o, &a, err, sizeof err), 0);
    assert_int_equal(a.covered_us, 6 * MIN_US);
    assert_int_equal(a.up_us, 1 * MIN_US);
    assert_int_equal(a.n.failed, 5);
    assert_true(fabs(a.success_ratio - 1.0 / 6.0) < 1e-12);
    /* region 2: rounds 0,1,2,6 with data, round 6 down */
    assert_int_equal(pk_avail_rounds(r, n, 2, T0, T0 + 7 * MIN_US, &o, &a, err, sizeof err), 0);
    assert_int_equal(a.covered_us, 4 * MIN_US);
    assert_true(fabs(a.uptime - 0.75) < 1e-12);
    /* the window [round 1, round 3) holds rounds 1 and 2 only */
    o.quorum = 2;
    assert_int_equal(pk_avail_rounds(r, n, -1, T0 + MIN_US, T0 + 3 * MIN_US, &o, &a, err, sizeof err), 0);
    assert_int_equal(a.covered_us, 2 * MIN_US);
    assert_int_equal(a.up_us, 1 * MIN_US);
    assert_int_equal(a.n.ok + a.n.failed, 6);
}

/* The same seven rounds as per-minute rollup buckets, one per (minute, region):
 * with interval == bucket width the answers are those of the rounds. */
static void test_buckets_quorum_match_rounds(void **state)
{
    (void)state;
    struct pk_an_bucket b[32];
    size_t n = 0;
    for (int k = 0; k < 7; k++)
        for (int g = 0; g < 3; g++) {
            char c = quorum_rounds[k][g];
            if (c == '-')
                continue;
            b[n] = bucket(k, c == 'o', 0, c == 'F', 0);
            b[n++].region = g;
        }
    struct pk_round_opts o = {.interval_us = MIN_US, .quorum = 2};
    struct pk_avail a;
    char err[256];
    assert_int_equal(pk_avail_buckets_quorum(b, n, -1, T0, T0 + 7 * MIN_US, &o, &a, err, sizeof err), 0);
    assert_int_equal(a.covered_us, 6 * MIN_US);
    assert_int_equal(a.up_us, 3 * MIN_US);
    assert_true(fabs(a.success_ratio - 0.4) < 1e-12);
    assert_int_equal(pk_avail_buckets_quorum(b, n, 0, T0, T0 + 7 * MIN_US, &o, &a, err, sizeof err), 0);
    assert_true(fabs(a.uptime - 1.0 / 6.0) < 1e-12);
    assert_int_equal(a.n.failed, 5);
    /* two probes of region 1 in minute 9: 1 ok + 1 failed is a tie (up), and in
     * minute 10 3 failed + 2 ok over two buckets is down */
    struct pk_an_bucket two[] = {bucket(9, 1, 0, 0, 0), bucket(9, 0, 0, 1, 0), bucket(10, 2, 0, 1, 0),
                                 bucket(10, 0, 0, 2, 0)};
    for (int i = 0; i < 4; i++)
        two[i].region = 1;
    struct pk_slot *s;
    size_t ns;
    assert_int_equal(pk_buckets_slots(two, 4, -1, T0 + 9 * MIN_US, T0 + 11 * MIN_US, &o, &s, &ns, err, sizeof err), 0);
    assert_int_equal(ns, 2);
    assert_int_equal(s[0].state, PK_SLOT_UP);
    assert_int_equal(s[1].state, PK_SLOT_UP); /* quorum 2, only region 1 down */
    assert_int_equal(s[1].regions_down, 2);
    free(s);
    assert_int_equal(pk_buckets_slots(two, 4, 1, T0 + 9 * MIN_US, T0 + 11 * MIN_US, &o, &s, &ns, err, sizeof err), 0);
    assert_int_equal(s[1].state, PK_SLOT_DOWN);
    free(s);
    two[3].region = 99;
    assert_int_equal(pk_buckets_slots(two, 4, -1, T0, T0 + 11 * MIN_US, &o, &s, &ns, err, sizeof err), -1);
    assert_non_null(strstr(err, "bucket 3"));
}

/* Latency of a window: buckets' histograms merged, by region and time. */
static void test_latency_merge(void **state)
{
    (void)state;
    static struct pk_hist h[3], all, got;
    pk_hist_init(&all);
    for (int i = 0; i < 3; i++) {
        pk_hist_init(&h[i]);
        for (int v = 1; v <= 100; v++) {
            pk_hist_add(&h[i], (i + 1) * v * 1000);
            if (i < 2)
                pk_hist_add(&all, (i + 1) * v * 1000);
        }
    }
    struct pk_an_bucket b[] = {bucket(0, 100, 0, 0, 0), bucket(1, 100, 0, 0, 0), bucket(2, 100, 0, 0, 0)};
    for (int i = 0; i < 3; i++)
        b[i].hist = &h[i];
    b[1].region = 1;
    /* minutes 0-1, all regions: the 200 values of h[0] and h[1] */
    assert_int_equal(pk_an_latency(b, 3, -1, T0, T0 + 2 * MIN_US, &got), 2);
    assert_int_equal(got.count, 200);
    assert_true(pk_hist_quantile(&got, 0.95) == pk_hist_quantile(&all, 0.95));
    assert_true(pk_hist_quantile(&got, 0.5) == pk_hist_quantile(&all, 0.5));
    /* region 1 only: h[1], values 2..200 ms: p50 within 1 % of 100 ms */
    assert_int_equal(pk_an_latency(b, 3, 1, T0, T0 + 3 * MIN_US, &got), 1);
    assert_true(fabs(pk_hist_quantile(&got, 0.5) - 100000.0) <= 1000.0);
    assert_int_equal(pk_an_latency(b, 3, 2, T0, T0 + 3 * MIN_US, &got), 0);
    assert_true(pk_hist_quantile(&got, 0.5) < 0); /* no data */
}

static void test_rounds_majority_within_region(void **state)
{
    (void)state;
    /* two probes in region 0: ok + failed is a tie (up); 2 failed + 1 ok is down */
    struct pk_an_round r[] = {
        {T0 + 1000000, 0, PK_OUTCOME_OK, 1}, {T0 + 2000000, 0, PK_OUTCOME_FAILED, 1},
        {T0 + MIN_US + 1, 0, PK_OUTCOME_FAILED, 1}, {T0 + MIN_US + 2, 0, PK_OUTCOME_FAILED, 1},
        {T0 + MIN_US + 3, 0, PK_OUTCOME_OK, 1},
        {T0 + 2 * MIN_US, 0, PK_OUTCOME_UNKNOWN, 1}, /* unknown only: no data */
    };
    struct pk_round_opts o = {.interval_us = MIN_US, .quorum = 1};
    struct pk_slot *s;
    size_t ns;
    char err[256];
    assert_int_equal(pk_rounds_slots(r, 6, 0, T0, T0 + 3 * MIN_US, &o, &s, &ns, err, sizeof err), 0);
    assert_int_equal(ns, 3);
    assert_int_equal(s[0].state, PK_SLOT_UP);
    assert_int_equal(s[1].state, PK_SLOT_DOWN);
    assert_int_equal(s[2].state, PK_SLOT_NO_DATA);
    free(s);
}

static void test_rounds_errors(void **state)
{
    (void)state;
    struct pk_an_round r[] = {{T0, 0, PK_OUTCOME_OK, 1}, {T0 + 5, 70, PK_OUTCOME_OK, 1}};
    struct pk_round_opts o = {.interval_us = MIN_US, .quorum = 1};
    struct pk_slot *s;
    size_t ns;
    char err[256] = "";
    assert_int_equal(pk_rounds_slots(r, 2, -1, T0, T0 + MIN_US, &o, &s, &ns, err, sizeof err), -1);
    assert_non_null(strstr(err, "result 1"));
    assert_non_null(strstr(err, "region index 70"));
    o.interval_us = 0;
    assert_int_equal(pk_rounds_slots(r, 1, -1, T0, T0 + MIN_US, &o, &s, &ns, err, sizeof err), -1);
    assert_non_null(strstr(err, "interval"));
    o.interval_us = MIN_US;
    o.quorum = 0;
    assert_int_equal(pk_rounds_slots(r, 1, -1, T0, T0 + MIN_US, &o, &s, &ns, err, sizeof err), -1);
    assert_non_null(strstr(err, "quorum"));
    o.quorum = 1;
    o.interval_us = 1;
    assert_int_equal(pk_rounds_slots(r, 1, -1, T0, T0 + 20000000, &o, &s, &ns, err, sizeof err), -1);
    assert_non_null(strstr(err, "more than"));
}

/* SLO 99 % over one day, minute buckets of 100 results each.
 * Scenario A: the last 5 minutes fail 20 of 100, everything else is ok.
 *   bad 100 of 144000; budget 1440 bad; left 1 - 100/1440 = 0.930556;
 *   minutes left 0.930556 * 0.01 * 1440 = 13.4; burn 5 m = 0.2 / 0.01 = 20;
 *   burn 1 h = (100 / 6000) / 0.01 = 1.667 -> the page does not fire.
 * Scenario B: the last 60 minutes fail 20 of 100: burn 1 h = burn 5 m = 20 -> page;
 *   burn 6 h = (1200 / 36000) / 0.01 = 3.33 < 6 -> no ticket. */
static void fill_slo(struct pk_an_bucket *b, int failing_minutes)
{
    for (int m = 0; m < 1440; m++) {
        int bad = m >= 1440 - failing_minutes ? 20 : 0;
        b[m] = bucket(m, (uint64_t)(100 - bad), 0, (uint64_t)bad, 0);
    }
}

static void test_slo(void **state)
{
    (void)state;
    static struct pk_an_bucket b[1440];
    struct pk_slo_opts o;
    pk_slo_opts_default(&o);
    assert_true(o.target == 0.999);
    assert_int_equal(o.window_us, 30LL * 86400 * 1000000);
    assert_true(o.alert[0].factor == 14.4 && o.alert[1].factor == 6.0);
    assert_int_equal(o.alert[1].long_us, 6 * 3600LL * 1000000);
    assert_int_equal(o.alert[1].short_us, 30 * MIN_US);
    o.target = 0.99;
    o.window_us = 1440 * MIN_US;
    int64_t now = T0 + 1440 * MIN_US;
    struct pk_slo s;
    char err[256];

    fill_slo(b, 5);
    assert_int_equal(pk_slo_eval(b, 1440, now, &o, &s, err, sizeof err), 0);
    assert_int_equal(s.good + s.bad, 144000);
    assert_int_equal(s.bad, 100);
    assert_true(fabs(s.error_budget - 1440.0) < 1e-6);
    assert_true(fabs(s.budget_left - (1.0 - 100.0 / 1440.0)) < 1e-9);
    assert_true(fabs(s.budget_left_min - (1.0 - 100.0 / 1440.0) * 14.4) < 1e-9);
    assert_true(fabs(s.alert[0].burn_short - 20.0) < 1e-9);
    assert_true(fabs(s.alert[0].burn_long - 100.0 / 6000.0 / 0.01) < 1e-9);
    assert_false(s.alert[0].firing);
    assert_false(s.alert[1].firing);

    fill_slo(b, 60);
    assert_int_equal(pk_slo_eval(b, 1440, now, &o, &s, err, sizeof err), 0);
    assert_true(fabs(s.alert[0].burn_long - 20.0) < 1e-9);
    assert_true(s.alert[0].firing);
    assert_true(fabs(s.alert[1].burn_long - 1200.0 / 36000.0 / 0.01) < 1e-9);
    assert_true(fabs(s.alert[1].burn_short - 20.0) < 1e-9);
    assert_false(s.alert[1].firing);
    /* 1200 bad of a 1440 budget: 1/6 left */
    assert_true(fabs(s.budget_left - (1.0 - 1200.0 / 1440.0)) < 1e-9);

    /* overspent: every minute fails 2 of 100 -> 2880 bad, budget left -1 */
    for (int m = 0; m < 1440; m++)
        b[m] = bucket(m, 98, 0, 2, 0);
    assert_int_equal(pk_slo_eval(b, 1440, now, &o, &s, err, sizeof err), 0);
    assert_true(fabs(s.budget_left - (-1.0)) < 1e-9);

    /* no data: budget unknown, nothing fires */
    assert_int_equal(pk_slo_eval(b, 1440, now + 2 * 1440 * MIN_US, &o, &s, err, sizeof err), 0);
    assert_true(isnan(s.budget_left));
    assert_true(isnan(s.alert[0].burn_long));
    assert_false(s.alert[0].firing);

    o.target = 1.0;
    assert_int_equal(pk_slo_eval(b, 1440, now, &o, &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "target"));
}

static void test_median_mad(void **state)
{
    (void)state;
    double a[] = {5, 1, 3};
    assert_true(pk_an_median(a, 3) == 3.0);
    double b[] = {4, 1, 3, 2};
    assert_true(pk_an_median(b, 4) == 2.5);
    double c[] = {1, 2, 3, 4, 100};
    double m = pk_an_median(c, 5);
    assert_true(m == 3.0);
    assert_true(pk_an_mad(c, 5, m) == 1.0);
    assert_true(isnan(pk_an_median(NULL, 0)));
    /* many duplicates and a larger random set against sorting */
    double d[1001], e[1001];
    uint64_t x = 12345;
    for (int i = 0; i < 1001; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        d[i] = e[i] = (double)((x >> 33) % 50);
    }
    for (int i = 1; i < 1001; i++)
        for (int j = i; j > 0 && e[j - 1] > e[j]; j--) {
            double t = e[j];
            e[j] = e[j - 1];
            e[j - 1] = t;
        }
    assert_true(pk_an_median(d, 1001) == e[500]);
    for (int i = 0; i < 1000; i++)
        d[i] = e[999 - i];
    assert_true(pk_an_median(d, 1000) == (e[499] + e[500]) / 2.0);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* The large-n path (order keys, radix passes) against sorting: every shape the
 * baselines meet (latencies, relative deviations with zeros, signed scores,
 * heavy duplicates, infinities), odd and even counts, sizes around its cut. */
static void test_median_large_against_sort(void **state)
{
    (void)state;
    enum { MAXN = 9001 };
    double *v = malloc(MAXN * sizeof *v), *sorted = malloc(MAXN * sizeof *sorted);
    assert_non_null(v);
    assert_non_null(sorted);
    const size_t sizes[] = {255, 256, 257, 300, 1000, 1001, 4096, 8064, 8065, 9001};
    const size_t n_sizes = sizeof sizes / sizeof sizes[0];
    uint64_t x = 99;
    /* every shape at each size above, then 600 runs of a size drawn from
     * [256, 3256): the two middle ranks part in every pass somewhere */
    for (int run = 0; run < 6 * (int)n_sizes + 600; run++) {
        int shape = run < 6 * (int)n_sizes ? run / (int)n_sizes : run % 5;
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        size_t n = run < 6 * (int)n_sizes ? sizes[run % n_sizes] : 256 + (size_t)((x >> 33) % 3000);
        {
            for (size_t i = 0; i < n; i++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                double u = (double)(x >> 11) / 9007199254740992.0; /* [0, 1) */
                switch (shape) {
                case 0: v[i] = 50000.0 * exp(2.0 * u); break;             /* latency-like */
                case 1: v[i] = i % 97 == 0 ? 0.0 : pow(u, 4.0); break;    /* deviations, zeros */
                case 2: v[i] = (u - 0.5) * 1e6; break;                   /* signed */
                case 3: v[i] = (double)((x >> 40) % 3) - 1.0; break;      /* three values */
                case 4: v[i] = i % 5 == 0 ? (i % 10 ? INFINITY : -INFINITY) : u; break;
                default: v[i] = 123.25; break;                           /* all equal */
                }
                sorted[i] = v[i];
            }
            qsort(sorted, n, sizeof *sorted, cmp_double);
            double want = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
            double got = pk_an_median(v, n);
            if (!(got == want || (isnan(got) && isnan(want))))
                fail_msg("shape %d n %zu: median %.17g, sorting says %.17g", shape, n, got, want);
        }
    }
    free(v);
    free(sorted);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets_success_and_uptime),
        cmocka_unit_test(test_buckets_no_data_is_not_down),
        cmocka_unit_test(test_rounds_quorum),
        cmocka_unit_test(test_buckets_quorum_match_rounds),
        cmocka_unit_test(test_latency_merge),
        cmocka_unit_test(test_rounds_majority_within_region),
        cmocka_unit_test(test_rounds_errors),
        cmocka_unit_test(test_slo),
        cmocka_unit_test(test_median_mad),
        cmocka_unit_test(test_median_large_against_sort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
