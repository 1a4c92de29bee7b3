/* assertions.c: judges a response view against a check's assertions (status,
 * headers, body text and regex, jq expressions, time, Prometheus series), and
 * evaluates captures and numeric extractions. Parses a JSON body at most once
 * per view. Owns nothing beyond that cached parse; never includes curl; runs
 * only on the runner thread (jq programs are not thread-safe). Messages quote
 * what the check wrote and what the response held, never request values. */
#include "assertions.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jq.h>
#include <jv.h>
#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json_guard.h"
#include "log.h"

/* How much of a response value a message quotes. */
#define QUOTE_MAX 60

static void fmt(char *buf, size_t size, const char *format, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *buf, size_t size, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vsnprintf(buf, size, format, ap);
    va_end(ap);
}

/* A bounded, printable copy of some response bytes for a message. */
static void quote(char *out, size_t size, const char *s, size_t len)
{
    size_t max = size - 4, n = 0;
    for (size_t i = 0; i < len && n < max; i++)
        out[n++] = (s[i] == '\r' || s[i] == '\n' || s[i] == '\t' || s[i] == '\0') ? ' ' : s[i];
    if (len > max)
        memcpy(out + n, "...", 3), n += 3;
    out[n] = '\0';
}

static const char *find_header(const struct assert_response *resp, const char *name)
{
    for (size_t i = 0; name && i < resp->n_headers; i++)
        if (resp->headers[i].key && strcasecmp(resp->headers[i].key, name) == 0)
            return resp->headers[i].value ? resp->headers[i].value : "";
    return NULL;
}

/* 1 when the compiled regex matches; *start and *len give group 1 if the pattern
 * has one and it took part, else the whole match. -1 when the regex is missing
 * or matching failed (a resource limit), 0 when it does not match. */
static int regex_find(const void *code, const char *subject, size_t len, size_t *start, size_t *mlen)
{
    if (!code)
        return -1;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
    if (!md)
        return -1;
    int rc = pcre2_match(code, (PCRE2_SPTR)subject, len, 0, 0, md, NULL);
    int found = rc > 0 ? 1 : rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
    if (found == 1) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        int group = rc > 1 && ov[2] != PCRE2_UNSET ? 1 : 0;
        if (start)
            *start = ov[2 * group];
        if (mlen)
            *mlen = ov[2 * group + 1] - ov[2 * group];
    }
    pcre2_match_data_free(md);
    return found;
}

/* The body as JSON, parsed on first use; NULL when it is not JSON. */
static jv *body_json(struct assert_response *resp)
{
    if (resp->json_state == 0 && json_jq_would_leak(resp->body ? resp->body : "", resp->body_len)) {
        resp->json_state = -1; /* not JSON, and jq 1.6 would leak saying so (json_guard.c) */
    } else if (resp->json_state == 0) {
        jv parsed = jv_parse_sized(resp->body ? resp->body : "", (int)(resp->body_len > 0x7fffffff ? 0x7fffffff
                                                                                                  : resp->body_len));
        if (jv_get_kind(parsed) == JV_KIND_INVALID || !(resp->json = malloc(sizeof(jv)))) {
            jv_free(parsed);
            resp->json_state = -1;
        } else {
            *(jv *)resp->json = parsed;
            resp->json_state = 1;
        }
    }
    return resp->json_state == 1 ? resp->json : NULL;
}

/* The first output of a compiled jq program on the body: valid, or invalid
 * (with a message on a jq error, without one when there was no output). */
static jv jq_first(void *jq, jv *input)
{
    if (!jq)
        return jv_invalid_with_msg(jv_string("program not compiled"));
    jq_start(jq, jv_copy(*input), 0);
    return jq_next(jq);
}

/* "false", "null", "\"text\"", "no output", "error: ..." for a message. Consumes v. */
static void render_jv(jv v, char *out, size_t size)
{
    if (jv_get_kind(v) != JV_KIND_INVALID) {
        char buf[QUOTE_MAX + 4];
        jv_dump_string_trunc(v, buf, sizeof buf); /* consumes v */
        pk_strlcpy(out, buf, size);
        return;
    }
    if (!jv_invalid_has_msg(jv_copy(v))) {
        jv_free(v);
        pk_strlcpy(out, "no output", size);
        return;
    }
    jv msg = jv_invalid_get_msg(v);
    if (jv_get_kind(msg) == JV_KIND_STRING) {
        char q[QUOTE_MAX + 4];
        const char *s = jv_string_value(msg);
        quote(q, sizeof q, s, strlen(s));
        fmt(out, size, "error: %s", q);
    } else {
        pk_strlcpy(out, "error", size);
    }
    jv_free(msg);
}

