/* test_alert_examples.c: the shipped example rules (deploy/examples/alerts.yaml,
 * the demo's --alerts file) as the alert thread runs them. The seed's security
 * scan reports a findings count (security-npm-audit, metric vulnerabilities),
 * which is bad when it rises, while a metric rule watches drops by default: the
 * example's rule says `direction: up`. With the options the alert thread builds
 * from that rule (collector/alerts.c: regression_rule_opts and
 * regression_fast_opts with the rule's direction), a rise in the count raises
 * a regression in both halves of the rule and a drop raises none; with the
 * default direction (down) it would be the other way round. */
#include <fnmatch.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alerts.h"
#include "analytics.h"
#include "regression_rule.h"

#define HOUR (INT64_C(3600) * 1000000)
#define FIVE (INT64_C(300) * 1000000)
#define MONDAY (INT64_C(1704067200) * 1000000) /* 2024-01-01 00:00 UTC */

static struct alert_config cfg;

/* The example file's rule on the npm-audit check's findings count. */
static const struct alert_rule *findings_rule(void)
{
    char err[512];
    if (alert_config_load(PK_SOURCE_DIR "/deploy/examples/alerts.yaml", &cfg, err, sizeof err) != 0)
        fail_msg("deploy/examples/alerts.yaml: %s", err);
    const struct alert_rule *found = NULL;
    for (int i = 0; i < cfg.n_rules; i++)
        if (cfg.rules[i].type == ALERT_BASELINE && strcmp(cfg.rules[i].baseline_metric, "vulnerabilities") == 0 &&
            fnmatch(cfg.rules[i].checks, "security-npm-audit", 0) == 0) {
            assert_null(found); /* one such rule */
            found = &cfg.rules[i];
        }
    assert_non_null(found);
    return found;
}

/* n windows of width w from MONDAY: a findings count of 4 or 5 (one window in
 * three 5), set to `to` from window `step` on. */
static void series(struct regression_series *s, int64_t w, size_t n, size_t step, double to)
{
    s->from = MONDAY;
    s->width = w;
    s->n = n;
    s->t = malloc(n * sizeof *s->t);
    s->y = malloc(n * sizeof *s->y);
    s->excluded = calloc(n, 1);
    assert_true(s->t && s->y && s->excluded);
    for (size_t i = 0; i < n; i++) {
        s->t[i] = MONDAY + (int64_t)i * w;
        s->y[i] = i >= step ? to : i % 3 == 0 ? 5.0 : 4.0;
    }
}

/* The hourly half evaluated at the end of the third hour after the change. */
static int hourly_state(int dir, const struct alert_rule *r, double to)
{
    struct regression_series s;
    const size_t n = 36 * 24, step = n - 5;
    series(&s, HOUR, n, step, to);
    struct pk_regression_opts o;
    regression_rule_opts(r->baseline_threshold, r->baseline_k, dir, &o);
    struct pk_regression out;
    char err[256];
    assert_int_equal(regression_rule_at(&s, MONDAY + (int64_t)(step + 3) * HOUR, &o, &out, err, sizeof err), 0);
    if (out.state == PK_REG_RAISED)
        assert_true(out.since_us == MONDAY + (int64_t)step * HOUR);
    regression_series_free(&s);
    return out.state;
}

/* The fast half evaluated 12 windows (an hour) after the change. */
static int fast_state(int dir, double to)
{
    struct regression_series s;
    const size_t n = 30 * 288, step = n - 24;
    series(&s, FIVE, n, step, to);
    struct pk_regression_opts o;
    regression_fast_opts(dir, &o);
    struct pk_regression out;
    char err[256];
    assert_int_equal(
        regression_fast_at(&s, MONDAY + (int64_t)(step + 12) * FIVE, &o, &out, NULL, NULL, err, sizeof err), 0);
    if (out.state == PK_REG_RAISED)
        assert_true(out.since_us == MONDAY + (int64_t)step * FIVE);
    regression_series_free(&s);
    return out.state;
}

static void test_findings_rule_is_up(void **state)
{
    (void)state;
    const struct alert_rule *r = findings_rule();
    assert_int_equal(r->baseline_direction, PK_DIR_UP);
    assert_int_equal(r->baseline_no_fast, 0); /* both halves */
}

static void test_rise_raises_drop_does_not(void **state)
{
    (void)state;
    const struct alert_rule *r = findings_rule();
    int dir = r->baseline_direction;
    /* new advisories: 4-5 findings become 9 */
    assert_int_equal(hourly_state(dir, r, 9.0), PK_REG_RAISED);
    assert_int_equal(fast_state(dir, 9.0), PK_REG_RAISED);
    /* advisories fixed: the count falls to 0 */
    assert_int_equal(hourly_state(dir, r, 0.0), PK_REG_NORMAL);
    assert_int_equal(fast_state(dir, 0.0), PK_REG_NORMAL);
    /* a metric rule without `direction:` (down) would judge the other way */
    assert_int_equal(hourly_state(PK_REGRESSION_METRIC_DIR, r, 9.0), PK_REG_NORMAL);
    assert_int_equal(hourly_state(PK_REGRESSION_METRIC_DIR, r, 0.0), PK_REG_RAISED);
    assert_int_equal(fast_state(PK_REGRESSION_METRIC_DIR, 0.0), PK_REG_RAISED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_findings_rule_is_up),
        cmocka_unit_test(test_rise_raises_drop_does_not),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
