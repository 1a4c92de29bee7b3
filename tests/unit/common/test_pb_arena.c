/* test_pb_arena.c: common/pb_arena.c. A batch unpacked into the arena decodes
 * like one unpacked with malloc; after a reset the arena keeps one block that
 * holds the next message of that size whole (no further block), and never
 * more than its bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pb_arena.h"
#include "result_pool.h"
#include "wire.h"

enum { N = 1000 };

static uint8_t *encoded_batch(size_t *len)
{
    static struct pk_result rs[N];
    for (size_t i = 0; i < N; i++) {
        memset(&rs[i], 0, sizeof rs[i]);
        rs[i].seq = i + 1;
        snprintf(rs[i].check_name, sizeof rs[i].check_name, "check-%zu", i % 10);
        strcpy(rs[i].check_type, "http");
        rs[i].started_at_us = 1764000000000000LL + (int64_t)i;
        rs[i].outcome = PK_OUTCOME_OK;
        rs[i].total_us = (int64_t)i;
        rs[i].n_metrics = 1;
        strcpy(rs[i].metrics[0].name, "bytes");
        rs[i].metrics[0].value = (double)i;
    }
    uint8_t *buf;
    assert_int_equal(wire_encode_batch(rs, N, &buf, len), 0);
    return buf;
}

static void decode(Picket__V1__ProbeMessage *m)
{
    assert_non_null(m);
    struct pk_result *out;
    size_t n;
    char err[256];
    assert_int_equal(wire_decode_batch(m->batch, &out, &n, err, sizeof err), 0);
    assert_int_equal(n, N);
    assert_string_equal(out[N - 1].check_name, "check-9");
    assert_int_equal(out[N - 1].total_us, N - 1);
    assert_true(out[7].metrics[0].value == 7.0);
    pk_results_free(out, n);
}

static void batch_in_an_arena(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = encoded_batch(&len);
    struct pb_arena *a = pb_arena_new();
    assert_non_null(a);
    Picket__V1__ProbeMessage *m = picket__v1__probe_message__unpack(pb_arena_allocator(a), len, buf);
    decode(m);
    size_t first = pb_arena_held(a);
    assert_true(first > 0);
    pb_arena_reset(a); /* one block, sized for the message, is kept */
    size_t kept = pb_arena_held(a);
    assert_true(kept > 0 && kept <= first);
    for (int round = 0; round < 3; round++) {
        m = picket__v1__probe_message__unpack(pb_arena_allocator(a), len, buf);
        decode(m);
        assert_int_equal(pb_arena_held(a), kept); /* it fit: no new block */
        pb_arena_reset(a);
    }
    /* a malformed message leaves nothing behind after the reset */
    buf[len / 2] ^= 0xff;
    buf[len / 2 + 1] ^= 0xff;
    (void)picket__v1__probe_message__unpack(pb_arena_allocator(a), len, buf);
    pb_arena_reset(a);
    assert_true(pb_arena_held(a) <= (size_t)8 * 1024 * 1024);
    pb_arena_free(a);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batch_in_an_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
