/* test_result.c: the small helpers around struct pk_result. Name tables round
 * trip and never return NULL, pk_strlcpy always terminates, the UTF-8
 * sanitizer keeps valid text and replaces every bad byte, and the clocks move. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "result.h"

static void test_outcome_names_round_trip(void **state)
{
    (void)state;
    for (int o = PK_OUTCOME_UNSPECIFIED; o <= PK_OUTCOME_UNKNOWN; o++)
        assert_int_equal(pk_outcome_parse(pk_outcome_name(o)), o);
    assert_string_equal(pk_outcome_name(PK_OUTCOME_OK), "ok");
    assert_string_equal(pk_outcome_name(PK_OUTCOME_FAILED), "failed");
    assert_string_equal(pk_outcome_name(-1), "unknown");
    assert_string_equal(pk_outcome_name(99), "unknown");
    assert_int_equal(pk_outcome_parse("OK"), -1);
    assert_int_equal(pk_outcome_parse(""), -1);
}

static void test_error_class_names_round_trip(void **state)
{
    (void)state;
    for (int e = PK_ERR_NONE; e <= PK_ERR_INTERNAL; e++)
        assert_int_equal(pk_error_class_parse(pk_error_class_name(e)), e);
    assert_string_equal(pk_error_class_name(PK_ERR_DNS), "dns");
    assert_string_equal(pk_error_class_name(PK_ERR_TIMEOUT), "timeout");
    assert_string_equal(pk_error_class_name(-3), "unknown");
    assert_string_equal(pk_error_class_name(8), "unknown");
    assert_int_equal(pk_error_class_parse("unknown"), -1);
    assert_int_equal(pk_error_class_parse("tls "), -1);
}

static void test_strlcpy(void **state)
{
    (void)state;
    char buf[8];
    memset(buf, 'x', sizeof buf);
    pk_strlcpy(buf, "hello", sizeof buf);
    assert_string_equal(buf, "hello");
    pk_strlcpy(buf, "exactly", sizeof buf); /* 7 chars + NUL fit */
    assert_string_equal(buf, "exactly");
    pk_strlcpy(buf, "truncated!", sizeof buf);
    assert_string_equal(buf, "truncat");
    pk_strlcpy(buf, "a", 1);
    assert_string_equal(buf, "");
    memset(buf, 'x', sizeof buf);
    pk_strlcpy(buf, "a", 0); /* writes nothing */
    assert_int_equal(buf[0], 'x');
    pk_strlcpy(buf, NULL, sizeof buf);
    assert_string_equal(buf, "");
}

static void test_utf8_sanitize(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"plain ascii", "plain ascii"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"bad \xff byte", "bad ? byte"},
        {"lone \x80 continuation", "lone ? continuation"},
        {"overlong \xc0\xaf", "overlong ??"},
        {"surrogate \xed\xa0\x80", "surrogate ???"},
        {"too big \xf4\x90\x80\x80", "too big ????"},
        {"cut \xe2\x82", "cut ??"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char buf[64];
        pk_strlcpy(buf, cases[i][0], sizeof buf);
        pk_utf8_sanitize(buf);
        assert_string_equal(buf, cases[i][1]);
    }
}

static void test_clocks(void **state)
{
    (void)state;
    int64_t now = pk_now_us();
    int64_t wall = (int64_t)time(NULL) * 1000000;
    assert_true(now > wall - 2000000 && now < wall + 2000000);
    int64_t a = pk_mono_us();
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
    int64_t b = pk_mono_us();
    assert_true(b - a >= 2000);
    assert_true(b - a < 1000000);
}

/* The deadline is ms after the wall clock, its nanoseconds normalised, and a
 * negative wait is no wait. */
static void test_realtime_after_ms(void **state)
{
    (void)state;
    int64_t ms_list[] = {0, 1, 999, 1000, 1999, 61234};
    for (size_t i = 0; i < sizeof ms_list / sizeof ms_list[0]; i++) {
        int64_t before = pk_now_us();
        struct timespec t = pk_realtime_after_ms(ms_list[i]);
        int64_t after = pk_now_us();
        int64_t at = (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
        assert_true(t.tv_nsec >= 0 && t.tv_nsec < 1000000000L);
        assert_true(at >= before + ms_list[i] * 1000 - 1);
        assert_true(at <= after + ms_list[i] * 1000 + 1);
    }
    int64_t before = pk_now_us();
    struct timespec t = pk_realtime_after_ms(-5000);
    int64_t at = (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
    assert_true(at >= before - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outcome_names_round_trip),
        cmocka_unit_test(test_error_class_names_round_trip),
        cmocka_unit_test(test_strlcpy),
        cmocka_unit_test(test_utf8_sanitize),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_realtime_after_ms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
