/* test_rounds.c: rounds at the check's own interval (5 s, 30 s, 60 s), a round's
 * state by region and by quorum, timelines of round states as runs, and the
 * open-after-N / close-after-M rule over them, with answers worked out in the
 * comments. A small simulation feeds results the way the collector receives
 * them (each region's result one second after the round's grid point, global
 * rounds decided when every region reported or a deadline passed) and checks
 * that a region cut off and replayed late gives exactly the timelines and
 * incidents of the run where it was never cut off. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rounds.h"

#define SEC 1000000LL
#define T0 (1764547200LL * SEC) /* 2025-12-01T00:00:00Z */

/* Floor division for every sign, against the definition: q * b <= a < (q + 1) * b
 * for b > 0 (reversed for b < 0). */
static void floor_div_every_sign(void **state)
{
    (void)state;
    const int64_t as[] = {-121, -120, -119, -61, -60, -59, -1, 0, 1, 59, 60, 61, 119, 120, 121,
                          INT64_C(-1764000000000001), INT64_C(1764000000000001)};
    const int64_t bs[] = {1, 7, 60, -7, -60, INT64_C(60000000)};
    for (size_t i = 0; i < sizeof as / sizeof as[0]; i++)
        for (size_t j = 0; j < sizeof bs / sizeof bs[0]; j++) {
            int64_t a = as[i], b = bs[j], q = pk_floor_div(a, b);
            if (b > 0) {
                assert_true(q * b <= a);
                assert_true(a < (q + 1) * b);
            } else {
                assert_true(q * b >= a);
                assert_true(a > (q + 1) * b);
            }
        }
    assert_int_equal(pk_floor_div(-1, 60), -1);
    assert_int_equal(pk_floor_div(-60, 60), -1);
    assert_int_equal(pk_floor_div(59, 60), 0);
    assert_int_equal(pk_floor_div(1, -60), -1);
}

static void spread_and_index(void **state)
{
    (void)state;
    int64_t s30 = pk_round_spread_us("api", 30000);
    assert_true(s30 >= 0 && s30 < 30 * SEC);
    assert_int_equal(s30 % 1000, 0); /* whole milliseconds, as the probe schedules */
    assert_int_equal(pk_round_spread_us("api", 30000), s30);
    assert_int_equal(pk_round_spread_us("api", 0), 0);
    int64_t k = T0 / (30 * SEC) + 7;
    int64_t grid = pk_round_start(k, 30 * SEC, s30);
    /* from the scheduled time: the grid point itself */
    assert_int_equal(pk_round_index(grid, grid + 29 * SEC, 30 * SEC, s30), k);
    /* an older probe (no scheduled time): its start, late by up to an interval */
    assert_int_equal(pk_round_index(0, grid, 30 * SEC, s30), k);
    assert_int_equal(pk_round_index(0, grid + 30 * SEC - 1, 30 * SEC, s30), k);
    assert_int_equal(pk_round_index(0, grid + 30 * SEC, 30 * SEC, s30), k + 1);
    /* before the epoch the index floors */
    assert_int_equal(pk_round_index(-1, 0, 5 * SEC, 0), 0); /* -1 is "not known": started_at 0 */
    assert_int_equal(pk_round_index(0, -1, 5 * SEC, 0), -1);
}

static void cell_and_decide(void **state)
{
    (void)state;
    struct pk_round_cell c = {0, 0};
    assert_int_equal(pk_round_cell_state(&c), PK_ROUND_NO_DATA);
    c = (struct pk_round_cell){1, 1}; /* a tie is up */
    assert_int_equal(pk_round_cell_state(&c), PK_ROUND_UP);
    c = (struct pk_round_cell){1, 2};
    assert_int_equal(pk_round_cell_state(&c), PK_ROUND_DOWN);
    c = (struct pk_round_cell){0, 1};
    assert_int_equal(pk_round_cell_state(&c), PK_ROUND_DOWN);

    int st = -1;
    int64_t end = T0 + 60 * SEC, dl = 10 * SEC;
    /* 3 regions expected, quorum 2: region 0 down alone is not decided before the deadline */
    assert_int_equal(pk_round_decide(1, 1, 7, 2, end, end, dl, &st), 0);
    assert_int_equal(st, PK_ROUND_UP);
    /* ... and is up at the deadline */
    assert_int_equal(pk_round_decide(1, 1, 7, 2, end + dl, end, dl, &st), 1);
    assert_int_equal(st, PK_ROUND_UP);
    /* a second region down reaches the quorum: decided at once */
    assert_int_equal(pk_round_decide(3, 3, 7, 2, end - 50 * SEC, end, dl, &st), 1);
    assert_int_equal(st, PK_ROUND_DOWN);
    /* every expected region reported, one down: up, decided */
    assert_int_equal(pk_round_decide(7, 4, 7, 2, end - 50 * SEC, end, dl, &st), 1);
    assert_int_equal(st, PK_ROUND_UP);
    /* nobody reported by the deadline: no data */
    assert_int_equal(pk_round_decide(0, 0, 7, 2, end + dl, end, dl, &st), 1);
    assert_int_equal(st, PK_ROUND_NO_DATA);
    /* a down bit without data is not down */
    assert_int_equal(pk_round_decide(1, 6, 7, 1, end + dl, end, dl, &st), 1);
    assert_int_equal(st, PK_ROUND_UP);
}

