/* test_baseline.c: hour-of-week slots, median/MAD per slot with the hour-of-day and
 * all-history fallbacks, the robust z with its MAD floor, the k-consecutive
 * detector (a step after seasonal history raises after exactly k windows and
 * clears after k), and static budgets, with answers worked out in the comments. */
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
#define WEEK_US (168 * HOUR_US)
#define T0 (1704067200LL * 1000000) /* Monday 2024-01-01 00:00 UTC */

static void test_slot_of(void **state)
{
    (void)state;
    assert_int_equal(pk_baseline_slot_of(T0, 0), 0);
    assert_int_equal(pk_baseline_slot_of(T0 + HOUR_US - 1, 0), 0);
    assert_int_equal(pk_baseline_slot_of(T0 + HOUR_US, 0), 1);
    assert_int_equal(pk_baseline_slot_of(T0 + WEEK_US - 1, 0), 167); /* Sunday 23:59:59 */
    assert_int_equal(pk_baseline_slot_of(T0 + WEEK_US, 0), 0);
    assert_int_equal(pk_baseline_slot_of(0, 0), 72); /* 1970-01-01 was a Thursday */
    assert_int_equal(pk_baseline_slot_of(-1, 0), 71);
    assert_int_equal(pk_baseline_slot_of(T0, 2 * 3600), 2); /* UTC+2: Monday 02:00 */
    assert_int_equal(pk_baseline_slot_of(T0, -3600), 167);
}

/* Seasonal: 100 at night, 150 from 09:00 to 17:00, 80 at weekends; week w adds
 * {-2, 0, +1, +3}[w]. Per slot: median = base + 0.5, MAD = median of
 * {2.5, 0.5, 0.5, 2.5} = 1.5. */
static double seasonal(int64_t t_us)
{
    int slot = pk_baseline_slot_of(t_us, 0);
    int day = slot / 24, hour = slot % 24;
    if (day >= 5)
        return 80.0;
    return hour >= 9 && hour < 17 ? 150.0 : 100.0;
}

static const double week_offset[4] = {-2, 0, 1, 3};

static void learn_4_weeks(struct pk_baseline *b, const struct pk_baseline_opts *o)
{
    static int64_t t[4 * 168];
    static double y[4 * 168];
    for (int w = 0; w < 4; w++)
        for (int h = 0; h < 168; h++) {
            t[w * 168 + h] = T0 + w * WEEK_US + h * HOUR_US;
            y[w * 168 + h] = seasonal(t[w * 168 + h]) + week_offset[w];
        }
    char err[256];
    assert_int_equal(pk_baseline_learn(b, o, t, y, 4 * 168, err, sizeof err), 0);
}

static void test_learn_and_score(void **state)
{
    (void)state;
    struct pk_baseline_opts o;
    pk_baseline_opts_default(&o);
    assert_int_equal(o.min_samples, 3);
    o.mad_floor_rel = 0.01; /* floor 1.005 < MAD 1.5 at night */
    o.pool_mad = 0;         /* the per-slot MAD alone; pooling is tested below */
    struct pk_baseline b;
    learn_4_weeks(&b, &o);
    assert_int_equal(b.n, 4 * 168);
    const struct pk_baseline_slot *night = &b.slot[0], *noon = &b.slot[12], *sat = &b.slot[5 * 24 + 12];
    assert_int_equal(night->source, PK_BASE_HOUR_OF_WEEK);
    assert_int_equal(night->n, 4);
    assert_true(fabs(night->median - 100.5) < 1e-12);
    assert_true(fabs(night->mad - 1.5) < 1e-12);
    assert_true(fabs(noon->median - 150.5) < 1e-12);
    assert_true(fabs(sat->median - 80.5) < 1e-12);
    int64_t later = T0 + 10 * WEEK_US; /* any Monday */
    /* night: scale 1.4826 * 1.5; x = 100.5 + 4 * scale scores 4 */
    double scale = 1.4826 * 1.5;
    assert_true(fabs(pk_baseline_score(&b, later, 100.5 + 4 * scale) - 4.0) < 1e-9);
    assert_true(fabs(pk_baseline_score(&b, later, 100.5)) < 1e-12);
    /* noon: floor 0.01 * 150.5 = 1.505 > MAD 1.5, so the floor sets the scale */
    assert_true(fabs(pk_baseline_score(&b, later + 12 * HOUR_US, 150.5 + 1.4826 * 1.505) - 1.0) < 1e-9);
    /* 150 is normal at noon but 33 robust sigmas high at night: seasonality at work */
    assert_true(pk_baseline_score(&b, later + 12 * HOUR_US, 150.0) < 1.0);
    assert_true(pk_baseline_score(&b, later, 150.0) > 10.0);
    assert_true(isnan(pk_baseline_score(&b, later, NAN)));
    /* the 5 % floor: scale 1.4826 * 5.025 at night */
    pk_baseline_opts_default(&o);
    assert_true(o.mad_floor_rel == 0.01);
    o.mad_floor_rel = 0.05;
    o.pool_mad = 0;
    learn_4_weeks(&b, &o);
    assert_true(fabs(pk_baseline_score(&b, later, 100.5 + 1.4826 * 5.025) - 1.0) < 1e-9);
}

