/* test_histogram.c: every quantile within 1 % of the exact one (the value at
 * that rank of the sorted data), merging is exact, encoding round-trips, and
 * malformed encodings are refused. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "histogram.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Latencies from 50 us to about 30 s, log-normal-ish with a long tail. */
static int64_t sample(void)
{
    double u1 = ((double)(next_rand() >> 11) + 0.5) / 9007199254740992.0;
    double u2 = ((double)(next_rand() >> 11) + 0.5) / 9007199254740992.0;
    double z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
    double v = exp(10.0 + 1.5 * z); /* median about 22 ms */
    if (v < 50)
        v = 50;
    return (int64_t)v;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double exact_quantile(const int64_t *sorted, size_t n, double q)
{
    size_t rank = (size_t)ceil(q * (double)n);
    if (rank < 1)
        rank = 1;
    return (double)sorted[rank - 1];
}

static void quantiles_within_one_percent(void **state)
{
    (void)state;
    size_t n = 200000;
    int64_t *v = malloc(n * sizeof *v);
    struct pk_hist *h = malloc(sizeof *h);
    assert_non_null(v);
    pk_hist_init(h);
    for (size_t i = 0; i < n; i++) {
        v[i] = sample();
        pk_hist_add(h, v[i]);
    }
    qsort(v, n, sizeof *v, cmp_i64);
    const double qs[] = {0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 0.9999, 1.0};
    for (size_t k = 0; k < sizeof qs / sizeof *qs; k++) {
        double exact = exact_quantile(v, n, qs[k]);
        double got = pk_hist_quantile(h, qs[k]);
        double err = fabs(got - exact) / exact;
        if (err > PK_HIST_ALPHA + 1e-9)
            fail_msg("q=%g exact=%g got=%g error=%.4f%%", qs[k], exact, got, err * 100);
    }
    assert_int_equal(h->count, n);
    assert_int_equal(h->min_us, v[0]);
    assert_int_equal(h->max_us, v[n - 1]);
    free(v);
    free(h);
}

static void every_bucket_reports_within_alpha(void **state)
{
    (void)state;
    /* Each integer value from 2 us to 2 s: its bucket's value is within 1 %. */
    for (int64_t us = 2; us < 2000000; us += 1 + us / 1000) {
        double got = pk_hist_value(pk_hist_index(us));
        double err = fabs(got - (double)us) / (double)us;
        if (err > PK_HIST_ALPHA + 1e-9)
            fail_msg("value %lld reported as %g (%.4f%%)", (long long)us, got, err * 100);
    }
}

static void merge_is_exact(void **state)
{
    (void)state;
    struct pk_hist *all = malloc(sizeof *all), *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    pk_hist_init(all);
    pk_hist_init(a);
    pk_hist_init(b);
    for (int i = 0; i < 50000; i++) {
        int64_t x = sample();
        pk_hist_add(all, x);
        pk_hist_add(i % 3 ? a : b, x);
    }
    pk_hist_merge(a, b);
    assert_int_equal(a->count, all->count);
    assert_int_equal(a->min_us, all->min_us);
    assert_int_equal(a->max_us, all->max_us);
    assert_memory_equal(a->b, all->b, sizeof a->b);
    free(all);
    free(a);
    free(b);
}

/* Small histograms of values at bucket edges (gamma^i and its neighbours, where
 * log() rounds), of 0, 1, negative and clamped values merge to exactly the
 * buckets of adding every value to one, also through the stored form; and a
 * histogram after an unmerge (whose extremes stay the wider ones) merges
 * whole. */
static void merge_edges_and_stored_forms(void **state)
{
    (void)state;
    struct pk_hist *all = malloc(sizeof *all), *acc = malloc(sizeof *acc), *one = malloc(sizeof *one),
                   *dec = malloc(sizeof *dec);
    uint8_t buf[PK_HIST_ENCODED_MAX];
    pk_hist_init(all);
    pk_hist_init(acc);
    const double gamma = exp(pk_hist_gamma_ln);
    for (int h = 0; h < 3000; h++) {
        pk_hist_init(one);
        int n = 1 + (int)(next_rand() % 4);
        for (int k = 0; k < n; k++) {
            int64_t v;
            switch (next_rand() % 6) {
            case 0:
                v = (int64_t)(next_rand() % 3) - 1; /* -1, 0, 1 */
                break;
            case 1:
                v = PK_HIST_MAX_US + (int64_t)(next_rand() % 1000) - 500; /* around the clamp */
                break;
            default: { /* at a bucket's edge, or next to it */
                double e = pow(gamma, (double)(1 + next_rand() % (PK_HIST_BUCKETS - 2)));
                v = (int64_t)llround(e) + (int64_t)(next_rand() % 3) - 1;
            }
            }
            pk_hist_add(one, v);
            pk_hist_add(all, v);
        }
        if (h % 2) { /* through the stored form */
            size_t len = pk_hist_encode(one, buf, sizeof buf);
            assert_true(len > 0);
            assert_int_equal(pk_hist_decode(buf, len, dec), 0);
            pk_hist_merge(acc, dec);
        } else {
            pk_hist_merge(acc, one);
        }
    }
    assert_int_equal(acc->count, all->count);
    assert_memory_equal(acc->b, all->b, sizeof acc->b);
    /* an unmerged histogram keeps the wider extremes: merging it still adds every count */
    pk_hist_init(one);
    pk_hist_add(one, 5000);
    size_t len = pk_hist_encode(one, buf, sizeof buf);
    *dec = *all;
    assert_int_equal(pk_hist_decode_unmerge(buf, len, dec), 0);
    pk_hist_init(acc);
    pk_hist_merge(acc, dec);
    assert_memory_equal(acc->b, dec->b, sizeof acc->b);
    free(all);
    free(acc);
    free(one);
    free(dec);
}

static void encoding_round_trips(void **state)
{
    (void)state;
    struct pk_hist *h = malloc(sizeof *h), *back = malloc(sizeof *back);
    pk_hist_init(h);
    for (int i = 0; i < 10000; i++)
        pk_hist_add(h, sample());
    pk_hist_add(h, 0);
    pk_hist_add(h, PK_HIST_MAX_US * 3); /* clamped */
    uint8_t buf[PK_HIST_ENCODED_MAX];
    size_t len = pk_hist_encode(h, buf, sizeof buf);
    assert_true(len > 0 && len < 3000);
    assert_int_equal(pk_hist_decode(buf, len, back), 0);
    assert_int_equal(back->count, h->count);
    assert_int_equal(back->clamped, 1);
    assert_int_equal(back->min_us, 0);
    assert_int_equal(back->max_us, PK_HIST_MAX_US * 3);
    assert_memory_equal(back->b, h->b, sizeof h->b);
    assert_true(fabs(back->sum_us - h->sum_us) <= 1.0);
    /* decode_merge adds */
    assert_int_equal(pk_hist_decode_merge(buf, len, back), 0);
    assert_int_equal(back->count, 2 * h->count);
    /* decode_unmerge takes it away again: counts, buckets and sum exact */
    assert_int_equal(pk_hist_decode_unmerge(buf, len, back), 0);
    assert_int_equal(back->count, h->count);
    assert_int_equal(back->clamped, 1);
    assert_memory_equal(back->b, h->b, sizeof h->b);
    assert_true(fabs(back->sum_us - h->sum_us) <= 2.0);
    /* a superset less a part: the quantiles of what is left */
    struct pk_hist *part = malloc(sizeof *part), *rest = malloc(sizeof *rest), *all = malloc(sizeof *all);
    pk_hist_init(part);
    pk_hist_init(rest);
    for (int64_t v = 1000; v < 2000; v += 10)
        pk_hist_add(part, v);
    for (int64_t v = 50000; v < 90000; v += 7)
        pk_hist_add(rest, v);
    *all = *rest;
    pk_hist_merge(all, part);
    size_t plen = pk_hist_encode(part, buf, sizeof buf);
    assert_int_equal(pk_hist_decode_unmerge(buf, plen, all), 0);
    assert_int_equal(all->count, rest->count);
    assert_memory_equal(all->b, rest->b, sizeof rest->b);
    for (double q = 0.01; q < 1.0; q += 0.07)
        assert_true(fabs(pk_hist_quantile(all, q) - pk_hist_quantile(rest, q)) <= 0.01 * pk_hist_quantile(rest, q));
    /* never below an empty bucket; an invalid encoding leaves h untouched */
    pk_hist_init(all);
    assert_int_equal(pk_hist_decode_unmerge(buf, plen, all), 0);
    assert_int_equal(all->count, 0);
    buf[0] = 99;
    *all = *rest;
    assert_int_equal(pk_hist_decode_unmerge(buf, plen, all), -1);
    assert_memory_equal(all, rest, sizeof *rest);
    free(part);
    free(rest);
    free(all);
    len = pk_hist_encode(h, buf, sizeof buf);
    /* too small a buffer is refused, not overrun */
    assert_int_equal(pk_hist_encode(h, buf, 10), 0);
    /* the empty histogram */
    struct pk_hist *e = malloc(sizeof *e);
    pk_hist_init(e);
    len = pk_hist_encode(e, buf, sizeof buf);
    assert_int_equal(pk_hist_decode(buf, len, back), 0);
    assert_int_equal(back->count, 0);
    assert_true(pk_hist_quantile(back, 0.5) < 0);
    free(e);
    free(h);
    free(back);
}

static void malformed_encodings_are_refused(void **state)
{
    (void)state;
    struct pk_hist *h = malloc(sizeof *h), *back = malloc(sizeof *back);
    pk_hist_init(h);
    for (int i = 0; i < 100; i++)
        pk_hist_add(h, 1000 + i * 37);
    uint8_t buf[PK_HIST_ENCODED_MAX];
    size_t len = pk_hist_encode(h, buf, sizeof buf);
    for (size_t cut = 0; cut < len; cut++)
        assert_int_equal(pk_hist_decode(buf, cut, back), -1); /* every truncation */
    uint8_t bad[PK_HIST_ENCODED_MAX];
    memcpy(bad, buf, len);
    bad[0] = 9; /* version */
    assert_int_equal(pk_hist_decode(bad, len, back), -1);
    memcpy(bad, buf, len);
    bad[1] ^= 0x01; /* count no longer matches the buckets */
    assert_int_equal(pk_hist_decode(bad, len, back), -1);
    free(h);
    free(back);
}

static void small_values_and_edges(void **state)
{
    (void)state;
    struct pk_hist *h = malloc(sizeof *h);
    pk_hist_init(h);
    pk_hist_add(h, 0);
    pk_hist_add(h, 0);
    assert_true(pk_hist_quantile(h, 0.5) == 0.0);
    pk_hist_add_n(h, 1000, 98);
    assert_true(fabs(pk_hist_quantile(h, 0.5) - 1000.0) <= 10.0);
    assert_true(pk_hist_quantile(h, 0.01) == 0.0);
    assert_true(fabs(pk_hist_mean(h) - 980.0) < 1e-9);
    free(h);
}

/* The written-out log(gamma) is the formula's value to the last bit (computed
 * at run time here: volatile keeps the compiler from folding it). */
static void gamma_ln_matches_formula(void **state)
{
    (void)state;
    volatile double alpha = PK_HIST_ALPHA;
    double want = log((1.0 + alpha) / (1.0 - alpha));
    assert_memory_equal(&pk_hist_gamma_ln, &want, sizeof want);
}

/* The quantile read from an encoding in place equals pk_hist_quantile of the
 * decoded histogram, for many shapes and quantiles; empty and malformed
 * encodings are told apart. */
static void encoded_quantile_equals_decoded(void **state)
{
    (void)state;
    struct pk_hist *h = malloc(sizeof *h);
    assert_non_null(h);
    uint8_t buf[PK_HIST_ENCODED_MAX];
    uint64_t x = 88172645463325252ULL, count = 0;
    const double qs[] = {0, 0.01, 0.5, 0.9, 0.95, 0.99, 1};
    for (int round = 0; round < 200; round++) {
        pk_hist_init(h);
        int n = 1 + round * 7 % 300;
        for (int i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            pk_hist_add(h, (int64_t)(x % (round % 3 ? 200000 : 20000000)));
        }
        size_t len = pk_hist_encode(h, buf, sizeof buf);
        assert_true(len > 0);
        for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
            double got = pk_hist_encoded_quantile(buf, len, qs[k], &count);
            assert_int_equal(count, h->count);
            if (got != pk_hist_quantile(h, qs[k]))
                fail_msg("round %d q %g: %g in place, %g decoded", round, qs[k], got, pk_hist_quantile(h, qs[k]));
        }
        assert_true(isnan(pk_hist_encoded_quantile(buf, len - 1, 0.95, &count))); /* cut short */
    }
    pk_hist_init(h);
    size_t len = pk_hist_encode(h, buf, sizeof buf);
    assert_true(pk_hist_encoded_quantile(buf, len, 0.95, &count) < 0);
    assert_int_equal(count, 0);
    buf[0] = 99; /* not a version */
    assert_true(isnan(pk_hist_encoded_quantile(buf, len, 0.95, &count)));
    free(h);
}

