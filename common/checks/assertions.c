/* assertions.c: the `assert:`, `capture:` and `extract:` parts of a check:
 * assertion kinds and their human descriptions, status specs, and the PCRE2 and
 * jq programs compiled at load time so a bad one is a load error. Owns the
 * compiled objects until the set is freed. */
#include "checks_int.h"
#include "jq_msg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jq.h>
#include <pcre2.h>

int ck_compile_regex(struct pk_check_loader *L, const yaml_node_t *n, const char *src, void **out)
{
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, 0, &code, &offset, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return ck_fail_at(L, n, "bad regex '%s' in check '%s': %s at offset %zu", src, ck_in_check(L),
                          (const char *)msg, (size_t)offset);
    }
    *out = re;
    return 0;
}

static int compile_jq(struct pk_check_loader *L, const yaml_node_t *n, const char *src, void **out)
{
    char why[400];
    if (ck_jq_guard(src, why, sizeof why) < 0)
        return ck_fail_at(L, n, "bad jq expression '%s' in check '%s': %s", src, ck_in_check(L), why);
    struct ck_jq_error e = {.have = 0};
    jq_state *jq = jq_init();
    if (!jq)
        return ck_fail_at(L, n, "out of memory");
    /* Never let jq print to stderr: every message comes through here. */
    jq_set_error_cb(jq, ck_jq_error_cb, &e);
    /* No default module path: without one jq 1.6 aborts the process (an assert in
     * jv_array_concat) on `import "m" as m;` or `include "m";`; with it, it says
     * "module not found". */
    jq_set_attr(jq, jv_string("JQ_LIBRARY_PATH"), jv_array());
    if (!jq_compile(jq, src)) {
        jq_teardown(&jq);
        return ck_fail_at(L, n, "bad jq expression '%s' in check '%s': %s", src, ck_in_check(L),
                          e.have ? e.msg : "does not compile");
    }
    *out = jq;
    return 0;
}

void ck_free_regex(void *re) { pcre2_code_free((pcre2_code *)re); }

static void free_jq(void *jq)
{
    jq_state *j = jq;
    if (j)
        jq_teardown(&j);
}

/* ---- assertions ---- */

static void assertion_free(struct pk_assertion *a)
{
    free(a->describe);
    free(a->status_ranges);
    free(a->header_name);
    free(a->text);
    ck_free_regex(a->regex);
    free_jq(a->jq);
    memset(a, 0, sizeof *a);
}

void ck_asserts_free(struct pk_assertion *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assertion_free(&a[i]);
    free(a);
}

/* One status term: 200, "2xx", "200-299". */
static int status_term(const yaml_node_t *n, int *lo, int *hi)
{
    long v;
    if (ck_get_int(n, 100, 599, &v) == 0) {
        *lo = *hi = (int)v;
        return 0;
    }
    if (!ck_is_string(n))
        return -1;
    const char *s = ck_text_of(n);
    if (strlen(s) == 3 && s[0] >= '1' && s[0] <= '5' && (s[1] == 'x' || s[1] == 'X') && (s[2] == 'x' || s[2] == 'X')) {
        *lo = (s[0] - '0') * 100;
        *hi = *lo + 99;
        return 0;
    }
    int a, b, used = 0;
    if (sscanf(s, "%3d-%3d%n", &a, &b, &used) == 2 && (size_t)used == strlen(s) && a >= 100 && b <= 599 && a <= b &&
        strspn(s, "0123456789-") == strlen(s)) {
        *lo = a;
        *hi = b;
        return 0;
    }
    return -1;
}

