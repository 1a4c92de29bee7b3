/* http.c: the http check type on libcurl's multi interface, and the HTTP
 * exchange that the flow check shares (http.h). An exchange renders its
 * request's templates at every start, adds one easy handle to the runner's
 * multi handle and keeps the final response's status, headers and the first
 * max_body bytes for assertions. A check is one exchange (its single step,
 * the representation a flow step shares), or a burst of N at once. Every
 * connection and name lookup is fresh, so each result measures the whole
 * path. Never blocks, never touches the multi handle off the runner thread,
 * and never puts a rendered value in a message: messages quote the check. */
#include "http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "pk_error.h"
#include "template.h"

/* Bytes of a response body kept for assertions when the check sets no max_body. */
#define BODY_KEEP_DEFAULT ((int64_t)1 << 20)
/* Response headers kept for assertions and captures; more are ignored. */
#define RESPONSE_HEADERS_MAX 100
#define REDIRECTS_MAX 10L
/* For checks built without a timeout; the loader always sets one. */
#define DEFAULT_TIMEOUT_MS 10000

struct http_exchange {
    struct check_curl_io io; /* CURLOPT_PRIVATE points here */
    const struct check_env *env;
    const struct pk_check *check; /* borrowed */
    http_exchange_done_fn done;
    void *user;
    CURL *easy;
    int in_flight;
    int curl_code;
    int redact_errors; /* the URL holds a secret, which curl's own error text may quote */
    char *url, *body;  /* rendered for the transfer in flight; owned */
    struct curl_slist *headers;
    struct curl_slist *connect_to; /* tls.server_name: connect to the URL's host, speak to this name */
    int64_t keep_max;
    char *resp_body; /* the first keep_max bytes of the answer */
    size_t resp_len, resp_cap;
    int64_t body_bytes; /* every body byte received */
    struct pk_kv *resp_headers;
    size_t n_resp_headers;
    char errbuf[CURL_ERROR_SIZE];
};

/* ---------------------------------------------------------------- response */

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    struct http_exchange *x = user;
    size_t n = size * nmemb;
    int64_t room = x->keep_max - (int64_t)x->resp_len;
    size_t keep = room <= 0 ? 0 : (int64_t)n < room ? n : (size_t)room;
    x->body_bytes += (int64_t)n;
    if (keep && x->resp_len + keep > x->resp_cap) {
        size_t cap = x->resp_cap ? x->resp_cap : 16384;
        while (cap < x->resp_len + keep)
            cap *= 2;
        if ((int64_t)cap > x->keep_max)
            cap = (size_t)x->keep_max;
        char *grown = realloc(x->resp_body, cap);
        if (!grown)
            return n; /* keep measuring; only the stored copy is lost */
        x->resp_body = grown;
        x->resp_cap = cap;
    }
    if (keep) {
        memcpy(x->resp_body + x->resp_len, data, keep);
        x->resp_len += keep;
    }
    return n;
}

static void clear_response_headers(struct http_exchange *x)
{
    for (size_t i = 0; i < x->n_resp_headers; i++) {
        free(x->resp_headers[i].key);
        free(x->resp_headers[i].value);
    }
    x->n_resp_headers = 0;
}

static char *dup_trimmed(const char *s, size_t len)
{
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' || s[len - 1] == '\n'))
        len--;
    char *out = malloc(len + 1);
    if (out) {
        memcpy(out, s, len);
        out[len] = '\0';
    }
    return out;
}

/* Keeps the headers of the last response only: a redirect or a 100 Continue
 * starts a new block with its status line. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *user)
{
    struct http_exchange *x = user;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        clear_response_headers(x);
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (!colon || colon == data || x->n_resp_headers >= RESPONSE_HEADERS_MAX)
        return n;
    if (!x->resp_headers && !(x->resp_headers = calloc(RESPONSE_HEADERS_MAX, sizeof *x->resp_headers)))
        return n;
    char *name = dup_trimmed(data, (size_t)(colon - data));
    char *value = dup_trimmed(colon + 1, n - (size_t)(colon + 1 - data));
    if (!name || !value) {
        free(name);
        free(value);
        return n;
    }
    x->resp_headers[x->n_resp_headers].key = name;
    x->resp_headers[x->n_resp_headers].value = value;
    x->n_resp_headers++;
    return n;
}

/* ---------------------------------------------------------------- exchange */

