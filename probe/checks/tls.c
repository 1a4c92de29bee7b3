/* tls.c: the tls check type: days until the peer certificate expires. Connects
 * (the bounded connect in tcp.c), does a TLS handshake with OpenSSL (SNI from
 * server_name or host) and reads the leaf certificate's notAfter: ok above
 * degraded_days, degraded at or below it, failed at or below failed_days or
 * when expired. With ca_file, the chain and the name must verify against it.
 * Metrics days_left and expiry_unix (notAfter as Unix seconds). Works on a
 * worker thread (check_job); the SSL_CTX is built once per check at create. */
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "registry.h"

#define SLICE_MS 50

struct tls_check {
    struct check_worker w; /* first: check_worker_new, start and destroy */
    SSL_CTX *ctx; /* owned; shared read-only by executions */
};

static struct check_job_queue queue = {PTHREAD_MUTEX_INITIALIZER, NULL};

static void add_metric(struct pk_result *r, const char *name, double value)
{
    if (r->n_metrics >= PK_MAX_METRICS)
        return;
    pk_strlcpy(r->metrics[r->n_metrics].name, name, PK_METRIC_NAME_MAX);
    r->metrics[r->n_metrics++].value = value;
}

static void openssl_reason(char *out, size_t size)
{
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, out, size);
    else
        snprintf(out, size, "handshake failed");
    ERR_clear_error();
}

static int is_ip(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static void tls_work(struct check_job *job)
{
    const struct tls_check *t = (const struct tls_check *)((const char *)job - offsetof(struct tls_check, w.job));
    const struct pk_check *c = job->check;
    const struct pk_tls_check_options *o = &c->u.tls;
    struct pk_result *r = &job->result;
    int64_t timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : 10000;
    int64_t t0 = pk_mono_us(), deadline = t0 + timeout_ms * 1000;
    const char *name = o->server_name && o->server_name[0] ? o->server_name : o->host;
    int port = o->port > 0 ? o->port : 443;
    SSL *ssl = NULL;
    X509 *cert = NULL;
    char reason[200];
    int fd = check_tcp_connect(o->host, o->host, port, deadline, job, &r->dns_us, &r->connect_us, &r->error_class, r->message,
                               sizeof r->message);
    if (fd < 0) {
        r->outcome = PK_OUTCOME_FAILED;
        goto out;
    }
    r->outcome = PK_OUTCOME_FAILED;
    r->error_class = PK_ERR_TLS;
    if (!(ssl = SSL_new(t->ctx)) || !SSL_set_fd(ssl, fd)) {
        r->error_class = PK_ERR_INTERNAL;
        snprintf(r->message, sizeof r->message, "cannot set up TLS");
        goto out;
    }
    if (!is_ip(name))
        SSL_set_tlsext_host_name(ssl, name);
    if (o->ca_file && o->ca_file[0]) {
        X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
        if (is_ip(name))
            X509_VERIFY_PARAM_set1_ip_asc(param, name);
        else
            X509_VERIFY_PARAM_set1_host(param, name, 0);
    }
    int64_t t_tls = pk_mono_us();
    for (;;) {
        ERR_clear_error();
        int rc = SSL_connect(ssl);
        if (rc == 1)
            break;
        int e = SSL_get_error(ssl, rc);
        short events = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
        if (!events) {
            openssl_reason(reason, sizeof reason);
            snprintf(r->message, sizeof r->message, "TLS handshake with %s:%d failed: %s", o->host, port, reason);
            goto out;
        }
        int ready = 0;
        while (!ready) {
            int left = check_ms_left(deadline);
            if (left == 0 || check_job_cancelled(job)) {
                r->error_class = PK_ERR_TIMEOUT;
                snprintf(r->message, sizeof r->message, "TLS handshake with %s:%d timed out after %lld ms", o->host,
                         port, (long long)timeout_ms);
                goto out;
            }
            struct pollfd p = {fd, events, 0};
            ready = poll(&p, 1, left < SLICE_MS ? left : SLICE_MS) > 0;
        }
    }
    r->tls_us = pk_mono_us() - t_tls;
    r->total_us = pk_mono_us() - t0;
    cert = SSL_get1_peer_certificate(ssl);
    if (!cert) {
        snprintf(r->message, sizeof r->message, "%s:%d sent no certificate", o->host, port);
        goto out;
    }
    if (o->ca_file && o->ca_file[0]) {
        long v = SSL_get_verify_result(ssl);
        if (v != X509_V_OK) {
            snprintf(r->message, sizeof r->message, "certificate of %s does not verify against %s: %s", name,
                     o->ca_file, X509_verify_cert_error_string(v));
            goto out;
        }
    }
    const ASN1_TIME *not_after = X509_get0_notAfter(cert);
    int days = 0, secs = 0;
    struct tm tm;
    if (!ASN1_TIME_diff(&days, &secs, NULL, not_after) || !ASN1_TIME_to_tm(not_after, &tm)) {
        snprintf(r->message, sizeof r->message, "certificate of %s has an unreadable notAfter", name);
        goto out;
    }
    double days_left = days + secs / 86400.0;
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
    add_metric(r, "days_left", days_left);
    add_metric(r, "expiry_unix", (double)timegm(&tm));
    r->error_class = PK_ERR_TLS;
    if (days < 0 || secs < 0) {
        r->outcome = PK_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "certificate of %s expired on %s", name, when);
    } else if (days_left <= (double)o->failed_days) {
        r->outcome = PK_OUTCOME_FAILED;
        snprintf(r->message, sizeof r->message, "certificate of %s expires in %d days (%s); failed at %lld days", name,
                 days, when, (long long)o->failed_days);
    } else if (days_left <= (double)o->degraded_days) {
        r->outcome = PK_OUTCOME_DEGRADED;
        snprintf(r->message, sizeof r->message, "certificate of %s expires in %d days (%s); degraded at %lld days",
                 name, days, when, (long long)o->degraded_days);
    } else {
        r->outcome = PK_OUTCOME_OK;
        r->error_class = PK_ERR_NONE;
        check_apply_asserts(c, NULL, 0, r);
    }
out:
    pk_utf8_sanitize(r->message);
    if (r->total_us < 0)
        r->total_us = pk_mono_us() - t0;
    X509_free(cert);
    SSL_free(ssl); /* no close_notify: nothing rides on this connection */
    if (fd >= 0)
        close(fd);
    ERR_clear_error();
}

