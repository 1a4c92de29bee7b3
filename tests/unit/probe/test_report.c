/* Tests probe/report.c: the exact table, JUnit XML and TAP for a small fixture
 * (one ok, one degraded with a metric, one failed whose reason holds <&"'>),
 * and the exit code rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "report.h"

static struct pk_result results[3];
static struct report_row rows[3];

static int setup(void **state)
{
    (void)state;
    memset(results, 0, sizeof results);
    results[0].outcome = PK_OUTCOME_OK;
    results[0].status_code = 200;
    results[0].total_us = 12345;

    results[1].outcome = PK_OUTCOME_DEGRADED;
    results[1].error_class = PK_ERR_ASSERTION;
    results[1].status_code = 200;
    results[1].total_us = 2500000;
    pk_strlcpy(results[1].message, "response took 2500 ms, over 2000 ms", sizeof results[1].message);
    results[1].n_metrics = 1;
    pk_strlcpy(results[1].metrics[0].name, "sources", sizeof results[1].metrics[0].name);
    results[1].metrics[0].value = 2;

    results[2].outcome = PK_OUTCOME_FAILED;
    results[2].error_class = PK_ERR_ASSERTION;
    results[2].status_code = 401;
    results[2].total_us = 4000;
    pk_strlcpy(results[2].message, "body contains <b>&\"it's\"</b>\nsecond line", sizeof results[2].message);

    rows[0] = (struct report_row){"rag-health", "http", "rag-api", &results[0]};
    rows[1] = (struct report_row){"rag-query", "http", NULL, &results[1]};
    rows[2] = (struct report_row){"shopify#webhook", "http", "sync-api", &results[2]};
    return 0;
}

/* Runs one writer into memory and returns what it wrote (caller frees). */
static char *capture(void (*writer)(FILE *, const struct report_row *, size_t), size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    writer(f, rows, n);
    fclose(f);
    return buf;
}

static void junit_writer(FILE *f, const struct report_row *r, size_t n) { report_junit(f, "seed <plan>", r, n); }

static void test_table(void **state)
{
    (void)state;
    char *got = capture(report_table, 3);
    const char *want = "CHECK            TYPE  OUTCOME   STATUS  TIME       METRICS\n"
                       "rag-health       http  ok        200     12.3 ms\n"
                       "rag-query        http  degraded  200     2.50 s     sources=2\n"
                       "    why: response took 2500 ms, over 2000 ms\n"
                       "shopify#webhook  http  failed    401     4.0 ms\n"
                       "    why: body contains <b>&\"it's\"</b> second line\n"
                       "\n"
                       "3 checks: 1 ok, 1 degraded, 1 failed\n";
    assert_string_equal(got, want);
    free(got);
}

static void test_junit(void **state)
{
    (void)state;
    char *got = capture(junit_writer, 3);
    const char *want =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<testsuites tests=\"3\" failures=\"1\" errors=\"0\" time=\"2.516\">\n"
        "  <testsuite name=\"seed &lt;plan&gt;\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"0\" "
        "time=\"2.516\">\n"
        "    <testcase classname=\"rag-api\" name=\"rag-health\" time=\"0.012\"/>\n"
        "    <testcase classname=\"http\" name=\"rag-query\" time=\"2.500\">\n"
        "      <properties>\n"
        "        <property name=\"sources\" value=\"2\"/>\n"
        "      </properties>\n"
        "      <system-out>degraded: response took 2500 ms, over 2000 ms</system-out>\n"
        "    </testcase>\n"
        "    <testcase classname=\"sync-api\" name=\"shopify#webhook\" time=\"0.004\">\n"
        "      <failure message=\"body contains &lt;b&gt;&amp;&quot;it&apos;s&quot;&lt;/b&gt;&#10;second line\" "
        "type=\"failed\">body contains &lt;b&gt;&amp;&quot;it&apos;s&quot;&lt;/b&gt;\nsecond line\n"
        "error class: assertion\n"
        "status: 401</failure>\n"
        "    </testcase>\n"
        "  </testsuite>\n"
        "</testsuites>\n";
    assert_string_equal(got, want);
    free(got);
}

static void test_tap(void **state)
{
    (void)state;
    char *got = capture(report_tap, 3);
    const char *want = "TAP version 13\n"
                       "1..3\n"
                       "ok 1 - rag-health\n"
                       "ok 2 - rag-query # degraded: response took 2500 ms, over 2000 ms\n"
                       "not ok 3 - shopify\\#webhook # body contains <b>&\"it's\"</b> second line\n";
    assert_string_equal(got, want);
    free(got);
}

static void test_tap_unknown_and_directive_like_reason(void **state)
{
    (void)state;
    results[0].outcome = PK_OUTCOME_UNKNOWN;
    pk_strlcpy(results[0].message, "plugin printed nothing", sizeof results[0].message);
    pk_strlcpy(results[2].message, "skipped the body", sizeof results[2].message);
    char *got = capture(report_tap, 3);
    const char *want = "TAP version 13\n"
                       "1..3\n"
                       "not ok 1 - rag-health # unknown: plugin printed nothing\n"
                       "ok 2 - rag-query # degraded: response took 2500 ms, over 2000 ms\n"
                       "not ok 3 - shopify\\#webhook # failed: skipped the body\n";
    assert_string_equal(got, want);
    free(got);
}

static void test_junit_unknown_is_error_and_control_bytes(void **state)
{
    (void)state;
    results[0].outcome = PK_OUTCOME_UNKNOWN;
    results[0].status_code = 0;
    pk_strlcpy(results[0].message, "bell\a here", sizeof results[0].message);
    char *got = capture(junit_writer, 1);
    const char *want = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                       "<testsuites tests=\"1\" failures=\"0\" errors=\"1\" time=\"0.012\">\n"
                       "  <testsuite name=\"seed &lt;plan&gt;\" tests=\"1\" failures=\"0\" errors=\"1\" "
                       "skipped=\"0\" time=\"0.012\">\n"
                       "    <testcase classname=\"rag-api\" name=\"rag-health\" time=\"0.012\">\n"
                       "      <error message=\"bell? here\" type=\"unknown\">bell? here\n"
                       "error class: none</error>\n"
                       "    </testcase>\n"
                       "  </testsuite>\n"
                       "</testsuites>\n";
    assert_string_equal(got, want);
    free(got);
}

static void test_exit_codes(void **state)
{
    (void)state;
    assert_int_equal(report_exit_code(rows, 0), REPORT_EXIT_OK);
    assert_int_equal(report_exit_code(rows, 1), REPORT_EXIT_OK);
    assert_int_equal(report_exit_code(rows, 2), REPORT_EXIT_DEGRADED);
    assert_int_equal(report_exit_code(rows, 3), REPORT_EXIT_FAILED);
    results[2].outcome = PK_OUTCOME_OK;
    assert_int_equal(report_exit_code(rows, 3), REPORT_EXIT_DEGRADED);
    results[0].outcome = PK_OUTCOME_UNKNOWN;
    assert_int_equal(report_exit_code(rows, 3), REPORT_EXIT_FAILED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_table, setup),
        cmocka_unit_test_setup(test_junit, setup),
        cmocka_unit_test_setup(test_tap, setup),
        cmocka_unit_test_setup(test_tap_unknown_and_directive_like_reason, setup),
        cmocka_unit_test_setup(test_junit_unknown_is_error_and_control_bytes, setup),
        cmocka_unit_test_setup(test_exit_codes, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
