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

#include "result_pool.h"
#include "wire.h"

static struct pk_result sample(uint64_t seq)
{
    struct pk_result r;
    memset(&r, 0, sizeof r);
    r.seq = seq;
    snprintf(r.check_name, sizeof r.check_name, "check-%llu", (unsigned long long)seq);
    strcpy(r.check_type, "http");
    r.started_at_us = 1764000000000000LL + (int64_t)seq;
    r.scheduled_at_us = seq % 2 ? 1764000000000000LL - 30000 : 0; /* 0: an older probe's result */
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
        assert_int_equal(out[i].scheduled_at_us, in[i].scheduled_at_us);
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
    pk_results_free(out, n);
    picket__v1__probe_message__free_unpacked(m, NULL);
}

/* wire_result_from_pb does not zero its struct first: every field must come
 * out the same over memory full of garbage as over zeroed memory (a new field
 * stops the build in wire.c until it is set there and compared here). */
static void decode_sets_every_field_over_garbage(void **state)
{
    (void)state;
    struct pk_result in[2] = {sample(7), sample(8)};
    in[1].n_metrics = 0;
    in[1].message[0] = '\0';
    Picket__V1__ProbeMessage *m = roundtrip(in, 2);
    static struct pk_result zeroed, dirty;
    char err[256];
    for (size_t i = 0; i < 2; i++) {
        memset(&zeroed, 0, sizeof zeroed);
        memset(&dirty, 0xa5, sizeof dirty);
        assert_int_equal(wire_result_from_pb(m->batch->results[i], &zeroed, err, sizeof err), 0);
        assert_int_equal(wire_result_from_pb(m->batch->results[i], &dirty, err, sizeof err), 0);
        assert_int_equal(dirty.seq, zeroed.seq);
        assert_string_equal(dirty.check_name, zeroed.check_name);
        assert_string_equal(dirty.check_type, zeroed.check_type);
        assert_int_equal(dirty.started_at_us, zeroed.started_at_us);
        assert_int_equal(dirty.scheduled_at_us, zeroed.scheduled_at_us);
        assert_int_equal(dirty.outcome, zeroed.outcome);
        assert_int_equal(dirty.error_class, zeroed.error_class);
        assert_string_equal(dirty.message, zeroed.message);
        assert_int_equal(dirty.status_code, zeroed.status_code);
        assert_int_equal(dirty.body_bytes, zeroed.body_bytes);
        assert_int_equal(dirty.dns_us, zeroed.dns_us);
        assert_int_equal(dirty.connect_us, zeroed.connect_us);
        assert_int_equal(dirty.tls_us, zeroed.tls_us);
        assert_int_equal(dirty.ttfb_us, zeroed.ttfb_us);
        assert_int_equal(dirty.total_us, zeroed.total_us);
        assert_int_equal(dirty.n_metrics, zeroed.n_metrics);
        assert_int_equal(dirty.n_metrics, in[i].n_metrics);
        for (int k = 0; k < dirty.n_metrics; k++) {
            assert_string_equal(dirty.metrics[k].name, zeroed.metrics[k].name);
            assert_true(dirty.metrics[k].value == zeroed.metrics[k].value);
        }
        assert_int_equal(dirty.check_id, 0); /* only the collector's stream sets it */
    }
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
    /* names are checked as in Register: no control characters, valid UTF-8 */
    rs[0] = sample(3);
    strcpy(rs[0].check_name, "api\x1b[2J");
    decode_rejects(rs, 1, "check_name: control character 0x1b at byte 3");
    rs[0] = sample(3);
    strcpy(rs[0].check_name, "caf\xff");
    decode_rejects(rs, 1, "check_name: invalid UTF-8");
    rs[0] = sample(3);
    strcpy(rs[0].check_type, "ht\ntp");
    decode_rejects(rs, 1, "check_type: control character 0x0a");
    rs[0] = sample(3);
    rs[0].n_metrics = 1;
    strcpy(rs[0].metrics[0].name, "bell\x07");
    decode_rejects(rs, 1, "metrics[0].name: control character 0x07");
}

