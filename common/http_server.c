/* http_server.c: GET /metrics, /healthz and a caller's routes over libmicrohttpd
 * (the only file that includes microhttpd). Owns its daemon and threads; a
 * method other than GET/HEAD gets 405, an unknown path 404. Never calls back
 * into anything that blocks: the callbacks are the caller's cached-state
 * readers. */
#include "http_server.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "pk_error.h"
#include "auth.h"

struct pk_http_server {
    struct MHD_Daemon *daemon;
    struct pk_http_server_options o;
    char *allowed_hosts; /* a copy of o.allowed_hosts, or NULL: any */
    char *cert_pem, *key_pem, *ca_pem; /* HTTPS: the files' contents (libmicrohttpd keeps pointers) */
    int port;
    pthread_mutex_t log_mu;   /* libmicrohttpd's messages: at most one a second */
    time_t log_second;
    unsigned long log_held;
};

/* libmicrohttpd's error log (a refused connection, an accept error) as our log
 * lines, at most one a second: a flood must not become a flood of lines. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct pk_http_server *h = cls;
    char msg[256], q[300];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\r\n")] = '\0';
    time_t now = time(NULL);
    pthread_mutex_lock(&h->log_mu);
    int quiet = now == h->log_second;
    unsigned long held = h->log_held;
    if (quiet)
        h->log_held++;
    else {
        h->log_second = now;
        h->log_held = 0;
    }
    pthread_mutex_unlock(&h->log_mu);
    if (!quiet)
        PK_WARN("http", "libmicrohttpd", "detail=%s held_back=%lu", pk_log_q(q, sizeof q, msg), held);
}

/* 1 when the request's Host: names an allowed host (or no list is set). */
static int host_allowed(const struct pk_http_server *h, struct MHD_Connection *c)
{
    if (!h->allowed_hosts)
        return 1;
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    if (!host)
        return 0;
    size_t hl = strlen(host);
    const char *colon = strrchr(host, ':');
    if (host[0] == '[') { /* [v6]:port */
        const char *close = strchr(host, ']');
        hl = close ? (size_t)(close - host) + 1 : hl;
    } else if (colon)
        hl = (size_t)(colon - host);
    for (const char *p = h->allowed_hosts; *p;) {
        size_t n = strcspn(p, ",");
        if (n == hl && strncasecmp(p, host, n) == 0)
            return 1;
        p += n;
        p += *p == ',';
    }
    return 0;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int code, const char *type, void *body, size_t len,
                             enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned int code, const char *text)
{
    return reply(c, code, "text/plain", (void *)text, strlen(text), MHD_RESPMEM_PERSISTENT);
}

/* The common name of the connection's TLS client certificate when it verifies
 * against the trusted CA (GnuTLS: chain, validity, key usage), else NULL. */
static const char *client_cn(struct MHD_Connection *c)
{
    static __thread char cn[256];
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return NULL;
    gnutls_session_t s = (gnutls_session_t)ci->tls_session;
    unsigned status = 0, n = 0;
    if (gnutls_certificate_type_get(s) != GNUTLS_CRT_X509 || gnutls_certificate_verify_peers2(s, &status) != 0 ||
        status != 0)
        return NULL;
    const gnutls_datum_t *chain = gnutls_certificate_get_peers(s, &n);
    gnutls_x509_crt_t crt;
    if (!chain || n == 0 || gnutls_x509_crt_init(&crt) < 0)
        return NULL;
    size_t len = sizeof cn;
    int ok = gnutls_x509_crt_import(crt, &chain[0], GNUTLS_X509_FMT_DER) == 0 &&
             gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &len) == 0 && len > 0 &&
             memchr(cn, '\0', len) == NULL;
    gnutls_x509_crt_deinit(crt);
    return ok ? cn : NULL;
}