int ck_get_status_spec(struct pk_check_loader *L, const yaml_node_t *n, struct pk_assertion *a)
{
    static const char reason[] =
        "bad status '%s' in check '%s': want a status 100..599, a class like 2xx, a range like 200-299, or a list";
    size_t count = n->type == YAML_SEQUENCE_NODE ? ck_count_items(n) : 1;
    if (n->type == YAML_SEQUENCE_NODE && (count == 0 || count > MAX_EXPECT_STATUS))
        return ck_fail_at(L, n, "'status' must list 1..%d statuses in check '%s'", MAX_EXPECT_STATUS, ck_in_check(L));
    if (n->type == YAML_MAPPING_NODE)
        return ck_fail_at(L, n, reason, "{...}", ck_in_check(L));
    if (!(a->status_ranges = calloc(2 * count, sizeof *a->status_ranges)))
        return ck_fail_at(L, n, "out of memory");
    char desc[1024] = "status in [";
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *one = n;
        if (n->type == YAML_SEQUENCE_NODE && !(one = ck_child(L, n->data.sequence.items.start[i])))
            return -1;
        int lo, hi;
        if (status_term(one, &lo, &hi) < 0)
            return ck_fail_at(L, one, reason, one->type == YAML_SCALAR_NODE ? ck_text_of(one) : "[...]",
                              ck_in_check(L));
        a->status_ranges[2 * i] = lo;
        a->status_ranges[2 * i + 1] = hi;
        a->n_status_ranges = i + 1;
        size_t used = strlen(desc);
        if (lo == hi)
            snprintf(desc + used, sizeof desc - used, "%s%d", i ? ", " : "", lo);
        else
            snprintf(desc + used, sizeof desc - used, "%s%d-%d", i ? ", " : "", lo, hi);
    }
    size_t used = strlen(desc);
    snprintf(desc + used, sizeof desc - used, "]");
    if (!(a->describe = strdup(desc)))
        return ck_fail_at(L, n, "out of memory");
    return 0;
}

