/* test_incidents.c: incidents opened after N down rounds and closed after M up
 * ones, no-data rounds skipped, open incidents, merging a service's checks, MTTR
 * and MTBF, on series whose answers are worked out in the comments. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analytics.h"
#include "result.h"

#define MIN_US (60LL * 1000000)
#define T0 (1704067200LL * 1000000)

/* 'U' up, 'D' down (region 0), 'E' down (region 1), '.' no data. */
static size_t slots_of(const char *pattern, struct pk_slot *s)
{
    size_t n = strlen(pattern);
    for (size_t i = 0; i < n; i++) {
        s[i] = (struct pk_slot){T0 + (int64_t)i * MIN_US, PK_SLOT_NO_DATA, 0, 0};
        switch (pattern[i]) {
        case 'U': s[i].state = PK_SLOT_UP; s[i].regions_data = 3; break;
        case 'D': s[i].state = PK_SLOT_DOWN; s[i].regions_data = 3; s[i].regions_down = 1; break;
        case 'E': s[i].state = PK_SLOT_DOWN; s[i].regions_data = 3; s[i].regions_down = 2; break;
        default: break;
        }
    }
    return n;
}

/* N = 3, M = 2 on
 *   index: 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19
 *   state: U D D U D D E . D U D  U  U  U  D  D  D  D  U  U
 * rounds 1-2: only 2 down, no incident. Rounds 4-6 open one (start 4); the no-data
 * round 7 is skipped; 9 is one up, 10 down again, 11-12 close it: end 11, 7 rounds
 * = 420 s, 5 down rounds, regions 0 and 1. Rounds 14-17 open a second (start 14),
 * 18-19 close it: end 18, 240 s. MTTR (420 + 240) / 2 = 330 s. Rounds with data 19:
 * observed 1140 s, downtime 660 s, MTBF (1140 - 660) / 2 = 240 s. */
static void test_open_close_mttr_mtbf(void **state)
{
    (void)state;
    struct pk_slot s[32];
    size_t n = slots_of("UDDUDDE.DUDUUUDDDDUU", s);
    struct pk_incident_opts o = {3, 2};
    struct pk_incident *inc;
    size_t ni;
    char err[256];
    assert_int_equal(pk_incidents_detect(s, n, MIN_US, &o, &inc, &ni, err, sizeof err), 0);
    assert_int_equal(ni, 2);
    assert_int_equal(inc[0].start_us, T0 + 4 * MIN_US);
    assert_int_equal(inc[0].end_us, T0 + 11 * MIN_US);
    assert_int_equal(inc[0].duration_us, 7 * MIN_US);
    assert_int_equal(inc[0].down_rounds, 5);
    assert_int_equal(inc[0].regions, 3);
    assert_int_equal(inc[1].start_us, T0 + 14 * MIN_US);
    assert_int_equal(inc[1].end_us, T0 + 18 * MIN_US);
    assert_int_equal(inc[1].duration_us, 4 * MIN_US);
    assert_int_equal(inc[1].regions, 1);
    struct pk_incident_stats st;
    pk_incident_stats(inc, ni, 19 * MIN_US, &st);
    assert_int_equal(st.count, 2);
    assert_int_equal(st.closed, 2);
    assert_int_equal(st.downtime_us, 11 * MIN_US);
    assert_true(fabs(st.mttr_s - 330.0) < 1e-9);
    assert_true(fabs(st.mtbf_s - 240.0) < 1e-9);
    free(inc);

    /* N = 1, M = 1: every down run is an incident: 1-2, 4-8 (7 skipped), 10, 14-17 */
    o = (struct pk_incident_opts){1, 1};
    assert_int_equal(pk_incidents_detect(s, n, MIN_US, &o, &inc, &ni, err, sizeof err), 0);
    assert_int_equal(ni, 4);
    assert_int_equal(inc[1].start_us, T0 + 4 * MIN_US);
    assert_int_equal(inc[1].end_us, T0 + 9 * MIN_US);
    assert_int_equal(inc[2].duration_us, 1 * MIN_US);
    free(inc);
}

static void test_open_at_end_and_none(void **state)
{
    (void)state;
    struct pk_slot s[32];
    /* opened at round 2, still down at the end (round 6 is the last, ends at 7 min) */
    size_t n = slots_of("UUDDDUD", s);
    struct pk_incident_opts o = {3, 2};
    struct pk_incident *inc;
    size_t ni;
    char err[256];
    assert_int_equal(pk_incidents_detect(s, n, MIN_US, &o, &inc, &ni, err, sizeof err), 0);
    assert_int_equal(ni, 1);
    assert_int_equal(inc[0].end_us, -1);
    assert_int_equal(inc[0].duration_us, 5 * MIN_US);
    struct pk_incident_stats st;
    pk_incident_stats(inc, ni, 7 * MIN_US, &st);
    assert_int_equal(st.closed, 0);
    assert_true(isnan(st.mttr_s)); /* nothing repaired yet */
    assert_true(fabs(st.mtbf_s - 120.0) < 1e-9);
    free(inc);

    /* all up, all no data: no incident, MTTR and MTBF unknown */
    n = slots_of("UUU...UU", s);
    assert_int_equal(pk_incidents_detect(s, n, MIN_US, &o, &inc, &ni, err, sizeof err), 0);
    assert_int_equal(ni, 0);
    assert_null(inc);
    pk_incident_stats(inc, ni, 5 * MIN_US, &st);
    assert_true(isnan(st.mttr_s) && isnan(st.mtbf_s));
    /* no data between down rounds does not break the run: D . . D D opens at 0 */
    n = slots_of("D..DD", s);
    assert_int_equal(pk_incidents_detect(s, n, MIN_US, &o, &inc, &ni, err, sizeof err), 0);
    assert_int_equal(ni, 1);
    assert_int_equal(inc[0].start_us, T0);
    free(inc);

    o.open_after = 0;
    assert_int_equal(pk_incidents_detect(s, n, MIN_US, &o, &inc, &ni, err, sizeof err), -1);
    assert_non_null(strstr(err, "open_after"));
}

