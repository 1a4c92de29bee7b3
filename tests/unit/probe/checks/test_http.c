/* test_http.c: the http check against a real HTTP server on 127.0.0.1 (a
 * thread per connection of tests/unit/support/loopback.c). Checks
 * status, body size, the timing phases, every error class a local setup can
 * produce, and what actually goes on the wire. Runs checks through the real
 * runner, so the multi-handle path is the one under test. The flat-form tests
 * load YAML; the v2 tests (steps, assertions, templates, bursts) build
 * struct pk_check in C so they do not depend on the loader. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jq.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pcre2.h>

#include "checks.h"
#include "log.h"
#include "template.h"
#include "result.h"
#include "runner.h"
#include "loopback.h"
#include "probe_test.h"

/* ------------------------------------------------------------ test server */

static struct {
    struct lb_server *server;
    int port;
    pthread_mutex_t lock;
    char last_request[8192];
} srv = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* /rate: a limiter that answers 429 once 20 requests came in the last second. */
#define RATE_LIMIT 20
static struct {
    pthread_mutex_t lock;
    int64_t times_us[256];
    int n;
} rate = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int rate_admit(void)
{
    pthread_mutex_lock(&rate.lock);
    int64_t now = pk_mono_us();
    int kept = 0;
    for (int i = 0; i < rate.n; i++)
        if (now - rate.times_us[i] < 1000000)
            rate.times_us[kept++] = rate.times_us[i];
    rate.n = kept;
    int admit = rate.n < RATE_LIMIT;
    if (admit)
        rate.times_us[rate.n++] = now;
    pthread_mutex_unlock(&rate.lock);
    return admit;
}

static void rate_reset(void)
{
    pthread_mutex_lock(&rate.lock);
    rate.n = 0;
    pthread_mutex_unlock(&rate.lock);
}

static void handle_connection(int fd, void *user)
{
    (void)user;
    char req[8192];
    lb_read_request(fd, req, sizeof req);
    pthread_mutex_lock(&srv.lock);
    pk_strlcpy(srv.last_request, req, sizeof srv.last_request);
    pthread_mutex_unlock(&srv.lock);
    char path[256] = "";
    sscanf(req, "%*s %255s", path);
    if (strcmp(path, "/slow") == 0) {
        lb_sleep_ms(50);
        lb_respond(fd, 200, "", "hello world", 11);
    } else if (strcmp(path, "/503") == 0) {
        lb_respond(fd, 503, "", "unavailable", 11);
    } else if (strcmp(path, "/redirect") == 0) {
        lb_respond(fd, 302, "Location: /slow\r\n", "", 0);
    } else if (strcmp(path, "/big") == 0) {
        size_t n = ((size_t)2 << 20) + 7;
        char *body = malloc(n);
        memset(body, 'b', n);
        lb_respond(fd, 200, "", body, n);
        free(body);
    } else if (strcmp(path, "/json") == 0) {
        static const char body[] = "{\"answer\": \"Returns within 30 days.\", \"sources\": [{\"id\": 1}, {\"id\": 2}]}";
        lb_respond(fd, 200, "Content-Type: application/json\r\n", body, sizeof body - 1);
    } else if (strcmp(path, "/html") == 0) {
        lb_respond(fd, 200, "Content-Type: text/html\r\n", "<html></html>", 13);
    } else if (strcmp(path, "/generate") == 0) {
        lb_respond(fd, 303, "Location: /drafts/draft_7\r\n", "", 0);
    } else if (strcmp(path, "/drafts/draft_7") == 0) {
        static const char body[] = "<h2>Customer Message</h2><h2>AI Suggested Reply</h2>";
        lb_respond(fd, 200, "", body, sizeof body - 1);
    } else if (strcmp(path, "/tail") == 0) {
        char body[1003];
        memset(body, 'a', 1000);
        memcpy(body + 1000, "END", 3);
        lb_respond(fd, 200, "", body, sizeof body);
    } else if (strcmp(path, "/rate") == 0) {
        if (rate_admit())
            lb_respond(fd, 200, "", "ok", 2);
        else
            lb_respond(fd, 429, "Retry-After: 1\r\n", "slow down", 9);
    } else if (strcmp(path, "/hang") == 0) {
        /* Never answer; wait for the client to give up. */
        lb_drain(fd, 3000);
    } else {
        lb_respond(fd, 200, "", "ok", 2);
    }
}