static int describe(struct pk_check_loader *L, const yaml_node_t *n, struct pk_assertion *a, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int describe(struct pk_check_loader *L, const yaml_node_t *n, struct pk_assertion *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vasprintf(&a->describe, fmt, ap);
    va_end(ap);
    if (rc < 0) {
        a->describe = NULL;
        return ck_fail_at(L, n, "out of memory");
    }
    return 0;
}

/* Prometheus series selector: name or name{label="v",...}. */
static int valid_series(const char *s)
{
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_:");
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    if (s[n] == '\0')
        return 1;
    return s[n] == '{' && s[strlen(s) - 1] == '}';
}

static int assert_status(struct pk_check_loader *L, const char *name, const yaml_node_t *v, struct pk_assertion *a)
{
    (void)name;
    a->kind = PK_ASSERT_STATUS;
    return ck_get_status_spec(L, v, a);
}

static int assert_header(struct pk_check_loader *L, const char *name, const yaml_node_t *v, struct pk_assertion *a)
{
    static const char *const keys[] = {"name", "equals", "matches", NULL};
    (void)name;
    if (v->type != YAML_MAPPING_NODE)
        return ck_fail_at(L, v, "'header' must be a mapping like {name: Location, matches: 'R'} in check '%s'",
                          ck_in_check(L));
    if (ck_check_keys(L, v, "'header' assertion of check", keys) < 0)
        return -1;
    const yaml_node_t *hn = ck_find_value(L, v, "name"), *eq = ck_find_value(L, v, "equals"),
                      *m = ck_find_value(L, v, "matches");
    if (!hn || (!eq == !m))
        return ck_fail_at(L, v, "'header' needs 'name' and one of 'equals' or 'matches' in check '%s'", ck_in_check(L));
    if (ck_get_string(L, hn, "name", &a->header_name) < 0)
        return -1;
    if (!ck_valid_header_name(a->header_name))
        return ck_fail_at(L, hn, "invalid header name '%s'", a->header_name);
    if (eq) {
        a->kind = PK_ASSERT_HEADER_EQUALS;
        if (ck_get_string(L, eq, "equals", &a->text) < 0)
            return -1;
        return describe(L, v, a, "header %s equals '%s'", a->header_name, a->text);
    }
    a->kind = PK_ASSERT_HEADER_MATCHES;
    if (ck_get_string(L, m, "matches", &a->text) < 0 || ck_compile_regex(L, m, a->text, &a->regex) < 0)
        return -1;
    return describe(L, v, a, "header %s matches '%s'", a->header_name, a->text);
}

/* body_contains, body_not_contains, output_contains */
static int assert_contains(struct pk_check_loader *L, const char *name, const yaml_node_t *v, struct pk_assertion *a)
{
    a->kind = name[0] == 'o'                       ? PK_ASSERT_OUTPUT_CONTAINS
              : strcmp(name, "body_contains") == 0 ? PK_ASSERT_BODY_CONTAINS
                                                   : PK_ASSERT_BODY_NOT_CONTAINS;
    if (ck_get_string(L, v, name, &a->text) < 0)
        return -1;
    if (!a->text[0])
        return ck_fail_at(L, v, "'%s' must not be empty in check '%s'", name, ck_in_check(L));
    return describe(L, v, a, "%s %s '%s'", name[0] == 'o' ? "output" : "body",
                    a->kind == PK_ASSERT_BODY_NOT_CONTAINS ? "does not contain" : "contains", a->text);
}

static int assert_body_matches(struct pk_check_loader *L, const char *name, const yaml_node_t *v,
                               struct pk_assertion *a)
{
    a->kind = PK_ASSERT_BODY_MATCHES;
    if (ck_get_string(L, v, name, &a->text) < 0 || ck_compile_regex(L, v, a->text, &a->regex) < 0)
        return -1;
    return describe(L, v, a, "body matches '%s'", a->text);
}

static int assert_json(struct pk_check_loader *L, const char *name, const yaml_node_t *v, struct pk_assertion *a)
{
    a->kind = PK_ASSERT_JSON;
    if (ck_get_string(L, v, name, &a->text) < 0 || compile_jq(L, v, a->text, &a->jq) < 0)
        return -1;
    return describe(L, v, a, "json: %s", a->text);
}

static int assert_time_under(struct pk_check_loader *L, const char *name, const yaml_node_t *v, struct pk_assertion *a)
{
    (void)name;
    a->kind = PK_ASSERT_TIME_UNDER;
    if (ck_get_duration(L, v, "time_under", "10s", &a->max_ms) < 0)
        return -1;
    if (a->max_ms <= 0)
        return ck_fail_at(L, v, "'time_under' must be more than 0");
    return describe(L, v, a, "time under %lld ms", (long long)a->max_ms);
}

static int assert_metric(struct pk_check_loader *L, const char *name, const yaml_node_t *v, struct pk_assertion *a)
{
    static const char *const keys[] = {"series", "op", "value", NULL};
    static const char *const ops[] = {"<", "<=", ">", ">=", "==", "!=", NULL};
    (void)name;
    a->kind = PK_ASSERT_METRIC;
    if (v->type != YAML_MAPPING_NODE)
        return ck_fail_at(L, v,
                          "'metric' must be a mapping like {series: 'up{job=\"x\"}', op: '>', value: 0} in "
                          "check '%s'",
                          ck_in_check(L));
    if (ck_check_keys(L, v, "'metric' assertion of check", keys) < 0)
        return -1;
    const yaml_node_t *series = ck_find_value(L, v, "series"), *op = ck_find_value(L, v, "op"),
                      *value = ck_find_value(L, v, "value");
    if (!series || !op || !value)
        return ck_fail_at(L, v, "'metric' needs 'series', 'op' and 'value' in check '%s'", ck_in_check(L));
    if (ck_get_string(L, series, "series", &a->text) < 0)
        return -1;
    if (!valid_series(a->text))
        return ck_fail_at(L, series, "bad series '%s' in check '%s': want name or name{label=\"value\"}", a->text,
                          ck_in_check(L));
    size_t i = 0;
    while (ops[i] && !(ck_is_string(op) && strcmp(ops[i], ck_text_of(op)) == 0))
        i++;
    if (!ops[i])
        return ck_fail_at(L, op, "'op' must be one of < <= > >= == != in check '%s'", ck_in_check(L));
    snprintf(a->op, sizeof a->op, "%s", ops[i]);
    if (ck_get_number(L, value, "value", &a->value) < 0)
        return -1;
    return describe(L, v, a, "metric %s %s %g", a->text, a->op, a->value);
}

/* The assertion kinds by the key that names them. */
static const struct {
    const char *name;
    int (*parse)(struct pk_check_loader *L, const char *name, const yaml_node_t *v, struct pk_assertion *a);
} assert_kinds[] = {
    {"status", assert_status},
    {"header", assert_header},
    {"body_contains", assert_contains},
    {"body_not_contains", assert_contains},
    {"body_matches", assert_body_matches},
    {"json", assert_json},
    {"time_under", assert_time_under},
    {"output_contains", assert_contains},
    {"metric", assert_metric},
};
#define N_ASSERT_KINDS (sizeof assert_kinds / sizeof *assert_kinds)

static int get_severity(struct pk_check_loader *L, const yaml_node_t *val, struct pk_assertion *a)
{
    if (ck_is_string(val) && strcmp(ck_text_of(val), "degraded") == 0)
        a->severity = PK_SEV_DEGRADED;
    else if (ck_is_string(val) && strcmp(ck_text_of(val), "failed") == 0)
        a->severity = PK_SEV_FAILED;
    else
        return ck_fail_at(L, val, "'severity' must be degraded or failed in check '%s'", ck_in_check(L));
    return 0;
}

/* Reads `severity` and the one assertion key of an entry: *kind indexes assert_kinds. */
static int entry_key(struct pk_check_loader *L, const yaml_node_t *item, struct pk_assertion *a,
                     const yaml_node_t **key, const yaml_node_t **value, size_t *kind)
{
    for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = ck_child(L, p->key), *val = ck_child(L, p->value);
        if (!k || !val)
            return -1;
        if (!ck_is_string(k))
            return ck_fail_at(L, k, "keys in 'assert' of check '%s' must be strings", ck_in_check(L));
        if (strcmp(ck_text_of(k), "severity") == 0) {
            if (get_severity(L, val, a) < 0)
                return -1;
            continue;
        }
        size_t i = 0;
        while (i < N_ASSERT_KINDS && strcmp(assert_kinds[i].name, ck_text_of(k)) != 0)
            i++;
        if (i == N_ASSERT_KINDS)
            return ck_fail_at(L, k, "unknown assertion '%s' in check '%s'", ck_text_of(k), ck_in_check(L));
        if (*key)
            return ck_fail_at(L, k, "one assertion per 'assert' entry in check '%s': '%s' and '%s'", ck_in_check(L),
                              ck_text_of(*key), ck_text_of(k));
        *key = k;
        *value = val;
        *kind = i;
    }
    if (!*key)
        return ck_fail_at(L, item, "'assert' entry without an assertion in check '%s'", ck_in_check(L));
    return 0;
}

