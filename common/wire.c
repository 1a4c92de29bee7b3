/* wire.c: pk_result <-> picket.v1 protobuf messages, with the validation every
 * decoded message gets before anything else trusts it. Owns only the buffers it
 * returns, which the caller frees. */
#include "wire.h"
#include "buf.h"
#include "check_meta.h"
#include "result_pool.h"
#include "typed_sort.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int wire_pack(const ProtobufCMessage *msg, uint8_t **buf, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        return -1;
    protobuf_c_message_pack(msg, b);
    *buf = b;
    *len = n;
    return 0;
}

/* Points pb's fields into r (no copies); metric storage is the caller's, room for
 * PK_MAX_METRICS. Returns how many metrics it used. */
static int fill_result(const struct pk_result *r, Picket__V1__Result *pb, Picket__V1__Metric *metrics,
                       Picket__V1__Metric **metric_ptrs)
{
    picket__v1__result__init(pb);
    pb->sequence = r->seq;
    pb->check_name = (char *)r->check_name;
    pb->check_type = (char *)r->check_type;
    pb->started_at_us = r->started_at_us;
    pb->scheduled_at_us = r->scheduled_at_us;
    pb->outcome = (Picket__V1__Outcome)r->outcome;
    pb->error_class = (Picket__V1__ErrorClass)r->error_class;
    pb->message = (char *)r->message;
    pb->status_code = r->status_code;
    pb->body_bytes = r->body_bytes;
    pb->dns_us = r->dns_us;
    pb->connect_us = r->connect_us;
    pb->tls_us = r->tls_us;
    pb->ttfb_us = r->ttfb_us;
    pb->total_us = r->total_us;
    int k = r->n_metrics < 0 ? 0 : r->n_metrics > PK_MAX_METRICS ? PK_MAX_METRICS : r->n_metrics;
    pb->n_metrics = (size_t)k;
    pb->metrics = k ? metric_ptrs : NULL;
    for (int j = 0; j < k; j++) {
        picket__v1__metric__init(&metrics[j]);
        metrics[j].name = (char *)r->metrics[j].name;
        metrics[j].value = r->metrics[j].value;
        metric_ptrs[j] = &metrics[j];
    }
    return k;
}

int wire_encode_batch(const struct pk_result *results, size_t n, uint8_t **buf, size_t *len)
{
    if (n == 0 || n > PK_WIRE_MAX_BATCH)
        return -1;
    int rc = -1;
    Picket__V1__Result *pbs = calloc(n, sizeof *pbs);
    Picket__V1__Result **ptrs = calloc(n, sizeof *ptrs);
    size_t n_metrics = 0;
    for (size_t i = 0; i < n; i++)
        n_metrics += (size_t)(results[i].n_metrics > 0 ? results[i].n_metrics : 0);
    Picket__V1__Metric *metrics = calloc(n_metrics ? n_metrics : 1, sizeof *metrics);
    Picket__V1__Metric **metric_ptrs = calloc(n_metrics ? n_metrics : 1, sizeof *metric_ptrs);
    if (!pbs || !ptrs || !metrics || !metric_ptrs)
        goto out;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int k = fill_result(&results[i], &pbs[i], &metrics[m], &metric_ptrs[m]);
        m += (size_t)k;
        ptrs[i] = &pbs[i];
    }
    Picket__V1__ResultBatch batch = PICKET__V1__RESULT_BATCH__INIT;
    batch.n_results = n;
    batch.results = ptrs;
    Picket__V1__ProbeMessage msg = PICKET__V1__PROBE_MESSAGE__INIT;
    msg.kind_case = PICKET__V1__PROBE_MESSAGE__KIND_BATCH;
    msg.batch = &batch;
    rc = wire_pack(&msg.base, buf, len);
out:
    free(pbs);
    free(ptrs);
    free(metrics);
    free(metric_ptrs);
    return rc;
}

int wire_encode_result_unsequenced(const struct pk_result *r, uint8_t **buf, size_t *len)
{
    Picket__V1__Result pb;
    Picket__V1__Metric metrics[PK_MAX_METRICS], *metric_ptrs[PK_MAX_METRICS];
    fill_result(r, &pb, metrics, metric_ptrs);
    pb.sequence = 0; /* proto3 leaves a zero scalar out of the encoding */
    return wire_pack(&pb.base, buf, len);
}

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

