/* test_metrics.c: the probe's per-check series carry blackbox_exporter's names
 * and meaning, follow the last result, survive a check-set swap by name, drop
 * checks that left the set, and the runner series count rounds and lateness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static char body[1 << 16];

static void render(struct probe_metrics *pm, const struct uplink_stats *up)
{
    size_t n = probe_metrics_render(pm, up, 1700000000, body, sizeof body);
    assert_true(n > 0 && n < sizeof body);
    assert_int_equal(body[n - 1], '\n');
}

static void set_of(struct pk_checkset *set, struct pk_check *checks, size_t n) { *set = (struct pk_checkset){.checks = checks, .n_checks = n}; }

static struct pk_result http_result(const char *name, int outcome, int status)
{
    struct pk_result r;
    memset(&r, 0, sizeof r);
    pk_strlcpy(r.check_name, name, sizeof r.check_name);
    pk_strlcpy(r.check_type, "http", sizeof r.check_type);
    r.outcome = outcome;
    r.error_class = outcome == PK_OUTCOME_OK ? PK_ERR_NONE : PK_ERR_HTTP;
    r.status_code = status;
    r.started_at_us = 1700000000000000;
    r.body_bytes = 42;
    r.dns_us = 1000;
    r.connect_us = 2000;
    r.tls_us = -1;
    r.ttfb_us = 5000;
    r.total_us = 10000;
    return r;
}

static void test_http_series(void **state)
{
    (void)state;
    struct pk_check checks[2] = {{.name = "api \"v2\"", .type = "http"}, {.name = "idle", .type = "http"}};
    struct pk_checkset set;
    set_of(&set, checks, 2);
    struct probe_metrics *pm = probe_metrics_new("eu-west");
    assert_non_null(pm);
    assert_int_equal(probe_metrics_set_checks(pm, &set), 0);
    struct pk_result r = http_result("api \"v2\"", PK_OUTCOME_OK, 200);
    probe_metrics_record(pm, &r);
    render(pm, NULL);
    const char *lbl = "{check=\"api \\\"v2\\\"\",type=\"http\",region=\"eu-west\"}";
    char want[512];
    snprintf(want, sizeof want, "\nprobe_success%s 1\n", lbl);
    assert_non_null(strstr(body, want));
    snprintf(want, sizeof want, "\nprobe_http_status_code%s 200\n", lbl);
    assert_non_null(strstr(body, want));
    snprintf(want, sizeof want, "\nprobe_duration_seconds%s 0.01\n", lbl);
    assert_non_null(strstr(body, want));
    snprintf(want, sizeof want, "\nprobe_dns_lookup_time_seconds%s 0.001\n", lbl);
    assert_non_null(strstr(body, want));
    snprintf(want, sizeof want, "\nprobe_http_content_length%s 42\n", lbl);
    assert_non_null(strstr(body, want));
    assert_non_null(strstr(body, "probe_http_duration_seconds{check=\"api \\\"v2\\\"\",type=\"http\",region=\"eu-west\","
                                 "phase=\"tls\"} 0\n"));
    /* transfer = total - (dns + connect + ttfb) = 10 - 8 ms */
    assert_non_null(strstr(body, "phase=\"transfer\"} 0.002\n"));
    assert_non_null(strstr(body, "phase=\"processing\"} 0.005\n"));
    /* A check without a result has no series yet, as in blackbox before its first probe. */
    assert_null(strstr(body, "check=\"idle\""));
    /* No uplink given: no uplink series; no tls check: no expiry family. */
    assert_null(strstr(body, "picket_probe_pending_results"));
    assert_null(strstr(body, "probe_ssl_earliest_cert_expiry"));

    r = http_result("api \"v2\"", PK_OUTCOME_FAILED, 500);
    probe_metrics_record(pm, &r);
    render(pm, NULL);
    snprintf(want, sizeof want, "\nprobe_success%s 0\n", lbl);
    assert_non_null(strstr(body, want));
    snprintf(want, sizeof want, "\nprobe_http_status_code%s 500\n", lbl);
    assert_non_null(strstr(body, want));
    assert_non_null(strstr(body, "\npicket_probe_runs_total{outcome=\"ok\"} 1\n"));
    assert_non_null(strstr(body, "\npicket_probe_runs_total{outcome=\"failed\"} 1\n"));
    /* Every family once. */
    const char *first = strstr(body, "# TYPE probe_success ");
    assert_null(strstr(first + 1, "# TYPE probe_success "));
    probe_metrics_free(pm);
}

