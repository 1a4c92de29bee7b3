/* test_wire.c: batches survive the trip through protobuf field by field, and
 * every malformed batch the collector could receive is refused with a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "wire.h"

static struct pk_result sample(uint64_t seq)
{
    struct pk_result r;
    memset(&r, 0, sizeof r);
    r.seq = seq;
    snprintf(r.check_name, sizeof r.check_name, "check-%llu", (unsigned long long)seq);
    strcpy(r.check_type, "http");
    r.started_at_us = 1764000000000000LL + (int64_t)seq;
    r.outcome = PK_OUTCOME_FAILED;
    r.error_class = PK_ERR_HTTP;
    strcpy(r.message, "status 503, expected 200");
    r.status_code = 503;
    r.body_bytes = 1234;
    r.dns_us = 10;
    r.connect_us = 20;
    r.tls_us = -1;
    r.ttfb_us = 400;
    r.total_us = 450;
    r.n_metrics = 2;
    strcpy(r.metrics[0].name, "sources");
    r.metrics[0].value = 2;
    strcpy(r.metrics[1].name, "ratio");
    r.metrics[1].value = 0.25;
    return r;
}

static Picket__V1__ProbeMessage *roundtrip(const struct pk_result *rs, size_t n)
{
    uint8_t *buf;
    size_t len;
    assert_int_equal(wire_encode_batch(rs, n, &buf, &len), 0);
    Picket__V1__ProbeMessage *m = picket__v1__probe_message__unpack(NULL, len, buf);
    free(buf);
    assert_non_null(m);
    assert_int_equal(m->kind_case, PICKET__V1__PROBE_MESSAGE__KIND_BATCH);
    return m;
}

static void batch_roundtrip_keeps_every_field(void **state)
{
    (void)state;
    struct pk_result in[3] = {sample(7), sample(8), sample(9)};
    in[1].n_metrics = 0;
    Picket__V1__ProbeMessage *m = roundtrip(in, 3);
    struct pk_result *out;
    size_t n;
    char err[256];
    assert_int_equal(wire_decode_batch(m->batch, &out, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(out[i].seq, in[i].seq);
        assert_string_equal(out[i].check_name, in[i].check_name);
        assert_string_equal(out[i].check_type, "http");
        assert_int_equal(out[i].started_at_us, in[i].started_at_us);
        assert_int_equal(out[i].outcome, PK_OUTCOME_FAILED);
        assert_int_equal(out[i].error_class, PK_ERR_HTTP);
        assert_string_equal(out[i].message, in[i].message);
        assert_int_equal(out[i].status_code, 503);
        assert_int_equal(out[i].body_bytes, 1234);
        assert_int_equal(out[i].dns_us, 10);
        assert_int_equal(out[i].connect_us, 20);
        assert_int_equal(out[i].tls_us, -1);
        assert_int_equal(out[i].ttfb_us, 400);
        assert_int_equal(out[i].total_us, 450);
        assert_int_equal(out[i].n_metrics, in[i].n_metrics);
    }
    assert_string_equal(out[0].metrics[1].name, "ratio");
    assert_true(out[0].metrics[1].value == 0.25);
    free(out);
    picket__v1__probe_message__free_unpacked(m, NULL);
}

static void encode_refuses_empty_and_oversized_batches(void **state)
{
    (void)state;
    uint8_t *buf;
    size_t len;
    struct pk_result r = sample(1);
    assert_int_equal(wire_encode_batch(&r, 0, &buf, &len), -1);
    struct pk_result *many = calloc(PK_WIRE_MAX_BATCH + 1, sizeof *many);
    for (size_t i = 0; i <= PK_WIRE_MAX_BATCH; i++)
        many[i] = sample(i + 1);
    assert_int_equal(wire_encode_batch(many, PK_WIRE_MAX_BATCH + 1, &buf, &len), -1);
    assert_int_equal(wire_encode_batch(many, PK_WIRE_MAX_BATCH, &buf, &len), 0);
    assert_true(len < PK_WIRE_MAX_MESSAGE);
    free(buf);
    free(many);
}

static void decode_rejects(struct pk_result *rs, size_t n, const char *expect)
{
    Picket__V1__ProbeMessage *m = roundtrip(rs, n);
    struct pk_result *out = NULL;
    size_t got = 0;
    char err[256] = "";
    assert_int_equal(wire_decode_batch(m->batch, &out, &got, err, sizeof err), -1);
    assert_null(out);
    if (!strstr(err, expect))
        fail_msg("error '%s' does not mention '%s'", err, expect);
    picket__v1__probe_message__free_unpacked(m, NULL);
}

static void decode_rejects_bad_batches(void **state)
{
    (void)state;
    struct pk_result rs[2] = {sample(5), sample(5)};
    decode_rejects(rs, 2, "do not increase");
    rs[1] = sample(4);
    decode_rejects(rs, 2, "do not increase");
    rs[0] = sample(0);
    decode_rejects(rs, 1, "out of range");
    rs[0] = sample(UINT64_MAX);
    decode_rejects(rs, 1, "out of range");
    rs[0] = sample(3);
    rs[0].check_name[0] = '\0';
    decode_rejects(rs, 1, "empty check_name");
    rs[0] = sample(3);
    rs[0].outcome = 9;
    decode_rejects(rs, 1, "outcome");
    rs[0] = sample(3);
    rs[0].status_code = 1000;
    decode_rejects(rs, 1, "status");
    rs[0] = sample(3);
    rs[0].started_at_us = -5;
    decode_rejects(rs, 1, "plausible time");
    rs[0].started_at_us = 9000000000000000000LL;
    decode_rejects(rs, 1, "plausible time");
}

static void decode_sanitizes_invalid_utf8(void **state)
{
    (void)state;
    struct pk_result r = sample(1);
    strcpy(r.message, "bad \xff\xfe byte and \xe2\x82 cut, fine \xc3\xa9");
    Picket__V1__ProbeMessage *m = roundtrip(&r, 1);
    struct pk_result *out;
    size_t n;
    char err[256];
    assert_int_equal(wire_decode_batch(m->batch, &out, &n, err, sizeof err), 0);
    assert_string_equal(out[0].message, "bad ?? byte and ?? cut, fine \xc3\xa9");
    free(out);
    picket__v1__probe_message__free_unpacked(m, NULL);
}

static void garbage_bytes_do_not_parse(void **state)
{
    (void)state;
    uint8_t junk[64];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    Picket__V1__ProbeMessage *m = picket__v1__probe_message__unpack(NULL, sizeof junk, junk);
    if (m) {
        /* If protobuf accepts it, it must at least not be a usable batch. */
        if (m->kind_case == PICKET__V1__PROBE_MESSAGE__KIND_BATCH) {
            struct pk_result *out = NULL;
            size_t n;
            char err[128];
            if (wire_decode_batch(m->batch, &out, &n, err, sizeof err) == 0)
                free(out);
        }
        picket__v1__probe_message__free_unpacked(m, NULL);
    }
}