static void exchange_on_done(struct check_curl_io *io, int curl_code)
{
    struct http_exchange *x = (struct http_exchange *)io;
    curl_multi_remove_handle(x->env->curl_multi, x->easy);
    x->in_flight = 0;
    x->curl_code = curl_code;
    x->done(x->user, x);
}

struct http_exchange *http_exchange_new(const struct check_env *env, const struct pk_check *check,
                                        http_exchange_done_fn done, void *user)
{
    struct http_exchange *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    if (!(x->easy = curl_easy_init())) {
        free(x);
        return NULL;
    }
    x->io.on_done = exchange_on_done;
    x->env = env;
    x->check = check;
    x->done = done;
    x->user = user;
    return x;
}

static void reset_request(struct http_exchange *x)
{
    free(x->url);
    free(x->body);
    curl_slist_free_all(x->headers);
    curl_slist_free_all(x->connect_to);
    x->url = x->body = NULL;
    x->headers = x->connect_to = NULL;
}

void http_exchange_cancel(struct http_exchange *x)
{
    if (x && x->in_flight) {
        curl_multi_remove_handle(x->env->curl_multi, x->easy);
        x->in_flight = 0;
    }
}

void http_exchange_free(struct http_exchange *x)
{
    if (!x)
        return;
    http_exchange_cancel(x);
    curl_easy_cleanup(x->easy);
    reset_request(x);
    clear_response_headers(x);
    free(x->resp_headers);
    free(x->resp_body);
    free(x);
}

static int render(struct http_exchange *x, const char *src, const struct pk_kv *captures, size_t n_captures,
                  const char *body, int flags, char **out, int *used_secret, char *err, size_t errlen)
{
    return pk_check_render(x->check, src ? src : "", captures, n_captures, body, flags, out, used_secret, err, errlen);
}

static int has_header(const struct pk_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (req->headers[i].key && strcasecmp(req->headers[i].key, name) == 0)
            return 1;
    return 0;
}

static int append_header(struct http_exchange *x, const char *name, const char *value)
{
    size_t size = strlen(name) + strlen(value) + 3;
    char *line = malloc(size);
    /* "Name;" is curl's way to send a header with an empty value. */
    if (line)
        snprintf(line, size, value[0] ? "%s: %s" : "%s;", name, value);
    struct curl_slist *grown = line ? curl_slist_append(x->headers, line) : NULL;
    free(line);
    if (!grown)
        return -1;
    x->headers = grown;
    return 0;
}

