/* test_baseline_weekday.c: the fast half's pooled slot median
 * (pk_baseline_opts.pool_day_type, PK_REGRESSION_FAST_POOL_DAY_TYPE) on a check
 * whose weekday hours really differ from each other: Monday 09:00 is twice as
 * slow as Tuesday 09:00 every week. The slot keeps its own median there, the
 * slots close to their kind of day take its median, a normal week raises
 * nothing and a Tuesday as slow as the Mondays is raised. Pooled regardless (a
 * huge k), Monday 09:00 would be judged against the weekday hour: the rule
 * would drop every Monday 09:00 of its history as a regression and leave the
 * hour without a verdict, which is what the own-median exception prevents. Every expected value
 * is worked out in the comments.
 *
 * The history: 4 weeks of 5-minute windows (the fast half's width) from Monday
 * 2024-01-01 00:00 UTC. A window's base is 80 at weekends and 100 on weekdays,
 * but at 09:00: Monday 200, Wednesday 103, Tuesday, Thursday and Friday 100.
 * Its value is base + s x d with d = (7 j + 3 w + 5 day) mod 9 - 4 (j the window
 * in its hour, 0-11; w the week; day 0 = Monday), s = 2 for the 200 base and 1
 * otherwise: integers, exact in doubles.
 *
 * - Monday 09:00, 48 values: median 200, MAD 4 (2 x 2); 3 x 1.4826 x 4 = 17.8.
 * - Tuesday, Thursday, Friday 09:00: median 100, MAD 2; Wednesday: 103, MAD 2.
 * - Weekday 09:00 pooled (240 values: 48 around 200, 48 around 103, 144
 *   around 100): median 102.
 * So Monday (|200 - 102| = 98 > 17.8) keeps 200; Tuesday, Thursday, Friday
 * (|100 - 102| = 2 <= 8.9) and Wednesday (1 <= 8.9) take 102. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analytics.h"

#define MIN_US (60LL * 1000000)
#define WIN_US (5 * MIN_US)
#define HOUR_US (60 * MIN_US)
#define DAY_US (24 * HOUR_US)
#define WEEK_US (7 * DAY_US)
#define T0 (1704067200LL * 1000000) /* Monday 2024-01-01 00:00 UTC */
#define PER_WEEK (7 * 24 * 12)
#define HIST (4 * PER_WEEK)
#define N (5 * PER_WEEK)

static int64_t t[N];
static double y[N];

static int base_of(int day, int hour)
{
    if (day >= 5)
        return 80;
    if (hour != 9)
        return 100;
    return day == 0 ? 200 : day == 2 ? 103 : 100;
}

/* Fills t and y for weeks 0-4 (week 4 is the judged one). */
static void fill(void)
{
    for (int i = 0; i < N; i++) {
        int w = i / PER_WEEK, day = i % PER_WEEK / 288, hour = i % 288 / 12, j = i % 12;
        int b = base_of(day, hour), d = (7 * j + 3 * w + 5 * day) % 9 - 4;
        t[i] = T0 + (int64_t)i * WIN_US;
        y[i] = b + (b == 200 ? 2 : 1) * d;
    }
}

static int idx(int week, int day, int hour)
{
    return week * PER_WEEK + day * 288 + hour * 12;
}

struct events {
    int n;
    int64_t first_t, first_since;
};

static void on_event(void *user, int event, int64_t t_us, int64_t since_us, double score, double value,
                     double expected)
{
    (void)score;
    (void)value;
    (void)expected;
    struct events *e = user;
    if (event == PK_DET_RAISED && e->n++ == 0) {
        e->first_t = t_us;
        e->first_since = since_us;
    }
}