/* reciprocal (the rule on a metric): a value is scored as its reciprocal's rise
 * would be, negated, so that a drop by a factor f weighs as a rise of latency by
 * f does with the difference; a rise by f as latency's drop by f; 0 stays finite. */
static void test_reciprocal_score(void **state)
{
    (void)state;
    struct pk_baseline_opts o;
    pk_baseline_opts_default(&o);
    o.pool_mad = 0;
    struct pk_baseline diff, rec;
    learn_4_weeks(&diff, &o);
    o.reciprocal = 1;
    learn_4_weeks(&rec, &o);
    int64_t later = T0 + 10 * WEEK_US; /* night: median 100.5, scale 1.4826 * 1.5 */
    double m = 100.5, scale = 1.4826 * 1.5;
    for (double f = 1.05; f < 4.0; f *= 1.5) {
        double up_diff = pk_baseline_score(&diff, later, m * f), down_rec = pk_baseline_score(&rec, later, m / f);
        assert_true(fabs(down_rec + up_diff) < 1e-9);               /* a drop by f: minus latency's rise by f */
        assert_true(fabs(down_rec + (f - 1) * m / scale) < 1e-9);
        assert_true(pk_baseline_score(&diff, later, m / f) > down_rec); /* the difference made it smaller */
        assert_true(fabs(pk_baseline_score(&rec, later, m * f) + pk_baseline_score(&diff, later, m / f)) < 1e-9);
    }
    assert_true(fabs(pk_baseline_score(&rec, later, m)) < 1e-12);
    double zero = pk_baseline_score(&rec, later, 0.0);
    assert_true(isfinite(zero) && fabs(zero + 999.0 * m / scale) < 1e-6); /* judged as a thousandth of m */
    assert_true(pk_baseline_score(&rec, later, -5.0) == zero);
    assert_true(isnan(pk_baseline_score(&rec, later, NAN)));
    /* pk_regression_kind: latency upward with the difference, a metric in its direction as the reciprocal */
    struct pk_regression_opts ro;
    pk_regression_opts_default(&ro);
    pk_regression_kind(&ro, 0);
    assert_true(ro.det.direction == PK_DIR_UP && ro.base.reciprocal == 0);
    pk_regression_kind(&ro, PK_REGRESSION_METRIC_DIR);
    assert_true(ro.det.direction == PK_DIR_DOWN && ro.base.reciprocal == 1);
    pk_regression_fast_opts(PK_DIR_BOTH, &ro);
    assert_true(ro.det.direction == PK_DIR_BOTH && ro.base.reciprocal == 1);
    assert_true(ro.det.window == PK_REGRESSION_FAST_WINDOW && ro.det.window_threshold == PK_REGRESSION_FAST_WINDOW_Z);
    assert_true(ro.base.pool_day_type == PK_REGRESSION_FAST_POOL_DAY_TYPE && ro.base.pool_day_type > 0);
    pk_regression_opts_default(&ro); /* the hourly half keeps every slot's own median */
    assert_true(ro.base.pool_day_type == 0.0);
}

