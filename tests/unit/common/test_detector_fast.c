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


/* The out-of-sample parts of a learning (the pooled spread raised by the
 * held-out deviations, and the windowed mean's spread) as their definitions
 * give them, worked out here with the public functions one step at a time:
 * pk_regression_learn computes them with shortcuts (slots found once, a held-out
 * baseline's own pooled spread left out when the floor decides the max), which
 * must not change a bit of the answer. Four weeks of 5-minute windows with a
 * daily shape, pseudo-random noise (the first week calm, so that the baseline
 * held out of it has a pooled spread above the floor, the others below), a gap
 * and a burst. */
static double held_out_median(double *v, size_t n)
{
    return n ? pk_an_median(v, n) : 0.0;
}

static void test_out_of_sample_definition(void **state)
{
    (void)state;
    enum { N = 4 * 2016 };
    int64_t *tt = malloc(N * sizeof *tt);
    double *h = malloc(N * sizeof *h), *other = malloc(N * sizeof *other), *dev = malloc(N * sizeof *dev);
    struct pk_baseline *wb = malloc(4 * sizeof *wb);
    struct pk_regression_model *m = malloc(sizeof *m);
    assert_true(tt && h && other && dev && wb && m);
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < N; i++) {
        if (i % 6 == 0) /* noise that holds half an hour: the windowed mean's spread is above its floor */
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        tt[i] = T0 + 3600LL * 1000000 * 5 + (int64_t)i * MIN5_US; /* from Monday 05:00 */
        double hour = (double)((i / 12 + 5) % 24);
        /* the first week calm: the baseline held out of it is the noisiest */
        double noise = i < 2016 ? 10.0 + (double)(x % 2000) / 2000.0 : (double)(x % 2000) / 100.0;
        h[i] = 100.0 + 30.0 * sin(hour / 24.0 * 6.283) + noise;
        if (i >= 3000 && i < 3100)
            h[i] = NAN; /* a gap */
        if (i >= 5000 && i < 5003)
            h[i] = 400.0; /* a burst, under the fast rule's k */
    }
    for (int dir = 0; dir < 2; dir++) {
        struct pk_regression_opts o;
        pk_regression_fast_opts(dir ? PK_DIR_DOWN : 0, &o);
        char err[256];
        assert_int_equal(pk_regression_learn(&o, tt, h, NULL, N, m, err, sizeof err), 0);
        assert_int_equal(m->excluded_points, 0); /* nothing dropped: the definitions below apply as they are */
        struct pk_baseline b;
        assert_int_equal(pk_baseline_learn(&b, &o.base, tt, h, N, err, sizeof err), 0);
        /* each week held out: a baseline of the other three */
        for (int w = 0; w < 4; w++) {
            for (int i = 0; i < N; i++)
                other[i] = (tt[i] - tt[0]) / WEEK_US == w ? NAN : h[i];
            assert_int_equal(pk_baseline_learn(&wb[w], &o.base, tt, other, N, err, sizeof err), 0);
        }
        size_t nd = 0;
        for (int i = 0; i < N; i++) {
            double e = pk_baseline_expected(&wb[(tt[i] - tt[0]) / WEEK_US], tt[i]);
            if (!isnan(h[i]) && !isnan(e) && e != 0.0)
                dev[nd++] = fabs(h[i] - e) / fabs(e);
        }
        double pooled = fmax(b.pooled_rel_mad, held_out_median(dev, nd));
        assert_true(m->b.pooled_rel_mad == pooled);
        /* the windowed means of each week against its held-out baseline */
        size_t nm = 0;
        int above = 0;
        for (int w = 0; w < 4; w++) {
            above += wb[w].pooled_rel_mad > pooled; /* its own spread decides, not the floor */
            wb[w].pooled_rel_mad = fmax(wb[w].pooled_rel_mad, pooled);
            struct pk_detector_opts dopt = o.det;
            dopt.window_calibrated = 0;
            struct pk_detector d;
            pk_detector_init(&d, &dopt);
            for (int i = 0; i < N; i++) {
                if ((tt[i] - tt[0]) / WEEK_US != w)
                    continue;
                double mean = pk_detector_push(&d, pk_baseline_score(&wb[w], tt[i], h[i]));
                if (!isnan(mean) && d.ring_n == d.opts.window)
                    dev[nm++] = fabs(mean);
            }
        }
        assert_int_equal(above, 1); /* both ways of the max are taken (the calm week's held-out baseline) */
        double spread = fmax(1.4826 * held_out_median(dev, nm), 1.0 / sqrt((double)o.det.window));
        assert_true(nm >= (size_t)o.det.window);
        assert_true(spread > 1.0 / sqrt((double)o.det.window));
        assert_true(m->window_scale == spread);
    }
    free(tt), free(h), free(other), free(dev), free(wb), free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cusum),
        cmocka_unit_test(test_reject),
        cmocka_unit_test(test_calibrated),
        cmocka_unit_test(test_out_of_sample_definition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