/* pk_baseline_learn with the fast half's k = 3: the slot medians above. */
static void test_slot_medians(void **state)
{
    (void)state;
    fill();
    struct pk_regression_opts o;
    pk_regression_fast_opts(0, &o);
    assert_true(o.base.pool_day_type == 3.0);
    static struct pk_baseline b;
    char err[256];
    assert_int_equal(pk_baseline_learn(&b, &o.base, t, y, HIST, err, sizeof err), 0);
    assert_true(b.slot[0 * 24 + 9].median == 200.0); /* Monday 09:00: its own */
    assert_true(b.slot[0 * 24 + 9].mad == 4.0);
    assert_int_equal(b.slot[0 * 24 + 9].source, PK_BASE_HOUR_OF_WEEK);
    for (int day = 1; day < 5; day++) {
        assert_true(b.slot[day * 24 + 9].median == 102.0); /* pooled */
        assert_true(b.slot[day * 24 + 9].mad == 2.0);       /* the spread stays its own */
    }
    for (int day = 0; day < 5; day++) /* 10:00 is 100 on every weekday: equal either way */
        assert_true(b.slot[day * 24 + 10].median == 100.0);
    assert_true(b.slot[5 * 24 + 9].median == 80.0); /* weekend */
    /* pooling off: every slot its own */
    o.base.pool_day_type = 0.0;
    assert_int_equal(pk_baseline_learn(&b, &o.base, t, y, HIST, err, sizeof err), 0);
    assert_true(b.slot[9].median == 200.0);
    assert_true(b.slot[24 + 9].median == 100.0);
    assert_true(b.slot[48 + 9].median == 103.0);
    /* pooled regardless of the difference: Monday takes 102 too */
    o.base.pool_day_type = 1e9;
    assert_int_equal(pk_baseline_learn(&b, &o.base, t, y, HIST, err, sizeof err), 0);
    assert_true(b.slot[9].median == 102.0);
}

/* The fast half's whole rule (pk_regression_judge, as the alert thread and the
 * back-test run it) over week 4, which repeats the pattern: nothing raised,
 * Monday 09:00 expected at 200. */
static void test_normal_week_quiet(void **state)
{
    (void)state;
    fill();
    struct pk_regression_opts o;
    pk_regression_fast_opts(0, &o);
    struct pk_regression r;
    struct events ev = {0};
    char err[256];
    assert_int_equal(pk_regression_judge(&o, t, y, NULL, HIST, N, &r, on_event, &ev, err, sizeof err), 0);
    assert_int_equal(ev.n, 0);
    assert_int_equal(r.state, PK_REG_NORMAL);
    assert_int_equal(r.excluded_points, 0); /* no raised run in the history either */
    assert_int_equal(r.judged, PER_WEEK);
    /* judged up to Monday 09:55 of week 4 (120 windows): expected 200, the value
     * 200 + 2 x d; every window with a verdict */
    size_t mon = (size_t)idx(4, 0, 9);
    assert_int_equal(pk_regression_judge(&o, t, y, NULL, HIST, mon + 12, &r, NULL, NULL, err, sizeof err), 0);
    assert_true(r.expected == 200.0);
    assert_int_equal(r.state, PK_REG_NORMAL);
    assert_int_equal(r.judged, 9 * 12 + 12);

    /* Pooled regardless, Monday 09:00 is judged against 102 in the history
     * itself: every week's Monday 09:00 is raised there and left out of
     * learning as a regression (12 windows and the 8 that clear it, x 4 weeks =
     * 80), so the slot has no history of its own left and no verdict: the
     * check's normal Monday hour is thrown away and goes unwatched. */
    o.base.pool_day_type = 1e9;
    memset(&ev, 0, sizeof ev);
    assert_int_equal(pk_regression_judge(&o, t, y, NULL, HIST, mon + 12, &r, on_event, &ev, err, sizeof err), 0);
    assert_int_equal(r.excluded_points, 4 * (12 + 8));
    assert_int_equal(r.judged, 9 * 12); /* Monday 09:00's 12 windows without a verdict */
    assert_int_equal(ev.n, 0);
}

/* Tuesday 09:00 of week 4 becomes as slow as Monday's (200 + 2 d): a regression
 * from its first window, raised within the k-consecutive rule's 8 windows, against
 * the pooled 102; Monday 09:00 of the same week raises nothing. */
static void test_tuesday_step_raised(void **state)
{
    (void)state;
    fill();
    int tue = idx(4, 1, 9);
    for (int i = tue; i < tue + 12; i++)
        y[i] = 200 + 2 * ((7 * (i % 12) + 3 * 4 + 5) % 9 - 4);
    struct pk_regression_opts o;
    pk_regression_fast_opts(0, &o);
    struct pk_regression r;
    struct events ev = {0};
    char err[256];
    assert_int_equal(
        pk_regression_judge(&o, t, y, NULL, HIST, (size_t)tue + 12, &r, on_event, &ev, err, sizeof err), 0);
    assert_int_equal(ev.n, 1);
    assert_int_equal(ev.first_since, T0 + 4 * WEEK_US + DAY_US + 9 * HOUR_US);
    assert_true(ev.first_t >= ev.first_since && ev.first_t <= ev.first_since + 7 * WIN_US);
    assert_int_equal(r.state, PK_REG_RAISED);
    assert_true(r.expected == 102.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slot_medians),
        cmocka_unit_test(test_normal_week_quiet),
        cmocka_unit_test(test_tuesday_step_raised),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
