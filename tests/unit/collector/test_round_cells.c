/* test_round_cells.c: collector/store/round_cells.c's ordering of a group's
 * cells without a database. The run-by-run sort the writers' input takes must
 * give exactly what a whole sort gives, for the writers' shape, for input that
 * breaks it (a late result, probes out of order) and for random input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "store/round_cells.h"
#include "../support/test_rng.h"

#define MIN INT64_C(60000000)
#define T0 INT64_C(1714564800000000) /* 2024-05-01 12:00:00 UTC */

static uint64_t rng_state = 7;
static uint64_t rnd(void) { return test_rng_next(&rng_state); }

static int64_t minute_of(int64_t at)
{
    return at / MIN - (at % MIN < 0);
}

/* The order st_cells_order promises, as a qsort comparator. */
static int ref_cmp(const void *x, const void *y)
{
    const struct round_cell_in *a = x, *b = y;
    int64_t ka[] = {a->region, minute_of(a->at_us), a->check_id, a->at_us};
    int64_t kb[] = {b->region, minute_of(b->at_us), b->check_id, b->at_us};
    for (int i = 0; i < 4; i++)
        if (ka[i] != kb[i])
            return ka[i] < kb[i] ? -1 : 1;
    /* equal keys: order by the counts too, so both arrays compare bytewise */
    if (a->good != b->good)
        return a->good < b->good ? -1 : 1;
    return (a->bad > b->bad) - (a->bad < b->bad);
}

/* Probe after probe, each probe's cells in the order it ran its checks
 * (interleaved, time ascending, a few at the same instant). */
static void writer_shape(struct round_cell_in *v, size_t n, int probes)
{
    size_t per = n / (size_t)probes;
    for (size_t i = 0; i < n; i++) {
        int region = (int)(i / per);
        int64_t k = (int64_t)(i % per);
        v[i] = (struct round_cell_in){1 + (k * 5) % 11, T0 + (k / 2) * 1000000, region, (uint32_t)(rnd() % 2),
                                      (uint32_t)(rnd() % 2)};
    }
}

/* Sorts a copy both ways and compares: same multiset, same order on the key
 * (ties may differ in their counts only, so ties are compared sorted). */
static void check_against_whole(struct round_cell_in *v, size_t n, const char *what)
{
    struct round_cell_in *ref = malloc((n ? n : 1) * sizeof *ref);
    assert_non_null(ref);
    memcpy(ref, v, n * sizeof *v);
    qsort(ref, n, sizeof *ref, ref_cmp);
    st_cells_order(v, n);
    for (size_t i = 1; i < n; i++) {
        struct round_cell_in a = v[i - 1], b = v[i];
        a.good = a.bad = b.good = b.bad = 0;
        if (ref_cmp(&a, &b) > 0)
            fail_msg("%s: out of order at %zu of %zu", what, i, n);
    }
    qsort(v, n, sizeof *v, ref_cmp); /* ties into one order: the multiset must match */
    for (size_t i = 0; i < n; i++)
        if (ref_cmp(&v[i], &ref[i]) != 0)
            fail_msg("%s: cell %zu differs after sorting", what, i);
    free(ref);
}

static void writers_shape_sorted_by_runs(void **state)
{
    (void)state;
    enum { N = 4 * 600 };
    struct round_cell_in *v = calloc(N, sizeof *v);
    assert_non_null(v);
    writer_shape(v, N, 4);
    check_against_whole(v, N, "writers' shape");
    writer_shape(v, N, 4);
    v[N / 2].at_us = T0 - 3 * MIN; /* a late result inside a probe's cells */
    check_against_whole(v, N, "a late result");
    writer_shape(v, N, 4);
    for (size_t i = 0; i < N; i++)
        v[i].region = 3 - v[i].region; /* probes in descending order */
    check_against_whole(v, N, "probes descending");
    writer_shape(v, N, 4);
    for (size_t i = 0; i < N; i++)
        v[i].region %= 2; /* probes 0 and 2 in one region, 1 and 3 in the other: interleaved */
    check_against_whole(v, N, "regions interleaved");
    writer_shape(v, N, 4);
    for (size_t i = 0; i < N; i += 3)
        v[i].at_us -= (int64_t)(rnd() % 20) * 1440 * MIN; /* a spool of 20 days: too many minutes to count */
    check_against_whole(v, N, "twenty days");
    writer_shape(v, N, 4);
    v[7].at_us = v[8].at_us - 1; /* out of order inside one minute: the run sort's job */
    v[9].at_us = v[8].at_us + MIN / 2;
    check_against_whole(v, N, "disorder inside a minute");
    free(v);
}

static void any_input(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 2, 16, 17, 100, 5000};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        struct round_cell_in *v = calloc(n ? n : 1, sizeof *v);
        assert_non_null(v);
        for (size_t i = 0; i < n; i++)
            v[i] = (struct round_cell_in){(int64_t)(rnd() % 9), T0 + (int64_t)(rnd() % (5 * 60)) * 1000000 - 2 * MIN,
                                          (int)(rnd() % 3), 1, 0};
        check_against_whole(v, n, "random");
        free(v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(writers_shape_sorted_by_runs),
        cmocka_unit_test(any_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
