/* test_rollup.c: collector/rollup.c without a database. Per-minute rows built
 * from known results, merging of many rows against a histogram built directly
 * and against exact quantiles of the raw values, and the level plan of windows
 * (every minute in exactly one range, each range aligned to its level). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "result.h"
#include "rollup.h"
#include "../support/test_rng.h"

#define MIN ROLLUP_MINUTE_US
#define T0 INT64_C(1714564800000000) /* 2024-05-01 12:00:00 UTC */

static uint64_t rng_state = 42;
static uint64_t rnd(void) { return test_rng_next(&rng_state); }

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void floor_negative(void **state)
{
    (void)state;
    assert_int_equal(rollup_floor(0, MIN), 0);
    assert_int_equal(rollup_floor(MIN - 1, MIN), 0);
    assert_int_equal(rollup_floor(-1, MIN), -MIN);
    assert_int_equal(rollup_floor(-MIN, MIN), -MIN);
}

static void build_minutes_known(void **state)
{
    (void)state;
    /* check 1 probe 7: minute 0 has ok 10us, failed (no latency), degraded 30us;
     * minute 1 has unknown 40us; check 2 probe 7 minute 0 has ok 5us. Shuffled. */
    struct rollup_input in[] = {
        {1, 7, T0 + MIN + 5, 40, PK_OUTCOME_UNKNOWN}, {2, 7, T0 + 1, 5, PK_OUTCOME_OK},
        {1, 7, T0 + 59999999, 30, PK_OUTCOME_DEGRADED}, {1, 7, T0, 10, PK_OUTCOME_OK},
        {1, 7, T0 + 100, -1, PK_OUTCOME_FAILED},       {1, 7, T0 + MIN, -1, PK_OUTCOME_UNSPECIFIED},
    };
    struct rollup_rows rows = {0};
    assert_int_equal(rollup_build_minutes(in, 6, &rows), 0);
    assert_int_equal(rows.n, 3);
    struct pk_hist h;
    const struct rollup_row *r = &rows.rows[0];
    assert_int_equal(r->check_id, 1);
    assert_int_equal(r->start_us, T0);
    assert_int_equal(r->counts.ok, 1);
    assert_int_equal(r->counts.failed, 1);
    assert_int_equal(r->counts.degraded, 1);
    assert_int_equal(r->counts.unknown, 0);
    assert_int_equal(pk_hist_decode(rows.bytes + r->hist_off, r->hist_len, &h), 0);
    assert_int_equal(h.count, 2);
    assert_int_equal(h.min_us, 10);
    assert_int_equal(h.max_us, 30);
    /* ordered by (probe, minute, check): check 2's minute 0 comes before check 1's minute 1 */
    r = &rows.rows[1];
    assert_int_equal(r->check_id, 2);
    assert_int_equal(r->start_us, T0);
    assert_int_equal(r->counts.ok, 1);
    assert_int_equal(pk_hist_decode(rows.bytes + r->hist_off, r->hist_len, &h), 0);
    assert_int_equal(h.count, 1);
    assert_int_equal(h.max_us, 5);
    r = &rows.rows[2];
    assert_int_equal(r->check_id, 1);
    assert_int_equal(r->start_us, T0 + MIN);
    assert_int_equal(r->counts.unknown, 2); /* unspecified counts as unknown */
    /* an unknown result's latency is not a success's: counted, not in the histogram */
    assert_int_equal(pk_hist_decode(rows.bytes + r->hist_off, r->hist_len, &h), 0);
    assert_int_equal(h.count, 0);
    rollup_rows_free(&rows);
}

/* Packed partial rows: 2,000 random results over 3 probes, 40 checks and a few
 * minutes; every packed row is one (probe, minute) and unpacking gives back
 * every per-minute row exactly (key, counts, histogram bytes). Corruptions are
 * refused, never read past the end. */
