/* test_trend.c: Theil–Sen slope and its rank-based band against answers worked
 * out by hand (a linear ramp, a ramp with an outlier, a 10-point series whose 45
 * pairwise slopes were listed and counted), NAN skipping and the limits. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analytics.h"

#define HOUR_US (3600LL * 1000000)
#define DAY_US (86400LL * 1000000)
#define T0 (1704067200LL * 1000000)

/* y = 100 + 2 per hour over 48 hours: 48 per day; median 100 + 2 * 23.5 = 147;
 * 48 / 147 = 32.653 % per day; every pairwise slope is 48, so is the band. */
static void test_linear_ramp(void **state)
{
    (void)state;
    int64_t t[48];
    double y[48];
    for (int i = 0; i < 48; i++) {
        t[i] = T0 + i * HOUR_US;
        y[i] = 100.0 + 2.0 * i;
    }
    struct pk_trend tr;
    char err[256];
    assert_int_equal(pk_trend_theil_sen(t, y, 48, 0.95, &tr, err, sizeof err), 0);
    assert_int_equal(tr.n, 48);
    assert_true(fabs(tr.slope_per_day - 48.0) < 1e-9);
    assert_true(fabs(tr.median - 147.0) < 1e-9);
    assert_true(fabs(tr.pct_per_day - 4800.0 / 147.0) < 1e-9);
    assert_true(fabs(tr.lo_per_day - 48.0) < 1e-9 && fabs(tr.hi_per_day - 48.0) < 1e-9);

    /* one wild outlier moves 47 of 1128 slopes: the median stays 48 */
    y[10] = 10000.0;
    assert_int_equal(pk_trend_theil_sen(t, y, 48, 0.95, &tr, err, sizeof err), 0);
    assert_true(fabs(tr.slope_per_day - 48.0) < 1e-9);
    /* a NAN (no data that hour) is skipped */
    y[10] = NAN;
    assert_int_equal(pk_trend_theil_sen(t, y, 48, 0.95, &tr, err, sizeof err), 0);
    assert_int_equal(tr.n, 47);
    assert_true(fabs(tr.slope_per_day - 48.0) < 1e-9);
    /* a falling error rate: negative slope, negative % */
    for (int i = 0; i < 48; i++)
        y[i] = 0.05 - 0.0005 * i;
    assert_int_equal(pk_trend_theil_sen(t, y, 48, 0.95, &tr, err, sizeof err), 0);
    assert_true(fabs(tr.slope_per_day - (-0.012)) < 1e-12);
    assert_true(tr.pct_per_day < 0);
}

/* t = 0..9 days, y = 1 3 2 4 6 5 7 9 8 10. Of the 45 sorted slopes the 23rd is 1.0.
 * n = 10: Var(S) = 10 * 9 * 25 / 18 = 125 (no ties); C = 1.95996 * sqrt(125) =
 * 21.913; M1 = (45 - C) / 2 = 11.54 -> the 12th slope, 5/7 = 0.714286;
 * M2 + 1 = (45 + C) / 2 + 1 = 34.46 -> the 34th, 1.25. Median y 5.5:
 * 1 / 5.5 = 18.18 % per day. */
static void test_band_by_hand(void **state)
{
    (void)state;
    int64_t t[10];
    double y[10] = {1, 3, 2, 4, 6, 5, 7, 9, 8, 10};
    for (int i = 0; i < 10; i++)
        t[i] = T0 + i * DAY_US;
    struct pk_trend tr;
    char err[256];
    assert_int_equal(pk_trend_theil_sen(t, y, 10, 0.95, &tr, err, sizeof err), 0);
    assert_true(fabs(tr.slope_per_day - 1.0) < 1e-12);
    assert_true(fabs(tr.lo_per_day - 5.0 / 7.0) < 1e-12);
    assert_true(fabs(tr.hi_per_day - 1.25) < 1e-12);
    assert_true(fabs(tr.median - 5.5) < 1e-12);
    assert_true(fabs(tr.pct_per_day - 100.0 / 5.5) < 1e-9);
    assert_true(fabs(tr.pct_lo - 100.0 * 5.0 / 7.0 / 5.5) < 1e-9);
    /* under 10 points there is no band */
    assert_int_equal(pk_trend_theil_sen(t, y, 9, 0.95, &tr, err, sizeof err), 0);
    assert_true(isnan(tr.lo_per_day) && isnan(tr.hi_per_day));
    assert_false(isnan(tr.slope_per_day));
}