/* A failure message is data (a server's header quoted by the probe): it keeps
 * its control characters, which the table printers escape. */
static void decode_keeps_control_characters_in_messages(void **state)
{
    (void)state;
    struct pk_result r = sample(1);
    strcpy(r.message, "X-Evil: \x1b]0;t\x07\r\nrow");
    Picket__V1__ProbeMessage *m = roundtrip(&r, 1);
    struct pk_result *out;
    size_t n;
    char err[256];
    assert_int_equal(wire_decode_batch(m->batch, &out, &n, err, sizeof err), 0);
    assert_string_equal(out[0].message, "X-Evil: \x1b]0;t\x07\r\nrow");
    pk_results_free(out, n);
    picket__v1__probe_message__free_unpacked(m, NULL);
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
    pk_results_free(out, n);
    picket__v1__probe_message__free_unpacked(m, NULL);
}

/* A metric name longer than the struct's field is cut to fit; a character cut
 * in two becomes '?', a name that fits is kept byte for byte. */
static void decode_cuts_long_metric_names_whole(void **state)
{
    (void)state;
    struct pk_result r = sample(1);
    Picket__V1__ProbeMessage *m = roundtrip(&r, 1);
    Picket__V1__Result *pb = m->batch->results[0];
    char *kept[2] = {pb->metrics[0]->name, pb->metrics[1]->name};
    char cut[80], fits[PK_METRIC_NAME_MAX];
    memset(cut, 'a', 62);
    strcpy(cut + 62, "\xc3\xa9-and-more"); /* é at bytes 62-63: the copy keeps 63 bytes */
    memset(fits, 'b', 60);
    strcpy(fits + 60, "\xc3\xa9"); /* 62 bytes: fits */
    pb->metrics[0]->name = cut;
    pb->metrics[1]->name = fits;
    struct pk_result *out;
    size_t n;
    char err[256];
    assert_int_equal(wire_decode_batch(m->batch, &out, &n, err, sizeof err), 0);
    assert_int_equal(strlen(out[0].metrics[0].name), 63);
    assert_memory_equal(out[0].metrics[0].name, cut, 62);
    assert_int_equal(out[0].metrics[0].name[62], '?');
    assert_string_equal(out[0].metrics[1].name, fits);
    pk_results_free(out, n);
    pb->metrics[0]->name = kept[0];
    pb->metrics[1]->name = kept[1];
    picket__v1__probe_message__free_unpacked(m, NULL);
}

/* Bytes that break protobuf's own framing never unpack: the collector sees
 * NULL and drops the stream, whatever the bytes are. */
static void garbage_bytes_do_not_parse(void **state)
{
    (void)state;
    uint8_t junk[64];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    /* Starts with 0x0b: field 1 as a group, a wire type protobuf-c refuses. */
    assert_null(picket__v1__probe_message__unpack(NULL, sizeof junk, junk));

    static const struct {
        const char *why;
        const char *bytes;
        size_t len;
    } broken[] = {
        {"tag varint never ends", "\xff\xff", 2},
        {"wire type 7 does not exist", "\x17", 1},
        {"field number 0", "\x02\x00", 2},
        {"batch claims 100 bytes, has 1", "\x12\x64\x0a", 3},
        {"result inside the batch claims 5 bytes, has 0", "\x12\x02\x0a\x05", 4},
        {"length varint cut short", "\x12\x80", 2},
    };
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        Picket__V1__ProbeMessage *m =
            picket__v1__probe_message__unpack(NULL, broken[i].len, (const uint8_t *)broken[i].bytes);
        if (m) {
            picket__v1__probe_message__free_unpacked(m, NULL);
            fail_msg("unpacked although %s", broken[i].why);
        }
    }
}

/* Well-framed bytes that are not a usable batch unpack, and the batch check
 * refuses them with a reason. */