static void pack_roundtrip_and_refusals(void **state)
{
    (void)state;
    enum { N = 2000 };
    struct rollup_input *in = calloc(N, sizeof *in);
    assert_non_null(in);
    for (int i = 0; i < N; i++)
        in[i] = (struct rollup_input){1 + (int64_t)(rnd() % 40) * 7, 100 + (int64_t)(rnd() % 3),
                                      T0 + (int64_t)(rnd() % (5 * (uint64_t)MIN)),
                                      rnd() % 10 ? (int64_t)(rnd() % 900000) : -1, (int)(rnd() % 4)};
    struct rollup_rows rows = {0};
    assert_int_equal(rollup_build_minutes(in, N, &rows), 0);
    size_t n_rows = rows.n;
    struct rollup_row *want = malloc(n_rows * sizeof *want);
    assert_non_null(want);
    memcpy(want, rows.rows, n_rows * sizeof *want);
    struct rollup_packs packs = {0};
    assert_int_equal(rollup_pack_rows(&rows, &packs), 0);
    assert_true(packs.n <= 3 * 5 + 3); /* one per (probe, minute) */
    size_t seen = 0;
    for (size_t i = 0; i < packs.n; i++) {
        const struct rollup_pack *p = &packs.v[i];
        struct rollup_unpack u;
        assert_int_equal(rollup_unpack_begin(&u, packs.bytes + p->off, p->len), 0);
        int64_t check_id, last = -1;
        struct rollup_counts c;
        const uint8_t *hist;
        size_t hist_len, entries = 0;
        int got;
        while ((got = rollup_unpack_next(&u, &check_id, &c, &hist, &hist_len)) == 1) {
            assert_true(check_id > last); /* one entry per check, ascending */
            last = check_id;
            entries++;
            size_t k = 0;
            while (k < n_rows && !(want[k].check_id == check_id && want[k].probe_id == p->probe_id &&
                                   want[k].start_us == p->minute_us))
                k++;
            assert_true(k < n_rows);
            assert_memory_equal(&c, &want[k].counts, sizeof c);
            assert_int_equal(hist_len, want[k].hist_len);
            assert_memory_equal(hist, rows.bytes + want[k].hist_off, hist_len);
        }
        assert_int_equal(got, 0);
        assert_int_equal(entries, p->entries);
        seen += entries;
        /* every cut short form is refused somewhere, never read past its end */
        for (size_t cut = 0; cut < p->len; cut++) {
            uint8_t *copy = malloc(cut ? cut : 1);
            assert_non_null(copy);
            memcpy(copy, packs.bytes + p->off, cut);
            int r = rollup_unpack_begin(&u, copy, cut);
            while (r == 0 && (r = rollup_unpack_next(&u, &check_id, &c, &hist, &hist_len)) == 1)
                r = 0;
            assert_int_equal(r, -1);
            free(copy);
        }
    }
    assert_int_equal(seen, n_rows);
    /* a wrong version byte, and bytes left over after the last entry */
    const struct rollup_pack *p = &packs.v[0];
    uint8_t *copy = malloc(p->len + 1);
    assert_non_null(copy);
    memcpy(copy, packs.bytes + p->off, p->len);
    copy[p->len] = 0;
    struct rollup_unpack u;
    int64_t check_id;
    struct rollup_counts c;
    const uint8_t *hist;
    size_t hist_len;
    int r = rollup_unpack_begin(&u, copy, p->len + 1);
    while (r == 0 && (r = rollup_unpack_next(&u, &check_id, &c, &hist, &hist_len)) == 1)
        r = 0;
    assert_int_equal(r, -1);
    copy[0] = 99;
    assert_int_equal(rollup_unpack_begin(&u, copy, p->len), -1);
    free(copy);
    free(want);
    free(in);
    rollup_packs_free(&packs);
    rollup_rows_free(&rows);
}

