/* parse_http.c: the http check type's options: a request (method, url,
 * headers, json/form/body, redirects, body cap, TLS), steps with their
 * assertions, captures and extractions (shared with flow), the flat form (url,
 * method, headers, body, expect_status on the check) and `burst:`. */
#include "checks_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void request_free(struct pk_request *r)
{
    free(r->method);
    free(r->url);
    ck_free_kvs(r->headers, r->n_headers);
    free(r->body);
    ck_free_kvs(r->form, r->n_form);
    free(r->tls.ca_file);
    free(r->tls.cert_file);
    free(r->tls.key_file);
    free(r->tls.server_name);
    memset(r, 0, sizeof *r);
}

static int check_method(struct pk_check_loader *L, const yaml_node_t *v, const char *m)
{
    if (!m[0] || strlen(m) > 32 || strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(m))
        return ck_fail_at(L, v, "'method' must be uppercase letters, like GET or POST");
    return 0;
}

static int check_url(struct pk_check_loader *L, const yaml_node_t *v, const char *url)
{
    /* A template may supply the scheme ({{base_url}}/x); check it when literal. */
    if (strncmp(url, "{{", 2) != 0 && strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return ck_fail_at(L, v, "'url' must start with http:// or https://");
    if (strpbrk(url, " ") || ck_has_control(url))
        return ck_fail_at(L, v, "'url' must not contain spaces or control characters");
    return 0;
}

static int has_kv(const struct pk_kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(kv[i].key, key) == 0)
            return 1;
    return 0;
}

static int add_kv(struct pk_kv **kv, size_t *n, const char *key, const char *value)
{
    struct pk_kv *grown = realloc(*kv, (*n + 1) * sizeof **kv);
    if (!grown)
        return -1;
    *kv = grown;
    grown[*n].key = strdup(key);
    grown[*n].value = strdup(value);
    if (!grown[*n].key || !grown[*n].value) {
        free(grown[*n].key);
        free(grown[*n].value);
        return -1;
    }
    (*n)++;
    return 0;
}

static int tls_options(struct pk_check_loader *L, const yaml_node_t *n, struct pk_tls_options *t)
{
    static const char *const keys[] = {"ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify", NULL};
    if (n->type != YAML_MAPPING_NODE)
        return ck_fail_at(L, n, "'tls' must be a mapping in check '%s'", ck_in_check(L));
    if (ck_check_keys(L, n, "'tls' of check", keys) < 0)
        return -1;
    const yaml_node_t *v;
    if ((v = ck_find_value(L, n, "ca_file")) && ck_get_string(L, v, "ca_file", &t->ca_file) < 0)
        return -1;
    if ((v = ck_find_value(L, n, "cert_file")) && ck_get_string(L, v, "cert_file", &t->cert_file) < 0)
        return -1;
    if ((v = ck_find_value(L, n, "key_file")) && ck_get_string(L, v, "key_file", &t->key_file) < 0)
        return -1;
    if ((v = ck_find_value(L, n, "server_name")) && ck_get_string(L, v, "server_name", &t->server_name) < 0)
        return -1;
    if ((v = ck_find_value(L, n, "insecure_skip_verify")) &&
        ck_get_bool(L, v, "insecure_skip_verify", &t->insecure_skip_verify) < 0)
        return -1;
    if (!t->cert_file != !t->key_file)
        return ck_fail_at(L, n, "'cert_file' and 'key_file' go together in check '%s'", ck_in_check(L));
    return 0;
}

