/* http.c: the http check type on libcurl's multi interface. Each check owns
 * one easy handle, configured once at create; an execution adds it to the
 * runner's multi handle and, when curl reports it done, turns curl's timers
 * and codes into a struct pk_result. Every connection and every name lookup is
 * fresh, so each result measures the whole path. Never blocks, never touches
 * the multi handle outside the runner thread, never follows redirects. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "registry.h"

/* Bytes of the response body kept for assertions; the rest is only counted. */
#define BODY_KEEP_MAX ((size_t)1 << 20)

struct http_check {
    struct check_curl_io io; /* CURLOPT_PRIVATE points here */
    const struct check_env *env;
    const struct pk_check *check; /* borrowed from the check set */
    CURL *easy;
    struct curl_slist *headers;
    void *slot; /* non-NULL while an execution is in flight */
    int64_t started_at_us;
    int64_t body_bytes;
    char *body; /* first BODY_KEEP_MAX bytes of the last response */
    size_t body_len, body_cap;
    char errbuf[CURL_ERROR_SIZE];
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    struct http_check *h = user;
    size_t n = size * nmemb, keep = BODY_KEEP_MAX - h->body_len;
    h->body_bytes += (int64_t)n;
    if (keep > n)
        keep = n;
    if (keep && h->body_len + keep > h->body_cap) {
        size_t cap = h->body_cap ? h->body_cap : 16384;
        while (cap < h->body_len + keep)
            cap *= 2;
        if (cap > BODY_KEEP_MAX)
            cap = BODY_KEEP_MAX;
        char *grown = realloc(h->body, cap);
        if (!grown)
            return n; /* keep measuring; only the stored copy is lost */
        h->body = grown;
        h->body_cap = cap;
    }
    if (keep) {
        memcpy(h->body + h->body_len, data, keep);
        h->body_len += keep;
    }
    return n;
}

static int classify(CURLcode code)
{
    switch (code) {
    case CURLE_OK:
        return PK_ERR_NONE;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return PK_ERR_DNS;
    case CURLE_OPERATION_TIMEDOUT:
        return PK_ERR_TIMEOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
        return PK_ERR_TLS;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_BAD_CONTENT_ENCODING:
        return PK_ERR_HTTP; /* the server answered, but not in HTTP */
    case CURLE_OUT_OF_MEMORY:
    case CURLE_FAILED_INIT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_WRITE_ERROR:
    case CURLE_ABORTED_BY_CALLBACK:
        return PK_ERR_INTERNAL;
    default:
        return PK_ERR_CONNECT; /* the connection broke: reset, nothing received, short read */
    }
}

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

static void fill_result(struct http_check *h, CURLcode code, struct pk_result *r)
{
    const struct pk_check *c = h->check;
    curl_off_t dns = 0, connect = 0, tls = 0, first_byte = 0, total = 0;
    long status = 0;
    memset(r, 0, sizeof *r);
    pk_strlcpy(r->check_name, c->name, sizeof r->check_name);
    pk_strlcpy(r->check_type, "http", sizeof r->check_type);
    r->started_at_us = h->started_at_us;
    r->body_bytes = h->body_bytes;
    curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(h->easy, CURLINFO_NAMELOOKUP_TIME_T, &dns);
    curl_easy_getinfo(h->easy, CURLINFO_CONNECT_TIME_T, &connect);
    curl_easy_getinfo(h->easy, CURLINFO_APPCONNECT_TIME_T, &tls);
    curl_easy_getinfo(h->easy, CURLINFO_STARTTRANSFER_TIME_T, &first_byte);
    curl_easy_getinfo(h->easy, CURLINFO_TOTAL_TIME_T, &total);
    r->status_code = (int)status;

    /* curl's timers are cumulative from the start and 0 for a phase never
     * reached; turn them into per-phase durations with -1 for "did not happen".
     * An IP literal "resolves" in 0 µs, which still counts once connected.
     * curl only records the TCP connect once TLS is up, so a failed handshake
     * reports connect_us and tls_us as -1. */
    int64_t handshake_done = max64(connect, tls);
    r->dns_us = dns > 0 || connect > 0 ? dns : -1;
    r->connect_us = connect > 0 ? max64(connect - dns, 0) : -1;
    r->tls_us = tls > 0 ? max64(tls - connect, 0) : -1;
    r->ttfb_us = first_byte > 0 && connect > 0 ? max64(first_byte - handshake_done, 0) : -1;
    r->total_us = total;

    r->error_class = classify(code);
    if (code != CURLE_OK) {
        r->outcome = PK_OUTCOME_FAILED;
        pk_strlcpy(r->message, h->errbuf[0] ? h->errbuf : curl_easy_strerror(code), sizeof r->message);
        pk_utf8_sanitize(r->message);
        return;
    }
    for (size_t i = 0; i < c->n_expect_status; i++)
        if (c->expect_status[i] == r->status_code) {
            r->outcome = PK_OUTCOME_OK;
            return;
        }
    r->outcome = PK_OUTCOME_FAILED;
    r->error_class = PK_ERR_HTTP;
    int n = snprintf(r->message, sizeof r->message, "status %d, expected %s", r->status_code,
                     c->n_expect_status > 1 ? "one of " : "");
    for (size_t i = 0; i < c->n_expect_status && n > 0 && (size_t)n < sizeof r->message; i++)
        n += snprintf(r->message + n, sizeof r->message - (size_t)n, "%s%d", i ? ", " : "", c->expect_status[i]);
}