/* Pooled relative MAD. Every slot's residuals |y - m| are {2.5, 0.5, 0.5, 2.5}
 * (m = base + 0.5), so the pooled value is the median of {2.5/m, 0.5/m} over the
 * week, computed here by sorting; a quiet slot (MAD 1.5 at night) then gets
 * max(1.5, pooled * 100.5) as its MAD, and the relative floor (1 %) is lower. */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void test_pooled_mad(void **state)
{
    (void)state;
    struct pk_baseline_opts o;
    pk_baseline_opts_default(&o);
    assert_int_equal(o.pool_mad, 1);
    o.mad_floor_rel = 0.01;
    struct pk_baseline b;
    learn_4_weeks(&b, &o);
    static double r[4 * 168];
    size_t k = 0;
    for (int h = 0; h < 168; h++) {
        double m = seasonal(T0 + h * HOUR_US) + 0.5;
        for (int w = 0; w < 4; w++)
            r[k++] = fabs(seasonal(T0 + h * HOUR_US) + week_offset[w] - m) / m;
    }
    qsort(r, k, sizeof *r, cmp_double);
    double pooled = (r[k / 2 - 1] + r[k / 2]) / 2.0;
    assert_true(fabs(b.pooled_rel_mad - pooled) < 1e-15);
    double mad_night = 1.5 > pooled * 100.5 ? 1.5 : pooled * 100.5;
    int64_t later = T0 + 10 * WEEK_US;
    assert_true(fabs(pk_baseline_score(&b, later, 100.5 + 1.4826 * mad_night) - 1.0) < 1e-9);
    /* the weekend slots (m = 80.5) have the largest relative residuals: 2.5 / 80.5 */
    assert_true(b.pooled_rel_mad < 2.5 / 80.5);
}

/* One week of history: each hour-of-week slot has 1 value (< 3), so a weekday slot
 * falls back to its hour on weekdays (5 values), a weekend slot (2 weekend values)
 * to its hour on any day (7: 150 x5, 80 x2). Two weeks: the weekend hour has 4.
 * Two days: the hour of day has 2 values, so all history is used. */
static void test_fallbacks(void **state)
{
    (void)state;
    int64_t t[168];
    double y[168];
    for (int h = 0; h < 168; h++) {
        t[h] = T0 + h * HOUR_US;
        y[h] = seasonal(t[h]);
    }
    struct pk_baseline_opts o;
    pk_baseline_opts_default(&o);
    struct pk_baseline b;
    char err[256];
    assert_int_equal(pk_baseline_learn(&b, &o, t, y, 168, err, sizeof err), 0);
    assert_int_equal(b.slot[12].source, PK_BASE_HOUR_OF_DAY_TYPE);
    assert_int_equal(b.slot[12].n, 5);
    assert_true(b.slot[12].median == 150.0);
    assert_true(b.slot[12].mad == 0.0);
    const int sat_noon = 5 * 24 + 12;
    assert_int_equal(b.slot[sat_noon].source, PK_BASE_HOUR_OF_DAY);
    assert_int_equal(b.slot[sat_noon].n, 7);
    assert_true(b.slot[sat_noon].median == 150.0);
    static int64_t t2[336];
    static double y2[336];
    for (int h = 0; h < 336; h++) {
        t2[h] = T0 + h * HOUR_US;
        y2[h] = seasonal(t2[h]);
    }
    assert_int_equal(pk_baseline_learn(&b, &o, t2, y2, 336, err, sizeof err), 0);
    assert_int_equal(b.slot[sat_noon].source, PK_BASE_HOUR_OF_DAY_TYPE);
    assert_int_equal(b.slot[sat_noon].n, 4);
    assert_true(b.slot[sat_noon].median == 80.0);
    /* Two days: under a week of history, every slot is learning and judges
     * nothing (an all-hours median of 100 would make every weekday peak of 150
     * a regression, the false alarms of a check's second and third day). */
    assert_int_equal(pk_baseline_learn(&b, &o, t, y, 48, err, sizeof err), 0);
    for (int s = 0; s < 168; s++)
        assert_int_equal(b.slot[s].source, PK_BASE_LEARNING);
    assert_true(isnan(pk_baseline_score(&b, T0 + 2 * 24 * HOUR_US + 12 * HOUR_US, 150.0)));
    /* 167 hours: still learning; 168 (one week): slots have a verdict */
    assert_int_equal(pk_baseline_learn(&b, &o, t, y, 167, err, sizeof err), 0);
    assert_int_equal(b.slot[12].source, PK_BASE_LEARNING);
    o.min_history_us = 2 * 24 * HOUR_US; /* a shorter learning period: slots without values of their own still learn */
    assert_int_equal(pk_baseline_learn(&b, &o, t, y, 48, err, sizeof err), 0);
    assert_int_equal(b.slot[12].source, PK_BASE_LEARNING); /* hour 12 on weekdays: 2 values, < 3; never all hours */
    assert_int_equal(b.slot[2 * 24 + 12].source, PK_BASE_LEARNING); /* Wednesday: no value of its own */
    pk_baseline_opts_default(&o);
    /* too little history, and all NAN */
    assert_int_equal(pk_baseline_learn(&b, &o, t, y, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "at least 3"));
    double nans[4] = {NAN, NAN, NAN, NAN};
    assert_int_equal(pk_baseline_learn(&b, &o, t, nans, 4, err, sizeof err), -1);
    assert_true(isnan(pk_baseline_score(&b, T0, 1.0)));
}

