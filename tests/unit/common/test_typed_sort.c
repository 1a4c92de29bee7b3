/* test_typed_sort.c: common/typed_sort.h. Every input pattern (random, few
 * distinct values, all equal, ascending, descending, organ pipe) at sizes
 * around the insertion-sort cut comes out as qsort sorts it; a 40-byte
 * struct keyed on two fields too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "typed_sort.h"

static inline int int_before(const int64_t *a, const int64_t *b) { return *a < *b; }
PK_TYPED_SORT(ints_sort, int64_t, int_before)

struct wide {
    int64_t hi, pad1, lo, pad2;
    int tag;
};
static inline int wide_before(const struct wide *a, const struct wide *b)
{
    return a->hi != b->hi ? a->hi < b->hi : a->lo < b->lo;
}
PK_TYPED_SORT(wides_sort, struct wide, wide_before)

static int int_cmp(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int64_t pattern_value(int pattern, size_t i, size_t n)
{
    switch (pattern) {
    case 0: return (int64_t)(next() % 1000000);
    case 1: return (int64_t)(next() % 3);
    case 2: return 7;
    case 3: return (int64_t)i;
    case 4: return (int64_t)(n - i);
    default: return (int64_t)(i < n / 2 ? i : n - i);
    }
}

static void like_qsort(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 2, 3, 15, 16, 17, 18, 33, 1000, 20000};
    for (int pattern = 0; pattern < 6; pattern++)
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            size_t n = sizes[si];
            int64_t *a = malloc((n + 1) * sizeof *a), *b = malloc((n + 1) * sizeof *b);
            assert_non_null(a);
            assert_non_null(b);
            for (size_t i = 0; i < n; i++)
                a[i] = b[i] = pattern_value(pattern, i, n);
            ints_sort(a, n);
            qsort(b, n, sizeof *b, int_cmp);
            if (n)
                assert_memory_equal(a, b, n * sizeof *a);
            free(a);
            free(b);
        }
}

static void wide_elements(void **state)
{
    (void)state;
    enum { N = 5000 };
    struct wide *v = calloc(N, sizeof *v);
    assert_non_null(v);
    int64_t sum = 0;
    for (int i = 0; i < N; i++) {
        v[i] = (struct wide){(int64_t)(next() % 50), -1, (int64_t)(next() % 1000), -2, i};
        sum += i;
    }
    wides_sort(v, N);
    for (int i = 0; i < N; i++) {
        if (i > 0)
            assert_false(wide_before(&v[i], &v[i - 1]));
        assert_int_equal(v[i].pad1, -1);
        assert_int_equal(v[i].pad2, -2);
        sum -= v[i].tag;
    }
    assert_int_equal(sum, 0); /* a permutation: nothing lost or doubled */
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(like_qsort),
        cmocka_unit_test(wide_elements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