/* Many rows for the same (check, probe), minutes spread over two days, merged
 * by day: identical to one histogram of all values, and every quantile within
 * 1% of the exact value at that rank. */
/* The order rollup_build_minutes sorts its input into, for the check below. */
/* (probe, minute, check); the order inside one row does not matter. */
static int ref_order(const struct rollup_input *a, const struct rollup_input *b)
{
    int64_t ka[] = {a->probe_id, rollup_floor(a->started_at_us, MIN), a->check_id};
    int64_t kb[] = {b->probe_id, rollup_floor(b->started_at_us, MIN), b->check_id};
    for (int i = 0; i < 3; i++)
        if (ka[i] != kb[i])
            return ka[i] < kb[i] ? -1 : 1;
    return 0;
}

/* Any input comes out in (probe, minute, check) order with nothing lost:
 * random, all equal, ascending, descending, organ pipe; sizes around the
 * insertion-sort cut. */
static void build_sorts_any_input(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 2, 3, 16, 17, 18, 100, 5000};
    for (int pattern = 0; pattern < 5; pattern++)
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            size_t n = sizes[si];
            struct rollup_input *in = calloc(n, sizeof *in);
            assert_non_null(in);
            int64_t sum = 0;
            for (size_t i = 0; i < n; i++) {
                int64_t k = pattern == 0   ? (int64_t)(rnd() % 997)
                            : pattern == 1 ? 5
                            : pattern == 2 ? (int64_t)i
                            : pattern == 3 ? (int64_t)(n - i)
                                           : (int64_t)(i < n / 2 ? i : n - i);
                in[i] = (struct rollup_input){1 + k % 7, 100 + k % 3, T0 + k * 7000000, k, (int)(k % 4)};
                sum += k;
            }
            struct rollup_rows rows = {0};
            assert_int_equal(rollup_build_minutes(in, n, &rows), 0);
            for (size_t i = 0; i < n; i++) {
                if (i > 0 && ref_order(&in[i - 1], &in[i]) > 0)
                    fail_msg("pattern %d, %zu results: out of order at %zu", pattern, n, i);
                sum -= in[i].total_us;
            }
            assert_int_equal(sum, 0);
            free(rows.rows);
            free(rows.bytes);
            free(in);
        }
}

/* The writers' shape: probe after probe, each probe's results in the order it
 * ran them (checks interleaved, time ascending), which rollup_build_minutes
 * sorts run by run. The rows must equal those of the same results shuffled
 * (sorted whole), also when one late result breaks the order. */
static void writer_order(struct rollup_input *in, size_t n, int late)
{
    size_t per_probe = n / 3;
    for (size_t i = 0; i < n; i++) {
        int64_t probe = 100 + (int64_t)(i / per_probe), k = (int64_t)(i % per_probe);
        int outcome = rnd() % 9 == 0 ? PK_OUTCOME_FAILED : PK_OUTCOME_OK;
        in[i] = (struct rollup_input){1 + (k * 7) % 13, probe, T0 + k * 1000000 + (int64_t)(rnd() % 900000),
                                      (int64_t)(rnd() % 300000), outcome};
    }
    if (late)
        in[n - 1].started_at_us = T0 - 5 * MIN; /* a late result: (probe, minute) no longer ascends */
}

