/* Unit tests for collector/foreground.c: background work waits while a query
 * someone waits for runs and for the quiet period after it, never longer than
 * its bound, and returns at once when asked to stop; pk_fg_quiet says whether
 * that period has passed. Times are real (a second
 * at most per test) and checked with margins a loaded machine keeps. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "foreground.h"
#include "result.h"

#define MS INT64_C(1000)

static void sleep_us(int64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* The first time nothing ever ran, after the last one quietly: no wait. */
static void test_quiet_returns_at_once(void **state)
{
    (void)state;
    int64_t w = pk_fg_wait_quiet(200 * MS, 5000 * MS, NULL);
    assert_true(w < 100 * MS);
}

struct query {
    int64_t run_us, end_us;
};

static void *run_query(void *arg)
{
    struct query *q = arg;
    pk_fg_enter();
    sleep_us(q->run_us);
    q->end_us = pk_mono_us(); /* before the leave: the quiet period starts no sooner */
    pk_fg_leave();
    return NULL;
}

/* A query runs 300 ms: a waiter with a 200 ms quiet period returns no sooner
 * than the query's end plus the quiet period, and not much later. */
static void test_waits_for_query_and_quiet(void **state)
{
    (void)state;
    uint64_t started = pk_fg_started();
    struct query q = {300 * MS, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, run_query, &q), 0);
    while (pk_fg_started() == started) /* the query has begun */
        sleep_us(MS);
    int64_t t0 = pk_mono_us();
    int64_t w = pk_fg_wait_quiet(200 * MS, 5000 * MS, NULL);
    int64_t back = pk_mono_us();
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(pk_fg_running(), 0);
    assert_true(back >= q.end_us + 200 * MS); /* the query's end, then 200 ms of quiet */
    assert_true(w >= 200 * MS);
    assert_true(back - t0 < 3000 * MS);
}

/* A query that keeps running: the wait ends at its bound. */
static void test_bounded(void **state)
{
    (void)state;
    pk_fg_enter();
    int64_t w = pk_fg_wait_quiet(100 * MS, 250 * MS, NULL);
    pk_fg_leave();
    assert_true(w >= 250 * MS);
    assert_true(w < 2000 * MS);
}

static atomic_int stop_flag;

static void *set_stop(void *arg)
{
    (void)arg;
    sleep_us(150 * MS);
    atomic_store(&stop_flag, 1);
    return NULL;
}

/* Stopping ends the wait within the poll period, long before the bound. */
static void test_stop(void **state)
{
    (void)state;
    atomic_store(&stop_flag, 0);
    pk_fg_enter();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, set_stop, NULL), 0);
    int64_t w = pk_fg_wait_quiet(100 * MS, 60000 * MS, &stop_flag);
    assert_int_equal(pthread_join(t, NULL), 0);
    pk_fg_leave();
    assert_true(w >= 140 * MS);
    assert_true(w < 2000 * MS);
}

/* pk_fg_quiet: not while a query runs, nor right after one; yes once the
 * quiet period has passed. */
static void test_quiet_now(void **state)
{
    (void)state;
    pk_fg_enter();
    assert_false(pk_fg_quiet(0));
    pk_fg_leave();
    assert_false(pk_fg_quiet(10000 * MS));
    sleep_us(120 * MS);
    assert_true(pk_fg_quiet(100 * MS));
    assert_false(pk_fg_quiet(10000 * MS));
}

/* Overlapping queries: the count follows enter and leave, started counts all. */
static void test_counts(void **state)
{
    (void)state;
    uint64_t s0 = pk_fg_started();
    pk_fg_enter();
    pk_fg_enter();
    assert_int_equal(pk_fg_running(), 2);
    pk_fg_leave();
    assert_int_equal(pk_fg_running(), 1);
    pk_fg_leave();
    assert_int_equal(pk_fg_running(), 0);
    assert_int_equal(pk_fg_started() - s0, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quiet_returns_at_once),
        cmocka_unit_test(test_waits_for_query_and_quiet),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_quiet_now),
        cmocka_unit_test(test_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
