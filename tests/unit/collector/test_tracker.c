/* test_tracker.c: the tracker's fold (collector/tracker.c) with exact answers.
 * A small in-memory "store" here keeps each scope's whole timeline and its
 * incidents between folds and merges what tracker_apply returns the way
 * collector/store/tracker.c does (incidents from inc_from on are replaced), so
 * the tests check what a collector would have stored after each batch.
 * Regions: 0 "a", 1 "b", 2 "c"; quorum 2; N = 3, M = 3 unless said. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "tracker.h"

#define S_US INT64_C(1000000)
#define MAXR 3

#define MAXK 1024

/* A history: per round and region, 'u' up, 'd' down, '.' no result. */
struct history {
    const char *region[MAXR];
};

struct stored {
    const struct history *h;
    unsigned char arrived[MAXR][MAXK]; /* the results the "database" holds */
    struct tracker_rule rule;
    int n_regions;
    uint64_t expected;
    struct pk_timeline tl[MAXR + 1];
    struct pk_round_incident inc[MAXR + 1][64];
    size_t n_inc[MAXR + 1];
    int64_t pending_from, pending_to;
};

static void stored_init(struct stored *st, const struct history *h, int64_t interval_s, int open_after,
                        int close_after)
{
    memset(st, 0, sizeof *st);
    st->h = h;
    st->rule = (struct tracker_rule){interval_s * S_US, 0, open_after, close_after, 2, 5 * S_US};
    st->n_regions = MAXR;
    st->expected = 7;
    st->pending_from = st->pending_to = -1;
}

static void stored_free(struct stored *st)
{
    for (int i = 0; i <= MAXR; i++)
        pk_timeline_free(&st->tl[i]);
}

/* dst = src, run by run (what the store writes and reads back). */
static void copy_tl(struct pk_timeline *dst, const struct pk_timeline *src)
{
    pk_timeline_free(dst);
    for (size_t i = 0; i < src->n; i++) {
        struct pk_round_run *v = realloc(dst->runs, (dst->n + 1) * sizeof *v);
        assert_non_null(v);
        dst->runs = v;
        dst->runs[dst->n++] = src->runs[i];
        dst->cap = dst->n;
    }
}

/* Every arrived result of rounds [lo, hi], as the store reads them. */
static size_t arrived_cells(const struct stored *st, int64_t lo, int64_t hi, struct tracker_cell *out)
{
    size_t n = 0;
    for (int r = 0; r < MAXR; r++)
        for (int64_t k = lo; k <= hi && k < (int64_t)strlen(st->h->region[r]); k++) {
            char c = st->h->region[r][k];
            if (st->arrived[r][k] && (c == 'u' || c == 'd'))
                out[n++] = (struct tracker_cell){k, r, c == 'u', c == 'd'};
        }
    return n;
}

/* One fold of rounds [lo, hi] (and the pending ones) at now. */
static void fold(struct stored *st, int64_t lo, int64_t hi, int64_t now)
{
    static struct tracker_cell cells[MAXR * MAXK];
    struct tracker_fold *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->rule = st->rule;
    f->n_regions = st->n_regions;
    f->expected = st->expected;
    if (st->pending_from >= 0) {
        lo = st->pending_from < lo ? st->pending_from : lo;
        hi = st->pending_to > hi ? st->pending_to : hi;
    }
    f->k_lo = lo;
    f->k_hi = hi;
    size_t n = arrived_cells(st, lo, hi, cells);
    for (int s = 0; s <= MAXR; s++) {
        copy_tl(&f->scopes[s].tl, &st->tl[s]);
        int64_t from0 = lo;
        for (size_t i = 0; i < st->n_inc[s]; i++)
            if ((st->inc[s][i].closed < 0 || st->inc[s][i].closed >= lo) && st->inc[s][i].start < from0)
                from0 = st->inc[s][i].start;
        f->scopes[s].inc_from0 = from0;
    }
    char err[256];
    if (tracker_apply(f, cells, n, now, err, sizeof err) != 0)
        fail_msg("tracker_apply: %s", err);
    for (int s = 0; s <= MAXR; s++) {
        copy_tl(&st->tl[s], &f->scopes[s].tl);
        size_t keep = 0;
        for (size_t i = 0; i < st->n_inc[s]; i++)
            if (st->inc[s][i].start < f->scopes[s].inc_from)
                st->inc[s][keep++] = st->inc[s][i];
        for (size_t i = 0; i < f->scopes[s].n_inc; i++) {
            assert_true(keep < 64);
            st->inc[s][keep++] = f->scopes[s].inc[i];
        }
        st->n_inc[s] = keep;
    }
    st->pending_from = f->pending_from;
    st->pending_to = f->pending_to;
    tracker_fold_free(f);
    free(f);
}