/* ---------------------------------------------------------------- status */

static void describe_ranges(const struct pk_assertion *a, char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    if (a->n_status_ranges > 1)
        n = (size_t)snprintf(out, size, "one of ");
    for (size_t i = 0; i < a->n_status_ranges && n < size; i++) {
        int lo = a->status_ranges[2 * i], hi = a->status_ranges[2 * i + 1];
        const char *sep = i ? ", " : "";
        if (lo == hi)
            n += (size_t)snprintf(out + n, size - n, "%s%d", sep, lo);
        else if (lo % 100 == 0 && hi == lo + 99)
            n += (size_t)snprintf(out + n, size - n, "%s%dxx", sep, lo / 100);
        else
            n += (size_t)snprintf(out + n, size - n, "%s%d-%d", sep, lo, hi);
    }
}

static int check_status(const struct assert_response *resp, const struct pk_assertion *a, char *msg, size_t size)
{
    for (size_t i = 0; i < a->n_status_ranges; i++)
        if (resp->status >= a->status_ranges[2 * i] && resp->status <= a->status_ranges[2 * i + 1])
            return 1;
    char expected[128];
    describe_ranges(a, expected, sizeof expected);
    fmt(msg, size, "status %d, expected %s", resp->status, expected);
    return 0;
}

/* ---------------------------------------------------------------- metric */

/* Parses `{a="b",c="d"}` starting at *p (which points at '{'); calls back for
 * each pair. Returns the position after '}', or NULL when malformed. */
static const char *parse_labels(const char *p, const char *end,
                                int (*each)(const char *k, size_t kl, const char *v, size_t vl, void *u), void *user)
{
    p++; /* '{' */
    char value[512];
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        if (p < end && *p == '}')
            return p + 1;
        const char *key = p;
        while (p < end && *p != '=' && *p != ' ')
            p++;
        size_t key_len = (size_t)(p - key);
        while (p < end && *p == ' ')
            p++;
        if (p >= end || *p != '=')
            return NULL;
        p++;
        while (p < end && *p == ' ')
            p++;
        if (p >= end || *p != '"')
            return NULL;
        p++;
        size_t vl = 0;
        while (p < end && *p != '"') {
            char ch = *p++;
            if (ch == '\\' && p < end) {
                ch = *p++;
                if (ch == 'n')
                    ch = '\n';
            }
            if (vl < sizeof value - 1)
                value[vl++] = ch;
        }
        if (p >= end)
            return NULL;
        p++; /* closing quote */
        value[vl] = '\0';
        if (!each(key, key_len, value, vl, user))
            return NULL;
    }
    return NULL;
}

struct label_set {
    struct {
        char key[128];
        char value[512];
    } l[16];
    size_t n;
};

static int collect_label(const char *k, size_t kl, const char *v, size_t vl, void *u)
{
    struct label_set *set = u;
    if (set->n >= sizeof set->l / sizeof *set->l || kl >= sizeof set->l[0].key)
        return 0;
    memcpy(set->l[set->n].key, k, kl);
    set->l[set->n].key[kl] = '\0';
    memcpy(set->l[set->n].value, v, vl + 1);
    set->n++;
    return 1;
}

static int has_label(const char *k, size_t kl, const char *v, size_t vl, void *u)
{
    struct label_set *want = u;
    for (size_t i = 0; i < want->n; i++)
        if (strlen(want->l[i].key) == kl && memcmp(want->l[i].key, k, kl) == 0 && strlen(want->l[i].value) == vl &&
            memcmp(want->l[i].value, v, vl) == 0) {
            want->l[i].key[0] = '\0'; /* matched; an emptied key never matches again */
            return 1;
        }
    return 1;
}

static size_t name_len(const char *p, const char *end)
{
    const char *s = p;
    while (p < end && (*p == '_' || *p == ':' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                       (*p >= '0' && *p <= '9')))
        p++;
    return (size_t)(p - s);
}

/* Finds the first series in a Prometheus text body whose name equals the
 * selector's and whose labels include every label the selector names.
 * 1 with *value, 0 when absent, -1 when the selector is malformed. */