static void framed_but_empty_batches_are_refused(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t len;
        const char *reason;
    } cases[] = {
        {"\x12\x00", 2, "batch of 0 results"},
        /* One Result with every field at its default: no check name. */
        {"\x12\x02\x0a\x00", 4, "result seq 0: empty check_name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Picket__V1__ProbeMessage *m =
            picket__v1__probe_message__unpack(NULL, cases[i].len, (const uint8_t *)cases[i].bytes);
        assert_non_null(m);
        assert_int_equal(m->kind_case, PICKET__V1__PROBE_MESSAGE__KIND_BATCH);
        struct pk_result *out = NULL;
        size_t n = 0;
        char err[128] = "";
        assert_int_equal(wire_decode_batch(m->batch, &out, &n, err, sizeof err), -1);
        assert_null(out);
        assert_non_null(strstr(err, cases[i].reason));
        picket__v1__probe_message__free_unpacked(m, NULL);
    }
}

/* A metric name with a control character is refused, naming the metric. */
static void bad_metric_name_is_named(void **state)
{
    (void)state;
    struct pk_result r = sample(4);
    strcpy(r.metrics[1].name, "rat\x01io");
    Picket__V1__ProbeMessage *m = roundtrip(&r, 1);
    struct pk_result *out = NULL;
    size_t n = 0;
    char err[256] = "";
    assert_int_equal(wire_decode_batch(m->batch, &out, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "result seq 4: metrics[1].name: control character 0x01 at byte 3"));
    picket__v1__probe_message__free_unpacked(m, NULL);
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
        assert_int_equal(out[i].scheduled_at_us, in[i].scheduled_at_us);
        assert_int_equal(out[i].tls_us, -1);
        assert_int_equal(out[i].n_metrics, in[i].n_metrics);
        free(bodies[i]);
    }
    struct wire_encoded none = {1, NULL, 0};
    uint8_t *b;
    size_t l;
    assert_int_equal(wire_build_batch(&none, 0, &b, &l), -1);
    pk_results_free(out, n);
    free(built);
    free(whole);
    picket__v1__probe_message__free_unpacked(m, NULL);
}

static void check_text_refuses_controls_bad_utf8_and_long(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(wire_check_text("f", "sre'; DROP TABLE probes;--", 64, 1, err, sizeof err), 0);
    assert_int_equal(wire_check_text("f", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 64, 1, err, sizeof err), 0);
    assert_int_equal(wire_check_text("f", "", 64, 0, err, sizeof err), 0);
    assert_int_equal(wire_check_text("labels[0].key", "", 64, 1, err, sizeof err), -1);
    assert_string_equal(err, "labels[0].key: must not be empty");
    assert_int_equal(wire_check_text("probe_name", "a\nlevel=error", 64, 1, err, sizeof err), -1);
    assert_string_equal(err, "probe_name: control character 0x0a at byte 1");
    assert_int_equal(wire_check_text("region", "eu\x7f", 64, 1, err, sizeof err), -1);
    assert_string_equal(err, "region: control character 0x7f at byte 2");
    assert_int_equal(wire_check_text("v", "ok\x1b[31m", 64, 1, err, sizeof err), -1);
    assert_string_equal(err, "v: control character 0x1b at byte 2");
    assert_int_equal(wire_check_text("v", "ab\xff", 64, 1, err, sizeof err), -1);
    assert_string_equal(err, "v: invalid UTF-8 at byte 2");
    assert_int_equal(wire_check_text("v", "\xc0\xaf", 64, 1, err, sizeof err), -1); /* overlong '/' */
    assert_string_equal(err, "v: invalid UTF-8 at byte 0");
    assert_int_equal(wire_check_text("v", "\xed\xa0\x80", 64, 1, err, sizeof err), -1); /* surrogate */
    assert_int_equal(wire_check_text("v", "\xe2\x82", 64, 1, err, sizeof err), -1);     /* truncated */
    assert_int_equal(wire_check_text("v", "abcdef", 5, 1, err, sizeof err), -1);
    assert_string_equal(err, "v: 6 bytes is over the 5-byte limit");
}

