/* checks.h: the check language as parsed data.
 *
 * A check file is YAML:
 *
 *   vars:                              # defaults; a probe's vars and region vars win
 *     rag_url: ${RAG_API_URL:-http://127.0.0.1:8000}
 *   secrets:                           # values never appear in logs, results or errors
 *     shopify: {env: SHOPIFY_WEBHOOK_SECRET}      # or {file: /run/secrets/shopify}
 *   checks:
 *     - name: rag-query
 *       type: http                     # http flow tcp dns tls grpc exec
 *       service: rag-api               # groups checks for reports
 *       interval: 60s
 *       timeout: 10s
 *       retries: 0
 *       labels: {team: ai}
 *       budgets: {p50: 3s, p95: 8s, p99: 10s}   # the seed's latency table (kept; used by analytics)
 *       slo: {target: 99.5, window: 30d}        # kept; used by analytics
 *       request:
 *         method: POST
 *         url: "{{rag_url}}/query"
 *         headers: {X-Request-Id: "{{uuid()}}"}
 *         json: {question: "What is our return policy?", conversation_id: picket}   # or form: {..} or body: "raw"
 *         follow_redirects: false
 *         max_body: 1MiB
 *         tls: {ca_file: ..., cert_file: ..., key_file: ..., insecure_skip_verify: false, server_name: ...}
 *       assert:
 *         - status: 200                      # 200 | [200, 201] | "2xx" | "200-299"
 *         - json: '.answer | length > 0'     # a jq expression that must yield true
 *         - json: '.sources | type == "array"'
 *         - body_contains: "return"          # body_not_contains, body_matches (PCRE2)
 *         - header: {name: Location, matches: '/drafts/draft_\d+'}    # or equals:
 *         - time_under: 10s
 *         - {time_under: 2s, severity: degraded}                       # default severity: failed
 *       extract:                             # numeric values stored as metrics
 *         sources: '.sources | length'
 *
 * Flow steps carry request/assert/extract/capture each; captures feed later steps
 * as {{name}}:  capture: {draft_id: {header: Location, regex: 'draft_\d+'}}
 *               capture: {token: {json: '.token'}}  {code: {status: true}}  {x: {body_regex: 'id=(\d+)'}}
 *
 * The other types take their options in a block named after the type, plus an
 * optional check-level `assert:` list (tcp, exec: output_contains, time_under;
 * dns, tls, grpc: time_under):
 *   type: tcp   tcp:  {host: h, port: 6379, send: "PING\r\n", expect: '^\+PONG'}
 *   type: dns   dns:  {name: example.com, server: '127.0.0.1:5353', record: AAAA, expect: ['::1']}
 *   type: tls   tls:  {host: h, port: 443, server_name: h, degraded_days: 30, failed_days: 7, ca_file: ...}
 *   type: grpc  grpc: {target: '127.0.0.1:7700', service: name, tls: false, ca_file: ...}
 *   type: exec  exec: {command: [prog, arg], env: {K: v}, workdir: /d, max_output: 64KiB}
 *                     or {command: 'a | b', shell: true}
 * http also accepts a flat form (url, method, headers, body, expect_status on
 * the check), read into the same single step. An http step without a status assertion expects
 * 200. `burst:` (http only): {count: 20, within: 1s, expect_status: 429, at_least: 1, at_most: N}.
 * Assertion kinds also: metric: {series: 'name{l="v"}', op: '<', value: 5e8}.
 * ${ENV} / ${ENV:-default} apply to every string value; $${ writes a literal ${.
 * Overrides (pk_checkset_load_*_with_vars) replace file vars by name and may add new ones.
 *
 * Loading is all-or-nothing: one bad check rejects the whole file with
 * "file:line:column: reason". Owns every string and compiled object it points at;
 * free with pk_checkset_free(). Compiled regexes (PCRE2) and jq programs are made at
 * load time so that a bad one is a load error; jq programs are NOT thread-safe: they
 * are used only on the probe's runner thread. */
#ifndef PK_CHECKS_H
#define PK_CHECKS_H

#include <stddef.h>
#include <stdint.h>

#include "check_meta.h"

struct pk_kv {
    char *key;
    char *value;
};

enum pk_severity { PK_SEV_FAILED = 0, PK_SEV_DEGRADED = 1 };