static void timeline_runs(void **state)
{
    (void)state;
    struct pk_timeline t = {0};
    for (int64_t k = 0; k < 10; k++)
        assert_int_equal(pk_timeline_set(&t, k, PK_ROUND_UP, 0), 1);
    assert_int_equal(t.n, 1);
    assert_int_equal(pk_timeline_set(&t, 4, PK_ROUND_UP, 0), 0); /* no change */
    assert_int_equal(pk_timeline_set(&t, 5, PK_ROUND_DOWN, 2), 1); /* split in three */
    assert_int_equal(t.n, 3);
    uint64_t regions = 0;
    assert_int_equal(pk_timeline_get(&t, 5, &regions), PK_ROUND_DOWN);
    assert_int_equal(regions, 2);
    assert_int_equal(pk_timeline_set(&t, 6, PK_ROUND_DOWN, 2), 1); /* joins 5 */
    assert_int_equal(t.n, 3);
    assert_int_equal(pk_timeline_set(&t, 7, PK_ROUND_DOWN, 4), 1); /* other regions: its own run */
    assert_int_equal(t.n, 4);
    assert_int_equal(pk_timeline_set(&t, 7, PK_ROUND_UP, 0), 1);
    assert_int_equal(pk_timeline_set(&t, 5, PK_ROUND_UP, 0), 1);
    assert_int_equal(pk_timeline_set(&t, 6, PK_ROUND_UP, 0), 1); /* all merged back */
    assert_int_equal(t.n, 1);
    assert_int_equal(pk_timeline_set(&t, 5, PK_ROUND_NO_DATA, 0), 1);
    assert_int_equal(t.n, 2);
    assert_int_equal(pk_timeline_get(&t, 5, NULL), PK_ROUND_NO_DATA);
    assert_int_equal(pk_timeline_set(&t, 20, PK_ROUND_NO_DATA, 0), 0);
    /* [2, 12): up 2,3,4,6,7,8,9; no data 5,10,11 */
    struct pk_round_counts c;
    pk_timeline_count(&t, 2, 12, &c);
    assert_int_equal(c.up, 7);
    assert_int_equal(c.down, 0);
    assert_int_equal(c.no_data, 3);
    pk_timeline_trim(&t, 3);
    assert_int_equal(t.runs[0].from, 3);
    pk_timeline_count(&t, 0, 10, &c);
    assert_int_equal(c.up, 6);
    pk_timeline_free(&t);
}

/* 'U' up, 'D' down, '.' no data, one round each from round `first`. */
static void timeline_of(struct pk_timeline *t, int64_t first, const char *pattern)
{
    for (size_t i = 0; pattern[i]; i++) {
        int st = pattern[i] == 'U' ? PK_ROUND_UP : pattern[i] == 'D' ? PK_ROUND_DOWN : PK_ROUND_NO_DATA;
        assert_true(pk_timeline_set(t, first + (int64_t)i, st, st == PK_ROUND_DOWN ? 1 : 0) >= 0);
    }
}

/* N = 3, M = 3 (the defaults) on
 *   index: 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23
 *   state: U D D U D D . D U D U  U  U  U  D  D  D  U  U  .  U  D  D  D
 * 1-2: a blip of two, nothing. 4-5, gap 6, 7: three down rounds, the gap breaks
 * no run: opens at 7 (start 4); 8 up, 9 down (still in it), 10-12 up: ends 10,
 * closed at 12; its down rounds are 4, 5, 7 and 9. 14-16 open another (start
 * 14, opened 16); 17-18 up, 19 no data, 20 up: the third up closes it at 20, end 17.
 * 21-23 open a third, still open. */
