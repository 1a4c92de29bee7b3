/* test_maint.c: common/maint.c, maintenance windows: the schedule parsers, the
 * expansion into [start, end) intervals (time zones across DST changes, the
 * week's wrap, cron fields and cron's day rule), merging of overlapping windows,
 * selection by check, service and label. Expected times were computed with
 * Python's zoneinfo, independently of the C library. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maint.h"
#include "result.h"

#define S INT64_C(1000000)
#define MIN (60 * S)
#define DAY (86400 * S)

static char err[256];

static struct maint_window recurring(enum maint_kind kind, const char *schedule, int64_t duration_us, const char *tz)
{
    struct maint_window w;
    memset(&w, 0, sizeof w);
    w.kind = kind;
    w.duration_us = duration_us;
    pk_strlcpy(w.name, "w", sizeof w.name);
    pk_strlcpy(w.schedule, schedule, sizeof w.schedule);
    pk_strlcpy(w.tz, tz, sizeof w.tz);
    pk_strlcpy(w.targets[0], "*", sizeof w.targets[0]);
    w.n_targets = 1;
    if (kind == MAINT_WEEKLY && maint_parse_weekly(schedule, &w, err, sizeof err) < 0)
        fail_msg("%s", err);
    if (kind == MAINT_CRON && maint_parse_cron(schedule, &w.cron, err, sizeof err) < 0)
        fail_msg("%s", err);
    if (maint_window_validate(&w, err, sizeof err) < 0)
        fail_msg("%s", err);
    return w;
}

static size_t expand(const struct maint_window *w, size_t n, int64_t from, int64_t to, struct maint_interval **iv)
{
    size_t k = 0;
    if (maint_intervals(w, n, NULL, from, to, iv, &k, err, sizeof err) < 0)
        fail_msg("%s", err);
    return k;
}

static void weekly_parse(void **state)
{
    (void)state;
    struct maint_window w = {0};
    assert_int_equal(maint_parse_weekly("mon,wed 02:00", &w, err, sizeof err), 0);
    assert_int_equal(w.weekdays, (1 << 1) | (1 << 3));
    assert_int_equal(w.minute_of_day, 120);
    assert_int_equal(maint_parse_weekly("sat-mon 23:30", &w, err, sizeof err), 0); /* wraps over Sunday */
    assert_int_equal(w.weekdays, (1 << 6) | (1 << 0) | (1 << 1));
    assert_int_equal(w.minute_of_day, 23 * 60 + 30);
    assert_int_equal(maint_parse_weekly("daily 03:00", &w, err, sizeof err), 0);
    assert_int_equal(w.weekdays, 0x7f);
    assert_int_equal(maint_parse_weekly("Mon-Fri 22:15", &w, err, sizeof err), 0);
    assert_int_equal(w.weekdays, 0x3e);
    const char *bad[] = {"mon 24:00", "mon", "monday 02:00", "mon,,wed 02:00", "mon 2:00x", "02:00", NULL};
    for (int i = 0; bad[i]; i++) {
        err[0] = '\0';
        assert_int_equal(maint_parse_weekly(bad[i], &w, err, sizeof err), -1);
        assert_non_null(strstr(err, bad[i]));
    }
}

static void cron_parse(void **state)
{
    (void)state;
    struct maint_cron c;
    assert_int_equal(maint_parse_cron("*/15 2 * * 1-5", &c, err, sizeof err), 0);
    assert_true(c.minutes == ((UINT64_C(1) << 0) | (UINT64_C(1) << 15) | (UINT64_C(1) << 30) | (UINT64_C(1) << 45)));
    assert_int_equal(c.hours, 1u << 2);
    assert_int_equal(c.wdays, 0x3e);
    assert_true(c.mday_any && !c.wday_any);
    assert_int_equal(maint_parse_cron("0 0 * * 7", &c, err, sizeof err), 0); /* 7 is Sunday too */
    assert_int_equal(c.wdays, 1);
    assert_int_equal(maint_parse_cron("30 1 1,15 jan-mar sun", &c, err, sizeof err), 0);
    assert_int_equal(c.mdays, (1u << 1) | (1u << 15));
    assert_int_equal(c.months, (1u << 1) | (1u << 2) | (1u << 3));
    assert_int_equal(c.wdays, 1);
    assert_int_equal(maint_parse_cron("  0   3  *  *  *  ", &c, err, sizeof err), 0);
    const char *bad[] = {"60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8",
                         "* * *",      "a b c d e",  "5-1 * * * *", "*/0 * * * *", "* * * * * *", NULL};
    for (int i = 0; bad[i]; i++) {
        err[0] = '\0';
        assert_int_equal(maint_parse_cron(bad[i], &c, err, sizeof err), -1);
        assert_non_null(strstr(err, "cron"));
    }
}

