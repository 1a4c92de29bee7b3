/* http.c: a small libmicrohttpd server for /metrics and /healthz. Owns its
 * daemon; the callbacks it is given must be thread-safe (they run on MHD's
 * thread). Anything but GET of those two paths gets 404/405. */
#include "http.h"

#include "dashboard.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_BUF (256 * 1024)

struct http_server {
    struct MHD_Daemon *daemon;
    http_metrics_fn metrics;
    http_health_fn health;
    void *user;
    struct dashboard *dashboard; /* NULL: no dashboard routes */
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int code, const char *type, char *body, size_t len,
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

static const char *query_arg(void *c, const char *key)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
}

/* The dashboard's routes (collector/dashboard.c). */
static enum MHD_Result serve_dashboard(struct dashboard *d, struct MHD_Connection *c, const char *url)
{
    struct dashboard_reply r;
    dashboard_serve(d, url, query_arg, c, &r);
    return reply(c, r.code, r.type, (char *)r.body, r.len, r.owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    struct http_server *h = cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "method not allowed\n", 19,
                     MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/metrics") == 0) {
        char *buf = malloc(METRICS_BUF);
        if (!buf)
            return MHD_NO;
        size_t n = h->metrics(buf, METRICS_BUF, h->user);
        return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", buf, n, MHD_RESPMEM_MUST_FREE);
    }
    if (strcmp(url, "/healthz") == 0) {
        if (h->health(h->user))
            return reply(c, MHD_HTTP_OK, "text/plain", "ok\n", 3, MHD_RESPMEM_PERSISTENT);
        return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", "database unreachable\n", 21,
                     MHD_RESPMEM_PERSISTENT);
    }
    if (h->dashboard && dashboard_owns(url))
        return serve_dashboard(h->dashboard, c, url);
    return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n", 10, MHD_RESPMEM_PERSISTENT);
}

struct http_server *http_start(const char *listen, http_metrics_fn metrics, http_health_fn health, void *user,
                               char *err, size_t errlen)
{
    char host[64];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host) {
        snprintf(err, errlen, "HTTP listen address '%s' must be IPv4:PORT", listen);
        return NULL;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    if (*end || port < 0 || port > 65535 || inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        snprintf(err, errlen, "HTTP listen address '%s' must be IPv4:PORT", listen);
        return NULL;
    }
    addr.sin_port = htons((uint16_t)port);
    struct http_server *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->metrics = metrics;
    h->health = health;
    h->user = user;
    h->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, h,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT,
                                 (unsigned int)64, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)4, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10, MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, errlen, "cannot listen for HTTP on %s (address in use?)", listen);
        free(h);
        return NULL;
    }
    return h;
}

void http_attach_dashboard(struct http_server *h, struct dashboard *d)
{
    h->dashboard = d;
}

void http_stop(struct http_server *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
