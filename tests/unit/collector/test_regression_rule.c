/* Unit tests for collector/regression_rule.c: the baseline regression rule on a
 * series in memory (the part that needs no store): the hourly half at an hour's
 * end, in place and with the series not covering the whole history; the fast
 * half's split and its raise 8 windows into a step; no verdict with under a
 * week of history; windows inside stored incidents left out of learning. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "baseline_exclude.h"
#include "regression_rule.h"

#define HOUR (INT64_C(3600) * 1000000)
#define FIVE (INT64_C(300) * 1000000)
#define MONDAY (INT64_C(1704067200) * 1000000) /* 2024-01-01 00:00 UTC */

/* A series of n windows of width w from `from`: 10 ms +-1 % (deterministic),
 * tripled from window `step` on (step < 0: never). */
static void make(struct regression_series *s, int64_t from, int64_t w, size_t n, long step)
{
    s->from = from;
    s->width = w;
    s->n = n;
    s->t = malloc(n * sizeof *s->t);
    s->y = malloc(n * sizeof *s->y);
    s->excluded = calloc(n, 1);
    assert_non_null(s->t);
    assert_non_null(s->y);
    assert_non_null(s->excluded);
    for (size_t i = 0; i < n; i++) {
        s->t[i] = from + (int64_t)i * w;
        s->y[i] = 10000.0 * (1.0 + 0.005 * (double)((i * 7919) % 5) - 0.01);
        if (step >= 0 && (long)i >= step)
            s->y[i] *= 3;
    }
}

static void test_hourly_half(void **state)
{
    (void)state;
    struct regression_series s;
    const size_t days = 36;
    const long step = (long)(days * 24 - 10); /* ten hours before the end */
    make(&s, MONDAY, HOUR, days * 24, step);
    struct pk_regression_opts o;
    regression_rule_opts(0, 0, 0, &o);
    assert_true(o.det.threshold == 3.0);
    assert_int_equal(o.det.k_raise, 3);
    assert_int_equal(o.det.direction, PK_DIR_UP);
    char err[256];
    struct pk_regression r;
    int64_t step_at = MONDAY + step * HOUR;
    assert_int_equal(regression_rule_at(&s, step_at + 2 * HOUR, &o, &r, err, sizeof err), 0);
    assert_int_equal(r.state, PK_REG_NORMAL);
    assert_int_equal(regression_rule_at(&s, step_at + 3 * HOUR, &o, &r, err, sizeof err), 0);
    assert_int_equal(r.state, PK_REG_RAISED);
    assert_true(r.since_us == step_at);
    assert_true(fabs(r.last_value / r.expected - 3.0) < 0.1);
    /* a series starting after the history's start: the hours before it count as
     * missing, exactly as NAN hours of a whole series do */
    struct regression_series late = s;
    const size_t skip = 10 * 24;
    late.from = s.from + (int64_t)skip * HOUR;
    late.n = s.n - skip;
    late.t = s.t + skip;
    late.y = s.y + skip;
    late.excluded = s.excluded + skip;
    struct pk_regression r2, r3;
    assert_int_equal(regression_rule_at(&late, step_at + 3 * HOUR, &o, &r2, err, sizeof err), 0);
    assert_int_equal(r2.state, PK_REG_RAISED);
    assert_true(r2.since_us == step_at);
    assert_true(r2.history_points < r.history_points);
    double *saved = malloc(skip * sizeof *saved);
    assert_non_null(saved);
    memcpy(saved, s.y, skip * sizeof *saved);
    for (size_t i = 0; i < skip; i++)
        s.y[i] = NAN;
    assert_int_equal(regression_rule_at(&s, step_at + 3 * HOUR, &o, &r3, err, sizeof err), 0);
    assert_true(r3.history_points == r2.history_points && r3.last_score == r2.last_score);
    memcpy(s.y, saved, skip * sizeof *saved);
    free(saved);
    /* a metric is judged in the rule's direction (down by default), scored as
     * its reciprocal: a drop to a ninth raises, its score that of a ninefold rise */
    regression_rule_opts(0, 0, PK_REGRESSION_METRIC_DIR, &o);
    assert_int_equal(o.det.direction, PK_DIR_DOWN);
    assert_int_equal(o.base.reciprocal, 1);
    for (size_t i = (size_t)step; i < s.n; i++)
        s.y[i] /= 9;
    assert_int_equal(regression_rule_at(&s, step_at + 3 * HOUR, &o, &r, err, sizeof err), 0);
    assert_int_equal(r.state, PK_REG_RAISED);
    assert_true(r.last_score < -3);
    /* an end that is not a whole hour is refused */
    assert_int_equal(regression_rule_at(&s, step_at + 1, &o, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "not whole windows"));
    regression_series_free(&s);
}

