/* http.h: the collector's HTTP side (libmicrohttpd): GET /metrics in the
 * Prometheus text format, GET /healthz. Runs on libmicrohttpd's own thread and
 * only reads counters; it never touches PostgreSQL. */
#ifndef PK_HTTP_H
#define PK_HTTP_H

#include <stddef.h>

struct http_server;

/* Writes the whole /metrics body into buf; returns its length (or size when cut). */
typedef size_t (*http_metrics_fn)(char *buf, size_t size, void *user);
/* 1 when healthy (database reachable). */
typedef int (*http_health_fn)(void *user);

/* listen: "127.0.0.1:7701". NULL + err when it cannot bind. */
struct http_server *http_start(const char *listen, http_metrics_fn metrics, http_health_fn health, void *user,
                               char *err, size_t errlen);
struct dashboard;
/* Serves the dashboard's routes (collector/dashboard.h) too; call before the
 * first request. d outlives h. */
void http_attach_dashboard(struct http_server *h, struct dashboard *d);
void http_stop(struct http_server *h);

#endif