static void build_runs_equal_whole_sort(void **state)
{
    (void)state;
    enum { N = 3 * 700 };
    for (int late = 0; late < 2; late++) {
        struct rollup_input *a = calloc(N, sizeof *a), *b = calloc(N, sizeof *b);
        assert_non_null(a);
        assert_non_null(b);
        writer_order(a, N, late);
        memcpy(b, a, N * sizeof *a);
        for (size_t i = N - 1; i > 0; i--) { /* Fisher-Yates */
            size_t j = (size_t)(rnd() % (i + 1));
            struct rollup_input t = b[i];
            b[i] = b[j];
            b[j] = t;
        }
        struct rollup_rows ra = {0}, rb = {0};
        assert_int_equal(rollup_build_minutes(a, N, &ra), 0);
        assert_int_equal(rollup_build_minutes(b, N, &rb), 0);
        for (size_t i = 1; i < N; i++)
            if (ref_order(&a[i - 1], &a[i]) > 0)
                fail_msg("late %d: out of order at %zu", late, i);
        assert_true(ra.n > 13); /* several minutes of 13 checks on each of 3 probes */
        assert_int_equal(ra.n, rb.n);
        for (size_t i = 0; i < ra.n; i++) {
            const struct rollup_row *x = &ra.rows[i], *y = &rb.rows[i];
            assert_int_equal(x->check_id, y->check_id);
            assert_int_equal(x->probe_id, y->probe_id);
            assert_int_equal(x->start_us, y->start_us);
            assert_memory_equal(&x->counts, &y->counts, sizeof x->counts);
            assert_int_equal(x->hist_len, y->hist_len);
            assert_memory_equal(ra.bytes + x->hist_off, rb.bytes + y->hist_off, x->hist_len);
        }
        rollup_rows_free(&ra);
        rollup_rows_free(&rb);
        free(a);
        free(b);
    }
}

static void merge_equals_direct(void **state)
{
    (void)state;
    enum { N = 20000 };
    struct rollup_input *in = calloc(N, sizeof *in);
    int64_t *values = calloc(N, sizeof *values);
    struct pk_hist *direct = calloc(1, sizeof *direct);
    assert_non_null(in);
    assert_non_null(values);
    assert_non_null(direct);
    uint64_t ok = 0, failed = 0;
    size_t n_good = 0;
    for (int i = 0; i < N; i++) {
        int64_t v = (int64_t)(exp((double)(rnd() % 1000000) / 1000000.0 * 12.0) + (double)(rnd() % 50));
        int outcome = rnd() % 10 == 0 ? PK_OUTCOME_FAILED : rnd() % 7 == 0 ? PK_OUTCOME_DEGRADED : PK_OUTCOME_OK;
        ok += outcome == PK_OUTCOME_OK;
        if (outcome == PK_OUTCOME_FAILED) {
            /* timeouts at 5-10 s: 10 % of the results, they would own p95 and p99 */
            v = 5000000 + (int64_t)(rnd() % 5000001);
            failed++;
        } else {
            values[n_good++] = v;
            pk_hist_add(direct, v);
        }
        in[i] = (struct rollup_input){3, 9, T0 + (int64_t)(rnd() % (2 * 1440)) * MIN + (int64_t)(rnd() % MIN), v,
                                      outcome};
    }
    struct rollup_rows rows = {0};
    assert_int_equal(rollup_build_minutes(in, N, &rows), 0);
    assert_true(rows.n > 2000);
    struct rollup_merge *m = rollup_merge_new();
    assert_non_null(m);
    for (size_t i = 0; i < rows.n; i++) {
        const struct rollup_row *r = &rows.rows[i];
        assert_int_equal(rollup_merge_add(m, r->check_id, r->probe_id, 0, &r->counts, rows.bytes + r->hist_off,
                                          r->hist_len),
                         0);
    }
    assert_int_equal(rollup_merge_count(m), 1);
    const struct rollup_entry *e = rollup_merge_entry(m, 0);
    assert_int_equal(e->counts.ok, ok);
    assert_int_equal(rollup_counts_total(&e->counts), N);
    assert_int_equal(e->counts.failed, failed);
    assert_true(failed > N / 20);
    assert_int_equal(e->hist->count, n_good);
    assert_int_equal(memcmp(e->hist->b, direct->b, sizeof direct->b), 0);
    assert_true(e->hist->max_us < 5000000); /* exp(12) + 50 < 163,000: no timeout got in */
    qsort(values, n_good, sizeof *values, cmp_i64);
    for (double q = 0.01; q < 1.0; q += 0.01) {
        size_t rank = (size_t)ceil(q * (double)n_good);
        double exact = (double)values[rank - 1], got = pk_hist_quantile(e->hist, q);
        assert_true(fabs(got - exact) <= 0.01 * exact + 1e-9);
    }
    /* p99 is the successes' p99, far below the timeouts */
    double p99 = pk_hist_quantile(e->hist, 0.99);
    assert_true(p99 > 0 && p99 < 200000);
    /* A broken encoding is refused and adds nothing. */
    uint8_t junk[3] = {0xff, 0xff, 0xff};
    struct rollup_counts one = {1, 0, 0, 0};
    assert_int_equal(rollup_merge_add(m, 3, 9, 0, &one, junk, sizeof junk), -1);
    assert_int_equal(e->hist->count, n_good);
    rollup_merge_free(m);
    rollup_rows_free(&rows);
    free(in);
    free(values);
    free(direct);
}