static void finish(struct http_check *h, const struct pk_result *r)
{
    void *slot = h->slot;
    h->slot = NULL;
    h->env->done(slot, r);
}

static void http_on_done(struct check_curl_io *io, int curl_code)
{
    struct http_check *h = (struct http_check *)io;
    struct pk_result r;
    curl_multi_remove_handle(h->env->curl_multi, h->easy);
    fill_result(h, (CURLcode)curl_code, &r);
    finish(h, &r);
}

static void http_start(void *state, void *slot)
{
    struct http_check *h = state;
    h->slot = slot;
    h->body_bytes = 0;
    h->body_len = 0;
    h->errbuf[0] = '\0';
    h->started_at_us = pk_now_us();
    CURLMcode mc = curl_multi_add_handle(h->env->curl_multi, h->easy);
    if (mc != CURLM_OK) {
        struct pk_result r = {0};
        pk_strlcpy(r.check_name, h->check->name, sizeof r.check_name);
        pk_strlcpy(r.check_type, "http", sizeof r.check_type);
        r.started_at_us = h->started_at_us;
        r.outcome = PK_OUTCOME_UNKNOWN;
        r.error_class = PK_ERR_INTERNAL;
        r.dns_us = r.connect_us = r.tls_us = r.ttfb_us = -1;
        snprintf(r.message, sizeof r.message, "cannot start transfer: %s", curl_multi_strerror(mc));
        finish(h, &r);
    }
}

static void http_destroy(void *state)
{
    struct http_check *h = state;
    if (!h)
        return;
    if (h->slot)
        curl_multi_remove_handle(h->env->curl_multi, h->easy);
    curl_easy_cleanup(h->easy);
    curl_slist_free_all(h->headers);
    free(h->body);
    free(h);
}

static int has_header(const struct pk_check *c, const char *name)
{
    for (size_t i = 0; i < c->n_headers; i++)
        if (strcasecmp(c->headers[i].key, name) == 0)
            return 1;
    return 0;
}

static int http_create(const struct check_env *env, const struct pk_check *c, void **state, char *err, size_t errlen)
{
    struct http_check *h = calloc(1, sizeof *h);
    CURLcode rc = CURLE_OK;
    int ok = -1;
    if (!h || !(h->easy = curl_easy_init())) {
        snprintf(err, errlen, "check '%s': out of memory", c->name);
        goto out;
    }
    h->io.on_done = http_on_done;
    h->env = env;
    h->check = c;

    for (size_t i = 0; i < c->n_headers; i++) {
        size_t size = strlen(c->headers[i].key) + strlen(c->headers[i].value) + 3;
        char *line = malloc(size);
        /* "Name;" is curl's way to send a header with an empty value. */
        if (line)
            snprintf(line, size, c->headers[i].value[0] ? "%s: %s" : "%s;", c->headers[i].key, c->headers[i].value);
        struct curl_slist *grown = line ? curl_slist_append(h->headers, line) : NULL;
        free(line);
        if (!grown) {
            snprintf(err, errlen, "check '%s': out of memory", c->name);
            goto out;
        }
        h->headers = grown;
    }
    /* A 100-continue round trip would show up as server think time. */
    if (c->body && !has_header(c, "Expect")) {
        struct curl_slist *grown = curl_slist_append(h->headers, "Expect:");
        if (!grown) {
            snprintf(err, errlen, "check '%s': out of memory", c->name);
            goto out;
        }
        h->headers = grown;
    }

#define SET(opt, value)                                                                                                \
    do {                                                                                                               \
        if (rc == CURLE_OK)                                                                                            \
            rc = curl_easy_setopt(h->easy, opt, value);                                                                \
    } while (0)
    SET(CURLOPT_URL, c->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    SET(CURLOPT_FORBID_REUSE, 1L);
    SET(CURLOPT_FRESH_CONNECT, 1L);
    SET(CURLOPT_DNS_CACHE_TIMEOUT, 0L);
    SET(CURLOPT_USERAGENT, "picket-probe/" PICKET_VERSION);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, h);
    SET(CURLOPT_PRIVATE, &h->io);
    SET(CURLOPT_ERRORBUFFER, h->errbuf);
    if (h->headers)
        SET(CURLOPT_HTTPHEADER, h->headers);
    if (strcmp(c->method, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else if (c->body) {
        /* The body is borrowed from the check set, which outlives this state. */
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(c->body));
        SET(CURLOPT_POSTFIELDS, c->body);
        if (strcmp(c->method, "POST") != 0)
            SET(CURLOPT_CUSTOMREQUEST, c->method);
    } else if (strcmp(c->method, "POST") == 0) {
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
        SET(CURLOPT_POSTFIELDS, "");
    } else if (strcmp(c->method, "GET") != 0) {
        SET(CURLOPT_CUSTOMREQUEST, c->method);
    }
#undef SET
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "check '%s': cannot configure libcurl: %s", c->name, curl_easy_strerror(rc));
        goto out;
    }
    *state = h;
    h = NULL;
    ok = 0;
out:
    http_destroy(h);
    return ok;
}

const struct check_type check_type_http = {
    .name = "http",
    .create = http_create,
    .start = http_start,
    .destroy = http_destroy,
};