/* Europe/Berlin goes to summer time on 2026-03-29 (02:00 -> 03:00) and back on
 * 2026-10-25 (03:00 -> 02:00): a daily 02:30 window does not exist on the first
 * day (it starts an hour later, 03:30 CEST) and exists twice on the second (the
 * first one counts). */
static void dst_changes(void **state)
{
    (void)state;
    struct maint_window w = recurring(MAINT_WEEKLY, "daily 02:30", 10 * MIN, "Europe/Berlin");
    struct maint_interval *iv;
    size_t n = expand(&w, 1, INT64_C(1774569600) * S, INT64_C(1774915200) * S, &iv); /* 03-27 .. 03-31 UTC */
    assert_int_equal(n, 4);
    assert_int_equal(iv[0].start_us, (INT64_C(1774661400) - DAY / S) * S); /* 03-27 01:30Z (CET) */
    assert_int_equal(iv[1].start_us, INT64_C(1774661400) * S);            /* 03-28 01:30Z (CET) */
    assert_int_equal(iv[2].start_us, INT64_C(1774747800) * S);            /* 03-29 01:30Z = 03:30 CEST */
    assert_int_equal(iv[3].start_us, INT64_C(1774830600) * S);            /* 03-30 00:30Z (CEST) */
    assert_int_equal(iv[3].end_us - iv[3].start_us, 10 * MIN);
    free(iv);
    n = expand(&w, 1, (INT64_C(1792801800) - 1800) * S, INT64_C(1793059200) * S, &iv); /* 10-24 00:00Z .. 10-27 */
    assert_int_equal(n, 3);
    assert_int_equal(iv[0].start_us, INT64_C(1792801800) * S); /* 10-24 00:30Z (CEST) */
    assert_int_equal(iv[1].start_us, INT64_C(1792888200) * S); /* 10-25 00:30Z: the first 02:30 */
    assert_int_equal(iv[2].start_us, INT64_C(1792978200) * S); /* 10-26 01:30Z (CET) */
    free(iv);
    /* A local time in the zone of the window. */
    int64_t t = 0;
    assert_int_equal(maint_parse_local_time("2026-12-06T02:00", "America/New_York", &t, err, sizeof err), 0);
    assert_int_equal(t, INT64_C(1796540400) * S);
    assert_int_equal(maint_parse_local_time("2026-12-06T07:00:00Z", "America/New_York", &t, err, sizeof err), 0);
    assert_int_equal(t, INT64_C(1796540400) * S);
    assert_int_equal(maint_parse_local_time("2026-12-06", "", &t, err, sizeof err), -1);
    assert_int_equal(maint_check_tz("Mars/Olympus", err, sizeof err), -1);
    assert_non_null(strstr(err, "Mars/Olympus"));
    assert_int_equal(maint_check_tz("../../etc/passwd", err, sizeof err), -1);
    assert_int_equal(maint_check_tz("UTC", err, sizeof err), 0);
    /* TZ is restored after an expansion. */
    setenv("TZ", "Asia/Tokyo", 1);
    n = expand(&w, 1, INT64_C(1774569600) * S, INT64_C(1774915200) * S, &iv);
    free(iv);
    assert_string_equal(getenv("TZ"), "Asia/Tokyo");
    unsetenv("TZ");
}

/* Sunday 23:00 for 2 h reaches into Monday; a range that starts on Monday
 * still sees the hour left. */
static void week_wrap(void **state)
{
    (void)state;
    struct maint_window w = recurring(MAINT_WEEKLY, "sun 23:00", 2 * 60 * MIN, "");
    int64_t monday = INT64_C(1796601600) * S; /* 2026-12-07T00:00Z */
    struct maint_interval *iv;
    size_t n = expand(&w, 1, monday, monday + 12 * 60 * MIN, &iv);
    assert_int_equal(n, 1);
    assert_int_equal(iv[0].start_us, monday);
    assert_int_equal(iv[0].end_us, monday + 60 * MIN);
    free(iv);
    n = expand(&w, 1, monday, monday + 7 * DAY, &iv); /* the next Sunday, clipped at the range's end */
    assert_int_equal(n, 2);
    assert_int_equal(iv[1].start_us, monday + 6 * DAY + 23 * 60 * MIN);
    assert_int_equal(iv[1].end_us, monday + 7 * DAY);
    free(iv);
    assert_null(maint_covers(iv, 0, monday));
}