static int parse_request(struct pk_check_loader *L, const yaml_node_t *n, struct pk_request *r)
{
    static const char *const keys[] = {"method",           "url",      "headers", "json", "form", "body",
                                       "follow_redirects", "max_body", "tls",     NULL};
    const yaml_node_t *v;
    r->max_body_bytes = DEFAULT_MAX_BODY;
    if (n->type != YAML_MAPPING_NODE)
        return ck_fail_at(L, n, "'request' must be a mapping in check '%s'", ck_in_check(L));
    if (ck_check_keys(L, n, "'request' of check", keys) < 0)
        return -1;
    const yaml_node_t *json = ck_find_value(L, n, "json"), *form = ck_find_value(L, n, "form"),
                      *body = ck_find_value(L, n, "body");
    if (!!json + !!form + !!body > 1)
        return ck_fail_at(L, json && form ? ck_find_key(L, n, "form") : ck_find_key(L, n, "body"),
                          "give only one of 'json', 'form' or 'body' in check '%s'", ck_in_check(L));
    if (!(v = ck_find_value(L, n, "url")))
        return ck_fail_at(L, n, "'request' of check '%s' has no 'url'", ck_in_check(L));
    if (ck_get_template(L, v, "url", &r->url) < 0 || check_url(L, v, r->url) < 0)
        return -1;
    if ((v = ck_find_value(L, n, "method")) &&
        (ck_get_string(L, v, "method", &r->method) < 0 || check_method(L, v, r->method) < 0))
        return -1;
    if (json) {
        struct pk_buf b;
        pk_buf_init(&b, CK_TEXT_MAX);
        r->body_kind = PK_BODY_JSON;
        if (ck_to_json(L, json, &b, 0) < 0) {
            pk_buf_free(&b);
            return -1;
        }
        r->body = pk_buf_take(&b);
    } else if (form) {
        r->body_kind = PK_BODY_FORM;
        if (ck_get_kv_map(L, form, "form", KV_FORM, 1, &r->form, &r->n_form) < 0)
            return -1;
    } else if (body) {
        r->body_kind = PK_BODY_RAW;
        if (ck_get_template(L, body, "body", &r->body) < 0)
            return -1;
    }
    /* Header values may sign the body: {{hmac_sha256_hex(secret, body)}}. */
    if ((v = ck_find_value(L, n, "headers"))) {
        L->allow_body = r->body_kind != PK_BODY_NONE;
        int rc = ck_get_kv_map(L, v, "headers", KV_HEADERS, 1, &r->headers, &r->n_headers);
        L->allow_body = 0;
        if (rc < 0)
            return -1;
    }
    if ((v = ck_find_value(L, n, "follow_redirects")) &&
        ck_get_bool(L, v, "follow_redirects", &r->follow_redirects) < 0)
        return -1;
    if ((v = ck_find_value(L, n, "max_body")) && ck_get_size(L, v, "max_body", &r->max_body_bytes) < 0)
        return -1;
    if ((v = ck_find_value(L, n, "tls")) && tls_options(L, v, &r->tls) < 0)
        return -1;
    if (!r->method && !(r->method = strdup(r->body_kind == PK_BODY_NONE ? "GET" : "POST")))
        return ck_fail_at(L, n, "out of memory");
    if (r->body_kind == PK_BODY_JSON && !has_kv(r->headers, r->n_headers, "Content-Type") &&
        add_kv(&r->headers, &r->n_headers, "Content-Type", "application/json") < 0)
        return ck_fail_at(L, n, "out of memory");
    if (r->body_kind == PK_BODY_FORM && !has_kv(r->headers, r->n_headers, "Content-Type") &&
        add_kv(&r->headers, &r->n_headers, "Content-Type", "application/x-www-form-urlencoded") < 0)
        return ck_fail_at(L, n, "out of memory");
    return 0;
}

/* ---- steps ---- */

void ck_step_free(struct pk_step *s)
{
    free(s->name);
    request_free(&s->request);
    ck_asserts_free(s->asserts, s->n_asserts);
    ck_captures_free(s->captures, s->n_captures);
    ck_extracts_free(s->extracts, s->n_extracts);
    memset(s, 0, sizeof *s);
}

static int has_status_assert(const struct pk_step *s)
{
    for (size_t i = 0; i < s->n_asserts; i++)
        if (s->asserts[i].kind == PK_ASSERT_STATUS)
            return 1;
    return 0;
}