static void merge_many_keys_and_sort(void **state)
{
    (void)state;
    struct rollup_merge *m = rollup_merge_new();
    struct rollup_counts one = {1, 0, 0, 0};
    for (int round = 0; round < 3; round++)
        for (int64_t k = 999; k >= 0; k--)
            assert_int_equal(rollup_merge_add(m, k % 10, k / 10, k, &one, NULL, 0), 0);
    assert_int_equal(rollup_merge_count(m), 1000);
    rollup_merge_sort(m);
    for (size_t i = 1; i < 1000; i++) {
        const struct rollup_entry *a = rollup_merge_entry(m, i - 1), *b = rollup_merge_entry(m, i);
        assert_true(a->a < b->a || (a->a == b->a && a->b < b->b));
        assert_int_equal(b->counts.ok, 3);
    }
    /* still a map after sorting */
    struct rollup_entry *e = rollup_merge_get(m, 5, 0, 5);
    assert_non_null(e);
    assert_int_equal(e->counts.ok, 3);
    assert_int_equal(rollup_merge_count(m), 1000);
    rollup_merge_free(m);
}

static int64_t range_len(struct rollup_range r) { return r.to_us - r.from_us; }

static void check_plan(int64_t since, int64_t until)
{
    struct rollup_plan p;
    rollup_plan_window(since, until, &p);
    const struct rollup_range all[5] = {p.minute[0], p.hour[0], p.day, p.hour[1], p.minute[1]};
    /* in time order, contiguous where not empty, covering [since, until) */
    int64_t at = since;
    for (int i = 0; i < 5; i++) {
        if (range_len(all[i]) == 0)
            continue;
        assert_true(all[i].from_us == at);
        assert_true(all[i].to_us > all[i].from_us);
        at = all[i].to_us;
    }
    assert_true(at == until);
    if (range_len(p.day)) {
        assert_int_equal(rollup_floor(p.day.from_us, ROLLUP_DAY_US), p.day.from_us);
        assert_int_equal(rollup_floor(p.day.to_us, ROLLUP_DAY_US), p.day.to_us);
    }
    for (int k = 0; k < 2; k++)
        if (range_len(p.hour[k])) {
            assert_int_equal(rollup_floor(p.hour[k].from_us, ROLLUP_HOUR_US), p.hour[k].from_us);
            assert_int_equal(rollup_floor(p.hour[k].to_us, ROLLUP_HOUR_US), p.hour[k].to_us);
            assert_true(range_len(p.hour[k]) < (range_len(p.day) ? ROLLUP_DAY_US : 2 * ROLLUP_DAY_US));
        }
    /* minutes only where no whole hour fits: under an hour at each edge */
    assert_true(range_len(p.minute[0]) + range_len(p.minute[1]) < 2 * ROLLUP_HOUR_US);
    if (range_len(p.hour[0]) || range_len(p.day))
        for (int k = 0; k < 2; k++)
            assert_true(range_len(p.minute[k]) < ROLLUP_HOUR_US);
}