static void cron_expansion(void **state)
{
    (void)state;
    int64_t nov1 = INT64_C(1793491200) * S, dec1 = INT64_C(1796083200) * S;
    struct maint_window w = recurring(MAINT_CRON, "0 */6 * * *", 30 * MIN, "UTC");
    struct maint_interval *iv;
    size_t n = expand(&w, 1, nov1, nov1 + DAY, &iv);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(iv[i].start_us, nov1 + (int64_t)i * 6 * 60 * MIN);
        assert_int_equal(iv[i].end_us, iv[i].start_us + 30 * MIN);
    }
    free(iv);
    /* Day of month and day of week both given: either matches (Nov 1 and the four Fridays). */
    w = recurring(MAINT_CRON, "0 0 1 * fri", 60 * MIN, "");
    assert_int_equal(expand(&w, 1, nov1, dec1, &iv), 5);
    free(iv);
    w = recurring(MAINT_CRON, "0 0 1 * *", 60 * MIN, "");
    assert_int_equal(expand(&w, 1, nov1, dec1, &iv), 1);
    free(iv);
    w = recurring(MAINT_CRON, "0 0 * * fri", 60 * MIN, "");
    assert_int_equal(expand(&w, 1, nov1, dec1, &iv), 4);
    assert_int_equal(iv[1].start_us, nov1 + 12 * DAY); /* Friday the 13th */
    free(iv);
    /* Every minute for 5 minutes: occurrences overlap and merge into one span. */
    w = recurring(MAINT_CRON, "* 1 * * *", 5 * MIN, "");
    assert_int_equal(expand(&w, 1, nov1, nov1 + DAY, &iv), 1);
    assert_int_equal(iv[0].start_us, nov1 + 60 * MIN);
    assert_int_equal(iv[0].end_us, nov1 + 2 * 60 * MIN + 4 * MIN);
    free(iv);
}