static void register_validation_names_the_field(void **state)
{
    (void)state;
    char err[256];
    Picket__V1__Label l0 = PICKET__V1__LABEL__INIT, l1 = PICKET__V1__LABEL__INIT;
    l0.key = "team";
    l0.value = "sre";
    l1.key = "env";
    l1.value = "prod";
    Picket__V1__Label *labels[] = {&l0, &l1};
    Picket__V1__CheckInfo c0 = PICKET__V1__CHECK_INFO__INIT;
    c0.name = "api";
    c0.type = "http";
    c0.target = "http://127.0.0.1/";
    Picket__V1__CheckInfo *checks[] = {&c0};
    Picket__V1__RegisterRequest req = PICKET__V1__REGISTER_REQUEST__INIT;
    req.probe_name = "p1";
    req.region = "eu";
    req.n_labels = 2;
    req.labels = labels;
    req.n_checks = 1;
    req.checks = checks;
    assert_int_equal(wire_validate_register(&req, err, sizeof err), 0);

    l1.value = "prod\r\nx";
    assert_int_equal(wire_validate_register(&req, err, sizeof err), -1);
    assert_string_equal(err, "labels[1].value: control character 0x0d at byte 4");
    l1.value = "prod";
    l1.key = "team";
    assert_int_equal(wire_validate_register(&req, err, sizeof err), -1);
    assert_string_equal(err, "labels[1].key: duplicate of labels[0].key");
    l1.key = "env";
    char long_value[PK_WIRE_MAX_LABEL_BYTES + 2];
    memset(long_value, 'v', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    l0.value = long_value;
    assert_int_equal(wire_validate_register(&req, err, sizeof err), -1);
    assert_string_equal(err, "labels[0].value: 257 bytes is over the 256-byte limit");
    l0.value = "sre";
    c0.name = "api\xfe";
    assert_int_equal(wire_validate_register(&req, err, sizeof err), -1);
    assert_string_equal(err, "checks[0].name: invalid UTF-8 at byte 3");
    c0.name = "api";
    /* A check's labels travel as "key=value" lines: a value with a newline or
     * another control character would split into a forged label. */
    c0.labels = "env=prod\nteam=sre";
    assert_int_equal(wire_validate_register(&req, err, sizeof err), 0);
    c0.labels = "env=prod\nteam=sre\rx";
    assert_int_equal(wire_validate_register(&req, err, sizeof err), -1);
    assert_string_equal(err, "checks[0].labels: line 2 value: control character 0x0d at byte 3");
    c0.labels = "env=prod\n\nteam=sre";
    assert_int_equal(wire_validate_register(&req, err, sizeof err), -1);
    assert_string_equal(err, "checks[0].labels: line 2 is not key=value with a key of [A-Za-z_][A-Za-z0-9_]*");
    c0.labels = "team name=sre";
    assert_int_equal(wire_validate_register(&req, err, sizeof err), -1);
    assert_string_equal(err, "checks[0].labels: line 1 is not key=value with a key of [A-Za-z_][A-Za-z0-9_]*");
    c0.labels = "";
    req.probe_name = "";
    assert_int_equal(wire_validate_register(&req, err, sizeof err), -1);
    assert_string_equal(err, "probe_name: must not be empty");
    req.probe_name = "p1";
    req.n_labels = PK_WIRE_MAX_LABELS + 1;
    assert_int_equal(wire_validate_register(&req, err, sizeof err), -1);
    assert_string_equal(err, "labels: 65 labels is over the limit of 64");
}

/* Check names are results' keys within a probe: the same name twice is refused,
 * naming both places, whatever lies between them. */
static void register_refuses_a_check_name_twice(void **state)
{
    (void)state;
    char err[256];
    const char *names[] = {"web", "api", "db", "cache", "queue"};
    Picket__V1__CheckInfo c[5];
    Picket__V1__CheckInfo *checks[5];
    for (int i = 0; i < 5; i++) {
        picket__v1__check_info__init(&c[i]);
        c[i].name = (char *)names[i];
        c[i].type = "http";
        checks[i] = &c[i];
    }
    Picket__V1__RegisterRequest req = PICKET__V1__REGISTER_REQUEST__INIT;
    req.probe_name = "p1";
    req.n_checks = 5;
    req.checks = checks;
    assert_int_equal(wire_validate_register(&req, err, sizeof err), 0);
    c[4].name = "api";
    assert_int_equal(wire_validate_register(&req, err, sizeof err), -1);
    assert_string_equal(err, "checks[4].name: duplicate of checks[1].name (api)");
    c[4].name = "queue";
    c[0].name = "db"; /* the same name, another type: still the same key */
    c[0].type = "tcp";
    assert_int_equal(wire_validate_register(&req, err, sizeof err), -1);
    assert_string_equal(err, "checks[2].name: duplicate of checks[0].name (db)");
}

static void nul_in_any_string_is_found_before_unpacking(void **state)
{
    (void)state;
    char err[256];
    Picket__V1__Label l0 = PICKET__V1__LABEL__INIT;
    l0.key = "team";
    l0.value = "sre";
    Picket__V1__Label *labels[] = {&l0};
    Picket__V1__RegisterRequest req = PICKET__V1__REGISTER_REQUEST__INIT;
    req.probe_name = "p1";
    req.n_labels = 1;
    req.labels = labels;
    req.probe_time_us = 1764000000000000LL;
    uint8_t *buf;
    size_t len;
    assert_int_equal(wire_pack(&req.base, &buf, &len), 0);
    assert_int_equal(wire_find_nul(&picket__v1__register_request__descriptor, buf, len, err, sizeof err), 0);
    uint8_t *t = memmem(buf, len, "team", 4);
    assert_non_null(t);
    t[2] = 0; /* "te\0m": protobuf-c would hand back "te" */
    assert_int_equal(wire_find_nul(&picket__v1__register_request__descriptor, buf, len, err, sizeof err), -1);
    assert_string_equal(err, "labels.key: control character 0x00 (NUL)");
    t = memmem(buf, len, "p1", 2);
    t[1] = 0;
    assert_int_equal(wire_find_nul(&picket__v1__register_request__descriptor, buf, len, err, sizeof err), -1);
    assert_string_equal(err, "probe_name: control character 0x00 (NUL)");
    /* Truncated or garbage input is left to the unpacker. */
    t[1] = '1';
    t = memmem(buf, len, "te", 2);
    t[2] = 'a';
    assert_int_equal(wire_find_nul(&picket__v1__register_request__descriptor, buf, len - 3, err, sizeof err), 0);
    assert_int_equal(wire_find_nul(&picket__v1__register_request__descriptor, (const uint8_t *)"\xff\xff", 2, err,
                                   sizeof err), 0);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batch_roundtrip_keeps_every_field),
        cmocka_unit_test(decode_sets_every_field_over_garbage),
        cmocka_unit_test(encode_refuses_empty_and_oversized_batches),
        cmocka_unit_test(decode_rejects_bad_batches),
        cmocka_unit_test(decode_sanitizes_invalid_utf8),
        cmocka_unit_test(decode_cuts_long_metric_names_whole),
        cmocka_unit_test(decode_keeps_control_characters_in_messages),
        cmocka_unit_test(garbage_bytes_do_not_parse),
        cmocka_unit_test(framed_but_empty_batches_are_refused),
        cmocka_unit_test(bad_metric_name_is_named),
        cmocka_unit_test(built_batch_equals_encoded_batch),
        cmocka_unit_test(check_text_refuses_controls_bad_utf8_and_long),
        cmocka_unit_test(register_validation_names_the_field),
        cmocka_unit_test(register_refuses_a_check_name_twice),
        cmocka_unit_test(nul_in_any_string_is_found_before_unpacking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
