/* test_track_queue.c: collector/track_queue.c, what the writers hand the
 * tracker thread: a check's times merge into one span per 10-minute slice, so
 * results far apart in time (a probe replaying its spool behind the others)
 * are folded as separate spans rather than one span over everything between. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "track_queue.h"

#define MIN_US (INT64_C(60) * 1000000)
#define T0 (INT64_C(1764892800) * 1000000) /* a slice boundary (multiple of 600 s) */

static void add(struct track_queue *q, const char *check, int64_t t)
{
    struct pk_result r;
    memset(&r, 0, sizeof r);
    pk_strlcpy(r.check_name, check, sizeof r.check_name);
    r.scheduled_at_us = t;
    r.started_at_us = t + 1000;
    struct store_batch b = {1, &r, 1, 0, 0};
    assert_int_equal(track_queue_add(q, &b, 1), 0);
}

static const struct store_track_span *find(const struct store_track_span *v, size_t n, const char *check,
                                           int64_t t_min)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].check, check) == 0 && v[i].t_min == t_min)
            return &v[i];
    return NULL;
}

static void slices_keep_far_times_apart(void **state)
{
    (void)state;
    struct track_queue *q = track_queue_new();
    assert_non_null(q);
    add(q, "a", T0 + 1 * MIN_US);
    add(q, "a", T0 + 3 * MIN_US);     /* same slice: merges */
    add(q, "a", T0 + 125 * MIN_US);   /* two hours on: a span of its own */
    add(q, "a", T0 + 126 * MIN_US);
    add(q, "b", T0 + 2 * MIN_US);     /* another check: its own */
    add(q, "a", T0 - 1 * MIN_US);     /* the slice before T0 */
    assert_int_equal(track_queue_size(q), 4);
    struct store_track_span *v = NULL;
    size_t n = track_queue_take(q, 0, &v);
    assert_int_equal(n, 4);
    const struct store_track_span *s = find(v, n, "a", T0 + MIN_US);
    assert_non_null(s);
    assert_int_equal(s->t_max, T0 + 3 * MIN_US);
    s = find(v, n, "a", T0 + 125 * MIN_US);
    assert_non_null(s);
    assert_int_equal(s->t_max, T0 + 126 * MIN_US);
    assert_non_null(find(v, n, "b", T0 + 2 * MIN_US));
    s = find(v, n, "a", T0 - MIN_US);
    assert_non_null(s);
    assert_int_equal(s->t_max, T0 - MIN_US);

    /* Spans that could not be folded go back in whole, and merge again. */
    assert_int_equal(track_queue_put_back(q, v, n), 0);
    track_queue_done(q);
    free(v);
    add(q, "a", T0 + 5 * MIN_US);
    v = NULL;
    n = track_queue_take(q, 0, &v);
    assert_int_equal(n, 4);
    s = find(v, n, "a", T0 + MIN_US);
    assert_non_null(s);
    assert_int_equal(s->t_max, T0 + 5 * MIN_US);
    track_queue_done(q);
    free(v);
    assert_int_equal(track_queue_size(q), 0);
    track_queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(slices_keep_far_times_apart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
