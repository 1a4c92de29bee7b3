/* http_server.h: the one libmicrohttpd wrapper both daemons use: GET /metrics
 * (Prometheus text format), GET /healthz, and optionally the caller's other
 * routes (the collector's dashboard and status pages). Callbacks run on
 * libmicrohttpd's threads and must be thread-safe and cheap: they read cached
 * state, never wait on the network. */
#ifndef PK_HTTP_SERVER_H
#define PK_HTTP_SERVER_H

#include <netinet/in.h>
#include <stddef.h>

struct pk_http_server;

/* Writes the whole /metrics body into buf; returns its length (< size). */
typedef size_t (*pk_http_metrics_fn)(char *buf, size_t size, void *user);
/* 1 when healthy. NULL: /healthz always answers ok while the process serves. */
typedef int (*pk_http_health_fn)(void *user);

/* One reply of a route. body is static when !owned, else malloc'd and freed by
 * the server once sent. */
struct pk_http_reply {
    unsigned int code;
    const char *type; /* Content-Type */
    const void *body;
    size_t len;
    int owned;
    const char *www_authenticate; /* a 401's WWW-Authenticate header (static), or NULL */
    const char *etag; /* an ETag header (quoted; outlives the reply), sent with Cache-Control: no-cache, or NULL */
    const char *encoding; /* a Content-Encoding of body ("gzip", static; sent with Vary: Accept-Encoding), or NULL */
};
/* A query argument of the request being served, or NULL. A key starting with
 * PK_HTTP_HEADER_ARG names a request header instead ("Authorization"). */
#define PK_HTTP_HEADER_ARG ":header:"
/* This key gives the common name of the request's TLS client certificate when
 * it verified against tls_client_ca_file (valid until the callback returns),
 * else NULL. */
#define PK_HTTP_CLIENT_CN_ARG ":client-cn:"
typedef const char *(*pk_http_arg_fn)(void *request, const char *key);
/* Any GET/HEAD path but /metrics and /healthz: 1 with *out filled when url is
 * the route's, 0 when not (the server answers 404). */
typedef int (*pk_http_route_fn)(void *route_user, const char *url, pk_http_arg_fn arg, void *request,
                                struct pk_http_reply *out);

struct pk_http_server_options {
    size_t body_max;               /* the /metrics buffer; 0: 1 MiB */
    unsigned int connection_limit; /* 0: 32 */
    unsigned int per_address_limit; /* connections from one IP address; 0: connection_limit / 4 */
    unsigned int timeout_s;        /* a connection silent this long is closed; 0: 10 */
    unsigned int threads;          /* 0 or 1: one polling thread; more: a pool of that many */
    /* Host: header values (the name before any ":port", compared without case)
     * a request must carry; anything else gets 421. NULL or "": any host.
     * Comma-separated, copied at start. Refuses DNS-rebinding pages. */
    const char *allowed_hosts;
    pk_http_metrics_fn metrics;    /* required */
    pk_http_health_fn health;
    const char *unhealthy_body;    /* /healthz's 503 body; NULL: "unhealthy\n" */
    void *user;                    /* of metrics and health */
    /* HTTPS (libmicrohttpd with GnuTLS) when tls_cert_file is set: PEM files of
     * the server's certificate (chain) and key. tls_client_ca_file (needs the
     * two): client certificates are asked for (not required) and verified
     * against this CA; see PK_HTTP_CLIENT_CN_ARG. Read at start. */
    const char *tls_cert_file, *tls_key_file, *tls_client_ca_file;
    pk_http_route_fn route;        /* NULL: no other paths */
    void *route_user;              /* outlives the server */
};

/* listen: "IPv4:PORT", PORT 0 to 65535 in decimal digits (0 picks a free one; see
 * pk_http_port); an empty host or port is refused. 0 with *addr filled, or -1
 * with "HTTP listen address 'X' must be IPv4:PORT" in err. */
int pk_http_parse_listen(const char *listen, struct sockaddr_in *addr, char *err, size_t errlen);

/* Returns NULL with err naming the address when it is malformed or cannot be
 * bound. o is copied. */
struct pk_http_server *pk_http_start(const char *listen, const struct pk_http_server_options *o, char *err,
                                     size_t errlen);
/* The bound port (useful with port 0). */
int pk_http_port(const struct pk_http_server *h);
/* Stops the threads, closes the socket, frees h. NULL is fine. */
void pk_http_stop(struct pk_http_server *h);

#endif