/* ------------------------------------------------------------ TLS server */

/* A TLS 1.2 server with a self-signed certificate for 127.0.0.1, written to
 * files so that checks can name it as their CA, or present it as a client
 * certificate when the server asks for one. Serves connections one by one. */
static struct {
    SSL_CTX *ctx;
    struct lb_server *server;
    int port;
    atomic_int require_client_cert;
    char cert_path[64], key_path[64];
} tls_srv;

static void make_certificate(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *cert = X509_new();
    assert_non_null(key);
    assert_non_null(cert);
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
    X509_EXTENSION *san = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1,DNS:picket.test");
    X509_EXTENSION *bc = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
    assert_non_null(san);
    assert_non_null(bc);
    X509_add_ext(cert, san, -1);
    X509_add_ext(cert, bc, -1);
    X509_EXTENSION_free(san);
    X509_EXTENSION_free(bc);
    assert_true(X509_sign(cert, key, EVP_sha256()) > 0);

    strcpy(tls_srv.cert_path, "/tmp/picket-test-http-certXXXXXX");
    strcpy(tls_srv.key_path, "/tmp/picket-test-http-keyXXXXXX");
    int cfd = mkstemp(tls_srv.cert_path), kfd = mkstemp(tls_srv.key_path);
    assert_true(cfd >= 0 && kfd >= 0);
    FILE *cf = fdopen(cfd, "w"), *kf = fdopen(kfd, "w");
    assert_true(PEM_write_X509(cf, cert));
    assert_true(PEM_write_PrivateKey(kf, key, NULL, NULL, 0, NULL, NULL));
    fclose(cf);
    fclose(kf);

    tls_srv.ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(tls_srv.ctx);
    SSL_CTX_set_max_proto_version(tls_srv.ctx, TLS1_2_VERSION);
    assert_int_equal(SSL_CTX_use_certificate(tls_srv.ctx, cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(tls_srv.ctx, key), 1);
    assert_int_equal(SSL_CTX_load_verify_locations(tls_srv.ctx, tls_srv.cert_path, NULL), 1);
    X509_free(cert);
    EVP_PKEY_free(key);
}

static void tls_handle_connection(int fd, void *user)
{
    (void)user;
    SSL *ssl = SSL_new(tls_srv.ctx);
    if (atomic_load(&tls_srv.require_client_cert))
        SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
        char req[4096];
        int n = SSL_read(ssl, req, sizeof req - 1);
        if (n > 0) {
            static const char answer[] = "HTTP/1.1 200 X\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecure";
            SSL_write(ssl, answer, sizeof answer - 1);
        }
        SSL_shutdown(ssl);
    }
    ERR_clear_error();
    SSL_free(ssl);
}

static int tls_server_start(void)
{
    make_certificate();
    tls_srv.server = lb_start(LB_SERIAL, tls_handle_connection, NULL);
    if (!tls_srv.server)
        return -1;
    tls_srv.port = lb_port(tls_srv.server);
    return 0;
}

static void tls_server_stop(void)
{
    lb_stop(tls_srv.server);
    SSL_CTX_free(tls_srv.ctx);
    unlink(tls_srv.cert_path);
    unlink(tls_srv.key_path);
}

static int server_start(void **state)
{
    (void)state;
    pk_log_set_level(PK_LOG_ERROR);
    srv.server = lb_start(LB_THREAD_PER_CONNECTION, handle_connection, NULL);
    if (!srv.server || tls_server_start() != 0)
        return -1;
    srv.port = lb_port(srv.server);
    return 0;
}

static int server_stop(void **state)
{
    (void)state;
    lb_stop(srv.server);
    tls_server_stop();
    return 0;
}

/* --------------------------------------------------------------- helpers */