static void plan_windows(void **state)
{
    (void)state;
    int64_t day0 = rollup_floor(T0, ROLLUP_DAY_US);
    struct rollup_plan p;
    /* exactly 30 whole days: days only */
    rollup_plan_window(day0, day0 + 30 * ROLLUP_DAY_US, &p);
    assert_int_equal(range_len(p.day), 30 * ROLLUP_DAY_US);
    assert_int_equal(range_len(p.hour[0]) + range_len(p.hour[1]) + range_len(p.minute[0]) + range_len(p.minute[1]),
                     0);
    /* 10:17 on day 0 to 03:05 on day 2: minutes, hours, one day, hours, minutes */
    rollup_plan_window(day0 + 10 * ROLLUP_HOUR_US + 17 * MIN, day0 + 2 * ROLLUP_DAY_US + 3 * ROLLUP_HOUR_US + 5 * MIN,
                       &p);
    assert_int_equal(range_len(p.minute[0]), 43 * MIN);
    assert_int_equal(range_len(p.hour[0]), 13 * ROLLUP_HOUR_US);
    assert_int_equal(range_len(p.day), ROLLUP_DAY_US);
    assert_int_equal(range_len(p.hour[1]), 3 * ROLLUP_HOUR_US);
    assert_int_equal(range_len(p.minute[1]), 5 * MIN);
    /* inside one hour: minutes only */
    rollup_plan_window(T0 + 5 * MIN, T0 + 7 * MIN, &p);
    assert_int_equal(range_len(p.minute[0]) + range_len(p.minute[1]), 2 * MIN);
    assert_int_equal(range_len(p.hour[0]) + range_len(p.day), 0);
    /* empty window */
    rollup_plan_window(T0, T0, &p);
    assert_int_equal(range_len(p.minute[0]) + range_len(p.minute[1]) + range_len(p.day), 0);
    for (int i = 0; i < 20000; i++) {
        int64_t since = day0 + (int64_t)(rnd() % (40 * 1440)) * MIN - 10 * ROLLUP_DAY_US;
        int64_t until = since + (int64_t)(rnd() % (i % 2 ? 200 : 40 * 1440) + 1) * MIN;
        check_plan(since, until);
    }
}


/* The signed coverage of minute t by a plan: +1 per added range holding it,
 * -1 per subtracted one. */
static int coverage(const struct rollup_signed_plan *p, int64_t t)
{
    const struct rollup_range add[5] = {p->day, p->hour[0], p->hour[1], p->minute[0], p->minute[1]};
    const struct rollup_range sub[4] = {p->hour_neg[0], p->hour_neg[1], p->minute_neg[0], p->minute_neg[1]};
    int c = 0;
    for (int i = 0; i < 5; i++)
        c += t >= add[i].from_us && t < add[i].to_us;
    for (int i = 0; i < 4; i++)
        c -= t >= sub[i].from_us && t < sub[i].to_us;
    return c;
}

static int64_t rows_of(struct rollup_range r, int64_t width, int64_t stored_until)
{
    int64_t to = r.to_us < stored_until ? r.to_us : stored_until;
    return to > r.from_us ? (to - r.from_us + width - 1) / width : 0;
}

static void aligned(struct rollup_range r, int64_t width)
{
    if (range_len(r) == 0)
        return;
    assert_int_equal(rollup_floor(r.from_us, width), r.from_us);
    assert_int_equal(rollup_floor(r.to_us, width), r.to_us);
}

/* Every minute around the window is covered once inside it and never outside;
 * minutes are taken only from hours at or after minutes_from, hours only from
 * closed days; the plan never reads more rows than the plain one. */
