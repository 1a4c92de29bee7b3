/* test_metrics_text.c: label values are escaped as the exposition format wants
 * (and never cut inside an escape), numbers read back exactly with Prometheus's
 * special values, families carry HELP and TYPE, and a full buffer ends at a
 * whole line. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics_text.h"

static void test_escape(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(pk_mt_escape_label("plain", out, sizeof out), 5);
    assert_string_equal(out, "plain");
    pk_mt_escape_label("a\"b\\c\nd", out, sizeof out);
    assert_string_equal(out, "a\\\"b\\\\c\\nd");
    pk_mt_escape_label(NULL, out, sizeof out);
    assert_string_equal(out, "");
    /* Room for "ab" and half an escape: the escape is left out whole. */
    char small[4];
    pk_mt_escape_label("ab\"c", small, sizeof small);
    assert_string_equal(small, "ab");
    /* UTF-8 passes through untouched. */
    pk_mt_escape_label("caf\xc3\xa9", out, sizeof out);
    assert_string_equal(out, "caf\xc3\xa9");
}

static void test_values(void **state)
{
    (void)state;
    char out[64];
    pk_mt_format_value(NAN, out, sizeof out);
    assert_string_equal(out, "NaN");
    pk_mt_format_value(INFINITY, out, sizeof out);
    assert_string_equal(out, "+Inf");
    pk_mt_format_value(-INFINITY, out, sizeof out);
    assert_string_equal(out, "-Inf");
    pk_mt_format_value(0, out, sizeof out);
    assert_string_equal(out, "0");
    pk_mt_format_value(1700000000, out, sizeof out);
    assert_string_equal(out, "1700000000");
    pk_mt_format_value(-3, out, sizeof out);
    assert_string_equal(out, "-3");
    pk_mt_format_value(0.1, out, sizeof out);
    assert_string_equal(out, "0.1");
    const double samples[] = {0.123456789012345678, 1e-9, 3.5e300, 2.0 / 3.0, 1e20};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        pk_mt_format_value(samples[i], out, sizeof out);
        assert_true(strtod(out, NULL) == samples[i]);
    }
}

static void test_family_and_sample(void **state)
{
    (void)state;
    char buf[1024];
    struct pk_mt w;
    pk_mt_init(&w, buf, sizeof buf);
    pk_mt_family(&w, "probe_success", "gauge", "Whether\nit \\ worked");
    const char *labels[] = {"check", "say \"hi\"", "region", "eu", NULL};
    pk_mt_sample(&w, "probe_success", labels, 1);
    pk_mt_sample(&w, "probe_success", NULL, 0.25);
    assert_false(w.truncated);
    assert_string_equal(buf, "# HELP probe_success Whether\\nit \\\\ worked\n"
                             "# TYPE probe_success gauge\n"
                             "probe_success{check=\"say \\\"hi\\\"\",region=\"eu\"} 1\n"
                             "probe_success 0.25\n");
    assert_int_equal(w.used, strlen(buf));
}

static void test_truncation_ends_at_a_line(void **state)
{
    (void)state;
    char buf[60];
    struct pk_mt w;
    pk_mt_init(&w, buf, sizeof buf);
    pk_mt_single(&w, "a_metric", "gauge", "one", 1); /* 46 bytes */
    size_t after_first = w.used;
    assert_false(w.truncated);
    pk_mt_single(&w, "b_metric", "gauge", "two", 2);
    assert_true(w.truncated);
    assert_int_equal(w.used, after_first);
    assert_int_equal(buf[w.used - 1], '\n');
    pk_mt_sample(&w, "c", NULL, 1); /* ignored once truncated, even though it would fit */
    assert_int_equal(w.used, after_first);
}

static void test_process(void **state)
{
    (void)state;
    char buf[4096];
    struct pk_mt w;
    pk_mt_init(&w, buf, sizeof buf);
    pk_mt_process(&w, 1700000000.5);
    assert_false(w.truncated);
    assert_non_null(strstr(buf, "# TYPE process_cpu_seconds_total counter\n"));
    assert_non_null(strstr(buf, "\nprocess_start_time_seconds 1700000000.5\n"));
    assert_non_null(strstr(buf, "\nprocess_threads 1\n"));
    const char *rss = strstr(buf, "\nprocess_resident_memory_bytes ");
    assert_non_null(rss);
    assert_true(strtod(rss + 31, NULL) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_family_and_sample),
        cmocka_unit_test(test_truncation_ends_at_a_line),
        cmocka_unit_test(test_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