/* From raw rounds through the region quorum to incidents: 3 regions, quorum 2.
 * Region 0 fails from round 2 to 9, region 1 from round 4 to 7: global down in
 * rounds 4..7; with N = 2, M = 2 that is one incident [4, 8), regions {0, 1}. */
static void test_from_rounds(void **state)
{
    (void)state;
    struct pk_an_round r[64];
    size_t n = 0;
    for (int k = 0; k < 12; k++)
        for (int g = 0; g < 3; g++) {
            int failed = (g == 0 && k >= 2 && k <= 9) || (g == 1 && k >= 4 && k <= 7);
            r[n++] = (struct pk_an_round){T0 + k * MIN_US + g * 1000, g,
                                          failed ? PK_OUTCOME_FAILED : PK_OUTCOME_OK, 5000};
        }
    struct pk_round_opts ro = {.interval_us = MIN_US, .quorum = 2};
    struct pk_slot *s;
    size_t ns;
    char err[256];
    assert_int_equal(pk_rounds_slots(r, n, -1, T0, T0 + 12 * MIN_US, &ro, &s, &ns, err, sizeof err), 0);
    struct pk_incident_opts o = {2, 2};
    struct pk_incident *inc;
    size_t ni;
    assert_int_equal(pk_incidents_detect(s, ns, MIN_US, &o, &inc, &ni, err, sizeof err), 0);
    assert_int_equal(ni, 1);
    assert_int_equal(inc[0].start_us, T0 + 4 * MIN_US);
    assert_int_equal(inc[0].end_us, T0 + 8 * MIN_US);
    assert_int_equal(inc[0].regions, 3);
    free(inc);
    free(s);
    /* region 0 alone: down 2..9 -> [2, 10) */
    assert_int_equal(pk_rounds_slots(r, n, 0, T0, T0 + 12 * MIN_US, &ro, &s, &ns, err, sizeof err), 0);
    assert_int_equal(pk_incidents_detect(s, ns, MIN_US, &o, &inc, &ni, err, sizeof err), 0);
    assert_int_equal(ni, 1);
    assert_int_equal(inc[0].start_us, T0 + 2 * MIN_US);
    assert_int_equal(inc[0].end_us, T0 + 10 * MIN_US);
    assert_int_equal(inc[0].regions, 1);
    free(inc);
    free(s);
}

/* A service of two checks: A [0, 100 s) and [300, 400); B [50, 150) and an open
 * one from 500 lasting 100 so far. Merged: [0, 150), [300, 400), [500, open).
 * Downtime 150 + 100 + 100 = 350 s; MTTR (150 + 100) / 2 = 125 s; over an
 * observed 1000 s, MTBF (1000 - 350) / 3. */
static void test_merge_service(void **state)
{
    (void)state;
    const int64_t S = 1000000;
    struct pk_incident a[] = {{0, 100 * S, 100 * S, 1, 2}, {300 * S, 400 * S, 100 * S, 1, 2}};
    struct pk_incident b[] = {{50 * S, 150 * S, 100 * S, 2, 2}, {500 * S, -1, 100 * S, 2, 2}};
    const struct pk_incident *lists[] = {a, b};
    size_t counts[] = {2, 2};
    struct pk_incident *m;
    size_t nm;
    assert_int_equal(pk_incidents_merge(lists, counts, 2, &m, &nm), 0);
    assert_int_equal(nm, 3);
    assert_int_equal(m[0].start_us, 0);
    assert_int_equal(m[0].end_us, 150 * S);
    assert_int_equal(m[0].duration_us, 150 * S);
    assert_int_equal(m[0].regions, 3);
    assert_int_equal(m[1].start_us, 300 * S);
    assert_int_equal(m[2].end_us, -1);
    struct pk_incident_stats st;
    pk_incident_stats(m, nm, 1000 * S, &st);
    assert_int_equal(st.downtime_us, 350 * S);
    assert_true(fabs(st.mttr_s - 125.0) < 1e-9);
    assert_true(fabs(st.mtbf_s - 650.0 / 3.0) < 1e-9);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_close_mttr_mtbf),
        cmocka_unit_test(test_open_at_end_and_none),
        cmocka_unit_test(test_from_rounds),
        cmocka_unit_test(test_merge_service),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