static void check_signed(int64_t since, int64_t until, int64_t minutes_from, int64_t days_closed, int64_t stored_until)
{
    struct rollup_signed_plan p;
    rollup_plan_signed(since, until, minutes_from, days_closed, stored_until, &p);
    int64_t lo = rollup_floor(since, ROLLUP_DAY_US) - ROLLUP_DAY_US;
    int64_t hi = rollup_floor(until, ROLLUP_DAY_US) + 2 * ROLLUP_DAY_US;
    for (int64_t t = lo; t < hi; t += MIN)
        assert_int_equal(coverage(&p, t), t >= since && t < until);
    aligned(p.day, ROLLUP_DAY_US);
    for (int k = 0; k < 2; k++) {
        aligned(p.hour[k], ROLLUP_HOUR_US);
        aligned(p.hour_neg[k], ROLLUP_HOUR_US);
        if (range_len(p.minute_neg[k]))
            assert_true(rollup_floor(p.minute_neg[k].from_us, ROLLUP_HOUR_US) >= minutes_from);
        if (range_len(p.hour_neg[k]))
            assert_true(rollup_floor(p.hour_neg[k].from_us, ROLLUP_DAY_US) + ROLLUP_DAY_US <= days_closed);
    }
    /* inside one hour nothing stored is subtracted: the answer is the window's
     * own, its extremes too */
    if (until > since && rollup_floor(since, ROLLUP_HOUR_US) == rollup_floor(until - 1, ROLLUP_HOUR_US))
        assert_int_equal(rows_of(p.minute_neg[0], MIN, stored_until) + rows_of(p.minute_neg[1], MIN, stored_until), 0);
    struct rollup_plan plain;
    rollup_plan_window(since, until, &plain);
    const int64_t su = stored_until;
    int64_t rows = rows_of(p.day, ROLLUP_DAY_US, su), plain_rows = rows_of(plain.day, ROLLUP_DAY_US, su);
    for (int k = 0; k < 2; k++) {
        rows += rows_of(p.hour[k], ROLLUP_HOUR_US, su) + rows_of(p.hour_neg[k], ROLLUP_HOUR_US, su) +
                rows_of(p.minute[k], MIN, su) + rows_of(p.minute_neg[k], MIN, su);
        plain_rows += rows_of(plain.hour[k], ROLLUP_HOUR_US, su) + rows_of(plain.minute[k], MIN, su);
    }
    assert_true(rows <= plain_rows);
}