struct raise {
    int n;
    int64_t t[4], since[4];
};

static void on_event(void *user, int event, int64_t t_us, int64_t since_us, double score, double value,
                     double expected)
{
    struct raise *r = user;
    (void)score, (void)value, (void)expected;
    if (event == PK_DET_RAISED && r->n < 4) {
        r->t[r->n] = t_us;
        r->since[r->n++] = since_us;
    }
}

static void test_fast_half(void **state)
{
    (void)state;
    /* the split: six hours before the start of end's hour */
    assert_true(regression_fast_split(MONDAY + 10 * HOUR + 25 * 60 * INT64_C(1000000)) == MONDAY + 4 * HOUR);
    assert_true(regression_fast_split(MONDAY + 10 * HOUR) == MONDAY + 4 * HOUR);
    struct pk_regression_opts o;
    regression_fast_opts(0, &o);
    assert_true(o.det.threshold == PK_REGRESSION_FAST_Z);
    assert_int_equal(o.det.k_raise, PK_REGRESSION_FAST_K);
    assert_int_equal(PK_REGRESSION_FAST_K, 8);
    struct regression_series s;
    const size_t n = 30 * 288;
    const long step = (long)(n - 24); /* two hours before the end, at 22:00 */
    make(&s, MONDAY, FIVE, n, step);
    int64_t step_at = MONDAY + step * FIVE;
    char err[256];
    struct pk_regression r;
    struct raise ev = {0};
    /* 7 deviant windows: not yet */
    assert_int_equal(regression_fast_at(&s, step_at + 7 * FIVE, &o, &r, on_event, &ev, err, sizeof err), 0);
    assert_int_equal(r.state, PK_REG_NORMAL);
    assert_int_equal(ev.n, 0);
    /* the 8th raises it, since the step's first window; the event says the same */
    assert_int_equal(regression_fast_at(&s, step_at + 8 * FIVE, &o, &r, on_event, &ev, err, sizeof err), 0);
    assert_int_equal(r.state, PK_REG_RAISED);
    assert_true(r.since_us == step_at);
    assert_int_equal(ev.n, 1);
    assert_true(ev.t[0] == step_at + 7 * FIVE);
    assert_true(ev.since[0] == step_at);
    /* learning once and judging against the model (the alert thread's cache)
     * answers exactly as the one call */
    struct pk_regression_model *model = malloc(sizeof *model);
    assert_non_null(model);
    int64_t split = regression_fast_split(step_at + 8 * FIVE);
    size_t off = (size_t)((split - REGRESSION_HISTORY_US - MONDAY) / FIVE), nh = (size_t)(REGRESSION_HISTORY_US / FIVE);
    assert_int_equal(pk_regression_learn(&o, s.t + off, s.y + off, s.excluded + off, nh, model, err, sizeof err), 0);
    struct pk_regression r2;
    size_t nj = (size_t)((step_at + 8 * FIVE - split) / FIVE);
    pk_regression_judge_model(&o, model, s.t + off + nh, s.y + off + nh, nj, &r2, NULL, NULL);
    assert_int_equal(r2.state, r.state);
    assert_true(r2.since_us == r.since_us && r2.last_score == r.last_score && r2.history_points == r.history_points);
    assert_int_equal(r2.windows, r.windows);
    free(model);
    /* a 35-minute burst (7 windows) does not */
    for (long i = step; i < (long)n; i++)
        s.y[i] = i < step + 7 ? s.y[i] : s.y[i] / 3;
    assert_int_equal(regression_fast_at(&s, MONDAY + (int64_t)n * FIVE, &o, &r, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(r.state, PK_REG_NORMAL);
    regression_series_free(&s);
    /* under a week of history: no verdict */
    make(&s, MONDAY, FIVE, 6 * 288 + 24, 6 * 288);
    assert_int_equal(regression_fast_at(&s, MONDAY + (int64_t)s.n * FIVE, &o, &r, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(r.state, PK_REG_LEARNING);
    regression_series_free(&s);
}

/* The intervals of stored incidents mark exactly the windows they overlap. */
static void test_exclude_mark(void **state)
{
    (void)state;
    int64_t t[6];
    unsigned char ex[6] = {0, 0, 0, 0, 1, 0};
    for (int i = 0; i < 6; i++)
        t[i] = MONDAY + i * HOUR;
    /* from 01:30 to 02:00 (touches window 2 at its start only) and an open one from 04:59 */
    const struct baseline_gap g[] = {{MONDAY + HOUR + HOUR / 2, MONDAY + 2 * HOUR}, {MONDAY + 5 * HOUR - 1, INT64_MAX}};
    assert_int_equal(baseline_exclude_mark(t, 6, HOUR, g, 2, ex), 2); /* window 4 was marked already */
    const unsigned char want[6] = {0, 1, 0, 0, 1, 1};
    assert_memory_equal(ex, want, 6);
}

/* A baseline that would have learned an outage's latency does not once the
 * outage's incidents are left out: two of the four Mondays of history ran at
 * three times the normal latency 10:00-12:00 during incidents (with too few
 * failures for the failed share to tell). Learned, the slot's median and spread
 * take the outage in and the next Monday's slow 10:00 scores under 1; left out,
 * the slot (two values of its own) falls back to the weekday 10:00 and that hour
 * scores far above it. */
static void test_outage_not_learned(void **state)
{
    (void)state;
    struct regression_series s;
    const size_t days = 36;
    make(&s, MONDAY, HOUR, days * 24, -1);
    struct baseline_gap g[2];
    size_t ng = 0;
    for (int64_t d = 14; d <= 28; d += 14) {
        int64_t at = MONDAY + d * 24 * HOUR + 10 * HOUR;
        g[ng++] = (struct baseline_gap){at, at + 2 * HOUR};
        for (int h = 0; h < 2; h++)
            s.y[(at - MONDAY) / HOUR + h] *= 3;
    }
    int64_t judged = MONDAY + 35 * 24 * HOUR + 10 * HOUR; /* the sixth Monday, 10:00: slow again */
    s.y[(judged - MONDAY) / HOUR] *= 3;
    struct pk_regression_opts o;
    regression_rule_opts(0, 0, 0, &o);
    char err[256];
    struct pk_regression learned, left_out;
    assert_int_equal(regression_rule_at(&s, judged + HOUR, &o, &learned, err, sizeof err), 0);
    assert_true(fabs(learned.last_value / 29700.0 - 1.0) < 0.05); /* the judged hour has a verdict */
    assert_true(fabs(learned.last_score) < 1.0);
    assert_true(baseline_exclude_mark(s.t, s.n, s.width, g, ng, s.excluded) == 2 * ng);
    assert_int_equal(regression_rule_at(&s, judged + HOUR, &o, &left_out, err, sizeof err), 0);
    assert_true(left_out.last_score > 10.0);
    assert_true(fabs(left_out.last_value / left_out.expected - 3.0) < 0.1);
    assert_true(left_out.excluded_points >= learned.excluded_points + 4);
    regression_series_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hourly_half),
        cmocka_unit_test(test_exclude_mark),
        cmocka_unit_test(test_outage_not_learned),
        cmocka_unit_test(test_fast_half),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
