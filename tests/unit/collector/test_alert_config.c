/* Unit tests for collector/alert_config.c (the --alerts file) and the URL parser
 * of collector/notify.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "alerts.h"
#include "analytics.h"
#include "notify.h"

static struct alert_config cfg;
static char err[512];

static int parse(const char *text) { return alert_config_parse("a.yml", text, strlen(text), &cfg, err, sizeof err); }

#define RECEIVERS "receivers:\n  - name: hook\n    type: webhook\n    url: http://127.0.0.1:9/h\n"

static void test_full_file(void **state)
{
    (void)state;
    assert_int_equal(parse("evaluation_interval: 250ms\n" RECEIVERS
                           "  - name: am\n    type: alertmanager\n    url: http://127.0.0.1:9093/\n"
                           "rules:\n"
                           "  - name: down\n    type: incident\n    open_after: 2\n    close_after: 5\n"
                           "    receivers: [am]\n    group_by: [service]\n    flap_flips: 3\n    flap_window: 2m\n"
                           "  - name: quiet\n    type: silent_probe\n    after: 45s\n"
                           "  - name: burn\n    type: slo_burn\n    long_window: 6h\n    short_window: 30m\n"
                           "    burn_factor: 6\n"),
                     0);
    assert_int_equal(cfg.evaluation_interval_ms, 250);
    assert_int_equal(cfg.n_receivers, 2);
    assert_string_equal(cfg.receivers[1].url, "http://127.0.0.1:9093/api/v2/alerts");
    assert_int_equal(cfg.receivers[0].retry_initial_ms, 1000);
    assert_int_equal(cfg.n_rules, 3);
    const struct alert_rule *r = &cfg.rules[0];
    assert_int_equal(r->type, ALERT_INCIDENT);
    assert_int_equal(r->open_after, 2);
    assert_int_equal(r->close_after, 5);
    assert_int_equal(r->n_receivers, 1);
    assert_int_equal(r->receivers[0], 1);
    assert_int_equal(r->n_group_by, 1);
    assert_int_equal(r->flap_flips, 3);
    assert_int_equal(r->flap_window_ms, 120000);
    assert_string_equal(r->severity, "page");
    assert_int_equal(cfg.rules[1].window_ms, 45000);
    assert_string_equal(cfg.rules[1].group_by[1], "probe"); /* default group_by of probe rules */
    assert_int_equal(cfg.rules[2].slo_long_ms, 6 * 3600000);
    assert_true(cfg.rules[2].slo_factor == 6.0);
}

static void expect_error(const char *text, const char *want)
{
    assert_int_equal(parse(text), -1);
    if (!strstr(err, want))
        fail_msg("error '%s' lacks '%s'", err, want);
}

static void test_errors_name_file_line_col(void **state)
{
    (void)state;
    expect_error(RECEIVERS "rules:\n  - name: x\n    type: incidnet\n", "a.yml:7:11: rule 'type' must be");
    expect_error(RECEIVERS "rules:\n  - name: x\n    type: incident\n    open_afte: 2\n", "a.yml:8:5: rule: unknown key 'open_afte'");
    expect_error(RECEIVERS "rules:\n  - name: x\n    type: incident\n    receivers: [nope]\n",
                 "a.yml:8:17: unknown receiver 'nope'");
    expect_error(RECEIVERS "rules:\n  - name: x\n    type: incident\n    window: soon\n", "a.yml:8:13: 'window' must be a duration");
    expect_error(RECEIVERS "rules:\n  - name: x\n    type: incident\n    group_by: [team]\n", "unknown label 'team'");
    expect_error("receivers:\n  - name: h\n    type: webhook\n    url: ftp://x/\n",
                 "a.yml:2:5: receiver 'h': url 'ftp://x/': scheme must be http, https, smtp or smtps");
    expect_error(RECEIVERS, "'rules' must be a non-empty list");
    expect_error(RECEIVERS "rules:\n  - name: x\n    type: baseline_regression\n    consecutive: 0\n",
                 "a.yml:8:18: 'consecutive' must be an integer from 1 to 1000");
    expect_error(RECEIVERS "rules:\n  - name: x\n    type: incident\n  - name: x\n    type: silent_probe\n",
                 "rule 'x' is defined twice");
    expect_error("receivers: [\n", "a.yml:2:1: YAML");
}

/* slo_burn on group SLOs (--slos): 'slos' without 'checks' judges groups only and
 * groups notifications by the slo label; with 'checks' both; other rule types refuse it. */
/* baseline_regression on a metric the checks extract: 'metric' names it; other
 * rule types refuse the key, and the name must be given and fit. */