int wire_build_batch(const struct wire_encoded *items, size_t n, uint8_t **buf, size_t *len)
{
    if (n == 0 || n > PK_WIRE_MAX_BATCH)
        return -1;
    /* Result = 0x08 <seq> + body; ResultBatch = sum of 0x0a <len> Result;
     * ProbeMessage = 0x12 <len> ResultBatch. */
    size_t batch_len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t result_len = 1 + varint_size(items[i].seq) + items[i].len;
        batch_len += 1 + varint_size(result_len) + result_len;
    }
    size_t total = 1 + varint_size(batch_len) + batch_len;
    uint8_t *out = malloc(total), *p = out;
    if (!out)
        return -1;
    *p++ = 0x12;
    p = put_varint(p, batch_len);
    for (size_t i = 0; i < n; i++) {
        size_t result_len = 1 + varint_size(items[i].seq) + items[i].len;
        *p++ = 0x0a;
        p = put_varint(p, result_len);
        *p++ = 0x08;
        p = put_varint(p, items[i].seq);
        memcpy(p, items[i].data, items[i].len);
        p += items[i].len;
    }
    *buf = out;
    *len = (size_t)(p - out);
    return 0;
}

/* wire_result_from_pb sets every field by hand (no memset of the 1 kB struct:
 * docs/PERFORMANCE.md, "The collector's CPU per result, again"). A field added
 * to struct pk_result changes its size and stops the build here: set it below,
 * then update the size. */
_Static_assert(sizeof(struct pk_result) == 1080, "struct pk_result changed: set the new field in wire_result_from_pb");

/* A name that passed wire_check_text is copied whole, never cut inside a character. */
_Static_assert(PK_WIRE_MAX_CHECK_NAME < PK_NAME_MAX && PK_WIRE_MAX_CHECK_TYPE < PK_TYPE_MAX,
               "a valid check name or type must fit struct pk_result whole");