static int parse_assertion(struct pk_check_loader *L, const yaml_node_t *item, enum assert_set allowed,
                           struct pk_assertion *a)
{
    a->line = (int)item->start_mark.line + 1;
    a->column = (int)item->start_mark.column + 1;
    a->severity = PK_SEV_FAILED;
    if (item->type != YAML_MAPPING_NODE)
        return ck_fail_at(L, item, "each 'assert' entry of check '%s' must be a mapping like {status: 200}",
                          ck_in_check(L));
    const yaml_node_t *key = NULL, *v = NULL;
    size_t kind = 0;
    if (entry_key(L, item, a, &key, &v, &kind) < 0)
        return -1;
    const char *name = ck_text_of(key);
    int ok = strcmp(name, "time_under") == 0 || (allowed == AS_HTTP && strcmp(name, "output_contains") != 0) ||
             (allowed == AS_OUTPUT && strcmp(name, "output_contains") == 0);
    if (!ok)
        return ck_fail_at(L, key, "assertion '%s' does not apply to this check type in check '%s'", name,
                          ck_in_check(L));
    return assert_kinds[kind].parse(L, name, v, a);
}

int ck_get_asserts(struct pk_check_loader *L, const yaml_node_t *n, enum assert_set allowed, struct pk_assertion **out,
                   size_t *n_out)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return ck_fail_at(L, n, "'assert' must be a list in check '%s'", ck_in_check(L));
    size_t count = ck_count_items(n);
    if (count > MAX_LIST)
        return ck_fail_at(L, n, "'assert' has more than %d entries", MAX_LIST);
    struct pk_assertion *a = calloc(count ? count : 1, sizeof *a);
    if (!a)
        return ck_fail_at(L, n, "out of memory");
    for (size_t i = 0; i < count; i++) {
        const yaml_node_t *item = ck_child(L, n->data.sequence.items.start[i]);
        if (!item || parse_assertion(L, item, allowed, &a[i]) < 0) {
            ck_asserts_free(a, i + 1);
            return -1;
        }
    }
    *out = a;
    *n_out = count;
    return 0;
}