enum pk_assert_kind {
    PK_ASSERT_STATUS,            /* status_ranges */
    PK_ASSERT_HEADER_EQUALS,     /* header_name, text */
    PK_ASSERT_HEADER_MATCHES,    /* header_name, text = regex source, regex */
    PK_ASSERT_BODY_CONTAINS,     /* text */
    PK_ASSERT_BODY_NOT_CONTAINS, /* text */
    PK_ASSERT_BODY_MATCHES,      /* text = regex source, regex */
    PK_ASSERT_JSON,              /* text = jq source, jq */
    PK_ASSERT_TIME_UNDER,        /* max_ms against total time */
    PK_ASSERT_OUTPUT_CONTAINS,   /* exec/tcp: text */
    PK_ASSERT_METRIC,            /* Prometheus text body: text = series selector, op, value */
};

struct pk_assertion {
    int kind;                    /* enum pk_assert_kind */
    int severity;                /* enum pk_severity */
    char *describe;              /* human form used in failure messages: "status in [200]" */
    int line, column;            /* where it was written, 1-based */
    int *status_ranges;          /* pairs [lo, hi] inclusive */
    size_t n_status_ranges;
    char *header_name;
    char *text;
    int64_t max_ms;
    char op[3];                  /* PK_ASSERT_METRIC: "<" "<=" ">" ">=" "==" "!=" */
    double value;
    void *regex;                 /* pcre2_code *, owned */
    void *jq;                    /* jq_state *, owned; runner thread only */
};

enum pk_capture_source { PK_CAPTURE_STATUS, PK_CAPTURE_HEADER, PK_CAPTURE_BODY_REGEX, PK_CAPTURE_JSON };

struct pk_capture {
    char *name;                  /* becomes {{name}} in later steps */
    int source;                  /* enum pk_capture_source */
    char *header_name;           /* PK_CAPTURE_HEADER */
    char *expr;                  /* regex source (group 1 if any, else whole match) or jq source */
    void *regex;                 /* pcre2_code *, owned; also for header + regex */
    void *jq;                    /* jq_state *, owned */
};

struct pk_extraction {
    char *name;                  /* metric name */
    char *expr;                  /* jq source; must yield a number (or bool -> 0/1) */
    void *jq;
};

enum pk_body_kind { PK_BODY_NONE, PK_BODY_RAW, PK_BODY_JSON, PK_BODY_FORM };

struct pk_tls_options {
    char *ca_file;
    char *cert_file;
    char *key_file;
    char *server_name;
    int insecure_skip_verify;
};

/* Strings marked (template) may hold {{...}}: variables, captures and functions
 * uuid(), now(), now_unix(), now_ms(), hmac_sha256_hex(secret, data),
 * hmac_sha256_base64(secret, data), base64(data), where data may be `body` (the
 * expanded request body) or a string. See common/template.h. */
struct pk_request {
    char *method;                /* default GET (POST when a body is given) */
    char *url;                   /* (template) */
    struct pk_kv *headers;       /* values are (template) */
    size_t n_headers;
    int body_kind;               /* enum pk_body_kind */
    char *body;                  /* RAW: (template); JSON: serialized JSON whose strings are (template) */
    struct pk_kv *form;          /* FORM: values are (template); sent url-encoded */
    size_t n_form;
    int follow_redirects;        /* default 0 */
    int64_t max_body_bytes;      /* default 1 MiB */
    struct pk_tls_options tls;
};

struct pk_step {
    char *name;
    int line;
    struct pk_request request;
    struct pk_assertion *asserts;
    size_t n_asserts;
    struct pk_capture *captures;
    size_t n_captures;
    struct pk_extraction *extracts;
    size_t n_extracts;
};

/* A bounded burst: N requests of the check's (single) step fired concurrently,
 * then assertions on how the answers spread, e.g. the seed's rate-limit test
 * "after 20 requests in a second, 429s appear". */
struct pk_burst {
    int count;                   /* 0 = no burst; at most 1000 */
    int64_t within_ms;           /* fire them spread over this long (0 = all at once) */
    int expect_status;           /* status to count, e.g. 429 */
    int expect_at_least;         /* that status at least this many times ... */
    int expect_at_most;          /* ... and at most this many (-1 = no bound) */
};

/* http: one request with its assertions, captures and extractions, the same
 * step a flow runs, and an optional burst. */
/* samples: the request N times in a row in one round (the seed's "run 10
 * queries to get statistical distribution"), each judged by the step's
 * assertions, then the nearest-rank percentiles of their times against these
 * bounds (strictly under, as the seed's toBeLessThan). */
struct pk_samples {
    int count;                   /* 0 = one request; 2..100 */
    int64_t p50_under_ms, p95_under_ms, p99_under_ms; /* 0 = not asserted */
};

struct pk_http_options {
    struct pk_step *step;        /* exactly one; owned */
    struct pk_burst burst;
    struct pk_samples samples;
};

/* flow: steps run in order; captures feed later steps. */
struct pk_flow_options {
    struct pk_step *steps;       /* one or more; owned */
    size_t n_steps;
};