/* Without a status assertion a step expects 200, as the flat expect_status did. */
static int add_default_status(struct pk_check_loader *L, const yaml_node_t *at, struct pk_step *s)
{
    if (has_status_assert(s))
        return 0;
    struct pk_assertion *grown = realloc(s->asserts, (s->n_asserts + 1) * sizeof *grown);
    if (!grown)
        return ck_fail_at(L, at, "out of memory");
    s->asserts = grown;
    memmove(grown + 1, grown, s->n_asserts * sizeof *grown);
    struct pk_assertion *a = &grown[0];
    s->n_asserts++;
    memset(a, 0, sizeof *a);
    a->kind = PK_ASSERT_STATUS;
    a->line = (int)at->start_mark.line + 1;
    a->column = (int)at->start_mark.column + 1;
    a->status_ranges = malloc(2 * sizeof *a->status_ranges);
    a->describe = strdup("status in [200]");
    if (!a->status_ranges || !a->describe)
        return ck_fail_at(L, at, "out of memory");
    a->status_ranges[0] = a->status_ranges[1] = 200;
    a->n_status_ranges = 1;
    return 0;
}

int ck_parse_step(struct pk_check_loader *L, const yaml_node_t *n, size_t index, struct pk_step *steps)
{
    static const char *const keys[] = {"name", "request", "assert", "capture", "extract", NULL};
    struct pk_step *s = &steps[index];
    const yaml_node_t *v;
    if (n->type != YAML_MAPPING_NODE)
        return ck_fail_at(L, n, "each entry of 'steps' must be a mapping in check '%s'", ck_in_check(L));
    s->line = (int)n->start_mark.line + 1;
    if (ck_check_keys(L, n, "step of check", keys) < 0)
        return -1;
    if ((v = ck_find_value(L, n, "name"))) {
        if (ck_get_string(L, v, "name", &s->name) < 0)
            return -1;
        if (!ck_valid_name(s->name))
            return ck_fail_at(L, v, "step name '%s' must be 1..%d characters of A-Z a-z 0-9 _ . -", s->name,
                              PK_NAME_MAX - 1);
        for (size_t i = 0; i < index; i++)
            if (strcmp(steps[i].name, s->name) == 0)
                return ck_fail_at(L, v, "duplicate step name '%s' in check '%s'", s->name, ck_in_check(L));
    } else if (asprintf(&s->name, "step-%zu", index + 1) < 0) {
        s->name = NULL;
        return ck_fail_at(L, n, "out of memory");
    }
    L->step = index;
    if (!(v = ck_find_value(L, n, "request")))
        return ck_fail_at(L, n, "step '%s' of check '%s' has no 'request'", s->name, ck_in_check(L));
    if (parse_request(L, v, &s->request) < 0)
        return -1;
    if ((v = ck_find_value(L, n, "assert")) && ck_get_asserts(L, v, AS_HTTP, &s->asserts, &s->n_asserts) < 0)
        return -1;
    if (add_default_status(L, n, s) < 0)
        return -1;
    if ((v = ck_find_value(L, n, "capture")) && ck_get_captures(L, v, s) < 0)
        return -1;
    if ((v = ck_find_value(L, n, "extract")) && ck_get_extracts(L, v, s, steps, index) < 0)
        return -1;
    return 0;
}

/* The flat `expect_status`: validated here for its own messages; the step's
 * status assertion is read from the same node. */
static int check_expect_status(struct pk_check_loader *L, const yaml_node_t *n)
{
    static const char reason[] = "'expect_status' must be an HTTP status (100..599) or a list of them";
    const yaml_node_t *one = n;
    size_t count = 1;
    if (n->type == YAML_SEQUENCE_NODE) {
        count = ck_count_items(n);
        if (count == 0 || count > MAX_EXPECT_STATUS)
            return ck_fail_at(L, n, "'expect_status' must list 1..%d statuses", MAX_EXPECT_STATUS);
    }
    for (size_t i = 0; i < count; i++) {
        if (n->type == YAML_SEQUENCE_NODE && !(one = ck_child(L, n->data.sequence.items.start[i])))
            return -1;
        long v;
        if (ck_get_int(one, 100, 599, &v) < 0)
            return ck_fail_at(L, one, "%s", reason);
    }
    return 0;
}