static const char *query_arg(void *request, const char *key)
{
    if (strcmp(key, PK_HTTP_CLIENT_CN_ARG) == 0)
        return client_cn(request);
    size_t n = strlen(PK_HTTP_HEADER_ARG);
    if (strncmp(key, PK_HTTP_HEADER_ARG, n) == 0) /* never a query argument: the prefix is checked first */
        return MHD_lookup_connection_value(request, MHD_HEADER_KIND, key + n);
    return MHD_lookup_connection_value(request, MHD_GET_ARGUMENT_KIND, key);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    const struct pk_http_server *h = cls;
    const struct pk_http_server_options *o = &h->o;
    if (!host_allowed(h, c))
        return reply_text(c, 421, "unknown host: this server answers only to its configured names\n");
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    if (strcmp(url, "/metrics") == 0) {
        char *buf = malloc(o->body_max);
        if (!buf)
            return MHD_NO;
        size_t n = o->metrics(buf, o->body_max, o->user);
        return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", buf, n, MHD_RESPMEM_MUST_FREE);
    }
    if (strcmp(url, "/healthz") == 0) {
        if (!o->health || o->health(o->user))
            return reply_text(c, MHD_HTTP_OK, "ok\n");
        return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, o->unhealthy_body);
    }
    struct pk_http_reply r;
    if (o->route && o->route(o->route_user, url, query_arg, c, &r)) {
        if (!r.www_authenticate && !r.etag && !r.encoding)
            return reply(c, r.code, r.type, (void *)r.body, r.len,
                         r.owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            r.len, (void *)r.body, r.owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        if (!resp)
            return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", r.type);
        if (r.www_authenticate)
            MHD_add_response_header(resp, "WWW-Authenticate", r.www_authenticate);
        if (r.etag) { /* kept, but asked again each time: a 304 when unchanged */
            MHD_add_response_header(resp, "ETag", r.etag);
            MHD_add_response_header(resp, "Cache-Control", "no-cache");
        }
        if (r.encoding) {
            MHD_add_response_header(resp, "Content-Encoding", r.encoding);
            MHD_add_response_header(resp, "Vary", "Accept-Encoding");
        }
        enum MHD_Result ret = MHD_queue_response(c, r.code, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    return reply_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

static void free_server(struct pk_http_server *h)
{
    pthread_mutex_destroy(&h->log_mu);
    free(h->allowed_hosts);
    free(h->cert_pem);
    free(h->key_pem);
    free(h->ca_pem);
    free(h);
}

/* Reads the HTTPS files named in h->o, if any. 0, or -1 with err naming the file. */
static int read_tls(struct pk_http_server *h, char *err, size_t errlen)
{
    const struct pk_http_server_options *o = &h->o;
    int cert = o->tls_cert_file && o->tls_cert_file[0], key = o->tls_key_file && o->tls_key_file[0];
    int ca = o->tls_client_ca_file && o->tls_client_ca_file[0];
    if (cert != key || (ca && !cert))
        return pk_fail(err, errlen, "HTTPS needs both a certificate and a key%s",
                       ca ? " (client certificates are verified over HTTPS only)" : "");
    if (cert && (!(h->cert_pem = pk_read_small_file(o->tls_cert_file, err, errlen)) ||
                 !(h->key_pem = pk_read_small_file(o->tls_key_file, err, errlen))))
        return -1;
    if (ca && !(h->ca_pem = pk_read_small_file(o->tls_client_ca_file, err, errlen)))
        return -1;
    return 0;
}

int pk_http_parse_listen(const char *listen, struct sockaddr_in *addr, char *err, size_t errlen)
{
    char host[64];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host)
        return pk_fail(err, errlen, "HTTP listen address '%s' must be IPv4:PORT", listen);
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    const char *digits = colon + 1;
    size_t n = strspn(digits, "0123456789");
    long port = n ? strtol(digits, NULL, 10) : -1;
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    if (n == 0 || n > 5 || digits[n] || port > 65535 || inet_pton(AF_INET, host, &addr->sin_addr) != 1)
        return pk_fail(err, errlen, "HTTP listen address '%s' must be IPv4:PORT", listen);
    addr->sin_port = htons((uint16_t)port);
    return 0;
}

struct pk_http_server *pk_http_start(const char *listen, const struct pk_http_server_options *o, char *err,
                                     size_t errlen)
{
    struct sockaddr_in addr;
    if (pk_http_parse_listen(listen, &addr, err, errlen) < 0)
        return NULL;
    struct pk_http_server *h = calloc(1, sizeof *h);
    if (!h) {
        pk_fail(err, errlen, "out of memory");
        return NULL;
    }
    h->o = *o;
    pthread_mutex_init(&h->log_mu, NULL);
    if (!h->o.body_max)
        h->o.body_max = 1024 * 1024;
    if (!h->o.connection_limit)
        h->o.connection_limit = 32;
    if (!h->o.per_address_limit)
        h->o.per_address_limit = h->o.connection_limit / 4 ? h->o.connection_limit / 4 : 1;
    if (!h->o.timeout_s)
        h->o.timeout_s = 10;
    if (!h->o.unhealthy_body)
        h->o.unhealthy_body = "unhealthy\n";
    if (h->o.allowed_hosts && h->o.allowed_hosts[0]) {
        h->allowed_hosts = strdup(h->o.allowed_hosts);
        if (!h->allowed_hosts) {
            pthread_mutex_destroy(&h->log_mu);
            free(h);
            pk_fail(err, errlen, "out of memory");
            return NULL;
        }
    }
    if (read_tls(h, err, errlen) < 0) {
        free_server(h);
        return NULL;
    }
    /* epoll: a connection waiting for bytes costs no thread, so slow clients
     * hold only their own slot; the per-address limit keeps one client from
     * taking them all. A pool of 1 is no pool: the one polling thread serves. */
    unsigned int threads = h->o.threads ? h->o.threads : 1;
    struct MHD_OptionItem tls[] = { /* ends at the first MHD_OPTION_END: none without a certificate */
        {h->cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, h->cert_pem},
        {h->key_pem ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, h->key_pem},
        {h->ca_pem ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0, h->ca_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    h->daemon = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | (h->cert_pem ? MHD_USE_TLS : 0),
                                 0, NULL, NULL, on_request, h,
                                 /* first, or libmicrohttpd says so on stderr and may log the
                                  * options before it with its own logger */
                                 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, MHD_OPTION_SOCK_ADDR,
                                 (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT, h->o.connection_limit,
                                 MHD_OPTION_PER_IP_CONNECTION_LIMIT, h->o.per_address_limit,
                                 MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_TIMEOUT,
                                 h->o.timeout_s, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024,
                                 MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    if (!h->daemon) {
        if (h->cert_pem)
            pk_fail(err, errlen, "cannot serve HTTPS on %s (address in use, or a certificate, key or CA that "
                                 "GnuTLS cannot use)", listen);
        else
            pk_fail(err, errlen, "cannot listen for HTTP on %s (address in use?)", listen);
        free_server(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? (int)info->port : (int)ntohs(addr.sin_port);
    return h;
}

int pk_http_port(const struct pk_http_server *h) { return h ? h->port : 0; }

void pk_http_stop(struct pk_http_server *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);
    free_server(h);
}