/* The encoding written the plain way (two passes over every bucket of the
 * range), against which the encoder's one-pass skipping scan is compared. */
static size_t reference_encode(const struct pk_hist *h, int lo, int hi, uint8_t version, uint8_t *out, size_t cap)
{
    size_t pos = 0, nonempty = 0;
    for (int i = lo; i <= hi; i++)
        nonempty += h->b[i] != 0;
    out[pos++] = version;
    int64_t ext[2] = {h->count ? h->min_us : 0, h->count ? h->max_us : 0};
    uint64_t head[6] = {h->count, h->clamped, ((uint64_t)ext[0] << 1) ^ (uint64_t)(ext[0] >> 63),
                        ((uint64_t)ext[1] << 1) ^ (uint64_t)(ext[1] >> 63),
                        (uint64_t)llround(h->sum_us < 0 ? 0 : h->sum_us), nonempty};
    for (int k = 0; k < 6; k++)
        pos = pk_varint_put(out, cap, pos, head[k]);
    int last = -1;
    for (int i = lo; i <= hi; i++)
        if (h->b[i]) {
            pos = pk_varint_put(out, cap, pos, (uint64_t)(i - last));
            pos = pk_varint_put(out, cap, pos, h->b[i]);
            last = i;
        }
    return pos;
}