/* Builds the step of an http check from the flat keys on the check. */
static int http_flat(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c)
{
    struct pk_step *s = c->u.http.step;
    struct pk_request *r = &s->request;
    const yaml_node_t *v;
    r->max_body_bytes = DEFAULT_MAX_BODY;
    if (!(v = ck_find_value(L, map, "url")))
        return ck_fail_at(L, map, "check '%s' of type http has no 'url'", c->name);
    if (ck_get_template(L, v, "url", &r->url) < 0 || check_url(L, v, r->url) < 0)
        return -1;
    if ((v = ck_find_value(L, map, "method")) &&
        (ck_get_string(L, v, "method", &r->method) < 0 || check_method(L, v, r->method) < 0))
        return -1;
    if ((v = ck_find_value(L, map, "body"))) {
        r->body_kind = PK_BODY_RAW;
        if (ck_get_template(L, v, "body", &r->body) < 0)
            return -1;
    }
    if ((v = ck_find_value(L, map, "headers"))) {
        L->allow_body = r->body_kind != PK_BODY_NONE;
        int rc = ck_get_kv_map(L, v, "headers", KV_HEADERS, 1, &r->headers, &r->n_headers);
        L->allow_body = 0;
        if (rc < 0)
            return -1;
    }
    /* the flat form keeps GET unless told otherwise, even with a body */
    if (!r->method && !(r->method = strdup("GET")))
        return ck_fail_at(L, map, "out of memory");
    if ((v = ck_find_value(L, map, "expect_status"))) {
        if (check_expect_status(L, v) < 0)
            return -1;
        if (!(s->asserts = calloc(1, sizeof *s->asserts)))
            return ck_fail_at(L, v, "out of memory");
        s->n_asserts = 1;
        struct pk_assertion *a = &s->asserts[0];
        a->kind = PK_ASSERT_STATUS;
        a->line = (int)v->start_mark.line + 1;
        a->column = (int)v->start_mark.column + 1;
        if (ck_get_status_spec(L, v, a) < 0)
            return -1;
    }
    return 0;
}

static int parse_burst(struct pk_check_loader *L, const yaml_node_t *n, struct pk_burst *b)
{
    static const char *const keys[] = {"count", "within", "expect_status", "at_least", "at_most", NULL};
    const yaml_node_t *v;
    long x;
    if (n->type != YAML_MAPPING_NODE)
        return ck_fail_at(L, n, "'burst' must be a mapping in check '%s'", ck_in_check(L));
    if (ck_check_keys(L, n, "'burst' of check", keys) < 0)
        return -1;
    if (!(v = ck_find_value(L, n, "count")))
        return ck_fail_at(L, n, "'burst' needs 'count' in check '%s'", ck_in_check(L));
    if (ck_get_int_in(L, v, "count", 1, 1000, &x) < 0)
        return -1;
    b->count = (int)x;
    b->expect_at_most = -1;
    if ((v = ck_find_value(L, n, "within")) && ck_get_duration(L, v, "within", "1s", &b->within_ms) < 0)
        return -1;
    if (!(v = ck_find_value(L, n, "expect_status")))
        return ck_fail_at(L, n, "'burst' needs 'expect_status' in check '%s'", ck_in_check(L));
    if (ck_get_int_in(L, v, "expect_status", 100, 599, &x) < 0)
        return -1;
    b->expect_status = (int)x;
    if ((v = ck_find_value(L, n, "at_least"))) {
        if (ck_get_int_in(L, v, "at_least", 0, b->count, &x) < 0)
            return -1;
        b->expect_at_least = (int)x;
    }
    if ((v = ck_find_value(L, n, "at_most"))) {
        if (ck_get_int_in(L, v, "at_most", 0, b->count, &x) < 0)
            return -1;
        b->expect_at_most = (int)x;
        if (b->expect_at_most < b->expect_at_least)
            return ck_fail_at(L, v, "'at_most' must not be less than 'at_least' in check '%s'", ck_in_check(L));
    }
    if (!ck_find_value(L, n, "at_least") && !ck_find_value(L, n, "at_most"))
        return ck_fail_at(L, n, "'burst' needs 'at_least' or 'at_most' in check '%s'", ck_in_check(L));
    return 0;
}