/* Results encoded without a sequence and numbered when the batch is built come
 * out exactly like results encoded whole, including sequences past one varint byte. */
static void built_batch_equals_encoded_batch(void **state)
{
    (void)state;
    uint64_t seqs[3] = {1, 300, 1ull << 40};
    struct pk_result in[3] = {sample(1), sample(2), sample(3)};
    in[2].n_metrics = 0;
    struct wire_encoded items[3];
    uint8_t *bodies[3];
    for (int i = 0; i < 3; i++) {
        size_t len;
        assert_int_equal(wire_encode_result_unsequenced(&in[i], &bodies[i], &len), 0);
        items[i] = (struct wire_encoded){seqs[i], bodies[i], len};
        in[i].seq = seqs[i];
    }
    uint8_t *built, *whole;
    size_t built_len, whole_len;
    assert_int_equal(wire_build_batch(items, 3, &built, &built_len), 0);
    assert_int_equal(wire_encode_batch(in, 3, &whole, &whole_len), 0);
    assert_int_equal(built_len, whole_len);
    Picket__V1__ProbeMessage *m = picket__v1__probe_message__unpack(NULL, built_len, built);
    assert_non_null(m);
    assert_int_equal(m->kind_case, PICKET__V1__PROBE_MESSAGE__KIND_BATCH);
    struct pk_result *out;
    size_t n;
    char err[256];
    assert_int_equal(wire_decode_batch(m->batch, &out, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(out[i].seq, seqs[i]);
        assert_string_equal(out[i].check_name, in[i].check_name);
        assert_string_equal(out[i].message, in[i].message);
        assert_int_equal(out[i].total_us, in[i].total_us);
        assert_int_equal(out[i].tls_us, -1);
        assert_int_equal(out[i].n_metrics, in[i].n_metrics);
        free(bodies[i]);
    }
    struct wire_encoded none = {1, NULL, 0};
    uint8_t *b;
    size_t l;
    assert_int_equal(wire_build_batch(&none, 0, &b, &l), -1);
    free(out);
    free(built);
    free(whole);
    picket__v1__probe_message__free_unpacked(m, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batch_roundtrip_keeps_every_field),
        cmocka_unit_test(encode_refuses_empty_and_oversized_batches),
        cmocka_unit_test(decode_rejects_bad_batches),
        cmocka_unit_test(decode_sanitizes_invalid_utf8),
        cmocka_unit_test(garbage_bytes_do_not_parse),
        cmocka_unit_test(built_batch_equals_encoded_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