/* ---- captures and extractions ---- */

void ck_captures_free(struct pk_capture *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].name);
        free(c[i].header_name);
        free(c[i].expr);
        ck_free_regex(c[i].regex);
        free_jq(c[i].jq);
    }
    free(c);
}

void ck_extracts_free(struct pk_extraction *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].name);
        free(e[i].expr);
        free_jq(e[i].jq);
    }
    free(e);
}

static int parse_capture(struct pk_check_loader *L, const yaml_node_t *k, const yaml_node_t *v, struct pk_capture *c)
{
    static const char *const keys[] = {"status", "header", "regex", "body_regex", "json", NULL};
    if (ck_get_string(L, k, "capture", &c->name) < 0)
        return -1;
    if (!ck_valid_ident(c->name) || strcmp(c->name, "body") == 0)
        return ck_fail_at(L, k, "capture name '%s' in check '%s' must match [A-Za-z_][A-Za-z0-9_]* and not be 'body'",
                          c->name, ck_in_check(L));
    for (size_t i = 0; i < L->n_vars; i++)
        if (strcmp(L->vars[i].name, c->name) == 0)
            return ck_fail_at(L, k, "capture '%s' in check '%s' has the name of a variable", c->name, ck_in_check(L));
    if (v->type != YAML_MAPPING_NODE)
        return ck_fail_at(L, v,
                          "capture '%s' must be {status: true}, {header: NAME}, {body_regex: R} or {json: EXPR} in "
                          "check '%s'",
                          c->name, ck_in_check(L));
    if (ck_check_keys(L, v, "capture of check", keys) < 0)
        return -1;
    const yaml_node_t *st = ck_find_value(L, v, "status"), *h = ck_find_value(L, v, "header"),
                      *re = ck_find_value(L, v, "regex"), *br = ck_find_value(L, v, "body_regex"),
                      *js = ck_find_value(L, v, "json");
    if (!!st + !!h + !!br + !!js != 1 || (re && !h))
        return ck_fail_at(L, v,
                          "capture '%s' needs exactly one of status, header (with optional regex), body_regex or json "
                          "in check '%s'",
                          c->name, ck_in_check(L));
    if (st) {
        int yes;
        if (ck_get_bool(L, st, "status", &yes) < 0)
            return -1;
        if (!yes)
            return ck_fail_at(L, st, "'status' in a capture must be true");
        c->source = PK_CAPTURE_STATUS;
        return 0;
    }
    if (h) {
        c->source = PK_CAPTURE_HEADER;
        if (ck_get_string(L, h, "header", &c->header_name) < 0)
            return -1;
        if (!ck_valid_header_name(c->header_name))
            return ck_fail_at(L, h, "invalid header name '%s'", c->header_name);
        if (re && (ck_get_string(L, re, "regex", &c->expr) < 0 || ck_compile_regex(L, re, c->expr, &c->regex) < 0))
            return -1;
        return 0;
    }
    if (br) {
        c->source = PK_CAPTURE_BODY_REGEX;
        return ck_get_string(L, br, "body_regex", &c->expr) < 0 ? -1 : ck_compile_regex(L, br, c->expr, &c->regex);
    }
    c->source = PK_CAPTURE_JSON;
    return ck_get_string(L, js, "json", &c->expr) < 0 ? -1 : compile_jq(L, js, c->expr, &c->jq);
}

