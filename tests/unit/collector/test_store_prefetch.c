/* test_store_prefetch.c: collector/store/prefetch.c against a real, fresh
 * PostgreSQL (PICKET_TEST_PG_URL, from tests/integration/pgharness.py; FAILS
 * without it): without pg_prewarm nothing is done; with it every listed table
 * and its indexes are read ahead while they fit in the budget, a relation too
 * large is skipped and the smaller ones after it are still taken (empty
 * ones are not counted). The sizes
 * expected are read by the test's own statement over pg_class. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "pgtest.h"
#include "store.h"

/* The listed tables as a SQL array literal. */
static void tables_sql(char *out, size_t len)
{
    size_t k = (size_t)snprintf(out, len, "ARRAY[");
    for (size_t i = 0; i < store_prefetch_tables_n && k < len; i++)
        k += (size_t)snprintf(out + k, len - k, "%s'%s'", i ? "," : "", store_prefetch_tables[i]);
    snprintf(out + k, len - k, "]");
}

/* agg (an aggregate over c, a pg_class row) over the listed tables' main
 * forks and all their indexes that are not empty. */
static int64_t listed(const char *agg)
{
    char tables[1024];
    tables_sql(tables, sizeof tables);
    return pgt_sql_int("SELECT %s FROM pg_class c WHERE (c.relname = ANY(%s) AND c.relkind = 'r' OR c.oid IN "
                       "(SELECT indexrelid FROM pg_index WHERE indrelid::regclass::text = ANY(%s))) "
                       "AND pg_relation_size(c.oid) > 0",
                       agg, tables, tables);
}

#define listed_bytes() listed("coalesce(sum(pg_relation_size(c.oid)), 0)")
#define listed_count() listed("count(*)")

static void prefetch_within_budget(void **state)
{
    struct store *s = pgt_live(state, "test_store_prefetch");
    char err[512], why[600], out[64];
    int applied = 0;
    struct store_prefetch_stats ps;
    if (store_migrate(s, &applied, err, sizeof err) != 0)
        fail_msg("migrate: %s", err);

    /* No extension: nothing done, and said so. */
    pgt_sql(out, sizeof out, "DROP EXTENSION IF EXISTS pg_prewarm");
    assert_int_equal(store_prefetch(s, INT64_C(1) << 40, &ps, err, sizeof err), 0);
    assert_int_equal(ps.installed, 0);
    assert_int_equal(ps.relations, 0);
    assert_true(ps.bytes == 0);

    assert_int_equal(store_prefetch_install(s, why, sizeof why), 0);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM pg_extension WHERE extname = 'pg_prewarm'"), 1);
    assert_int_equal(store_prefetch_install(s, why, sizeof why), 0); /* again: IF NOT EXISTS */

    /* checks' heap made larger than every other listed relation together. */
    pgt_sql(out, sizeof out,
            "INSERT INTO checks (name, type, target) SELECT 'c' || g, 'http', repeat('x', 1500) "
            "FROM generate_series(1, 3000) g");
    int64_t heap = pgt_sql_int("SELECT pg_relation_size('checks')");
    int64_t all = listed_bytes();
    assert_true(heap > all - heap);

    /* A budget of 0: nothing. */
    assert_int_equal(store_prefetch(s, 0, &ps, err, sizeof err), 0);
    assert_int_equal(ps.installed, 1);
    assert_int_equal(ps.relations, 0);

    /* Room for all. */
    assert_int_equal(store_prefetch(s, INT64_C(1) << 40, &ps, err, sizeof err), 0);
    assert_int_equal(ps.installed, 1);
    assert_int_equal(ps.relations, (int)listed_count());
    assert_true(ps.bytes == all);
    assert_int_equal(ps.skipped, 0);
    assert_int_equal(ps.failed, 0);

    /* Room for all but checks' heap, which comes first: it is skipped, the rest taken. */
    assert_int_equal(store_prefetch(s, all - heap, &ps, err, sizeof err), 0);
    assert_int_equal(ps.relations, (int)listed_count() - 1);
    assert_int_equal(ps.skipped, 1);
    assert_true(ps.skipped_bytes == heap);
    assert_true(ps.bytes == all - heap);

    /* One byte less: something else is left out too, and nothing taken passes the budget. */
    assert_int_equal(store_prefetch(s, all - heap - 1, &ps, err, sizeof err), 0);
    assert_true(ps.skipped >= 2);
    assert_true(ps.bytes <= all - heap - 1);
    assert_true(ps.bytes + ps.skipped_bytes == all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(prefetch_within_budget),
    };
    return cmocka_run_group_tests_name("store prefetch with PostgreSQL", tests, pgt_open_state, pgt_close_state) ? 1
                                                                                                               : 0;
}
