/* test_result_pool.c: common/result_pool.c. A batch array given back is the one
 * the next batch of its size class gets (no fresh pages per batch); small
 * batches are plain malloc'd; the pool never holds more than its bound, and
 * drain empties it; the bytes handed out and not given back are counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "result_pool.h"

static void reused_within_its_class(void **state)
{
    (void)state;
    pk_results_pool_drain();
    struct pk_result *a = pk_results_alloc(1000);
    assert_non_null(a);
    memset(a, 0xab, 1024 * sizeof *a); /* the class's whole capacity is usable */
    pk_results_free(a, 1000);
    assert_int_equal(pk_results_pool_bytes(), 1024 * sizeof *a);
    struct pk_result *b = pk_results_alloc(600); /* same class: 513..1024 */
    assert_ptr_equal(a, b);
    assert_int_equal(pk_results_pool_bytes(), 0);
    struct pk_result *c = pk_results_alloc(1000); /* the pool is empty: a new one */
    assert_ptr_not_equal(b, c);
    pk_results_free(b, 600);
    struct pk_result *d = pk_results_alloc(2000); /* another class */
    assert_ptr_not_equal(d, b);
    pk_results_free(c, 1000);
    pk_results_free(d, 2000);
    pk_results_pool_drain();
    assert_int_equal(pk_results_pool_bytes(), 0);
}

static void small_batches_are_not_pooled(void **state)
{
    (void)state;
    pk_results_pool_drain();
    struct pk_result *a = pk_results_alloc(1);
    assert_non_null(a);
    pk_results_free(a, 1);
    pk_results_free(NULL, 500);
    assert_int_equal(pk_results_pool_bytes(), 0);
}

static void bounded(void **state)
{
    (void)state;
    pk_results_pool_drain();
    enum { N = 160 };
    struct pk_result *v[N];
    for (int i = 0; i < N; i++)
        assert_non_null(v[i] = pk_results_alloc(1000));
    for (int i = 0; i < N; i++)
        pk_results_free(v[i], 1000);
    /* 128 per class at most, and at most 128 MiB in all */
    size_t held = pk_results_pool_bytes();
    assert_true(held > 0);
    assert_true(held <= 128 * 1024 * sizeof(struct pk_result));
    assert_true(held <= (size_t)128 << 20);
    pk_results_pool_drain();
    assert_int_equal(pk_results_pool_bytes(), 0);
}

/* Drained after a period with no array taken, kept while batches come. */
static void trimmed_when_idle(void **state)
{
    (void)state;
    pk_results_pool_drain();
    (void)pk_results_pool_trim_idle(); /* a period starts */
    struct pk_result *a = pk_results_alloc(1000);
    pk_results_free(a, 1000);
    assert_int_equal(pk_results_pool_trim_idle(), 0); /* one was taken in this period */
    assert_true(pk_results_pool_bytes() > 0);
    assert_int_equal(pk_results_pool_trim_idle(), 1); /* none since */
    assert_int_equal(pk_results_pool_bytes(), 0);
}

/* The live count follows every array handed out until it is given back, pooled
 * or not, whatever the pool keeps. */
static void live_bytes_counted(void **state)
{
    (void)state;
    pk_results_pool_drain();
    size_t base = pk_results_live_bytes();
    struct pk_result *a = pk_results_alloc(1000);
    struct pk_result *b = pk_results_alloc(3);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(pk_results_live_bytes(), base + 1024 * sizeof *a + 3 * sizeof *b);
    pk_results_free(a, 1000); /* into the pool: no longer live */
    assert_int_equal(pk_results_live_bytes(), base + 3 * sizeof *b);
    struct pk_result *c = pk_results_alloc(900); /* from the pool: live again */
    assert_ptr_equal(a, c);
    assert_int_equal(pk_results_live_bytes(), base + 1024 * sizeof *c + 3 * sizeof *b);
    pk_results_free(c, 900);
    pk_results_free(b, 3);
    pk_results_free(NULL, 1000);
    assert_int_equal(pk_results_live_bytes(), base);
    pk_results_pool_drain();
    assert_int_equal(pk_results_live_bytes(), base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reused_within_its_class),
        cmocka_unit_test(small_batches_are_not_pooled),
        cmocka_unit_test(bounded),
        cmocka_unit_test(trimmed_when_idle),
        cmocka_unit_test(live_bytes_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
