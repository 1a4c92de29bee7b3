/* encode.c: text for PostgreSQL: COPY text-format result rows and fields
 * (store_encode_result_row, store_copy_escape), timestamps, and the JSON and
 * array literals passed as statement parameters. User text reaches PostgreSQL
 * only through these escapers or as parameters, never spliced into SQL; bytes that
 * are not UTF-8 become U+FFFD rather than making a batch unstorable. */
#include "store_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"

#define METRICS_JSON_MAX 4096

/* 0 with the length, -1 when anything did not fit. */
static long finish(const struct pk_buf *b) { return pk_buf_ok(b) < 0 ? -1 : (long)b->len; }

/* The COPY text escape of byte c, or NULL when it needs none. */
static const char *copy_escape_of(unsigned char c)
{
    switch (c) {
    case '\\': return "\\\\";
    case '\t': return "\\t";
    case '\n': return "\\n";
    case '\r': return "\\r";
    default: return NULL;
    }
}

/* PostgreSQL rejects invalid UTF-8, and one bad byte in an HTTP error message must
 * not make a whole batch unstorable: such bytes become U+FFFD. Bytes that stay as
 * they are go in runs, one append each. */
static void add_text(struct pk_buf *b, const char *value, size_t n, int escape)
{
    const unsigned char *p = (const unsigned char *)value;
    size_t run = 0; /* the first byte not appended yet */
    for (size_t i = 0; i < n && !b->failed;) {
        size_t k = p[i] < 0x80 ? 1 : pk_utf8_seq_len(p + i, n - i);
        const char *esc = k == 0 ? PK_UTF8_REPLACEMENT : k == 1 && escape ? copy_escape_of(p[i]) : NULL;
        if (!esc) {
            i += k;
            continue;
        }
        pk_buf_add(b, value + run, i - run);
        pk_buf_add(b, esc, strlen(esc));
        run = ++i;
    }
    pk_buf_add(b, value + run, n - run);
}

static void add_copy_text(struct pk_buf *b, const char *value, size_t n) { add_text(b, value, n, 1); }

long store_copy_escape(char *buf, size_t size, const char *value)
{
    struct pk_buf b;
    pk_buf_init_fixed(&b, buf, size);
    if (!value)
        pk_buf_add(&b, "\\N", 2);
    else
        add_copy_text(&b, value, strlen(value));
    return finish(&b);
}

/* Digits written by hand: this runs once per stored result, and snprintf with
 * gmtime_r was half of the collector's CPU in the ingest profile. */
static void add_i64(struct pk_buf *b, int64_t v)
{
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[n++] = '-';
    char out[24];
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    pk_buf_add(b, out, n);
}

static void put_digits(char *p, int64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* The calendar arithmetic is the days-to-civil algorithm (proleptic Gregorian). */
int st_format_timestamp(char *buf, size_t size, int64_t us)
{
    if (size < 30)
        return -1;
    int64_t secs = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        secs -= 1;
    }
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t day = doy - (153 * mp + 2) / 5 + 1;
    int64_t month = mp < 10 ? mp + 3 : mp - 9;
    int64_t year = yoe + era * 400 + (month <= 2);
    if (year < 1 || year > 9999)
        return -1;
    put_digits(buf, year, 4);
    buf[4] = '-';
    put_digits(buf + 5, month, 2);
    buf[7] = '-';
    put_digits(buf + 8, day, 2);
    buf[10] = ' ';
    put_digits(buf + 11, rem / 3600, 2);
    buf[13] = ':';
    put_digits(buf + 14, rem / 60 % 60, 2);
    buf[16] = ':';
    put_digits(buf + 17, rem % 60, 2);
    buf[19] = '.';
    put_digits(buf + 20, frac, 6);
    memcpy(buf + 26, "+00", 4);
    return 0;
}

static void add_duration(struct pk_buf *b, int64_t us)
{
    if (us < 0) {
        pk_buf_add(b, "\\N\t", 3);
    } else {
        add_i64(b, us);
        pk_buf_add(b, "\t", 1);
    }
}

/* A JSON string of n bytes of name: as it is in one append when it is printable
 * ASCII without '"' or '\\' (every metric name in practice), else escaped. */
static void add_json_name(struct pk_buf *json, const char *name, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (name[i] < 0x20 || name[i] >= 0x7f || name[i] == '"' || name[i] == '\\') {
            pk_buf_add_json_string(json, name, n);
            return;
        }
    pk_buf_add(json, "\"", 1);
    pk_buf_add(json, name, n);
    pk_buf_add(json, "\"", 1);
}

