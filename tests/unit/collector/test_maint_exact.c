/* test_maint_exact.c: collector/maint_exact.c's recount of the minute a
 * maintenance window starts in, against a real, fresh PostgreSQL
 * (PICKET_TEST_PG_URL, from tests/integration/pgharness.py; FAILS without it).
 *
 * The SLO reads the minute's rollup counts, then the minute's raw results by
 * round: the rounds before the window's start stay, those after leave. Results
 * keep arriving in the current minute, so the raw read may hold a result the
 * rollup read did not: that is not a minute whose raw results are gone, and
 * its failures after the start must not come back into the SLO (a CI run of
 * test_dashboard_pages once saw "overspent 5.0x" on a check in maintenance).
 * A minute whose raw results are fewer than its rollup's (retention) keeps the
 * minute rule. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "maint_apply.h"
#include "pgtest.h"
#include "result.h"
#include "store.h"

#define MIN_US INT64_C(60000000)

static int64_t minute_us; /* the edge minute: the window starts 30 s into it */
static struct store_check_meta *meta;
static size_t n_meta;
static struct maint_window win;

static void setup(void **state)
{
    struct store *s = pgt_live(state, "test_maint_exact");
    char err[512];
    int applied = 0;
    if (store_migrate(s, &applied, err, sizeof err) != 0)
        fail_msg("migrate: %s", err);
    int64_t probe = pgt_register_probe(s, "pa", "r1");
    minute_us = ((int64_t)time(NULL) * 1000000 / MIN_US - 10) * MIN_US;
    /* ten rounds 6 s apart: five ok before the window's start, five failed from it */
    struct pk_result rs[10];
    for (int i = 0; i < 10; i++)
        pgt_http_result(&rs[i], (uint64_t)i + 1, "c1", minute_us + i * INT64_C(6000000),
                        i < 5 ? PK_OUTCOME_OK : PK_OUTCOME_FAILED, 1000);
    pgt_write_results(s, probe, rs, 10);
    if (store_check_meta(s, &meta, &n_meta, err, sizeof err) != 0 || n_meta != 1)
        fail_msg("check meta: %s (%zu checks)", err, n_meta);
    memset(&win, 0, sizeof win);
    win.kind = MAINT_ONCE;
    strcpy(win.name, "upgrade");
    win.start_us = minute_us + 30 * INT64_C(1000000);
    win.end_us = win.start_us + 60 * MIN_US;
    strcpy(win.targets[0], "c1");
    win.n_targets = 1;
}

/* What stays of the edge minute (counts ok, failed as the rollup read them)
 * and of the next one (ten failed, wholly inside): *ok and *failed kept. */
static size_t kept_of(struct store *s, uint64_t ok, uint64_t failed, uint64_t *k_ok, uint64_t *k_failed)
{
    char err[512];
    struct pk_an_bucket b[2] = {
        {.start_us = minute_us, .width_us = MIN_US, .n = {ok, 0, failed, 0}},
        {.start_us = minute_us + MIN_US, .width_us = MIN_US, .n = {0, 0, 10, 0}},
    };
    struct pk_an_bucket *kept = NULL;
    size_t n_kept = 0;
    if (maint_exact_minutes(s, &win, 1, &meta[0], NULL, minute_us, minute_us + 2 * MIN_US, b, 2, &kept, &n_kept,
                            err, sizeof err) != 0)
        fail_msg("maint_exact_minutes: %s", err);
    *k_ok = *k_failed = 0;
    for (size_t i = 0; i < n_kept; i++) {
        *k_ok += kept[i].n.ok;
        *k_failed += kept[i].n.failed;
    }
    free(kept);
    return n_kept;
}

static void edge_minute_recounted(void **state)
{
    struct store *s = pgt_live(state, "test_maint_exact");
    uint64_t ok, failed;
    setup(state);

    /* the rollup read what the raw read holds: the five rounds before the start stay */
    assert_int_equal(kept_of(s, 5, 5, &ok, &failed), 1);
    assert_int_equal(ok, 5);
    assert_int_equal(failed, 0);

    /* the rollup read before the last result came: the same */
    assert_int_equal(kept_of(s, 5, 4, &ok, &failed), 1);
    assert_int_equal(ok, 5);
    assert_int_equal(failed, 0);

    /* raw results fewer than the rollup's (some gone): the minute rule keeps
     * the minute whole (it starts before the window) */
    assert_int_equal(kept_of(s, 5, 6, &ok, &failed), 1);
    assert_int_equal(ok, 5);
    assert_int_equal(failed, 6);
    free(meta);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(edge_minute_recounted),
    };
    return cmocka_run_group_tests_name("maintenance edge minutes with PostgreSQL", tests, pgt_open_state,
                                       pgt_close_state)
               ? 1
               : 0;
}