/* Byte for byte what the plain encoder writes: empty, one bucket at either
 * end, sparse and dense histograms, every range edge against the eight-bucket
 * steps of the scan. */
static void encoding_matches_reference(void **state)
{
    (void)state;
    struct pk_hist *h = malloc(sizeof *h);
    uint8_t *a = malloc(PK_HIST_ENCODED_MAX), *b = malloc(PK_HIST_ENCODED_MAX);
    assert_non_null(h);
    assert_non_null(a);
    assert_non_null(b);
    pk_hist_init(h);
    assert_true(pk_hist_encode(h, a, PK_HIST_ENCODED_MAX) > 0);
    const uint8_t version = a[0];
    for (int shape = 0; shape < 40; shape++) {
        pk_hist_init(h);
        int n = shape < 4 ? shape : (int)(next_rand() % (shape < 20 ? 60 : 20000));
        for (int k = 0; k < n; k++)
            pk_hist_add(h, shape == 1 ? 0 : shape == 2 ? PK_HIST_MAX_US * 2 : sample());
        int lo = 0, hi = PK_HIST_BUCKETS - 1;
        while (lo < PK_HIST_BUCKETS && !h->b[lo])
            lo++;
        while (hi >= 0 && !h->b[hi])
            hi--;
        for (int d = 0; d < 10; d++) { /* ranges around the non-empty buckets, any alignment */
            int rlo = lo > hi ? 0 : lo - (int)(next_rand() % 9), rhi = lo > hi ? -1 : hi + (int)(next_rand() % 9);
            if (rlo < 0)
                rlo = 0;
            if (rhi > PK_HIST_BUCKETS - 1)
                rhi = PK_HIST_BUCKETS - 1;
            size_t la = pk_hist_encode_range(h, rlo, rhi, a, PK_HIST_ENCODED_MAX);
            size_t lb = reference_encode(h, rlo, rhi, version, b, PK_HIST_ENCODED_MAX);
            assert_int_equal(la, lb);
            assert_memory_equal(a, b, la);
        }
        size_t la = pk_hist_encode(h, a, PK_HIST_ENCODED_MAX);
        size_t lb = reference_encode(h, 0, PK_HIST_BUCKETS - 1, version, b, PK_HIST_ENCODED_MAX);
        assert_int_equal(la, lb);
        assert_memory_equal(a, b, la);
    }
    free(h);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quantiles_within_one_percent), cmocka_unit_test(every_bucket_reports_within_alpha),
        cmocka_unit_test(merge_is_exact),               cmocka_unit_test(merge_edges_and_stored_forms),
        cmocka_unit_test(encoding_round_trips),
        cmocka_unit_test(malformed_encodings_are_refused), cmocka_unit_test(small_values_and_edges),
        cmocka_unit_test(gamma_ln_matches_formula),       cmocka_unit_test(encoded_quantile_equals_decoded),
        cmocka_unit_test(encoding_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