static void plan_signed_windows(void **state)
{
    (void)state;
    int64_t day0 = rollup_floor(T0, ROLLUP_DAY_US);
    struct rollup_signed_plan p;
    /* 30 days from 04:05: the first day's row less 4 hours and 5 minutes, not
     * 19 hours and 55 minutes; the end (05:05, nothing stored after it): the
     * hour's row, not 5 minutes, and today's 5 hours */
    int64_t since = day0 + 4 * ROLLUP_HOUR_US + 5 * MIN, until = since + 30 * ROLLUP_DAY_US;
    rollup_plan_signed(since, until, INT64_MIN, until - ROLLUP_DAY_US, until, &p);
    assert_true(p.day.from_us == day0 && p.day.to_us == day0 + 30 * ROLLUP_DAY_US);
    assert_int_equal(range_len(p.hour_neg[0]), 4 * ROLLUP_HOUR_US);
    assert_int_equal(range_len(p.minute_neg[0]), 5 * MIN);
    assert_int_equal(range_len(p.hour[1]), 5 * ROLLUP_HOUR_US);
    assert_int_equal(range_len(p.minute_neg[1]), 55 * MIN);
    assert_int_equal(range_len(p.minute[0]) + range_len(p.minute[1]) + range_len(p.hour[0]), 0);
    check_signed(since, until, INT64_MIN, until - ROLLUP_DAY_US, until);
    /* minutes gone (retention) and the day not closed: the plain plan */
    rollup_plan_signed(since, until, INT64_MAX, INT64_MIN, INT64_MAX, &p);
    assert_int_equal(range_len(p.minute[0]), 55 * MIN);
    assert_int_equal(range_len(p.hour[0]), 19 * ROLLUP_HOUR_US);
    assert_int_equal(range_len(p.minute_neg[0]) + range_len(p.hour_neg[0]) + range_len(p.minute_neg[1]), 0);
    /* within one hour, ending now (06:40, compacted up to 06:38): the hour's
     * row less the minutes after 06:40 (none stored), not 38 minutes */
    int64_t h6 = day0 + 6 * ROLLUP_HOUR_US;
    rollup_plan_signed(h6, h6 + 40 * MIN, INT64_MIN, day0, h6 + 38 * MIN, &p);
    assert_true(p.hour[0].from_us == h6 && p.hour[0].to_us == h6 + ROLLUP_HOUR_US);
    assert_int_equal(range_len(p.minute[0]) + range_len(p.minute[1]) + range_len(p.minute_neg[0]), 0);
    assert_int_equal(rows_of(p.minute_neg[1], MIN, h6 + 38 * MIN), 0);
    check_signed(h6, h6 + 40 * MIN, INT64_MIN, day0, h6 + 38 * MIN);
    /* 06:10-07:00, all stored: its 50 minutes (the hour less 10 would clamp
     * the quantiles to the hour's extremes); 06:40-07:00: 20 minutes */
    rollup_plan_signed(h6 + 10 * MIN, h6 + ROLLUP_HOUR_US, INT64_MIN, day0, INT64_MAX, &p);
    assert_int_equal(range_len(p.hour[0]) + range_len(p.minute_neg[0]), 0);
    assert_int_equal(range_len(p.minute[0]) + range_len(p.minute[1]), 50 * MIN);
    /* 06:00-06:50 with minutes stored up to 06:50: the hour's row, less none */
    rollup_plan_signed(h6, h6 + 50 * MIN, INT64_MIN, day0, h6 + 50 * MIN, &p);
    assert_int_equal(range_len(p.hour[0]), ROLLUP_HOUR_US);
    rollup_plan_signed(h6 + 40 * MIN, h6 + ROLLUP_HOUR_US, INT64_MIN, day0, INT64_MAX, &p);
    assert_int_equal(range_len(p.hour[0]), 0);
    assert_int_equal(range_len(p.minute[0]) + range_len(p.minute[1]), 20 * MIN);
    /* the hour's minutes not all stored (retention): its minutes */
    rollup_plan_signed(h6, h6 + 50 * MIN, h6 + ROLLUP_HOUR_US, day0, h6 + 50 * MIN, &p);
    assert_int_equal(range_len(p.hour[0]) + range_len(p.minute_neg[0]), 0);
    for (int i = 0; i < 6000; i++) {
        int64_t s = day0 + (int64_t)(rnd() % (6 * 1440)) * MIN;
        int64_t u = s + (int64_t)(rnd() % (i % 3 == 2 ? 60 : i % 2 ? 300 : 4 * 1440) + 1) * MIN;
        int64_t mf = i % 3 == 0 ? INT64_MIN : day0 + (int64_t)(rnd() % (8 * 24)) * ROLLUP_HOUR_US;
        int64_t dc = i % 5 == 0 ? INT64_MAX : day0 + (int64_t)(rnd() % 8) * ROLLUP_DAY_US;
        int64_t su = i % 4 == 0 ? INT64_MAX : u + (int64_t)(rnd() % 120) * MIN - 60 * MIN;
        check_signed(s, u, mf, dc, su);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(floor_negative),         cmocka_unit_test(build_minutes_known),
        cmocka_unit_test(merge_equals_direct),    cmocka_unit_test(merge_many_keys_and_sort),
        cmocka_unit_test(plan_windows),           cmocka_unit_test(plan_signed_windows),
        cmocka_unit_test(pack_roundtrip_and_refusals),
        cmocka_unit_test(build_sorts_any_input),  cmocka_unit_test(build_runs_equal_whole_sort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
