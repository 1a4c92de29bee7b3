/* http_server.h: a small libmicrohttpd server for GET /metrics (Prometheus text
 * format) and GET /healthz, for daemons that have no other HTTP side (the
 * probe). Callbacks run on libmicrohttpd's own thread and must be thread-safe
 * and cheap: they read cached state, never wait on the network. */
#ifndef PK_HTTP_SERVER_H
#define PK_HTTP_SERVER_H

#include <stddef.h>

struct pk_http_server;

/* Writes the whole /metrics body into buf; returns its length (< size). */
typedef size_t (*pk_http_metrics_fn)(char *buf, size_t size, void *user);
/* 1 when healthy. NULL: /healthz always answers ok while the process serves. */
typedef int (*pk_http_health_fn)(void *user);

/* listen: "IPv4:PORT" (port 0 picks a free one; see pk_http_port). Returns NULL
 * with err naming the address when it is malformed or cannot be bound. */
struct pk_http_server *pk_http_start(const char *listen, size_t body_max, pk_http_metrics_fn metrics,
                                     pk_http_health_fn health, void *user, char *err, size_t errlen);
/* The bound port (useful with port 0). */
int pk_http_port(const struct pk_http_server *h);
/* Stops the thread, closes the socket, frees h. NULL is fine. */
void pk_http_stop(struct pk_http_server *h);

#endif