int wire_result_from_pb(const Picket__V1__Result *pb, struct pk_result *r, char *err, size_t errlen)
{
    /* Every field is set below and the metrics only up to n_metrics: zeroing
     * the whole 1 kB struct first was most of this function's time on the
     * ingest path (docs/PERFORMANCE.md). */
    r->n_metrics = 0;
    r->check_id = 0;
    if (!pb->check_name || !pb->check_name[0]) {
        snprintf(err, errlen, "result seq %llu: empty check_name", (unsigned long long)pb->sequence);
        return -1;
    }
    /* Names are checked exactly as in Register: no control character reaches a
     * table, a log or an operator's terminal through them. */
    char field[80], why[200];
    if (wire_check_text("check_name", pb->check_name, PK_WIRE_MAX_CHECK_NAME, 1, why, sizeof why) < 0 ||
        wire_check_text("check_type", pb->check_type, PK_WIRE_MAX_CHECK_TYPE, 0, why, sizeof why) < 0) {
        snprintf(err, errlen, "result seq %llu: %s", (unsigned long long)pb->sequence, why);
        return -1;
    }
    for (size_t j = 0; j < pb->n_metrics; j++) {
        if (wire_check_text("", pb->metrics[j]->name, PK_WIRE_MAX_METRIC_NAME, 0, why, sizeof why) < 0) {
            /* the field's name is formatted only for the error (this runs per result) */
            snprintf(field, sizeof field, "metrics[%zu].name", j);
            (void)wire_check_text(field, pb->metrics[j]->name, PK_WIRE_MAX_METRIC_NAME, 0, why, sizeof why);
            snprintf(err, errlen, "result seq %llu: %s", (unsigned long long)pb->sequence, why);
            return -1;
        }
    }
    if (pb->sequence == 0 || pb->sequence > (uint64_t)INT64_MAX) {
        snprintf(err, errlen, "result for check %.64s: sequence %llu is out of range (1..2^63-1)", pb->check_name,
                 (unsigned long long)pb->sequence);
        return -1;
    }
    if ((int)pb->outcome < PK_OUTCOME_OK || (int)pb->outcome > PK_OUTCOME_UNKNOWN) {
        snprintf(err, errlen, "result seq %llu: outcome %d out of range", (unsigned long long)pb->sequence,
                 (int)pb->outcome);
        return -1;
    }
    if ((int)pb->error_class < PK_ERR_NONE || (int)pb->error_class > PK_ERR_INTERNAL) {
        snprintf(err, errlen, "result seq %llu: error_class %d out of range", (unsigned long long)pb->sequence,
                 (int)pb->error_class);
        return -1;
    }
    /* 2000-01-01 .. 2200-01-01: anything else is a broken clock or a forged value,
     * and would otherwise be refused by the database batch after batch. */
    if (pb->started_at_us < 946684800000000LL || pb->started_at_us > 7258118400000000LL) {
        snprintf(err, errlen, "result seq %llu: started_at_us %lld is not a plausible time",
                 (unsigned long long)pb->sequence, (long long)pb->started_at_us);
        return -1;
    }
    if (pb->body_bytes < 0 || pb->status_code < 0 || pb->status_code > 999) {
        snprintf(err, errlen, "result seq %llu: negative size or status out of range",
                 (unsigned long long)pb->sequence);
        return -1;
    }
    r->seq = pb->sequence;
    /* check_name and check_type passed wire_check_text above and fit whole:
     * valid UTF-8 already, nothing to sanitize. */
    pk_strlcpy(r->check_name, pb->check_name, sizeof r->check_name);
    pk_strlcpy(r->check_type, pb->check_type && pb->check_type[0] ? pb->check_type : "http", sizeof r->check_type);
    r->started_at_us = pb->started_at_us;
    r->scheduled_at_us = pb->scheduled_at_us < 0 ? 0 : pb->scheduled_at_us;
    r->outcome = (int)pb->outcome;
    r->error_class = (int)pb->error_class;
    pk_strlcpy(r->message, pb->message, sizeof r->message);
    pk_utf8_sanitize(r->message);
    r->status_code = pb->status_code;
    r->body_bytes = pb->body_bytes;
    r->dns_us = pb->dns_us < -1 ? -1 : pb->dns_us;
    r->connect_us = pb->connect_us < -1 ? -1 : pb->connect_us;
    r->tls_us = pb->tls_us < -1 ? -1 : pb->tls_us;
    r->ttfb_us = pb->ttfb_us < -1 ? -1 : pb->ttfb_us;
    r->total_us = pb->total_us < -1 ? -1 : pb->total_us;
    size_t k = pb->n_metrics > PK_MAX_METRICS ? PK_MAX_METRICS : pb->n_metrics;
    for (size_t j = 0; j < k; j++) {
        if (!pb->metrics[j]->name || !pb->metrics[j]->name[0])
            continue;
        pk_strlcpy(r->metrics[r->n_metrics].name, pb->metrics[j]->name, PK_METRIC_NAME_MAX);
        /* valid UTF-8 whole (wire_check_text above): only a name cut to fit may end inside a character */
        if (strnlen(pb->metrics[j]->name, PK_METRIC_NAME_MAX) >= PK_METRIC_NAME_MAX - 1)
            pk_utf8_sanitize(r->metrics[r->n_metrics].name);
        r->metrics[r->n_metrics].value = pb->metrics[j]->value;
        r->n_metrics++;
    }
    return 0;
}

int wire_decode_batch(const Picket__V1__ResultBatch *batch, struct pk_result **out, size_t *n, char *err,
                      size_t errlen)
{
    if (batch->n_results == 0 || batch->n_results > PK_WIRE_MAX_BATCH) {
        snprintf(err, errlen, "batch of %zu results (allowed 1..%d)", batch->n_results, PK_WIRE_MAX_BATCH);
        return -1;
    }
    struct pk_result *rs = pk_results_alloc(batch->n_results);
    if (!rs) {
        snprintf(err, errlen, "out of memory decoding %zu results", batch->n_results);
        return -1;
    }
    for (size_t i = 0; i < batch->n_results; i++) {
        if (wire_result_from_pb(batch->results[i], &rs[i], err, errlen) < 0)
            goto fail;
        if (i > 0 && rs[i].seq <= rs[i - 1].seq) {
            snprintf(err, errlen, "batch sequences do not increase: %llu after %llu",
                     (unsigned long long)rs[i].seq, (unsigned long long)rs[i - 1].seq);
            goto fail;
        }
    }
    *out = rs;
    *n = batch->n_results;
    return 0;
fail:
    pk_results_free(rs, batch->n_results);
    return -1;
}

