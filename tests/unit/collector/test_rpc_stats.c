/* Unit tests for collector/rpc_stats.c: each counter lands in its own field of
 * rpc_server_get_stats, non-OK statuses are counted by code (OK and codes out of
 * range are not), and the probes' spool table keeps one row per probe, updated
 * in place and bounded. The counters are process-wide, so tests compare deltas. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rpc_int.h"

static void test_counters_land_in_their_fields(void **state)
{
    (void)state;
    struct rpc_server_stats before, after;
    rpc_server_get_stats(&before);
    /* Distinct amounts, so a counter read from the wrong field shows. */
    rpc_stat_add(RPC_STAT_STREAMS_TOTAL, 1);
    rpc_stat_add(RPC_STAT_BATCHES, 2);
    rpc_stat_add(RPC_STAT_RESULTS, 3);
    rpc_stat_add(RPC_STAT_REJECTED, 4);
    rpc_stat_add(RPC_STAT_REGISTERS, 5);
    rpc_stat_add(RPC_STAT_QUERIES, 6);
    rpc_stat_add(RPC_STAT_PAUSED, 7);
    rpc_stat_add(RPC_STAT_AUTH_DENIED, 8);
    rpc_stat_streams_open(3);
    rpc_stat_streams_open(-1);
    rpc_server_get_stats(&after);
    assert_int_equal(after.streams_total - before.streams_total, 1);
    assert_int_equal(after.batches_received - before.batches_received, 2);
    assert_int_equal(after.results_received - before.results_received, 3);
    assert_int_equal(after.streams_rejected - before.streams_rejected, 4);
    assert_int_equal(after.registers - before.registers, 5);
    assert_int_equal(after.queries - before.queries, 6);
    assert_int_equal(after.paused_reads - before.paused_reads, 7);
    assert_int_equal(after.auth_denied - before.auth_denied, 8);
    assert_int_equal(after.streams_open - before.streams_open, 2);
}

static void test_status_codes(void **state)
{
    (void)state;
    struct rpc_server_stats before, after;
    rpc_server_get_stats(&before);
    rpc_stat_status(GRPC_STATUS_OK);
    rpc_stat_status(GRPC_STATUS_UNAVAILABLE);
    rpc_stat_status(GRPC_STATUS_UNAVAILABLE);
    rpc_stat_status(GRPC_STATUS_UNAUTHENTICATED);
    rpc_stat_status((grpc_status_code)RPC_STATUS_CODES); /* out of range: ignored */
    rpc_stat_status((grpc_status_code)-1);
    rpc_server_get_stats(&after);
    for (int code = 0; code < RPC_STATUS_CODES; code++) {
        unsigned long long want = code == GRPC_STATUS_UNAVAILABLE ? 2 : code == GRPC_STATUS_UNAUTHENTICATED ? 1 : 0;
        assert_int_equal(after.status_errors[code] - before.status_errors[code], want);
    }
}

static void heartbeat(int64_t probe_id, const char *name, uint64_t pending, uint64_t dropped, uint64_t bytes)
{
    Picket__V1__Heartbeat hb = PICKET__V1__HEARTBEAT__INIT;
    hb.pending_results = pending;
    hb.dropped_results = dropped;
    hb.spool_bytes = bytes;
    rpc_stat_heartbeat(probe_id, name, &hb);
}

/* Runs last: it fills the table. */
static void test_probe_table(void **state)
{
    (void)state;
    enum { MAX = 4096 }; /* the table's bound in rpc_stats.c */
    static struct probe_spool_metric rows[MAX + 10];
    assert_int_equal(rpc_server_probe_metrics(rows, MAX + 10), 0);

    heartbeat(7, "edge-1", 1, 2, 3);
    heartbeat(9, "edge-2", 4, 5, 6);
    heartbeat(7, "renamed", 10, 20, 30); /* the same probe: updated in place, name kept */
    assert_int_equal(rpc_server_probe_metrics(rows, MAX + 10), 2);
    assert_int_equal(rows[0].probe_id, 7);
    assert_string_equal(rows[0].name, "edge-1");
    assert_int_equal(rows[0].pending, 10);
    assert_int_equal(rows[0].dropped, 20);
    assert_int_equal(rows[0].spool_bytes, 30);
    assert_int_equal(rows[1].probe_id, 9);
    assert_string_equal(rows[1].name, "edge-2");
    assert_int_equal(rows[1].spool_bytes, 6);

    /* At most max rows are copied. */
    assert_int_equal(rpc_server_probe_metrics(rows, 1), 1);
    assert_int_equal(rows[0].probe_id, 7);

    /* Bounded: probes past the bound are not remembered, known ones still update. */
    for (int64_t id = 100; id < 100 + MAX + 5; id++)
        heartbeat(id, "many", 1, 1, 1);
    heartbeat(9, "edge-2", 44, 0, 0);
    size_t n = rpc_server_probe_metrics(rows, MAX + 10);
    assert_int_equal(n, MAX);
    assert_int_equal(rows[1].probe_id, 9);
    assert_int_equal(rows[1].pending, 44);
    assert_int_equal(rows[MAX - 1].probe_id, 100 + MAX - 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_land_in_their_fields),
        cmocka_unit_test(test_status_codes),
        cmocka_unit_test(test_probe_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