/* The metrics as a JSON object into json (a fixed buffer); -1 when it does not fit. */
static int metrics_json(struct pk_buf *json, const struct pk_result *r)
{
    int n_metrics = r->n_metrics > PK_MAX_METRICS ? PK_MAX_METRICS : r->n_metrics;
    pk_buf_add(json, "{", 1);
    for (int i = 0; i < n_metrics; i++) {
        const struct pk_metric *m = &r->metrics[i];
        if (i > 0)
            pk_buf_add(json, ", ", 2);
        add_json_name(json, m->name, strnlen(m->name, sizeof m->name));
        if (isfinite(m->value) && fabs(m->value) < 9007199254740992.0 && m->value == (double)(int64_t)m->value &&
            !(m->value == 0 && signbit(m->value))) {
            /* an integer (most metrics count something): the digits %.17g would print */
            pk_buf_add(json, ": ", 2);
            add_i64(json, (int64_t)m->value);
        } else if (isfinite(m->value))
            pk_buf_addf(json, ": %.17g", m->value);
        else
            pk_buf_add(json, ": null", 6);
    }
    pk_buf_add(json, "}", 1);
    return finish(json) < 0 ? -1 : 0;
}

/* The metrics column: a JSON object, COPY-escaped; -1 when it does not fit. */
static int add_metrics(struct pk_buf *b, const struct pk_result *r)
{
    if (r->n_metrics <= 0)
        return pk_buf_add(b, "\\N", 2);
    char json_buf[METRICS_JSON_MAX];
    struct pk_buf json;
    pk_buf_init_fixed(&json, json_buf, sizeof json_buf);
    if (metrics_json(&json, r) < 0)
        return -1;
    add_copy_text(b, json_buf, json.len);
    return 0;
}

long store_encode_result_row(char *buf, size_t size, int64_t probe_id, int64_t check_id, const struct pk_result *r)
{
    struct pk_buf b;
    char started_at[64];
    pk_buf_init_fixed(&b, buf, size);
    if (st_format_timestamp(started_at, sizeof started_at, r->started_at_us) < 0)
        return -1;
    const int64_t ints[] = {probe_id,      (int64_t)r->seq, check_id,     0 /* started_at */,
                            r->outcome,    r->error_class,  r->status_code, r->body_bytes};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if (i == 3)
            pk_buf_add(&b, started_at, 29);
        else
            add_i64(&b, ints[i]);
        pk_buf_add(&b, "\t", 1);
    }
    add_duration(&b, r->dns_us);
    add_duration(&b, r->connect_us);
    add_duration(&b, r->tls_us);
    add_duration(&b, r->ttfb_us);
    add_duration(&b, r->total_us);
    /* Fixed-size fields may arrive unterminated: never read past them. */
    add_copy_text(&b, r->message, strnlen(r->message, sizeof r->message));
    pk_buf_add(&b, "\t", 1);
    if (add_metrics(&b, r) < 0)
        return -1;
    /* The round's grid point; NULL when the probe did not say (older probes). */
    if (r->scheduled_at_us > 0) {
        char scheduled_at[64];
        if (st_format_timestamp(scheduled_at, sizeof scheduled_at, r->scheduled_at_us) < 0)
            return -1;
        pk_buf_add(&b, "\t", 1);
        pk_buf_add(&b, scheduled_at, strlen(scheduled_at));
    } else {
        pk_buf_add(&b, "\t\\N", 3);
    }
    pk_buf_add(&b, "\n", 1);
    return finish(&b);
}

/* ---- binary COPY (FORMAT binary): network byte order, each field its length
 * then its bytes (-1: NULL); timestamps in microseconds since 2000-01-01 UTC. */

#define PG_EPOCH_US INT64_C(946684800000000)
/* Years 1..9999, as st_format_timestamp: outside them a row cannot be encoded. */
#define TS_MIN_US INT64_C(-62135596800000000)
#define TS_END_US INT64_C(253402300800000000)

/* The fixed fields' most bytes: the field count, 8 integers, 5 durations. */
#define BIN_HEAD_MAX (2 + 13 * 12)

static unsigned char *put_be(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
    return p + bytes;
}

static unsigned char *put_bin_int(unsigned char *p, int64_t v, int bytes)
{
    return put_be(put_be(p, (uint32_t)bytes, 4), (uint64_t)v, bytes);
}