static int parse_samples(struct pk_check_loader *L, const yaml_node_t *n, struct pk_samples *sm)
{
    static const char *const keys[] = {"count", "p50_under", "p95_under", "p99_under", NULL};
    const yaml_node_t *v;
    long x;
    if (n->type != YAML_MAPPING_NODE)
        return ck_fail_at(L, n, "'samples' must be a mapping like {count: 10, p95_under: 8s} in check '%s'",
                          ck_in_check(L));
    if (ck_check_keys(L, n, "'samples' of check", keys) < 0)
        return -1;
    if (!(v = ck_find_value(L, n, "count")))
        return ck_fail_at(L, n, "'samples' needs 'count' in check '%s'", ck_in_check(L));
    if (ck_get_int_in(L, v, "count", 2, 100, &x) < 0)
        return -1;
    sm->count = (int)x;
    if ((v = ck_find_value(L, n, "p50_under")) && ck_get_duration(L, v, "p50_under", "3s", &sm->p50_under_ms) < 0)
        return -1;
    if ((v = ck_find_value(L, n, "p95_under")) && ck_get_duration(L, v, "p95_under", "8s", &sm->p95_under_ms) < 0)
        return -1;
    if ((v = ck_find_value(L, n, "p99_under")) && ck_get_duration(L, v, "p99_under", "10s", &sm->p99_under_ms) < 0)
        return -1;
    if (sm->p50_under_ms < 0 || sm->p95_under_ms < 0 || sm->p99_under_ms < 0)
        return ck_fail_at(L, n, "'samples' bounds must be more than 0 in check '%s'", ck_in_check(L));
    return 0;
}

int ck_parse_http(struct pk_check_loader *L, const yaml_node_t *map, struct pk_check *c)
{
    const yaml_node_t *req = ck_find_value(L, map, "request"), *v;
    static const char *const flat[] = {"url", "method", "headers", "body", "expect_status"};
    if (!(c->u.http.step = calloc(1, sizeof *c->u.http.step)))
        return ck_fail_at(L, map, "out of memory");
    struct pk_step *s = c->u.http.step;
    if (!(s->name = strdup(c->name)))
        return ck_fail_at(L, map, "out of memory");
    s->line = c->line;
    if (req) {
        for (size_t i = 0; i < sizeof flat / sizeof *flat; i++)
            if ((v = ck_find_key(L, map, flat[i])))
                return ck_fail_at(L, v, "'%s' cannot be used with 'request' in check '%s'; %s", flat[i], c->name,
                                  strcmp(flat[i], "expect_status") ? "move it into 'request'"
                                                                   : "write assert: [{status: ...}] instead");
        if (parse_request(L, req, &s->request) < 0)
            return -1;
    } else if (http_flat(L, map, c) < 0) {
        return -1;
    }
    if ((v = ck_find_value(L, map, "assert"))) {
        if (ck_find_value(L, map, "expect_status"))
            return ck_fail_at(L, v, "use either 'expect_status' or 'assert' in check '%s'", c->name);
        if (ck_get_asserts(L, v, AS_HTTP, &s->asserts, &s->n_asserts) < 0)
            return -1;
    }
    if (add_default_status(L, map, s) < 0)
        return -1;
    if ((v = ck_find_value(L, map, "extract")) && ck_get_extracts(L, v, s, NULL, 0) < 0)
        return -1;
    if ((v = ck_find_value(L, map, "burst")) && parse_burst(L, v, &c->u.http.burst) < 0)
        return -1;
    if ((v = ck_find_value(L, map, "samples"))) {
        if (c->u.http.burst.count > 0)
            return ck_fail_at(L, v, "use either 'burst' or 'samples' in check '%s'", c->name);
        if (parse_samples(L, v, &c->u.http.samples) < 0)
            return -1;
    }
    return ck_step_target(L, map, s, c);
}

void ck_free_http(struct pk_check *c)
{
    if (c->u.http.step)
        ck_step_free(c->u.http.step);
    free(c->u.http.step);
}