static int find_series(const struct assert_response *resp, const char *selector, double *value)
{
    const char *sel_end = selector + strlen(selector);
    size_t sel_name = name_len(selector, sel_end);
    struct label_set want = {0};
    if (!sel_name)
        return -1;
    const char *rest = selector + sel_name;
    while (rest < sel_end && *rest == ' ')
        rest++;
    if (rest < sel_end && (*rest != '{' || !parse_labels(rest, sel_end, collect_label, &want)))
        return -1;

    const char *p = resp->body, *body_end = resp->body + resp->body_len;
    while (p && p < body_end) {
        const char *eol = memchr(p, '\n', (size_t)(body_end - p));
        const char *line_end = eol ? eol : body_end;
        const char *q = p;
        p = eol ? eol + 1 : NULL;
        while (q < line_end && (*q == ' ' || *q == '\t'))
            q++;
        if (q >= line_end || *q == '#')
            continue;
        size_t n = name_len(q, line_end);
        if (n != sel_name || memcmp(q, selector, n) != 0)
            continue;
        q += n;
        if (q < line_end && *q == '{') {
            struct label_set pending = want;
            q = parse_labels(q, line_end, has_label, &pending);
            if (!q)
                continue;
            int all = 1;
            for (size_t i = 0; i < pending.n; i++)
                if (pending.l[i].key[0])
                    all = 0;
            if (!all)
                continue;
        } else if (want.n) {
            continue;
        }
        char num[64];
        while (q < line_end && (*q == ' ' || *q == '\t'))
            q++;
        size_t len = 0;
        while (q + len < line_end && q[len] != ' ' && q[len] != '\t' && q[len] != '\r' && len < sizeof num - 1)
            len++;
        memcpy(num, q, len);
        num[len] = '\0';
        char *endp;
        double v = strtod(num, &endp);
        if (!len || *endp)
            continue;
        *value = v;
        return 1;
    }
    return 0;
}

static int compare(double got, const char *op, double want)
{
    if (strcmp(op, "<") == 0)
        return got < want;
    if (strcmp(op, "<=") == 0)
        return got <= want;
    if (strcmp(op, ">") == 0)
        return got > want;
    if (strcmp(op, ">=") == 0)
        return got >= want;
    if (strcmp(op, "!=") == 0)
        return got != want;
    if (strcmp(op, "==") == 0)
        return got == want;
    return 1; /* no operator: presence is enough */
}

static int check_metric(const struct assert_response *resp, const struct pk_assertion *a, char *msg, size_t size)
{
    double got = 0;
    const char *selector = a->text ? a->text : "";
    int found = find_series(resp, selector, &got);
    if (found < 0) {
        fmt(msg, size, "metric selector %s is malformed", selector);
        return 0;
    }
    if (!found) {
        fmt(msg, size, "metric %s not found", selector);
        return 0;
    }
    if (compare(got, a->op, a->value))
        return 1;
    fmt(msg, size, "metric %s is %g, expected %s %g", selector, got, a->op, a->value);
    return 0;
}

/* ---------------------------------------------------------------- the rest */

static int check_json(struct assert_response *resp, const struct pk_assertion *a, char *msg, size_t size)
{
    jv *input = body_json(resp);
    if (!input && resp->body_bytes > (int64_t)resp->body_len) {
        fmt(msg, size, "body is not JSON (only the first %zu of %lld bytes are kept: raise max_body)",
            resp->body_len, (long long)resp->body_bytes);
        return 0;
    }
    if (!input) {
        fmt(msg, size, "body is not JSON");
        return 0;
    }
    jv out = jq_first(a->jq, input);
    if (jv_get_kind(out) == JV_KIND_TRUE) {
        jv_free(out);
        return 1;
    }
    char got[QUOTE_MAX + 16];
    render_jv(out, got, sizeof got);
    fmt(msg, size, "assertion failed: json %s (got %s)", a->text ? a->text : "", got);
    return 0;
}