static void incidents_rule(void **state)
{
    (void)state;
    struct pk_timeline t = {0};
    int64_t base = 1000;
    timeline_of(&t, base, "UDDUDD.DUDUUUUDDDUU.UDDD");
    struct pk_round_incident *inc = NULL;
    size_t n = 0;
    char err[128];
    assert_int_equal(pk_timeline_incidents(&t, base, base + 24, 3, 3, &inc, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(inc[0].start, base + 4);
    assert_int_equal(inc[0].opened, base + 7);
    assert_int_equal(inc[0].end, base + 10);
    assert_int_equal(inc[0].closed, base + 12);
    assert_int_equal(inc[0].down_rounds, 4);
    assert_int_equal(inc[1].start, base + 14);
    assert_int_equal(inc[1].opened, base + 16);
    assert_int_equal(inc[1].end, base + 17);
    assert_int_equal(inc[1].closed, base + 20);
    assert_int_equal(inc[2].start, base + 21);
    assert_int_equal(inc[2].opened, base + 23);
    assert_int_equal(inc[2].end, -1);
    assert_int_equal(inc[2].closed, -1);
    free(inc);
    /* A window only clips: [base + 14, base + 19) holds the second incident, open
     * at the window's end (its closing rounds are outside). */
    assert_int_equal(pk_timeline_incidents(&t, base + 14, base + 19, 3, 3, &inc, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(inc[0].start, base + 14);
    assert_int_equal(inc[0].end, -1);
    free(inc);
    /* N = 1, M = 1: every down run is an incident: 1-2, 4-5(+7 across the gap), 9, 14-16, 21-23 */
    assert_int_equal(pk_timeline_incidents(&t, base, base + 24, 1, 1, &inc, &n, err, sizeof err), 0);
    assert_int_equal(n, 5);
    assert_int_equal(inc[1].start, base + 4);
    assert_int_equal(inc[1].end, base + 8);
    assert_int_equal(inc[1].down_rounds, 3);
    free(inc);
    assert_int_equal(pk_timeline_incidents(&t, base, base + 24, 0, 3, &inc, &n, err, sizeof err), -1);
    pk_timeline_free(&t);
}

/* ------------------------------------------------------------- simulation */

#define NREG 3
#define NROUNDS 64

struct sim {
    int64_t interval, spread, deadline;
    int64_t first; /* round index of simulated round 0 */
    int quorum;
    struct pk_round_cell cells[NREG][NROUNDS];
    struct pk_timeline region[NREG], global;
    int64_t global_opened_at; /* when the first global incident became known; -1 not yet */
};

static void sim_init(struct sim *s, int64_t interval)
{
    memset(s, 0, sizeof *s);
    s->interval = interval;
    s->spread = pk_round_spread_us("checkout", interval / 1000);
    s->deadline = 2 * SEC;
    s->first = T0 / interval;
    s->quorum = 2;
    s->global_opened_at = -1;
}

static void sim_free(struct sim *s)
{
    for (int r = 0; r < NREG; r++)
        pk_timeline_free(&s->region[r]);
    pk_timeline_free(&s->global);
}

static int64_t sim_start(const struct sim *s, int i) { return pk_round_start(s->first + i, s->interval, s->spread); }

/* Decides round i at `now` (again when it was decided) and notes when a global
 * incident first became known. */
static void sim_decide(struct sim *s, int i, int64_t now)
{
    uint64_t data = 0, down = 0;
    for (int r = 0; r < NREG; r++) {
        int st = pk_round_cell_state(&s->cells[r][i]);
        if (st != PK_ROUND_NO_DATA)
            data |= 1ull << r;
        if (st == PK_ROUND_DOWN)
            down |= 1ull << r;
    }
    int st;
    if (pk_round_decide(data, down, (1ull << NREG) - 1, s->quorum, now, sim_start(s, i) + s->interval, s->deadline,
                        &st))
        assert_true(pk_timeline_set(&s->global, s->first + i, st, down) >= 0);
    if (s->global_opened_at < 0) {
        struct pk_round_incident *inc = NULL;
        size_t n = 0;
        char err[64];
        assert_int_equal(
            pk_timeline_incidents(&s->global, s->first, s->first + NROUNDS, 3, 3, &inc, &n, err, sizeof err), 0);
        if (n)
            s->global_opened_at = now;
        free(inc);
    }
}

/* One result of region r for round i, arriving at now. */
static void sim_result(struct sim *s, int r, int i, int bad, int64_t now)
{
    if (bad)
        s->cells[r][i].bad++;
    else
        s->cells[r][i].good++;
    assert_true(pk_timeline_set(&s->region[r], s->first + i, pk_round_cell_state(&s->cells[r][i]), 1ull << r) >= 0);
    sim_decide(s, i, now);
}

/* The deadline pass: every round whose deadline is past at `now`. */
static void sim_tick(struct sim *s, int64_t now)
{
    for (int i = 0; i < NROUNDS; i++)
        if (now >= sim_start(s, i) + s->interval + s->deadline)
            sim_decide(s, i, now);
}

/* Region 0 down in rounds 10-19, region 1 down in 14-25, region 2 always up; a
 * blip of two rounds in region 2 at 40-41 and a gap (no region reports) at 50. */
static int scenario_bad(int r, int i)
{
    return (r == 0 && i >= 10 && i <= 19) || (r == 1 && i >= 14 && i <= 25) || (r == 2 && (i == 40 || i == 41));
}

/* cut: region 1's results of rounds 12..30 are held back and delivered after round 45. */
static void sim_run(struct sim *s, int cut)
{
    for (int i = 0; i < NROUNDS; i++) {
        if (i == 50)
            continue;
        for (int r = 0; r < NREG; r++)
            if (!(cut && r == 1 && i >= 12 && i <= 30))
                sim_result(s, r, i, scenario_bad(r, i), sim_start(s, i) + SEC);
        sim_tick(s, sim_start(s, i) + SEC);
        if (cut && i == 45)
            for (int j = 12; j <= 30; j++)
                sim_result(s, 1, j, scenario_bad(1, j), sim_start(s, i) + 2 * SEC);
    }
    sim_tick(s, sim_start(s, NROUNDS) + s->interval + s->deadline);
}

static void assert_same_timeline(const struct pk_timeline *a, const struct pk_timeline *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->runs[i].from, b->runs[i].from);
        assert_int_equal(a->runs[i].to, b->runs[i].to);
        assert_int_equal(a->runs[i].state, b->runs[i].state);
        assert_int_equal(a->runs[i].regions, b->runs[i].regions);
    }
}

/* Expected, with quorum 2, N = M = 3:
 *   region 0: incident 10..19, opened at 12, ends 20, closed 22;
 *   region 1: incident 14..25, opened 16, ends 26, closed 28;
 *   region 2: the blip 40-41 is no incident;
 *   global: down where regions 0 and 1 are both down, 14..19: start 14, opened
 *   16, ends 20, closed 22, regions {0, 1}. Round 50 is no data everywhere. */
static void check_answers(struct sim *s)
{
    struct pk_round_incident *inc = NULL;
    size_t n = 0;
    char err[64];
    int64_t f = s->first;
    const int64_t want[NREG][4] = {{10, 12, 20, 22}, {14, 16, 26, 28}, {0, 0, 0, 0}};
    for (int r = 0; r < NREG; r++) {
        assert_int_equal(pk_timeline_incidents(&s->region[r], f, f + NROUNDS, 3, 3, &inc, &n, err, sizeof err), 0);
        assert_int_equal(n, r < 2 ? 1 : 0);
        if (n) {
            assert_int_equal(inc[0].start - f, want[r][0]);
            assert_int_equal(inc[0].opened - f, want[r][1]);
            assert_int_equal(inc[0].end - f, want[r][2]);
            assert_int_equal(inc[0].closed - f, want[r][3]);
        }
        free(inc);
    }
    assert_int_equal(pk_timeline_incidents(&s->global, f, f + NROUNDS, 3, 3, &inc, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(inc[0].start - f, 14);
    assert_int_equal(inc[0].opened - f, 16);
    assert_int_equal(inc[0].end - f, 20);
    assert_int_equal(inc[0].closed - f, 22);
    assert_int_equal(inc[0].down_rounds, 6);
    assert_int_equal(inc[0].regions, 3);
    free(inc);
    /* global uptime over the whole run: 63 rounds with data, 6 down */
    struct pk_round_counts c;
    pk_timeline_count(&s->global, f, f + NROUNDS, &c);
    assert_int_equal(c.down, 6);
    assert_int_equal(c.up, 57);
    assert_int_equal(c.no_data, 1);
    /* in times: the incident starts at round 14's grid point */
    assert_int_equal(pk_round_start(f + 14, s->interval, s->spread), sim_start(s, 14));
}

static void late_region_same_answer(int64_t interval)
{
    struct sim *on_time = calloc(1, sizeof *on_time), *cut = calloc(1, sizeof *cut);
    assert_non_null(on_time);
    assert_non_null(cut);
    sim_init(on_time, interval);
    sim_init(cut, interval);
    sim_run(on_time, 0);
    sim_run(cut, 1);
    check_answers(on_time);
    check_answers(cut);
    for (int r = 0; r < NREG; r++)
        assert_same_timeline(&on_time->region[r], &cut->region[r]);
    assert_same_timeline(&on_time->global, &cut->global);
    /* On time, the global incident is known within N x interval + 2 s of the start
     * of its first down round (its third down round is decided when all three
     * regions reported, 1 s after that round's grid point). */
    assert_true(on_time->global_opened_at >= 0);
    assert_true(on_time->global_opened_at - sim_start(on_time, 14) <= 3 * interval + 2 * SEC);
    assert_int_equal(on_time->global_opened_at, sim_start(on_time, 16) + SEC);
    /* Cut off, it is known when region 1's late results arrive (after round 45). */
    assert_int_equal(cut->global_opened_at, sim_start(cut, 45) + 2 * SEC);
    sim_free(on_time);
    sim_free(cut);
    free(on_time);
    free(cut);
}

static void late_region_5s(void **state)
{
    (void)state;
    late_region_same_answer(5 * SEC);
}

static void late_region_30s(void **state)
{
    (void)state;
    late_region_same_answer(30 * SEC);
}

static void late_region_60s(void **state)
{
    (void)state;
    late_region_same_answer(60 * SEC);
}

/* A 5 s check failing for 15 s (three rounds) is an incident; for 10 s (a blip of
 * two) it is not; its start is the grid point of its first failed round, to the
 * microsecond, whatever the window (1 h, 1 day, 30 days: a window only clips). */
static void short_outage_5s(void **state)
{
    (void)state;
    int64_t I = 5 * SEC, S = pk_round_spread_us("ping", 5000);
    int64_t k0 = T0 / I;
    struct pk_timeline t = {0};
    for (int64_t i = 0; i < 720; i++) /* one hour of 5 s rounds */
        assert_true(pk_timeline_set(&t, k0 + i, (i >= 100 && i < 103) || (i >= 200 && i < 202) ? PK_ROUND_DOWN
                                                                                                : PK_ROUND_UP,
                                    1) >= 0);
    const int64_t windows[] = {3600 * SEC, 86400 * SEC, 30 * 86400 * SEC};
    for (size_t w = 0; w < 3; w++) {
        int64_t from = pk_round_index(0, T0 + 3600 * SEC - windows[w], I, S);
        struct pk_round_incident *inc = NULL;
        size_t n = 0;
        char err[64];
        assert_int_equal(pk_timeline_incidents(&t, from, k0 + 720, 3, 3, &inc, &n, err, sizeof err), 0);
        assert_int_equal(n, 1);
        assert_int_equal(pk_round_start(inc[0].start, I, S), pk_round_start(k0 + 100, I, S));
        assert_int_equal(pk_round_start(inc[0].end, I, S) - pk_round_start(inc[0].start, I, S), 15 * SEC);
        free(inc);
        struct pk_round_counts c;
        pk_timeline_count(&t, from, k0 + 720, &c);
        assert_int_equal(c.down, 5);
        assert_int_equal(c.up, 715);
    }
    pk_timeline_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(floor_div_every_sign), cmocka_unit_test(spread_and_index), cmocka_unit_test(cell_and_decide),
        cmocka_unit_test(timeline_runs),    cmocka_unit_test(incidents_rule),
        cmocka_unit_test(late_region_5s),   cmocka_unit_test(late_region_30s),
        cmocka_unit_test(late_region_60s),  cmocka_unit_test(short_outage_5s),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