/* Folds the history round by round as it would arrive on time (every region
 * reports within the round); late_region (>= 0) instead reports nothing from
 * late_from to late_to and all of it three rounds after the cut ends. */
static void run(struct stored *st, int late_region, int64_t late_from, int64_t late_to)
{
    int64_t len = (int64_t)strlen(st->h->region[0]);
    assert_true(len <= MAXK);
    for (int64_t k = 0; k < len; k++) {
        int64_t now = (k + 1) * st->rule.interval_us + S_US / 2;
        for (int r = 0; r < MAXR; r++)
            if (!(r == late_region && k >= late_from && k <= late_to))
                st->arrived[r][k] = 1;
        fold(st, k, k, now);
        if (late_region >= 0 && k == late_to + 3) {
            for (int64_t j = late_from; j <= late_to; j++)
                st->arrived[late_region][j] = 1;
            fold(st, late_from, late_to, now + S_US);
        }
    }
    /* and the deadline pass after the last round */
    fold(st, len - 1, len - 1, (len + 10) * st->rule.interval_us);
}

static void expect_incident(const struct pk_round_incident *x, int64_t start, int64_t opened, int64_t end,
                            int64_t closed, int64_t down, uint64_t regions)
{
    assert_int_equal(x->start, start);
    assert_int_equal(x->opened, opened);
    assert_int_equal(x->end, end);
    assert_int_equal(x->closed, closed);
    assert_int_equal(x->down_rounds, down);
    assert_int_equal(x->regions, regions);
}

static void same_state(const struct stored *a, const struct stored *b)
{
    for (int s = 0; s <= MAXR; s++) {
        assert_int_equal(a->tl[s].n, b->tl[s].n);
        for (size_t i = 0; i < a->tl[s].n; i++) {
            assert_int_equal(a->tl[s].runs[i].from, b->tl[s].runs[i].from);
            assert_int_equal(a->tl[s].runs[i].to, b->tl[s].runs[i].to);
            assert_int_equal(a->tl[s].runs[i].state, b->tl[s].runs[i].state);
            assert_int_equal(a->tl[s].runs[i].regions, b->tl[s].runs[i].regions);
        }
        assert_int_equal(a->n_inc[s], b->n_inc[s]);
        for (size_t i = 0; i < a->n_inc[s]; i++)
            assert_memory_equal(&a->inc[s][i], &b->inc[s][i], sizeof a->inc[s][i]);
    }
}

/* Overlapping regional outages: a down 5-14, b down 10-19, c up. Globally
 * (quorum 2) rounds 10-14 are down: one incident, start 10, opened 12 (the
 * third), end 15 (first up), closed 17 (third up). Region a: start 5, opened 7,
 * end 15, closed 17; region b: start 10, end 20, closed 22. */
static const struct history overlap = {{
    "uuuuuddddddddddcuuuuuuuuuuuuuu",
    "uuuuuuuuuuddddddddddcuuuuuuuuu",
    "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuu",
}};