static int tls_create(const struct check_env *env, const struct pk_check *check, void **state, char *err,
                      size_t errlen)
{
    const char *file = check->file ? check->file : "";
    const struct pk_tls_check_options *o = &check->u.tls;
    struct tls_check *t = NULL;
    if (!o->host || !o->host[0] || o->port < 0 || o->port > 65535) {
        snprintf(err, errlen, "%s:%d: check '%s' needs a host (and a port 1..65535, default 443)", file, check->line,
                 check->name);
        return -1;
    }
    if (!(t = check_worker_new(sizeof *t, env, check, &queue, tls_work, err, errlen)))
        return -1;
    if (!(t->ctx = SSL_CTX_new(TLS_client_method()))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* Verification is judged after the handshake, so the message can say why. */
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
    if (o->ca_file && o->ca_file[0] && SSL_CTX_load_verify_locations(t->ctx, o->ca_file, NULL) != 1) {
        char reason[160];
        openssl_reason(reason, sizeof reason);
        snprintf(err, errlen, "%s:%d: check '%s': cannot load ca_file %s: %s", file, check->line, check->name,
                 o->ca_file, reason);
        goto fail;
    }
    *state = t;
    return 0;
fail:
    if (t)
        SSL_CTX_free(t->ctx);
    free(t);
    return -1;
}

static void tls_destroy(void *state)
{
    struct tls_check *t = state;
    if (!t)
        return;
    check_job_cancel(&t->w.job);
    SSL_CTX_free(t->ctx);
    free(t);
}

static void tls_poll(void) { check_job_queue_drain(&queue); }

const struct check_type check_type_tls = {
    .create = tls_create,
    .start = check_worker_start,
    .destroy = tls_destroy,
    .poll_completions = tls_poll,
};
