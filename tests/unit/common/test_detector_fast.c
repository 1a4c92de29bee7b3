/* test_detector_fast.c: the detector's tests for small shifts (common/baseline.c):
 * Page's CUSUM (raises once the sum of score - k passes h, held at 2h, restarted
 * when the detector clears, one direction unless both are watched), scores beyond
 * `reject` left out of the windowed mean and the CUSUM, and the windowed mean
 * calibrated in its own out-of-sample spread (pk_regression_learn measures it:
 * 1 / sqrt(window) for noise that changes every window, 1 for noise that holds a
 * whole hour; a small shift then raises on the first and not on the second).
 * Answers are worked out in the comments. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analytics.h"

#define MIN5_US (300LL * 1000000)
#define WEEK_US (7LL * 24 * 3600 * 1000000)
#define T0 (1704067200LL * 1000000) /* Monday 2024-01-01 00:00 UTC */

static struct pk_detector_opts cusum_opts(void)
{
    struct pk_detector_opts o;
    pk_detector_opts_default(&o);
    o.threshold = 99.0; /* the single-score test never fires here */
    o.k_raise = o.k_clear = 3;
    o.cusum_k = 1.0;
    o.cusum_h = 4.0;
    o.cusum_clip = 4.0;
    return o;
}

/* Returns the index (from 0) of the first of n scores v that raises, or -1. */
static int first_raise(struct pk_detector *d, int64_t t0, double v, int n)
{
    for (int i = 0; i < n; i++)
        if (pk_detector_feed(d, t0 + i, v) == PK_DET_RAISED)
            return i;
    return -1;
}

static void test_cusum(void **state)
{
    (void)state;
    struct pk_detector_opts o = cusum_opts();
    struct pk_detector d;
    pk_detector_init(&d, &o);
    /* one huge score is clipped to 4: S = 3, not beyond 4; then zeros: 2, 1, 0 */
    assert_int_equal(pk_detector_feed(&d, 0, 50.0), PK_DET_NONE);
    assert_true(d.cusum_up == 3.0);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(pk_detector_feed(&d, i, 0.0), PK_DET_NONE);
    assert_true(d.cusum_up == 0.0);
    /* a sustained shift of 2: S = 1, 2, 3, 4, 5: raised at the fifth, at once
     * (not k_raise windows later), since its first deviant window */
    assert_int_equal(first_raise(&d, 10, 2.0, 20), 4);
    assert_int_equal(d.since_us, 14);
    /* held at 2h = 8 however long the shift lasts */
    for (int i = 0; i < 20; i++)
        pk_detector_feed(&d, 30 + i, 2.0);
    assert_true(d.cusum_up == 8.0);
    /* zeros: 7, 6, 5 still beyond; 4, 3, 2 normal: cleared at the third, and
     * the CUSUM restarts from 0, so the next shift takes five windows again */
    int cleared_at = -1;
    for (int i = 0; i < 10 && cleared_at < 0; i++)
        if (pk_detector_feed(&d, 60 + i, 0.0) == PK_DET_CLEARED)
            cleared_at = i;
    assert_int_equal(cleared_at, 5);
    assert_true(d.cusum_up == 0.0);
    assert_int_equal(first_raise(&d, 80, 2.0, 20), 4);
    /* upward only: a downward shift never raises; watched both ways it does */
    pk_detector_init(&d, &o);
    assert_int_equal(first_raise(&d, 0, -2.0, 50), -1);
    o.direction = PK_DIR_BOTH;
    pk_detector_init(&d, &o);
    assert_int_equal(first_raise(&d, 0, -2.0, 50), 4);
    /* without the CUSUM the same shift is never deviant */
    o.cusum_h = 0.0;
    pk_detector_init(&d, &o);
    assert_int_equal(first_raise(&d, 0, 2.0, 50), -1);
}

/* A burst-sized score is left out of the windowed mean and the CUSUM: a window
 * of z 50 among zeros raises without `reject` (mean of 4: 12.5 > 2) and not with
 * it; a step of 2.5 then fills the mean as if the burst had not been there. */