int ck_get_captures(struct pk_check_loader *L, const yaml_node_t *n, struct pk_step *s)
{
    if (n->type != YAML_MAPPING_NODE)
        return ck_fail_at(L, n, "'capture' must be a mapping of name to source in check '%s'", ck_in_check(L));
    size_t count = ck_count_pairs(n);
    if (count > MAX_HEADERS)
        return ck_fail_at(L, n, "'capture' has more than %d entries", MAX_HEADERS);
    if (!(s->captures = calloc(count ? count : 1, sizeof *s->captures)))
        return ck_fail_at(L, n, "out of memory");
    for (size_t i = 0; i < count; i++) {
        yaml_node_pair_t *p = &n->data.mapping.pairs.start[i];
        const yaml_node_t *k = ck_child(L, p->key), *v = ck_child(L, p->value);
        s->n_captures = i + 1;
        if (!k || !v)
            return -1;
        if (!ck_is_string(k))
            return ck_fail_at(L, k, "capture names must be strings in check '%s'", ck_in_check(L));
        for (size_t j = 0; j < i; j++)
            if (strcmp(s->captures[j].name, ck_text_of(k)) == 0)
                return ck_fail_at(L, k, "duplicate capture '%s' in check '%s'", ck_text_of(k), ck_in_check(L));
        if (parse_capture(L, k, v, &s->captures[i]) < 0)
            return -1;
    }
    return 0;
}

/* names: the extractions made so far in this check, to keep metric names unique. */
int ck_get_extracts(struct pk_check_loader *L, const yaml_node_t *n, struct pk_step *s, const struct pk_step *earlier,
                    size_t n_earlier)
{
    if (n->type != YAML_MAPPING_NODE)
        return ck_fail_at(L, n, "'extract' must be a mapping of metric name to jq expression in check '%s'",
                          ck_in_check(L));
    size_t count = ck_count_pairs(n);
    if (count > MAX_HEADERS)
        return ck_fail_at(L, n, "'extract' has more than %d entries", MAX_HEADERS);
    if (!(s->extracts = calloc(count ? count : 1, sizeof *s->extracts)))
        return ck_fail_at(L, n, "out of memory");
    for (size_t i = 0; i < count; i++) {
        yaml_node_pair_t *p = &n->data.mapping.pairs.start[i];
        const yaml_node_t *k = ck_child(L, p->key), *v = ck_child(L, p->value);
        struct pk_extraction *e = &s->extracts[i];
        s->n_extracts = i + 1;
        if (!k || !v)
            return -1;
        if (ck_get_string(L, k, "extract", &e->name) < 0)
            return -1;
        if (!ck_valid_ident(e->name))
            return ck_fail_at(L, k, "metric name '%s' in check '%s' must match [a-zA-Z_][a-zA-Z0-9_]*", e->name,
                              ck_in_check(L));
        int dup = 0;
        for (size_t j = 0; j < i; j++)
            dup |= strcmp(s->extracts[j].name, e->name) == 0;
        for (size_t st = 0; st < n_earlier; st++)
            for (size_t j = 0; j < earlier[st].n_extracts; j++)
                dup |= strcmp(earlier[st].extracts[j].name, e->name) == 0;
        if (dup)
            return ck_fail_at(L, k, "duplicate metric '%s' in check '%s'", e->name, ck_in_check(L));
        if (ck_get_string(L, v, e->name, &e->expr) < 0 || compile_jq(L, v, e->expr, &e->jq) < 0)
            return -1;
    }
    return 0;
}