/* Week 5 after 4 weeks of history: normal until hour 30, +50 from hour 30 to 35
 * (6 windows), normal again. k = 3, threshold 3: raised at hour 32 (the 3rd deviant
 * window), since hour 30; cleared at hour 38 (the 3rd normal). A 2-window spike at
 * hours 60-61 raises nothing. A window with no data (NAN) between deviant ones does
 * not break the run. */
static void test_step_detection(void **state)
{
    (void)state;
    struct pk_baseline_opts o;
    pk_baseline_opts_default(&o);
    struct pk_baseline b;
    learn_4_weeks(&b, &o);
    struct pk_detector_opts dopt;
    pk_detector_opts_default(&dopt);
    assert_true(dopt.threshold == 3.0 && dopt.k_raise == 3 && dopt.k_clear == 3);
    struct pk_detector d;
    pk_detector_init(&d, &dopt);
    int64_t week5 = T0 + 4 * WEEK_US;
    int raised = -1, cleared = -1, events = 0;
    for (int h = 0; h < 168; h++) {
        int64_t t = week5 + h * HOUR_US;
        double x = seasonal(t) + 0.5;
        if ((h >= 30 && h <= 35) || h == 60 || h == 61)
            x += 50.0;
        int ev = pk_detector_feed(&d, t, pk_baseline_score(&b, t, x));
        if (ev != PK_DET_NONE)
            events++;
        if (ev == PK_DET_RAISED) {
            raised = h;
            assert_int_equal(d.since_us, week5 + 30 * HOUR_US);
        }
        if (ev == PK_DET_CLEARED)
            cleared = h;
    }
    assert_int_equal(raised, 32);
    assert_int_equal(cleared, 38);
    assert_int_equal(events, 2);
    assert_false(d.raised);

    /* k = 5: the 6-window step raises at its 5th window (34), clears at 35 + 5 = 40 */
    dopt.k_raise = dopt.k_clear = 5;
    pk_detector_init(&d, &dopt);
    raised = cleared = -1;
    for (int h = 0; h < 60; h++) {
        int64_t t = week5 + h * HOUR_US;
        double x = seasonal(t) + 0.5 + ((h >= 30 && h <= 35) ? 50.0 : 0.0);
        int ev = pk_detector_feed(&d, t, pk_baseline_score(&b, t, x));
        if (ev == PK_DET_RAISED)
            raised = h;
        if (ev == PK_DET_CLEARED)
            cleared = h;
    }
    assert_int_equal(raised, 34);
    assert_int_equal(cleared, 40);

    /* no data inside a run; downward deviations ignored for latency (PK_DIR_UP) */
    pk_detector_opts_default(&dopt);
    pk_detector_init(&d, &dopt);
    assert_int_equal(pk_detector_feed(&d, 1, 9.0), PK_DET_NONE);
    assert_int_equal(pk_detector_feed(&d, 2, NAN), PK_DET_NONE);
    assert_int_equal(pk_detector_feed(&d, 3, -9.0), PK_DET_NONE); /* normal for UP */
    assert_int_equal(pk_detector_feed(&d, 4, 9.0), PK_DET_NONE);
    assert_int_equal(pk_detector_feed(&d, 5, NAN), PK_DET_NONE);
    assert_int_equal(pk_detector_feed(&d, 6, 9.0), PK_DET_NONE);
    assert_int_equal(pk_detector_feed(&d, 7, 9.0), PK_DET_RAISED);
    assert_int_equal(d.since_us, 4);
    dopt.direction = PK_DIR_BOTH;
    pk_detector_init(&d, &dopt);
    pk_detector_feed(&d, 1, -9.0);
    pk_detector_feed(&d, 2, 9.0);
    assert_int_equal(pk_detector_feed(&d, 3, -4.5), PK_DET_RAISED);
}