static void test_overlapping_outages_60s(void **state)
{
    (void)state;
    struct history h = overlap;
    /* 'c' in the strings above is a typo-proof marker: read it as up */
    char a[64], b[64];
    strcpy(a, h.region[0]);
    strcpy(b, h.region[1]);
    for (char *p = a; *p; p++)
        *p = *p == 'c' ? 'u' : *p;
    for (char *p = b; *p; p++)
        *p = *p == 'c' ? 'u' : *p;
    h.region[0] = a;
    h.region[1] = b;
    struct stored st;
    stored_init(&st, &h, 60, 3, 3);
    run(&st, -1, 0, 0);
    assert_int_equal(st.n_inc[3], 1);
    expect_incident(&st.inc[3][0], 10, 12, 15, 17, 5, 3);
    assert_int_equal(st.n_inc[0], 1);
    expect_incident(&st.inc[0][0], 5, 7, 15, 17, 10, 1);
    assert_int_equal(st.n_inc[1], 1);
    expect_incident(&st.inc[1][0], 10, 12, 20, 22, 10, 2);
    assert_int_equal(st.n_inc[2], 0);
    /* global runs: up 0-9, down 10-14 (a and b), up 15-29 */
    assert_int_equal(st.tl[3].n, 3);
    assert_int_equal(st.tl[3].runs[1].from, 10);
    assert_int_equal(st.tl[3].runs[1].to, 14);
    assert_int_equal(st.tl[3].runs[1].regions, 3);
    assert_int_equal(st.pending_from, -1);
    stored_free(&st);
}

/* Blips (fewer than N down rounds) make no incident; a gap of no data inside
 * an outage does not split it; up rounds fewer than M keep one incident. 30 s. */
static void test_blips_and_gaps_30s(void **state)
{
    (void)state;
    static const struct history h = {{
        "uudduuuddduu..ddduduuuuu",
        "uudduuuddduu..ddduduuuuu",
        "uuuuuuuuuuuuuuuuuuuuuuuu",
    }};
    struct stored st;
    stored_init(&st, &h, 30, 3, 3);
    run(&st, -1, 0, 0);
    /* global (a, b down = quorum): 2-3 blip; 7-9 incident A (opened 9), up 10-11,
     * no data... region c is up in 12-13 so globally those are up: three up rounds
     * 10-12 close it (end 10, closed 12). Then 14-16 down: incident B opened 16,
     * 17 up, 18 down (fewer than M up: same incident), up 19-21 closes it. */
    assert_int_equal(st.n_inc[3], 2);
    expect_incident(&st.inc[3][0], 7, 9, 10, 12, 3, 3);
    expect_incident(&st.inc[3][1], 14, 16, 19, 21, 4, 3);
    /* region a: 12-13 are no data, so up rounds 10, 11 then 14.. down: a's first
     * incident 7.. stays open across the gap: 7-9 down, 10-11 up, 14-16 down,
     * 17 up, 18 down, 19-21 up: one incident 7..19 closed 21. */
    assert_int_equal(st.n_inc[0], 1);
    expect_incident(&st.inc[0][0], 7, 9, 19, 21, 7, 1);
    stored_free(&st);
}

/* A 5 s check: the incident opens at its third down round (15 s after it
 * started), whatever the history's length. */
static void test_short_interval_5s(void **state)
{
    (void)state;
    char a[800], b[800], c[800];
    for (int i = 0; i < 720; i++) {
        int down = i >= 500 && i < 503; /* 15 s outage */
        a[i] = b[i] = down ? 'd' : 'u';
        c[i] = 'u';
    }
    a[720] = b[720] = c[720] = 0;
    struct history h = {{a, b, c}};
    struct stored st;
    stored_init(&st, &h, 5, 3, 3);
    run(&st, -1, 0, 0);
    assert_int_equal(st.n_inc[3], 1);
    expect_incident(&st.inc[3][0], 500, 502, 503, 505, 3, 3);
    struct pk_round_counts rc;
    pk_timeline_count(&st.tl[3], 0, 720, &rc);
    assert_int_equal(rc.down, 3);
    assert_int_equal(rc.up, 717);
    stored_free(&st);
}

/* A region cut off for ten rounds (its results arrive three rounds after the
 * cut ends) stores the same runs and incidents as the on-time run. */