static int check_header(const struct assert_response *resp, const struct pk_assertion *a, char *msg, size_t size)
{
    const char *value = find_header(resp, a->header_name);
    const char *text = a->text ? a->text : "";
    char got[QUOTE_MAX + 4];
    if (!value) {
        fmt(msg, size, "header %s missing", a->header_name ? a->header_name : "");
        return 0;
    }
    if (a->kind == PK_ASSERT_HEADER_EQUALS) {
        if (strcmp(value, text) == 0)
            return 1;
        quote(got, sizeof got, value, strlen(value));
        fmt(msg, size, "header %s is \"%s\", expected \"%s\"", a->header_name, got, text);
        return 0;
    }
    if (regex_find(a->regex, value, strlen(value), NULL, NULL) == 1)
        return 1;
    quote(got, sizeof got, value, strlen(value));
    fmt(msg, size, "header %s \"%s\" does not match /%s/", a->header_name, got, text);
    return 0;
}

/* 1 when the assertion holds; else 0 with the reason in msg. */
static int check_one(struct assert_response *resp, const struct pk_assertion *a, char *msg, size_t size)
{
    const char *text = a->text ? a->text : "";
    const char *body = resp->body ? resp->body : "";
    switch (a->kind) {
    case PK_ASSERT_STATUS:
        return check_status(resp, a, msg, size);
    case PK_ASSERT_HEADER_EQUALS:
    case PK_ASSERT_HEADER_MATCHES:
        return check_header(resp, a, msg, size);
    case PK_ASSERT_BODY_CONTAINS:
    case PK_ASSERT_OUTPUT_CONTAINS: {
        if (!*text || memmem(body, resp->body_len, text, strlen(text)))
            return 1;
        fmt(msg, size, "%s does not contain \"%s\"", a->kind == PK_ASSERT_BODY_CONTAINS ? "body" : "output", text);
        return 0;
    }
    case PK_ASSERT_BODY_NOT_CONTAINS:
        if (!*text || !memmem(body, resp->body_len, text, strlen(text)))
            return 1;
        fmt(msg, size, "body contains \"%s\"", text);
        return 0;
    case PK_ASSERT_BODY_MATCHES: {
        int m = regex_find(a->regex, body, resp->body_len, NULL, NULL);
        if (m == 1)
            return 1;
        fmt(msg, size, m < 0 ? "body could not be matched against /%s/" : "body does not match /%s/", text);
        return 0;
    }
    case PK_ASSERT_JSON:
        return check_json(resp, a, msg, size);
    case PK_ASSERT_TIME_UNDER:
        if (resp->total_us < a->max_ms * 1000)
            return 1;
        fmt(msg, size, "took %lld ms, budget %lld ms", (long long)(resp->total_us / 1000), (long long)a->max_ms);
        return 0;
    case PK_ASSERT_METRIC:
        return check_metric(resp, a, msg, size);
    default:
        fmt(msg, size, "unknown assertion kind %d", a->kind);
        return 0;
    }
}

void assert_evaluate(struct assert_response *resp, const struct pk_assertion *asserts, size_t n_asserts,
                     struct assert_verdict *v)
{
    v->outcome = PK_OUTCOME_OK;
    v->error_class = PK_ERR_NONE;
    v->message[0] = '\0';
    for (size_t i = 0; i < n_asserts; i++) {
        const struct pk_assertion *a = &asserts[i];
        char msg[PK_MESSAGE_MAX];
        if (check_one(resp, a, msg, sizeof msg))
            continue;
        int outcome = a->severity == PK_SEV_DEGRADED ? PK_OUTCOME_DEGRADED : PK_OUTCOME_FAILED;
        /* The first failure of the worst severity explains the outcome. */
        if (v->outcome == PK_OUTCOME_OK || (outcome == PK_OUTCOME_FAILED && v->outcome == PK_OUTCOME_DEGRADED)) {
            v->outcome = outcome;
            v->error_class = a->kind == PK_ASSERT_STATUS ? PK_ERR_HTTP : PK_ERR_ASSERTION;
            pk_strlcpy(v->message, msg, sizeof v->message);
            pk_utf8_sanitize(v->message);
        }
    }
}

/* ---------------------------------------------------------------- captures */

static char *dup_n(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (out) {
        memcpy(out, s, n);
        out[n] = '\0';
    }
    return out;
}

