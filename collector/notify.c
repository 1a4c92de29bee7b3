/* notify.c: the libcurl transport behind notify.h. One easy handle per thread
 * (deliveries come from the alert thread alone), reused so that connections
 * and TLS sessions are kept between calls; TLS verified
 * against the system store or the receiver's CA file, SMTP with STARTTLS
 * required. Never follows redirects, never reads more of an answer than it
 * needs, and never writes a secret into an error message. */
#define _POSIX_C_SOURCE 200809L
#include "notify.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static pthread_key_t handle_key; /* each thread's easy handle, cleaned up when the thread ends */

static void free_handle(void *c) { curl_easy_cleanup(c); }

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_key_create(&handle_key, free_handle);
}

/* The calling thread's easy handle, reset: its connection and TLS session caches
 * survive, so a burst of notifications to one receiver reuses one connection. */
static CURL *thread_handle(void)
{
    CURL *c = pthread_getspecific(handle_key);
    if (c) {
        curl_easy_reset(c);
        return c;
    }
    c = curl_easy_init();
    if (c && pthread_setspecific(handle_key, c) != 0) {
        curl_easy_cleanup(c);
        c = NULL;
    }
    return c;
}

int notify_check_url(const char *url, char *err, size_t errlen)
{
    pthread_once(&curl_once, curl_init_once);
    static const char *const schemes[] = {"http", "https", "smtp", "smtps"};
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int rc = -1;
    if (!u) {
        snprintf(err, errlen, "url '%s': out of memory", url);
        return -1;
    }
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0]) {
        snprintf(err, errlen, "url '%s': not a URL with a scheme and a host", url);
        goto out;
    }
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (!strcmp(scheme, schemes[i]))
            rc = 0;
    if (rc < 0)
        snprintf(err, errlen, "url '%s': scheme must be http, https, smtp or smtps", url);
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

struct upload {
    const char *data;
    size_t len, off;
};

static size_t read_body(char *dst, size_t size, size_t nmemb, void *arg)
{
    struct upload *up = arg;
    size_t n = size * nmemb;
    if (n > up->len - up->off)
        n = up->len - up->off;
    memcpy(dst, up->data + up->off, n);
    up->off += n;
    return n;
}

/* The answer's body is not needed: drop it, but at most 1 MiB. */
static size_t drop_body(char *p, size_t size, size_t nmemb, void *arg)
{
    size_t *seen = arg;
    (void)p;
    *seen += size * nmemb;
    return *seen > (1u << 20) ? 0 : size * nmemb;
}

static int is_smtp(const char *url) { return !strncmp(url, "smtp://", 7) || !strncmp(url, "smtps://", 8); }

int notify_send(const struct notify_request *q, char *err, size_t errlen)
{
    pthread_once(&curl_once, curl_init_once);
    char cerr[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL, *rcpt = NULL;
    struct upload up = {q->body ? q->body : "", q->body ? strlen(q->body) : 0, 0};
    size_t seen = 0;
    int status = -1;
    CURL *c = thread_handle();
    if (!c) {
        snprintf(err, errlen, "%s: cannot start libcurl", q->url);
        return -1;
    }
    int smtp = is_smtp(q->url);
    curl_easy_setopt(c, CURLOPT_URL, q->url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(q->timeout_ms > 0 ? q->timeout_ms : 5000));
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,smtp,smtps");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "picket-collector");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, drop_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &seen);
    if (q->ca_file && q->ca_file[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, q->ca_file);
    if (q->proxy && q->proxy[0])
        curl_easy_setopt(c, CURLOPT_PROXY, q->proxy);
    if (smtp) {
        curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
        if (q->mail_from)
            curl_easy_setopt(c, CURLOPT_MAIL_FROM, q->mail_from);
        for (int i = 0; i < q->n_rcpt && i < NOTIFY_MAX_RCPT; i++)
            rcpt = curl_slist_append(rcpt, q->rcpt[i]);
        curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
        if (q->username && q->username[0]) {
            curl_easy_setopt(c, CURLOPT_USERNAME, q->username);
            curl_easy_setopt(c, CURLOPT_PASSWORD, q->password ? q->password : "");
        }
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, read_body);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)up.len);
    } else {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        hdrs = curl_slist_append(hdrs, "Expect:");
        for (int i = 0; i < q->n_headers && i < NOTIFY_MAX_HEADERS; i++)
            hdrs = curl_slist_append(hdrs, q->headers[i]);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, up.data);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)up.len);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s: %s", q->url, cerr[0] ? cerr : curl_easy_strerror(rc));
        goto out;
    }
    if (smtp) {
        status = 250;
    } else {
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        status = (int)code;
        if (status < 100 || status > 599) {
            snprintf(err, errlen, "%s: not an HTTP answer", q->url);
            status = -1;
        }
    }
out:
    curl_slist_free_all(hdrs);
    curl_slist_free_all(rcpt);
    return status;
}

int notify_post(const char *url, const char *key, const char *body, int timeout_ms, char *err, size_t errlen)
{
    struct notify_request q = {.url = url, .body = body, .timeout_ms = timeout_ms};
    char h[700];
    if (key) {
        snprintf(h, sizeof h, "Idempotency-Key: %.600s", key);
        q.headers[q.n_headers++] = h;
    }
    return notify_send(&q, err, errlen);
}