static void test_reject(void **state)
{
    (void)state;
    struct pk_detector_opts o;
    pk_detector_opts_default(&o);
    o.threshold = 99.0;
    o.k_raise = o.k_clear = 8;
    o.window = 4;
    o.window_threshold = 2.0;
    struct pk_detector d;
    pk_detector_init(&d, &o);
    const double burst[] = {0.0, 0.0, 0.0, 50.0};
    int raised = 0;
    for (int i = 0; i < 4; i++)
        raised |= pk_detector_feed(&d, i, burst[i]) == PK_DET_RAISED;
    assert_true(raised);
    o.reject = 6.0;
    pk_detector_init(&d, &o);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pk_detector_feed(&d, i, burst[i]), PK_DET_NONE);
    /* the ring holds 0, 0, 0; means of the step: 0.625, 1.25, 1.875, 2.5 */
    assert_int_equal(first_raise(&d, 10, 2.5, 10), 3);
    /* and the CUSUM: a rejected score adds nothing */
    o = cusum_opts();
    o.reject = 6.0;
    pk_detector_init(&d, &o);
    pk_detector_feed(&d, 0, 50.0);
    assert_true(d.cusum_up == 0.0);
    pk_detector_feed(&d, 1, 3.0);
    assert_true(d.cusum_up == 2.0);
}

/* Three weeks of 5-minute windows around 100, +-10. "every": the sign changes
 * every window; "hourly": it holds for an hour (12 windows, from the half hour,
 * so that each hour-of-week slot holds six of each sign). Either way a slot's
 * median is 100 and its MAD 10 (in sample and out of sample), so every score is
 * +-10 / 14.826 = +-0.6745. The mean of 6 is then 0 for "every" (spread floored
 * at 1 / sqrt(6) = 0.408) and +-0.6745 for 7 of every 12 windows of "hourly"
 * (the others 2/3, 1/3 or 0 of it; the median |mean| is 0.6745, the spread
 * 1.4826 x 0.6745 = 1). */
enum { HIST = 3 * 2016, JUDGED = 24 };
static int64_t t[HIST + JUDGED];
static double y[HIST + JUDGED];

static void fill(int hourly, double shift)
{
    for (int i = 0; i < HIST + JUDGED; i++) {
        t[i] = T0 + (int64_t)i * MIN5_US;
        int sign = hourly ? ((i + 6) / 12) % 2 : i % 2;
        y[i] = 100.0 + (sign ? 10.0 : -10.0) + (i >= HIST ? shift : 0.0);
    }
}

static struct pk_regression_opts calibrated_opts(void)
{
    struct pk_regression_opts o;
    pk_regression_opts_default(&o);
    o.det.threshold = 99.0;
    o.det.k_raise = o.det.k_clear = 8;
    o.det.window = 6;
    o.det.window_threshold = 1.5;
    o.det.window_calibrated = 1;
    o.base.pool_out_of_sample = 1;
    return o;
}

static void count_raise(void *user, int event, int64_t t_us, int64_t since_us, double score, double value,
                        double expected)
{
    (void)t_us, (void)since_us, (void)score, (void)value, (void)expected;
    *(int *)user += event == PK_DET_RAISED;
}

/* Learns from the history, judges the JUDGED windows; returns the raises. */
static int judge(const struct pk_regression_opts *o, struct pk_regression_model *m, size_t n_hist)
{
    char err[256];
    assert_int_equal(pk_regression_learn(o, t, y, NULL, n_hist, m, err, sizeof err), 0);
    struct pk_regression r;
    int raises = 0;
    pk_regression_judge_model(o, m, t + HIST, y + HIST, JUDGED, &r, count_raise, &raises);
    return raises;
}

static void test_calibrated(void **state)
{
    (void)state;
    struct pk_regression_model *m = malloc(sizeof *m);
    assert_non_null(m);
    struct pk_regression_opts o = calibrated_opts();
    /* a shift of +11.12 adds 0.75 to each score: scores 1.425 and 0.075, the mean
     * of 6 is 0.75, over its spread 1.84: beyond 1.5 */
    fill(0, 11.12);
    assert_int_equal(judge(&o, m, HIST), 1);
    assert_true(fabs(m->window_scale - 1.0 / sqrt(6.0)) < 1e-9);
    /* uncalibrated, the mean (0.75) stays under 1.5 */
    o.det.window_calibrated = 0;
    assert_int_equal(judge(&o, m, HIST), 0);
    assert_true(m->window_scale == 0.0);
    /* noise that holds the hour: the spread is 1, and the mean is at most
     * 0.6745 + 0.75 = 1.425: no evidence */
    o.det.window_calibrated = 1;
    fill(1, 11.12);
    assert_int_equal(judge(&o, m, HIST), 0);
    assert_true(fabs(m->window_scale - 1.0) < 1e-3);
    /* but a shift of 2 scores (+29.65) is */
    fill(1, 29.65);
    assert_int_equal(judge(&o, m, HIST), 1);
    /* one week of history: nothing held out, no spread, the windowed test off */
    fill(0, 29.7);
    assert_int_equal(judge(&o, m, 2016), 0);
    assert_true(m->window_scale == 0.0);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cusum),
        cmocka_unit_test(test_reject),
        cmocka_unit_test(test_calibrated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