struct pk_tcp_options {
    char *host;                  /* (template) */
    int port;
    char *send;                  /* (template) optional */
    char *expect;                /* regex source, optional */
    void *expect_regex;
};

struct pk_dns_options {
    char *name;                  /* (template) */
    char *server;                /* "127.0.0.1:5353"; NULL = system resolver */
    char *record_type;           /* A AAAA CNAME MX TXT NS SOA SRV PTR; default A */
    char **expect;               /* answers that must all be present (any order); may be empty */
    size_t n_expect;
};

struct pk_tls_check_options {
    char *host;
    int port;                    /* default 443 */
    char *server_name;           /* SNI; default host */
    int64_t degraded_days;       /* default 30 */
    int64_t failed_days;         /* default 7 */
    char *ca_file;               /* verify the chain against this; NULL = no chain check, expiry only */
};

struct pk_grpc_options {
    char *target;                /* "127.0.0.1:7700" */
    char *service;               /* grpc.health.v1 service name; "" = server */
    int tls;
    char *ca_file;
};

struct pk_exec_options {
    char **argv;                 /* argv[0] is the program; NULL-terminated; (template) each */
    size_t argc;
    int shell;                   /* 1: argv[0] is a command line for /bin/sh -c */
    struct pk_kv *env;           /* extra environment; values (template) */
    size_t n_env;
    char *workdir;
    int64_t max_output_bytes;    /* default 64 KiB; the rest is read and discarded */
};

struct pk_budgets {
    int64_t p50_ms, p95_ms, p99_ms; /* 0 = none */
};

struct pk_check_slo { /* not analytics.h's struct pk_slo (an evaluation) */
    double target_percent;       /* 0 = none */
    int64_t window_ms;
};

struct pk_var_source {
    char *name;
    char *value;                 /* after ${ENV} substitution */
    int secret;                  /* 1: redact everywhere */
};

/* The check types. Each has one row in pk_check_types (common/checks/types.c),
 * one parse file (common/checks/parse_<type>.c) and one executor in the
 * probe's registry (probe/checks/registry.c), keyed by this enum. */
enum pk_check_kind {
    PK_CHECK_HTTP,
    PK_CHECK_FLOW,
    PK_CHECK_TCP,
    PK_CHECK_DNS,
    PK_CHECK_TLS,
    PK_CHECK_GRPC,
    PK_CHECK_EXEC,
    PK_CHECK_KINDS /* how many */
};

struct pk_check {
    char *name;                  /* unique within a set */
    char *type;                  /* the `type:` as written: http flow tcp dns tls grpc exec */
    int kind;                    /* enum pk_check_kind: the type as a number; selects u */
    char *service;               /* NULL when not given */
    char *file;                  /* where it was defined, for error messages */
    int line;
    int64_t interval_ms;         /* default 30000 */
    int64_t timeout_ms;          /* default min(10 s, interval); never more than interval */
    int retries;                 /* default 0 */
    struct pk_kv *labels;
    size_t n_labels;
    struct pk_budgets budgets;
    struct pk_check_slo slo;
    /* depends_on: other checks' names and service:NAME entries (docs/CHECKS.md);
     * an incident starting while one of them has one open is caused by it. */
    char **depends_on;
    size_t n_depends_on;
    char *target;                /* a human string for reports: URL, host:port, ... */

    /* The type's options: the member named by kind. */
    union {
        struct pk_http_options http;
        struct pk_flow_options flow;
        struct pk_tcp_options tcp;
        struct pk_dns_options dns;
        struct pk_tls_check_options tls;
        struct pk_grpc_options grpc;
        struct pk_exec_options exec;
    } u;
    /* tcp, dns, tls, grpc, exec: check-level assertions (exec: output, time;
     * perfdata become metrics anyway) */
    struct pk_assertion *asserts;
    size_t n_asserts;

    /* A private copy of the set's resolved vars and secrets (overrides applied),
     * so a check stays self-contained when moved between sets; templates render
     * against it (pk_check_render in template.h). Owned; freed with the set. */
    struct pk_var_source *vars;
    size_t n_vars;

    /* selector: {regions: [..], labels: {k: v}}: which probes run the check. All
     * given must match; empty lists select every probe (pk_check_selects). */
    char **selector_regions;
    size_t n_selector_regions;
    struct pk_kv *selector_labels;
    size_t n_selector_labels;

    /* The check as written (before ${ENV} and {{vars}}), normalised to one line
     * of flow YAML with its top-level keys sorted: two checks with equal texts
     * (and equal vars) are the same definition. def_keys holds each top-level
     * key with the text of its value, for "which keys changed". Owned. */
    char *definition;
    struct pk_kv *def_keys;
    size_t n_def_keys;
};