static void add_be(struct pk_buf *b, uint64_t v, int bytes)
{
    unsigned char out[8];
    for (int i = bytes - 1; i >= 0; i--) {
        out[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
    pk_buf_add(b, out, (size_t)bytes);
}

static void add_bin_int(struct pk_buf *b, int64_t v, int bytes)
{
    add_be(b, (uint32_t)bytes, 4);
    add_be(b, (uint64_t)v, bytes);
}

static void add_bin_null(struct pk_buf *b) { add_be(b, UINT32_MAX, 4); }

/* A text (or, with prefix 1, jsonb version 1) field of UTF-8 made valid. */
static void add_bin_text(struct pk_buf *b, const char *value, size_t n, int jsonb)
{
    size_t at = b->len;
    add_be(b, 0, 4); /* the length, set below */
    if (jsonb)
        pk_buf_add(b, "\1", 1);
    add_text(b, value, n, 0);
    if (!b->failed) {
        uint64_t len = b->len - at - 4;
        for (int i = 3; i >= 0; i--, len >>= 8)
            b->data[at + (size_t)i] = (char)(len & 0xff);
    }
}

long store_encode_result_row_binary(char *buf, size_t size, int64_t probe_id, int64_t check_id,
                                    const struct pk_result *r)
{
    struct pk_buf b;
    pk_buf_init_fixed(&b, buf, size);
    if (r->started_at_us < TS_MIN_US || r->started_at_us >= TS_END_US ||
        (r->scheduled_at_us > 0 && r->scheduled_at_us >= TS_END_US))
        return -1;
    /* The fixed fields written in place, then appended at once. */
    unsigned char head[BIN_HEAD_MAX], *p = put_be(head, 16, 2); /* fields: STORE_RESULT_COLUMNS */
    p = put_bin_int(p, probe_id, 8);
    p = put_bin_int(p, (int64_t)r->seq, 8);
    p = put_bin_int(p, check_id, 8);
    p = put_bin_int(p, r->started_at_us - PG_EPOCH_US, 8);
    p = put_bin_int(p, r->outcome, 2);
    p = put_bin_int(p, r->error_class, 2);
    p = put_bin_int(p, r->status_code, 4);
    p = put_bin_int(p, r->body_bytes, 8);
    const int64_t durations[] = {r->dns_us, r->connect_us, r->tls_us, r->ttfb_us, r->total_us};
    for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++)
        p = durations[i] < 0 ? put_be(p, UINT32_MAX, 4) : put_bin_int(p, durations[i], 8);
    pk_buf_add(&b, head, (size_t)(p - head));
    /* Fixed-size fields may arrive unterminated: never read past them. Most
     * results carry no message: no call for those (strnlen was 2-3 % of the
     * collector's CPU in bench/profile_ingest, nearly all on empty messages). */
    add_bin_text(&b, r->message, r->message[0] ? strnlen(r->message, sizeof r->message) : 0, 0);
    if (r->n_metrics <= 0) {
        add_bin_null(&b);
    } else {
        char json_buf[METRICS_JSON_MAX];
        struct pk_buf json;
        pk_buf_init_fixed(&json, json_buf, sizeof json_buf);
        if (metrics_json(&json, r) < 0)
            return -1;
        add_bin_text(&b, json_buf, json.len, 1);
    }
    if (r->scheduled_at_us > 0)
        add_bin_int(&b, r->scheduled_at_us - PG_EPOCH_US, 8);
    else
        add_bin_null(&b);
    return finish(&b);
}

static void add_kv_object(struct pk_buf *b, const struct pk_kv *kv, size_t n)
{
    pk_buf_add(b, "{", 1);
    for (size_t i = 0; i < n; i++) {
        const char *key = kv[i].key ? kv[i].key : "";
        const char *value = kv[i].value ? kv[i].value : "";
        if (i > 0)
            pk_buf_add(b, ", ", 2);
        pk_buf_add_json_string(b, key, strlen(key));
        pk_buf_add(b, ": ", 2);
        pk_buf_add_json_string(b, value, strlen(value));
    }
    pk_buf_add(b, "}", 1);
}

char *st_labels_json(const struct pk_kv *labels, size_t n)
{
    struct pk_buf b;
    pk_buf_init(&b, 0);
    add_kv_object(&b, labels, n);
    return pk_buf_take(&b);
}

void st_array_add_text(struct pk_buf *b, const char *v, int first)
{
    if (!first)
        pk_buf_addc(b, ',');
    if (!v) {
        pk_buf_add(b, "NULL", 4);
        return;
    }
    pk_buf_addc(b, '"');
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            pk_buf_addc(b, '\\');
        pk_buf_addc(b, *p);
    }
    pk_buf_addc(b, '"');
}

char *st_bigint_array(const int64_t *values, size_t n)
{
    struct pk_buf b;
    pk_buf_init(&b, 0);
    pk_buf_add(&b, "{", 1);
    for (size_t i = 0; i < n; i++)
        pk_buf_addf(&b, i ? ",%" PRId64 : "%" PRId64, values[i]);
    pk_buf_add(&b, "}", 1);
    return pk_buf_take(&b);
}

const char *st_count(char buf[24], size_t n)
{
    snprintf(buf, 24, "%zu", n);
    return buf;
}

char *st_strings_json(char *const *values, size_t n)
{
    struct pk_buf b;
    pk_buf_init(&b, 0);
    pk_buf_add(&b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            pk_buf_add(&b, ",", 1);
        pk_buf_add_json_string(&b, values[i], strlen(values[i]));
    }
    pk_buf_add(&b, "]", 1);
    return pk_buf_take(&b);
}

char *st_timestamp_array(const int64_t *values, size_t n, size_t stride)
{
    struct pk_buf b;
    pk_buf_init(&b, 0);
    pk_buf_add(&b, "{", 1);
    for (size_t i = 0; i < n; i++) {
        char ts[64];
        const int64_t *v = (const int64_t *)((const char *)values + i * stride);
        if (st_format_timestamp(ts, sizeof ts, *v) < 0) {
            pk_buf_free(&b);
            return NULL;
        }
        pk_buf_add(&b, i ? ",\"" : "\"", i ? 2 : 1);
        pk_buf_add(&b, ts, 29);
        pk_buf_add(&b, "\"", 1);
    }
    pk_buf_add(&b, "}", 1);
    return pk_buf_take(&b);
}