/* Builds "a=1&b=two%20words" from the form fields into x->body. */
static int render_form(struct http_exchange *x, const struct pk_request *req, const struct pk_kv *captures,
                       size_t n_captures, char *err, size_t errlen)
{
    size_t len = 0, cap = 256;
    char *out = malloc(cap);
    if (!out)
        goto oom;
    out[0] = '\0';
    for (size_t i = 0; i < req->n_form; i++) {
        char *value = NULL, *key_esc = NULL, *value_esc = NULL, ferr[200];
        if (render(x, req->form[i].value, captures, n_captures, NULL, PK_TEMPLATE_RAW, &value, NULL, ferr,
                   sizeof ferr) < 0) {
            snprintf(err, errlen, "form field %s: %s", req->form[i].key, ferr);
            free(out);
            return -1;
        }
        key_esc = curl_easy_escape(x->easy, req->form[i].key ? req->form[i].key : "", 0);
        value_esc = curl_easy_escape(x->easy, value, 0);
        free(value);
        size_t need = len + (key_esc ? strlen(key_esc) : 0) + (value_esc ? strlen(value_esc) : 0) + 3;
        if (need > cap) {
            while (cap < need)
                cap *= 2;
            char *grown = realloc(out, cap);
            if (!grown) {
                curl_free(key_esc);
                curl_free(value_esc);
                free(out);
                goto oom;
            }
            out = grown;
        }
        if (!key_esc || !value_esc) {
            curl_free(key_esc);
            curl_free(value_esc);
            free(out);
            goto oom;
        }
        len += (size_t)snprintf(out + len, cap - len, "%s%s=%s", i ? "&" : "", key_esc, value_esc);
        curl_free(key_esc);
        curl_free(value_esc);
    }
    x->body = out;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* tls.server_name: curl takes the TLS name (SNI, certificate check, Host)
 * from the URL, so the URL gets server_name as its host and CONNECT_TO sends
 * the connection to the host the check wrote. 0, or -1 with err. */
static int apply_server_name(struct http_exchange *x, const char *server_name, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, *url = NULL, *copy = NULL;
    struct curl_slist *list = NULL;
    struct pk_buf entry;
    pk_buf_init(&entry, 0);
    int ok = -1;
    if (!u) {
        pk_fail(err, errlen, "out of memory");
        return -1;
    }
    if (curl_url_set(u, CURLUPART_URL, x->url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        pk_fail(err, errlen, "url: not a URL that tls.server_name can apply to");
        goto out;
    }
    if (curl_url_set(u, CURLUPART_HOST, server_name, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK) {
        pk_fail(err, errlen, "tls.server_name: not a host name");
        goto out;
    }
    pk_buf_addf(&entry, "%s:%s:%s:%s", server_name, port, host, port);
    if (pk_buf_ok(&entry) < 0 || !(list = curl_slist_append(NULL, entry.data)) || !(copy = strdup(url))) {
        curl_slist_free_all(list);
        pk_fail(err, errlen, "out of memory");
        goto out;
    }
    free(x->url);
    x->url = copy;
    x->connect_to = list;
    ok = 0;
out:
    pk_buf_free(&entry);
    curl_free(host);
    curl_free(port);
    curl_free(url);
    curl_url_cleanup(u);
    return ok;
}

/* Renders the request's url, body and headers into x. 0, or -1 with err set. */
static int render_request(struct http_exchange *x, const struct pk_request *req, const struct pk_kv *captures,
                          size_t n_captures, char *err, size_t errlen)
{
    char rerr[200] = "";
    int url_secret = 0;
    if (render(x, req->url, captures, n_captures, NULL, PK_TEMPLATE_RAW, &x->url, &url_secret, rerr,
               sizeof rerr) < 0) {
        snprintf(err, errlen, "url: %s", rerr);
        return -1;
    }
    x->redact_errors = url_secret;
    if (req->tls.server_name && req->tls.server_name[0] && apply_server_name(x, req->tls.server_name, err, errlen) < 0)
        return -1;

    switch (req->body_kind) {
    case PK_BODY_RAW:
    case PK_BODY_JSON:
        if (render(x, req->body, captures, n_captures, NULL,
                   req->body_kind == PK_BODY_JSON ? PK_TEMPLATE_JSON_STRING : PK_TEMPLATE_RAW, &x->body, NULL,
                   rerr, sizeof rerr) < 0) {
            snprintf(err, errlen, "body: %s", rerr);
            return -1;
        }
        break;
    case PK_BODY_FORM:
        if (render_form(x, req, captures, n_captures, err, errlen) < 0)
            return -1;
        break;
    default:
        break;
    }

    for (size_t i = 0; i < req->n_headers; i++) {
        char *value = NULL;
        if (render(x, req->headers[i].value, captures, n_captures, x->body ? x->body : "", PK_TEMPLATE_RAW,
                   &value, NULL, rerr, sizeof rerr) < 0) {
            snprintf(err, errlen, "header %s: %s", req->headers[i].key, rerr);
            return -1;
        }
        int failed = append_header(x, req->headers[i].key, value);
        free(value);
        if (failed)
            goto oom;
    }
    if (req->body_kind == PK_BODY_JSON && !has_header(req, "Content-Type") &&
        append_header(x, "Content-Type", "application/json") < 0)
        goto oom;
    if (req->body_kind == PK_BODY_FORM && !has_header(req, "Content-Type") &&
        append_header(x, "Content-Type", "application/x-www-form-urlencoded") < 0)
        goto oom;
    /* A 100-continue round trip would show up as server think time. */
    if (x->body && !has_header(req, "Expect") && !(x->headers = curl_slist_append(x->headers, "Expect:")))
        goto oom;

    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* Every libcurl option of the transfer; the first failure's code. */
static CURLcode configure_easy(struct http_exchange *x, const struct pk_request *req, int64_t timeout_ms)
{
    CURLcode rc = CURLE_OK;
    const char *method = req->method && req->method[0] ? req->method : x->body ? "POST" : "GET";
    curl_easy_reset(x->easy);
#define SET(opt, value)                                                                                                \
    do {                                                                                                               \
        if (rc == CURLE_OK)                                                                                            \
            rc = curl_easy_setopt(x->easy, opt, value);                                                                \
    } while (0)
    SET(CURLOPT_URL, x->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    SET(CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_FOLLOWLOCATION, req->follow_redirects ? 1L : 0L);
    SET(CURLOPT_MAXREDIRS, REDIRECTS_MAX);
    SET(CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS));
    SET(CURLOPT_FORBID_REUSE, 1L);
    SET(CURLOPT_FRESH_CONNECT, 1L);
    SET(CURLOPT_DNS_CACHE_TIMEOUT, 0L);
    SET(CURLOPT_USERAGENT, "picket-probe/" PICKET_VERSION);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, x);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, x);
    SET(CURLOPT_PRIVATE, &x->io);
    SET(CURLOPT_ERRORBUFFER, x->errbuf);
    if (x->headers)
        SET(CURLOPT_HTTPHEADER, x->headers);
    if (strcmp(method, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else if (x->body || strcmp(method, "POST") == 0) {
        /* x->body lives until the next start or free, past the transfer. */
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(x->body ? strlen(x->body) : 0));
        SET(CURLOPT_POSTFIELDS, x->body ? x->body : "");
        if (strcmp(method, "POST") != 0)
            SET(CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        SET(CURLOPT_CUSTOMREQUEST, method);
    }
    if (req->tls.ca_file)
        SET(CURLOPT_CAINFO, req->tls.ca_file);
    if (req->tls.cert_file)
        SET(CURLOPT_SSLCERT, req->tls.cert_file);
    if (req->tls.key_file)
        SET(CURLOPT_SSLKEY, req->tls.key_file);
    if (x->connect_to)
        SET(CURLOPT_CONNECT_TO, x->connect_to);
    if (req->tls.insecure_skip_verify) {
        SET(CURLOPT_SSL_VERIFYPEER, 0L);
        SET(CURLOPT_SSL_VERIFYHOST, 0L);
    }
#undef SET
    return rc;
}

int http_exchange_start(struct http_exchange *x, const struct pk_request *req, const struct pk_kv *captures,
                        size_t n_captures, int64_t timeout_ms, char *err, size_t errlen)
{
    reset_request(x);
    clear_response_headers(x);
    x->resp_len = 0;
    x->body_bytes = 0;
    x->curl_code = CURLE_OK;
    x->errbuf[0] = '\0';
    x->keep_max = req->max_body_bytes > 0 ? req->max_body_bytes : BODY_KEEP_DEFAULT;
    if (render_request(x, req, captures, n_captures, err, errlen) < 0)
        return -1;
    CURLcode rc = configure_easy(x, req, timeout_ms);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "cannot configure libcurl: %s", curl_easy_strerror(rc));
        return -1;
    }
    CURLMcode mc = curl_multi_add_handle(x->env->curl_multi, x->easy);
    if (mc != CURLM_OK) {
        snprintf(err, errlen, "cannot start transfer: %s", curl_multi_strerror(mc));
        return -1;
    }
    x->in_flight = 1;
    return 0;
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
    case CURLE_TOO_MANY_REDIRECTS:
        return PK_ERR_HTTP; /* the server answered, but not in usable HTTP */
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

int http_exchange_result(struct http_exchange *x, struct pk_result *r)
{
    curl_off_t dns = 0, connect = 0, tls = 0, first_byte = 0, total = 0;
    long status = 0;
    CURLcode code = (CURLcode)x->curl_code;
    r->body_bytes = x->body_bytes;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(x->easy, CURLINFO_NAMELOOKUP_TIME_T, &dns);
    curl_easy_getinfo(x->easy, CURLINFO_CONNECT_TIME_T, &connect);
    curl_easy_getinfo(x->easy, CURLINFO_APPCONNECT_TIME_T, &tls);
    curl_easy_getinfo(x->easy, CURLINFO_STARTTRANSFER_TIME_T, &first_byte);
    curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME_T, &total);
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
    if (code == CURLE_OK)
        return 0;
    r->outcome = PK_OUTCOME_FAILED;
    pk_strlcpy(r->message, x->errbuf[0] && !x->redact_errors ? x->errbuf : curl_easy_strerror(code),
               sizeof r->message);
    pk_utf8_sanitize(r->message);
    return -1;
}

void http_exchange_response(struct http_exchange *x, struct assert_response *view)
{
    long status = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_off_t total = 0;
    curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME_T, &total);
    memset(view, 0, sizeof *view);
    view->status = (int)status;
    view->headers = x->resp_headers;
    view->n_headers = x->n_resp_headers;
    view->body = x->resp_body ? x->resp_body : "";
    view->body_len = x->resp_len;
    view->body_bytes = x->body_bytes;
    view->total_us = total;
}

/* ---------------------------------------------------------------- the check */

/* Without a status assertion a step must answer 200 (the loader adds the same
 * default; this covers checks built in code). */
static const int default_status_range[2] = {200, 200};
static const struct pk_assertion default_status = {
    .kind = PK_ASSERT_STATUS,
    .severity = PK_SEV_FAILED,
    .status_ranges = (int *)default_status_range,
    .n_status_ranges = 1,
};

struct http_check {
    const struct check_env *env;
    const struct pk_check *check; /* borrowed from the check set */
    const struct pk_step *step;   /* check->u.http.step */
    struct http_exchange **x;     /* one, or burst.count */
    size_t n_x;
    size_t pending;               /* burst: exchanges still in flight */
    int64_t *sample_us;           /* samples: the times so far (samples.count slots) */
    int n_samples;
    struct assert_verdict sample_worst; /* samples: the first degraded verdict */
    void *slot;                   /* non-NULL while an execution is in flight */
    int64_t started_at_us, started_mono_us;
};

static void result_init(const struct http_check *h, struct pk_result *r)
{
    memset(r, 0, sizeof *r);
    pk_strlcpy(r->check_name, h->check->name, sizeof r->check_name);
    pk_strlcpy(r->check_type, "http", sizeof r->check_type);
    r->started_at_us = h->started_at_us;
    r->dns_us = r->connect_us = r->tls_us = r->ttfb_us = -1;
}

static void finish(struct http_check *h, const struct pk_result *r)
{
    void *slot = h->slot;
    h->slot = NULL;
    h->env->done(slot, r);
}

static int has_status_assertion(const struct pk_step *s)
{
    for (size_t i = 0; i < s->n_asserts; i++)
        if (s->asserts[i].kind == PK_ASSERT_STATUS)
            return 1;
    return 0;
}

static void release_exchanges(struct http_check *h);

static void single_done(void *user, struct http_exchange *x)
{
    struct http_check *h = user;
    const struct pk_step *s = h->step;
    struct pk_result r;
    result_init(h, &r);
    if (http_exchange_result(x, &r) == 0) {
        struct assert_response view;
        struct assert_verdict v, status_v = {.outcome = PK_OUTCOME_OK};
        http_exchange_response(x, &view);
        if (!has_status_assertion(s))
            assert_evaluate(&view, &default_status, 1, &status_v);
        assert_evaluate(&view, s->asserts, s->n_asserts, &v);
        if (status_v.outcome == PK_OUTCOME_FAILED)
            v = status_v; /* a wrong status explains everything after it */
        r.outcome = v.outcome;
        r.error_class = v.error_class;
        pk_strlcpy(r.message, v.message, sizeof r.message);
        /* An error page has nothing to extract; do not log that every round. */
        if (!(v.outcome == PK_OUTCOME_FAILED && v.error_class == PK_ERR_HTTP))
            assert_extract(&view, s->extracts, s->n_extracts, h->check->name, &r);
        assert_response_release(&view);
    }
    release_exchanges(h); /* x among them */
    finish(h, &r);
}

/* Exchanges (a curl handle each, several kB; up to 1000 for a burst) live only
 * while the check runs: an idle probe with thousands of checks holds none.
 * Connections are kept by the multi handle, so nothing is lost by this. */
static void release_exchanges(struct http_check *h)
{
    for (size_t i = 0; i < h->n_x; i++) {
        http_exchange_free(h->x[i]);
        h->x[i] = NULL;
    }
}

static void burst_done(void *user, struct http_exchange *x)
{
    struct http_check *h = user;
    (void)x;
    if (--h->pending)
        return;
    const struct pk_burst *b = &h->check->u.http.burst;
    struct pk_result r;
    result_init(h, &r);
    int matching = 0, answered = 0, first_status = 0;
    int64_t bytes = 0;
    struct pk_result first_error = {0};
    for (size_t i = 0; i < h->n_x; i++) {
        struct pk_result one;
        result_init(h, &one);
        if (http_exchange_result(h->x[i], &one) == 0) {
            answered++;
            if (!first_status)
                first_status = one.status_code;
        } else if (!first_error.outcome) {
            first_error = one;
        }
        if (one.status_code == b->expect_status)
            matching++;
        bytes += one.body_bytes;
    }
    r.total_us = pk_mono_us() - h->started_mono_us;
    r.body_bytes = bytes;
    r.status_code = matching ? b->expect_status : first_status;
    r.n_metrics = 1;
    pk_strlcpy(r.metrics[0].name, "burst_matching", sizeof r.metrics[0].name);
    r.metrics[0].value = matching;
    r.outcome = PK_OUTCOME_OK;
    if (matching < b->expect_at_least) {
        r.outcome = PK_OUTCOME_FAILED;
        snprintf(r.message, sizeof r.message, "burst of %zu: %d answers were %d, expected at least %d", h->n_x,
                 matching, b->expect_status, b->expect_at_least);
    } else if (b->expect_at_most >= 0 && matching > b->expect_at_most) {
        r.outcome = PK_OUTCOME_FAILED;
        snprintf(r.message, sizeof r.message, "burst of %zu: %d answers were %d, expected at most %d", h->n_x,
                 matching, b->expect_status, b->expect_at_most);
    }
    if (!answered) {
        /* Nothing answered at all: that is the news, not the count. */
        r.outcome = PK_OUTCOME_FAILED;
        r.error_class = first_error.error_class;
        snprintf(r.message, sizeof r.message, "burst of %zu: no answers: %.200s", h->n_x, first_error.message);
    } else if (r.outcome != PK_OUTCOME_OK) {
        r.error_class = PK_ERR_ASSERTION;
        if (answered < (int)h->n_x) {
            size_t n = strlen(r.message);
            snprintf(r.message + n, sizeof r.message - n, " (%zu without an answer)", h->n_x - (size_t)answered);
        }
    }
    release_exchanges(h); /* x among them: done callbacks may free their exchange */
    finish(h, &r);
}

/* ---------------------------------------------------------------- samples */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The seed's percentile: sorted samples, index floor(n * q), the last at most. */
static int64_t nearest_rank(const int64_t *sorted, int n, double q)
{
    int i = (int)(n * q);
    return sorted[i < n ? i : n - 1];
}

static void add_metric(struct pk_result *r, const char *name, double value)
{
    if (r->n_metrics >= PK_MAX_METRICS)
        return;
    pk_strlcpy(r->metrics[r->n_metrics].name, name, sizeof r->metrics[r->n_metrics].name);
    r->metrics[r->n_metrics++].value = value;
}

/* The first bound (0 p50, 1 p95, 2 p99) already lost whatever samples are
 * still to come, or -1: with n samples, quantile q is sorted[floor(n * q)],
 * at or over the bound exactly when n - floor(n * q) samples are. So a check
 * whose p99 over ten must be under 10 s need not wait ten times for a service
 * stuck at 10.5 s; with every sample in it is the plain percentile test. */
static int samples_lost(const struct http_check *h)
{
    const struct pk_samples *sm = &h->check->u.http.samples;
    const int64_t bound_ms[3] = {sm->p50_under_ms, sm->p95_under_ms, sm->p99_under_ms};
    const double q[3] = {0.50, 0.95, 0.99};
    int n = sm->count;
    for (int i = 0; i < 3; i++) {
        if (bound_ms[i] <= 0)
            continue;
        int at = (int)(n * q[i]), over = 0;
        if (at > n - 1)
            at = n - 1;
        for (int k = 0; k < h->n_samples; k++)
            over += h->sample_us[k] >= bound_ms[i] * 1000;
        if (over >= n - at)
            return i;
    }
    return -1;
}

/* All samples in (or a bound lost early): percentiles against the bounds. The
 * result's time is the median sample, so the check's latency series stays
 * comparable; the metrics say how many samples were taken and their p50/p95/p99. */
static void samples_judge(struct http_check *h, struct pk_result *r)
{
    const struct pk_samples *sm = &h->check->u.http.samples;
    const int64_t bound_ms[3] = {sm->p50_under_ms, sm->p95_under_ms, sm->p99_under_ms};
    static const char *const names[3] = {"p50", "p95", "p99"};
    int lost = samples_lost(h), n = h->n_samples;
    qsort(h->sample_us, (size_t)n, sizeof *h->sample_us, cmp_i64);
    int64_t p[3] = {nearest_rank(h->sample_us, n, 0.50), nearest_rank(h->sample_us, n, 0.95),
                    nearest_rank(h->sample_us, n, 0.99)};
    r->total_us = p[0];
    add_metric(r, "samples", n);
    add_metric(r, "samples_p50_ms", (double)p[0] / 1000.0);
    add_metric(r, "samples_p95_ms", (double)p[1] / 1000.0);
    add_metric(r, "samples_p99_ms", (double)p[2] / 1000.0);
    if (lost >= 0) {
        r->outcome = PK_OUTCOME_FAILED;
        r->error_class = PK_ERR_ASSERTION;
        if (n == sm->count)
            snprintf(r->message, sizeof r->message, "%d samples: %s %.0fms, expected under %lldms", n, names[lost],
                     (double)p[lost] / 1000.0, (long long)bound_ms[lost]);
        else
            snprintf(r->message, sizeof r->message,
                     "%d samples: %s cannot be under %lldms after %d of them (slowest %.0fms); stopped early",
                     sm->count, names[lost], (long long)bound_ms[lost], n, (double)h->sample_us[n - 1] / 1000.0);
        return;
    }
    r->outcome = h->sample_worst.outcome ? h->sample_worst.outcome : PK_OUTCOME_OK;
    if (r->outcome == PK_OUTCOME_DEGRADED) {
        r->error_class = h->sample_worst.error_class;
        pk_strlcpy(r->message, h->sample_worst.message, sizeof r->message);
    }
}

/* One sample answered (or not): judged like a single request; a failed one
 * ends the round, as a thrown request ends the seed's loop. */
static void samples_done(void *user, struct http_exchange *x)
{
    struct http_check *h = user;
    const struct pk_step *s = h->step;
    int count = h->check->u.http.samples.count;
    struct pk_result r;
    result_init(h, &r);
    struct assert_verdict v = {.outcome = PK_OUTCOME_OK};
    if (http_exchange_result(x, &r) == 0) {
        struct assert_response view;
        struct assert_verdict status_v = {.outcome = PK_OUTCOME_OK};
        http_exchange_response(x, &view);
        if (!has_status_assertion(s))
            assert_evaluate(&view, &default_status, 1, &status_v);
        assert_evaluate(&view, s->asserts, s->n_asserts, &v);
        if (status_v.outcome == PK_OUTCOME_FAILED)
            v = status_v;
        if (v.outcome != PK_OUTCOME_FAILED && h->n_samples + 1 == count)
            assert_extract(&view, s->extracts, s->n_extracts, h->check->name, &r);
        assert_response_release(&view);
    } else {
        v.outcome = r.outcome;
        v.error_class = r.error_class;
        pk_strlcpy(v.message, r.message, sizeof v.message);
    }
    if (v.outcome == PK_OUTCOME_FAILED || v.outcome == PK_OUTCOME_UNKNOWN) {
        r.outcome = v.outcome;
        r.error_class = v.error_class;
        snprintf(r.message, sizeof r.message, "sample %d of %d: %.200s", h->n_samples + 1, count, v.message);
        goto done;
    }
    if (v.outcome == PK_OUTCOME_DEGRADED && !h->sample_worst.outcome)
        h->sample_worst = v;
    h->sample_us[h->n_samples++] = r.total_us;
    if (h->n_samples < count && samples_lost(h) < 0) {
        char err[PK_MESSAGE_MAX - 64];
        int64_t left_ms = h->check->timeout_ms - (pk_mono_us() - h->started_mono_us) / 1000;
        if (left_ms <= 0) {
            r.outcome = PK_OUTCOME_FAILED;
            r.error_class = PK_ERR_TIMEOUT;
            snprintf(r.message, sizeof r.message, "%d of %d samples within the timeout of %lldms", h->n_samples,
                     count, (long long)h->check->timeout_ms);
            goto done;
        }
        if (http_exchange_start(x, &s->request, NULL, 0, left_ms, err, sizeof err) == 0)
            return;
        r.outcome = PK_OUTCOME_UNKNOWN;
        r.error_class = PK_ERR_INTERNAL;
        snprintf(r.message, sizeof r.message, "cannot build request: %s", err);
        goto done;
    }
    samples_judge(h, &r);
done:
    release_exchanges(h); /* x among them */
    finish(h, &r);
}

static void http_start(void *state, void *slot)
{
    struct http_check *h = state;
    char err[PK_MESSAGE_MAX - 32];
    h->slot = slot;
    h->started_at_us = pk_now_us();
    h->started_mono_us = pk_mono_us();
    h->pending = 0;
    h->n_samples = 0;
    memset(&h->sample_worst, 0, sizeof h->sample_worst);
    /* A burst adds all its transfers at once; within_ms is not spread (yet):
     * N requests at the same instant is the harder test of a rate limit. */
    for (size_t i = 0; i < h->n_x; i++) {
        http_exchange_done_fn done = h->check->u.http.burst.count > 0     ? burst_done
                                     : h->check->u.http.samples.count > 0 ? samples_done
                                                                          : single_done;
        if (!h->x[i] && !(h->x[i] = http_exchange_new(h->env, h->check, done, h))) {
            snprintf(err, sizeof err, "out of memory");
            goto fail;
        }
        if (http_exchange_start(h->x[i], &h->step->request, NULL, 0, h->check->timeout_ms, err, sizeof err) < 0)
            goto fail;
        h->pending++;
    }
    return;
fail:
    /* Cannot even start: take back what started and report now. */
    for (size_t j = 0; j < h->n_x; j++)
        http_exchange_cancel(h->x[j]);
    release_exchanges(h);
    struct pk_result r;
    result_init(h, &r);
    r.outcome = PK_OUTCOME_UNKNOWN;
    r.error_class = PK_ERR_INTERNAL;
    snprintf(r.message, sizeof r.message, "cannot build request: %s", err);
    finish(h, &r);
}

static void http_destroy(void *state)
{
    struct http_check *h = state;
    if (!h)
        return;
    for (size_t i = 0; h->x && i < h->n_x; i++)
        http_exchange_free(h->x[i]);
    free(h->x);
    free(h->sample_us);
    free(h);
}

static int http_create(const struct check_env *env, const struct pk_check *c, void **state, char *err, size_t errlen)
{
    struct http_check *h = calloc(1, sizeof *h);
    int ok = -1;
    if (!h)
        goto oom;
    h->env = env;
    h->check = c;
    if (!(h->step = c->u.http.step)) {
        snprintf(err, errlen, "check '%s': http check without a request", c->name);
        goto out;
    }
    h->n_x = c->u.http.burst.count > 0 ? (size_t)c->u.http.burst.count : 1;
    if (!(h->x = calloc(h->n_x, sizeof *h->x)))
        goto oom;
    if (c->u.http.samples.count > 0 &&
        !(h->sample_us = calloc((size_t)c->u.http.samples.count, sizeof *h->sample_us)))
        goto oom;
    *state = h;
    h = NULL;
    ok = 0;
    goto out;
oom:
    snprintf(err, errlen, "check '%s': out of memory", c->name);
out:
    http_destroy(h);
    return ok;
}

const struct check_type check_type_http = {
    .create = http_create,
    .start = http_start,
    .destroy = http_destroy,
};