int wire_check_text(const char *field, const char *s, size_t max, int required, char *err, size_t errlen)
{
    size_t n = s ? strlen(s) : 0;
    if (required && n == 0) {
        snprintf(err, errlen, "%s: must not be empty", field);
        return -1;
    }
    if (n > max) {
        snprintf(err, errlen, "%s: %zu bytes is over the %zu-byte limit", field, n, max);
        return -1;
    }
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if (p[i] >= 0x20 && p[i] < 0x7f) { /* printable ASCII, nearly every byte: no call */
            i++;
            continue;
        }
        if (p[i] < 0x20 || p[i] == 0x7f) {
            snprintf(err, errlen, "%s: control character 0x%02x at byte %zu", field, p[i], i);
            return -1;
        }
        size_t k = pk_utf8_seq_len(p + i, n - i);
        if (k == 0) {
            snprintf(err, errlen, "%s: invalid UTF-8 at byte %zu", field, i);
            return -1;
        }
        i += k;
    }
    return 0;
}

/* A CheckInfo's labels: "key=value" lines joined by '\n' (what the collector
 * stores and splits again), each key [A-Za-z_][A-Za-z0-9_]*, each value printable
 * UTF-8; no empty line. A control character in a value would split or forge a line. */
static int check_label_lines(const char *field, const char *s, char *err, size_t errlen)
{
    size_t total = s ? strlen(s) : 0;
    if (total >= PK_LABELS_MAX) {
        snprintf(err, errlen, "%s: %zu bytes is over the %d-byte limit", field, total, PK_LABELS_MAX - 1);
        return -1;
    }
    int line = 1;
    for (const char *p = s; p && *p; line++) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char text[PK_LABELS_MAX], where[96];
        memcpy(text, p, n);
        text[n] = '\0';
        char *eq = strchr(text, '=');
        size_t klen = eq ? (size_t)(eq - text) : 0;
        if (!eq || klen == 0 || (text[0] >= '0' && text[0] <= '9') ||
            strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != klen) {
            snprintf(err, errlen, "%s: line %d is not key=value with a key of [A-Za-z_][A-Za-z0-9_]*", field, line);
            return -1;
        }
        snprintf(where, sizeof where, "%s: line %d value", field, line);
        if (wire_check_text(where, eq + 1, PK_WIRE_MAX_LABEL_BYTES, 0, err, errlen) < 0)
            return -1;
        p = nl ? nl + 1 : p + n;
    }
    return 0;
}

/* A check's index in a Register, ordered by name and then index: equal names
 * end up side by side, the first given first. */
struct named_index {
    const char *name;
    size_t i;
};

static inline int name_then_index(const struct named_index *a, const struct named_index *b)
{
    int d = strcmp(a->name, b->name);
    return d ? d < 0 : a->i < b->i;
}

PK_TYPED_SORT(named_sort, struct named_index, name_then_index)

/* A probe's check names are its results' keys: a name given twice would make
 * one check's results land on the other's row (the probe's own config refuses
 * it too, file:line). Sorted, not compared pairwise: up to PK_WIRE_MAX_CHECKS. */
static int check_names_unique(const Picket__V1__RegisterRequest *req, char *err, size_t errlen)
{
    if (req->n_checks < 2)
        return 0;
    struct named_index *v = malloc(req->n_checks * sizeof *v);
    if (!v) {
        snprintf(err, errlen, "checks: out of memory checking %zu names", req->n_checks);
        return -1;
    }
    for (size_t i = 0; i < req->n_checks; i++)
        v[i] = (struct named_index){req->checks[i]->name, i};
    named_sort(v, req->n_checks);
    int rc = 0;
    for (size_t k = 1; k < req->n_checks && rc == 0; k++)
        if (strcmp(v[k - 1].name, v[k].name) == 0) {
            snprintf(err, errlen, "checks[%zu].name: duplicate of checks[%zu].name (%.100s)", v[k].i, v[k - 1].i,
                     v[k].name);
            rc = -1;
        }
    free(v);
    return rc;
}