struct pk_checkset {
    struct pk_check *checks;
    size_t n_checks;
    struct pk_var_source *vars;  /* file vars and secrets, resolved at load */
    size_t n_vars;
    /* The file's `vars:` and `secrets:` blocks as written, normalised like
     * pk_check.definition; NULL when the file has none. Owned. */
    char *vars_definition;
    char *secrets_definition;
};

/* Per-probe overrides for vars (a probe's `vars:` and its region's). Unknown
 * variables are an error at load time naming the file:line:col of the use. */
struct pk_var_overrides {
    const struct pk_kv *vars;
    size_t n_vars;
    /* 1: validate a file meant for other machines (picketctl apply, the collector):
     * an unset ${ENV} without a default becomes "" and secrets are not read (their
     * value is ""), because the probe resolves both in its own environment. */
    int defer_environment;
};

/* Check files over the limit are refused unread:
 * "FILE: N bytes is over the M-byte limit". 0 restores the default. Process-wide;
 * set it before loading (picket-probe reads PICKET_MAX_CHECK_FILE_BYTES at start). */
#define PK_CHECKS_DEFAULT_MAX_FILE_BYTES ((size_t)16 << 20)
void pk_checkset_set_max_file_bytes(size_t bytes);
size_t pk_checkset_max_file_bytes(void);

/* One row per check type, indexed by enum pk_check_kind. The loader reads the
 * keys every check shares, then hands the check's mapping to the row's parse,
 * which fills the type's options; free releases them. */
struct pk_check_loader; /* private to common/checks/ */
struct yaml_node_s;     /* libyaml's yaml_node_t */
struct pk_check_type {
    int kind;                /* enum pk_check_kind; equal to the row's index */
    const char *name;        /* the `type:` value */
    const char *const *keys; /* check keys the type adds to the shared ones; NULL-terminated */
    /* 0, or -1 with the error in the loader; c is freed by the caller either way on error. */
    int (*parse)(struct pk_check_loader *L, const struct yaml_node_s *map, struct pk_check *c);
    void (*free)(struct pk_check *c); /* the type's options only; safe on zeroed options */
};
extern const struct pk_check_type pk_check_types[PK_CHECK_KINDS];
/* The row with that name, or NULL. */
const struct pk_check_type *pk_check_type_find(const char *name);

/* Returns 0, or -1 with "path:line:col: reason" in err. *out is untouched on error. */
int pk_checkset_load_file(const char *path, struct pk_checkset *out, char *err, size_t errlen);
/* Same, from memory; `origin` names the input in errors. */
int pk_checkset_load_string(const char *text, size_t len, const char *origin, struct pk_checkset *out,
                            char *err, size_t errlen);
/* The same with per-probe variable overrides (ov may be NULL). */
int pk_checkset_load_file_with_vars(const char *path, const struct pk_var_overrides *ov, struct pk_checkset *out,
                                    char *err, size_t errlen);
int pk_checkset_load_string_with_vars(const char *text, size_t len, const char *origin,
                                      const struct pk_var_overrides *ov, struct pk_checkset *out, char *err,
                                      size_t errlen);
void pk_checkset_free(struct pk_checkset *set);

/* 1 when the check's selector selects a probe with this region and labels. */
int pk_check_selects(const struct pk_check *c, const char *region, const struct pk_kv *labels, size_t n_labels);
/* Frees and removes every check that does not select this probe; returns how many. */
size_t pk_checkset_select(struct pk_checkset *set, const char *region, const struct pk_kv *labels,
                          size_t n_labels);
/* The same, by region only (run --once --region R: label selectors are ignored). */
size_t pk_checkset_select_region(struct pk_checkset *set, const char *region);
/* 1 when a and b have the same definition and the same resolved vars. */
int pk_check_same_definition(const struct pk_check *a, const struct pk_check *b);

/* "500ms", "30s", "1m", "2h", combinations like "1m30s", or a plain integer
 * meaning seconds. 0 with *ms set, or -1 (and *ms untouched) when malformed. */
int pk_parse_duration_ms(const char *s, int64_t *ms);

/* depends_on over all the checks given (several files): every name is a check
 * among them, every service:NAME some check's service (not the check's own),
 * and no cycle. 0, or -1 with "FILE:LINE: ..." in err. */
int pk_checks_check_depends(const struct pk_check *const *checks, size_t n, char *err, size_t errlen);
int pk_checksets_check_depends(const struct pk_checkset *sets, size_t n_sets, char *err, size_t errlen);

/* The budgets and SLO of c as the wire and the store carry them (check_meta.h). */
struct pk_check_meta pk_check_meta_of(const struct pk_check *c);

#endif