static void test_tls_expiry_and_swap(void **state)
{
    (void)state;
    struct pk_check a[2] = {{.name = "cert", .type = "tls"}, {.name = "gone", .type = "http"}};
    struct pk_checkset set;
    set_of(&set, a, 2);
    struct probe_metrics *pm = probe_metrics_new("us");
    probe_metrics_set_checks(pm, &set);
    struct pk_result r;
    memset(&r, 0, sizeof r);
    pk_strlcpy(r.check_name, "cert", sizeof r.check_name);
    pk_strlcpy(r.check_type, "tls", sizeof r.check_type);
    r.outcome = PK_OUTCOME_DEGRADED;
    r.dns_us = r.connect_us = r.tls_us = r.ttfb_us = -1;
    r.total_us = 3000;
    r.n_metrics = 2;
    pk_strlcpy(r.metrics[0].name, "days_left", sizeof r.metrics[0].name);
    r.metrics[0].value = 12.5;
    pk_strlcpy(r.metrics[1].name, "expiry_unix", sizeof r.metrics[1].name);
    r.metrics[1].value = 1800000000;
    probe_metrics_record(pm, &r);
    struct pk_result g = http_result("gone", PK_OUTCOME_OK, 200);
    probe_metrics_record(pm, &g);
    render(pm, NULL);
    const char *lbl = "{check=\"cert\",type=\"tls\",region=\"us\"}";
    char want[256];
    snprintf(want, sizeof want, "\nprobe_ssl_earliest_cert_expiry%s 1800000000\n", lbl);
    assert_non_null(strstr(body, want));
    snprintf(want, sizeof want, "\nprobe_success%s 1\n", lbl); /* degraded is still a success */
    assert_non_null(strstr(body, want));
    snprintf(want, sizeof want, "\npicket_check_degraded%s 1\n", lbl);
    assert_non_null(strstr(body, want));
    assert_null(strstr(body, "probe_http_status_code{check=\"cert\"")); /* http series only for http checks */
    assert_null(strstr(body, "probe_dns_lookup_time_seconds{check=\"cert\"")); /* no dns phase */
    assert_non_null(strstr(body, "check=\"gone\""));

    /* Central assignment swaps in a set without "gone" and with a new check. */
    struct pk_check b[2] = {{.name = "new", .type = "http"}, {.name = "cert", .type = "tls"}};
    set_of(&set, b, 2);
    probe_metrics_set_checks(pm, &set);
    /* A late result of the removed check is not shown. */
    probe_metrics_record(pm, &g);
    render(pm, NULL);
    assert_non_null(strstr(body, want)); /* cert kept its last result across the swap */
    assert_null(strstr(body, "check=\"gone\""));
    assert_non_null(strstr(body, "\npicket_probe_checks 2\n"));
    probe_metrics_free(pm);
}

static void test_runner_and_uplink(void **state)
{
    (void)state;
    struct pk_check c[1] = {{.name = "x", .type = "http"}};
    struct pk_checkset set;
    set_of(&set, c, 1);
    struct probe_metrics *pm = probe_metrics_new("r");
    probe_metrics_set_checks(pm, &set);
    probe_metrics_round_started(pm, 500);     /* 0.5 ms: le 0.001 */
    probe_metrics_round_started(pm, 2000000); /* 2 s: le 5 */
    probe_metrics_round_started(pm, -10);     /* early counts as on time */
    struct pk_result r = http_result("x", PK_OUTCOME_OK, 200);
    probe_metrics_record(pm, &r);
    struct uplink_stats up = {.produced = 7, .acked_seq = 5, .pending = 2, .dropped = 1, .spool_bytes = 4096,
                              .reconnects = 3, .connected = 1};
    render(pm, &up);
    assert_non_null(strstr(body, "\npicket_probe_runs_in_flight 2\n"));
    assert_non_null(strstr(body, "\npicket_probe_round_lateness_seconds_bucket{le=\"0.001\"} 2\n"));
    assert_non_null(strstr(body, "\npicket_probe_round_lateness_seconds_bucket{le=\"1\"} 2\n"));
    assert_non_null(strstr(body, "\npicket_probe_round_lateness_seconds_bucket{le=\"5\"} 3\n"));
    assert_non_null(strstr(body, "\npicket_probe_round_lateness_seconds_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(body, "\npicket_probe_round_lateness_seconds_count 3\n"));
    assert_non_null(strstr(body, "\npicket_probe_round_lateness_seconds_sum 2.0005\n"));
    assert_non_null(strstr(body, "\npicket_probe_results_produced_total 7\n"));
    assert_non_null(strstr(body, "\npicket_probe_acked_sequence 5\n"));
    assert_non_null(strstr(body, "\npicket_probe_pending_results 2\n"));
    assert_non_null(strstr(body, "\npicket_probe_dropped_results_total 1\n"));
    assert_non_null(strstr(body, "\npicket_probe_spool_bytes 4096\n"));
    assert_non_null(strstr(body, "\npicket_probe_reconnects_total 3\n"));
    assert_non_null(strstr(body, "\npicket_probe_connected 1\n"));
    probe_metrics_free(pm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_series),
        cmocka_unit_test(test_tls_expiry_and_swap),
        cmocka_unit_test(test_runner_and_uplink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
