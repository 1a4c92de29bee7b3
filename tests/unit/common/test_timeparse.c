/* test_timeparse.c: common/timeparse.c, the --since/--until parser of picketctl
 * and `picket-collector rollup-backfill`. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "timeparse.h"

#define NOW INT64_C(1795700000000000) /* 2026-11-26T13:33:20Z */

static int64_t parse_ok(const char *s)
{
    int64_t us = -1;
    if (pk_parse_time(s, NOW, &us) != 0)
        fail_msg("'%s' did not parse", s);
    return us;
}

static void rfc3339(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse_ok("2026-11-26T13:33:20Z"), NOW);
    assert_int_equal(parse_ok("2026-11-26 13:33:20z"), NOW);
    assert_int_equal(parse_ok("2026-11-26T14:33:20+01:00"), NOW);
    assert_int_equal(parse_ok("2026-11-26T13:03:20-00:30"), NOW);
    assert_int_equal(parse_ok("2026-11-26T13:33:20.25Z"), NOW + 250000);
    assert_int_equal(parse_ok("2024-02-29T00:00:00Z"), INT64_C(1709164800000000)); /* leap day */
}

static void durations_and_now(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("now"), NOW);
    assert_int_equal(parse_ok("90s"), NOW - INT64_C(90000000));
    assert_int_equal(parse_ok("30m"), NOW - INT64_C(1800000000));
    assert_int_equal(parse_ok("1.5h"), NOW - INT64_C(5400000000));
    assert_int_equal(parse_ok("7d"), NOW - 7 * INT64_C(86400000000));
    assert_int_equal(parse_ok("2w"), NOW - 14 * INT64_C(86400000000));
}

static void refused(void **state)
{
    (void)state;
    const char *bad[] = {"", "yesterday", "7", "7y", "-1h", "4000d", "2026-11-26", "2026-11-26T09:33:20",
                         "2026-13-01T00:00:00Z", "2026-11-26T24:00:00Z", "2026-11-26T09:33:20Zx",
                         "2026-11-26T09:33:20+1:00", "1969-12-31T23:59:59Z", "2026-11-26T09:33:20.Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t us = 42;
        if (pk_parse_time(bad[i], NOW, &us) != -1)
            fail_msg("'%s' was accepted", bad[i]);
        assert_int_equal(us, 42);
    }
    assert_int_equal(pk_parse_time(NULL, NOW, &(int64_t){0}), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc3339),
        cmocka_unit_test(durations_and_now),
        cmocka_unit_test(refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