/* Noisy flat series: the band contains 0; a zero median gives no %. */
static void test_flat_and_limits(void **state)
{
    (void)state;
    enum { N = 200 };
    int64_t t[N];
    double y[N];
    uint64_t x = 7;
    for (int i = 0; i < N; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        t[i] = T0 + i * HOUR_US;
        y[i] = 50.0 + (double)((x >> 33) % 1000) / 100.0;
    }
    struct pk_trend tr;
    char err[256];
    assert_int_equal(pk_trend_theil_sen(t, y, N, 0.95, &tr, err, sizeof err), 0);
    assert_true(tr.lo_per_day <= 0.0 && tr.hi_per_day >= 0.0);
    assert_true(tr.lo_per_day <= tr.slope_per_day && tr.slope_per_day <= tr.hi_per_day);
    for (int i = 0; i < N; i++)
        y[i] = 0.0;
    assert_int_equal(pk_trend_theil_sen(t, y, N, 0.95, &tr, err, sizeof err), 0);
    assert_true(tr.slope_per_day == 0.0);
    assert_true(isnan(tr.pct_per_day));

    /* one time only, too many points, bad confidence */
    int64_t same[3] = {T0, T0, T0};
    assert_int_equal(pk_trend_theil_sen(same, y, 3, 0.95, &tr, err, sizeof err), -1);
    assert_non_null(strstr(err, "2 distinct times"));
    int64_t *big_t = calloc(PK_TREND_MAX_POINTS + 1, sizeof *big_t);
    double *big_y = calloc(PK_TREND_MAX_POINTS + 1, sizeof *big_y);
    assert_non_null(big_t);
    assert_non_null(big_y);
    assert_int_equal(pk_trend_theil_sen(big_t, big_y, PK_TREND_MAX_POINTS + 1, 0.95, &tr, err, sizeof err), -1);
    assert_non_null(strstr(err, "at most"));
    free(big_t);
    free(big_y);
    assert_int_equal(pk_trend_theil_sen(t, y, N, 1.5, &tr, err, sizeof err), -1);
    assert_non_null(strstr(err, "confidence"));
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One value of series kind (0..4) at point i: noisy values on a coarse grid
 * (ties), the same with a ramp, an error rate that is mostly 0 (most slopes
 * tie at 0: the band is one value), an exact ramp (every slope equal) and two
 * values alternating. */
static double series_value(int kind, size_t i, uint64_t r)
{
    switch (kind) {
    case 0:
        return 100.0 + (double)(r % 7) * 5.0;
    case 1:
        return 100.0 + (double)(r % 7) * 5.0 + (double)i * 0.1;
    case 2:
        return r % 13 == 0 ? 0.01 * (double)(r % 5) : 0.0;
    case 3:
        return 50.0 + 2.0 * (double)i;
    default:
        return i % 2 ? 80.0 : 120.0;
    }
}

/* The slope and band are order statistics of the pairwise slopes: against a full
 * sort of them, on series of every kind above, odd and even pair counts, and
 * sizes on both sides of the point where the selection is narrowed first
 * (4,096 slopes: 91 points) up to a 720-point (30 days hourly) series. */
static void test_ranks_match_a_full_sort(void **state)
{
    (void)state;
    static const size_t sizes[] = {10, 11, 37, 64, 90, 91, 92, 168, 239, 240, 720};
    uint64_t seed = 12345;
    for (size_t s = 0; s < 5 * sizeof sizes / sizeof sizes[0]; s++) {
        const int kind = (int)(s % 5);
        size_t n = sizes[s / 5], np = n * (n - 1) / 2;
        int64_t *t = malloc(n * sizeof *t);
        double *y = malloc(n * sizeof *y), *sl = malloc(np * sizeof *sl);
        assert_true(t && y && sl);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            t[i] = T0 + (int64_t)i * HOUR_US;
            y[i] = series_value(kind, i, seed >> 33);
        }
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                sl[k++] = (y[j] - y[i]) / (double)(t[j] - t[i]) * (double)DAY_US;
        qsort(sl, np, sizeof *sl, cmp_d);
        struct pk_trend tr;
        char err[200];
        assert_int_equal(pk_trend_theil_sen(t, y, n, 0.95, &tr, err, sizeof err), 0);
        double median = np % 2 ? sl[np / 2] : (sl[np / 2 - 1] + sl[np / 2]) / 2.0;
        assert_true(tr.slope_per_day == median);
        /* the band's ranks (Sen 1968, ties in the values corrected), read from the sorted slopes */
        double *v = malloc(n * sizeof *v);
        assert_non_null(v);
        memcpy(v, y, n * sizeof *v);
        qsort(v, n, sizeof *v, cmp_d);
        double var = (double)n * (double)(n - 1) * (double)(2 * n + 5);
        for (size_t i = 0, j; i < n; i = j) {
            for (j = i; j < n && v[j] == v[i]; j++)
                ;
            double tie = (double)(j - i);
            var -= tie * (tie - 1) * (2 * tie + 5);
        }
        free(v);
        double c = 1.959963984540054 * sqrt(var / 18.0);
        long lo = lround(((double)np - c) / 2.0), hi = lround(((double)np + c) / 2.0 + 1.0);
        lo = lo < 1 ? 1 : lo > (long)np ? (long)np : lo;
        hi = hi < 1 ? 1 : hi > (long)np ? (long)np : hi;
        assert_true(tr.lo_per_day == sl[lo - 1]);
        assert_true(tr.hi_per_day == sl[hi - 1]);
        free(t);
        free(y);
        free(sl);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_ramp),
        cmocka_unit_test(test_band_by_hand),
        cmocka_unit_test(test_flat_and_limits),
        cmocka_unit_test(test_ranks_match_a_full_sort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