static void test_baseline_metric(void **state)
{
    (void)state;
    assert_int_equal(parse(RECEIVERS "rules:\n  - name: p95\n    type: baseline_regression\n"
                                     "  - name: rag\n    type: baseline_regression\n    metric: sources\n"
                                     "    checks: 'rag-*'\n    threshold: 4\n"),
                     0);
    assert_string_equal(cfg.rules[0].baseline_metric, "");
    assert_string_equal(cfg.rules[1].baseline_metric, "sources");
    assert_true(cfg.rules[1].baseline_threshold == 4.0);
    assert_int_equal(cfg.rules[1].baseline_k, 3);
    assert_int_equal(cfg.rules[0].window_ms, 60000);
    assert_int_equal(cfg.rules[1].window_ms, 300000); /* a metric rule reads raw results: every 5 minutes */
    assert_int_equal(cfg.rules[1].baseline_direction, PK_DIR_DOWN);
    expect_error(RECEIVERS "rules:\n  - name: x\n    type: incident\n    metric: sources\n",
                 "a.yml:8:13: rule 'x': 'metric' (a metric name the checks extract) is a key of baseline_regression");
    expect_error(RECEIVERS "rules:\n  - name: x\n    type: baseline_regression\n    metric: ''\n",
                 "a.yml:8:13: 'metric' must be a non-empty string");
    expect_error(RECEIVERS "rules:\n  - name: x\n    type: baseline_regression\n    metric: "
                           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
                 "'metric' is longer than 63 characters");
    /* direction: a metric rule's regressions are drops unless it says otherwise */
    assert_int_equal(parse(RECEIVERS "rules:\n  - name: a\n    type: baseline_regression\n    metric: tokens\n"
                                     "    direction: up\n  - name: b\n    type: baseline_regression\n"
                                     "    metric: sources\n    direction: both\n"),
                     0);
    assert_int_equal(cfg.rules[0].baseline_direction, PK_DIR_UP);
    assert_int_equal(cfg.rules[1].baseline_direction, PK_DIR_BOTH);
    expect_error(RECEIVERS "rules:\n  - name: x\n    type: baseline_regression\n    metric: sources\n"
                           "    direction: sideways\n",
                 "a.yml:9:16: 'direction' must be down, up or both, got 'sideways'");
    expect_error(RECEIVERS "rules:\n  - name: x\n    type: baseline_regression\n    direction: down\n",
                 "a.yml:8:16: rule 'x': 'direction' is a key of baseline_regression rules with a 'metric'");
}

static void test_slo_groups(void **state)
{
    (void)state;
    assert_int_equal(parse(RECEIVERS "rules:\n  - name: journeys\n    type: slo_burn\n    slos: 'checkout-*'\n"
                                     "  - name: both\n    type: slo_burn\n    slos: '*'\n    checks: 'api-*'\n"
                                     "    group_by: [alertname, slo, check]\n"),
                     0);
    assert_string_equal(cfg.rules[0].slos, "checkout-*");
    assert_false(cfg.rules[0].checks_given);
    assert_string_equal(cfg.rules[0].group_by[1], "slo");
    assert_true(cfg.rules[1].checks_given);
    assert_string_equal(cfg.rules[1].checks, "api-*");
    assert_string_equal(cfg.rules[1].group_by[1], "slo");
    expect_error(RECEIVERS "rules:\n  - name: x\n    type: incident\n    slos: '*'\n",
                 "a.yml:8:11: rule 'x': 'slos' is a key of slo_burn rules only");
}

static void test_url(void **state)
{
    (void)state;
    assert_int_equal(notify_check_url("http://127.0.0.1:8080/a/b?c=1", err, sizeof err), 0);
    assert_int_equal(notify_check_url("https://example.com", err, sizeof err), 0);
    assert_int_equal(notify_check_url("smtp://127.0.0.1:2525", err, sizeof err), 0);
    assert_int_equal(notify_check_url("ftp://example.com/", err, sizeof err), -1);
    assert_non_null(strstr(err, "scheme"));
    assert_int_equal(notify_check_url("http:///", err, sizeof err), -1);
    assert_int_equal(notify_check_url("http://h:x/", err, sizeof err), -1);
}

static void test_post_to_closed_port_fails(void **state)
{
    (void)state;
    /* port 1 on 127.0.0.1: nothing listens (tests never run as a service there) */
    assert_int_equal(notify_post("http://127.0.0.1:1/", "k", "{}", 1000, err, sizeof err), -1);
    assert_non_null(strstr(err, "127.0.0.1:1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_errors_name_file_line_col),
        cmocka_unit_test(test_slo_groups),
        cmocka_unit_test(test_baseline_metric),
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_post_to_closed_port_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