/* The windowed mode: a small step (z 2.5, under the single-window threshold of 4)
 * raises once the mean of the last 4 scores passes 2; a burst of huge scores
 * shorter than that is clipped and does not. */
static void test_windowed_detector(void **state)
{
    (void)state;
    struct pk_detector_opts o;
    pk_detector_opts_default(&o);
    o.threshold = 4.0;
    o.k_raise = o.k_clear = 8;
    o.window = 4;
    o.clip = 3.0;
    o.window_threshold = 2.0;
    struct pk_detector d;
    pk_detector_init(&d, &o);
    /* a burst: two windows at z 50 among calm ones: mean at most (3 + 3) / 4 */
    const double burst[] = {0.0, 0.0, 50.0, 50.0, 0.0, 0.0, 0.0, 0.0};
    for (int i = 0; i < 8; i++)
        assert_int_equal(pk_detector_feed(&d, i, burst[i]), PK_DET_NONE);
    /* a step of z 2.5: the mean of the last four is 2.5 at the fourth window */
    int raised_at = -1;
    for (int i = 8; i < 20 && raised_at < 0; i++)
        if (pk_detector_feed(&d, i, 2.5) == PK_DET_RAISED)
            raised_at = i;
    assert_int_equal(raised_at, 11); /* means: 0.625, 1.25, 1.875, 2.5 */
    assert_int_equal(d.since_us, 11);
    /* without the window the same step is never deviant */
    o.window = 0;
    pk_detector_init(&d, &o);
    for (int i = 0; i < 20; i++)
        assert_int_equal(pk_detector_feed(&d, i, 2.5), PK_DET_NONE);
}

struct events {
    int n;
    int kind[8];
    int64_t t[8];
};

static void on_event(void *user, int event, int64_t t_us, int64_t since_us, double score, double value,
                     double expected)
{
    struct events *e = user;
    (void)since_us;
    (void)score;
    (void)value;
    (void)expected;
    if (e->n < 8) {
        e->kind[e->n] = event;
        e->t[e->n++] = t_us;
    }
}

/* The shared rule: 4 weeks of seasonal history with an outage hour (excluded by
 * the caller: its value 900 would be learned otherwise) and a 10-hour regression
 * in week 2 (+60, left out because the rule itself raises over it), then a day
 * with a step from hour 5. Learned medians are the clean ones; the step raises at
 * its 3rd window; the events carry the times. Two days of history: learning, no
 * verdict even for a weekday peak of 150 against nights of 100. */