static void overlapping_and_selection(void **state)
{
    (void)state;
    struct maint_window w[4];
    memset(w, 0, sizeof w);
    const char *targets[4] = {"api-*", "service:payments", "label:team=core", "other"};
    int64_t start[4] = {10, 15, 30, 100}, end[4] = {20, 30, 40, 200};
    for (int i = 0; i < 4; i++) {
        w[i].kind = MAINT_ONCE;
        w[i].id = i + 1;
        w[i].start_us = start[i] * MIN;
        w[i].end_us = end[i] * MIN;
        snprintf(w[i].name, sizeof w[i].name, "w%d", i + 1);
        pk_strlcpy(w[i].targets[0], targets[i], sizeof w[i].targets[0]);
        w[i].n_targets = 1;
        assert_int_equal(maint_window_validate(&w[i], err, sizeof err), 0);
    }
    struct pk_kv labels[1] = {{"team", "core"}};
    struct maint_subject s = {"api-login", "payments", labels, 1};
    struct maint_interval *iv;
    size_t n = 0;
    assert_int_equal(maint_intervals(w, 4, &s, 0, 1000 * MIN, &iv, &n, err, sizeof err), 0);
    assert_int_equal(n, 1); /* [10, 20) + [15, 30) + [30, 40): one span; "other" does not select it */
    assert_int_equal(iv[0].start_us, 10 * MIN);
    assert_int_equal(iv[0].end_us, 40 * MIN);
    assert_int_equal(iv[0].window_id, 1);
    assert_non_null(maint_covers(iv, n, 39 * MIN));
    assert_null(maint_covers(iv, n, 40 * MIN));
    assert_null(maint_covers(iv, n, 9 * MIN));
    assert_int_equal(maint_overlap_us(iv, n, 0, 15 * MIN), 5 * MIN);
    free(iv);
    struct maint_subject other = {"db-check", "", NULL, 0};
    assert_int_equal(maint_intervals(w, 4, &other, 0, 1000 * MIN, &iv, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    free(iv);
    w[0].ended_us = 12 * MIN; /* ended early by an operator */
    struct maint_subject only_api = {"api-x", "", NULL, 0};
    assert_int_equal(maint_intervals(w, 4, &only_api, 0, 1000 * MIN, &iv, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(iv[0].end_us, 12 * MIN);
    free(iv);
    /* Validation names what is wrong. */
    assert_int_equal(maint_check_target("label:team", err, sizeof err), -1);
    assert_int_equal(maint_check_target("svc:x", err, sizeof err), -1);
    w[1].end_us = w[1].start_us;
    assert_int_equal(maint_window_validate(&w[1], err, sizeof err), -1);
    assert_non_null(strstr(err, "w2"));
    struct maint_window r = recurring(MAINT_WEEKLY, "mon 01:00", 60 * MIN, "");
    r.duration_us = 8 * DAY;
    assert_int_equal(maint_window_validate(&r, err, sizeof err), -1);
}

/* A recurring window in force from a date: nothing before it. */
static void recurring_bounds(void **state)
{
    (void)state;
    int64_t nov1 = INT64_C(1793491200) * S;
    struct maint_window w = recurring(MAINT_WEEKLY, "daily 00:00", 60 * MIN, "");
    w.start_us = nov1 + 2 * DAY;
    w.end_us = nov1 + 4 * DAY;
    struct maint_interval *iv;
    size_t n = expand(&w, 1, nov1, nov1 + 10 * DAY, &iv);
    assert_int_equal(n, 2);
    assert_int_equal(iv[0].start_us, nov1 + 2 * DAY);
    assert_int_equal(iv[1].start_us, nov1 + 3 * DAY);
    free(iv);
    char d[128];
    maint_describe(&w, d, sizeof d);
    assert_string_equal(d, "every daily 00:00 for 1h (UTC)");
}


/* maint_occurrence against one expansion of the whole span around now: the
 * same occurrence, whole, for every now over two weeks (a week boundary of
 * its search falls inside occurrences too), and none past the horizon. */
static void next_occurrence(void **state)
{
    (void)state;
    const struct maint_window ws[3] = {recurring(MAINT_WEEKLY, "sun 23:00", 2 * 60 * MIN, ""),
                                       recurring(MAINT_WEEKLY, "daily 03:00", 30 * MIN, "Europe/Berlin"),
                                       recurring(MAINT_CRON, "15 */6 * * *", 45 * MIN, "")};
    int64_t t0 = INT64_C(1796601600) * S; /* 2026-12-07T00:00Z, a Monday */
    const int64_t ahead[2] = {30 * DAY, 2 * 60 * MIN};
    for (int k = 0; k < 3; k++)
        for (int a = 0; a < 2; a++)
            for (int64_t now = t0; now < t0 + 14 * DAY; now += 37 * MIN) {
                struct maint_interval *iv, got, want = {0, 0};
                size_t n = expand(&ws[k], 1, now - 8 * DAY, now + ahead[a] + 8 * DAY, &iv);
                int found = 0;
                for (size_t i = 0; i < n && !found; i++)
                    if (iv[i].end_us > now && iv[i].start_us < now + ahead[a]) {
                        want = iv[i];
                        found = 1;
                    }
                free(iv);
                assert_int_equal(maint_occurrence(&ws[k], now, ahead[a], &got), found);
                if (found) {
                    assert_true(got.start_us == want.start_us);
                    assert_true(got.end_us == want.end_us);
                }
            }
    /* a one-off window: itself while it holds or is ahead, nothing once over */
    struct maint_window once = recurring(MAINT_WEEKLY, "sun 23:00", 60 * MIN, "");
    once.kind = MAINT_ONCE;
    once.start_us = t0 + 10 * DAY;
    once.end_us = t0 + 10 * DAY + 9 * DAY; /* longer than a week of the search */
    struct maint_interval got;
    assert_int_equal(maint_occurrence(&once, t0, 30 * DAY, &got), 1);
    assert_true(got.start_us == once.start_us && got.end_us == once.end_us);
    assert_int_equal(maint_occurrence(&once, t0 + 15 * DAY, 30 * DAY, &got), 1);
    assert_true(got.start_us == once.start_us && got.end_us == once.end_us);
    assert_int_equal(maint_occurrence(&once, t0, 5 * DAY, &got), 0);
    assert_int_equal(maint_occurrence(&once, t0 + 20 * DAY, 30 * DAY, &got), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(weekly_parse),   cmocka_unit_test(cron_parse),
        cmocka_unit_test(dst_changes),    cmocka_unit_test(week_wrap),
        cmocka_unit_test(cron_expansion), cmocka_unit_test(overlapping_and_selection),
        cmocka_unit_test(recurring_bounds),       cmocka_unit_test(next_occurrence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