static void test_late_region_equals_on_time(void **state)
{
    (void)state;
    static const struct history h = {{
        "uuuuuddddddddddcuuuuuuuuuuuuuu",
        "uuuuuuuuddddddddddduuuuuuuuuuu",
        "uuuuuuudddduuuuuuuuuuuuuuuuuuu",
    }};
    char a[64];
    strcpy(a, h.region[0]);
    a[15] = 'u';
    struct history hh = {{a, h.region[1], h.region[2]}};
    for (int late = 0; late < MAXR; late++) {
        struct stored on, cut;
        stored_init(&on, &hh, 60, 3, 3);
        stored_init(&cut, &hh, 60, 3, 3);
        run(&on, -1, 0, 0);
        run(&cut, late, 5, 14);
        same_state(&on, &cut);
        assert_true(on.n_inc[3] >= 1);
        stored_free(&on);
        stored_free(&cut);
    }
}

/* Until every expected region reported (or the deadline), an up round is not
 * decided globally: it is pending and left out; a quorum of down regions
 * decides at once. */
static void test_pending_until_deadline(void **state)
{
    (void)state;
    static const struct history h = {{"ud", "dd", "dd"}};
    struct stored st;
    stored_init(&st, &h, 60, 1, 1);
    st.arrived[0][0] = 1; /* round 0: only region a (up) so far */
    fold(&st, 0, 0, 61 * S_US);
    assert_int_equal(st.pending_from, 0);
    assert_int_equal(st.tl[3].n, 0); /* not decided globally */
    assert_int_equal(st.tl[0].n, 1); /* region a is known */
    st.arrived[0][1] = st.arrived[1][1] = 1; /* round 1: a and b down = the quorum */
    fold(&st, 1, 1, 62 * S_US);
    assert_int_equal(pk_timeline_get(&st.tl[3], 1, NULL), PK_ROUND_DOWN);
    assert_int_equal(st.n_inc[3], 1); /* N = 1: opened at round 1 at once */
    assert_int_equal(st.inc[3][0].opened, 1);
    assert_int_equal(st.pending_from, 0); /* round 0 still waits */
    /* past the deadline of round 0 (end 60 s + 5 s): decided up with region a alone */
    fold(&st, 1, 1, 66 * S_US);
    assert_int_equal(pk_timeline_get(&st.tl[3], 0, NULL), PK_ROUND_UP);
    assert_int_equal(st.pending_from, -1);
    /* b and c of round 0 arrive later (down): decided again, now down (a up, b c down) */
    st.arrived[1][0] = st.arrived[2][0] = 1;
    fold(&st, 0, 0, 300 * S_US);
    assert_int_equal(pk_timeline_get(&st.tl[3], 0, NULL), PK_ROUND_DOWN);
    assert_int_equal(st.n_inc[3], 1); /* the incident now starts at round 0 */
    assert_int_equal(st.inc[3][0].start, 0);
    assert_int_equal(st.inc[3][0].opened, 0);
    assert_int_equal(st.inc[3][0].down_rounds, 2);
    stored_free(&st);
}

static void test_bad_rule(void **state)
{
    (void)state;
    struct tracker_fold f;
    memset(&f, 0, sizeof f);
    f.rule = (struct tracker_rule){60 * S_US, 0, 0, 3, 2, 0};
    f.n_regions = 3;
    char err[256];
    assert_int_equal(tracker_apply(&f, NULL, 0, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "bad rule"));
    f.rule.open_after = 3;
    f.k_lo = 0;
    f.k_hi = TRACKER_MAX_SPAN;
    assert_int_equal(tracker_apply(&f, NULL, 0, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "at once"));
    tracker_fold_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overlapping_outages_60s), cmocka_unit_test(test_blips_and_gaps_30s),
        cmocka_unit_test(test_short_interval_5s),        cmocka_unit_test(test_late_region_equals_on_time),
        cmocka_unit_test(test_pending_until_deadline),   cmocka_unit_test(test_bad_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