/* Runs one check given as YAML fields (with %d for the server port) once. */
static struct pk_result run_check(const char *fields_fmt, ...)
{
    char fields[1024], yaml[1400], err[512] = "";
    va_list ap;
    va_start(ap, fields_fmt);
    vsnprintf(fields, sizeof fields, fields_fmt, ap);
    va_end(ap);
    snprintf(yaml, sizeof yaml, "checks:\n  - name: t\n    type: http\n%s", fields);
    struct pk_checkset set = {0};
    if (pk_checkset_load_string(yaml, strlen(yaml), "test", &set, err, sizeof err) < 0)
        fail_msg("%s", err);
    struct pk_result result;
    memset(&result, 0xff, sizeof result);
    struct runner *r = runner_new(&set, copy_result, &result, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    assert_int_equal(runner_run_once(r), 0);
    runner_free(r);
    pk_checkset_free(&set);
    return result;
}

/* ------------------------------------------------------------------ tests */

static void test_ok_with_timings(void **state)
{
    (void)state;
    int64_t before = pk_now_us();
    struct pk_result r = run_check("    url: http://127.0.0.1:%d/slow\n", srv.port);
    int64_t after = pk_now_us();
    assert_string_equal(r.check_name, "t");
    assert_string_equal(r.check_type, "http");
    assert_int_equal(r.outcome, PK_OUTCOME_OK);
    assert_int_equal(r.error_class, PK_ERR_NONE);
    assert_string_equal(r.message, "");
    assert_int_equal(r.status_code, 200);
    assert_int_equal(r.body_bytes, 11);
    assert_true(r.started_at_us >= before && r.started_at_us <= after);
    assert_true(r.dns_us >= 0);
    assert_true(r.connect_us >= 0);
    assert_int_equal(r.tls_us, -1);
    assert_true(r.ttfb_us >= 45000); /* the server thinks for 50 ms */
    assert_true(r.total_us >= r.ttfb_us);
    assert_true(r.total_us >= r.dns_us + r.connect_us + r.ttfb_us);
    assert_true(r.total_us < 2000000);
    assert_true(r.started_at_us + r.total_us <= after);
}

static void test_connect_refused(void **state)
{
    (void)state;
    int port = lb_closed_port(); /* a port that was just free and now is closed */
    struct pk_result r = run_check("    url: http://127.0.0.1:%d/\n", port);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(r.error_class, PK_ERR_CONNECT);
    assert_int_equal(r.status_code, 0);
    assert_int_equal(r.connect_us, -1);
    assert_int_equal(r.tls_us, -1);
    assert_int_equal(r.ttfb_us, -1);
    assert_true(r.total_us >= 0);
    assert_true(strlen(r.message) > 0);
}

static void test_unexpected_status(void **state)
{
    (void)state;
    struct pk_result r = run_check("    url: http://127.0.0.1:%d/503\n", srv.port);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(r.error_class, PK_ERR_HTTP);
    assert_int_equal(r.status_code, 503);
    assert_int_equal(r.body_bytes, 11);
    assert_string_equal(r.message, "status 503, expected 200");
    assert_true(r.ttfb_us >= 0);

    r = run_check("    url: http://127.0.0.1:%d/503\n    expect_status: [200, 204]\n", srv.port);
    assert_string_equal(r.message, "status 503, expected one of 200, 204");

    r = run_check("    url: http://127.0.0.1:%d/503\n    expect_status: 503\n", srv.port);
    assert_int_equal(r.outcome, PK_OUTCOME_OK);
    assert_string_equal(r.message, "");
}

static void test_timeout(void **state)
{
    (void)state;
    struct pk_result r =
        run_check("    url: http://127.0.0.1:%d/hang\n    interval: 1s\n    timeout: 200ms\n", srv.port);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(r.error_class, PK_ERR_TIMEOUT);
    assert_int_equal(r.status_code, 0);
    assert_true(r.connect_us >= 0);
    assert_int_equal(r.ttfb_us, -1);
    assert_true(r.total_us >= 190000);
    assert_true(r.total_us < 1500000);
}

static void test_redirect_not_followed(void **state)
{
    (void)state;
    struct pk_result r = run_check("    url: http://127.0.0.1:%d/redirect\n", srv.port);
    assert_int_equal(r.status_code, 302);
    assert_int_equal(r.error_class, PK_ERR_HTTP);
    assert_int_equal(r.body_bytes, 0);
}

static void test_body_cap_still_counts(void **state)
{
    (void)state;
    struct pk_result r = run_check("    url: http://127.0.0.1:%d/big\n", srv.port);
    assert_int_equal(r.outcome, PK_OUTCOME_OK);
    assert_int_equal(r.body_bytes, ((int64_t)2 << 20) + 7);
}

static void test_request_on_the_wire(void **state)
{
    (void)state;
    struct pk_result r = run_check("    url: http://127.0.0.1:%d/echo\n"
                                   "    method: PUT\n"
                                   "    headers: {X-Test: 'yes', Content-Type: application/json}\n"
                                   "    body: '{\"a\":1}'\n",
                                   srv.port);
    assert_int_equal(r.outcome, PK_OUTCOME_OK);
    pthread_mutex_lock(&srv.lock);
    char req[8192];
    pk_strlcpy(req, srv.last_request, sizeof req);
    pthread_mutex_unlock(&srv.lock);
    assert_true(strncmp(req, "PUT /echo HTTP/1.1\r\n", 20) == 0);
    assert_non_null(strstr(req, "\r\nX-Test: yes\r\n"));
    assert_non_null(strstr(req, "\r\nUser-Agent: picket-probe/" PICKET_VERSION "\r\n"));
    assert_non_null(strstr(req, "\r\nContent-Length: 7\r\n"));
    assert_null(strcasestr(req, "\r\nExpect:"));
    assert_non_null(strstr(req, "\r\n\r\n{\"a\":1}"));

    r = run_check("    url: http://127.0.0.1:%d/head\n    method: HEAD\n", srv.port);
    pthread_mutex_lock(&srv.lock);
    assert_true(strncmp(srv.last_request, "HEAD /head HTTP/1.1\r\n", 21) == 0);
    pthread_mutex_unlock(&srv.lock);
}

static void test_tls_failure(void **state)
{
    (void)state;
    /* A plain-HTTP server answering a TLS hello is a handshake failure. */
    struct pk_result r = run_check("    url: https://127.0.0.1:%d/\n    timeout: 2s\n", srv.port);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(r.error_class, PK_ERR_TLS);
    assert_int_equal(r.status_code, 0);
    assert_int_equal(r.ttfb_us, -1);
}

static void test_dns_failure(void **state)
{
    (void)state;
    /* A DNS label longer than 63 bytes is refused by the local resolver library
     * itself, so the failure is real but no query ever leaves the machine (tests
     * send traffic to loopback only; the configured resolver is not loopback). */
    char label[71];
    memset(label, 'a', 70);
    label[70] = '\0';
    struct pk_result r = run_check("    url: http://%s.invalid/\n    timeout: 5s\n", label);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(r.error_class, PK_ERR_DNS);
    assert_int_equal(r.dns_us, -1);
    assert_int_equal(r.connect_us, -1);
}

/* ------------------------------------------------------- v2 checks, built in C */

struct built {
    struct pk_check check;
    struct pk_step step;
    struct pk_assertion asserts[8];
    struct pk_extraction extracts[4];
    struct pk_kv headers[4];
    struct pk_kv form[4];
    struct pk_var_source vars[2];
    int ranges[8][2];
    char base[64];
};

/* An http check named "t" whose url is the template "{{base}}<path>". */
static void built_init(struct built *b, const char *url)
{
    memset(b, 0, sizeof *b);
    snprintf(b->base, sizeof b->base, "http://127.0.0.1:%d", srv.port);
    b->vars[0] = (struct pk_var_source){.name = "base", .value = b->base};
    b->vars[1] = (struct pk_var_source){.name = "secret", .value = "s3cr3t-value", .secret = 1};
    b->check.name = "t";
    b->check.type = "http";
    b->check.file = "test";
    b->check.line = 1;
    b->check.interval_ms = 30000;
    b->check.timeout_ms = 5000;
    b->check.vars = b->vars;
    b->check.n_vars = 2;
    b->check.u.http.step = &b->step;
    b->step.request.method = "GET";
    b->step.request.url = (char *)url;
    b->step.request.max_body_bytes = 1 << 20;
    b->step.asserts = b->asserts;
    b->step.extracts = b->extracts;
}

static struct pk_assertion *add_assert(struct built *b, int kind, int severity)
{
    struct pk_assertion *a = &b->asserts[b->step.n_asserts++];
    a->kind = kind;
    a->severity = severity;
    return a;
}

static void add_status(struct built *b, int lo, int hi)
{
    size_t i = b->step.n_asserts;
    struct pk_assertion *a = add_assert(b, PK_ASSERT_STATUS, PK_SEV_FAILED);
    b->ranges[i][0] = lo;
    b->ranges[i][1] = hi;
    a->status_ranges = b->ranges[i];
    a->n_status_ranges = 1;
}

static void add_text(struct built *b, int kind, const char *text, int severity)
{
    struct pk_assertion *a = add_assert(b, kind, severity);
    a->text = (char *)text;
    if (kind == PK_ASSERT_JSON)
        a->jq = compile_jq(text);
    if (kind == PK_ASSERT_BODY_MATCHES || kind == PK_ASSERT_HEADER_MATCHES)
        a->regex = compile_re(text);
}

static void add_extract(struct built *b, const char *name, const char *expr)
{
    struct pk_extraction *e = &b->extracts[b->step.n_extracts++];
    e->name = (char *)name;
    e->expr = (char *)expr;
    e->jq = compile_jq(expr);
}

static void built_free(struct built *b)
{
    for (size_t i = 0; i < b->step.n_asserts; i++) {
        if (b->asserts[i].regex)
            pcre2_code_free(b->asserts[i].regex);
        jq_state *jq = b->asserts[i].jq;
        if (jq)
            jq_teardown(&jq);
    }
    for (size_t i = 0; i < b->step.n_extracts; i++) {
        jq_state *jq = b->extracts[i].jq;
        jq_teardown(&jq);
    }
}

static struct pk_result run_built(struct built *b)
{
    struct pk_result result;
    run_check_once(&b->check, &result);
    return result;
}

static void last_request(char *out, size_t size)
{
    pthread_mutex_lock(&srv.lock);
    pk_strlcpy(out, srv.last_request, size);
    pthread_mutex_unlock(&srv.lock);
}

static void test_v2_json_assertions_and_extraction(void **state)
{
    (void)state;
    struct built b;
    built_init(&b, "{{base}}/json");
    add_status(&b, 200, 200);
    add_text(&b, PK_ASSERT_JSON, ".answer | length > 0", PK_SEV_FAILED);
    add_text(&b, PK_ASSERT_JSON, ".sources | type == \"array\"", PK_SEV_FAILED);
    add_text(&b, PK_ASSERT_HEADER_MATCHES, "json$", PK_SEV_FAILED);
    b.asserts[3].header_name = "content-type";
    add_text(&b, PK_ASSERT_BODY_CONTAINS, "30 days", PK_SEV_FAILED);
    struct pk_assertion *t = add_assert(&b, PK_ASSERT_TIME_UNDER, PK_SEV_FAILED);
    t->max_ms = 10000;
    add_extract(&b, "sources", ".sources | length");
    struct pk_result r = run_built(&b);
    assert_string_equal(r.message, "");
    assert_int_equal(r.outcome, PK_OUTCOME_OK);
    assert_int_equal(r.error_class, PK_ERR_NONE);
    assert_int_equal(r.status_code, 200);
    assert_string_equal(r.check_type, "http");
    assert_true(r.connect_us >= 0 && r.total_us > 0);
    assert_int_equal(r.n_metrics, 1);
    assert_string_equal(r.metrics[0].name, "sources");
    assert_true(r.metrics[0].value == 2.0);
    built_free(&b);
}

static void test_v2_failures_and_severity(void **state)
{
    (void)state;
    struct built b;
    built_init(&b, "{{base}}/json");
    add_text(&b, PK_ASSERT_JSON, ".answer | length > 100", PK_SEV_DEGRADED);
    struct pk_result r = run_built(&b);
    assert_int_equal(r.outcome, PK_OUTCOME_DEGRADED);
    assert_int_equal(r.error_class, PK_ERR_ASSERTION);
    assert_string_equal(r.message, "assertion failed: json .answer | length > 100 (got false)");

    add_text(&b, PK_ASSERT_BODY_CONTAINS, "I don't have information", PK_SEV_FAILED);
    r = run_built(&b);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(r.error_class, PK_ERR_ASSERTION);
    assert_string_equal(r.message, "body does not contain \"I don't have information\"");
    built_free(&b);

    built_init(&b, "{{base}}/json");
    add_status(&b, 201, 201);
    r = run_built(&b);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(r.error_class, PK_ERR_HTTP);
    assert_string_equal(r.message, "status 200, expected 201");

    built_init(&b, "{{base}}/html");
    add_text(&b, PK_ASSERT_JSON, ".answer", PK_SEV_FAILED);
    r = run_built(&b);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_string_equal(r.message, "body is not JSON");
    built_free(&b);

    /* No status assertion: 200 is expected. */
    built_init(&b, "{{base}}/503");
    r = run_built(&b);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(r.error_class, PK_ERR_HTTP);
    assert_string_equal(r.message, "status 503, expected 200");
}

static void test_v2_form_body(void **state)
{
    (void)state;
    struct built b;
    char req[8192];
    built_init(&b, "{{base}}/generate");
    b.step.request.method = "POST";
    b.step.request.body_kind = PK_BODY_FORM;
    b.form[0] = (struct pk_kv){"conversation_id", "test-conv-e2e"};
    b.form[1] = (struct pk_kv){"incoming_text", "How do I return a product?"};
    b.form[2] = (struct pk_kv){"a&b", "x=y & 100%"};
    b.step.request.form = b.form;
    b.step.request.n_form = 3;
    add_status(&b, 303, 303);
    add_text(&b, PK_ASSERT_HEADER_MATCHES, "/drafts/draft_\\d+", PK_SEV_FAILED);
    b.asserts[1].header_name = "Location";
    struct pk_result r = run_built(&b);
    assert_string_equal(r.message, "");
    assert_int_equal(r.outcome, PK_OUTCOME_OK);
    assert_int_equal(r.status_code, 303);
    last_request(req, sizeof req);
    assert_true(strncmp(req, "POST /generate HTTP/1.1\r\n", 25) == 0);
    assert_non_null(strstr(req, "\r\nContent-Type: application/x-www-form-urlencoded\r\n"));
    assert_non_null(strstr(req, "\r\n\r\nconversation_id=test-conv-e2e&incoming_text=How%20do%20I%20return%20a%20"
                                "product%3F&a%26b=x%3Dy%20%26%20100%25"));
    built_free(&b);
}

static void test_v2_templates_and_secrets(void **state)
{
    (void)state;
    struct built b;
    char req[8192], mac[65];
    built_init(&b, "{{base}}/echo");
    b.step.request.method = "POST";
    b.step.request.body_kind = PK_BODY_JSON;
    b.step.request.body = "{\"id\":\"{{uuid()}}\",\"q\":\"say \\\"hi\\\"\"}";
    b.headers[0] = (struct pk_kv){"X-Shopify-Hmac-Sha256", "{{hmac_sha256_hex(secret, body)}}"};
    b.step.request.headers = b.headers;
    b.step.request.n_headers = 1;
    struct pk_result r = run_built(&b);
    assert_int_equal(r.outcome, PK_OUTCOME_OK);
    last_request(req, sizeof req);
    assert_non_null(strstr(req, "\r\nContent-Type: application/json\r\n"));
    const char *body = strstr(req, "\r\n\r\n") + 4;
    assert_int_equal(strlen(body), strlen("{\"id\":\"00000000-0000-4000-8000-000000000000\",\"q\":\"say \\\"hi\\\"\"}"));
    assert_true(strncmp(body, "{\"id\":\"", 7) == 0 && body[7 + 14] == '4');
    assert_int_equal(pk_template_hmac_sha256_hex("s3cr3t-value", 12, body, strlen(body), mac), 0);
    char want[100];
    snprintf(want, sizeof want, "\r\nX-Shopify-Hmac-Sha256: %s\r\n", mac);
    assert_non_null(strstr(req, want));

    /* A secret in the URL never reaches the message, even through curl's own text. */
    /* Six copies make a DNS label over 63 bytes: refused locally, no query sent. */
    built_init(&b, "http://{{secret}}{{secret}}{{secret}}{{secret}}{{secret}}{{secret}}.invalid/");
    r = run_built(&b);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(r.error_class, PK_ERR_DNS);
    assert_null(strstr(r.message, "s3cr3t"));
    assert_true(strlen(r.message) > 0);

    /* A template that cannot render is reported without starting anything. */
    built_init(&b, "{{base}}/{{nope}}");
    r = run_built(&b);
    assert_int_equal(r.outcome, PK_OUTCOME_UNKNOWN);
    assert_int_equal(r.error_class, PK_ERR_INTERNAL);
    assert_non_null(strstr(r.message, "cannot build request: url: "));
    assert_non_null(strstr(r.message, "nope"));
}

static void test_v2_max_body(void **state)
{
    (void)state;
    struct built b;
    built_init(&b, "{{base}}/tail");
    b.step.request.max_body_bytes = 100;
    add_text(&b, PK_ASSERT_BODY_CONTAINS, "aaaa", PK_SEV_FAILED);
    struct pk_result r = run_built(&b);
    assert_int_equal(r.outcome, PK_OUTCOME_OK);
    assert_int_equal(r.body_bytes, 1003);
    add_text(&b, PK_ASSERT_BODY_CONTAINS, "END", PK_SEV_FAILED); /* past the cap: not kept */
    r = run_built(&b);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_string_equal(r.message, "body does not contain \"END\"");
    assert_int_equal(r.body_bytes, 1003);
    b.step.request.max_body_bytes = 2000;
    r = run_built(&b);
    assert_int_equal(r.outcome, PK_OUTCOME_OK);
}

static void test_v2_redirects(void **state)
{
    (void)state;
    struct built b;
    built_init(&b, "{{base}}/generate");
    add_status(&b, 303, 303);
    add_text(&b, PK_ASSERT_HEADER_EQUALS, "/drafts/draft_7", PK_SEV_FAILED);
    b.asserts[1].header_name = "location";
    struct pk_result r = run_built(&b);
    assert_string_equal(r.message, "");
    assert_int_equal(r.status_code, 303);

    built_init(&b, "{{base}}/generate");
    b.step.request.follow_redirects = 1;
    add_status(&b, 200, 200);
    add_text(&b, PK_ASSERT_BODY_CONTAINS, "Customer Message", PK_SEV_FAILED);
    r = run_built(&b);
    assert_string_equal(r.message, "");
    assert_int_equal(r.outcome, PK_OUTCOME_OK);
    assert_int_equal(r.status_code, 200);
}

static void test_v2_burst(void **state)
{
    (void)state;
    struct built b;
    built_init(&b, "{{base}}/rate");
    b.check.u.http.burst = (struct pk_burst){.count = 25, .expect_status = 429, .expect_at_least = 1, .expect_at_most = -1};
    rate_reset();
    struct pk_result r = run_built(&b);
    assert_string_equal(r.message, "");
    assert_int_equal(r.outcome, PK_OUTCOME_OK);
    assert_int_equal(r.status_code, 429);
    assert_int_equal(r.n_metrics, 1);
    assert_string_equal(r.metrics[0].name, "burst_matching");
    assert_true(r.metrics[0].value == 25 - RATE_LIMIT);
    assert_true(r.total_us > 0 && r.total_us < 5000000);

    rate_reset();
    b.check.u.http.burst.expect_at_most = 0;
    r = run_built(&b);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(r.error_class, PK_ERR_ASSERTION);
    assert_string_equal(r.message, "burst of 25: 5 answers were 429, expected at most 0");

    /* Under the limit nothing is refused. */
    rate_reset();
    b.check.u.http.burst = (struct pk_burst){.count = 10, .expect_status = 429, .expect_at_least = 1, .expect_at_most = -1};
    r = run_built(&b);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_string_equal(r.message, "burst of 10: 0 answers were 429, expected at least 1");
    rate_reset();

    /* Nobody there: the transport error, not a count. */
    int closed_port = lb_closed_port();
    snprintf(b.base, sizeof b.base, "http://127.0.0.1:%d", closed_port);
    r = run_built(&b);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(r.error_class, PK_ERR_CONNECT);
    assert_true(strncmp(r.message, "burst of 10: no answers: ", 25) == 0);
}

static void test_v2_tls_options(void **state)
{
    (void)state;
    struct built b;
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/", tls_srv.port);
    built_init(&b, url);
    add_text(&b, PK_ASSERT_BODY_CONTAINS, "secure", PK_SEV_FAILED);

    /* A self-signed certificate fails verification against the system CAs ... */
    struct pk_result r = run_built(&b);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(r.error_class, PK_ERR_TLS);
    /* ... passes against the check's own CA ... */
    b.step.request.tls.ca_file = tls_srv.cert_path;
    r = run_built(&b);
    assert_string_equal(r.message, "");
    assert_int_equal(r.outcome, PK_OUTCOME_OK);
    assert_true(r.tls_us >= 0);
    /* ... and without any when told to skip verification. */
    b.step.request.tls.ca_file = NULL;
    b.step.request.tls.insecure_skip_verify = 1;
    r = run_built(&b);
    assert_int_equal(r.outcome, PK_OUTCOME_OK);

    /* server_name: the name the certificate is checked against (and sent as SNI). */
    b.step.request.tls.insecure_skip_verify = 0;
    b.step.request.tls.ca_file = tls_srv.cert_path;
    b.step.request.tls.server_name = "picket.test";
    r = run_built(&b);
    assert_string_equal(r.message, "");
    assert_int_equal(r.outcome, PK_OUTCOME_OK);
    b.step.request.tls.server_name = "other.test";
    r = run_built(&b);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(r.error_class, PK_ERR_TLS);
    b.step.request.tls.server_name = NULL;

    /* A server that asks for a client certificate gets one only when configured. */
    atomic_store(&tls_srv.require_client_cert, 1);
    b.step.request.tls.insecure_skip_verify = 0;
    b.step.request.tls.ca_file = tls_srv.cert_path;
    r = run_built(&b);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    b.step.request.tls.cert_file = tls_srv.cert_path;
    b.step.request.tls.key_file = tls_srv.key_path;
    r = run_built(&b);
    assert_string_equal(r.message, "");
    assert_int_equal(r.outcome, PK_OUTCOME_OK);
    atomic_store(&tls_srv.require_client_cert, 0);
    built_free(&b);
}

/* The same language through the loader: what a check file says is what runs. */
static void test_v2_from_yaml(void **state)
{
    (void)state;
    struct pk_result r = run_check("    request:\n"
                                   "      url: http://127.0.0.1:%d/json\n"
                                   "      headers: {X-Request-Id: '{{uuid()}}'}\n"
                                   "    assert:\n"
                                   "      - status: 200\n"
                                   "      - json: '.answer | length > 0'\n"
                                   "      - json: '.sources | type == \"array\"'\n"
                                   "      - time_under: 10s\n"
                                   "      - {json: '.sources | length > 5', severity: degraded}\n"
                                   "    extract:\n"
                                   "      sources: '.sources | length'\n",
                                   srv.port);
    assert_int_equal(r.outcome, PK_OUTCOME_DEGRADED);
    assert_string_equal(r.message, "assertion failed: json .sources | length > 5 (got false)");
    assert_int_equal(r.n_metrics, 1);
    assert_string_equal(r.metrics[0].name, "sources");
    assert_true(r.metrics[0].value == 2.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_with_timings),       cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_unexpected_status),     cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_redirect_not_followed), cmocka_unit_test(test_body_cap_still_counts),
        cmocka_unit_test(test_request_on_the_wire),   cmocka_unit_test(test_tls_failure),
        cmocka_unit_test(test_dns_failure),
        cmocka_unit_test(test_v2_json_assertions_and_extraction),
        cmocka_unit_test(test_v2_failures_and_severity),
        cmocka_unit_test(test_v2_form_body),
        cmocka_unit_test(test_v2_templates_and_secrets),
        cmocka_unit_test(test_v2_max_body),
        cmocka_unit_test(test_v2_redirects),
        cmocka_unit_test(test_v2_burst),
        cmocka_unit_test(test_v2_tls_options),
        cmocka_unit_test(test_v2_from_yaml),
    };
    return cmocka_run_group_tests(tests, server_start, server_stop);
}