int assert_capture(struct assert_response *resp, const struct pk_capture *capture, char **value, char *err,
                   size_t errlen)
{
    const char *expr = capture->expr ? capture->expr : "";
    size_t start = 0, len = 0;
    *value = NULL;
    switch (capture->source) {
    case PK_CAPTURE_STATUS: {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", resp->status);
        *value = dup_n(buf, strlen(buf));
        break;
    }
    case PK_CAPTURE_HEADER: {
        const char *h = find_header(resp, capture->header_name);
        if (!h) {
            fmt(err, errlen, "header %s missing", capture->header_name ? capture->header_name : "");
            return -1;
        }
        len = strlen(h);
        if (capture->regex && regex_find(capture->regex, h, len, &start, &len) != 1) {
            char got[QUOTE_MAX + 4];
            quote(got, sizeof got, h, strlen(h));
            fmt(err, errlen, "header %s \"%s\" does not match /%s/", capture->header_name, got, expr);
            pk_utf8_sanitize(err);
            return -1;
        }
        *value = dup_n(h + start, len);
        break;
    }
    case PK_CAPTURE_BODY_REGEX:
        if (regex_find(capture->regex, resp->body ? resp->body : "", resp->body_len, &start, &len) != 1) {
            fmt(err, errlen, "body does not match /%s/", expr);
            return -1;
        }
        *value = dup_n(resp->body + start, len);
        break;
    case PK_CAPTURE_JSON: {
        jv *input = body_json(resp);
        if (!input) {
            fmt(err, errlen, "body is not JSON");
            return -1;
        }
        jv out = jq_first(capture->jq, input);
        jv_kind kind = jv_get_kind(out);
        if (kind == JV_KIND_STRING) {
            *value = dup_n(jv_string_value(out), (size_t)jv_string_length_bytes(jv_copy(out)));
            jv_free(out);
        } else if (kind == JV_KIND_INVALID || kind == JV_KIND_NULL) {
            char got[QUOTE_MAX + 16];
            render_jv(out, got, sizeof got);
            fmt(err, errlen, "json %s yielded %s", expr, got);
            pk_utf8_sanitize(err);
            return -1;
        } else {
            jv text = jv_dump_string(out, 0); /* numbers, bools, arrays: their JSON text */
            *value = dup_n(jv_string_value(text), strlen(jv_string_value(text)));
            jv_free(text);
        }
        break;
    }
    default:
        fmt(err, errlen, "unknown capture source %d", capture->source);
        return -1;
    }
    if (!*value) {
        fmt(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- extractions */

int assert_extract(struct assert_response *resp, const struct pk_extraction *extracts, size_t n_extracts,
                   const char *check_name, struct pk_result *r)
{
    int added = 0;
    char qname[PK_NAME_MAX * 2 + 8], qmetric[PK_METRIC_NAME_MAX * 2 + 8], qwhy[160];
    for (size_t i = 0; i < n_extracts; i++) {
        const struct pk_extraction *e = &extracts[i];
        char why[96] = "";
        double value = 0;
        jv *input = body_json(resp);
        if (!input) {
            pk_strlcpy(why, "body is not JSON", sizeof why);
        } else {
            jv out = jq_first(e->jq, input);
            jv_kind kind = jv_get_kind(out);
            if (kind == JV_KIND_NUMBER && isfinite(jv_number_value(out))) {
                value = jv_number_value(out);
                jv_free(out);
            } else if (kind == JV_KIND_TRUE || kind == JV_KIND_FALSE) {
                value = kind == JV_KIND_TRUE;
                jv_free(out);
            } else {
                char got[QUOTE_MAX + 16];
                render_jv(out, got, sizeof got);
                fmt(why, sizeof why, "not a number: %s", got);
            }
        }
        if (!why[0] && r->n_metrics >= PK_MAX_METRICS)
            pk_strlcpy(why, "too many metrics", sizeof why);
        if (why[0]) {
            PK_WARN("assert", "extraction skipped", "check=%s metric=%s reason=%s",
                    pk_log_q(qname, sizeof qname, check_name ? check_name : ""),
                    pk_log_q(qmetric, sizeof qmetric, e->name ? e->name : ""), pk_log_q(qwhy, sizeof qwhy, why));
            continue;
        }
        struct pk_metric *m = &r->metrics[r->n_metrics++];
        pk_strlcpy(m->name, e->name ? e->name : "", sizeof m->name);
        m->value = value;
        added++;
    }
    return added;
}

void assert_response_release(struct assert_response *resp)
{
    if (resp->json_state == 1) {
        jv_free(*(jv *)resp->json);
        free(resp->json);
    }
    resp->json = NULL;
    resp->json_state = 0;
}