static void test_regression_judge(void **state)
{
    (void)state;
    enum { HIST = 4 * 168, N = HIST + 24 };
    static int64_t t[N];
    static double y[N];
    static unsigned char excluded[N];
    for (int h = 0; h < N; h++) {
        t[h] = T0 + h * HOUR_US;
        y[h] = seasonal(t[h]) + week_offset[h / 168 % 4];
        excluded[h] = 0;
    }
    const int outage = 168 + 12, step_from = 2 * 168 + 12; /* Monday noon of week 1; week 2 */
    y[outage] = 900.0;
    excluded[outage] = 1;
    for (int h = step_from; h < step_from + 10; h++)
        y[h] += 60.0;
    for (int h = HIST + 5; h < N; h++)
        y[h] += 50.0;
    struct pk_regression_opts o;
    pk_regression_opts_default(&o);
    struct pk_regression r;
    struct events ev = {0};
    char err[256];
    assert_int_equal(pk_regression_judge(&o, t, y, excluded, HIST, N, &r, on_event, &ev, err, sizeof err), 0);
    assert_int_equal(r.state, PK_REG_RAISED);
    assert_int_equal(r.since_us, T0 + (HIST + 5) * HOUR_US);
    assert_int_equal(r.windows, 24);
    assert_int_equal(r.judged, 24);
    assert_int_equal(ev.n, 1);
    assert_int_equal(ev.kind[0], PK_DET_RAISED);
    assert_int_equal(ev.t[0], T0 + (HIST + 7) * HOUR_US);
    /* left out: the outage hour, and the raised run (10 hours, and the 3 normal
     * hours that cleared it) */
    assert_int_equal(r.excluded_points, 1 + 10 + 3);
    assert_int_equal(r.history_points, HIST - 14);
    /* Monday 23:00: {98, 100, 103} -> 100 (week 2's 101 was one of the clearing
     * hours, left out with the run) */
    assert_true(r.expected == 100.0);
    assert_true(r.last_value == 98.0 + 50.0);
    /* Judged up to Monday noon: its median is learned from {148, 153} alone, without
     * the outage's 900 and the regression's 151 + 60 (with them: 182). */
    assert_int_equal(pk_regression_judge(&o, t, y, excluded, HIST, HIST + 13, &r, NULL, NULL, err, sizeof err), 0);
    assert_true(r.expected == 150.5);

    /* Without the exclusion the outage hour is part of the learned slot. */
    struct pk_baseline b;
    assert_int_equal(pk_baseline_learn(&b, &o.base, t, y, HIST, err, sizeof err), 0);
    assert_true(b.slot[12].median > 150.5); /* {148, 900, 211, 153}: median 182 */

    /* Two days of history, then a weekday noon: learning, nothing raised. */
    assert_int_equal(pk_regression_judge(&o, t, y, NULL, 48, 72, &r, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(r.state, PK_REG_LEARNING);
    assert_int_equal(r.judged, 0);
    assert_true(isnan(r.last_score));
    /* No history at all. */
    assert_int_equal(pk_regression_judge(&o, t, y, NULL, 0, 24, &r, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(r.state, PK_REG_NO_HISTORY);
    assert_int_equal(pk_regression_judge(&o, t, y, NULL, 30, 24, &r, NULL, NULL, err, sizeof err), -1);
    /* the failed share that marks a window as inside an incident */
    assert_false(pk_baseline_window_excluded(95, 0, 5));
    assert_true(pk_baseline_window_excluded(94, 0, 6));
    assert_false(pk_baseline_window_excluded(0, 0, 0));
}

/* pool_out_of_sample: three weeks where every slot holds 90, 100 and 110 (the
 * week that holds which rotates with the hour). In sample each slot's median is
 * 100 and the pooled relative MAD 0.1; a week judged against the other two sees
 * 100 against 95 or 105, or 110 against 95 (15 / 95), 90 against 105 (15 / 105):
 * pooled 15 / 105. With one week there is nothing to hold out. */
static void test_pool_out_of_sample(void **state)
{
    (void)state;
    enum { N = 3 * 168 };
    static int64_t t[N];
    static double y[N];
    for (int h = 0; h < N; h++) {
        t[h] = T0 + h * HOUR_US;
        y[h] = 100.0 + 10.0 * (double)((h / 168 + h % 168) % 3 - 1);
    }
    struct pk_regression_opts o;
    pk_regression_opts_default(&o);
    o.base.min_samples = 2;
    char err[256];
    struct pk_regression_model *m = malloc(sizeof *m);
    assert_non_null(m);
    assert_int_equal(pk_regression_learn(&o, t, y, NULL, N, m, err, sizeof err), 0);
    assert_true(fabs(m->b.pooled_rel_mad - 0.1) < 1e-12);
    assert_true(m->b.slot[5].median == 100.0);
    o.base.pool_out_of_sample = 1;
    assert_int_equal(pk_regression_learn(&o, t, y, NULL, N, m, err, sizeof err), 0);
    assert_true(fabs(m->b.pooled_rel_mad - 15.0 / 105.0) < 1e-12);
    assert_true(m->b.slot[5].median == 100.0); /* the medians are the in-sample ones */
    /* a score is now on the larger scale: 110 is 10 / (1.4826 x 15 / 105 x 100) */
    assert_true(fabs(pk_baseline_score(&m->b, t[5], 110.0) - 10.0 / (1.4826 * 1500.0 / 105.0)) < 1e-9);
    /* one week: nothing to hold out, the in-sample figure */
    assert_int_equal(pk_regression_learn(&o, t, y, NULL, 168, m, err, sizeof err), 0);
    double one_week = m->b.pooled_rel_mad;
    o.base.pool_out_of_sample = 0;
    assert_int_equal(pk_regression_learn(&o, t, y, NULL, 168, m, err, sizeof err), 0);
    assert_true(m->b.pooled_rel_mad == one_week);
    free(m);
}

/* 1..100 ms: p50 50 ms, p95 95 ms, p99 99 ms (within the histogram's 1 %). */
/* pool_day_type: the seasonal history with Monday 10:00 one higher in every week
 * (own median 151.5, MAD 1.5; its weekday 10:00 of 20 values has median 151) and
 * Monday 11:00 ten higher (own 160.5; weekdays 151.5): within k x 1.4826 x 1.5
 * of its kind of day the slot takes that median, beyond it keeps its own. */
static void test_pool_day_type(void **state)
{
    (void)state;
    static int64_t t[4 * 168];
    static double y[4 * 168];
    for (int w = 0; w < 4; w++)
        for (int h = 0; h < 168; h++) {
            t[w * 168 + h] = T0 + w * WEEK_US + h * HOUR_US;
            y[w * 168 + h] = seasonal(t[w * 168 + h]) + week_offset[w] + (h == 10 ? 1.0 : h == 11 ? 10.0 : 0.0);
        }
    struct pk_baseline_opts o;
    pk_baseline_opts_default(&o);
    struct pk_baseline b;
    char err[256];
    assert_int_equal(pk_baseline_learn(&b, &o, t, y, 4 * 168, err, sizeof err), 0);
    assert_true(fabs(b.slot[10].median - 151.5) < 1e-9); /* off: its own */
    assert_true(fabs(b.slot[11].median - 160.5) < 1e-9);
    o.pool_day_type = 1.0;
    assert_int_equal(pk_baseline_learn(&b, &o, t, y, 4 * 168, err, sizeof err), 0);
    assert_true(fabs(b.slot[10].median - 151.0) < 1e-9);    /* 0.5 <= 2.22: pooled */
    assert_true(fabs(b.slot[11].median - 160.5) < 1e-9);    /* 9 > 2.22: its own */
    assert_true(fabs(b.slot[9].median - 150.5) < 1e-9);     /* equal either way */
    assert_true(fabs(b.slot[5 * 24].median - 80.5) < 1e-9); /* weekend */
    assert_true(fabs(b.slot[10].mad - 1.5) < 1e-9);         /* the spread stays its own */
}

/* interpolate_us: a 5-minute window's expected value between the medians of
 * its hour (Monday 08:00, 100.5) and the nearer neighbour (09:00, 150.5) at
 * the window's middle. */
static void test_interpolate(void **state)
{
    (void)state;
    struct pk_baseline_opts o;
    pk_baseline_opts_default(&o);
    o.interpolate_us = 5 * 60 * 1000000LL;
    struct pk_baseline b;
    learn_4_weeks(&b, &o);
    int64_t t8 = T0 + 4 * WEEK_US + 8 * HOUR_US, min = 60 * 1000000LL;
    assert_true(fabs(pk_baseline_expected(&b, t8) - 100.5) < 1e-9);                /* 07:00 is 100.5 too */
    assert_true(fabs(pk_baseline_expected(&b, t8 + 27 * min + 30000000) - 100.5) < 1e-9); /* middle 08:30 */
    /* 08:55: middle 08:57:30, 27.5 minutes past the hour's middle: 100.5 + 27.5 / 60 x 50 */
    assert_true(fabs(pk_baseline_expected(&b, t8 + 55 * min) - (100.5 + 27.5 / 60.0 * 50.0)) < 1e-9);
    assert_true(fabs(pk_baseline_score(&b, t8 + 55 * min, 100.5 + 27.5 / 60.0 * 50.0)) < 1e-9);
    /* 08:57:30: its middle is in the next hour: its own slot's median */
    assert_true(fabs(pk_baseline_expected(&b, t8 + 57 * min + 30000000) - 100.5) < 1e-9);
    o.interpolate_us = 0;
    learn_4_weeks(&b, &o);
    assert_true(fabs(pk_baseline_expected(&b, t8 + 55 * min) - 100.5) < 1e-9);
}

/* whiten: scores 0, 0, then 2, 2 with whiten 0.5 enter the mean of 2 as 0, 0,
 * (2 - 0) / 0.5 = 4, (2 - 1) / 0.5 = 2: means 2 and 3, so a bar of 2.5 raises
 * at the second step window; unwhitened the means are 1 and 2 and it never does. */
static void test_whiten(void **state)
{
    (void)state;
    struct pk_detector_opts o;
    pk_detector_opts_default(&o);
    o.threshold = 10.0;
    o.k_raise = o.k_clear = 8;
    o.window = 2;
    o.window_threshold = 2.5;
    o.whiten = 0.5;
    struct pk_detector d;
    pk_detector_init(&d, &o);
    const double z[] = {0.0, 0.0, 2.0, 2.0, 2.0};
    int raised_at = -1;
    for (int i = 0; i < 5 && raised_at < 0; i++)
        if (pk_detector_feed(&d, i, z[i]) == PK_DET_RAISED)
            raised_at = i;
    assert_int_equal(raised_at, 3);
    o.whiten = 0.0;
    pk_detector_init(&d, &o);
    for (int i = 0; i < 5; i++)
        assert_int_equal(pk_detector_feed(&d, i, z[i]), PK_DET_NONE);
}

static void test_budgets(void **state)
{
    (void)state;
    static struct pk_hist h;
    pk_hist_init(&h);
    for (int i = 1; i <= 100; i++)
        pk_hist_add(&h, i * 1000);
    struct pk_budget b = {.p50_us = 60000, .p95_us = 90000, .p99_us = 200000};
    double q[3];
    assert_int_equal(pk_budget_breaches(&b, &h, q), PK_BUDGET_P95);
    assert_true(fabs(q[0] - 50000) <= 500 && fabs(q[1] - 95000) <= 950 && fabs(q[2] - 99000) <= 990);
    b = (struct pk_budget){.p50_us = 40000, .p99_us = 98000}; /* p95 without a budget */
    assert_int_equal(pk_budget_breaches(&b, &h, NULL), PK_BUDGET_P50 | PK_BUDGET_P99);
    pk_hist_init(&h);
    assert_int_equal(pk_budget_breaches(&b, &h, q), 0); /* no data breaches nothing */
    assert_true(q[0] == -1.0);
}


/* pk_baseline_learn finds each time's slot without a division per time (the
 * last hour looked up is kept): times out of order, before 1970, on hour
 * edges, in a time zone behind and one ahead of UTC. Each value is its own
 * slot's number (pk_baseline_slot_of), so every learned median must be its
 * slot's number. */
static void test_slots_of_times_in_any_order(void **state)
{
    (void)state;
    enum { N = 168 * 3 * 4 };
    int64_t *t = malloc(N * sizeof *t);
    double *y = malloc(N * sizeof *y);
    struct pk_baseline *b = malloc(sizeof *b);
    assert_true(t && y && b);
    const int64_t tz[] = {0, -5 * 3600, 5 * 3600 + 1800, 3600};
    for (int z = 0; z < 4; z++) {
        uint64_t x = 0x9e3779b97f4a7c15ULL + (uint64_t)z;
        for (int i = 0; i < N; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            /* four weeks from a week before 1970 (negative times) or from T0 */
            int64_t base = z % 2 ? -WEEK_US : T0;
            int64_t off = (int64_t)(x % (uint64_t)(4 * WEEK_US));
            if (i % 7 == 0)
                off -= off % HOUR_US; /* exactly on an hour */
            if (i % 11 == 0)
                off -= off % HOUR_US + 1; /* a microsecond before one */
            t[i] = base + (off < 0 ? 0 : off);
            y[i] = (double)pk_baseline_slot_of(t[i], tz[z]);
        }
        struct pk_baseline_opts o;
        pk_baseline_opts_default(&o);
        o.tz_offset_s = tz[z];
        o.min_samples = 1;
        o.min_history_us = 0;
        char err[128];
        assert_int_equal(pk_baseline_learn(b, &o, t, y, N, err, sizeof err), 0);
        int learned = 0;
        for (int s = 0; s < PK_BASELINE_SLOTS; s++) {
            if (b->slot[s].source != PK_BASE_HOUR_OF_WEEK)
                continue;
            assert_true(b->slot[s].median == (double)s);
            learned++;
        }
        assert_true(learned > 150);
    }
    free(t), free(y), free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slot_of),
        cmocka_unit_test(test_learn_and_score),
        cmocka_unit_test(test_pooled_mad),
        cmocka_unit_test(test_fallbacks),
        cmocka_unit_test(test_step_detection),
        cmocka_unit_test(test_budgets),
        cmocka_unit_test(test_windowed_detector),
        cmocka_unit_test(test_reciprocal_score),
        cmocka_unit_test(test_regression_judge),
        cmocka_unit_test(test_pool_out_of_sample),
        cmocka_unit_test(test_pool_day_type),
        cmocka_unit_test(test_interpolate),
        cmocka_unit_test(test_whiten),
        cmocka_unit_test(test_slots_of_times_in_any_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