int wire_validate_register(const Picket__V1__RegisterRequest *req, char *err, size_t errlen)
{
    char field[64];
    if (wire_check_text("probe_name", req->probe_name, PK_WIRE_MAX_PROBE_NAME, 1, err, errlen) < 0 ||
        wire_check_text("region", req->region, PK_WIRE_MAX_REGION, 0, err, errlen) < 0 ||
        wire_check_text("version", req->version, PK_WIRE_MAX_VERSION, 0, err, errlen) < 0)
        return -1;
    if (req->n_labels > PK_WIRE_MAX_LABELS) {
        snprintf(err, errlen, "labels: %zu labels is over the limit of %d", req->n_labels, PK_WIRE_MAX_LABELS);
        return -1;
    }
    for (size_t i = 0; i < req->n_labels; i++) {
        snprintf(field, sizeof field, "labels[%zu].key", i);
        if (wire_check_text(field, req->labels[i]->key, PK_WIRE_MAX_LABEL_BYTES, 1, err, errlen) < 0)
            return -1;
        snprintf(field, sizeof field, "labels[%zu].value", i);
        if (wire_check_text(field, req->labels[i]->value, PK_WIRE_MAX_LABEL_BYTES, 0, err, errlen) < 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(req->labels[j]->key, req->labels[i]->key) == 0) {
                snprintf(err, errlen, "labels[%zu].key: duplicate of labels[%zu].key", i, j);
                return -1;
            }
    }
    if (req->n_checks > PK_WIRE_MAX_CHECKS) {
        snprintf(err, errlen, "checks: %zu checks is over the limit of %d", req->n_checks, PK_WIRE_MAX_CHECKS);
        return -1;
    }
    for (size_t i = 0; i < req->n_checks; i++) {
        const Picket__V1__CheckInfo *c = req->checks[i];
        snprintf(field, sizeof field, "checks[%zu].name", i);
        if (wire_check_text(field, c->name, PK_WIRE_MAX_CHECK_NAME, 1, err, errlen) < 0)
            return -1;
        snprintf(field, sizeof field, "checks[%zu].type", i);
        if (wire_check_text(field, c->type, PK_WIRE_MAX_CHECK_TYPE, 0, err, errlen) < 0)
            return -1;
        snprintf(field, sizeof field, "checks[%zu].target", i);
        if (wire_check_text(field, c->target, PK_WIRE_MAX_TARGET, 0, err, errlen) < 0)
            return -1;
        snprintf(field, sizeof field, "checks[%zu].service", i);
        if (wire_check_text(field, c->service, PK_WIRE_MAX_CHECK_NAME, 0, err, errlen) < 0)
            return -1;
        snprintf(field, sizeof field, "checks[%zu].labels", i);
        if (check_label_lines(field, c->labels, err, errlen) < 0)
            return -1;
    }
    return check_names_unique(req, err, errlen);
}

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* Walks the encoding of a message of type d; -1 with the path of the first
 * string field holding a NUL byte. Malformed input returns 0: unpacking refuses it. */
static int scan_nul(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n, int depth, char *path,
                    size_t pathlen)
{
    const uint8_t *end = p + n;
    while (p < end) {
        uint64_t key, len;
        if (read_varint(&p, end, &key) < 0)
            return 0;
        switch (key & 7) {
        case 0:
            if (read_varint(&p, end, &len) < 0)
                return 0;
            continue;
        case 1:
            if ((size_t)(end - p) < 8)
                return 0;
            p += 8;
            continue;
        case 5:
            if ((size_t)(end - p) < 4)
                return 0;
            p += 4;
            continue;
        case 2:
            if (read_varint(&p, end, &len) < 0 || len > (uint64_t)(end - p))
                return 0;
            break;
        default:
            return 0;
        }
        const ProtobufCFieldDescriptor *f =
            key >> 3 <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3)) : NULL;
        if (f && f->type == PROTOBUF_C_TYPE_STRING && memchr(p, 0, (size_t)len)) {
            size_t used = strlen(path);
            snprintf(path + used, pathlen - used, "%s%s", used ? "." : "", f->name);
            return -1;
        }
        if (f && f->type == PROTOBUF_C_TYPE_MESSAGE && depth < 8) {
            size_t used = strlen(path);
            snprintf(path + used, pathlen - used, "%s%s", used ? "." : "", f->name);
            if (scan_nul(f->descriptor, p, (size_t)len, depth + 1, path, pathlen) < 0)
                return -1;
            path[used] = '\0';
        }
        p += len;
    }
    return 0;
}

int wire_find_nul(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len, char *err, size_t errlen)
{
    char path[256] = "";
    if (scan_nul(desc, data, len, 0, path, sizeof path) == 0)
        return 0;
    snprintf(err, errlen, "%s: control character 0x00 (NUL)", path);
    return -1;
}
